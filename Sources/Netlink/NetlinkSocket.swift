import CMnl
import LinuxSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The byte-level edge of netlink: send one datagram, receive one datagram.
///
/// Conformers need not be safe for concurrent exchanges: ``NetlinkConnection`` serializes every
/// request on a socket, and matches replies by sequence number.
public protocol NetlinkSocket: Sendable {
    /// Sends one complete message (or batch) to the kernel.
    func send(_ datagram: [UInt8]) throws(NetlinkError)
    /// Blocks until the next datagram arrives and returns it.
    func receive() throws(NetlinkError) -> [UInt8]
}

/// The netlink protocol families Nodekit opens sockets for.
public enum NetlinkFamily: Int32, Sendable {
    /// Links, addresses, routes, neighbours (NETLINK_ROUTE).
    case route = 0
    /// Generic netlink families resolved by name, such as IPVS (NETLINK_GENERIC).
    case generic = 16
    /// nfnetlink subsystems: nf_tables, conntrack (NETLINK_NETFILTER).
    case netfilter = 12
}

/// A netlink socket opened with libmnl, bound to a kernel-assigned port id: NETLINK_ROUTE by
/// default, NETLINK_GENERIC for generic families such as IPVS, NETLINK_NETFILTER for conntrack.
///
/// A socket belongs to the network namespace it was opened in, for its whole life; pass a
/// ``NetworkNamespace`` to open it in a pod's netns and then use it from any thread.
public final class MnlSocket: NetlinkSocket, @unchecked Sendable {
    private let socket: OpaquePointer
    private let receiveBuffer: UnsafeMutableRawPointer
    // Dump replies are batched by the kernel up to about 32 KiB per datagram.
    private static let receiveSize = 65536

    /// Opens a socket of netlink `family` (route unless given) in `namespace` (the caller's own
    /// when nil).
    public init(namespace: NetworkNamespace? = nil, family: NetlinkFamily = .route) throws(NetlinkError) {
        let open: () -> Result<OpaquePointer, NetlinkError> = {
            guard let nl = mnl_socket_open(family.rawValue) else {
                return .failure(NetlinkError(operation: "open socket", errno: Glibc.errno))
            }
            if mnl_socket_bind(nl, 0, pid_t(MNL_SOCKET_AUTOPID)) < 0 {
                let err = Glibc.errno
                mnl_socket_close(nl)
                return .failure(NetlinkError(operation: "bind socket", errno: err))
            }
            return .success(nl)
        }
        let opened: Result<OpaquePointer, NetlinkError>
        if let namespace {
            do {
                opened = try namespace.run(open)
            } catch let error as SystemError {
                throw NetlinkError(operation: "enter netns", errno: error.errno, detail: namespace.path)
            } catch {
                throw NetlinkError(operation: "enter netns", errno: 0, detail: "\(namespace.path): \(error)")
            }
        } else {
            opened = open()
        }
        socket = try opened.get()
        receiveBuffer = UnsafeMutableRawPointer.allocate(byteCount: Self.receiveSize, alignment: 8)
    }

    deinit {
        mnl_socket_close(socket)
        receiveBuffer.deallocate()
    }

    public func send(_ datagram: [UInt8]) throws(NetlinkError) {
        while true {
            let n = datagram.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, $0.count) }
            if n >= 0 { return }
            let err = Glibc.errno
            if err != EINTR { throw NetlinkError(operation: "send", errno: err) }
        }
    }

    public func receive() throws(NetlinkError) -> [UInt8] {
        while true {
            let n = mnl_socket_recvfrom(socket, receiveBuffer, Self.receiveSize)
            if n >= 0 { return Array(UnsafeRawBufferPointer(start: receiveBuffer, count: n)) }
            let err = Glibc.errno
            if err != EINTR { throw NetlinkError(operation: "receive", errno: err) }
        }
    }
}

/// Request/reply over a ``NetlinkSocket``: assigns sequence numbers, asks for ACKs, collects
/// replies until the ACK or NLMSG_DONE, and turns NLMSG_ERROR into ``NetlinkError`` with the
/// kernel's errno. Thread-safe: requests on one connection run one at a time.
public final class NetlinkConnection: Sendable {
    private let socket: any NetlinkSocket
    private let sequence: Mutex<UInt32>

    public init(socket: any NetlinkSocket) {
        self.socket = socket
        sequence = Mutex(UInt32.random(in: 1..<0x4000_0000))
    }

    /// Sends the message `build` makes for a fresh sequence number and returns the reply
    /// messages (not the ACK or DONE). `operation` and `detail` name the request in errors.
    public func request(_ operation: String, detail: String = "", _ build: (UInt32) -> [UInt8]) throws(NetlinkError) -> [NetlinkMessage] {
        try sequence.withLock { (seq: inout UInt32) throws(NetlinkError) -> [NetlinkMessage] in
            seq &+= 1
            let message = build(seq)
            let flags = message.loadLE(UInt16.self, at: 6)
            let isDump = flags & UInt16(NLM_F_DUMP) == UInt16(NLM_F_DUMP)
            do throws(NetlinkError) {
                try socket.send(message)
            } catch {
                throw NetlinkError(operation: operation, errno: error.errno, detail: detail)
            }
            var replies: [NetlinkMessage] = []
            while true {
                let datagram: [UInt8]
                do throws(NetlinkError) { datagram = try socket.receive() } catch {
                    throw NetlinkError(operation: operation, errno: error.errno, detail: detail)
                }
                for reply in try NetlinkMessage.parse(datagram) where reply.sequence == seq {
                    switch Int32(reply.type) {
                    case NLMSG_ERROR:
                        guard reply.payload.count >= 4 else {
                            throw NetlinkError(operation: operation, errno: 0, detail: "short NLMSG_ERROR")
                        }
                        let code = Int32(bitPattern: reply.payload.loadLE(UInt32.self, at: 0))
                        if code == 0 { return replies }
                        throw NetlinkError(operation: operation, errno: -code, detail: detail)
                    case NLMSG_DONE:
                        if reply.payload.count >= 4 {
                            let code = Int32(bitPattern: reply.payload.loadLE(UInt32.self, at: 0))
                            if code < 0 { throw NetlinkError(operation: operation, errno: -code, detail: detail) }
                        }
                        return replies
                    case NLMSG_NOOP:
                        continue
                    default:
                        replies.append(reply)
                        // Without a dump, one reply that is not multipart ends the exchange only
                        // when no ACK was requested; requests built here always ask for one.
                        if !isDump && reply.flags & UInt16(NLM_F_MULTI) == 0 && flags & UInt16(NLM_F_ACK) == 0 {
                            return replies
                        }
                    }
                }
            }
        }
    }

    /// Sends `count` requests that change state and expect no reply, packed several per
    /// datagram, and returns the ones the kernel refused.
    ///
    /// The kernel (`netlink_rcv_skb`) handles the messages of one datagram in order, each on its
    /// own: a refused request does not stop the ones after it, so every request is applied or
    /// refused exactly as if it had been sent alone, in the same order. It reports an error
    /// whether or not an ACK was asked for, so only the last message of a datagram keeps
    /// NLM_F_ACK: one receive per datagram, plus one per refused request. A datagram holds at
    /// most `perDatagram` messages (and about 32 KiB), so that its error replies, which echo
    /// their request, fit in the socket's receive buffer; the next datagram is sent after the
    /// last one's ACK. Thread-safe: the batch holds the connection, as ``request(_:detail:_:)``.
    ///
    /// - Parameters:
    ///   - operation: names the batch in transport errors.
    ///   - detail: names request `i` in its failure.
    ///   - build: builds request `i` for a sequence number (any flags; NLM_F_ACK is managed here).
    /// - Returns: the refused requests in order, each with its index and the kernel's errno,
    ///   the failure's operation being `operation` and its detail `detail(i)`.
    /// - Throws: a socket failure or a malformed reply (ENOBUFS (105) when replies overflowed the
    ///   receive buffer). The datagrams before it were handled by the kernel; later ones were not sent.
    public func requestBatch(_ operation: String, count: Int, perDatagram: Int = 64, detail: (Int) -> String,
                             _ build: (Int, UInt32) -> [UInt8]) throws(NetlinkError) -> [NetlinkBatchFailure] {
        guard count > 0 else { return [] }
        let limit = max(1, perDatagram)
        return try sequence.withLock { (seq: inout UInt32) throws(NetlinkError) -> [NetlinkBatchFailure] in
            var failures: [NetlinkBatchFailure] = []
            var next = 0
            var datagram: [UInt8] = []
            datagram.reserveCapacity(Self.batchBytes + 8192)
            while next < count {
                datagram.removeAll(keepingCapacity: true)
                let first = next
                let firstSequence = seq &+ 1
                var lastStart = 0
                while next < count && next - first < limit && datagram.count < Self.batchBytes {
                    seq &+= 1
                    let message = build(next, seq)
                    guard message.count >= 16 else {
                        throw NetlinkError(operation: operation, errno: 0, detail: "\(detail(next)): request shorter than a netlink header")
                    }
                    lastStart = datagram.count
                    datagram += message
                    // Messages start on 4-byte boundaries (NLMSG_ALIGN).
                    while datagram.count % 4 != 0 { datagram.append(0) }
                    datagram[lastStart + 6] &= ~UInt8(NLM_F_ACK)
                    next += 1
                }
                datagram[lastStart + 6] |= UInt8(NLM_F_ACK)
                let lastSequence = seq
                do throws(NetlinkError) {
                    try socket.send(datagram)
                } catch {
                    throw NetlinkError(operation: operation, errno: error.errno, detail: "sending requests \(first + 1)-\(next) of \(count)")
                }
                var done = false
                while !done {
                    let received: [UInt8]
                    do throws(NetlinkError) { received = try socket.receive() } catch {
                        throw NetlinkError(operation: operation, errno: error.errno, detail: "replies to requests \(first + 1)-\(next) of \(count)")
                    }
                    for reply in try NetlinkMessage.parse(received) where Int32(reply.type) == NLMSG_ERROR {
                        let offset = Int(reply.sequence &- firstSequence)
                        guard offset >= 0, offset < next - first else { continue }
                        guard reply.payload.count >= 4 else {
                            throw NetlinkError(operation: operation, errno: 0, detail: "short NLMSG_ERROR for \(detail(first + offset))")
                        }
                        let code = Int32(bitPattern: reply.payload.loadLE(UInt32.self, at: 0))
                        if code != 0 {
                            failures.append(NetlinkBatchFailure(index: first + offset,
                                                                error: NetlinkError(operation: operation, errno: -code, detail: detail(first + offset))))
                        }
                        if reply.sequence == lastSequence { done = true }
                    }
                }
            }
            return failures
        }
    }

    /// The size at which a batch datagram is closed.
    static let batchBytes = 32 * 1024
}

/// One request of a batch that the kernel refused.
public struct NetlinkBatchFailure: Error, Sendable, Equatable {
    /// The request's position in the batch.
    public var index: Int
    /// The kernel's errno, with the batch's operation and the request's detail.
    public var error: NetlinkError

    public init(index: Int, error: NetlinkError) {
        self.index = index
        self.error = error
    }
}

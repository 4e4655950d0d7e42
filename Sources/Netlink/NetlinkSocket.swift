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
}

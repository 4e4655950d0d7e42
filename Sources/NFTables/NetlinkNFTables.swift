package import CMnl
internal import CNftnl
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Applies transactions to the kernel as one nfnetlink batch each, built with libnftnl and sent
/// over a libmnl NETLINK_NETFILTER socket.
///
/// By default the socket is opened per ``apply(_:)`` in the calling thread's network namespace,
/// so a caller inside `NetworkNamespace.run` programs that namespace. With
/// ``init(keepingSocketOpen:)`` it is opened at the first apply, in that thread's namespace,
/// and every later apply goes through it (to that namespace). Thread-safe: applies through a
/// kept socket are serialised.
public struct NetlinkNFTables: NFTablesInterface {
    /// Most elements put in one NEWSETELEM message: the element list is one netlink attribute,
    /// whose length field is 16 bits.
    static let elementsPerMessage = 128

    private let kept: KeptSocket?

    public init() { kept = nil }

    /// `keepingSocketOpen`: keep one socket for every apply. Closing a netfilter netlink socket
    /// waits until the kernel has freed what the last commits deleted (an RCU grace period and
    /// the release of every deleted object: measured here at 16 ms after an endpoint change and
    /// 66 ms after a full sync of 10k Services × 10 endpoints); a kept socket leaves that to
    /// the kernel's worker, so an apply returns once its batch is committed.
    public init(keepingSocketOpen: Bool) { kept = keepingSocketOpen ? KeptSocket() : nil }

    public func apply(_ transaction: Transaction) throws(NFTablesError) {
        var timing = ApplyTiming()
        try apply(transaction, timing: &timing)
    }

    /// Where the time of one ``apply(_:timing:)`` went, for profiling.
    public struct ApplyTiming: Sendable {
        /// Lowering the operations to libnftnl objects and serialising them into the batch.
        public var lowering: Duration = .zero
        /// Sending the batch and waiting for the kernel's verdict: the kernel's parsing of every
        /// message and its commit, which both run inside the send.
        public var kernel: Duration = .zero
        /// Netlink messages in the batch, and its size in bytes.
        public var messages = 0
        public var bytes = 0

        public init() {}
    }

    /// ``apply(_:)``, reporting in `timing` where the time went.
    public func apply(_ transaction: Transaction, timing: inout ApplyTiming) throws(NFTablesError) {
        if transaction.isEmpty { return }
        guard let kept else {
            var seq: UInt32 = 1
            let nl = try Socket.open()
            defer { mnl_socket_close(nl) }
            try apply(transaction, through: nl, seq: &seq, timing: &timing)
            return
        }
        try kept.state.withLock { (k: inout KeptSocket.State) throws(NFTablesError) in
            let nl: OpaquePointer
            if let open = k.socket { nl = open } else {
                nl = try Socket.open()
                k.socket = nl
            }
            do throws(NFTablesError) {
                try apply(transaction, through: nl, seq: &k.nextSeq, timing: &timing)
            } catch {
                if error.code == .socket {
                    // The socket's state is unknown (a reply may be pending): start afresh.
                    mnl_socket_close(nl)
                    k.socket = nil
                }
                throw error
            }
        }
    }

    /// Builds the batch with sequence numbers from `seq` (advanced past them) and sends it.
    private func apply(_ transaction: Transaction, through nl: OpaquePointer, seq: inout UInt32, timing: inout ApplyTiming) throws(NFTablesError) {
        let clock = ContinuousClock()
        let start = clock.now
        var batch = BatchBuffer()
        // Sequence numbers stay below 2^31 so that a batch's range never wraps.
        if seq > 1 << 31 { seq = 1 }
        let beginSeq = seq
        batch.append { [seq] in nftnl_batch_begin($0, seq) }
        seq += 1
        let firstSeq = seq
        var origins: [Lowering.MessageOrigin] = []
        origins.reserveCapacity(transaction.operations.count)
        for (i, op) in transaction.operations.enumerated() {
            try Lowering.append(op, opIndex: i, family: transaction.family, table: transaction.table,
                                into: &batch, seq: &seq, origins: &origins)
        }
        let lastSeq = seq - 1
        batch.setAckFlagOnLastMessage()
        batch.append { [seq] in nftnl_batch_end($0, seq) }
        seq += 1
        let built = clock.now
        timing.lowering += built - start
        timing.messages = origins.count
        timing.bytes = batch.count
        defer { timing.kernel += clock.now - built }
        try Socket.send(batch: batch, through: nl, seqs: beginSeq...lastSeq) { seq in
            let index = Int(seq) - Int(firstSeq)
            guard index >= 0, index < origins.count else { return "message \(seq)" }
            let origin = origins[index]
            return Lowering.label(transaction.operations[Int(origin.operation)], chunk: Int(origin.chunk), table: transaction.table)
        }
    }
}

/// A growable buffer of netlink messages laid out back to back, as one batch. `package`: the
/// IPTables module's iptables-nft writer builds its batches with it.
package struct BatchBuffer: ~Copyable {
    package private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    package private(set) var count = 0
    private var lastMessageOffset = 0
    /// The largest single message this buffer makes room for before building one.
    static let messageHeadroom = 256 * 1024

    package init() {
        capacity = 1 << 20
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Builds one message at the end of the buffer with `build` (which returns its header).
    package mutating func append(_ build: (UnsafeMutablePointer<CChar>) -> UnsafeMutablePointer<nlmsghdr>?) {
        if capacity - count < Self.messageHeadroom {
            let newCapacity = max(capacity * 2, count + Self.messageHeadroom)
            let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            grown.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = grown
            capacity = newCapacity
        }
        let start = (base + count).assumingMemoryBound(to: CChar.self)
        guard let nlh = build(start) else { return }
        lastMessageOffset = count
        count += (Int(nlh.pointee.nlmsg_len) + 3) & ~3
    }

    /// Asks the kernel to acknowledge the last message appended so far: the sender waits for
    /// that acknowledgement to know the whole batch was processed. Every other message is
    /// answered only if it fails.
    package mutating func setAckFlagOnLastMessage() {
        let nlh = (base + lastMessageOffset).assumingMemoryBound(to: nlmsghdr.self)
        nlh.pointee.nlmsg_flags |= UInt16(NLM_F_ACK)
    }
}

package enum Socket {
    static func setOption<T: BitwiseCopyable>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: T, _ label: String) throws(NFTablesError) {
        let result = withUnsafeBytes(of: value) { setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) }
        if result != 0 {
            throw NFTablesError(.socket, "nftables: setsockopt(\(label)) on the netlink socket failed", errno: Glibc.errno)
        }
    }

    /// Opens and binds a NETLINK_NETFILTER socket in the calling thread's network namespace.
    package static func open() throws(NFTablesError) -> OpaquePointer {
        guard let nl = mnl_socket_open(NETLINK_NETFILTER) else {
            throw NFTablesError(.socket, "nftables: mnl_socket_open(NETLINK_NETFILTER) failed", errno: Glibc.errno)
        }
        if mnl_socket_bind(nl, 0, pid_t(MNL_SOCKET_AUTOPID)) < 0 {
            let err = Glibc.errno
            mnl_socket_close(nl)
            throw NFTablesError(.socket, "nftables: mnl_socket_bind failed", errno: err)
        }
        return nl
    }

    /// Sends a batch whose messages carry the sequence numbers `seqs` (its last message asks
    /// for the acknowledgement) and waits for the kernel's verdict on it. Replies with other
    /// sequence numbers (left over from an earlier batch on a kept socket) are skipped. `label`
    /// names the message with a given sequence number, for the error.
    package static func send(batch: borrowing BatchBuffer, through nl: OpaquePointer, seqs: ClosedRange<UInt32>, label: (UInt32) -> String) throws(NFTablesError) {
        let lastSeq = seqs.upperBound
        let fd = mnl_socket_get_fd(nl)
        // The whole batch goes in one sendmsg (the kernel processes a batch per skb), so the
        // send buffer must hold it; SO_SNDBUFFORCE lifts the rmem/wmem_max cap for root.
        try setOption(fd, SOL_SOCKET, SO_SNDBUFFORCE, Int32(clamping: batch.count + 65536), "SO_SNDBUFFORCE")
        // A bounded wait: the kernel answers synchronously, so silence means a bug, not load.
        try setOption(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(tv_sec: 60, tv_usec: 0), "SO_RCVTIMEO")
        try setOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, Int32(1), "NETLINK_CAP_ACK")
        let sent = mnl_socket_sendto(nl, batch.base, batch.count)
        if sent < 0 {
            throw NFTablesError(.socket, "nftables: sending a \(batch.count)-byte batch failed", errno: Glibc.errno)
        }
        var errors: [(UInt32, Int32)] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var done = false
        while !done {
            let n = buffer.withUnsafeMutableBytes { mnl_socket_recvfrom(nl, $0.baseAddress, $0.count) }
            if n < 0 {
                let err = Glibc.errno
                if err == EINTR { continue }
                // Errors already seen explain the failure better than the timeout does.
                if !errors.isEmpty && (err == EAGAIN || err == EWOULDBLOCK) { break }
                throw NFTablesError(.socket, "nftables: waiting for the batch acknowledgement failed", errno: err)
            }
            var offset = 0
            while offset + 16 <= n {
                let (len, type, seq) = buffer.withUnsafeBytes { raw in
                    (raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self),
                     raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
                     raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
                }
                if len < 16 { break }
                if type == UInt16(NLMSG_ERROR), offset + 20 <= n, seqs.contains(seq) {
                    let code = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 16, as: Int32.self) }
                    if code != 0 { errors.append((seq, -code)) }
                    if seq == lastSeq { done = true }
                }
                offset += (Int(len) + 3) & ~3
            }
            if !errors.isEmpty && !done {
                // The kernel aborted the batch; it may not acknowledge the last message.
                var shortTimeout = timeval(tv_sec: 0, tv_usec: 200_000)
                _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &shortTimeout, socklen_t(MemoryLayout<timeval>.size))
            }
        }
        if let (seq, err) = errors.first {
            let what = label(seq)
            let more = errors.count > 1 ? " (and \(errors.count - 1) more errors)" : ""
            throw NFTablesError(.rejected, "nftables: kernel rejected \(what): \(String(cString: strerror(err)))\(more)", errno: err)
        }
    }
}

/// The socket a ``NetlinkNFTables`` made with `keepingSocketOpen` uses for every apply, and the
/// next sequence number (numbers keep growing across batches, so a late reply to an earlier
/// batch is never taken for this one's).
final class KeptSocket: Sendable {
    struct State {
        var socket: OpaquePointer?
        var nextSeq: UInt32 = 1
    }

    let state = Mutex(State())

    deinit {
        state.withLock { k in
            if let nl = k.socket { mnl_socket_close(nl) }
            k.socket = nil
        }
    }
}

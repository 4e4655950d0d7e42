import Netlink
import Synchronization
import Testing

// Netlink constants (linux/netlink.h, linux/rtnetlink.h), spelled out: this target sees no C module.
let requestFlag: UInt16 = 0x1 // NLM_F_REQUEST
let ackFlag: UInt16 = 0x4 // NLM_F_ACK
let errorType: UInt16 = 2 // NLMSG_ERROR
let newAddressType: UInt16 = 20 // RTM_NEWADDR
let deleteAddressType: UInt16 = 21 // RTM_DELADDR

/// A socket that answers as the kernel's `netlink_rcv_skb` does: it handles every message of a
/// datagram in order, whatever the earlier ones' outcome, and queues one NLMSG_ERROR datagram
/// per message that failed or asked for an ACK. `handle` is the kernel's work: it gets each
/// message and returns its errno (0 for success).
final class BatchKernelSocket: NetlinkSocket {
    private struct State {
        var datagrams: [[NetlinkMessage]] = []
        var queue: [[UInt8]] = []
        var receiveError: NetlinkError?
    }
    private let state = Mutex(State())
    private let handle: @Sendable (NetlinkMessage) -> Int32

    init(handle: @escaping @Sendable (NetlinkMessage) -> Int32) { self.handle = handle }

    /// Every datagram sent so far, split into messages.
    var datagrams: [[NetlinkMessage]] { state.withLock { $0.datagrams } }
    /// Makes every receive fail with `error` (a socket error such as ENOBUFS).
    func failReceives(_ error: NetlinkError) { state.withLock { $0.receiveError = error } }

    func send(_ datagram: [UInt8]) throws(NetlinkError) {
        let messages = try NetlinkMessage.parse(datagram)
        var replies: [[UInt8]] = []
        for message in messages {
            let errno = handle(message)
            if errno != 0 || message.flags & ackFlag != 0 {
                replies.append(Self.error(errno, echoing: message))
            }
        }
        state.withLock {
            $0.datagrams.append(messages)
            $0.queue += replies
        }
    }

    func receive() throws(NetlinkError) -> [UInt8] {
        try state.withLock { (s: inout State) throws(NetlinkError) -> [UInt8] in
            if let error = s.receiveError { throw error }
            guard !s.queue.isEmpty else { throw NetlinkError(operation: "receive", errno: 11, detail: "test socket: nothing queued") }
            return s.queue.removeFirst()
        }
    }

    /// NLMSG_ERROR for `message`: the errno negated (0 = ACK) and the request's header echoed.
    static func error(_ errno: Int32, echoing message: NetlinkMessage) -> [UInt8] {
        var m: [UInt8] = []
        func le32(_ v: UInt32) { m += (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func le16(_ v: UInt16) { m += [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)] }
        le32(36); le16(errorType); le16(0); le32(message.sequence); le32(0)
        le32(UInt32(bitPattern: -errno))
        le32(UInt32(16 + message.payload.count)); le16(message.type); le16(message.flags); le32(message.sequence); le32(0)
        return m
    }
}

/// A request of type 0x20 carrying its index as a u32 attribute, for batches of plain requests.
func indexedRequest(_ index: Int, sequence: UInt32) -> [UInt8] {
    let m = NetlinkMessageBuilder(type: 0x20, flags: requestFlag | ackFlag, sequence: sequence)
    m.put(1, u32: UInt32(index))
    return m.bytes
}

func requestIndex(_ message: NetlinkMessage) -> Int {
    Int(NetlinkAttributes(message.payload).u32(1) ?? UInt32.max)
}

@Suite("netlink batches: several requests per datagram")
struct NetlinkBatchTests {
    @Test("requests go out in order, 64 per datagram, only the last of each asking for an ACK", arguments: [1, 63, 64, 65, 200])
    func packing(count: Int) throws {
        let socket = BatchKernelSocket { _ in 0 }
        let failures = try NetlinkConnection(socket: socket).requestBatch("test", count: count, detail: { "request \($0)" }) {
            indexedRequest($0, sequence: $1)
        }
        #expect(failures.isEmpty)
        let datagrams = socket.datagrams
        #expect(datagrams.count == (count + 63) / 64)
        #expect(datagrams.allSatisfy { $0.count <= 64 })
        let messages = datagrams.flatMap { $0 }
        #expect(messages.map(requestIndex) == Array(0..<count))
        for (a, b) in zip(messages, messages.dropFirst()) { #expect(b.sequence == a.sequence &+ 1) }
        for datagram in datagrams {
            let acks = datagram.map { $0.flags & ackFlag != 0 }
            #expect(acks == Array(repeating: false, count: datagram.count - 1) + [true])
        }
    }

    @Test("a refused request in the middle is reported with its index and detail; the kernel applied the others")
    func failureInTheMiddle() throws {
        let applied = Mutex<[Int]>([])
        let socket = BatchKernelSocket { message in
            let i = requestIndex(message)
            if i == 70 || i == 71 { return i == 70 ? 17 : 19 }
            applied.withLock { $0.append(i) }
            return 0
        }
        let failures = try NetlinkConnection(socket: socket).requestBatch("add things", count: 130, detail: { "thing \($0)" }) {
            indexedRequest($0, sequence: $1)
        }
        #expect(failures == [
            NetlinkBatchFailure(index: 70, error: NetlinkError(operation: "add things", errno: 17, detail: "thing 70")),
            NetlinkBatchFailure(index: 71, error: NetlinkError(operation: "add things", errno: 19, detail: "thing 71")),
        ])
        #expect(applied.withLock { $0 } == Array(0..<70) + Array(72..<130))
        #expect(failures[0].error.description == "netlink add things (thing 70): file exists (errno 17)")
    }

    @Test("the last request of a datagram refused: its error ends the datagram, the next one is sent")
    func lastOfDatagramRefused() throws {
        let socket = BatchKernelSocket { requestIndex($0) == 63 ? 22 : 0 }
        let failures = try NetlinkConnection(socket: socket).requestBatch("x", count: 100, detail: { "\($0)" }) { indexedRequest($0, sequence: $1) }
        #expect(failures.map(\.index) == [63])
        #expect(socket.datagrams.count == 2)
    }

    @Test("a socket error while waiting for replies is thrown, naming the batch and the requests in flight")
    func socketError() {
        let socket = BatchKernelSocket { _ in 0 }
        socket.failReceives(NetlinkError(operation: "receive", errno: 105))
        let error = #expect(throws: NetlinkError.self) {
            try NetlinkConnection(socket: socket).requestBatch("add things", count: 10, detail: { "\($0)" }) { indexedRequest($0, sequence: $1) }
        }
        #expect(error?.errno == 105)
        #expect(error?.operation == "add things")
        #expect(error?.detail.contains("1-10 of 10") == true)
    }

    @Test("an empty batch sends nothing")
    func empty() throws {
        let socket = BatchKernelSocket { _ in 0 }
        #expect(try NetlinkConnection(socket: socket).requestBatch("x", count: 0, detail: { "\($0)" }) { indexedRequest($0, sequence: $1) }.isEmpty)
        #expect(socket.datagrams.isEmpty)
    }

    @Test("RouteNetlink adds addresses in batches of RTM_NEWADDR and reports the refused ones by position")
    func addressBatch() throws {
        let socket = BatchKernelSocket { message in
            // ifaddrmsg is 8 bytes; IFA_LOCAL comes first, its address's last byte is the host part.
            let local = NetlinkAttributes(message.payload, offset: 8)[2] ?? []
            return local.last == 5 ? 17 : 0
        }
        let prefixes = (1...100).map { IPPrefix(address: IPAddress("10.96.0.\($0)")!, length: 32) }
        let failures = try RouteNetlink(socket: socket).changeAddresses(index: 7, prefixes: prefixes, delete: false)
        #expect(failures.map(\.index) == [4])
        #expect(failures.first?.error.errno == 17)
        #expect(failures.first?.error.detail == "10.96.0.5/32 on index 7")
        #expect(socket.datagrams.count == 2)
        #expect(socket.datagrams.flatMap { $0 }.allSatisfy { $0.type == newAddressType })
        let deleted = try RouteNetlink(socket: socket).changeAddresses(index: 7, prefixes: Array(prefixes.prefix(3)), delete: true)
        #expect(deleted.isEmpty)
        #expect(socket.datagrams.last?.allSatisfy { $0.type == deleteAddressType } == true)
    }
}

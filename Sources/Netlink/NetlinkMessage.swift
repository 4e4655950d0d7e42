import CMnl

/// Builds one netlink message with libmnl: a header, one fixed family header, then attributes
/// (nested ones through ``nest(_:_:)``). Sizes and alignment are libmnl's.
///
/// Not thread-safe; build on one thread, then take ``bytes``.
public final class NetlinkMessageBuilder {
    private static let capacity = 8192
    private let buffer: UnsafeMutableRawPointer
    private let header: UnsafeMutablePointer<nlmsghdr>

    /// Starts a message of `type` with `flags` and `sequence` (port id 0: the kernel).
    public init(type: UInt16, flags: UInt16, sequence: UInt32) {
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity)
        header = mnl_nlmsg_put_header(buffer)
        header.pointee.nlmsg_type = type
        header.pointee.nlmsg_flags = flags
        header.pointee.nlmsg_seq = sequence
    }

    deinit { buffer.deallocate() }

    /// Appends a fixed-size family header (ifinfomsg, ifaddrmsg, rtmsg), zero-padded to 4 bytes.
    /// Also used inside VETH_INFO_PEER, whose payload starts with an ifinfomsg.
    public func put<Header>(header value: Header) {
        let slot = mnl_nlmsg_put_extra_header(header, MemoryLayout<Header>.size)!
        slot.storeBytes(of: value, as: Header.self)
    }

    public func put(_ type: UInt16, u8 value: UInt8) { mnl_attr_put_u8(header, type, value) }
    public func put(_ type: UInt16, u32 value: UInt32) { mnl_attr_put_u32(header, type, value) }
    /// A NUL-terminated string attribute (NLA_NUL_STRING / IFLA_IFNAME style).
    public func put(_ type: UInt16, string value: String) { mnl_attr_put_strz(header, type, value) }
    public func put(_ type: UInt16, bytes value: [UInt8]) {
        value.withUnsafeBytes { mnl_attr_put(header, type, $0.count, $0.baseAddress) }
    }

    /// Opens a nested attribute (libmnl sets NLA_F_NESTED), runs `body` to fill it, closes it.
    public func nest(_ type: UInt16, _ body: () -> Void) {
        let start = mnl_attr_nest_start(header, type)
        body()
        mnl_attr_nest_end(header, start)
    }

    /// The finished message.
    public var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: buffer, count: Int(header.pointee.nlmsg_len)))
    }
}

/// A received netlink message: its header fields and payload (the family header and attributes).
public struct NetlinkMessage: Sendable, Equatable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    public var payload: [UInt8]

    public init(type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.payload = payload
    }

    /// Splits a datagram into messages. Throws on a truncated or inconsistent length.
    public static func parse(_ datagram: [UInt8]) throws(NetlinkError) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while offset + 16 <= datagram.count {
            let length = Int(datagram.loadLE(UInt32.self, at: offset))
            guard length >= 16, offset + length <= datagram.count else {
                throw NetlinkError(operation: "parse reply", errno: 0, detail: "message length \(length) at offset \(offset) of \(datagram.count)")
            }
            messages.append(NetlinkMessage(
                type: datagram.loadLE(UInt16.self, at: offset + 4),
                flags: datagram.loadLE(UInt16.self, at: offset + 6),
                sequence: datagram.loadLE(UInt32.self, at: offset + 8),
                portID: datagram.loadLE(UInt32.self, at: offset + 12),
                payload: Array(datagram[(offset + 16)..<(offset + length)])))
            offset += (length + 3) & ~3
        }
        return messages
    }
}

/// The attributes of a message or nest, by type (NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off).
public struct NetlinkAttributes: Sendable {
    public private(set) var entries: [(type: UInt16, value: [UInt8])] = []

    /// Parses attributes from `bytes` starting at `offset`; stops at the first malformed one.
    public init(_ bytes: [UInt8], offset: Int = 0) {
        var position = offset
        while position + 4 <= bytes.count {
            let length = Int(bytes.loadLE(UInt16.self, at: position))
            let type = bytes.loadLE(UInt16.self, at: position + 2) & 0x3fff
            guard length >= 4, position + length <= bytes.count else { break }
            entries.append((type, Array(bytes[(position + 4)..<(position + length)])))
            position += (length + 3) & ~3
        }
    }

    public subscript(type: UInt16) -> [UInt8]? { entries.first { $0.type == type }?.value }

    public func u8(_ type: UInt16) -> UInt8? { self[type].flatMap { $0.count >= 1 ? $0[0] : nil } }
    public func u32(_ type: UInt16) -> UInt32? { self[type].flatMap { $0.count >= 4 ? $0.loadLE(UInt32.self, at: 0) : nil } }
    public func string(_ type: UInt16) -> String? {
        self[type].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    public func nested(_ type: UInt16) -> NetlinkAttributes? { self[type].map { NetlinkAttributes($0) } }
}

extension Array where Element == UInt8 {
    /// Loads a little-endian (host order on x86_64 and arm64) integer at `offset`.
    func loadLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }
}

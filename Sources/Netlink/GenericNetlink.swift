import CMnl
import LinuxSystem
#if canImport(Glibc)
import Glibc
#endif

/// The generic netlink header (`struct genlmsghdr`) that follows the netlink header.
public struct GenericNetlinkHeader: Sendable, Equatable {
    public var command: UInt8
    public var version: UInt8
    public var reserved: UInt16 = 0

    public init(command: UInt8, version: UInt8) {
        self.command = command
        self.version = version
    }
}

/// Generic netlink messages and the controller's family lookup (linux/genetlink.h UAPI).
public enum GenericNetlink {
    /// GENL_ID_CTRL: the controller family's fixed id.
    public static let controllerFamily: UInt16 = 0x10
    /// CTRL_CMD_GETFAMILY.
    static let getFamilyCommand: UInt8 = 3
    /// CTRL_ATTR_FAMILY_ID (u16) and CTRL_ATTR_FAMILY_NAME (string).
    static let attributeFamilyID: UInt16 = 1
    static let attributeFamilyName: UInt16 = 2

    /// Builds one generic netlink request: netlink header of type `family`, a genlmsghdr, then
    /// whatever attributes `attributes` adds. NLM_F_REQUEST and NLM_F_ACK are always set.
    public static func request(family: UInt16, command: UInt8, version: UInt8, dump: Bool = false, sequence: UInt32,
                               _ attributes: (NetlinkMessageBuilder) -> Void = { _ in }) -> [UInt8] {
        var flags = UInt16(NLM_F_REQUEST) | UInt16(NLM_F_ACK)
        if dump { flags |= UInt16(NLM_F_DUMP) }
        let m = NetlinkMessageBuilder(type: family, flags: flags, sequence: sequence)
        m.put(header: GenericNetlinkHeader(command: command, version: version))
        attributes(m)
        return m.bytes
    }

    /// CTRL_CMD_GETFAMILY for `name`.
    public static func getFamily(name: String, sequence: UInt32) -> [UInt8] {
        request(family: controllerFamily, command: getFamilyCommand, version: 1, sequence: sequence) {
            $0.put(attributeFamilyName, string: name)
        }
    }

    /// The attributes of a generic netlink reply (after its 4-byte genlmsghdr).
    public static func attributes(of message: NetlinkMessage) -> NetlinkAttributes {
        NetlinkAttributes(message.payload, offset: 4)
    }

    /// The command byte of a generic netlink reply, or nil when it is too short.
    public static func command(of message: NetlinkMessage) -> UInt8? {
        message.payload.first
    }

    /// Resolves a family name (e.g. `IPVS`) to its id. Throws ENOENT (errno 2) from the kernel
    /// when the family is not registered, which for IPVS means the ip_vs module is not loaded.
    public static func resolveFamily(_ name: String, on connection: NetlinkConnection) throws(NetlinkError) -> UInt16 {
        let replies = try connection.request("resolve generic netlink family", detail: name) { getFamily(name: name, sequence: $0) }
        for reply in replies {
            if let id = attributes(of: reply)[attributeFamilyID], id.count >= 2 {
                return UInt16(id[0]) | UInt16(id[1]) << 8
            }
        }
        throw NetlinkError(operation: "resolve generic netlink family", errno: 0, detail: "\(name): reply without CTRL_ATTR_FAMILY_ID")
    }
}

extension NetlinkMessageBuilder {
    /// A u16 attribute in host order (NLA_U16).
    public func put(_ type: UInt16, u16 value: UInt16) {
        put(type, bytes: [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)])
    }

    /// A u16 attribute in network order (`nla_put_be16`, ports).
    public func put(_ type: UInt16, be16 value: UInt16) {
        put(type, bytes: [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
    }
}

extension NetlinkAttributes {
    /// A host-order u16 attribute.
    public func u16(_ type: UInt16) -> UInt16? {
        self[type].flatMap { $0.count >= 2 ? UInt16($0[0]) | UInt16($0[1]) << 8 : nil }
    }

    /// A network-order u16 attribute (ports).
    public func be16(_ type: UInt16) -> UInt16? {
        self[type].flatMap { $0.count >= 2 ? UInt16($0[0]) << 8 | UInt16($0[1]) : nil }
    }
}

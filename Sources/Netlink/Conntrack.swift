import CMnl
import LinuxSystem
#if canImport(Glibc)
import Glibc
#endif

/// One direction of a connection-tracking entry: addresses, L4 protocol and ports.
///
/// Addresses are network-order bytes (4 or 16), as ctnetlink carries them.
public struct ConntrackTuple: Hashable, Sendable, CustomStringConvertible {
    public var source: [UInt8]
    public var destination: [UInt8]
    /// IPPROTO_* (6 TCP, 17 UDP, 132 SCTP).
    public var protocolNumber: UInt8
    public var sourcePort: UInt16
    public var destinationPort: UInt16

    public init(source: [UInt8], destination: [UInt8], protocolNumber: UInt8, sourcePort: UInt16, destinationPort: UInt16) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
    }

    /// `conntrack -L` style: `src=10.0.0.1 dst=10.96.0.10 sport=5000 dport=53`.
    public var description: String {
        "src=\(Self.text(source)) dst=\(Self.text(destination)) sport=\(sourcePort) dport=\(destinationPort)"
    }

    static func text(_ bytes: [UInt8]) -> String {
        IPAddress(bytes: bytes)?.description ?? bytes.map { String($0) }.joined(separator: ".")
    }
}

/// A connection-tracking entry: the original tuple (as the first packet arrived) and the reply
/// tuple (what replies look like, so after DNAT its source is the real destination).
public struct ConntrackEntry: Hashable, Sendable, CustomStringConvertible {
    /// AF_INET (2) or AF_INET6 (10).
    public var family: UInt8
    public var original: ConntrackTuple
    public var reply: ConntrackTuple
    /// The conntrack zone (0 for the default zone).
    public var zone: UInt16
    /// The kernel's id of the entry (CTA_ID), so a delete cannot hit a newer entry with the
    /// same tuple; nil when the dump did not carry one.
    public var id: UInt32?

    public init(family: UInt8, original: ConntrackTuple, reply: ConntrackTuple, zone: UInt16 = 0, id: UInt32? = nil) {
        self.family = family
        self.original = original
        self.reply = reply
        self.zone = zone
        self.id = id
    }

    public var description: String { "proto \(original.protocolNumber) \(original) reply \(reply)" }
}

/// The conntrack operations the proxy needs, in one network namespace. Thread-safe.
/// ``NetlinkConntrack`` is the kernel one; TestSupport has a stateful fake.
public protocol ConntrackInterface: Sendable {
    /// Every entry of `family` (AF_INET 2 or AF_INET6 10).
    func entries(family: UInt8) throws(NetlinkError) -> [ConntrackEntry]
    /// Deletes one entry by its original tuple (and zone and id). An entry already gone
    /// (ENOENT) is not an error: entries expire on their own.
    func delete(_ entry: ConntrackEntry) throws(NetlinkError)
}

/// ctnetlink messages (linux/netfilter/nfnetlink_conntrack.h UAPI).
public enum ConntrackMessages {
    /// NFNL_SUBSYS_CTNETLINK: the high byte of the message type.
    static let subsystem: UInt16 = 1
    /// IPCTNL_MSG_CT_GET and IPCTNL_MSG_CT_DELETE.
    static let get: UInt16 = 1
    static let delete: UInt16 = 2

    /// enum ctattr_type.
    enum Attribute {
        static let tupleOriginal: UInt16 = 1
        static let tupleReply: UInt16 = 2
        static let id: UInt16 = 12
        static let zone: UInt16 = 18
    }
    /// enum ctattr_tuple.
    enum TupleAttribute {
        static let ip: UInt16 = 1
        static let proto: UInt16 = 2
    }
    /// enum ctattr_ip.
    enum IPAttribute {
        static let v4Source: UInt16 = 1
        static let v4Destination: UInt16 = 2
        static let v6Source: UInt16 = 3
        static let v6Destination: UInt16 = 4
    }
    /// enum ctattr_l4proto.
    enum ProtoAttribute {
        static let number: UInt16 = 1
        static let sourcePort: UInt16 = 2
        static let destinationPort: UInt16 = 3
    }

    /// `struct nfgenmsg`: family, version (NFNETLINK_V0), resource id (big-endian, 0 here).
    struct NetfilterHeader {
        var family: UInt8
        var version: UInt8 = 0
        var resourceID: UInt16 = 0
    }

    /// IPCTNL_MSG_CT_GET with NLM_F_DUMP: every entry of `family`.
    public static func dump(family: UInt8, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: subsystem << 8 | get, flags: UInt16(NLM_F_REQUEST) | UInt16(NLM_F_DUMP), sequence: sequence)
        m.put(header: NetfilterHeader(family: family))
        return m.bytes
    }

    /// IPCTNL_MSG_CT_DELETE of one entry, named by its original tuple, zone and id.
    public static func delete(_ entry: ConntrackEntry, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: subsystem << 8 | delete, flags: UInt16(NLM_F_REQUEST) | UInt16(NLM_F_ACK), sequence: sequence)
        m.put(header: NetfilterHeader(family: entry.family))
        put(entry.original, as: Attribute.tupleOriginal, family: entry.family, into: m)
        if entry.zone != 0 { m.put(Attribute.zone, be16: entry.zone) }
        if let id = entry.id {
            m.put(Attribute.id, bytes: [UInt8(truncatingIfNeeded: id >> 24), UInt8(truncatingIfNeeded: id >> 16),
                                        UInt8(truncatingIfNeeded: id >> 8), UInt8(truncatingIfNeeded: id)])
        }
        return m.bytes
    }

    private static func put(_ tuple: ConntrackTuple, as type: UInt16, family: UInt8, into m: NetlinkMessageBuilder) {
        let v4 = family == 2
        m.nest(type) {
            m.nest(TupleAttribute.ip) {
                m.put(v4 ? IPAttribute.v4Source : IPAttribute.v6Source, bytes: tuple.source)
                m.put(v4 ? IPAttribute.v4Destination : IPAttribute.v6Destination, bytes: tuple.destination)
            }
            m.nest(TupleAttribute.proto) {
                m.put(ProtoAttribute.number, u8: tuple.protocolNumber)
                m.put(ProtoAttribute.sourcePort, be16: tuple.sourcePort)
                m.put(ProtoAttribute.destinationPort, be16: tuple.destinationPort)
            }
        }
    }

    /// Reads one entry from a dump reply; nil when the message is not an IPv4/IPv6 entry with
    /// both tuples.
    public static func parse(_ message: NetlinkMessage) -> ConntrackEntry? {
        guard message.type == subsystem << 8 | 0, message.payload.count >= 4 else { return nil }
        let family = message.payload[0]
        let attributes = NetlinkAttributes(message.payload, offset: 4)
        guard let original = attributes.nested(Attribute.tupleOriginal).flatMap(tuple),
              let reply = attributes.nested(Attribute.tupleReply).flatMap(tuple) else { return nil }
        let id = attributes[Attribute.id].flatMap { b -> UInt32? in
            b.count == 4 ? UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]) : nil
        }
        return ConntrackEntry(family: family, original: original, reply: reply, zone: attributes.be16(Attribute.zone) ?? 0, id: id)
    }

    private static func tuple(_ attributes: NetlinkAttributes) -> ConntrackTuple? {
        guard let ip = attributes.nested(TupleAttribute.ip), let proto = attributes.nested(TupleAttribute.proto),
              let number = proto.u8(ProtoAttribute.number) else { return nil }
        guard let source = ip[IPAttribute.v4Source] ?? ip[IPAttribute.v6Source],
              let destination = ip[IPAttribute.v4Destination] ?? ip[IPAttribute.v6Destination],
              [4, 16].contains(source.count), source.count == destination.count else { return nil }
        return ConntrackTuple(source: source, destination: destination, protocolNumber: number,
                              sourcePort: proto.be16(ProtoAttribute.sourcePort) ?? 0,
                              destinationPort: proto.be16(ProtoAttribute.destinationPort) ?? 0)
    }
}

/// ``ConntrackInterface`` over a NETLINK_NETFILTER socket.
public final class NetlinkConntrack: ConntrackInterface {
    private let connection: NetlinkConnection

    public init(socket: any NetlinkSocket) {
        connection = NetlinkConnection(socket: socket)
    }

    /// Opens a netfilter netlink socket in `namespace` (the caller's when nil).
    public convenience init(namespace: NetworkNamespace? = nil) throws(NetlinkError) {
        self.init(socket: try MnlSocket(namespace: namespace, family: .netfilter))
    }

    public func entries(family: UInt8) throws(NetlinkError) -> [ConntrackEntry] {
        try connection.request("dump conntrack", detail: family == 2 ? "ipv4" : "ipv6") {
            ConntrackMessages.dump(family: family, sequence: $0)
        }.compactMap(ConntrackMessages.parse)
    }

    public func delete(_ entry: ConntrackEntry) throws(NetlinkError) {
        do {
            _ = try connection.request("delete conntrack entry", detail: "\(entry)") { ConntrackMessages.delete(entry, sequence: $0) }
        } catch where error.errno == ENOENT {
            return
        } catch {
            throw error
        }
    }
}

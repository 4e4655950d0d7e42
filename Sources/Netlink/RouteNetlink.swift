import CMnl
import CNodekitShim

/// A network interface as rtnetlink reports it.
public struct LinkInfo: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// IFLA_INFO_KIND: "bridge", "veth", ...; nil for physical and loopback links.
    public var kind: String?
    public var mtu: UInt32
    /// The hardware address (IFLA_ADDRESS), when the link has one.
    public var mac: [UInt8]?
    /// The index of the bridge it is enslaved to (IFLA_MASTER).
    public var masterIndex: Int32?
    /// Administratively up (IFF_UP).
    public var isUp: Bool

    public init(index: Int32, name: String, kind: String? = nil, mtu: UInt32 = 1500, mac: [UInt8]? = nil, masterIndex: Int32? = nil, isUp: Bool = false) {
        self.index = index
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.mac = mac
        self.masterIndex = masterIndex
        self.isUp = isUp
    }

    /// The MAC in the usual lower-case colon form, or "" when the link has none.
    public var macString: String {
        (mac ?? []).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}

/// An interface address.
public struct AddressInfo: Sendable, Equatable {
    public var index: Int32
    public var prefix: IPPrefix

    public init(index: Int32, prefix: IPPrefix) {
        self.index = index
        self.prefix = prefix
    }
}

/// A route in the main table.
public struct RouteInfo: Sendable, Equatable {
    /// The destination; `0.0.0.0/0` (or `::/0`) for the default route.
    public var destination: IPPrefix
    public var gateway: IPAddress?
    /// The output interface (RTA_OIF.rawValue).
    public var outputIndex: Int32?

    public init(destination: IPPrefix, gateway: IPAddress? = nil, outputIndex: Int32? = nil) {
        self.destination = destination
        self.gateway = gateway
        self.outputIndex = outputIndex
    }
}

/// The rtnetlink operations pod networking needs, in one network namespace.
///
/// Errors carry the kernel's errno (EEXIST for a duplicate, ENODEV for a missing link).
/// Implementations are thread-safe. ``RouteNetlink`` is the kernel one; TestSupport has a
/// stateful fake.
public protocol RouteNetlinkOperations: Sendable {
    func links() throws(NetlinkError) -> [LinkInfo]
    /// Creates a bridge, down.
    func createBridge(name: String, mtu: UInt32?) throws(NetlinkError)
    /// Creates a veth pair `name` here and `peerName` in the namespace open as `peerNamespaceFD`
    /// (here when nil). Both ends start down.
    func createVeth(name: String, peerName: String, peerNamespaceFD: Int32?, mtu: UInt32?) throws(NetlinkError)
    func setUp(index: Int32) throws(NetlinkError)
    func setMTU(index: Int32, mtu: UInt32) throws(NetlinkError)
    /// Enslaves the link to a bridge.
    func setMaster(index: Int32, masterIndex: Int32) throws(NetlinkError)
    /// Turns hairpin mode of a bridge port on or off (IFLA_PROTINFO / IFLA_BRPORT_MODE).
    func setHairpin(index: Int32, enabled: Bool) throws(NetlinkError)
    func deleteLink(index: Int32) throws(NetlinkError)
    /// Addresses of the given family (2 or 10), or all when nil.
    func addresses(family: UInt8?) throws(NetlinkError) -> [AddressInfo]
    func addAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError)
    func deleteAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError)
    /// Routes of the main table of the given family (2 or 10).
    func routes(family: UInt8) throws(NetlinkError) -> [RouteInfo]
    /// Adds a route; with `replace`, overwrites one with the same destination (NLM_F_REPLACE).
    func addRoute(_ route: RouteInfo, replace: Bool) throws(NetlinkError)
    func deleteRoute(_ route: RouteInfo) throws(NetlinkError)
    /// Adds every prefix to link `index`, or with `delete` deletes them, in order; a refused
    /// one does not stop the others. Returns the refused ones (by position in `prefixes`).
    /// Throws only when the exchange itself fails. The default calls ``addAddress(index:prefix:)``
    /// or ``deleteAddress(index:prefix:)`` for each; ``RouteNetlink`` packs them into batches.
    func changeAddresses(index: Int32, prefixes: [IPPrefix], delete: Bool) throws(NetlinkError) -> [NetlinkBatchFailure]
}

extension RouteNetlinkOperations {
    /// The link called `name`, or nil.
    public func link(named name: String) throws(NetlinkError) -> LinkInfo? {
        try links().first { $0.name == name }
    }

    public func changeAddresses(index: Int32, prefixes: [IPPrefix], delete: Bool) throws(NetlinkError) -> [NetlinkBatchFailure] {
        var failures: [NetlinkBatchFailure] = []
        for (i, prefix) in prefixes.enumerated() {
            do throws(NetlinkError) {
                if delete { try deleteAddress(index: index, prefix: prefix) } else { try addAddress(index: index, prefix: prefix) }
            } catch {
                failures.append(NetlinkBatchFailure(index: i, error: error))
            }
        }
        return failures
    }
}

/// rtnetlink over a ``NetlinkConnection``: messages from ``RouteMessages``, replies parsed into
/// ``LinkInfo``, ``AddressInfo`` and ``RouteInfo``.
public final class RouteNetlink: RouteNetlinkOperations {
    private let connection: NetlinkConnection

    public init(socket: any NetlinkSocket) {
        connection = NetlinkConnection(socket: socket)
    }

    public func links() throws(NetlinkError) -> [LinkInfo] {
        try connection.request("list links") { RouteMessages.dumpLinks(sequence: $0) }.compactMap(RouteMessages.parseLink)
    }

    /// Creates the bridge with a random locally administered address of its own. Upstream's CNI
    /// bridge plugin pins the bridge's address too: a bridge whose address the kernel chose takes
    /// its lowest port's, so it changes when that pod goes, and every pod's neighbour entry for
    /// the gateway goes stale (replies to the node are lost until it is resolved again).
    public func createBridge(name: String, mtu: UInt32?) throws(NetlinkError) {
        var mac = (0..<6).map { _ in UInt8.random(in: 0...255) }
        mac[0] = (mac[0] | 0x02) & 0xfe
        _ = try connection.request("create bridge", detail: name) { RouteMessages.newBridge(name: name, mtu: mtu, mac: mac, sequence: $0) }
    }

    public func createVeth(name: String, peerName: String, peerNamespaceFD: Int32?, mtu: UInt32?) throws(NetlinkError) {
        _ = try connection.request("create veth", detail: "\(name) peer \(peerName)") {
            RouteMessages.newVeth(name: name, peerName: peerName, peerNamespaceFD: peerNamespaceFD, mtu: mtu, sequence: $0)
        }
    }

    public func setUp(index: Int32) throws(NetlinkError) {
        _ = try connection.request("set link up", detail: "index \(index)") { RouteMessages.setLink(index: index, up: true, sequence: $0) }
    }

    public func setMTU(index: Int32, mtu: UInt32) throws(NetlinkError) {
        _ = try connection.request("set mtu", detail: "index \(index) mtu \(mtu)") { RouteMessages.setLink(index: index, mtu: mtu, sequence: $0) }
    }

    public func setMaster(index: Int32, masterIndex: Int32) throws(NetlinkError) {
        _ = try connection.request("set master", detail: "index \(index) master \(masterIndex)") {
            RouteMessages.setLink(index: index, masterIndex: masterIndex, sequence: $0)
        }
    }

    public func setHairpin(index: Int32, enabled: Bool) throws(NetlinkError) {
        _ = try connection.request("set hairpin", detail: "index \(index)") { RouteMessages.setHairpin(index: index, enabled: enabled, sequence: $0) }
    }

    public func deleteLink(index: Int32) throws(NetlinkError) {
        _ = try connection.request("delete link", detail: "index \(index)") { RouteMessages.deleteLink(index: index, sequence: $0) }
    }

    public func addresses(family: UInt8?) throws(NetlinkError) -> [AddressInfo] {
        try connection.request("list addresses") { RouteMessages.dumpAddresses(family: family ?? 0, sequence: $0) }.compactMap(RouteMessages.parseAddress)
    }

    public func addAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError) {
        _ = try connection.request("add address", detail: "\(prefix) on index \(index)") {
            RouteMessages.address(RTM_NEWADDR, index: index, prefix: prefix, sequence: $0)
        }
    }

    public func deleteAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError) {
        _ = try connection.request("delete address", detail: "\(prefix) on index \(index)") {
            RouteMessages.address(RTM_DELADDR, index: index, prefix: prefix, sequence: $0)
        }
    }

    /// Several addresses per datagram (``NetlinkConnection/requestBatch(_:count:perDatagram:detail:_:)``).
    public func changeAddresses(index: Int32, prefixes: [IPPrefix], delete: Bool) throws(NetlinkError) -> [NetlinkBatchFailure] {
        try connection.requestBatch(delete ? "delete address" : "add address", count: prefixes.count,
                                    detail: { "\(prefixes[$0]) on index \(index)" }) { i, sequence in
            RouteMessages.address(delete ? RTM_DELADDR : RTM_NEWADDR, index: index, prefix: prefixes[i], sequence: sequence)
        }
    }

    public func routes(family: UInt8) throws(NetlinkError) -> [RouteInfo] {
        try connection.request("list routes") { RouteMessages.dumpRoutes(family: family, sequence: $0) }.compactMap(RouteMessages.parseMainRoute)
    }

    public func addRoute(_ route: RouteInfo, replace: Bool) throws(NetlinkError) {
        _ = try connection.request(replace ? "replace route" : "add route", detail: "\(route.destination)") {
            RouteMessages.route(RTM_NEWROUTE, route, replace: replace, sequence: $0)
        }
    }

    public func deleteRoute(_ route: RouteInfo) throws(NetlinkError) {
        _ = try connection.request("delete route", detail: "\(route.destination)") {
            RouteMessages.route(RTM_DELROUTE, route, replace: false, sequence: $0)
        }
    }
}

/// rtnetlink request builders (pure, for golden-byte tests) and reply parsers.
public enum RouteMessages {
    static let request = UInt16(NLM_F_REQUEST)
    static let ack = UInt16(NLM_F_ACK)
    static let createExclusive = UInt16(NLM_F_CREATE | NLM_F_EXCL)
    static let dump = UInt16(NLM_F_DUMP)
    static let mainTable: UInt8 = 254
    /// RTPROT_BOOT, what `ip route add` uses for static routes.
    static let protocolBoot: UInt8 = 3
    /// IFF_UP from <net/if.h>, which the netlink headers do not pull in.
    static let iffUp: UInt32 = 1

    /// RTM_NEWLINK of a bridge. With `mac`, the bridge's address is set by the creator
    /// (IFLA_ADDRESS: the kernel marks it NET_ADDR_SET), so it no longer follows the lowest
    /// port address as ports come and go.
    public static func newBridge(name: String, mtu: UInt32?, mac: [UInt8]? = nil, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_NEWLINK), flags: request | ack | createExclusive, sequence: sequence)
        m.put(header: ifinfomsg())
        m.put(UInt16(IFLA_IFNAME), string: name)
        if let mtu { m.put(UInt16(IFLA_MTU), u32: mtu) }
        if let mac { m.put(UInt16(IFLA_ADDRESS), bytes: mac) }
        m.nest(UInt16(IFLA_LINKINFO)) {
            m.put(UInt16(IFLA_INFO_KIND), string: "bridge")
        }
        return m.bytes
    }

    public static func newVeth(name: String, peerName: String, peerNamespaceFD: Int32?, mtu: UInt32?, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_NEWLINK), flags: request | ack | createExclusive, sequence: sequence)
        m.put(header: ifinfomsg())
        m.put(UInt16(IFLA_IFNAME), string: name)
        if let mtu { m.put(UInt16(IFLA_MTU), u32: mtu) }
        m.nest(UInt16(IFLA_LINKINFO)) {
            m.put(UInt16(IFLA_INFO_KIND), string: "veth")
            m.nest(UInt16(IFLA_INFO_DATA)) {
                // The peer is described like a link of its own: an ifinfomsg, then attributes.
                m.nest(UInt16(VETH_INFO_PEER)) {
                    m.put(header: ifinfomsg())
                    m.put(UInt16(IFLA_IFNAME), string: peerName)
                    if let mtu { m.put(UInt16(IFLA_MTU), u32: mtu) }
                    if let peerNamespaceFD { m.put(UInt16(IFLA_NET_NS_FD), u32: UInt32(bitPattern: peerNamespaceFD)) }
                }
            }
        }
        return m.bytes
    }

    /// RTM_SETLINK for one link: any of up, MTU, master.
    public static func setLink(index: Int32, up: Bool? = nil, mtu: UInt32? = nil, masterIndex: Int32? = nil, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_SETLINK), flags: request | ack, sequence: sequence)
        var info = ifinfomsg()
        info.ifi_index = index
        if let up {
            info.ifi_change = iffUp
            info.ifi_flags = up ? iffUp : 0
        }
        m.put(header: info)
        if let mtu { m.put(UInt16(IFLA_MTU), u32: mtu) }
        if let masterIndex { m.put(UInt16(IFLA_MASTER), u32: UInt32(bitPattern: masterIndex)) }
        return m.bytes
    }

    /// RTM_SETLINK in the AF_BRIDGE family: bridge port flags go in IFLA_PROTINFO, and any
    /// non-zero IFLA_BRPORT_MODE turns hairpin on (the kernel's br_setport).
    public static func setHairpin(index: Int32, enabled: Bool, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_SETLINK), flags: request | ack, sequence: sequence)
        var info = ifinfomsg()
        info.ifi_family = UInt8(AF_BRIDGE)
        info.ifi_index = index
        m.put(header: info)
        m.nest(UInt16(IFLA_PROTINFO)) {
            m.put(UInt16(IFLA_BRPORT_MODE), u8: enabled ? 1 : 0)
        }
        return m.bytes
    }

    public static func deleteLink(index: Int32, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_DELLINK), flags: request | ack, sequence: sequence)
        var info = ifinfomsg()
        info.ifi_index = index
        m.put(header: info)
        return m.bytes
    }

    public static func dumpLinks(sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_GETLINK), flags: request | dump, sequence: sequence)
        m.put(header: ifinfomsg())
        return m.bytes
    }

    /// RTM_NEWADDR (create, exclusive) or RTM_DELADDR. IPv4 addresses get a broadcast address
    /// like `ip addr add ... brd +` gives, except on /31 and /32.
    public static func address(_ type: Int, index: Int32, prefix: IPPrefix, sequence: UInt32) -> [UInt8] {
        let flags = type == RTM_NEWADDR ? request | ack | createExclusive : request | ack
        let m = NetlinkMessageBuilder(type: UInt16(type), flags: flags, sequence: sequence)
        var info = ifaddrmsg()
        info.ifa_family = prefix.address.family
        info.ifa_prefixlen = UInt8(prefix.length)
        info.ifa_index = UInt32(bitPattern: index)
        m.put(header: info)
        m.put(UInt16(IFA_LOCAL), bytes: prefix.address.bytes)
        m.put(UInt16(IFA_ADDRESS), bytes: prefix.address.bytes)
        if prefix.address.isV4 && prefix.length < 31 && type == RTM_NEWADDR {
            m.put(UInt16(IFA_BROADCAST), bytes: prefix.last.bytes)
        }
        return m.bytes
    }

    public static func dumpAddresses(family: UInt8, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_GETADDR), flags: request | dump, sequence: sequence)
        var info = ifaddrmsg()
        info.ifa_family = family
        m.put(header: info)
        return m.bytes
    }

    /// RTM_NEWROUTE / RTM_DELROUTE in the main table. A route without a gateway is link-scoped.
    public static func route(_ type: Int, _ route: RouteInfo, replace: Bool, sequence: UInt32) -> [UInt8] {
        var flags = request | ack
        if type == RTM_NEWROUTE { flags |= UInt16(NLM_F_CREATE) | (replace ? UInt16(NLM_F_REPLACE) : UInt16(NLM_F_EXCL)) }
        let m = NetlinkMessageBuilder(type: UInt16(type), flags: flags, sequence: sequence)
        var info = rtmsg()
        info.rtm_family = route.destination.address.family
        info.rtm_dst_len = UInt8(route.destination.length)
        info.rtm_table = mainTable
        info.rtm_protocol = type == RTM_NEWROUTE ? protocolBoot : 0
        info.rtm_scope = route.gateway == nil ? UInt8(RT_SCOPE_LINK.rawValue) : UInt8(RT_SCOPE_UNIVERSE.rawValue)
        info.rtm_type = UInt8(RTN_UNICAST)
        m.put(header: info)
        if route.destination.length > 0 { m.put(UInt16(RTA_DST.rawValue), bytes: route.destination.network.address.bytes) }
        if let gateway = route.gateway { m.put(UInt16(RTA_GATEWAY.rawValue), bytes: gateway.bytes) }
        if let index = route.outputIndex { m.put(UInt16(RTA_OIF.rawValue), u32: UInt32(bitPattern: index)) }
        return m.bytes
    }

    public static func dumpRoutes(family: UInt8, sequence: UInt32) -> [UInt8] {
        let m = NetlinkMessageBuilder(type: UInt16(RTM_GETROUTE), flags: request | dump, sequence: sequence)
        var info = rtmsg()
        info.rtm_family = family
        m.put(header: info)
        return m.bytes
    }

    /// Parses an RTM_NEWLINK reply (ifinfomsg is 16 bytes: family, pad, type u16, index i32,
    /// flags u32, change u32).
    public static func parseLink(_ message: NetlinkMessage) -> LinkInfo? {
        guard message.type == RTM_NEWLINK, message.payload.count >= 16 else { return nil }
        let p = message.payload
        let attributes = NetlinkAttributes(p, offset: 16)
        guard let name = attributes.string(UInt16(IFLA_IFNAME)) else { return nil }
        let master = attributes.u32(UInt16(IFLA_MASTER)).map { Int32(bitPattern: $0) }
        return LinkInfo(
            index: Int32(bitPattern: p.loadLE(UInt32.self, at: 4)),
            name: name,
            kind: attributes.nested(UInt16(IFLA_LINKINFO))?.string(UInt16(IFLA_INFO_KIND)),
            mtu: attributes.u32(UInt16(IFLA_MTU)) ?? 0,
            mac: attributes[UInt16(IFLA_ADDRESS)],
            masterIndex: master == 0 ? nil : master,
            isUp: p.loadLE(UInt32.self, at: 8) & iffUp != 0)
    }

    /// Parses an RTM_NEWADDR reply (ifaddrmsg is 8 bytes: family, prefixlen, flags, scope, index).
    public static func parseAddress(_ message: NetlinkMessage) -> AddressInfo? {
        guard message.type == RTM_NEWADDR, message.payload.count >= 8 else { return nil }
        let p = message.payload
        let attributes = NetlinkAttributes(p, offset: 8)
        guard let raw = attributes[UInt16(IFA_LOCAL)] ?? attributes[UInt16(IFA_ADDRESS)], let address = IPAddress(bytes: raw) else { return nil }
        return AddressInfo(index: Int32(bitPattern: p.loadLE(UInt32.self, at: 4)), prefix: IPPrefix(address: address, length: Int(p[1])))
    }

    /// Parses an RTM_NEWROUTE reply of the main table, or returns nil for other tables and
    /// non-unicast routes (rtmsg is 12 bytes: family, dst_len, src_len, tos, table, protocol,
    /// scope, type, flags u32).
    public static func parseMainRoute(_ message: NetlinkMessage) -> RouteInfo? {
        guard message.type == RTM_NEWROUTE, message.payload.count >= 12 else { return nil }
        let p = message.payload
        let attributes = NetlinkAttributes(p, offset: 12)
        let table = attributes.u32(UInt16(RTA_TABLE.rawValue)) ?? UInt32(p[4])
        guard table == UInt32(mainTable), p[7] == UInt8(RTN_UNICAST) else { return nil }
        let family = p[0]
        let zero: IPAddress = family == 2 ? .v4(0) : .v6(0)
        let destination = attributes[UInt16(RTA_DST.rawValue)].flatMap { IPAddress(bytes: $0) } ?? zero
        return RouteInfo(
            destination: IPPrefix(address: destination, length: Int(p[1])),
            gateway: attributes[UInt16(RTA_GATEWAY.rawValue)].flatMap { IPAddress(bytes: $0) },
            outputIndex: attributes.u32(UInt16(RTA_OIF.rawValue)).map { Int32(bitPattern: $0) })
    }
}

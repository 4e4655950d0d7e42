import Netlink

/// One IPAM range: a subnet and the part of it to hand out. Field names are host-local's.
public struct IPRange: Equatable, Sendable {
    public var subnet: IPPrefix
    public var rangeStart: IPAddress
    public var rangeEnd: IPAddress
    public var gateway: IPAddress

    /// Builds a range with host-local's defaults: gateway = first host address, start = first
    /// host address, end = last host address (before the IPv4 broadcast address). Throws
    /// code 7 when a given bound lies outside the subnet or the subnet is too small.
    public init(subnet: IPPrefix, rangeStart: IPAddress? = nil, rangeEnd: IPAddress? = nil, gateway: IPAddress? = nil) throws(CNIError) {
        let network = subnet.network
        let hostBits = network.address.bitWidth - network.length
        guard hostBits >= 2 else {
            throw CNIError(CNIError.invalidNetworkConfig, "subnet \(subnet) is too small for pods", details: "need at least a /\(network.address.bitWidth - 2)")
        }
        self.subnet = network
        let firstHost = network.first.advanced(by: 1)!
        let lastHost = network.address.isV4 ? network.last.advanced(by: -1)! : network.last
        self.gateway = gateway ?? firstHost
        self.rangeStart = rangeStart ?? firstHost
        self.rangeEnd = rangeEnd ?? lastHost
        for (name, value) in [("gateway", self.gateway), ("rangeStart", self.rangeStart), ("rangeEnd", self.rangeEnd)] where !network.contains(value) {
            throw CNIError(CNIError.invalidNetworkConfig, "\(name) \(value) is outside subnet \(network)")
        }
        guard self.rangeStart <= self.rangeEnd else {
            throw CNIError(CNIError.invalidNetworkConfig, "rangeStart \(self.rangeStart) is after rangeEnd \(self.rangeEnd)")
        }
    }

    /// True for addresses IPAM never hands out: the network address, the IPv4 broadcast
    /// address and the gateway.
    public func isReserved(_ address: IPAddress) -> Bool {
        address == subnet.first || address == gateway || (subnet.address.isV4 && address == subnet.last)
    }

    /// How many addresses of the range can be handed out.
    public var capacity: Int {
        var count = 0
        var current: IPAddress? = rangeStart
        while let a = current, a <= rangeEnd, count < 1 << 20 {
            if !isReserved(a) { count += 1 }
            current = a.advanced(by: 1)
        }
        return count
    }
}

/// A route as configs and the node agent's routes file give it: `{"dst": CIDR, "gw": IP}`.
public struct RouteSpec: Equatable, Sendable {
    public var dst: IPPrefix
    public var gw: IPAddress?

    public init(dst: IPPrefix, gw: IPAddress? = nil) {
        self.dst = dst
        self.gw = gw
    }

    static func parse(_ json: JSONValue, field: String) throws(CNIError) -> RouteSpec {
        guard let text = json["dst"]?.stringValue, let dst = IPPrefix(text) else {
            throw CNIError(CNIError.invalidNetworkConfig, "\(field).dst must be a CIDR, got \(json["dst"]?.description ?? "nothing")")
        }
        var gw: IPAddress?
        if let g = json["gw"] {
            guard let text = g.stringValue, let parsed = IPAddress(text) else {
                throw CNIError(CNIError.invalidNetworkConfig, "\(field).gw must be an IP address, got \(g)")
            }
            gw = parsed
        }
        return RouteSpec(dst: dst.network, gw: gw)
    }

    /// Reads the node agent's routes file: a JSON list of `{"dst", "gw"}` routes to other
    /// nodes' pod CIDRs. A missing file means no routes.
    public static func parseRoutesFile(_ bytes: [UInt8], path: String) throws(CNIError) -> [RouteSpec] {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch {
            throw CNIError(CNIError.invalidNetworkConfig, "routes file \(path) is not valid JSON", details: error.description)
        }
        guard let items = json.arrayValue else {
            throw CNIError(CNIError.invalidNetworkConfig, "routes file \(path) must hold a JSON list of {dst, gw}")
        }
        var routes: [RouteSpec] = []
        for (i, item) in items.enumerated() { routes.append(try parse(item, field: "\(path)[\(i)]")) }
        return routes
    }
}

/// The nodekit-cni network configuration: the reference `bridge` plugin's fields, host-local
/// IPAM's fields, and nodekit's own (clusterCIDR, nodeRoutes, nodeRoutesFile).
public struct BridgeNetworkConfig: Equatable, Sendable {
    public var cniVersion: String
    public var name: String
    public var bridge: String
    public var mtu: UInt32?
    public var isGateway: Bool
    public var isDefaultGateway: Bool
    public var ipMasq: Bool
    public var hairpinMode: Bool
    /// One range set per IP family: the pod gets one address from each (dual-stack).
    public var rangeSets: [[IPRange]]
    /// Routes inside the pod (host-local `ipam.routes`); a route without gw goes via the gateway.
    public var routes: [RouteSpec]
    public var dataDir: String
    /// Destinations not masqueraded (the cluster's pod CIDR); defaults to the pod subnets.
    public var clusterCIDRs: [IPPrefix]
    /// Host routes to other nodes' pod CIDRs.
    public var nodeRoutes: [RouteSpec]
    /// A routes file the node agent maintains; read on every ADD.
    public var nodeRoutesFile: String?

    public static let defaultDataDir = "/var/lib/cni/networks"
    static let knownIPAMTypes: Set<String> = ["host-local", "nodekit"]

    /// Parses and validates a plugin config. Codes: 1 unsupported cniVersion, 2 unsupported
    /// field value (another IPAM type), 7 invalid values.
    public init(json: JSONValue) throws(CNIError) {
        guard case .object = json else { throw CNIError(CNIError.decodingFailure, "network config is not a JSON object") }
        let version = json["cniVersion"]?.stringValue ?? ""
        guard CNIVersion.supported.contains(version) else {
            throw CNIError(CNIError.incompatibleVersion, "cniVersion \"\(version)\" is not supported", details: "supported: \(CNIVersion.supported.joined(separator: ", "))")
        }
        cniVersion = version
        guard let name = json["name"]?.stringValue, !name.isEmpty, !name.contains("/") else {
            throw CNIError(CNIError.invalidNetworkConfig, "network config needs a \"name\" without '/'")
        }
        self.name = name
        bridge = try Self.string(json, "bridge") ?? "cni0"
        try validateInterfaceName(bridge, field: "bridge")
        if let m = json["mtu"] {
            guard let value = m.numberValue, value >= 68, value <= 65535, value.rounded() == value else {
                throw CNIError(CNIError.invalidNetworkConfig, "mtu must be an integer from 68 to 65535, got \(m)")
            }
            mtu = UInt32(value)
        }
        isDefaultGateway = try Self.bool(json, "isDefaultGateway") ?? false
        isGateway = try Self.bool(json, "isGateway") ?? false || isDefaultGateway
        ipMasq = try Self.bool(json, "ipMasq") ?? false
        hairpinMode = try Self.bool(json, "hairpinMode") ?? false

        guard let ipam = json["ipam"], case .object = ipam else {
            throw CNIError(CNIError.invalidNetworkConfig, "network config needs an \"ipam\" object")
        }
        let ipamType = ipam["type"]?.stringValue ?? "host-local"
        guard Self.knownIPAMTypes.contains(ipamType) else {
            throw CNIError(CNIError.unsupportedField, "ipam.type \"\(ipamType)\" is not supported", details: "nodekit-cni has built-in host-local IPAM")
        }
        dataDir = try Self.string(ipam, "dataDir") ?? Self.defaultDataDir
        var sets: [[IPRange]] = []
        if let ranges = ipam["ranges"] {
            guard let outer = ranges.arrayValue else { throw CNIError(CNIError.invalidNetworkConfig, "ipam.ranges must be a list of range lists") }
            for (i, set) in outer.enumerated() {
                guard let inner = set.arrayValue, !inner.isEmpty else { throw CNIError(CNIError.invalidNetworkConfig, "ipam.ranges[\(i)] must be a non-empty list") }
                var parsed: [IPRange] = []
                for (j, item) in inner.enumerated() { parsed.append(try Self.range(item, field: "ipam.ranges[\(i)][\(j)]")) }
                guard Set(parsed.map(\.subnet.address.isV4)).count == 1 else {
                    throw CNIError(CNIError.invalidNetworkConfig, "ipam.ranges[\(i)] mixes IPv4 and IPv6")
                }
                sets.append(parsed)
            }
        } else if ipam["subnet"] != nil {
            sets = [[try Self.range(ipam, field: "ipam")]]
        }
        guard !sets.isEmpty else { throw CNIError(CNIError.invalidNetworkConfig, "ipam needs \"subnet\" or \"ranges\"") }
        rangeSets = sets
        routes = []
        for (i, item) in (ipam["routes"]?.arrayValue ?? []).enumerated() { routes.append(try RouteSpec.parse(item, field: "ipam.routes[\(i)]")) }
        if isDefaultGateway {
            for set in sets {
                let zero = IPPrefix(address: set[0].subnet.address.isV4 ? .v4(0) : .v6(0), length: 0)
                if !routes.contains(where: { $0.dst == zero }) { routes.append(RouteSpec(dst: zero)) }
            }
        }
        clusterCIDRs = []
        if let c = json["clusterCIDR"] {
            let texts = c.arrayValue?.compactMap(\.stringValue) ?? [c.stringValue].compactMap { $0 }
            for text in texts {
                guard let prefix = IPPrefix(text) else { throw CNIError(CNIError.invalidNetworkConfig, "clusterCIDR \"\(text)\" is not a CIDR") }
                clusterCIDRs.append(prefix.network)
            }
        }
        if clusterCIDRs.isEmpty { clusterCIDRs = sets.map { $0[0].subnet } }
        nodeRoutes = []
        for (i, item) in (json["nodeRoutes"]?.arrayValue ?? []).enumerated() { nodeRoutes.append(try RouteSpec.parse(item, field: "nodeRoutes[\(i)]")) }
        nodeRoutesFile = try Self.string(json, "nodeRoutesFile")
    }

    private static func range(_ json: JSONValue, field: String) throws(CNIError) -> IPRange {
        guard let text = json["subnet"]?.stringValue, let subnet = IPPrefix(text) else {
            throw CNIError(CNIError.invalidNetworkConfig, "\(field).subnet must be a CIDR, got \(json["subnet"]?.description ?? "nothing")")
        }
        func address(_ key: String) throws(CNIError) -> IPAddress? {
            guard let value = json[key] else { return nil }
            guard let text = value.stringValue, let a = IPAddress(text), a.isV4 == subnet.address.isV4 else {
                throw CNIError(CNIError.invalidNetworkConfig, "\(field).\(key) must be an IP address of the subnet's family, got \(value)")
            }
            return a
        }
        return try IPRange(subnet: subnet, rangeStart: address("rangeStart"), rangeEnd: address("rangeEnd"), gateway: address("gateway"))
    }

    private static func string(_ json: JSONValue, _ key: String) throws(CNIError) -> String? {
        guard let value = json[key] else { return nil }
        guard let s = value.stringValue else { throw CNIError(CNIError.invalidNetworkConfig, "\(key) must be a string, got \(value)") }
        return s
    }

    private static func bool(_ json: JSONValue, _ key: String) throws(CNIError) -> Bool? {
        guard let value = json[key] else { return nil }
        guard let b = value.boolValue else { throw CNIError(CNIError.invalidNetworkConfig, "\(key) must be true or false, got \(value)") }
        return b
    }
}

/// Checks a Linux interface name the way the spec asks for CNI_IFNAME: 1-15 bytes, not "." or
/// "..", no '/', ':' or whitespace. Throws code 4 for CNI_IFNAME, 7 for config fields.
func validateInterfaceName(_ name: String, field: String) throws(CNIError) {
    let bad = name.isEmpty || name.utf8.count > 15 || name == "." || name == ".."
        || name.contains { $0 == "/" || $0 == ":" || $0.isWhitespace }
    if bad {
        let code = field == "CNI_IFNAME" ? CNIError.invalidEnvironment : CNIError.invalidNetworkConfig
        throw CNIError(code, "\(field) \"\(name)\" is not a valid interface name")
    }
}

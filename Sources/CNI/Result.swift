import Netlink

/// The CNI spec versions this code reads and writes. 0.1.0 and 0.2.0 (pre-"rich result") are
/// not supported.
public enum CNIVersion {
    public static let supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    public static let latest = "1.1.0"

    /// True for versions whose results carry `ips[].version` (before 1.0.0).
    static func hasIPVersionField(_ version: String) -> Bool { version.hasPrefix("0.") }
}

/// A plugin's ADD result, independent of spec version; ``json(version:)`` and
/// ``init(json:)`` convert between 1.x (no `ips[].version`) and 0.3/0.4 (with it).
public struct CNIResult: Equatable, Sendable {
    public struct Interface: Equatable, Sendable {
        public var name: String
        public var mac: String
        public var mtu: Int?
        /// The netns path for a pod interface; nil for host interfaces.
        public var sandbox: String?

        public init(name: String, mac: String, mtu: Int? = nil, sandbox: String? = nil) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.sandbox = sandbox
        }
    }

    public struct IPConfig: Equatable, Sendable {
        public var address: IPPrefix
        public var gateway: IPAddress?
        /// Index into ``CNIResult/interfaces``.
        public var interface: Int?

        public init(address: IPPrefix, gateway: IPAddress? = nil, interface: Int? = nil) {
            self.address = address
            self.gateway = gateway
            self.interface = interface
        }
    }

    public struct Route: Equatable, Sendable {
        public var dst: IPPrefix
        public var gw: IPAddress?

        public init(dst: IPPrefix, gw: IPAddress? = nil) {
            self.dst = dst
            self.gw = gw
        }
    }

    public struct DNS: Equatable, Sendable {
        public var nameservers: [String] = []
        public var domain: String?
        public var search: [String] = []
        public var options: [String] = []

        public init(nameservers: [String] = [], domain: String? = nil, search: [String] = [], options: [String] = []) {
            self.nameservers = nameservers
            self.domain = domain
            self.search = search
            self.options = options
        }
    }

    public var cniVersion: String
    public var interfaces: [Interface]
    public var ips: [IPConfig]
    public var routes: [Route]
    public var dns: DNS

    public init(cniVersion: String, interfaces: [Interface] = [], ips: [IPConfig] = [], routes: [Route] = [], dns: DNS = DNS()) {
        self.cniVersion = cniVersion
        self.interfaces = interfaces
        self.ips = ips
        self.routes = routes
        self.dns = dns
    }

    /// The result as JSON in spec `version`: 0.3.x/0.4.0 add `"version": "4"|"6"` to each IP.
    public func json(version: String) -> JSONValue {
        var members: [(String, JSONValue)] = [("cniVersion", .string(version))]
        if !interfaces.isEmpty {
            members.append(("interfaces", .array(interfaces.map { i in
                var o: [(String, JSONValue)] = [("name", .string(i.name))]
                if !i.mac.isEmpty { o.append(("mac", .string(i.mac))) }
                if let mtu = i.mtu, !CNIVersion.hasIPVersionField(version) { o.append(("mtu", .number(Double(mtu)))) }
                if let sandbox = i.sandbox { o.append(("sandbox", .string(sandbox))) }
                return .object(o)
            })))
        }
        members.append(("ips", .array(ips.map { ip in
            var o: [(String, JSONValue)] = []
            if CNIVersion.hasIPVersionField(version) { o.append(("version", .string(ip.address.address.isV4 ? "4" : "6"))) }
            if let index = ip.interface { o.append(("interface", .number(Double(index)))) }
            o.append(("address", .string(ip.address.description)))
            if let gw = ip.gateway { o.append(("gateway", .string(gw.description))) }
            return .object(o)
        })))
        if !routes.isEmpty {
            members.append(("routes", .array(routes.map { r in
                var o: [(String, JSONValue)] = [("dst", .string(r.dst.description))]
                if let gw = r.gw { o.append(("gw", .string(gw.description))) }
                return .object(o)
            })))
        }
        var dnsMembers: [(String, JSONValue)] = []
        if !dns.nameservers.isEmpty { dnsMembers.append(("nameservers", .array(dns.nameservers.map { .string($0) }))) }
        if let domain = dns.domain { dnsMembers.append(("domain", .string(domain))) }
        if !dns.search.isEmpty { dnsMembers.append(("search", .array(dns.search.map { .string($0) }))) }
        if !dns.options.isEmpty { dnsMembers.append(("options", .array(dns.options.map { .string($0) }))) }
        members.append(("dns", .object(dnsMembers)))
        return .object(members)
    }

    /// Reads a result of any supported version. Throws code 6 when a field is malformed and
    /// code 1 for an unsupported cniVersion.
    public init(json: JSONValue) throws(CNIError) {
        guard case .object = json else { throw CNIError(CNIError.decodingFailure, "result is not a JSON object") }
        let version = json["cniVersion"]?.stringValue ?? ""
        guard CNIVersion.supported.contains(version) else {
            throw CNIError(CNIError.incompatibleVersion, "unsupported result cniVersion \"\(version)\"")
        }
        cniVersion = version
        interfaces = []
        for item in json["interfaces"]?.arrayValue ?? [] {
            guard let name = item["name"]?.stringValue else { throw CNIError(CNIError.decodingFailure, "result interface without a name") }
            interfaces.append(Interface(name: name, mac: item["mac"]?.stringValue ?? "", mtu: item["mtu"]?.numberValue.map { Int($0) }, sandbox: item["sandbox"]?.stringValue))
        }
        ips = []
        for item in json["ips"]?.arrayValue ?? [] {
            guard let text = item["address"]?.stringValue, let address = IPPrefix(text) else {
                throw CNIError(CNIError.decodingFailure, "result ips[].address is not an address/prefix: \(item["address"]?.description ?? "missing")")
            }
            var gateway: IPAddress?
            if let g = item["gateway"]?.stringValue {
                guard let parsed = IPAddress(g) else { throw CNIError(CNIError.decodingFailure, "result ips[].gateway \"\(g)\" is not an address") }
                gateway = parsed
            }
            ips.append(IPConfig(address: address, gateway: gateway, interface: item["interface"]?.numberValue.map { Int($0) }))
        }
        routes = []
        for item in json["routes"]?.arrayValue ?? [] {
            guard let text = item["dst"]?.stringValue, let dst = IPPrefix(text) else {
                throw CNIError(CNIError.decodingFailure, "result routes[].dst is not a prefix: \(item["dst"]?.description ?? "missing")")
            }
            routes.append(Route(dst: dst, gw: item["gw"]?.stringValue.flatMap { IPAddress($0) }))
        }
        let d = json["dns"]
        dns = DNS(nameservers: d?["nameservers"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                  domain: d?["domain"]?.stringValue,
                  search: d?["search"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                  options: d?["options"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}

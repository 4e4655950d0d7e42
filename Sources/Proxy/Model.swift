import KubeAPI
import NFTables

/// Names one port of one Service: `namespace/name:port` plus its protocol, the unit every
/// backend programs (one service chain, one set of endpoints).
public struct ServicePortName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String
    /// The Service port's name; empty for a Service with one unnamed port.
    public var port: String
    public var `protocol`: TransportProtocol

    public init(namespace: String, name: String, port: String, protocol proto: TransportProtocol) {
        self.namespace = namespace
        self.name = name
        self.port = port
        self.protocol = proto
    }

    /// `namespace/name`.
    public var serviceKey: String { "\(namespace)/\(name)" }

    /// Upstream's `ServicePortName.String()`: `namespace/name` or `namespace/name:port`.
    public var description: String { port.isEmpty ? serviceKey : "\(serviceKey):\(port)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.namespace, a.name, a.port, a.protocol.rawValue) < (b.namespace, b.name, b.port, b.protocol.rawValue)
    }
}

/// What the proxy needs to know about one Service port, derived from a Service.
public struct ServicePortInfo: Hashable, Sendable {
    public var clusterIPs: [IPAddress]
    public var port: UInt16
    public var `protocol`: TransportProtocol
    /// 0 when the Service has no node port.
    public var nodePort: UInt16
    public var externalIPs: [IPAddress]
    public var loadBalancerIngressIPs: [IPAddress]
    public var loadBalancerSourceRanges: [CIDR]
    /// ClientIP session affinity timeout in seconds; nil without affinity.
    public var affinityTimeoutSeconds: UInt32?
    /// externalTrafficPolicy Local: external traffic only to endpoints on this node.
    public var externalPolicyLocal: Bool
    /// internalTrafficPolicy Local: cluster traffic only to endpoints on this node.
    public var internalPolicyLocal: Bool
    /// 0 when the Service has none.
    public var healthCheckNodePort: UInt16

    public init(clusterIPs: [IPAddress], port: UInt16, protocol proto: TransportProtocol, nodePort: UInt16 = 0,
                externalIPs: [IPAddress] = [], loadBalancerIngressIPs: [IPAddress] = [], loadBalancerSourceRanges: [CIDR] = [],
                affinityTimeoutSeconds: UInt32? = nil, externalPolicyLocal: Bool = false, internalPolicyLocal: Bool = false,
                healthCheckNodePort: UInt16 = 0) {
        self.clusterIPs = clusterIPs
        self.port = port
        self.protocol = proto
        self.nodePort = nodePort
        self.externalIPs = externalIPs
        self.loadBalancerIngressIPs = loadBalancerIngressIPs
        self.loadBalancerSourceRanges = loadBalancerSourceRanges
        self.affinityTimeoutSeconds = affinityTimeoutSeconds
        self.externalPolicyLocal = externalPolicyLocal
        self.internalPolicyLocal = internalPolicyLocal
        self.healthCheckNodePort = healthCheckNodePort
    }

    /// True when some traffic reaches this port from outside the cluster network.
    public var hasExternalDestinations: Bool { nodePort != 0 || !externalIPs.isEmpty || !loadBalancerIngressIPs.isEmpty }
}

/// One endpoint of a Service port, from an EndpointSlice.
public struct EndpointInfo: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16
    public var ready: Bool
    public var serving: Bool
    public var terminating: Bool
    /// True when the endpoint runs on this node (its `nodeName` is the proxy's node name).
    public var isLocal: Bool

    public init(ip: IPAddress, port: UInt16, ready: Bool = true, serving: Bool = true, terminating: Bool = false, isLocal: Bool = false) {
        self.ip = ip
        self.port = port
        self.ready = ready
        self.serving = serving
        self.terminating = terminating
        self.isLocal = isLocal
    }

    /// `ip:port`, or `[ip]:port` for IPv6 (upstream's endpoint string).
    public var description: String { ip.family == .ip ? "\(ip):\(port)" : "[\(ip)]:\(port)" }

    public static func < (a: Self, b: Self) -> Bool { a.ip != b.ip ? a.ip < b.ip : a.port < b.port }
}

/// The proxy's view of the cluster: every Service port and its endpoints.
public struct ProxyState: Sendable, Equatable {
    public var services: [ServicePortName: ServicePortInfo] = [:]
    public var endpoints: [ServicePortName: [EndpointInfo]] = [:]
    public init() {}
}

/// Which endpoints receive which traffic, following upstream's CategorizeEndpoints: ready
/// endpoints, falling back to serving-and-terminating ones when none is ready.
public struct EndpointSelection: Equatable, Sendable {
    /// Endpoints for traffic to the cluster IP (all, or local only for internalTrafficPolicy Local).
    public var cluster: [EndpointInfo]
    /// Endpoints for external traffic when externalTrafficPolicy is Local: local endpoints only.
    public var local: [EndpointInfo]
    /// True when every endpoint any traffic could use is missing: the Service rejects.
    public var hasNoEndpoints: Bool

    public init(service: ServicePortInfo, endpoints: [EndpointInfo]) {
        func usable(_ candidates: [EndpointInfo]) -> [EndpointInfo] {
            let ready = candidates.filter(\.ready)
            if !ready.isEmpty { return ready.sorted() }
            return candidates.filter { $0.serving && $0.terminating }.sorted()
        }
        let localOnly = endpoints.filter(\.isLocal)
        cluster = usable(service.internalPolicyLocal ? localOnly : endpoints)
        local = service.externalPolicyLocal ? usable(localOnly) : []
        let externalEmpty = service.externalPolicyLocal ? local.isEmpty : cluster.isEmpty
        hasNoEndpoints = cluster.isEmpty && (!service.hasExternalDestinations || externalEmpty)
    }
}

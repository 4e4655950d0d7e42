/// core/v1 Service.
public struct Service: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "Service"
    public var apiVersion: String? = Service.apiVersion
    public var kind: String? = Service.kind
    public var metadata: ObjectMeta
    public var spec: ServiceSpec
    public var status: ServiceStatus?

    public init(metadata: ObjectMeta, spec: ServiceSpec, status: ServiceStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct ServiceSpec: Codable, Hashable, Sendable {
    /// `ClusterIP` (the default), `NodePort`, `LoadBalancer` or `ExternalName`.
    public var type: String?
    public var selector: [String: String]?
    public var ports: [ServicePort]?
    /// `"None"` for a headless Service.
    public var clusterIP: String?
    public var clusterIPs: [String]?
    public var ipFamilies: [String]?
    public var ipFamilyPolicy: String?
    public var externalIPs: [String]?
    public var externalName: String?
    public var loadBalancerIP: String?
    public var loadBalancerSourceRanges: [String]?
    /// `Cluster` (the default) or `Local`.
    public var externalTrafficPolicy: String?
    /// `Cluster` (the default) or `Local`.
    public var internalTrafficPolicy: String?
    public var healthCheckNodePort: Int32?
    /// `None` (the default) or `ClientIP`.
    public var sessionAffinity: String?
    public var sessionAffinityConfig: SessionAffinityConfig?
    public var publishNotReadyAddresses: Bool?
    public var allocateLoadBalancerNodePorts: Bool?

    public init(type: String? = nil, selector: [String: String]? = nil, ports: [ServicePort]? = nil, clusterIP: String? = nil) {
        self.type = type
        self.selector = selector
        self.ports = ports
        self.clusterIP = clusterIP
        self.clusterIPs = clusterIP.map { [$0] }
    }
}

public struct ServicePort: Codable, Hashable, Sendable {
    public var name: String?
    /// `TCP` (the default), `UDP` or `SCTP`.
    public var `protocol`: String?
    public var appProtocol: String?
    public var port: Int32
    public var targetPort: IntOrString?
    public var nodePort: Int32?

    public init(name: String? = nil, protocol proto: String? = "TCP", port: Int32, targetPort: IntOrString? = nil, nodePort: Int32? = nil) {
        self.name = name
        self.protocol = proto
        self.port = port
        self.targetPort = targetPort
        self.nodePort = nodePort
    }
}

public struct SessionAffinityConfig: Codable, Hashable, Sendable {
    public var clientIP: ClientIPConfig?
    public init(clientIP: ClientIPConfig? = nil) { self.clientIP = clientIP }
}

public struct ClientIPConfig: Codable, Hashable, Sendable {
    /// Defaults to 10800 (3 hours).
    public var timeoutSeconds: Int32?
    public init(timeoutSeconds: Int32? = nil) { self.timeoutSeconds = timeoutSeconds }
}

public struct ServiceStatus: Codable, Hashable, Sendable {
    public var loadBalancer: LoadBalancerStatus?
    public init(loadBalancer: LoadBalancerStatus? = nil) { self.loadBalancer = loadBalancer }
}

public struct LoadBalancerStatus: Codable, Hashable, Sendable {
    public var ingress: [LoadBalancerIngress]?
    public init(ingress: [LoadBalancerIngress]? = nil) { self.ingress = ingress }
}

public struct LoadBalancerIngress: Codable, Hashable, Sendable {
    public var ip: String?
    public var hostname: String?
    /// `VIP` (the default) or `Proxy`.
    public var ipMode: String?
    public init(ip: String? = nil, hostname: String? = nil) {
        self.ip = ip
        self.hostname = hostname
    }
}

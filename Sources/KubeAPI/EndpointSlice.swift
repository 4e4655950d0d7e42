/// discovery.k8s.io/v1 EndpointSlice. The Service it belongs to is named by the
/// `kubernetes.io/service-name` label.
public struct EndpointSlice: KubeObject, Hashable {
    public static let apiVersion = "discovery.k8s.io/v1"
    public static let kind = "EndpointSlice"
    /// The label naming the owning Service.
    public static let serviceNameLabel = "kubernetes.io/service-name"
    public var apiVersion: String? = EndpointSlice.apiVersion
    public var kind: String? = EndpointSlice.kind
    public var metadata: ObjectMeta
    /// `IPv4`, `IPv6` or `FQDN`.
    public var addressType: String
    public var endpoints: [Endpoint]
    public var ports: [EndpointPort]?

    public init(metadata: ObjectMeta, addressType: String = "IPv4", endpoints: [Endpoint], ports: [EndpointPort]? = nil) {
        self.metadata = metadata
        self.addressType = addressType
        self.endpoints = endpoints
        self.ports = ports
    }

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, addressType, endpoints, ports }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try c.decodeIfPresent(String.self, forKey: .kind)
        metadata = try c.decode(ObjectMeta.self, forKey: .metadata)
        addressType = try c.decode(String.self, forKey: .addressType)
        // `endpoints` is required but serialized as null when empty by some clients.
        endpoints = try c.decodeIfPresent([Endpoint].self, forKey: .endpoints) ?? []
        ports = try c.decodeIfPresent([EndpointPort].self, forKey: .ports)
    }

    /// The name of the Service this slice belongs to, from its label.
    public var serviceName: String? { metadata.labels?[Self.serviceNameLabel] }
}

public struct Endpoint: Codable, Hashable, Sendable {
    public var addresses: [String]
    public var conditions: EndpointConditions?
    public var hostname: String?
    public var targetRef: ObjectReference?
    public var nodeName: String?
    public var zone: String?
    public var hints: EndpointHints?

    public init(addresses: [String], conditions: EndpointConditions? = nil, nodeName: String? = nil, targetRef: ObjectReference? = nil) {
        self.addresses = addresses
        self.conditions = conditions
        self.nodeName = nodeName
        self.targetRef = targetRef
    }
}

/// Endpoint conditions. Per the API, a nil `ready` means ready, a nil `serving` takes the value
/// of `ready`, and a nil `terminating` means not terminating.
public struct EndpointConditions: Codable, Hashable, Sendable {
    public var ready: Bool?
    public var serving: Bool?
    public var terminating: Bool?

    public init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
        self.ready = ready
        self.serving = serving
        self.terminating = terminating
    }

    public var isReady: Bool { ready ?? true }
    public var isServing: Bool { serving ?? isReady }
    public var isTerminating: Bool { terminating ?? false }
}

public struct EndpointHints: Codable, Hashable, Sendable {
    public var forZones: [ForZone]?
    public struct ForZone: Codable, Hashable, Sendable {
        public var name: String
    }
}

public struct EndpointPort: Codable, Hashable, Sendable {
    public var name: String?
    public var `protocol`: String?
    public var port: Int32?
    public var appProtocol: String?

    public init(name: String? = nil, protocol proto: String? = "TCP", port: Int32? = nil) {
        self.name = name
        self.protocol = proto
        self.port = port
    }
}

/// core/v1 ObjectReference.
public struct ObjectReference: Codable, Hashable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var namespace: String?
    public var name: String?
    public var uid: String?
    public var resourceVersion: String?
    public var fieldPath: String?

    public init(kind: String? = nil, namespace: String? = nil, name: String? = nil, uid: String? = nil) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }
}

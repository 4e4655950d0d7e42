/// core/v1 Node.
public struct Node: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "Node"
    public var apiVersion: String? = Node.apiVersion
    public var kind: String? = Node.kind
    public var metadata: ObjectMeta
    public var spec: NodeSpec?
    public var status: NodeStatus?

    public init(metadata: ObjectMeta, spec: NodeSpec? = nil, status: NodeStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct NodeSpec: Codable, Hashable, Sendable {
    public var podCIDR: String?
    public var podCIDRs: [String]?
    public var unschedulable: Bool?
    public var taints: [Taint]?
    public var providerID: String?
    public init(podCIDR: String? = nil, unschedulable: Bool? = nil, taints: [Taint]? = nil) {
        self.podCIDR = podCIDR
        self.podCIDRs = podCIDR.map { [$0] }
        self.unschedulable = unschedulable
        self.taints = taints
    }
}

public struct Taint: Codable, Hashable, Sendable {
    public var key: String
    public var value: String?
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    public var effect: String
    public var timeAdded: String?
    public init(key: String, value: String? = nil, effect: String) {
        self.key = key
        self.value = value
        self.effect = effect
    }
}

public struct NodeStatus: Codable, Hashable, Sendable {
    public var capacity: ResourceList?
    public var allocatable: ResourceList?
    public var conditions: [NodeCondition]?
    public var addresses: [NodeAddress]?
    public var daemonEndpoints: NodeDaemonEndpoints?
    public var nodeInfo: NodeSystemInfo?
    public var images: [ContainerImage]?
    public init(capacity: ResourceList? = nil, allocatable: ResourceList? = nil, conditions: [NodeCondition]? = nil, images: [ContainerImage]? = nil) {
        self.capacity = capacity
        self.allocatable = allocatable
        self.conditions = conditions
        self.images = images
    }
}

public struct NodeCondition: Codable, Hashable, Sendable {
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`.
    public var type: String
    public var status: String
    public var lastHeartbeatTime: String?
    public var lastTransitionTime: String?
    public var reason: String?
    public var message: String?
    public init(type: String, status: String, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }
}

public struct NodeAddress: Codable, Hashable, Sendable {
    /// `InternalIP`, `ExternalIP`, `Hostname`.
    public var type: String
    public var address: String
    public init(type: String, address: String) {
        self.type = type
        self.address = address
    }
}

public struct NodeDaemonEndpoints: Codable, Hashable, Sendable {
    public var kubeletEndpoint: DaemonEndpoint?
    public struct DaemonEndpoint: Codable, Hashable, Sendable {
        public var Port: Int32
        public init(port: Int32) { self.Port = port }
    }
    public init(kubeletPort: Int32) { kubeletEndpoint = DaemonEndpoint(port: kubeletPort) }
}

public struct NodeSystemInfo: Codable, Hashable, Sendable {
    public var machineID: String
    public var systemUUID: String
    public var bootID: String
    public var kernelVersion: String
    public var osImage: String
    public var containerRuntimeVersion: String
    public var kubeletVersion: String
    public var kubeProxyVersion: String
    public var operatingSystem: String
    public var architecture: String
}

public struct ContainerImage: Codable, Hashable, Sendable {
    public var names: [String]?
    public var sizeBytes: Int64?
    public init(names: [String]?, sizeBytes: Int64?) {
        self.names = names
        self.sizeBytes = sizeBytes
    }
}

import Foundation

/// metav1.Condition: the standard condition shape of newer APIs (PodDisruptionBudget, ...).
public struct Condition: Codable, Hashable, Sendable {
    public var type: String
    public var status: String
    public var observedGeneration: Int64?
    public var lastTransitionTime: String?
    public var reason: String?
    public var message: String?

    public init(type: String, status: String, observedGeneration: Int64? = nil, lastTransitionTime: String? = nil, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

// MARK: Namespace

/// core/v1 Namespace.
public struct Namespace: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "Namespace"
    public var apiVersion: String? = Namespace.apiVersion
    public var kind: String? = Namespace.kind
    public var metadata: ObjectMeta
    public var spec: NamespaceSpec?
    public var status: NamespaceStatus?

    public init(metadata: ObjectMeta, spec: NamespaceSpec? = nil, status: NamespaceStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct NamespaceSpec: Codable, Hashable, Sendable {
    /// Upstream's namespace controller removes `kubernetes` once the namespace is empty.
    public var finalizers: [String]?
    public init(finalizers: [String]? = nil) { self.finalizers = finalizers }
}

public struct NamespaceStatus: Codable, Hashable, Sendable {
    /// `Active` or `Terminating`.
    public var phase: String?
    public var conditions: [NamespaceCondition]?

    public init(phase: String? = nil, conditions: [NamespaceCondition]? = nil) {
        self.phase = phase
        self.conditions = conditions
    }
}

public struct NamespaceCondition: Codable, Hashable, Sendable {
    /// `NamespaceDeletionDiscoveryFailure`, `NamespaceDeletionContentFailure`,
    /// `NamespaceContentRemaining`, `NamespaceFinalizersRemaining`, ...
    public var type: String
    public var status: String
    public var lastTransitionTime: String?
    public var reason: String?
    public var message: String?

    public init(type: String, status: String, lastTransitionTime: String? = nil, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

// MARK: ConfigMap and Secret

/// core/v1 ConfigMap.
public struct ConfigMap: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "ConfigMap"
    public var apiVersion: String? = ConfigMap.apiVersion
    public var kind: String? = ConfigMap.kind
    public var metadata: ObjectMeta
    /// UTF-8 values.
    public var data: [String: String]?
    /// Base64-encoded values (as on the wire); keys must not repeat those of `data`.
    public var binaryData: [String: String]?
    public var immutable: Bool?

    public init(metadata: ObjectMeta, data: [String: String]? = nil, binaryData: [String: String]? = nil, immutable: Bool? = nil) {
        self.metadata = metadata
        self.data = data
        self.binaryData = binaryData
        self.immutable = immutable
    }

    /// The bytes of `key` from `data` or `binaryData`; nil when the key is absent or its
    /// binaryData value is not valid base64.
    public func bytes(forKey key: String) -> [UInt8]? {
        if let s = data?[key] { return Array(s.utf8) }
        if let b = binaryData?[key], let d = Data(base64Encoded: b) { return Array(d) }
        return nil
    }
}

/// core/v1 Secret. `data` values are base64 on the wire and stay so here; `stringData` is
/// write-only (the API server merges it into `data` and never returns it).
public struct Secret: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "Secret"
    public var apiVersion: String? = Secret.apiVersion
    public var kind: String? = Secret.kind
    public var metadata: ObjectMeta
    public var data: [String: String]?
    public var stringData: [String: String]?
    /// `Opaque` (the default), `kubernetes.io/service-account-token`, `kubernetes.io/tls`, ...
    public var type: String?
    public var immutable: Bool?

    public init(metadata: ObjectMeta, data: [String: String]? = nil, stringData: [String: String]? = nil, type: String? = nil, immutable: Bool? = nil) {
        self.metadata = metadata
        self.data = data
        self.stringData = stringData
        self.type = type
        self.immutable = immutable
    }

    /// Builds a Secret whose `data` holds `values` base64-encoded.
    public init(metadata: ObjectMeta, bytes values: [String: [UInt8]], type: String? = nil) {
        self.init(metadata: metadata, data: values.mapValues { Data($0).base64EncodedString() }, type: type)
    }

    /// The decoded bytes of `key`: `stringData` first (not yet merged by a server), then
    /// `data`. Nil when the key is absent or its value is not valid base64.
    public func bytes(forKey key: String) -> [UInt8]? {
        if let s = stringData?[key] { return Array(s.utf8) }
        if let b = data?[key], let d = Data(base64Encoded: b) { return Array(d) }
        return nil
    }
}

// MARK: ServiceAccount

/// core/v1 ServiceAccount.
public struct ServiceAccount: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "ServiceAccount"
    public var apiVersion: String? = ServiceAccount.apiVersion
    public var kind: String? = ServiceAccount.kind
    public var metadata: ObjectMeta
    public var secrets: [ObjectReference]?
    public var imagePullSecrets: [LocalObjectReference]?
    public var automountServiceAccountToken: Bool?

    public init(metadata: ObjectMeta, secrets: [ObjectReference]? = nil, imagePullSecrets: [LocalObjectReference]? = nil, automountServiceAccountToken: Bool? = nil) {
        self.metadata = metadata
        self.secrets = secrets
        self.imagePullSecrets = imagePullSecrets
        self.automountServiceAccountToken = automountServiceAccountToken
    }
}

// MARK: Event

/// core/v1 Event (the form `kubectl describe` and `kubectl get events` read).
public struct Event: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "Event"
    public var apiVersion: String? = Event.apiVersion
    public var kind: String? = Event.kind
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference
    public var reason: String?
    public var message: String?
    public var source: EventSource?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var count: Int32?
    /// `Normal` or `Warning`.
    public var type: String?
    /// metav1.MicroTime.
    public var eventTime: String?
    public var series: EventSeries?
    public var action: String?
    public var related: ObjectReference?
    public var reportingComponent: String?
    public var reportingInstance: String?

    public init(metadata: ObjectMeta, involvedObject: ObjectReference, reason: String? = nil, message: String? = nil, type: String? = nil,
                source: EventSource? = nil, firstTimestamp: String? = nil, lastTimestamp: String? = nil, count: Int32? = nil) {
        self.metadata = metadata
        self.involvedObject = involvedObject
        self.reason = reason
        self.message = message
        self.type = type
        self.source = source
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
        self.count = count
    }
}

public struct EventSource: Codable, Hashable, Sendable {
    public var component: String?
    public var host: String?

    public init(component: String? = nil, host: String? = nil) {
        self.component = component
        self.host = host
    }
}

public struct EventSeries: Codable, Hashable, Sendable {
    public var count: Int32?
    public var lastObservedTime: String?

    public init(count: Int32? = nil, lastObservedTime: String? = nil) {
        self.count = count
        self.lastObservedTime = lastObservedTime
    }
}

// MARK: Endpoints

/// core/v1 Endpoints: the legacy per-Service endpoint list, mirrored from EndpointSlices.
public struct Endpoints: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "Endpoints"
    public var apiVersion: String? = Endpoints.apiVersion
    public var kind: String? = Endpoints.kind
    public var metadata: ObjectMeta
    public var subsets: [EndpointSubset]?

    public init(metadata: ObjectMeta, subsets: [EndpointSubset]? = nil) {
        self.metadata = metadata
        self.subsets = subsets
    }
}

/// A set of addresses that all expose the same ports. Ports reuse `EndpointPort`, whose JSON
/// names (`name`, `port`, `protocol`, `appProtocol`) are core/v1's as well.
public struct EndpointSubset: Codable, Hashable, Sendable {
    public var addresses: [EndpointAddress]?
    public var notReadyAddresses: [EndpointAddress]?
    public var ports: [EndpointPort]?

    public init(addresses: [EndpointAddress]? = nil, notReadyAddresses: [EndpointAddress]? = nil, ports: [EndpointPort]? = nil) {
        self.addresses = addresses
        self.notReadyAddresses = notReadyAddresses
        self.ports = ports
    }
}

public struct EndpointAddress: Codable, Hashable, Sendable {
    public var ip: String
    public var hostname: String?
    public var nodeName: String?
    public var targetRef: ObjectReference?

    public init(ip: String, hostname: String? = nil, nodeName: String? = nil, targetRef: ObjectReference? = nil) {
        self.ip = ip
        self.hostname = hostname
        self.nodeName = nodeName
        self.targetRef = targetRef
    }
}

// MARK: Binding, Eviction, DeleteOptions

/// core/v1 Binding: POSTed to `pods/{name}/binding` to assign a pod to a node.
public struct Binding: KubeObject, Hashable {
    public static let apiVersion = "v1"
    public static let kind = "Binding"
    public var apiVersion: String? = Binding.apiVersion
    public var kind: String? = Binding.kind
    /// Name and namespace are the pod's.
    public var metadata: ObjectMeta
    /// The node: `kind: Node`, `name: <node>`.
    public var target: ObjectReference

    public init(metadata: ObjectMeta, target: ObjectReference) {
        self.metadata = metadata
        self.target = target
    }

    /// The binding of pod `namespace/name` to `node`.
    public init(podNamespace: String, podName: String, node: String, podUID: String? = nil) {
        var meta = ObjectMeta(name: podName, namespace: podNamespace)
        meta.uid = podUID
        self.init(metadata: meta, target: ObjectReference(kind: "Node", name: node))
        target.apiVersion = "v1"
    }
}

/// policy/v1 Eviction: POSTed to `pods/{name}/eviction`; the API server refuses it with 429
/// when a PodDisruptionBudget does not allow the disruption.
public struct Eviction: KubeObject, Hashable {
    public static let apiVersion = "policy/v1"
    public static let kind = "Eviction"
    public var apiVersion: String? = Eviction.apiVersion
    public var kind: String? = Eviction.kind
    /// Name and namespace are the pod's.
    public var metadata: ObjectMeta
    public var deleteOptions: DeleteOptions?

    public init(metadata: ObjectMeta, deleteOptions: DeleteOptions? = nil) {
        self.metadata = metadata
        self.deleteOptions = deleteOptions
    }
}

/// metav1.DeleteOptions: the body of a DELETE.
public struct DeleteOptions: Codable, Hashable, Sendable {
    public var apiVersion: String? = "v1"
    public var kind: String? = "DeleteOptions"
    /// Seconds before the object is deleted; 0 deletes at once; nil uses the object's default.
    public var gracePeriodSeconds: Int64?
    public var preconditions: Preconditions?
    /// Deprecated in favour of `propagationPolicy`.
    public var orphanDependents: Bool?
    /// `Orphan`, `Background` or `Foreground`.
    public var propagationPolicy: String?
    /// `["All"]` for a dry run.
    public var dryRun: [String]?
    public var ignoreStoreReadErrorWithClusterBreakingPotential: Bool?

    public init(gracePeriodSeconds: Int64? = nil, preconditions: Preconditions? = nil, propagationPolicy: String? = nil, dryRun: [String]? = nil) {
        self.gracePeriodSeconds = gracePeriodSeconds
        self.preconditions = preconditions
        self.propagationPolicy = propagationPolicy
        self.dryRun = dryRun
    }
}

/// metav1.Preconditions: a delete fails with 409 Conflict unless these still hold.
public struct Preconditions: Codable, Hashable, Sendable {
    public var uid: String?
    public var resourceVersion: String?

    public init(uid: String? = nil, resourceVersion: String? = nil) {
        self.uid = uid
        self.resourceVersion = resourceVersion
    }
}

/// core/v1 PodTemplateSpec: the pod a workload controller stamps out.
public struct PodTemplateSpec: Codable, Hashable, Sendable {
    public var metadata: ObjectMeta?
    public var spec: PodSpec?

    public init(metadata: ObjectMeta? = nil, spec: PodSpec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }
}

// MARK: Deployment

/// apps/v1 Deployment.
public struct Deployment: KubeObject, Hashable {
    public static let apiVersion = "apps/v1"
    public static let kind = "Deployment"
    public var apiVersion: String? = Deployment.apiVersion
    public var kind: String? = Deployment.kind
    public var metadata: ObjectMeta
    public var spec: DeploymentSpec?
    public var status: DeploymentStatus?

    public init(metadata: ObjectMeta, spec: DeploymentSpec? = nil, status: DeploymentStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct DeploymentSpec: Codable, Hashable, Sendable {
    /// Desired pods; the API server defaults it to 1.
    public var replicas: Int32?
    public var selector: LabelSelector
    public var template: PodTemplateSpec
    public var strategy: DeploymentStrategy?
    public var minReadySeconds: Int32?
    /// Old ReplicaSets kept for rollback; the API server defaults it to 10.
    public var revisionHistoryLimit: Int32?
    public var paused: Bool?
    /// Seconds without progress before the Progressing condition turns False; default 600.
    public var progressDeadlineSeconds: Int32?

    public init(replicas: Int32? = nil, selector: LabelSelector, template: PodTemplateSpec, strategy: DeploymentStrategy? = nil,
                minReadySeconds: Int32? = nil, revisionHistoryLimit: Int32? = nil, paused: Bool? = nil, progressDeadlineSeconds: Int32? = nil) {
        self.replicas = replicas
        self.selector = selector
        self.template = template
        self.strategy = strategy
        self.minReadySeconds = minReadySeconds
        self.revisionHistoryLimit = revisionHistoryLimit
        self.paused = paused
        self.progressDeadlineSeconds = progressDeadlineSeconds
    }
}

public struct DeploymentStrategy: Codable, Hashable, Sendable {
    /// `RollingUpdate` (the default) or `Recreate`.
    public var type: String?
    public var rollingUpdate: RollingUpdateDeployment?

    public init(type: String? = nil, rollingUpdate: RollingUpdateDeployment? = nil) {
        self.type = type
        self.rollingUpdate = rollingUpdate
    }
}

/// Both fields default to `25%` upstream; a percentage rounds down for maxUnavailable and up
/// for maxSurge.
public struct RollingUpdateDeployment: Codable, Hashable, Sendable {
    public var maxUnavailable: IntOrString?
    public var maxSurge: IntOrString?

    public init(maxUnavailable: IntOrString? = nil, maxSurge: IntOrString? = nil) {
        self.maxUnavailable = maxUnavailable
        self.maxSurge = maxSurge
    }
}

/// The fields `kubectl rollout status` reads: observedGeneration, replicas, updatedReplicas,
/// availableReplicas and the Progressing condition.
public struct DeploymentStatus: Codable, Hashable, Sendable {
    public var observedGeneration: Int64?
    public var replicas: Int32?
    public var updatedReplicas: Int32?
    public var readyReplicas: Int32?
    public var availableReplicas: Int32?
    public var unavailableReplicas: Int32?
    public var terminatingReplicas: Int32?
    public var conditions: [DeploymentCondition]?
    public var collisionCount: Int32?

    public init(observedGeneration: Int64? = nil, replicas: Int32? = nil, updatedReplicas: Int32? = nil, readyReplicas: Int32? = nil,
                availableReplicas: Int32? = nil, unavailableReplicas: Int32? = nil, conditions: [DeploymentCondition]? = nil) {
        self.observedGeneration = observedGeneration
        self.replicas = replicas
        self.updatedReplicas = updatedReplicas
        self.readyReplicas = readyReplicas
        self.availableReplicas = availableReplicas
        self.unavailableReplicas = unavailableReplicas
        self.conditions = conditions
    }
}

public struct DeploymentCondition: Codable, Hashable, Sendable {
    /// `Available`, `Progressing` or `ReplicaFailure`.
    public var type: String
    public var status: String
    public var lastUpdateTime: String?
    public var lastTransitionTime: String?
    public var reason: String?
    public var message: String?

    public init(type: String, status: String, lastUpdateTime: String? = nil, lastTransitionTime: String? = nil, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.lastUpdateTime = lastUpdateTime
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

// MARK: ReplicaSet

/// apps/v1 ReplicaSet.
public struct ReplicaSet: KubeObject, Hashable {
    public static let apiVersion = "apps/v1"
    public static let kind = "ReplicaSet"
    public var apiVersion: String? = ReplicaSet.apiVersion
    public var kind: String? = ReplicaSet.kind
    public var metadata: ObjectMeta
    public var spec: ReplicaSetSpec?
    public var status: ReplicaSetStatus?

    public init(metadata: ObjectMeta, spec: ReplicaSetSpec? = nil, status: ReplicaSetStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct ReplicaSetSpec: Codable, Hashable, Sendable {
    /// Desired pods; the API server defaults it to 1.
    public var replicas: Int32?
    public var minReadySeconds: Int32?
    public var selector: LabelSelector
    public var template: PodTemplateSpec?

    public init(replicas: Int32? = nil, minReadySeconds: Int32? = nil, selector: LabelSelector, template: PodTemplateSpec? = nil) {
        self.replicas = replicas
        self.minReadySeconds = minReadySeconds
        self.selector = selector
        self.template = template
    }
}

public struct ReplicaSetStatus: Codable, Hashable, Sendable {
    public var replicas: Int32?
    public var fullyLabeledReplicas: Int32?
    public var readyReplicas: Int32?
    public var availableReplicas: Int32?
    public var terminatingReplicas: Int32?
    public var observedGeneration: Int64?
    public var conditions: [ReplicaSetCondition]?

    public init(replicas: Int32? = nil, fullyLabeledReplicas: Int32? = nil, readyReplicas: Int32? = nil, availableReplicas: Int32? = nil,
                observedGeneration: Int64? = nil, conditions: [ReplicaSetCondition]? = nil) {
        self.replicas = replicas
        self.fullyLabeledReplicas = fullyLabeledReplicas
        self.readyReplicas = readyReplicas
        self.availableReplicas = availableReplicas
        self.observedGeneration = observedGeneration
        self.conditions = conditions
    }
}

public struct ReplicaSetCondition: Codable, Hashable, Sendable {
    /// `ReplicaFailure`.
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

// MARK: DaemonSet

/// apps/v1 DaemonSet.
public struct DaemonSet: KubeObject, Hashable {
    public static let apiVersion = "apps/v1"
    public static let kind = "DaemonSet"
    public var apiVersion: String? = DaemonSet.apiVersion
    public var kind: String? = DaemonSet.kind
    public var metadata: ObjectMeta
    public var spec: DaemonSetSpec?
    public var status: DaemonSetStatus?

    public init(metadata: ObjectMeta, spec: DaemonSetSpec? = nil, status: DaemonSetStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct DaemonSetSpec: Codable, Hashable, Sendable {
    public var selector: LabelSelector
    public var template: PodTemplateSpec
    public var updateStrategy: DaemonSetUpdateStrategy?
    public var minReadySeconds: Int32?
    public var revisionHistoryLimit: Int32?

    public init(selector: LabelSelector, template: PodTemplateSpec, updateStrategy: DaemonSetUpdateStrategy? = nil,
                minReadySeconds: Int32? = nil, revisionHistoryLimit: Int32? = nil) {
        self.selector = selector
        self.template = template
        self.updateStrategy = updateStrategy
        self.minReadySeconds = minReadySeconds
        self.revisionHistoryLimit = revisionHistoryLimit
    }
}

public struct DaemonSetUpdateStrategy: Codable, Hashable, Sendable {
    /// `RollingUpdate` (the default) or `OnDelete`.
    public var type: String?
    public var rollingUpdate: RollingUpdateDaemonSet?

    public init(type: String? = nil, rollingUpdate: RollingUpdateDaemonSet? = nil) {
        self.type = type
        self.rollingUpdate = rollingUpdate
    }
}

/// maxUnavailable defaults to 1 and maxSurge to 0 upstream.
public struct RollingUpdateDaemonSet: Codable, Hashable, Sendable {
    public var maxUnavailable: IntOrString?
    public var maxSurge: IntOrString?

    public init(maxUnavailable: IntOrString? = nil, maxSurge: IntOrString? = nil) {
        self.maxUnavailable = maxUnavailable
        self.maxSurge = maxSurge
    }
}

public struct DaemonSetStatus: Codable, Hashable, Sendable {
    public var currentNumberScheduled: Int32?
    public var numberMisscheduled: Int32?
    public var desiredNumberScheduled: Int32?
    public var numberReady: Int32?
    public var observedGeneration: Int64?
    public var updatedNumberScheduled: Int32?
    public var numberAvailable: Int32?
    public var numberUnavailable: Int32?
    public var collisionCount: Int32?
    public var conditions: [DaemonSetCondition]?

    public init(currentNumberScheduled: Int32? = nil, numberMisscheduled: Int32? = nil, desiredNumberScheduled: Int32? = nil, numberReady: Int32? = nil,
                observedGeneration: Int64? = nil, updatedNumberScheduled: Int32? = nil, numberAvailable: Int32? = nil, numberUnavailable: Int32? = nil) {
        self.currentNumberScheduled = currentNumberScheduled
        self.numberMisscheduled = numberMisscheduled
        self.desiredNumberScheduled = desiredNumberScheduled
        self.numberReady = numberReady
        self.observedGeneration = observedGeneration
        self.updatedNumberScheduled = updatedNumberScheduled
        self.numberAvailable = numberAvailable
        self.numberUnavailable = numberUnavailable
    }
}

public struct DaemonSetCondition: Codable, Hashable, Sendable {
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

// MARK: StatefulSet

/// apps/v1 StatefulSet.
public struct StatefulSet: KubeObject, Hashable {
    public static let apiVersion = "apps/v1"
    public static let kind = "StatefulSet"
    public var apiVersion: String? = StatefulSet.apiVersion
    public var kind: String? = StatefulSet.kind
    public var metadata: ObjectMeta
    public var spec: StatefulSetSpec?
    public var status: StatefulSetStatus?

    public init(metadata: ObjectMeta, spec: StatefulSetSpec? = nil, status: StatefulSetStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct StatefulSetSpec: Codable, Hashable, Sendable {
    /// Desired pods; the API server defaults it to 1.
    public var replicas: Int32?
    public var selector: LabelSelector
    public var template: PodTemplateSpec
    /// PersistentVolumeClaim templates, kept as raw JSON: Nodekit has no PVC type, and a typed
    /// subset would drop fields on a round trip.
    public var volumeClaimTemplates: [JSONValue]?
    public var serviceName: String?
    /// `OrderedReady` (the default) or `Parallel`.
    public var podManagementPolicy: String?
    public var updateStrategy: StatefulSetUpdateStrategy?
    public var revisionHistoryLimit: Int32?
    public var minReadySeconds: Int32?
    public var persistentVolumeClaimRetentionPolicy: StatefulSetPersistentVolumeClaimRetentionPolicy?
    public var ordinals: StatefulSetOrdinals?

    public init(replicas: Int32? = nil, selector: LabelSelector, template: PodTemplateSpec, serviceName: String? = nil,
                podManagementPolicy: String? = nil, updateStrategy: StatefulSetUpdateStrategy? = nil, revisionHistoryLimit: Int32? = nil,
                minReadySeconds: Int32? = nil) {
        self.replicas = replicas
        self.selector = selector
        self.template = template
        self.serviceName = serviceName
        self.podManagementPolicy = podManagementPolicy
        self.updateStrategy = updateStrategy
        self.revisionHistoryLimit = revisionHistoryLimit
        self.minReadySeconds = minReadySeconds
    }
}

public struct StatefulSetUpdateStrategy: Codable, Hashable, Sendable {
    /// `RollingUpdate` (the default) or `OnDelete`.
    public var type: String?
    public var rollingUpdate: RollingUpdateStatefulSetStrategy?

    public init(type: String? = nil, rollingUpdate: RollingUpdateStatefulSetStrategy? = nil) {
        self.type = type
        self.rollingUpdate = rollingUpdate
    }
}

public struct RollingUpdateStatefulSetStrategy: Codable, Hashable, Sendable {
    /// Ordinals at or above the partition are updated; default 0.
    public var partition: Int32?
    public var maxUnavailable: IntOrString?

    public init(partition: Int32? = nil, maxUnavailable: IntOrString? = nil) {
        self.partition = partition
        self.maxUnavailable = maxUnavailable
    }
}

public struct StatefulSetPersistentVolumeClaimRetentionPolicy: Codable, Hashable, Sendable {
    /// `Retain` (the default) or `Delete`.
    public var whenDeleted: String?
    public var whenScaled: String?

    public init(whenDeleted: String? = nil, whenScaled: String? = nil) {
        self.whenDeleted = whenDeleted
        self.whenScaled = whenScaled
    }
}

public struct StatefulSetOrdinals: Codable, Hashable, Sendable {
    public var start: Int32?
    public init(start: Int32? = nil) { self.start = start }
}

public struct StatefulSetStatus: Codable, Hashable, Sendable {
    public var observedGeneration: Int64?
    public var replicas: Int32?
    public var readyReplicas: Int32?
    public var currentReplicas: Int32?
    public var updatedReplicas: Int32?
    public var currentRevision: String?
    public var updateRevision: String?
    public var collisionCount: Int32?
    public var conditions: [StatefulSetCondition]?
    public var availableReplicas: Int32?

    public init(observedGeneration: Int64? = nil, replicas: Int32? = nil, readyReplicas: Int32? = nil, currentReplicas: Int32? = nil,
                updatedReplicas: Int32? = nil, currentRevision: String? = nil, updateRevision: String? = nil, availableReplicas: Int32? = nil) {
        self.observedGeneration = observedGeneration
        self.replicas = replicas
        self.readyReplicas = readyReplicas
        self.currentReplicas = currentReplicas
        self.updatedReplicas = updatedReplicas
        self.currentRevision = currentRevision
        self.updateRevision = updateRevision
        self.availableReplicas = availableReplicas
    }
}

public struct StatefulSetCondition: Codable, Hashable, Sendable {
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

// MARK: ControllerRevision

/// apps/v1 ControllerRevision: an immutable snapshot of a DaemonSet's or StatefulSet's
/// template, numbered by `revision`, that rollbacks and history read.
public struct ControllerRevision: KubeObject, Hashable {
    public static let apiVersion = "apps/v1"
    public static let kind = "ControllerRevision"
    public var apiVersion: String? = ControllerRevision.apiVersion
    public var kind: String? = ControllerRevision.kind
    public var metadata: ObjectMeta
    /// The serialized state (upstream stores a strategic-merge patch of the template).
    public var data: JSONValue?
    public var revision: Int64

    public init(metadata: ObjectMeta, data: JSONValue? = nil, revision: Int64) {
        self.metadata = metadata
        self.data = data
        self.revision = revision
    }
}

/// batch/v1 Job.
public struct Job: KubeObject, Hashable {
    public static let apiVersion = "batch/v1"
    public static let kind = "Job"
    public var apiVersion: String? = Job.apiVersion
    public var kind: String? = Job.kind
    public var metadata: ObjectMeta
    public var spec: JobSpec?
    public var status: JobStatus?

    public init(metadata: ObjectMeta, spec: JobSpec? = nil, status: JobStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct JobSpec: Codable, Hashable, Sendable {
    /// Pods running at once; default 1.
    public var parallelism: Int32?
    /// Successful pods needed; nil means any one success completes a non-indexed Job.
    public var completions: Int32?
    public var activeDeadlineSeconds: Int64?
    /// Kept as raw JSON: the controller does not interpret pod failure rules yet.
    public var podFailurePolicy: JSONValue?
    public var successPolicy: JSONValue?
    /// Retries before the Job is marked Failed; default 6.
    public var backoffLimit: Int32?
    public var backoffLimitPerIndex: Int32?
    public var maxFailedIndexes: Int32?
    /// Set by the API server from the template labels (`batch.kubernetes.io/controller-uid`)
    /// unless `manualSelector` is true.
    public var selector: LabelSelector?
    public var manualSelector: Bool?
    public var template: PodTemplateSpec
    public var ttlSecondsAfterFinished: Int32?
    /// `NonIndexed` (the default) or `Indexed`.
    public var completionMode: String?
    public var suspend: Bool?
    /// `TerminatingOrFailed` or `Failed`.
    public var podReplacementPolicy: String?
    public var managedBy: String?

    public init(parallelism: Int32? = nil, completions: Int32? = nil, backoffLimit: Int32? = nil, activeDeadlineSeconds: Int64? = nil,
                selector: LabelSelector? = nil, template: PodTemplateSpec, ttlSecondsAfterFinished: Int32? = nil,
                completionMode: String? = nil, suspend: Bool? = nil) {
        self.parallelism = parallelism
        self.completions = completions
        self.backoffLimit = backoffLimit
        self.activeDeadlineSeconds = activeDeadlineSeconds
        self.selector = selector
        self.template = template
        self.ttlSecondsAfterFinished = ttlSecondsAfterFinished
        self.completionMode = completionMode
        self.suspend = suspend
    }
}

public struct JobStatus: Codable, Hashable, Sendable {
    public var conditions: [JobCondition]?
    public var startTime: String?
    public var completionTime: String?
    public var active: Int32?
    public var succeeded: Int32?
    public var failed: Int32?
    public var terminating: Int32?
    /// Compressed ranges such as `"1,3-5,7"` (Indexed Jobs).
    public var completedIndexes: String?
    public var failedIndexes: String?
    public var uncountedTerminatedPods: UncountedTerminatedPods?
    public var ready: Int32?

    public init(conditions: [JobCondition]? = nil, startTime: String? = nil, completionTime: String? = nil,
                active: Int32? = nil, succeeded: Int32? = nil, failed: Int32? = nil, ready: Int32? = nil) {
        self.conditions = conditions
        self.startTime = startTime
        self.completionTime = completionTime
        self.active = active
        self.succeeded = succeeded
        self.failed = failed
        self.ready = ready
    }
}

public struct JobCondition: Codable, Hashable, Sendable {
    /// `Complete`, `Failed`, `Suspended`, `FailureTarget` or `SuccessCriteriaMet`.
    public var type: String
    public var status: String
    public var lastProbeTime: String?
    public var lastTransitionTime: String?
    public var reason: String?
    public var message: String?

    public init(type: String, status: String, lastProbeTime: String? = nil, lastTransitionTime: String? = nil, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.lastProbeTime = lastProbeTime
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

/// UIDs of finished pods whose result is not yet counted in the status (finalizer tracking).
public struct UncountedTerminatedPods: Codable, Hashable, Sendable {
    public var succeeded: [String]?
    public var failed: [String]?

    public init(succeeded: [String]? = nil, failed: [String]? = nil) {
        self.succeeded = succeeded
        self.failed = failed
    }
}

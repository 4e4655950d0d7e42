/// policy/v1 PodDisruptionBudget: how many selected pods voluntary disruptions (evictions)
/// may take down at once.
public struct PodDisruptionBudget: KubeObject, Hashable {
    public static let apiVersion = "policy/v1"
    public static let kind = "PodDisruptionBudget"
    public var apiVersion: String? = PodDisruptionBudget.apiVersion
    public var kind: String? = PodDisruptionBudget.kind
    public var metadata: ObjectMeta
    public var spec: PodDisruptionBudgetSpec?
    public var status: PodDisruptionBudgetStatus?

    public init(metadata: ObjectMeta, spec: PodDisruptionBudgetSpec? = nil, status: PodDisruptionBudgetStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// At most one of `minAvailable` and `maxUnavailable` is set (an int or a percentage).
public struct PodDisruptionBudgetSpec: Codable, Hashable, Sendable {
    public var minAvailable: IntOrString?
    public var maxUnavailable: IntOrString?
    public var selector: LabelSelector?
    /// `IfHealthyBudget` (the default) or `AlwaysAllow`.
    public var unhealthyPodEvictionPolicy: String?

    public init(minAvailable: IntOrString? = nil, maxUnavailable: IntOrString? = nil, selector: LabelSelector? = nil, unhealthyPodEvictionPolicy: String? = nil) {
        self.minAvailable = minAvailable
        self.maxUnavailable = maxUnavailable
        self.selector = selector
        self.unhealthyPodEvictionPolicy = unhealthyPodEvictionPolicy
    }
}

public struct PodDisruptionBudgetStatus: Codable, Hashable, Sendable {
    public var observedGeneration: Int64?
    /// Pod name → eviction time, for evictions the controller has not yet observed.
    public var disruptedPods: [String: String]?
    public var disruptionsAllowed: Int32?
    public var currentHealthy: Int32?
    public var desiredHealthy: Int32?
    public var expectedPods: Int32?
    /// `DisruptionAllowed`.
    public var conditions: [Condition]?

    public init(observedGeneration: Int64? = nil, disruptionsAllowed: Int32? = nil, currentHealthy: Int32? = nil, desiredHealthy: Int32? = nil,
                expectedPods: Int32? = nil, conditions: [Condition]? = nil) {
        self.observedGeneration = observedGeneration
        self.disruptionsAllowed = disruptionsAllowed
        self.currentHealthy = currentHealthy
        self.desiredHealthy = desiredHealthy
        self.expectedPods = expectedPods
        self.conditions = conditions
    }
}

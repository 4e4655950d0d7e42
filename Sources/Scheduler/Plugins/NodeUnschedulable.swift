import KubeAPI

/// Filters out nodes marked `spec.unschedulable`, unless the pod tolerates upstream's
/// `node.kubernetes.io/unschedulable:NoSchedule` taint.
public struct NodeUnschedulable: FilterPlugin {
    public let name = "NodeUnschedulable"
    public static let reason = "node(s) were unschedulable"
    static let taint = Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")
    public init() {}

    public func filter(_ state: CycleState, facts: NodeFacts) -> PluginStatus? { facts.isUnschedulable ? nil : .success }

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        guard node.isUnschedulable else { return .success }
        if (state.pod.spec.tolerations ?? []).contains(where: { TaintToleration.tolerates($0, Self.taint) }) { return .success }
        return .unresolvable(Self.reason)
    }
}

import KubeAPI

/// Filters out nodes with a `NoSchedule` or `NoExecute` taint the pod does not tolerate, and
/// scores nodes lower for each untolerated `PreferNoSchedule` taint.
public struct TaintToleration: FilterPlugin, ScorePlugin {
    public let name = "TaintToleration"
    public let weight: Int64 = 3
    public init() {}

    /// Whether a toleration matches a taint (upstream's `ToleratesTaint`).
    public static func tolerates(_ t: Toleration, _ taint: Taint) -> Bool {
        if let effect = t.effect, !effect.isEmpty, effect != taint.effect { return false }
        if let key = t.key, !key.isEmpty, key != taint.key { return false }
        switch t.operator ?? "Equal" {
        case "Exists": return true
        case "Equal", "": return (t.value ?? "") == (taint.value ?? "") && !(t.key ?? "").isEmpty
        default: return false
        }
    }

    public func filter(_ state: CycleState, facts: NodeFacts) -> PluginStatus? { facts.hasFilteringTaints ? nil : .success }

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        guard node.hasFilteringTaints else { return .success }
        let tolerations = state.pod.spec.tolerations ?? []
        for taint in node.taints where taint.effect == "NoSchedule" || taint.effect == "NoExecute" {
            if !tolerations.contains(where: { Self.tolerates($0, taint) }) {
                return .unresolvable("node(s) had untolerated taint {\(taint.key): \(taint.value ?? "")}")
            }
        }
        return .success
    }

    public func score(_ state: CycleState, nodes: [NodeInfo], indices: [Int], into scores: inout [Int64]) {
        nodes.withUnsafeBufferPointer { nodes in
            // Most nodes have no PreferNoSchedule taint: their score is 0 without a copy of the node.
            for i in indices { scores.append(nodes[i].facts.hasPreferNoScheduleTaints ? score(state, node: nodes[i]) : 0) }
        }
    }

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        guard node.hasPreferNoScheduleTaints else { return 0 }
        // Only tolerations that could apply to PreferNoSchedule count, as upstream.
        let tolerations = (state.pod.spec.tolerations ?? []).filter { ($0.effect ?? "").isEmpty || $0.effect == "PreferNoSchedule" }
        return Int64(node.taints.filter { taint in
            taint.effect == "PreferNoSchedule" && !tolerations.contains { Self.tolerates($0, taint) }
        }.count)
    }

    public func normalize(_ scores: inout [Int64]) { defaultNormalize(&scores, reverse: true) }
}

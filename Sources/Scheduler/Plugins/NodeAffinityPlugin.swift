import KubeAPI

/// Filters nodes by `nodeSelector` and required node affinity; scores them by the summed
/// weights of the preferred terms they match.
public struct NodeAffinityPlugin: FilterPlugin, ScorePlugin {
    public let name = "NodeAffinity"
    public let weight: Int64 = 2
    public static let reason = "node(s) didn't match Pod's node affinity/selector"
    public init() {}

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        let spec = state.pod.spec
        if spec.nodeSelector == nil && spec.affinity?.nodeAffinity == nil { return .success }
        let labels = node.labels
        for (k, v) in state.pod.spec.nodeSelector ?? [:] where labels[k] != v { return .unresolvable(Self.reason) }
        if let required = state.pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution {
            // Terms are ORed; an empty list of terms matches nothing.
            guard required.nodeSelectorTerms.contains(where: { Self.matches($0, node: node) }) else { return .unresolvable(Self.reason) }
        }
        return .success
    }

    /// Without a nodeSelector or required terms, every node passes.
    public func skipsFilter(_ state: CycleState) -> Bool {
        let spec = state.pod.spec
        return (spec.nodeSelector ?? [:]).isEmpty && spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution == nil
    }

    /// Without preferred terms, every node scores 0.
    public func skipsScore(_ state: CycleState) -> Bool {
        (state.pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).isEmpty
    }

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        (state.pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
            .filter { Self.matches($0.preference, node: node) }
            .reduce(0) { $0 + Int64($1.weight) }
    }

    public func normalize(_ scores: inout [Int64]) { defaultNormalize(&scores, reverse: false) }

    /// A term matches when all its expressions and fields match; a term with neither matches nothing.
    static func matches(_ term: NodeSelectorTerm, node: NodeInfo) -> Bool {
        let expressions = term.matchExpressions ?? [], fields = term.matchFields ?? []
        if expressions.isEmpty && fields.isEmpty { return false }
        let labels = node.labels
        for r in expressions where !matches(r, value: labels[r.key]) { return false }
        for r in fields {
            // metadata.name is the only field upstream supports.
            guard r.key == "metadata.name", matches(r, value: node.name) else { return false }
        }
        return true
    }

    static func matches(_ r: NodeSelectorRequirement, value: String?) -> Bool {
        let values = r.values ?? []
        switch r.operator {
        case "In": return value.map(values.contains) ?? false
        case "NotIn": return value.map { !values.contains($0) } ?? true
        case "Exists": return value != nil
        case "DoesNotExist": return value == nil
        case "Gt", "Lt":
            guard let v = value.flatMap({ Int64($0) }), values.count == 1, let bound = Int64(values[0]) else { return false }
            return r.operator == "Gt" ? v > bound : v < bound
        default: return false
        }
    }
}

import KubeAPI

/// Pod affinity and anti-affinity: required terms filter nodes (the incoming pod's affinity
/// and anti-affinity, and existing pods' anti-affinity against it); preferred terms score them.
public struct InterPodAffinity: FilterPlugin, ScorePlugin {
    public let name = "InterPodAffinity"
    public let weight: Int64 = 2
    public static let affinityReason = "node(s) didn't match pod affinity rules"
    public static let antiAffinityReason = "node(s) didn't match pod anti-affinity rules"
    public static let existingAntiAffinityReason = "node(s) didn't satisfy existing pods anti-affinity rules"
    /// Weight given to existing pods' required affinity terms when scoring (upstream's default).
    static let hardPodAffinityWeight: Int64 = 1
    public init() {}

    /// Whether `term` (owned by a pod in `ownerNamespace`) selects `pod`.
    static func term(_ term: PodAffinityTerm, ownerNamespace: String?, selects pod: Pod) -> Bool {
        let namespaces = term.namespaces ?? []
        if namespaces.isEmpty && term.namespaceSelector == nil {
            guard pod.metadata.namespace == ownerNamespace else { return false }
        } else if !namespaces.isEmpty, !namespaces.contains(pod.metadata.namespace ?? "") {
            // An empty namespaceSelector ({}) selects every namespace.
            if term.namespaceSelector == nil { return false }
        }
        guard let selector = term.labelSelector else { return false }
        return selector.matches(pod.metadata.labels ?? [:])
    }

    static func sameDomain(_ a: NodeInfo, _ b: NodeInfo, key: String) -> Bool {
        guard let va = a.labels[key], let vb = b.labels[key] else { return false }
        return va == vb
    }

    /// No pod in the cluster has affinity terms that could select this one, and it has no
    /// required terms of its own.
    public func skipsFilter(_ state: CycleState) -> Bool {
        let a = state.pod.spec.affinity
        return state.nodesWithAffinityPods.isEmpty
            && (a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).isEmpty
            && (a?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).isEmpty
    }

    /// No preferred terms on the pod and no pod with terms in the cluster: every node scores 0.
    public func skipsScore(_ state: CycleState) -> Bool {
        let a = state.pod.spec.affinity
        return state.nodesWithAffinityPods.isEmpty
            && (a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).isEmpty
            && (a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).isEmpty
    }

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        let pod = state.pod
        let ns = pod.metadata.namespace
        // Existing pods whose required anti-affinity selects the incoming pod.
        for i in state.nodesWithAffinityPods {
            let other = state.allNodes[i]
            for existing in other.pods {
                for t in existing.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []
                where Self.term(t, ownerNamespace: existing.metadata.namespace, selects: pod) && Self.sameDomain(other, node, key: t.topologyKey) {
                    return .unschedulable(Self.existingAntiAffinityReason)
                }
            }
        }
        let affinity = pod.spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []
        let anti = pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []
        if affinity.isEmpty && anti.isEmpty { return .success }
        for t in affinity {
            guard node.labels[t.topologyKey] != nil else { return .unresolvable(Self.affinityReason) }
            let matchedHere = state.allNodes.contains { other in
                Self.sameDomain(other, node, key: t.topologyKey) && other.pods.contains { Self.term(t, ownerNamespace: ns, selects: $0) }
            }
            if matchedHere { continue }
            // Upstream lets the first pod of a group through when it matches its own term and
            // no pod anywhere matches yet.
            let matchedAnywhere = state.allNodes.contains { $0.pods.contains { Self.term(t, ownerNamespace: ns, selects: $0) } }
            if matchedAnywhere || !Self.term(t, ownerNamespace: ns, selects: pod) { return .unschedulable(Self.affinityReason) }
        }
        for t in anti {
            let conflict = state.allNodes.contains { other in
                Self.sameDomain(other, node, key: t.topologyKey) && other.pods.contains { Self.term(t, ownerNamespace: ns, selects: $0) }
            }
            if conflict { return .unschedulable(Self.antiAffinityReason) }
        }
        return .success
    }

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        let pod = state.pod
        let ns = pod.metadata.namespace
        let preferred = pod.spec.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []
        let preferredAnti = pod.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []
        var score: Int64 = 0
        let candidates: [Int] = (preferred.isEmpty && preferredAnti.isEmpty) ? state.nodesWithAffinityPods : Array(state.allNodes.indices)
        for i in candidates {
            let other = state.allNodes[i]
            for existing in other.pods {
                for w in preferred where Self.term(w.podAffinityTerm, ownerNamespace: ns, selects: existing) && Self.sameDomain(other, node, key: w.podAffinityTerm.topologyKey) {
                    score += Int64(w.weight)
                }
                for w in preferredAnti where Self.term(w.podAffinityTerm, ownerNamespace: ns, selects: existing) && Self.sameDomain(other, node, key: w.podAffinityTerm.topologyKey) {
                    score -= Int64(w.weight)
                }
                // Symmetry: existing pods' own terms that select the incoming pod.
                let a = existing.spec.affinity
                for t in a?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []
                where Self.term(t, ownerNamespace: existing.metadata.namespace, selects: pod) && Self.sameDomain(other, node, key: t.topologyKey) {
                    score += Self.hardPodAffinityWeight
                }
                for w in a?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []
                where Self.term(w.podAffinityTerm, ownerNamespace: existing.metadata.namespace, selects: pod) && Self.sameDomain(other, node, key: w.podAffinityTerm.topologyKey) {
                    score += Int64(w.weight)
                }
                for w in a?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []
                where Self.term(w.podAffinityTerm, ownerNamespace: existing.metadata.namespace, selects: pod) && Self.sameDomain(other, node, key: w.podAffinityTerm.topologyKey) {
                    score -= Int64(w.weight)
                }
            }
        }
        return score
    }

    /// Min-max scaling to 0...100 (upstream's NormalizeScore for this plugin).
    public func normalize(_ scores: inout [Int64]) {
        guard let lo = scores.min(), let hi = scores.max(), hi > lo else {
            for i in scores.indices { scores[i] = 0 }
            return
        }
        for i in scores.indices { scores[i] = 100 * (scores[i] - lo) / (hi - lo) }
    }
}

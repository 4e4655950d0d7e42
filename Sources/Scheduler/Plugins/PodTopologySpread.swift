import Foundation
import KubeAPI

/// Spreads matching pods over topology domains: `DoNotSchedule` constraints filter nodes whose
/// domain would exceed `maxSkew`; `ScheduleAnyway` constraints score emptier domains higher.
/// Counts only nodes that pass the pod's node affinity and carry the constraint's key, as
/// upstream does. (Upstream's cluster-level default constraints are not applied.)
public struct PodTopologySpread: PreFilterPlugin, FilterPlugin, ScorePlugin {
    public let name = "PodTopologySpread"
    public let weight: Int64 = 2
    public static let reason = "node(s) didn't match pod topology spread constraints"
    public static let missingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
    public init() {}

    /// Per constraint: matching pod counts by domain value.
    /// A class so that reading it from the cycle state on every node costs a reference count.
    final class Counts: Sendable {
        let hard: [(TopologySpreadConstraint, [String: Int])]
        let soft: [(TopologySpreadConstraint, [String: Int])]
        init(hard: [(TopologySpreadConstraint, [String: Int])], soft: [(TopologySpreadConstraint, [String: Int])]) {
            self.hard = hard
            self.soft = soft
        }
    }

    public func preFilter(_ state: CycleState) -> Result<(any Sendable)?, PreFilterFailure> {
        let constraints = state.pod.spec.topologySpreadConstraints ?? []
        guard !constraints.isEmpty else { return .success(nil) }
        let affinity = NodeAffinityPlugin()
        let constrained = state.pod.spec.nodeSelector != nil || state.pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution != nil
        let eligible = constrained ? state.allNodes.filter { affinity.filter(state, node: $0).isSuccess } : state.allNodes
        func counts(_ c: TopologySpreadConstraint) -> [String: Int] {
            var out: [String: Int] = [:]
            for node in eligible {
                let labels = node.labels
                guard constraints.allSatisfy({ labels[$0.topologyKey] != nil }), let domain = labels[c.topologyKey] else { continue }
                var n = 0
                for pod in node.pods where self.matches(pod, c, namespace: state.pod.metadata.namespace) { n += 1 }
                out[domain, default: 0] += n
            }
            return out
        }
        let hard = constraints.filter { $0.whenUnsatisfiable == "DoNotSchedule" }.map { ($0, counts($0)) }
        let soft = constraints.filter { $0.whenUnsatisfiable != "DoNotSchedule" }.map { ($0, counts($0)) }
        return .success(Counts(hard: hard, soft: soft))
    }

    func matches(_ pod: Pod, _ c: TopologySpreadConstraint, namespace: String?) -> Bool {
        guard pod.metadata.namespace == namespace, pod.metadata.deletionTimestamp == nil, let selector = c.labelSelector else { return false }
        return selector.matches(pod.metadata.labels ?? [:])
    }

    /// No `DoNotSchedule` constraint: every node passes.
    public func skipsFilter(_ state: CycleState) -> Bool { (state.data[name] as? Counts)?.hard.isEmpty ?? true }

    /// No `ScheduleAnyway` constraint: every node scores the same.
    public func skipsScore(_ state: CycleState) -> Bool { (state.data[name] as? Counts)?.soft.isEmpty ?? true }

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        guard let counts = state.data[name] as? Counts else { return .success }
        for (c, byDomain) in counts.hard {
            guard let domain = node.labels[c.topologyKey] else { return .unresolvable(Self.missingLabel) }
            var minMatch = byDomain.values.min() ?? 0
            if let minDomains = c.minDomains, byDomain.count < Int(minDomains) { minMatch = 0 }
            let selfMatch = (c.labelSelector?.matches(state.pod.metadata.labels ?? [:]) ?? false) ? 1 : 0
            if (byDomain[domain] ?? 0) + selfMatch - minMatch > Int(c.maxSkew) { return .unschedulable(Self.reason) }
        }
        return .success
    }

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        guard let counts = state.data[name] as? Counts else { return 0 }
        return score(counts, node: node)
    }

    public func score(_ state: CycleState, nodes: [NodeInfo], indices: [Int], into scores: inout [Int64]) {
        guard let counts = state.data[name] as? Counts else {
            scores.append(contentsOf: repeatElement(0, count: indices.count))
            return
        }
        for i in indices { scores.append(score(counts, node: nodes[i])) }
    }

    private func score(_ counts: Counts, node: NodeInfo) -> Int64 {
        guard !counts.soft.isEmpty else { return 0 }
        var total: Double = 0
        for (c, byDomain) in counts.soft {
            // A node without the key gets no score; upstream marks it as ignored (score 0).
            guard let domain = node.labels[c.topologyKey] else { return -1 }
            let weight = log(Double(byDomain.count + 2))
            total += Double(byDomain[domain] ?? 0) * weight + Double(c.maxSkew - 1)
        }
        return Int64(total.rounded())
    }

    /// Fewer matching pods is better: 100 × (max + min − s) / max; ignored nodes score 0.
    public func normalize(_ scores: inout [Int64]) {
        let valid = scores.filter { $0 >= 0 }
        guard let maxScore = valid.max(), let minScore = valid.min() else { return }
        for i in scores.indices {
            if scores[i] < 0 { scores[i] = 0; continue }
            scores[i] = maxScore == 0 ? 100 : 100 * (maxScore + minScore - scores[i]) / maxScore
        }
    }
}

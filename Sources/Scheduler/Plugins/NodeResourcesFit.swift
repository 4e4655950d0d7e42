/// Filters out nodes without room for the pod's requests (cpu, memory, pods and any other
/// requested resource), and scores by upstream's LeastAllocated strategy.
public struct NodeResourcesFit: FilterPlugin, ScorePlugin {
    public let name = "NodeResourcesFit"
    public let weight: Int64 = 1
    public init() {}

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        var reasons: [String] = []
        let allowedPods = node.allocatable("pods") / 1000
        if Int64(node.pods.count) + 1 > allowedPods { reasons.append("Too many pods") }
        for (resource, want) in state.requests where want > 0 {
            if want > node.allocatable(resource) - (node.requested[resource] ?? 0) {
                reasons.append("Insufficient \(resource)")
            }
        }
        reasons.sort()
        return reasons.isEmpty ? .success : PluginStatus(code: .unschedulable, reasons: reasons)
    }

    /// LeastAllocated: the mean over cpu and memory of the free share after placing the pod.
    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        var total: Int64 = 0
        for resource in ["cpu", "memory"] {
            let capacity = node.allocatable(resource)
            let requested = (node.nonZeroRequested[resource] ?? 0) + (state.nonZeroRequests[resource] ?? 0)
            guard capacity > 0, requested <= capacity else { continue }
            total += (capacity - requested) * 100 / capacity
        }
        return total / 2
    }
}

/// Scores nodes higher when cpu and memory stay in balance after placing the pod
/// (upstream's NodeResourcesBalancedAllocation: 100 × (1 − standard deviation of the fractions)).
public struct BalancedAllocation: ScorePlugin {
    public let name = "NodeResourcesBalancedAllocation"
    public let weight: Int64 = 1
    public init() {}

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        var fractions: [Double] = []
        for resource in ["cpu", "memory"] {
            let capacity = node.allocatable(resource)
            guard capacity > 0 else { continue }
            let requested = (node.nonZeroRequested[resource] ?? 0) + (state.nonZeroRequests[resource] ?? 0)
            fractions.append(min(Double(requested) / Double(capacity), 1))
        }
        guard fractions.count == 2 else { return 100 }
        let std = abs(fractions[0] - fractions[1]) / 2
        return Int64(((1 - std) * 100).rounded(.down))
    }
}

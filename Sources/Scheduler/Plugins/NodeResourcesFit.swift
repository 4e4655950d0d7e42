/// Filters out nodes without room for the pod's requests (cpu, memory, pods and any other
/// requested resource), and scores by upstream's LeastAllocated strategy.
public struct NodeResourcesFit: FilterPlugin, ScorePlugin {
    public let name = "NodeResourcesFit"
    public let weight: Int64 = 1
    public init() {}

    /// The whole verdict when the pod requests nothing beyond cpu and memory.
    public func filter(_ state: CycleState, facts: NodeFacts) -> PluginStatus? {
        guard !state.otherRequests.contains(where: { $0.amount > 0 }) else { return nil }
        var reasons: [String] = []
        Self.check(state, facts, &reasons)
        if reasons.isEmpty { return .success }
        reasons.sort()
        return PluginStatus(code: .unschedulable, reasons: reasons)
    }

    /// Pods, cpu and memory.
    private static func check(_ state: CycleState, _ facts: NodeFacts, _ reasons: inout [String]) {
        if Int64(facts.podCount) + 1 > facts.allowedPods { reasons.append("Too many pods") }
        if state.requestedCPU > 0 && state.requestedCPU > facts.allocatableCPU - facts.requestedCPU { reasons.append("Insufficient cpu") }
        if state.requestedMemory > 0 && state.requestedMemory > facts.allocatableMemory - facts.requestedMemory { reasons.append("Insufficient memory") }
    }

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        var reasons: [String] = []
        Self.check(state, node.facts, &reasons)
        for (resource, want) in state.otherRequests where want > 0 {
            if want > node.allocatable(resource) - (node.requested[resource] ?? 0) {
                reasons.append("Insufficient \(resource)")
            }
        }
        if reasons.isEmpty { return .success }
        reasons.sort()
        return PluginStatus(code: .unschedulable, reasons: reasons)
    }

    /// LeastAllocated: the mean over cpu and memory of the free share after placing the pod.
    public func score(_ state: CycleState, node: NodeInfo) -> Int64 { Self.score(state, node.facts) }

    public func score(_ state: CycleState, nodes: [NodeInfo], indices: [Int], into scores: inout [Int64]) {
        nodes.withUnsafeBufferPointer { nodes in
            for i in indices { scores.append(Self.score(state, nodes[i].facts)) }
        }
    }

    static func score(_ state: CycleState, _ node: NodeFacts) -> Int64 {
        func free(_ capacity: Int64, _ requested: Int64) -> Int64 {
            guard capacity > 0, requested <= capacity else { return 0 }
            return (capacity - requested) * 100 / capacity
        }
        return (free(node.allocatableCPU, node.nonZeroRequestedCPU + state.nonZeroCPU)
            + free(node.allocatableMemory, node.nonZeroRequestedMemory + state.nonZeroMemory)) / 2
    }
}

/// Scores nodes higher when cpu and memory stay in balance after placing the pod
/// (upstream's NodeResourcesBalancedAllocation: 100 × (1 − standard deviation of the fractions)).
public struct BalancedAllocation: ScorePlugin {
    public let name = "NodeResourcesBalancedAllocation"
    public let weight: Int64 = 1
    public init() {}

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 { Self.score(state, node.facts) }

    public func score(_ state: CycleState, nodes: [NodeInfo], indices: [Int], into scores: inout [Int64]) {
        nodes.withUnsafeBufferPointer { nodes in
            for i in indices { scores.append(Self.score(state, nodes[i].facts)) }
        }
    }

    static func score(_ state: CycleState, _ node: NodeFacts) -> Int64 {
        let cpu = node.allocatableCPU, memory = node.allocatableMemory
        guard cpu > 0, memory > 0 else { return 100 }
        let cpuFraction = min(Double(node.nonZeroRequestedCPU + state.nonZeroCPU) / Double(cpu), 1)
        let memoryFraction = min(Double(node.nonZeroRequestedMemory + state.nonZeroMemory) / Double(memory), 1)
        let std = abs(cpuFraction - memoryFraction) / 2
        return Int64(((1 - std) * 100).rounded(.down))
    }
}

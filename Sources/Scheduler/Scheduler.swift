import KubeAPI

/// Why a pod fits no node: the per-node reasons, summarized as upstream prints them.
public struct FitError: Error, Hashable, Sendable, CustomStringConvertible {
    public var numAllNodes: Int
    /// Node name → the reasons it was filtered out.
    public var reasonsByNode: [String: [String]]

    /// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}.`
    public var description: String {
        var histogram: [String: Int] = [:]
        for reasons in reasonsByNode.values { for r in Set(reasons) { histogram[r, default: 0] += 1 } }
        let parts = histogram.map { "\($0.value) \($0.key)" }.sorted()
        return "0/\(numAllNodes) nodes are available: \(parts.joined(separator: ", "))."
    }
}

/// The scheduling algorithm of one profile: filter, score, select. Binding and queueing are
/// the caller's (see ``SchedulingQueue``). A value type; `schedule` is a pure function of the
/// pod and the snapshot except for the tie-break random numbers and the rotating start index.
public struct Scheduler: Sendable {
    public var preFilters: [any PreFilterPlugin]
    public var filters: [any FilterPlugin]
    public var scorers: [any ScorePlugin]
    /// Where the next cycle starts looking, so that all nodes get a turn (upstream's
    /// nextStartNodeIndex).
    public private(set) var nextStartNodeIndex = 0
    /// Per-cycle buffers kept between cycles (capacity only; emptied at the start of each).
    private var feasibleBuffer: [Int] = [], totalsBuffer: [Int64] = [], scoresBuffer: [Int64] = []

    /// The default plugin set: upstream's default profile, less preemption and volume plugins.
    public init() {
        let spread = PodTopologySpread(), taints = TaintToleration(), affinity = NodeAffinityPlugin()
        let fit = NodeResourcesFit(), interPod = InterPodAffinity(), images = ImageLocality()
        preFilters = [spread, images]
        filters = [NodeUnschedulable(), NodeName(), taints, affinity, NodePorts(), fit, spread, interPod]
        scorers = [taints, affinity, fit, BalancedAllocation(), images, spread, interPod]
    }

    public init(preFilters: [any PreFilterPlugin] = [], filters: [any FilterPlugin], scorers: [any ScorePlugin]) {
        self.preFilters = preFilters
        self.filters = filters
        self.scorers = scorers
    }

    /// How many feasible nodes to find before scoring (upstream's adaptive
    /// percentageOfNodesToScore: 50% less 1% per 125 nodes, at least 5% and at least 100 nodes).
    public static func numFeasibleNodesToFind(_ total: Int) -> Int {
        if total < 100 { return total }
        let percentage = max(50 - total / 125, 5)
        return max(total * percentage / 100, 100)
    }

    /// Picks a node for `pod` among `snapshot`'s nodes, or says why none fits.
    ///
    /// Filters and scorers that say they have nothing to do for the pod (`skipsFilter`,
    /// `skipsScore`) are left out of the cycle: a skipped filter passes every node, and a
    /// skipped scorer gives every node the same score, so the choice is the same as running
    /// them (the totals differ by a constant, which changes no rank and no tie).
    // Specialized for the scheduler's own generator: the generic tie-break draw
    // (`Int.random(in:using:)` through an unspecialized generator) was ~1% of hollow-bench's CPU.
    @_specialize(where R == TieBreakRandom)
    public mutating func schedule<R: RandomNumberGenerator>(_ pod: Pod, snapshot: Snapshot, using rng: inout R) -> Result<String, FitError> {
        let nodes = snapshot.nodes
        guard !nodes.isEmpty else { return .failure(FitError(numAllNodes: 0, reasonsByNode: [:])) }
        var state = CycleState(pod: pod, allNodes: nodes, nodesWithAffinityPods: snapshot.nodesWithAffinityPods, imageNodeCounts: snapshot.imageNodeCounts)
        for p in preFilters {
            switch p.preFilter(state) {
            case .success(let data): if let data { state.data[p.name] = data }
            case .failure(let f):
                return .failure(FitError(numAllNodes: nodes.count, reasonsByNode: Dictionary(uniqueKeysWithValues: nodes.map { ($0.name, f.status.reasons) })))
            }
        }
        let activeFilters = filters.filter { !$0.skipsFilter(state) }
        let want = Self.numFeasibleNodesToFind(nodes.count)
        // Kept across cycles: at 5,000 nodes a cycle visits ~500 nodes, and allocating these
        // per cycle showed in the profile.
        var feasible = feasibleBuffer
        feasibleBuffer = []
        feasible.removeAll(keepingCapacity: true)
        var reasons: [String: [String]] = [:]
        var visited = 0
        let start = nextStartNodeIndex % nodes.count
        // Filters first get the node's plain facts: a NodeInfo copy retains its storage (a
        // cache miss per node at 5,000 nodes), so a node is copied only for a filter that needs it.
        nodes.withUnsafeBufferPointer { nodes in
            while visited < nodes.count && feasible.count < want {
                let i = (start + visited) % nodes.count
                visited += 1
                let facts = nodes[i].facts
                var failed: [String] = []
                for f in activeFilters {
                    let s = f.filter(state, facts: facts) ?? f.filter(state, node: nodes[i])
                    if !s.isSuccess { failed = s.reasons; break }
                }
                if failed.isEmpty { feasible.append(i) } else { reasons[nodes[i].name] = failed }
            }
        }
        nextStartNodeIndex = (start + visited) % nodes.count
        defer { feasibleBuffer = feasible }
        guard !feasible.isEmpty else { return .failure(FitError(numAllNodes: nodes.count, reasonsByNode: reasons)) }
        if feasible.count == 1 { return .success(nodes[feasible[0]].name) }
        var totals = totalsBuffer, scores = scoresBuffer
        totalsBuffer = []; scoresBuffer = []
        totals.removeAll(keepingCapacity: true)
        totals.append(contentsOf: repeatElement(0, count: feasible.count))
        for s in scorers where !s.skipsScore(state) {
            scores.removeAll(keepingCapacity: true)
            s.score(state, nodes: nodes, indices: feasible, into: &scores)
            s.normalize(&scores)
            let weight = s.weight
            for k in totals.indices { totals[k] += scores[k] * weight }
        }
        // Reservoir sampling among the best, as upstream's selectHost.
        var best = 0, ties = 1
        for k in 1..<totals.count {
            if totals[k] > totals[best] { best = k; ties = 1 } else if totals[k] == totals[best] {
                ties += 1
                if Int.random(in: 0..<ties, using: &rng) == 0 { best = k }
            }
        }
        let chosen = nodes[feasible[best]].name
        totalsBuffer = totals; scoresBuffer = scores
        return .success(chosen)
    }

    /// Runs every scorer on each node (all of them, not just the first feasible ones) and
    /// returns the weighted totals: for tests and `nodectl` explanations.
    public func scores(_ pod: Pod, snapshot: Snapshot) -> [String: Int64] {
        var state = CycleState(pod: pod, allNodes: snapshot.nodes, nodesWithAffinityPods: snapshot.nodesWithAffinityPods, imageNodeCounts: snapshot.imageNodeCounts)
        for p in preFilters { if case .success(let d?) = p.preFilter(state) { state.data[p.name] = d } }
        var totals: [String: Int64] = [:]
        for s in scorers {
            var raw = snapshot.nodes.map { s.score(state, node: $0) }
            s.normalize(&raw)
            for (n, v) in zip(snapshot.nodes, raw) { totals[n.name, default: 0] += v * s.weight }
        }
        return totals
    }
}

/// The nodes and their pods as the scheduler sees them during one cycle; kept up to date
/// incrementally as pods are bound, so a cycle does not rebuild it.
public struct Snapshot: Sendable {
    public private(set) var nodes: [NodeInfo] = []
    public private(set) var nodesWithAffinityPods: [Int] = []
    /// How many nodes hold each image (normalized name), kept as nodes come, change and go, so
    /// that ImageLocality reads it instead of visiting every node each cycle (upstream's
    /// snapshot keeps the same per-image node count).
    public private(set) var imageNodeCounts: [String: Int] = [:]
    private var index: [String: Int] = [:]

    public init(nodes: [Node] = [], pods: [Pod] = []) {
        for n in nodes { upsert(n) }
        for p in pods { assume(p) }
    }

    /// Adds or replaces a node, keeping its pods.
    public mutating func upsert(_ node: Node) {
        let name = node.metadata.name ?? ""
        if let i = index[name] {
            countImages(of: nodes[i], by: -1)
            nodes[i].update(node: node)
            countImages(of: nodes[i], by: 1)
        } else {
            index[name] = nodes.count
            nodes.append(NodeInfo(node: node))
            countImages(of: nodes[nodes.count - 1], by: 1)
        }
    }

    private mutating func countImages(of node: NodeInfo, by delta: Int) {
        for image in node.imageSizes.keys {
            let n = imageNodeCounts[image, default: 0] + delta
            imageNodeCounts[image] = n > 0 ? n : nil
        }
    }

    /// Removes a node and its pods from consideration.
    public mutating func remove(node name: String) {
        guard let i = index.removeValue(forKey: name) else { return }
        countImages(of: nodes[i], by: -1)
        nodes.remove(at: i)
        index = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($0.element.name, $0.offset) })
        nodesWithAffinityPods = nodes.indices.filter { nodes[$0].pods.contains(where: \.hasAffinityTerms) }
    }

    /// Records a pod as running on its `spec.nodeName` (after binding, or from the informer).
    public mutating func assume(_ pod: Pod) {
        guard let name = pod.spec.nodeName, let i = index[name] else { return }
        nodes[i].add(pod)
        if pod.hasAffinityTerms, !nodesWithAffinityPods.contains(i) { nodesWithAffinityPods.append(i) }
    }

    /// Removes a pod from the node it was recorded on (deleted, finished, or its binding
    /// failed). Returns whether it was there.
    @discardableResult
    public mutating func forget(_ pod: Pod, from nodeName: String) -> Bool {
        guard let i = index[nodeName], nodes[i].remove(namespace: pod.metadata.namespace, name: pod.metadata.name ?? "") else { return false }
        if pod.hasAffinityTerms, !nodes[i].pods.contains(where: \.hasAffinityTerms) { nodesWithAffinityPods.removeAll { $0 == i } }
        return true
    }

    public func node(named name: String) -> NodeInfo? { index[name].map { nodes[$0] } }
}

/// The generator that breaks ties between equally scored nodes. Ties are common (identical
/// nodes), and `SystemRandomNumberGenerator` costs a system call per draw; the choice needs
/// spread, not secrecy. `TieBreakRandom()` is seeded from the system generator.
public typealias TieBreakRandom = SplitMix64

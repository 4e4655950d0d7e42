import KubeAPI

/// The outcome of a plugin at one extension point, in upstream's terms.
public struct PluginStatus: Hashable, Sendable {
    public enum Code: Hashable, Sendable {
        case success
        /// The pod does not fit now; a cluster change may fix it (preemption could help).
        case unschedulable
        /// The pod cannot fit this node whatever happens on it.
        case unschedulableAndUnresolvable
        case error
    }

    public var code: Code
    /// Upstream's reason strings, e.g. `Insufficient cpu`; counted per reason across nodes in
    /// the "0/N nodes are available" message.
    public var reasons: [String]

    public static let success = PluginStatus(code: .success, reasons: [])
    public static func unschedulable(_ reasons: String...) -> PluginStatus { PluginStatus(code: .unschedulable, reasons: reasons) }
    public static func unresolvable(_ reasons: String...) -> PluginStatus { PluginStatus(code: .unschedulableAndUnresolvable, reasons: reasons) }
    public var isSuccess: Bool { code == .success }
}

/// What the scheduler knows about one node: the node and the pods bound to it, with their
/// summed requests and used host ports. Kept up to date incrementally by ``Snapshot``.
///
/// A value type. The fields every filter and scorer reads on every node (cpu, memory and pod
/// counts, and flags saying whether the node has taints, images or is cordoned) are stored
/// inline, so a pass over `Snapshot.nodes` reads one contiguous array and never follows a
/// reference for a plain pod. The rest sits behind a copy-on-write reference, so copying a
/// `NodeInfo` costs one reference count, not a copy of its dictionaries.
public struct NodeInfo: Sendable {
    /// Mutated only through `NodeInfo`'s mutating methods, after `makeUnique()`, so a shared
    /// instance is never written: that is what makes the unchecked `Sendable` sound.
    final class Storage: @unchecked Sendable {
        var node: Node
        var name = ""
        var labels: [String: String] = [:]
        var taints: [Taint] = []
        var allocatable: [String: Int64] = [:]
        var pods: [Pod] = []
        var imageSizes: [String: Int64] = [:]
        var requested: [String: Int64] = [:]
        var nonZeroRequested: [String: Int64] = [:]
        var usedPorts: Set<String> = []

        init(node: Node) { self.node = node }

        func copy() -> Storage {
            let c = Storage(node: node)
            c.name = name; c.labels = labels; c.taints = taints
            c.allocatable = allocatable; c.pods = pods; c.imageSizes = imageSizes
            c.requested = requested; c.nonZeroRequested = nonZeroRequested; c.usedPorts = usedPorts
            return c
        }
    }

    private var storage: Storage

    public var node: Node { storage.node }
    public var pods: [Pod] { storage.pods }
    /// Image sizes by normalized image name (`docker.io/library/nginx:latest`).
    public var imageSizes: [String: Int64] { storage.imageSizes }
    /// Summed requests of the pods on the node (milli-units), by resource name.
    public var requested: [String: Int64] { storage.requested }
    /// Summed requests with upstream's non-zero defaults (100m cpu, 200Mi memory), for scoring.
    public var nonZeroRequested: [String: Int64] { storage.nonZeroRequested }
    /// Host ports in use: "protocol/hostIP/port".
    public var usedPorts: Set<String> { storage.usedPorts }
    public var name: String { storage.name }
    public var labels: [String: String] { storage.labels }
    /// `spec.taints`, empty when unset.
    public var taints: [Taint] { storage.taints }
    /// The node's per-node sums and flags, inline: see ``NodeFacts``.
    public private(set) var facts = NodeFacts()
    /// `spec.unschedulable`.
    public var isUnschedulable: Bool { facts.isUnschedulable }
    public var podCount: Int { facts.podCount }
    var allocatableCPU: Int64 { facts.allocatableCPU }
    var allocatableMemory: Int64 { facts.allocatableMemory }
    /// Allocatable `pods`, in whole pods.
    var allowedPods: Int64 { facts.allowedPods }
    var nonZeroRequestedCPU: Int64 { facts.nonZeroRequestedCPU }
    var nonZeroRequestedMemory: Int64 { facts.nonZeroRequestedMemory }
    var requestedCPU: Int64 { facts.requestedCPU }
    var requestedMemory: Int64 { facts.requestedMemory }
    var hasFilteringTaints: Bool { facts.hasFilteringTaints }
    var hasPreferNoScheduleTaints: Bool { facts.hasPreferNoScheduleTaints }
    var hasImages: Bool { facts.hasImages }
    var hasUsedPorts: Bool { facts.hasUsedPorts }

    public init(node: Node, pods: [Pod] = []) {
        storage = Storage(node: node)
        update(node: node)
        for pod in pods { add(pod) }
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Replaces the node object (labels, taints, status), keeping its pods.
    public mutating func update(node: Node) {
        makeUnique()
        let s = storage
        s.node = node
        s.name = node.metadata.name ?? ""
        s.labels = node.metadata.labels ?? [:]
        s.taints = node.spec?.taints ?? []
        facts.isUnschedulable = node.spec?.unschedulable ?? false
        facts.hasFilteringTaints = s.taints.contains { $0.effect == "NoSchedule" || $0.effect == "NoExecute" }
        facts.hasPreferNoScheduleTaints = s.taints.contains { $0.effect == "PreferNoSchedule" }
        // Allocatable falls back to capacity per resource, as the kubelet reports either.
        var allocatable: [String: Int64] = [:]
        for (k, v) in node.status?.capacity ?? [:] { allocatable[k] = v.milliValue }
        for (k, v) in node.status?.allocatable ?? [:] { allocatable[k] = v.milliValue }
        s.allocatable = allocatable
        facts.allocatableCPU = allocatable["cpu"] ?? 0
        facts.allocatableMemory = allocatable["memory"] ?? 0
        facts.allowedPods = (allocatable["pods"] ?? 0) / 1000
        s.imageSizes = [:]
        for image in node.status?.images ?? [] {
            for name in image.names ?? [] { s.imageSizes[ImageLocality.normalize(name)] = image.sizeBytes ?? 0 }
        }
        facts.hasImages = !s.imageSizes.isEmpty
    }

    /// Allocatable amount of a resource in milli-units (0 when the node does not report it).
    public func allocatable(_ resource: String) -> Int64 { storage.allocatable[resource] ?? 0 }

    public mutating func add(_ pod: Pod) {
        makeUnique()
        let s = storage
        s.pods.append(pod)
        facts.podCount = s.pods.count
        for (name, value) in Resources.podRequests(pod) { s.requested[name, default: 0] += value }
        let nonZero = Resources.podRequests(pod, nonZero: true)
        s.nonZeroRequested["cpu", default: 0] += nonZero["cpu"] ?? 0
        s.nonZeroRequested["memory", default: 0] += nonZero["memory"] ?? 0
        for port in Resources.hostPorts(pod) { s.usedPorts.insert(port) }
        refreshSums()
    }

    /// Removes a pod (deleted, or its assumed binding failed) by namespace and name, and
    /// subtracts its requests and ports. Returns whether the pod was there.
    @discardableResult
    public mutating func remove(namespace: String?, name: String) -> Bool {
        guard let i = storage.pods.firstIndex(where: { $0.metadata.namespace == namespace && $0.metadata.name == name }) else { return false }
        makeUnique()
        let s = storage
        let pod = s.pods.remove(at: i)
        facts.podCount = s.pods.count
        for (k, v) in Resources.podRequests(pod) { s.requested[k, default: 0] -= v }
        let nonZero = Resources.podRequests(pod, nonZero: true)
        s.nonZeroRequested["cpu", default: 0] -= nonZero["cpu"] ?? 0
        s.nonZeroRequested["memory", default: 0] -= nonZero["memory"] ?? 0
        // The set does not count owners, so it is rebuilt from the pods that remain.
        s.usedPorts = Set(s.pods.flatMap(Resources.hostPorts))
        refreshSums()
        return true
    }

    /// Copies the sums the plugins read on every node out of the storage's dictionaries.
    private mutating func refreshSums() {
        let s = storage
        facts.requestedCPU = s.requested["cpu"] ?? 0
        facts.requestedMemory = s.requested["memory"] ?? 0
        facts.nonZeroRequestedCPU = s.nonZeroRequested["cpu"] ?? 0
        facts.nonZeroRequestedMemory = s.nonZeroRequested["memory"] ?? 0
        facts.hasUsedPorts = !s.usedPorts.isEmpty
    }
}

/// The per-node numbers and flags that filters and scorers read on every node, as plain
/// values: reading them from `Snapshot.nodes` touches no reference (no retain, no cache miss
/// on the node's storage), which a `NodeInfo` copy does.
public struct NodeFacts: Sendable, Hashable {
    public internal(set) var isUnschedulable = false
    public internal(set) var podCount = 0
    /// Allocatable cpu and memory (milli-units), and allocatable `pods` in whole pods.
    public internal(set) var allocatableCPU: Int64 = 0, allocatableMemory: Int64 = 0, allowedPods: Int64 = 0
    /// Summed requests of the node's pods (milli-units), plain and with upstream's non-zero defaults.
    public internal(set) var requestedCPU: Int64 = 0, requestedMemory: Int64 = 0
    public internal(set) var nonZeroRequestedCPU: Int64 = 0, nonZeroRequestedMemory: Int64 = 0
    /// Whether a taint has effect `NoSchedule` or `NoExecute` (the ones that filter).
    public internal(set) var hasFilteringTaints = false
    /// Whether a taint has effect `PreferNoSchedule` (the ones that score).
    public internal(set) var hasPreferNoScheduleTaints = false
    /// Whether the node reports images, and whether any host port is in use on it.
    public internal(set) var hasImages = false, hasUsedPorts = false
}

/// Shared facts a cycle computes once for a pod (e.g. its requests), read by every plugin.
public struct CycleState: Sendable {
    public let pod: Pod
    public let requests: [String: Int64]
    public let nonZeroRequests: [String: Int64]
    /// The pod's host ports as "protocol/hostIP/port".
    public let hostPorts: [String]
    /// Every node in the snapshot, for plugins that look across nodes (spread, affinity, images).
    public let allNodes: [NodeInfo]
    /// Indices into `allNodes` of nodes that run a pod with affinity or anti-affinity terms.
    public let nodesWithAffinityPods: [Int]
    /// How many of `allNodes` hold each image (``Snapshot/imageNodeCounts``); nil when the
    /// caller keeps no count, and ImageLocality then counts over `allNodes`.
    public let imageNodeCounts: [String: Int]?
    /// What pre-filter plugins computed for this cycle, by plugin name.
    public var data = CycleData()
    /// `nonZeroRequests` for cpu and memory, read by the scorers on every node.
    let nonZeroCPU: Int64, nonZeroMemory: Int64
    /// `requests` split for NodeResourcesFit, which reads them on every node: cpu and memory
    /// as plain fields (no hashing per node), every other requested resource in a list.
    let requestedCPU: Int64, requestedMemory: Int64
    let otherRequests: [(resource: String, amount: Int64)]

    public init(pod: Pod, allNodes: [NodeInfo], nodesWithAffinityPods: [Int]? = nil, imageNodeCounts: [String: Int]? = nil) {
        self.pod = pod
        self.requests = Resources.podRequests(pod)
        self.nonZeroRequests = Resources.podRequests(pod, nonZero: true)
        self.nonZeroCPU = nonZeroRequests["cpu"] ?? 0
        self.nonZeroMemory = nonZeroRequests["memory"] ?? 0
        self.requestedCPU = requests["cpu"] ?? 0
        self.requestedMemory = requests["memory"] ?? 0
        self.otherRequests = requests.filter { $0.key != "cpu" && $0.key != "memory" }.map { (resource: $0.key, amount: $0.value) }
        self.hostPorts = Resources.hostPorts(pod)
        self.allNodes = allNodes
        self.nodesWithAffinityPods = nodesWithAffinityPods ?? allNodes.indices.filter { allNodes[$0].pods.contains(where: \.hasAffinityTerms) }
        self.imageNodeCounts = imageNodeCounts
    }
}

/// Pre-filter results by plugin name. A handful of entries searched linearly: plugins read
/// them on every node, and comparing a few names is cheaper than hashing one.
public struct CycleData: Sendable {
    private var entries: [(name: String, value: any Sendable)] = []
    public init() {}

    public subscript(name: String) -> (any Sendable)? {
        get { entries.first { $0.name == name }?.value }
        set {
            entries.removeAll { $0.name == name }
            if let newValue { entries.append((name, newValue)) }
        }
    }
}

/// A plugin that computes something once per cycle before filtering and scoring.
public protocol PreFilterPlugin: Sendable {
    var name: String { get }
    /// Returns data kept in `CycleState.data[name]`, or a status that fails the pod at once.
    func preFilter(_ state: CycleState) -> Result<(any Sendable)?, PreFilterFailure>
}

/// A pre-filter verdict that makes every node infeasible, with the reason to report.
public struct PreFilterFailure: Error, Sendable {
    public var status: PluginStatus
    public init(_ status: PluginStatus) { self.status = status }
}

extension Pod {
    /// Whether the pod has any pod affinity or anti-affinity term.
    public var hasAffinityTerms: Bool {
        guard let a = spec.affinity else { return false }
        return a.podAffinity != nil || a.podAntiAffinity != nil
    }
}

/// A plugin that rules nodes out.
public protocol FilterPlugin: Sendable {
    var name: String { get }
    /// Whether `pod` can run on `node`. Must not mutate shared state; called concurrently.
    func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus
    /// Whether `filter` would succeed on every node for this cycle's pod, so the scheduler
    /// need not call it (upstream's PreFilter `Skip`). Called once per cycle, after the
    /// pre-filters; must be exact, never a guess. The default is false.
    func skipsFilter(_ state: CycleState) -> Bool
    /// The verdict `filter(state, node:)` would give, when the node's ``NodeFacts`` alone
    /// decide it; nil when the plugin needs the whole node. Must equal `filter` whenever it
    /// is not nil. The default is nil.
    func filter(_ state: CycleState, facts: NodeFacts) -> PluginStatus?
}

extension FilterPlugin {
    public func skipsFilter(_ state: CycleState) -> Bool { false }
    public func filter(_ state: CycleState, facts: NodeFacts) -> PluginStatus? { nil }
}

/// A plugin that ranks feasible nodes. Scores are normalized to 0...100 over the feasible
/// nodes before the weighted sum.
public protocol ScorePlugin: Sendable {
    var name: String { get }
    /// Upstream's default weight for this plugin.
    var weight: Int64 { get }
    func score(_ state: CycleState, node: NodeInfo) -> Int64
    /// Appends `score(state, node: nodes[i])` for each `i` of `indices`, in order, to
    /// `scores`: one call per plugin and cycle, so a plugin can read its cycle data once
    /// rather than once per node. The default calls `score` per node.
    func score(_ state: CycleState, nodes: [NodeInfo], indices: [Int], into scores: inout [Int64])
    /// Rescales raw scores into 0...100 (in place); the default leaves them as they are.
    func normalize(_ scores: inout [Int64])
    /// Whether every node would get the same normalized score for this cycle's pod, so that
    /// leaving the plugin out changes no node's rank (upstream's PreScore `Skip`). Called
    /// once per cycle, after the pre-filters; must be exact. The default is false.
    func skipsScore(_ state: CycleState) -> Bool
}

extension ScorePlugin {
    public func normalize(_ scores: inout [Int64]) {}
    public func skipsScore(_ state: CycleState) -> Bool { false }
    public func score(_ state: CycleState, nodes: [NodeInfo], indices: [Int], into scores: inout [Int64]) {
        nodes.withUnsafeBufferPointer { nodes in
            for i in indices { scores.append(score(state, node: nodes[i])) }
        }
    }
}

/// Upstream's `DefaultNormalizeScore`: scale to 0...maxScore by the highest score, reversed
/// when lower raw scores are better.
func defaultNormalize(_ scores: inout [Int64], reverse: Bool) {
    let maxScore = scores.max() ?? 0
    if maxScore == 0 {
        if reverse { for i in scores.indices { scores[i] = 100 } }
        return
    }
    for i in scores.indices {
        let s = scores[i] * 100 / maxScore
        scores[i] = reverse ? 100 - s : s
    }
}

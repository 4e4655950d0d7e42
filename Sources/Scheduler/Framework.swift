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
/// summed requests and used host ports. Built once per scheduling cycle from the caches.
public struct NodeInfo: Sendable {
    public private(set) var node: Node
    public private(set) var pods: [Pod]
    /// Image sizes by normalized image name (`docker.io/library/nginx:latest`).
    public private(set) var imageSizes: [String: Int64] = [:]
    /// Summed requests of the pods on the node (milli-units), by resource name.
    public private(set) var requested: [String: Int64] = [:]
    /// Summed requests with upstream's non-zero defaults (100m cpu, 200Mi memory), for scoring.
    public private(set) var nonZeroRequested: [String: Int64] = [:]
    /// Host ports in use: "protocol/hostIP/port".
    public private(set) var usedPorts: Set<String> = []

    public init(node: Node, pods: [Pod] = []) {
        self.node = node
        self.pods = []
        update(node: node)
        for pod in pods { add(pod) }
    }

    /// Replaces the node object (labels, taints, status), keeping its pods.
    public mutating func update(node: Node) {
        self.node = node
        imageSizes = [:]
        for image in node.status?.images ?? [] {
            for name in image.names ?? [] { imageSizes[ImageLocality.normalize(name)] = image.sizeBytes ?? 0 }
        }
    }

    public var name: String { node.metadata.name ?? "" }
    public var labels: [String: String] { node.metadata.labels ?? [:] }

    /// Allocatable amount of a resource in milli-units (0 when the node does not report it).
    public func allocatable(_ resource: String) -> Int64 {
        node.status?.allocatable?[resource]?.milliValue ?? node.status?.capacity?[resource]?.milliValue ?? 0
    }

    public mutating func add(_ pod: Pod) {
        pods.append(pod)
        for (name, value) in Resources.podRequests(pod) { requested[name, default: 0] += value }
        let nonZero = Resources.podRequests(pod, nonZero: true)
        nonZeroRequested["cpu", default: 0] += nonZero["cpu"] ?? 0
        nonZeroRequested["memory", default: 0] += nonZero["memory"] ?? 0
        for port in Resources.hostPorts(pod) { usedPorts.insert(port) }
    }
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
    /// What pre-filter plugins computed for this cycle, by plugin name.
    public var data: [String: any Sendable] = [:]

    public init(pod: Pod, allNodes: [NodeInfo], nodesWithAffinityPods: [Int]? = nil) {
        self.pod = pod
        self.requests = Resources.podRequests(pod)
        self.nonZeroRequests = Resources.podRequests(pod, nonZero: true)
        self.hostPorts = Resources.hostPorts(pod)
        self.allNodes = allNodes
        self.nodesWithAffinityPods = nodesWithAffinityPods ?? allNodes.indices.filter { allNodes[$0].pods.contains(where: \.hasAffinityTerms) }
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
}

/// A plugin that ranks feasible nodes. Scores are normalized to 0...100 over the feasible
/// nodes before the weighted sum.
public protocol ScorePlugin: Sendable {
    var name: String { get }
    /// Upstream's default weight for this plugin.
    var weight: Int64 { get }
    func score(_ state: CycleState, node: NodeInfo) -> Int64
    /// Rescales raw scores into 0...100 (in place); the default leaves them as they are.
    func normalize(_ scores: inout [Int64])
}

extension ScorePlugin {
    public func normalize(_ scores: inout [Int64]) {}
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

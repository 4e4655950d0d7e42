import KubeAPI
@testable import Scheduler

/// Fluent builders for scheduler test objects (after upstream's testing/wrappers.go).
struct MakeNode {
    var node = Node(metadata: ObjectMeta(name: "n"), spec: NodeSpec(), status: NodeStatus(allocatable: ["cpu": "4", "memory": "8Gi", "pods": "110"]))
    init(_ name: String) { node.metadata.name = name }
    func label(_ k: String, _ v: String) -> MakeNode { var c = self; c.node.metadata.labels = (c.node.metadata.labels ?? [:]).merging([k: v]) { $1 }; return c }
    func capacity(cpu: String, memory: String, pods: String = "110") -> MakeNode { var c = self; c.node.status?.allocatable = ["cpu": Quantity(stringLiteral: cpu), "memory": Quantity(stringLiteral: memory), "pods": Quantity(stringLiteral: pods)]; return c }
    func taint(_ k: String, _ v: String = "", _ effect: String) -> MakeNode {
        var c = self
        let taints = c.node.spec?.taints ?? []
        c.node.spec?.taints = taints + [Taint(key: k, value: v, effect: effect)]
        return c
    }
    func unschedulable() -> MakeNode { var c = self; c.node.spec?.unschedulable = true; return c }
    func image(_ name: String, size: Int64) -> MakeNode {
        var c = self
        let images = c.node.status?.images ?? []
        c.node.status?.images = images + [ContainerImage(names: [name], sizeBytes: size)]
        return c
    }
    var obj: Node { node }
}

struct MakePod {
    var pod = Pod(metadata: ObjectMeta(name: "p", namespace: "default"), spec: PodSpec(containers: [Container(name: "c", image: "nodekit/busybox")]))
    init(_ name: String) { pod.metadata.name = name }
    func label(_ k: String, _ v: String) -> MakePod { var c = self; c.pod.metadata.labels = (c.pod.metadata.labels ?? [:]).merging([k: v]) { $1 }; return c }
    func req(cpu: String? = nil, memory: String? = nil) -> MakePod {
        var c = self
        var r: ResourceList = [:]
        if let cpu { r["cpu"] = Quantity(stringLiteral: cpu) }
        if let memory { r["memory"] = Quantity(stringLiteral: memory) }
        c.pod.spec.containers[0].resources = ResourceRequirements(requests: r)
        return c
    }
    func node(_ n: String) -> MakePod { var c = self; c.pod.spec.nodeName = n; return c }
    func nodeSelector(_ s: [String: String]) -> MakePod { var c = self; c.pod.spec.nodeSelector = s; return c }
    func toleration(_ t: Toleration) -> MakePod { var c = self; c.pod.spec.tolerations = (c.pod.spec.tolerations ?? []) + [t]; return c }
    func hostPort(_ port: Int32, ip: String? = nil, proto: String = "TCP") -> MakePod {
        var c = self
        var p = ContainerPort(containerPort: port, protocol: proto, hostPort: port)
        p.hostIP = ip
        c.pod.spec.containers[0].ports = (c.pod.spec.containers[0].ports ?? []) + [p]
        return c
    }
    func image(_ i: String) -> MakePod { var c = self; c.pod.spec.containers[0].image = i; return c }
    func priority(_ p: Int32) -> MakePod { var c = self; c.pod.spec.priority = p; return c }
    func affinity(_ a: Affinity) -> MakePod { var c = self; c.pod.spec.affinity = a; return c }
    func spread(_ maxSkew: Int32, key: String, hard: Bool = true, selector: [String: String]) -> MakePod {
        var c = self
        c.pod.spec.topologySpreadConstraints = (c.pod.spec.topologySpreadConstraints ?? []) + [TopologySpreadConstraint(maxSkew: maxSkew, topologyKey: key, whenUnsatisfiable: hard ? "DoNotSchedule" : "ScheduleAnyway", labelSelector: LabelSelector(matchLabels: selector))]
        return c
    }
    var obj: Pod { pod }
}

/// Runs one filter plugin for `pod` on `node` in a snapshot of `nodes` with `pods` bound.
func runFilter(_ plugin: some FilterPlugin, pod: Pod, node: String, nodes: [Node], pods: [Pod] = [], preFilter: (any PreFilterPlugin)? = nil) -> PluginStatus {
    let snapshot = Snapshot(nodes: nodes, pods: pods)
    var state = CycleState(pod: pod, allNodes: snapshot.nodes, nodesWithAffinityPods: snapshot.nodesWithAffinityPods)
    if let preFilter, case .success(let d?) = preFilter.preFilter(state) { state.data[preFilter.name] = d }
    return plugin.filter(state, node: snapshot.node(named: node)!)
}

/// Runs one score plugin over every node, normalized, by node name.
func runScore(_ plugin: some ScorePlugin, pod: Pod, nodes: [Node], pods: [Pod] = [], preFilter: (any PreFilterPlugin)? = nil) -> [String: Int64] {
    let snapshot = Snapshot(nodes: nodes, pods: pods)
    var state = CycleState(pod: pod, allNodes: snapshot.nodes, nodesWithAffinityPods: snapshot.nodesWithAffinityPods)
    if let preFilter, case .success(let d?) = preFilter.preFilter(state) { state.data[preFilter.name] = d }
    var scores = snapshot.nodes.map { plugin.score(state, node: $0) }
    plugin.normalize(&scores)
    return Dictionary(uniqueKeysWithValues: zip(snapshot.nodes.map(\.name), scores))
}

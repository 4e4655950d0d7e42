import KubeAPI
import Testing
@testable import Scheduler

struct FilterCase: CustomTestStringConvertible, Sendable {
    var name: String
    var pod: Pod
    var nodes: [Node]
    var pods: [Pod] = []
    var node = "n1"
    var want: [String]  // reasons; empty means success
    var testDescription: String { name }
}

struct NodeUnschedulableTests {
    static let cases: [FilterCase] = [
        FilterCase(name: "schedulable node", pod: MakePod("p").obj, nodes: [MakeNode("n1").obj], want: []),
        FilterCase(name: "cordoned node", pod: MakePod("p").obj, nodes: [MakeNode("n1").unschedulable().obj], want: ["node(s) were unschedulable"]),
        FilterCase(name: "cordoned node, tolerated", pod: MakePod("p").toleration(Toleration(key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule")).obj,
                   nodes: [MakeNode("n1").unschedulable().obj], want: []),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        #expect(runFilter(NodeUnschedulable(), pod: c.pod, node: c.node, nodes: c.nodes).reasons == c.want)
    }
}

struct NodeNameTests {
    static let cases: [FilterCase] = [
        FilterCase(name: "no nodeName", pod: MakePod("p").obj, nodes: [MakeNode("n1").obj], want: []),
        FilterCase(name: "matching nodeName", pod: MakePod("p").node("n1").obj, nodes: [MakeNode("n1").obj], want: []),
        FilterCase(name: "other nodeName", pod: MakePod("p").node("n2").obj, nodes: [MakeNode("n1").obj], want: ["node(s) didn't match the requested node name"]),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        #expect(runFilter(NodeName(), pod: c.pod, node: c.node, nodes: c.nodes).reasons == c.want)
    }
}

struct TaintTolerationFilterTests {
    static let cases: [FilterCase] = [
        FilterCase(name: "no taints", pod: MakePod("p").obj, nodes: [MakeNode("n1").obj], want: []),
        FilterCase(name: "NoSchedule untolerated", pod: MakePod("p").obj, nodes: [MakeNode("n1").taint("dedicated", "gpu", "NoSchedule").obj],
                   want: ["node(s) had untolerated taint {dedicated: gpu}"]),
        FilterCase(name: "NoExecute untolerated", pod: MakePod("p").obj, nodes: [MakeNode("n1").taint("node.kubernetes.io/not-ready", "", "NoExecute").obj],
                   want: ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]),
        FilterCase(name: "PreferNoSchedule does not filter", pod: MakePod("p").obj, nodes: [MakeNode("n1").taint("a", "b", "PreferNoSchedule").obj], want: []),
        FilterCase(name: "Equal toleration", pod: MakePod("p").toleration(Toleration(key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule")).obj,
                   nodes: [MakeNode("n1").taint("dedicated", "gpu", "NoSchedule").obj], want: []),
        FilterCase(name: "Equal toleration, other value", pod: MakePod("p").toleration(Toleration(key: "dedicated", value: "db", effect: "NoSchedule")).obj,
                   nodes: [MakeNode("n1").taint("dedicated", "gpu", "NoSchedule").obj], want: ["node(s) had untolerated taint {dedicated: gpu}"]),
        FilterCase(name: "Exists with empty key tolerates everything", pod: MakePod("p").toleration(Toleration(operator: "Exists")).obj,
                   nodes: [MakeNode("n1").taint("x", "y", "NoExecute").obj], want: []),
        FilterCase(name: "toleration for another effect", pod: MakePod("p").toleration(Toleration(key: "x", operator: "Exists", effect: "NoExecute")).obj,
                   nodes: [MakeNode("n1").taint("x", "y", "NoSchedule").obj], want: ["node(s) had untolerated taint {x: y}"]),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        #expect(runFilter(TaintToleration(), pod: c.pod, node: c.node, nodes: c.nodes).reasons == c.want)
    }
}

struct NodeAffinityFilterTests {
    static let zoneA = NodeSelectorRequirement(key: "zone", operator: "In", values: ["a"])
    static let cases: [FilterCase] = [
        FilterCase(name: "nodeSelector matches", pod: MakePod("p").nodeSelector(["disk": "ssd"]).obj, nodes: [MakeNode("n1").label("disk", "ssd").obj], want: []),
        FilterCase(name: "nodeSelector does not match", pod: MakePod("p").nodeSelector(["disk": "ssd"]).obj, nodes: [MakeNode("n1").obj],
                   want: ["node(s) didn't match Pod's node affinity/selector"]),
        FilterCase(name: "required In matches", pod: MakePod("p").affinity(Affinity(nodeAffinity: NodeAffinity(required: NodeSelector(nodeSelectorTerms: [NodeSelectorTerm(matchExpressions: [zoneA])])))).obj,
                   nodes: [MakeNode("n1").label("zone", "a").obj], want: []),
        FilterCase(name: "required terms are ORed", pod: MakePod("p").affinity(Affinity(nodeAffinity: NodeAffinity(required: NodeSelector(nodeSelectorTerms: [
            NodeSelectorTerm(matchExpressions: [NodeSelectorRequirement(key: "zone", operator: "In", values: ["b"])]),
            NodeSelectorTerm(matchFields: [NodeSelectorRequirement(key: "metadata.name", operator: "In", values: ["n1"])]),
        ])))).obj, nodes: [MakeNode("n1").label("zone", "a").obj], want: []),
        FilterCase(name: "Gt on a numeric label", pod: MakePod("p").affinity(Affinity(nodeAffinity: NodeAffinity(required: NodeSelector(nodeSelectorTerms: [
            NodeSelectorTerm(matchExpressions: [NodeSelectorRequirement(key: "cores", operator: "Gt", values: ["8"])]),
        ])))).obj, nodes: [MakeNode("n1").label("cores", "4").obj], want: ["node(s) didn't match Pod's node affinity/selector"]),
        FilterCase(name: "empty term matches nothing", pod: MakePod("p").affinity(Affinity(nodeAffinity: NodeAffinity(required: NodeSelector(nodeSelectorTerms: [NodeSelectorTerm()])))).obj,
                   nodes: [MakeNode("n1").obj], want: ["node(s) didn't match Pod's node affinity/selector"]),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        #expect(runFilter(NodeAffinityPlugin(), pod: c.pod, node: c.node, nodes: c.nodes).reasons == c.want)
    }
}

struct NodePortsTests {
    static let cases: [FilterCase] = [
        FilterCase(name: "free port", pod: MakePod("p").hostPort(8080).obj, nodes: [MakeNode("n1").obj], pods: [MakePod("q").hostPort(9090).node("n1").obj], want: []),
        FilterCase(name: "same port taken", pod: MakePod("p").hostPort(8080).obj, nodes: [MakeNode("n1").obj], pods: [MakePod("q").hostPort(8080).node("n1").obj],
                   want: ["node(s) didn't have free ports for the requested pod ports"]),
        FilterCase(name: "same port, other protocol", pod: MakePod("p").hostPort(53, proto: "UDP").obj, nodes: [MakeNode("n1").obj], pods: [MakePod("q").hostPort(53).node("n1").obj], want: []),
        FilterCase(name: "different specific IPs", pod: MakePod("p").hostPort(80, ip: "10.0.0.1").obj, nodes: [MakeNode("n1").obj], pods: [MakePod("q").hostPort(80, ip: "10.0.0.2").node("n1").obj], want: []),
        FilterCase(name: "wildcard conflicts with a specific IP", pod: MakePod("p").hostPort(80).obj, nodes: [MakeNode("n1").obj], pods: [MakePod("q").hostPort(80, ip: "10.0.0.2").node("n1").obj],
                   want: ["node(s) didn't have free ports for the requested pod ports"]),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        #expect(runFilter(NodePorts(), pod: c.pod, node: c.node, nodes: c.nodes, pods: c.pods).reasons == c.want)
    }
}

struct NodeResourcesFitTests {
    static let small = MakeNode("n1").capacity(cpu: "2", memory: "4Gi", pods: "3").obj
    static let cases: [FilterCase] = [
        FilterCase(name: "fits", pod: MakePod("p").req(cpu: "1", memory: "1Gi").obj, nodes: [small], want: []),
        FilterCase(name: "too much cpu", pod: MakePod("p").req(cpu: "1500m").obj, nodes: [small], pods: [MakePod("q").req(cpu: "1").node("n1").obj], want: ["Insufficient cpu"]),
        FilterCase(name: "too much cpu and memory", pod: MakePod("p").req(cpu: "3", memory: "5Gi").obj, nodes: [small], want: ["Insufficient cpu", "Insufficient memory"]),
        FilterCase(name: "too many pods", pod: MakePod("p").obj, nodes: [small], pods: (1...3).map { MakePod("q\($0)").node("n1").obj }, want: ["Too many pods"]),
        FilterCase(name: "best effort always fits resources", pod: MakePod("p").obj, nodes: [small], pods: [MakePod("q").req(cpu: "2", memory: "4Gi").node("n1").obj], want: []),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        #expect(runFilter(NodeResourcesFit(), pod: c.pod, node: c.node, nodes: c.nodes, pods: c.pods).reasons == c.want)
    }
}

struct PodTopologySpreadFilterTests {
    static let nodes = [MakeNode("n1").label("zone", "a").obj, MakeNode("n2").label("zone", "b").obj, MakeNode("n3").obj]
    static let running = [MakePod("a1").label("app", "web").node("n1").obj, MakePod("a2").label("app", "web").node("n1").obj]
    static let cases: [FilterCase] = [
        FilterCase(name: "skew would be 3 in zone a", pod: MakePod("p").label("app", "web").spread(1, key: "zone", selector: ["app": "web"]).obj, nodes: nodes, pods: running, node: "n1",
                   want: ["node(s) didn't match pod topology spread constraints"]),
        FilterCase(name: "zone b is emptier", pod: MakePod("p").label("app", "web").spread(1, key: "zone", selector: ["app": "web"]).obj, nodes: nodes, pods: running, node: "n2", want: []),
        FilterCase(name: "node without the key", pod: MakePod("p").label("app", "web").spread(1, key: "zone", selector: ["app": "web"]).obj, nodes: nodes, pods: running, node: "n3",
                   want: ["node(s) didn't match pod topology spread constraints (missing required label)"]),
        FilterCase(name: "a large maxSkew allows it", pod: MakePod("p").label("app", "web").spread(3, key: "zone", selector: ["app": "web"]).obj, nodes: nodes, pods: running, node: "n1", want: []),
        FilterCase(name: "ScheduleAnyway never filters", pod: MakePod("p").label("app", "web").spread(1, key: "zone", hard: false, selector: ["app": "web"]).obj, nodes: nodes, pods: running, node: "n1", want: []),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        let plugin = PodTopologySpread()
        #expect(runFilter(plugin, pod: c.pod, node: c.node, nodes: c.nodes, pods: c.pods, preFilter: plugin).reasons == c.want)
    }
}

struct InterPodAffinityFilterTests {
    static let nodes = [MakeNode("n1").label("zone", "a").obj, MakeNode("n2").label("zone", "b").obj]
    static let web = LabelSelector(matchLabels: ["app": "web"])
    static let db = MakePod("db").label("app", "db").node("n1").obj
    static let webPod = MakePod("w").label("app", "web").node("n1").obj
    static let antiWeb = MakePod("lonely").label("app", "lonely").node("n2")
        .affinity(Affinity(podAntiAffinity: PodAffinity(required: [PodAffinityTerm(labelSelector: web, topologyKey: "zone")]))).obj
    static let cases: [FilterCase] = [
        FilterCase(name: "affinity to a pod in the zone", pod: MakePod("p").affinity(Affinity(podAffinity: PodAffinity(required: [PodAffinityTerm(labelSelector: LabelSelector(matchLabels: ["app": "db"]), topologyKey: "zone")]))).obj,
                   nodes: nodes, pods: [db], node: "n1", want: []),
        FilterCase(name: "affinity to a pod in another zone", pod: MakePod("p").affinity(Affinity(podAffinity: PodAffinity(required: [PodAffinityTerm(labelSelector: LabelSelector(matchLabels: ["app": "db"]), topologyKey: "zone")]))).obj,
                   nodes: nodes, pods: [db], node: "n2", want: ["node(s) didn't match pod affinity rules"]),
        FilterCase(name: "first pod of a self-affine group", pod: MakePod("p").label("app", "web").affinity(Affinity(podAffinity: PodAffinity(required: [PodAffinityTerm(labelSelector: web, topologyKey: "zone")]))).obj,
                   nodes: nodes, pods: [db], node: "n2", want: []),
        FilterCase(name: "anti-affinity to a pod in the zone", pod: MakePod("p").label("app", "web").affinity(Affinity(podAntiAffinity: PodAffinity(required: [PodAffinityTerm(labelSelector: web, topologyKey: "zone")]))).obj,
                   nodes: nodes, pods: [webPod], node: "n1", want: ["node(s) didn't match pod anti-affinity rules"]),
        FilterCase(name: "existing pod's anti-affinity", pod: MakePod("p").label("app", "web").obj, nodes: nodes, pods: [antiWeb], node: "n2",
                   want: ["node(s) didn't satisfy existing pods anti-affinity rules"]),
        FilterCase(name: "existing pod's anti-affinity, other zone", pod: MakePod("p").label("app", "web").obj, nodes: nodes, pods: [antiWeb], node: "n1", want: []),
    ]
    @Test(arguments: cases) func filter(c: FilterCase) {
        #expect(runFilter(InterPodAffinity(), pod: c.pod, node: c.node, nodes: c.nodes, pods: c.pods).reasons == c.want)
    }
}

import KubeAPI
import Testing
@testable import Scheduler

/// The cycle's skip paths (`skipsFilter`, `skipsScore`, upstream's PreFilter/PreScore Skip):
/// which plugins a pod skips, that a skip is exact (a skipped filter passes every node, a
/// skipped scorer gives every node the same normalized score), and that scheduling with skips
/// places pods exactly as running every plugin does.
struct SchedulerSkipTests {
    static let zoneA = NodeSelectorRequirement(key: "zone", operator: "In", values: ["a"])
    static let web = LabelSelector(matchLabels: ["app": "web"])

    /// A small cluster with something for every plugin to see: zones, taints of each effect,
    /// a cordoned node, an image, a used host port.
    static let nodes: [Node] = [
        MakeNode("n1").label("zone", "a").obj,
        MakeNode("n2").label("zone", "a").taint("soft", "x", "PreferNoSchedule").obj,
        MakeNode("n3").label("zone", "b").image("nginx:1.25", size: 200 * 1024 * 1024).obj,
        MakeNode("n4").label("zone", "b").taint("dedicated", "gpu", "NoSchedule").obj,
        MakeNode("n5").label("zone", "c").capacity(cpu: "1", memory: "1Gi").obj,
        MakeNode("n6").unschedulable().obj,
    ]
    static let running: [Pod] = [
        MakePod("db").label("app", "db").node("n1").hostPort(8080).req(cpu: "500m").obj,
        MakePod("web-0").label("app", "web").node("n3").req(cpu: "1", memory: "1Gi").obj,
    ]
    /// An existing pod whose required anti-affinity selects `app=web` pods in its zone.
    static let antiWeb = MakePod("guard").label("app", "guard").node("n5")
        .affinity(Affinity(podAntiAffinity: PodAffinity(required: [PodAffinityTerm(labelSelector: web, topologyKey: "zone")]))).obj

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var pod: Pod
        var withAffinityPod = false
        /// Plugin names whose filter / score the pod must skip; the others must run.
        var skippedFilters: Set<String>
        var skippedScores: Set<String>
        var testDescription: String { name }
    }

    static let plainFilterSkips: Set<String> = ["NodeName", "NodeAffinity", "NodePorts", "PodTopologySpread", "InterPodAffinity"]
    static let plainScoreSkips: Set<String> = ["NodeAffinity", "ImageLocality", "PodTopologySpread", "InterPodAffinity"]

    static let cases: [Case] = [
        Case(name: "plain pod", pod: MakePod("p").req(cpu: "100m").obj, skippedFilters: plainFilterSkips, skippedScores: plainScoreSkips),
        Case(name: "nodeName", pod: MakePod("p").node("n2").obj,
             skippedFilters: plainFilterSkips.subtracting(["NodeName"]), skippedScores: plainScoreSkips),
        Case(name: "nodeSelector", pod: MakePod("p").nodeSelector(["zone": "b"]).obj,
             skippedFilters: plainFilterSkips.subtracting(["NodeAffinity"]), skippedScores: plainScoreSkips),
        Case(name: "empty nodeSelector", pod: MakePod("p").nodeSelector([:]).obj, skippedFilters: plainFilterSkips, skippedScores: plainScoreSkips),
        Case(name: "required node affinity", pod: MakePod("p").affinity(Affinity(nodeAffinity: NodeAffinity(required: NodeSelector(nodeSelectorTerms: [NodeSelectorTerm(matchExpressions: [zoneA])])))).obj,
             skippedFilters: plainFilterSkips.subtracting(["NodeAffinity"]), skippedScores: plainScoreSkips),
        Case(name: "preferred node affinity only", pod: MakePod("p").affinity(Affinity(nodeAffinity: NodeAffinity(preferred: [PreferredSchedulingTerm(weight: 5, preference: NodeSelectorTerm(matchExpressions: [zoneA]))]))).obj,
             skippedFilters: plainFilterSkips, skippedScores: plainScoreSkips.subtracting(["NodeAffinity"])),
        Case(name: "host port", pod: MakePod("p").hostPort(8080).obj,
             skippedFilters: plainFilterSkips.subtracting(["NodePorts"]), skippedScores: plainScoreSkips),
        Case(name: "hard spread", pod: MakePod("p").label("app", "web").spread(1, key: "zone", selector: ["app": "web"]).obj,
             skippedFilters: plainFilterSkips.subtracting(["PodTopologySpread"]), skippedScores: plainScoreSkips),
        Case(name: "soft spread", pod: MakePod("p").label("app", "web").spread(1, key: "zone", hard: false, selector: ["app": "web"]).obj,
             skippedFilters: plainFilterSkips, skippedScores: plainScoreSkips.subtracting(["PodTopologySpread"])),
        Case(name: "image on a node", pod: MakePod("p").image("nginx:1.25").obj,
             skippedFilters: plainFilterSkips, skippedScores: plainScoreSkips.subtracting(["ImageLocality"])),
        Case(name: "required pod anti-affinity", pod: MakePod("p").label("app", "web").affinity(Affinity(podAntiAffinity: PodAffinity(required: [PodAffinityTerm(labelSelector: web, topologyKey: "zone")]))).obj,
             skippedFilters: plainFilterSkips.subtracting(["InterPodAffinity"]), skippedScores: plainScoreSkips),
        Case(name: "preferred pod affinity", pod: MakePod("p").affinity(Affinity(podAffinity: PodAffinity(preferred: [WeightedPodAffinityTerm(weight: 10, podAffinityTerm: PodAffinityTerm(labelSelector: LabelSelector(matchLabels: ["app": "db"]), topologyKey: "zone"))]))).obj,
             skippedFilters: plainFilterSkips, skippedScores: plainScoreSkips.subtracting(["InterPodAffinity"])),
        Case(name: "pod too big for n5", pod: MakePod("p").req(cpu: "2", memory: "2Gi").obj, skippedFilters: plainFilterSkips, skippedScores: plainScoreSkips),
        Case(name: "plain pod, a running pod has anti-affinity", pod: MakePod("p").label("app", "web").obj, withAffinityPod: true,
             skippedFilters: plainFilterSkips.subtracting(["InterPodAffinity"]), skippedScores: plainScoreSkips.subtracting(["InterPodAffinity"])),
    ]

    static func cycle(_ c: Case) -> (Snapshot, CycleState) {
        let snapshot = Snapshot(nodes: nodes, pods: running + (c.withAffinityPod ? [antiWeb] : []))
        var state = CycleState(pod: c.pod, allNodes: snapshot.nodes, nodesWithAffinityPods: snapshot.nodesWithAffinityPods, imageNodeCounts: snapshot.imageNodeCounts)
        for p in Scheduler().preFilters { if case .success(let d?) = p.preFilter(state) { state.data[p.name] = d } }
        return (snapshot, state)
    }

    @Test(arguments: cases) func skipsWhatThePodDoesNotUse(c: Case) {
        let (_, state) = Self.cycle(c)
        let scheduler = Scheduler()
        #expect(Set(scheduler.filters.filter { $0.skipsFilter(state) }.map(\.name)) == c.skippedFilters)
        #expect(Set(scheduler.scorers.filter { $0.skipsScore(state) }.map(\.name)) == c.skippedScores)
    }

    @Test(arguments: cases) func skipsAreExact(c: Case) {
        let (snapshot, state) = Self.cycle(c)
        let all = Array(snapshot.nodes.indices)
        for f in Scheduler().filters where f.skipsFilter(state) {
            for node in snapshot.nodes {
                #expect(f.filter(state, node: node).isSuccess, "\(f.name) skipped but fails \(node.name)")
            }
        }
        for f in Scheduler().filters {
            for node in snapshot.nodes {
                guard let verdict = f.filter(state, facts: node.facts) else { continue }
                #expect(verdict == f.filter(state, node: node), "\(f.name) on \(node.name): facts say \(verdict)")
            }
        }
        for s in Scheduler().scorers {
            var batch: [Int64] = []
            s.score(state, nodes: snapshot.nodes, indices: all, into: &batch)
            #expect(batch == snapshot.nodes.map { s.score(state, node: $0) }, "\(s.name): batch and per-node scores differ")
            guard s.skipsScore(state) else { continue }
            s.normalize(&batch)
            #expect(Set(batch).count == 1, "\(s.name) skipped but scores \(batch)")
        }
    }

    /// The filters that read only plain per-node facts decide from them for a plain pod, on
    /// every node without taints or a cordon, and say "too little room" from them too.
    @Test func factsDecideForPlainPods() {
        let plain = Self.cases[0], big = Self.cases.first { $0.name == "pod too big for n5" }!
        let (snapshot, state) = Self.cycle(plain)
        let fit = NodeResourcesFit(), unschedulable = NodeUnschedulable(), taints = TaintToleration()
        for node in snapshot.nodes {
            #expect(fit.filter(state, facts: node.facts) == .success)
            #expect((unschedulable.filter(state, facts: node.facts) == nil) == (node.name == "n6"))
            #expect((taints.filter(state, facts: node.facts) == nil) == (node.name == "n4"))
        }
        let (bigSnapshot, bigState) = Self.cycle(big)
        #expect(fit.filter(bigState, facts: bigSnapshot.node(named: "n5")!.facts)?.reasons == ["Insufficient cpu", "Insufficient memory"])
    }

    /// Runs a plugin without its skip and facts verdicts (the protocol's defaults), as before
    /// either existed.
    struct NoSkipFilter: FilterPlugin {
        let base: any FilterPlugin
        var name: String { base.name }
        func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus { base.filter(state, node: node) }
    }

    struct NoSkipScore: ScorePlugin {
        let base: any ScorePlugin
        var name: String { base.name }
        var weight: Int64 { base.weight }
        func score(_ state: CycleState, node: NodeInfo) -> Int64 { base.score(state, node: node) }
        func normalize(_ scores: inout [Int64]) { base.normalize(&scores) }
    }

    @Test func placementsMatchRunningEveryPlugin() {
        let plain = Scheduler()
        var skipping = plain
        var everyPlugin = Scheduler(preFilters: plain.preFilters, filters: plain.filters.map { NoSkipFilter(base: $0) }, scorers: plain.scorers.map { NoSkipScore(base: $0) })
        // 150 nodes, so that the cycle stops at numFeasibleNodesToFind and rotates its start.
        let nodes = (0..<150).map { i in
            var n = MakeNode("n\(i)").label("zone", "z\(i % 5)").capacity(cpu: "\(2 + i % 3)", memory: "\(4 + i % 4)Gi")
            if i % 7 == 0 { n = n.taint("soft", "x", "PreferNoSchedule") }
            if i % 11 == 0 { n = n.taint("dedicated", "gpu", "NoSchedule") }
            if i % 13 == 0 { n = n.image("nginx:1.25", size: 300 * 1024 * 1024) }
            return n.obj
        }
        var a = Snapshot(nodes: nodes), b = a
        var rngA = TieBreakRandom(seed: 42), rngB = TieBreakRandom(seed: 42)
        for k in 0..<300 {
            var pod: Pod
            switch k % 6 {
            case 0: pod = MakePod("web-\(k)").label("app", "web").req(cpu: "100m", memory: "128Mi").obj
            case 1: pod = MakePod("img-\(k)").image("nginx:1.25").req(cpu: "200m").obj
            case 2: pod = MakePod("sel-\(k)").nodeSelector(["zone": "z\(k % 5)"]).obj
            case 3: pod = MakePod("spread-\(k)").label("app", "web").spread(3, key: "zone", hard: false, selector: ["app": "web"]).obj
            case 4: pod = MakePod("port-\(k)").hostPort(Int32(9000 + k % 4)).obj
            default: pod = MakePod("big-\(k)").req(cpu: "1500m", memory: "3Gi").obj
            }
            let left = skipping.schedule(pod, snapshot: a, using: &rngA)
            let right = everyPlugin.schedule(pod, snapshot: b, using: &rngB)
            #expect(left == right, "pod \(k)")
            guard case .success(let node) = left, left == right else { continue }
            pod.spec.nodeName = node
            a.assume(pod)
            b.assume(pod)
        }
        #expect(skipping.nextStartNodeIndex == everyPlugin.nextStartNodeIndex)
    }
}

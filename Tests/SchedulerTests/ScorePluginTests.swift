import KubeAPI
import Testing
@testable import Scheduler

struct ScorePluginTests {
    @Test func leastAllocatedPrefersTheEmptierNode() {
        let nodes = [MakeNode("busy").capacity(cpu: "4", memory: "8Gi").obj, MakeNode("idle").capacity(cpu: "4", memory: "8Gi").obj]
        let pods = [MakePod("q").req(cpu: "3", memory: "6Gi").node("busy").obj]
        let s = runScore(NodeResourcesFit(), pod: MakePod("p").req(cpu: "1", memory: "2Gi").obj, nodes: nodes, pods: pods)
        // busy: cpu (4-4)/4 = 0, memory (8-8)/8 = 0 → 0; idle: cpu 75, memory 75 → 75.
        #expect(s == ["busy": 0, "idle": 75])
    }

    @Test func balancedAllocationPenalizesSkew() {
        let nodes = [MakeNode("n1").capacity(cpu: "4", memory: "8Gi").obj]
        let balanced = runScore(BalancedAllocation(), pod: MakePod("p").req(cpu: "2", memory: "4Gi").obj, nodes: nodes)
        let skewed = runScore(BalancedAllocation(), pod: MakePod("p").req(cpu: "4", memory: "0").obj, nodes: nodes)
        #expect(balanced["n1"] == 100)
        // cpu fraction 1.0; an explicit memory request of 0 is not replaced by the default: std 0.5.
        #expect(skewed["n1"] == 50)
    }

    @Test func taintTolerationScoresPreferNoSchedule() {
        let nodes = [MakeNode("clean").obj, MakeNode("one").taint("a", "", "PreferNoSchedule").obj,
                     MakeNode("two").taint("a", "", "PreferNoSchedule").taint("b", "", "PreferNoSchedule").obj]
        #expect(runScore(TaintToleration(), pod: MakePod("p").obj, nodes: nodes) == ["clean": 100, "one": 50, "two": 0])
        let tolerant = MakePod("p").toleration(Toleration(key: "a", operator: "Exists")).obj
        #expect(runScore(TaintToleration(), pod: tolerant, nodes: nodes) == ["clean": 100, "one": 100, "two": 0])
    }

    @Test func nodeAffinitySumsPreferredWeights() {
        let pod = MakePod("p").affinity(Affinity(nodeAffinity: NodeAffinity(preferred: [
            PreferredSchedulingTerm(weight: 80, preference: NodeSelectorTerm(matchExpressions: [NodeSelectorRequirement(key: "disk", operator: "In", values: ["ssd"])])),
            PreferredSchedulingTerm(weight: 20, preference: NodeSelectorTerm(matchExpressions: [NodeSelectorRequirement(key: "zone", operator: "Exists")])),
        ]))).obj
        let nodes = [MakeNode("both").label("disk", "ssd").label("zone", "a").obj, MakeNode("ssd").label("disk", "ssd").obj, MakeNode("none").obj]
        #expect(runScore(NodeAffinityPlugin(), pod: pod, nodes: nodes) == ["both": 100, "ssd": 80, "none": 0])
    }

    @Test func imageLocalityPrefersNodesWithLargeImages() {
        let mb: Int64 = 1024 * 1024
        let nodes = [MakeNode("has").image("docker.io/library/nginx:latest", size: 500 * mb).obj, MakeNode("lacks").obj]
        let s = runScore(ImageLocality(), pod: MakePod("p").image("nginx").obj, nodes: nodes, preFilter: ImageLocality())
        // 500 MiB × spread 1/2 = 250 MiB; (250 − 23) / (1000 − 23) × 100 = 23.
        #expect(s == ["has": 23, "lacks": 0])
    }

    @Test(arguments: [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("nodekit/busybox", "docker.io/nodekit/busybox:latest"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
    ])
    func imageNames(name: String, normalized: String) {
        #expect(ImageLocality.normalize(name) == normalized)
    }

    @Test func topologySpreadScoresEmptierDomainsHigher() {
        let nodes = [MakeNode("n1").label("zone", "a").obj, MakeNode("n2").label("zone", "b").obj]
        let pods = [MakePod("a1").label("app", "web").node("n1").obj, MakePod("a2").label("app", "web").node("n1").obj]
        let plugin = PodTopologySpread()
        let s = runScore(plugin, pod: MakePod("p").label("app", "web").spread(1, key: "zone", hard: false, selector: ["app": "web"]).obj, nodes: nodes, pods: pods, preFilter: plugin)
        #expect(s["n2"]! == 100)
        #expect(s["n1"]! < s["n2"]!)
    }

    @Test func interPodAffinityScoresPreferredTerms() {
        let nodes = [MakeNode("n1").label("zone", "a").obj, MakeNode("n2").label("zone", "b").obj]
        let pods = [MakePod("cache").label("app", "cache").node("n1").obj]
        let near = MakePod("p").affinity(Affinity(podAffinity: PodAffinity(preferred: [
            WeightedPodAffinityTerm(weight: 50, podAffinityTerm: PodAffinityTerm(labelSelector: LabelSelector(matchLabels: ["app": "cache"]), topologyKey: "zone")),
        ]))).obj
        #expect(runScore(InterPodAffinity(), pod: near, nodes: nodes, pods: pods) == ["n1": 100, "n2": 0])
        let far = MakePod("p").affinity(Affinity(podAntiAffinity: PodAffinity(preferred: [
            WeightedPodAffinityTerm(weight: 50, podAffinityTerm: PodAffinityTerm(labelSelector: LabelSelector(matchLabels: ["app": "cache"]), topologyKey: "zone")),
        ]))).obj
        #expect(runScore(InterPodAffinity(), pod: far, nodes: nodes, pods: pods) == ["n1": 0, "n2": 100])
    }
}

struct SchedulerTests {
    @Test func unschedulableMessageHasUpstreamShape() {
        var scheduler = Scheduler()
        let nodes = [MakeNode("n1").capacity(cpu: "1", memory: "1Gi").obj,
                     MakeNode("n2").taint("dedicated", "gpu", "NoSchedule").obj,
                     MakeNode("n3").taint("dedicated", "gpu", "NoSchedule").obj]
        var rng = SystemRandomNumberGenerator()
        let result = scheduler.schedule(MakePod("p").req(cpu: "2").obj, snapshot: Snapshot(nodes: nodes), using: &rng)
        guard case .failure(let error) = result else { Issue.record("scheduled: \(result)"); return }
        #expect(error.description == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}.")
    }

    @Test func picksTheBestNodeAndSpreadsReplicas() {
        var scheduler = Scheduler()
        var snapshot = Snapshot(nodes: (1...3).map { MakeNode("n\($0)").capacity(cpu: "4", memory: "8Gi").obj })
        var rng = SystemRandomNumberGenerator()
        var placed: [String: Int] = [:]
        for i in 0..<6 {
            var pod = MakePod("web-\(i)").label("app", "web").req(cpu: "500m", memory: "512Mi").obj
            guard case .success(let node) = scheduler.schedule(pod, snapshot: snapshot, using: &rng) else { Issue.record("no node"); return }
            pod.spec.nodeName = node
            snapshot.assume(pod)
            placed[node, default: 0] += 1
        }
        // LeastAllocated and BalancedAllocation keep equal nodes evenly loaded.
        #expect(placed == ["n1": 2, "n2": 2, "n3": 2])
    }

    @Test(arguments: [(50, 50), (99, 99), (100, 100), (1000, 420), (5000, 500), (6000, 300)])
    func feasibleNodesToFind(total: Int, want: Int) {
        #expect(Scheduler.numFeasibleNodesToFind(total) == want)
    }
}

struct SchedulingQueueTests {
    @Test func popsByPriorityThenArrival() {
        var q = SchedulingQueue()
        let t0 = ContinuousClock.now
        q.add(MakePod("low").obj, now: t0)
        q.add(MakePod("high").priority(100).obj, now: t0 + .milliseconds(1))
        q.add(MakePod("low2").obj, now: t0 + .milliseconds(2))
        #expect(q.pop(now: t0)?.metadata.name == "high")
        #expect(q.pop(now: t0)?.metadata.name == "low")
        #expect(q.pop(now: t0)?.metadata.name == "low2")
        #expect(q.pop(now: t0) == nil)
    }

    @Test func unschedulablePodsWaitForAClusterChangeThenBackOff() {
        var q = SchedulingQueue()
        let t0 = ContinuousClock.now
        q.add(MakePod("p").obj, now: t0)
        let pod = q.pop(now: t0)!
        q.markUnschedulable(pod, now: t0)
        #expect(q.pop(now: t0 + .seconds(60)) == nil)
        #expect(q.unschedulableCount == 1)
        q.moveAllToActiveOrBackoff(now: t0 + .seconds(60))
        #expect(q.backoffCount == 1)
        #expect(q.pop(now: t0 + .milliseconds(60_500)) == nil)  // 1 s backoff after one attempt
        #expect(q.pop(now: t0 + .seconds(61))?.metadata.name == "p")
    }

    @Test func unschedulableTimeoutRetriesWithoutEvents() {
        var q = SchedulingQueue()
        let t0 = ContinuousClock.now
        q.add(MakePod("p").obj, now: t0)
        q.markUnschedulable(q.pop(now: t0)!, now: t0)
        #expect(q.pop(now: t0 + .seconds(299)) == nil)
        #expect(q.pop(now: t0 + .seconds(300))?.metadata.name == "p")
    }

    @Test(arguments: [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)])
    func backoffDoublesToTenSeconds(attempts: Int, seconds: Int) {
        #expect(SchedulingQueue.backoffDuration(attempts: attempts) == .seconds(seconds))
    }
}

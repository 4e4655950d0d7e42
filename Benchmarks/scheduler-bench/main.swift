// scheduler-bench: the scheduling algorithm's throughput on synthetic clusters.
//
// It measures the algorithm alone (queue pop, filter, score, select, assume) in one process,
// with no API server, binding or informers: the ceiling that `nodekit server`'s scheduler loop
// can reach. Upstream's scheduler_perf reference for 5,000 nodes is 680-810 pods/s
// (SchedulingBasic); those figures include the API round trips this benchmark leaves out.
//
//   swift run -c release scheduler-bench [--quick]
import Foundation
import KubeAPI
import Scheduler

struct Case {
    var nodes: Int
    var pods: Int
    var label: String
    var makePod: (Int) -> Pod
}

func makeNodes(_ n: Int) -> [Node] {
    (0..<n).map { i in
        Node(metadata: ObjectMeta(name: "node-\(i)", labels: ["kubernetes.io/hostname": "node-\(i)", "topology.kubernetes.io/zone": "zone-\(i % 3)"]),
             spec: NodeSpec(),
             status: NodeStatus(allocatable: ["cpu": "4", "memory": "32Gi", "pods": "110"]))
    }
}

func basicPod(_ i: Int) -> Pod {
    var c = Container(name: "c", image: "nodekit/busybox")
    c.resources = ResourceRequirements(requests: ["cpu": "100m", "memory": "128Mi"])
    return Pod(metadata: ObjectMeta(name: "pod-\(i)", namespace: "bench", labels: ["app": "bench"]), spec: PodSpec(containers: [c]))
}

func spreadPod(_ i: Int) -> Pod {
    var p = basicPod(i)
    p.spec.topologySpreadConstraints = [TopologySpreadConstraint(maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: LabelSelector(matchLabels: ["app": "bench"]))]
    return p
}

func run(_ c: Case) -> (podsPerSecond: Double, p99: Double, failures: Int) {
    var scheduler = Scheduler()
    var snapshot = Snapshot(nodes: makeNodes(c.nodes))
    var queue = SchedulingQueue()
    let clock = ContinuousClock()
    let t0 = clock.now
    for i in 0..<c.pods { queue.add(c.makePod(i), now: t0) }
    var rng = TieBreakRandom()
    var latencies: [Double] = []
    latencies.reserveCapacity(c.pods)
    var failures = 0
    let start = clock.now
    while var pod = queue.pop(now: clock.now) {
        let s = clock.now
        switch scheduler.schedule(pod, snapshot: snapshot, using: &rng) {
        case .success(let node):
            pod.spec.nodeName = node
            snapshot.assume(pod)
            queue.done(pod)
        case .failure:
            failures += 1
            queue.done(pod)
        }
        let d = clock.now - s
        latencies.append(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
    let total = clock.now - start
    let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
    latencies.sort()
    let p99 = latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
    return (Double(c.pods) / seconds, p99 * 1000, failures)
}

let quick = CommandLine.arguments.contains("--quick")
let sizes = quick ? [(1000, 1000)] : [(1000, 3000), (5000, 5000)]
print("scheduler-bench: algorithm only (no API server, no binding); upstream scheduler_perf 5000 nodes: 680-810 pods/s end to end")
print(String(format: "%-10@ %8@ %8@ %12@ %10@ %8@", "workload" as NSString, "nodes" as NSString, "pods" as NSString, "pods/s" as NSString, "p99 ms" as NSString, "failed" as NSString))
for (nodes, pods) in sizes {
    for (label, make) in [("basic", basicPod as (Int) -> Pod), ("spread", spreadPod)] {
        let r = run(Case(nodes: nodes, pods: pods, label: label, makePod: make))
        print(String(format: "%-10@ %8d %8d %12.0f %10.2f %8d", label as NSString, nodes, pods, r.podsPerSecond, r.p99, r.failures))
    }
}

import KubeAPI
@testable import Scheduler
import Testing

/// The snapshot's per-image node counts, which ImageLocality reads instead of visiting every
/// node each cycle, must equal a count over the nodes after any sequence of changes.
@Suite struct SnapshotImageCountTests {
    static let mb: Int64 = 1024 * 1024

    /// What ImageLocality counted before the snapshot kept the counts: a pass over the nodes.
    func counted(_ snapshot: Snapshot) -> [String: Int] {
        var counts: [String: Int] = [:]
        for node in snapshot.nodes { for image in node.imageSizes.keys { counts[image, default: 0] += 1 } }
        return counts
    }

    @Test func countsFollowNodesAddedChangedAndRemoved() {
        var snapshot = Snapshot(nodes: [
            MakeNode("a").image("nginx", size: 100 * Self.mb).image("redis:7", size: 50 * Self.mb).obj,
            MakeNode("b").image("docker.io/library/nginx:latest", size: 100 * Self.mb).obj,
            MakeNode("c").obj,
        ])
        #expect(snapshot.imageNodeCounts == ["docker.io/library/nginx:latest": 2, "docker.io/library/redis:7": 1])
        #expect(snapshot.imageNodeCounts == counted(snapshot))

        snapshot.upsert(MakeNode("a").image("busybox", size: 5 * Self.mb).obj)
        #expect(snapshot.imageNodeCounts == ["docker.io/library/nginx:latest": 1, "docker.io/library/busybox:latest": 1])
        #expect(snapshot.imageNodeCounts == counted(snapshot))

        snapshot.upsert(MakeNode("c").image("nginx", size: 100 * Self.mb).obj)
        snapshot.remove(node: "b")
        snapshot.remove(node: "missing")
        #expect(snapshot.imageNodeCounts == ["docker.io/library/nginx:latest": 1, "docker.io/library/busybox:latest": 1])
        #expect(snapshot.imageNodeCounts == counted(snapshot))

        snapshot.remove(node: "a")
        snapshot.remove(node: "c")
        #expect(snapshot.imageNodeCounts.isEmpty)
    }

    /// Scores with the kept counts equal scores with counts taken over the nodes.
    @Test func imageLocalityScoresTheSameWithKeptCounts() {
        let nodes = (0..<6).map { i in
            var n = MakeNode("n\(i)")
            if i % 2 == 0 { n = n.image("nginx", size: Int64(100 + 100 * i) * Self.mb) }
            if i % 3 == 0 { n = n.image("redis", size: 300 * Self.mb) }
            return n.obj
        }
        let snapshot = Snapshot(nodes: nodes)
        var pod = MakePod("p").image("nginx").obj
        pod.spec.containers.append(Container(name: "d", image: "redis"))
        let plugin = ImageLocality()
        func scores(_ state: CycleState) -> [Int64] {
            var s = state
            if case .success(let d?) = plugin.preFilter(s) { s.data[plugin.name] = d }
            return snapshot.nodes.map { plugin.score(s, node: $0) }
        }
        let kept = scores(CycleState(pod: pod, allNodes: snapshot.nodes, imageNodeCounts: snapshot.imageNodeCounts))
        let visited = scores(CycleState(pod: pod, allNodes: snapshot.nodes))
        #expect(kept == visited)
        #expect(Set(kept).count > 1)
    }
}

import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct NodeLifecycleTests {
    func readyNode(_ c: Cluster) -> Node {
        var node = makeNode("node-1")
        var ready = NodeCondition(type: "Ready", status: "True", reason: "KubeletReady")
        ready.lastHeartbeatTime = c.clock.now().kubeTimestamp
        node.status?.conditions = [ready]
        return node
    }

    func lease(_ c: Cluster) -> Lease {
        Lease(metadata: ObjectMeta(name: "node-1", namespace: "kube-node-lease"), spec: LeaseSpec(holderIdentity: "node-1", leaseDurationSeconds: 40, renewTime: c.clock.now().kubeTimestamp))
    }

    func boundPod(_ name: String, tolerations: [Toleration]? = nil) -> Pod {
        var p = makePod(name, node: "node-1", phase: "Running", ready: true)
        p.spec.tolerations = tolerations
        return p
    }

    @Test func silentNodeBecomesUnknownTaintedAndItsPodsAreEvictedOnTime() async throws {
        let c = Cluster()
        _ = try await c.api.create(readyNode(c))
        _ = try await c.api.create(lease(c))
        _ = try await c.api.create(boundPod("default-toleration"))
        _ = try await c.api.create(boundPod("short", tolerations: [Toleration(key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 10)]))
        _ = try await c.api.create(boundPod("forever", tolerations: [Toleration(operator: "Exists")]))
        let controller = NodeLifecycleController(client: c.api, clock: c.clock)

        c.clock.advance(by: .seconds(49))
        try await controller.sync(key: "node-1")
        #expect(try await c.api.get(Node.self, namespace: nil, name: "node-1").spec?.taints == nil, "within the grace period (50 s, 1.32's default)")

        c.clock.advance(by: .seconds(2))
        let next = try await controller.sync(key: "node-1")
        let node = try await c.api.get(Node.self, namespace: nil, name: "node-1")
        let ready = try #require(node.status?.conditions?.first { $0.type == "Ready" })
        #expect(ready.status == "Unknown" && ready.reason == "NodeStatusUnknown")
        #expect(node.spec?.taints?.map(\.key) == ["node.kubernetes.io/unreachable"])
        #expect(node.spec?.taints?.first?.effect == "NoExecute")
        #expect(next == c.clock.now().addingTimeInterval(10))

        c.clock.advance(by: .seconds(10))
        try await controller.sync(key: "node-1")
        func alive() -> [String] { c.api.objects(Pod.self, namespace: "default").filter { $0.metadata.deletionTimestamp == nil }.compactMap(\.metadata.name) }
        #expect(alive() == ["default-toleration", "forever"])

        c.clock.advance(by: .seconds(289))
        try await controller.sync(key: "node-1")
        #expect(alive() == ["default-toleration", "forever"], "300 s have not passed")
        c.clock.advance(by: .seconds(2))
        try await controller.sync(key: "node-1")
        #expect(alive() == ["forever"])
    }

    @Test func renewedLeaseKeepsNodeReadyAndReadyNodeLosesTaints() async throws {
        let c = Cluster()
        _ = try await c.api.create(readyNode(c))
        _ = try await c.api.create(lease(c))
        let controller = NodeLifecycleController(client: c.api, clock: c.clock)
        c.clock.advance(by: .seconds(30))
        _ = try await c.api.mergePatch(Lease.self, namespace: "kube-node-lease", name: "node-1", .object(["spec": .object(["renewTime": .string(c.clock.now().kubeTimestamp)])]))
        c.clock.advance(by: .seconds(30))
        try await controller.sync(key: "node-1")
        #expect(try await c.api.get(Node.self, namespace: nil, name: "node-1").status?.conditions?.first?.status == "True")

        let tainted = NodeLifecycleLogic.taints(node: makeNode("n", taints: [Taint(key: "node.kubernetes.io/unreachable", effect: "NoExecute"), Taint(key: "dedicated", value: "x", effect: "NoSchedule")]),
                                                conditions: [NodeCondition(type: "Ready", status: "True")], now: c.clock.now())
        #expect(tainted?.map(\.key) == ["dedicated"])
        let notReady = NodeLifecycleLogic.taints(node: makeNode("n"), conditions: [NodeCondition(type: "Ready", status: "False")], now: c.clock.now())
        #expect(notReady?.map(\.key) == ["node.kubernetes.io/not-ready"])
    }

    @Test(arguments: [(40.0, 39, false), (40.0, 41, true), (120.0, 119, false), (120.0, 121, true)])
    func gracePeriodIsConfigurable(_ c: (grace: Double, silentSeconds: Int64, unknown: Bool)) async throws {
        let cluster = Cluster()
        _ = try await cluster.api.create(readyNode(cluster))
        _ = try await cluster.api.create(lease(cluster))
        let controller = NodeLifecycleController(client: cluster.api, clock: cluster.clock, gracePeriod: c.grace)
        cluster.clock.advance(by: .seconds(c.silentSeconds))
        try await controller.sync(key: "node-1")
        let ready = try await cluster.api.get(Node.self, namespace: nil, name: "node-1").status?.conditions?.first { $0.type == "Ready" }
        #expect(ready?.status == (c.unknown ? "Unknown" : "True"), "grace \(c.grace) s, silent \(c.silentSeconds) s")
    }

    @Test func untoleratedNoExecuteTaintEvictsAtOnce() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let (evict, next) = NodeLifecycleLogic.evictions(taints: [Taint(key: "dedicated", value: "x", effect: "NoExecute")], pods: [boundPod("p")], now: now)
        #expect(evict.map(\.metadata.name) == ["p"])
        #expect(next == nil)
    }
}

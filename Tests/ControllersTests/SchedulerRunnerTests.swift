import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct SchedulerRunnerTests {
    func pending(_ name: String, cpu: String = "1", schedulerName: String? = nil) -> Pod {
        var c = Container(name: "c", image: "nodekit/busybox:1")
        c.resources = ResourceRequirements(requests: ["cpu": Quantity(stringLiteral: cpu)])
        var pod = Pod(metadata: ObjectMeta(name: name, namespace: "default"), spec: PodSpec(containers: [c]))
        pod.spec.schedulerName = schedulerName
        return pod
    }

    @Test func bindsPendingPodsThroughTheBindingSubresource() async throws {
        let c = Cluster()
        let runner = SchedulerRunner(client: c.api)
        for n in ["node-1", "node-2"] { await runner.nodeChanged(try await c.api.create(makeNode(n, cpu: "2"))) }
        let now = ContinuousClock.now
        for i in 1...4 { await runner.podChanged(try await c.api.create(pending("p\(i)")), now: now) }
        var bound: [String: String] = [:]
        while let outcome = await runner.scheduleOne(now: now) {
            guard case .bound(let pod, let node) = outcome else { Issue.record("unexpected \(outcome)"); continue }
            bound[pod] = node
        }
        #expect(bound.count == 4)
        // 2 cpus per node and 1 cpu per pod: LeastAllocated puts two on each.
        #expect(Dictionary(grouping: bound.values, by: { $0 }).mapValues(\.count) == ["node-1": 2, "node-2": 2])
        for pod in c.api.objects(Pod.self, namespace: "default") {
            #expect(pod.spec.nodeName == bound["default/\(pod.metadata.name ?? "")"])
        }
    }

    @Test func unschedulablePodGetsConditionAndIsRetriedWhenANodeArrives() async throws {
        let c = Cluster()
        let runner = SchedulerRunner(client: c.api)
        for n in ["node-1", "node-2", "node-3"] { await runner.nodeChanged(try await c.api.create(makeNode(n, cpu: "2"))) }
        let t0 = ContinuousClock.now
        await runner.podChanged(try await c.api.create(pending("big", cpu: "3")), now: t0)
        let outcome = await runner.scheduleOne(now: t0)
        #expect(outcome == .unschedulable(pod: "default/big", message: "0/3 nodes are available: 3 Insufficient cpu."))
        let pod = try await c.api.get(Pod.self, namespace: "default", name: "big")
        let condition = try #require(pod.status?.conditions?.first { $0.type == "PodScheduled" })
        #expect(condition.status == "False" && condition.reason == "Unschedulable")
        #expect(condition.message == "0/3 nodes are available: 3 Insufficient cpu.")
        #expect(await runner.scheduleOne(now: t0) == nil, "waits for a cluster change")

        await runner.nodeChanged(try await c.api.create(makeNode("node-4", cpu: "8")), now: t0)
        #expect(await runner.scheduleOne(now: t0) == nil, "backoff first")
        #expect(await runner.scheduleOne(now: t0 + .seconds(2)) == .bound(pod: "default/big", node: "node-4"))
    }

    @Test func ignoresOtherSchedulersAndBoundPods() async throws {
        let c = Cluster()
        let runner = SchedulerRunner(client: c.api)
        await runner.nodeChanged(try await c.api.create(makeNode("node-1")))
        await runner.podChanged(try await c.api.create(pending("mine-not", schedulerName: "other")))
        var bound = pending("already")
        bound.spec.nodeName = "node-1"
        await runner.podChanged(try await c.api.create(bound))
        #expect(await runner.scheduleOne() == nil)
        #expect(await runner.pendingCount == 0)
    }

    @Test func bindingConflictForgetsTheAssumedPod() async throws {
        let c = Cluster()
        let runner = SchedulerRunner(client: c.api)
        await runner.nodeChanged(try await c.api.create(makeNode("node-1", cpu: "1")))
        await runner.podChanged(try await c.api.create(pending("a")))
        c.api.failNext(.bind, error: KubeClientError(code: 500, reason: "InternalError", message: "boom"))
        let first = await runner.scheduleOne()
        guard case .bindFailed = first else { Issue.record("expected bindFailed, got \(String(describing: first))"); return }
        // The node's cpu was given back: the retry fits on the 1-cpu node.
        #expect(await runner.scheduleOne(now: .now + .seconds(2)) == .bound(pod: "default/a", node: "node-1"))
    }
}

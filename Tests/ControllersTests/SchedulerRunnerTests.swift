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

    @Test func aPodWhoseBindingIsInFlightHoldsItsNodeAndIsRequeuedWhenTheBindingFails() async throws {
        let c = Cluster()
        let runner = SchedulerRunner(client: c.api)
        await runner.nodeChanged(try await c.api.create(makeNode("node-1", cpu: "1")))
        let t0 = ContinuousClock.now
        await runner.podChanged(try await c.api.create(pending("a")), now: t0)
        await runner.podChanged(try await c.api.create(pending("b")), now: t0)
        let first = try #require(await runner.schedulingCycle(now: t0))
        guard case .bind(let pod, let node) = first else { Issue.record("expected a binding, got \(first)"); return }
        #expect(pod.metadata.name == "a" && node == "node-1")
        #expect(await runner.assumedCount == 1)
        // The binding has not been written, yet the assumed pod already holds the node's cpu.
        guard case .unschedulable(let waiting, _)? = await runner.schedulingCycle(now: t0) else { Issue.record("b should not fit beside assumed a"); return }
        #expect(waiting.metadata.name == "b")

        c.api.failNext(.bind, error: KubeClientError(code: 500, reason: "InternalError", message: "boom"))
        guard case .bindFailed = await runner.bindingCycle(first, now: t0) else { Issue.record("expected bindFailed"); return }
        #expect(await runner.assumedCount == 0)
        #expect(try await c.api.get(Pod.self, namespace: "default", name: "a").spec.nodeName == nil)
        // Forgotten and back through backoff (1 s), with b: one of them gets the node.
        #expect(await runner.schedulingCycle(now: t0) == nil, "backoff first")
        let retry = try #require(await runner.schedulingCycle(now: t0 + .seconds(2)))
        guard case .bind(let again, "node-1") = retry else { Issue.record("expected a binding on node-1, got \(retry)"); return }
        #expect(await runner.bindingCycle(retry, now: t0 + .seconds(2)) == .bound(pod: "default/\(again.metadata.name ?? "")", node: "node-1"))
        #expect(try await c.api.get(Pod.self, namespace: "default", name: again.metadata.name ?? "").spec.nodeName == "node-1")
    }

    @Test func anUnboundUpdateDuringTheBindingIsNotQueuedTwice() async throws {
        let c = Cluster()
        let runner = SchedulerRunner(client: c.api)
        await runner.nodeChanged(try await c.api.create(makeNode("node-1")))
        var a = try await c.api.create(pending("a"))
        await runner.podChanged(a)
        let decision = try #require(await runner.schedulingCycle())
        // The watch brings an unbound version (a label change) before the binding answers.
        a.metadata.labels = ["changed": "yes"]
        await runner.podChanged(a)
        #expect(await runner.pendingCount == 0, "an assumed pod is not queued again")
        #expect(await runner.bindingCycle(decision) == .bound(pod: "default/a", node: "node-1"))
        #expect(await runner.pendingCount == 0)
        #expect(await runner.assumedCount == 0)
        #expect(await runner.schedulingCycle() == nil)
    }

    @Test func anUnboundUpdateDuringAFailedBindingIsScheduledAfterBackoff() async throws {
        let c = Cluster()
        let runner = SchedulerRunner(client: c.api)
        await runner.nodeChanged(try await c.api.create(makeNode("node-1")))
        let t0 = ContinuousClock.now
        var a = try await c.api.create(pending("a"))
        await runner.podChanged(a, now: t0)
        let decision = try #require(await runner.schedulingCycle(now: t0))
        a.metadata.labels = ["changed": "yes"]
        await runner.podChanged(a, now: t0)
        c.api.failNext(.bind, error: KubeClientError(code: 503, reason: "ServiceUnavailable", message: "busy"))
        guard case .bindFailed = await runner.bindingCycle(decision, now: t0) else { Issue.record("expected bindFailed"); return }
        let retry = try #require(await runner.schedulingCycle(now: t0 + .seconds(2)))
        guard case .bind(let pod, _) = retry else { Issue.record("expected a binding, got \(retry)"); return }
        #expect(pod.metadata.labels?["changed"] == "yes", "the newest version is the one retried")
    }
}

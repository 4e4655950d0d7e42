import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct JobTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    func job(completions: Int32?, parallelism: Int32, backoffLimit: Int32? = nil) -> Job {
        var spec = JobSpec(parallelism: parallelism, completions: completions, backoffLimit: backoffLimit, template: template(["app": "batch"]))
        spec.template.spec?.restartPolicy = "Never"
        return Job(metadata: ObjectMeta(name: "work", namespace: "default"), spec: spec)
    }

    func pods(running: Int = 0, succeeded: Int = 0, failed: Int = 0) -> [Pod] {
        (0..<running).map { makePod("r\($0)", node: "n", phase: "Running") }
            + (0..<succeeded).map { makePod("s\($0)", node: "n", phase: "Succeeded") }
            + (0..<failed).map { makePod("f\($0)", node: "n", phase: "Failed") }
    }

    @Test(arguments: [
        // completions, parallelism, running, succeeded, failed, create, delete, condition
        (Int32?(3), Int32(2), 0, 0, 0, 2, 0, nil as String?),
        (3, 2, 2, 2, 0, 0, 1, nil),
        (3, 2, 1, 1, 1, 1, 0, nil),
        (3, 2, 0, 3, 0, 0, 0, "Complete"),
        (nil, 2, 1, 1, 0, 0, 0, nil),
        (nil, 2, 0, 1, 0, 0, 0, "Complete"),
        (3, 2, 1, 0, 7, 0, 1, "Failed"),
    ])
    func plan(_ c: (Int32?, Int32, Int, Int, Int, Int, Int, String?)) {
        let plan = JobLogic.plan(job(completions: c.0, parallelism: c.1), pods: pods(running: c.2, succeeded: c.3, failed: c.4), now: now)
        #expect(plan.create == c.5)
        #expect(plan.delete.count == c.6)
        #expect(plan.status.conditions?.first?.type == c.7)
        #expect(plan.status.succeeded == Int32(c.3) && plan.status.failed == Int32(c.4))
        if c.7 == "Failed" { #expect(plan.status.conditions?.first?.reason == "BackoffLimitExceeded") }
    }

    @Test func syncRunsPodsToCompletion() async throws {
        let c = Cluster()
        _ = try await c.api.create(job(completions: 2, parallelism: 1))
        let controller = JobController(client: c.api, clock: c.clock)
        for _ in 0..<4 {
            try await controller.sync(key: "default/work")
            for pod in c.api.objects(Pod.self, namespace: "default") where pod.status?.phase != "Succeeded" {
                #expect(pod.metadata.labels?["batch.kubernetes.io/job-name"] == "work")
                _ = try await c.api.mergePatch(Pod.self, namespace: "default", name: pod.metadata.name ?? "", .object(["status": .object(["phase": .string("Succeeded")])]), subresource: "status")
            }
        }
        let done = try await c.api.get(Job.self, namespace: "default", name: "work")
        #expect(done.status?.succeeded == 2)
        #expect(done.status?.conditions?.map(\.type) == ["Complete"])
        #expect(done.status?.completionTime != nil)
        #expect(c.api.objects(Pod.self, namespace: "default").count == 2)
    }
}

@Suite struct DaemonSetTests {
    func daemonSet(nodeSelector: [String: String]? = nil) -> DaemonSet {
        var t = template(["app": "agent"])
        t.spec?.nodeSelector = nodeSelector
        return DaemonSet(metadata: ObjectMeta(name: "agent", namespace: "default"), spec: DaemonSetSpec(selector: LabelSelector(matchLabels: ["app": "agent"]), template: t))
    }

    @Test func onePodPerEligibleNode() async throws {
        let c = Cluster()
        _ = try await c.api.create(makeNode("plain", labels: ["role": "worker"]))
        _ = try await c.api.create(makeNode("tainted", labels: ["role": "worker"], taints: [Taint(key: "dedicated", value: "db", effect: "NoSchedule")]))
        _ = try await c.api.create(makeNode("cordoned-ok", labels: ["role": "worker"], taints: [Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")]))
        _ = try await c.api.create(makeNode("control", labels: ["role": "control"]))
        _ = try await c.api.create(daemonSet(nodeSelector: ["role": "worker"]))
        let controller = DaemonSetController(client: c.api, clock: c.clock)
        try await controller.sync(key: "default/agent")
        try await controller.sync(key: "default/agent")
        let pods = c.api.objects(Pod.self, namespace: "default")
        let pinned = pods.compactMap { $0.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms.first?.matchFields?.first?.values?.first }
        #expect(pinned.sorted() == ["cordoned-ok", "plain"])
        let ds = try await c.api.get(DaemonSet.self, namespace: "default", name: "agent")
        #expect(ds.status?.desiredNumberScheduled == 2 && ds.status?.currentNumberScheduled == 2)

        _ = try await c.api.mergePatch(Node.self, namespace: nil, name: "plain", .object(["metadata": .object(["labels": .object(["role": .string("control")])])]))
        try await controller.sync(key: "default/agent")
        #expect(c.api.objects(Pod.self, namespace: "default").count == 1, "the pod on a node that no longer matches is deleted")
    }
}

@Suite struct StatefulSetTests {
    func set(_ replicas: Int32, parallel: Bool = false) -> StatefulSet {
        var spec = StatefulSetSpec(replicas: replicas, selector: LabelSelector(matchLabels: ["app": "db"]), template: template(["app": "db"]), serviceName: "db")
        if parallel { spec.podManagementPolicy = "Parallel" }
        return StatefulSet(metadata: ObjectMeta(name: "db", namespace: "default"), spec: spec)
    }

    @Test func orderedStepsWaitForReadiness() {
        let ready = { (n: String) in makePod(n, node: "x", phase: "Running", ready: true) }
        #expect(StatefulSetLogic.steps(set(3), pods: []) == [.create(ordinal: 0)])
        #expect(StatefulSetLogic.steps(set(3), pods: [makePod("db-0", phase: "Pending")]) == [.wait])
        #expect(StatefulSetLogic.steps(set(3), pods: [ready("db-0")]) == [.create(ordinal: 1)])
        #expect(StatefulSetLogic.steps(set(1), pods: [ready("db-0"), ready("db-1"), ready("db-2")]) == [.delete(name: "db-2")])
        #expect(StatefulSetLogic.steps(set(3, parallel: true), pods: []) == [.create(ordinal: 0), .create(ordinal: 1), .create(ordinal: 2)])
    }

    @Test func syncCreatesStableNamesInOrder() async throws {
        let c = Cluster()
        _ = try await c.api.create(set(3))
        let controller = StatefulSetController(client: c.api)
        try await controller.sync(key: "default/db")
        try await controller.sync(key: "default/db")
        #expect(c.api.objects(Pod.self, namespace: "default").map(\.metadata.name) == ["db-0"], "db-1 waits for db-0")
        for _ in 0..<3 {
            try await c.runPods()
            try await controller.sync(key: "default/db")
        }
        let pods = c.api.objects(Pod.self, namespace: "default")
        #expect(pods.map(\.metadata.name) == ["db-0", "db-1", "db-2"])
        #expect(pods.map(\.spec.hostname) == ["db-0", "db-1", "db-2"])
        #expect(pods.allSatisfy { $0.spec.subdomain == "db" })
        #expect(pods.map { $0.metadata.labels?["apps.kubernetes.io/pod-index"] } == ["0", "1", "2"])
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.250000Z", 1_700_000_000.25),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000.5),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
    ])
    func parses(_ c: (String, Double)) throws {
        let d = try #require(Date(kubeTimestamp: c.0))
        #expect(abs(d.timeIntervalSince1970 - c.1) < 1e-6)
    }

    @Test func rejectsGarbage() {
        #expect(Date(kubeTimestamp: "yesterday") == nil)
        #expect(Date(timeIntervalSince1970: 1_700_000_000).kubeTimestamp == "2023-11-14T22:13:20Z")
    }
}

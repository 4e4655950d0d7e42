import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct ReplicaSetLogicTests {
    /// Upstream's ActivePods order: the first pod of each pair goes before the second.
    @Test(arguments: [
        ("unassigned before assigned", makePod("a", phase: "Pending"), makePod("b", node: "n", phase: "Pending")),
        ("pending before running", makePod("a", node: "n", phase: "Pending"), makePod("b", node: "n", phase: "Running")),
        ("not ready before ready", makePod("a", node: "n", phase: "Running"), makePod("b", node: "n", phase: "Running", ready: true)),
        ("newer before older", makePod("a", node: "n", phase: "Running", created: "2026-01-02T00:00:00Z"), makePod("b", node: "n", phase: "Running", created: "2026-01-01T00:00:00Z")),
    ])
    func deletionRank(_ c: (String, Pod, Pod)) {
        #expect(ReplicaSetLogic.rankForDeletion([c.2, c.1]).map(\.metadata.name) == [c.1.metadata.name, c.2.metadata.name], "\(c.0)")
    }

    @Test func diffCountsOnlyActivePods() {
        let rs = ReplicaSet(metadata: ObjectMeta(name: "rs"), spec: ReplicaSetSpec(replicas: 2, selector: LabelSelector(matchLabels: ["app": "a"])))
        let pods = [makePod("a", phase: "Running"), makePod("b", phase: "Failed"), makePod("c", deleting: true)]
        let diff = ReplicaSetLogic.diff(rs, pods: pods)
        #expect(diff.create == 1 && diff.delete.isEmpty)
        let three = [makePod("a", node: "n", phase: "Running", ready: true), makePod("b", phase: "Pending"), makePod("c", node: "n", phase: "Running")]
        #expect(ReplicaSetLogic.diff(rs, pods: three).delete.map(\.metadata.name) == ["b"])
    }
}

@Suite struct ReplicaSetControllerTests {
    func makeRS(_ replicas: Int32) -> ReplicaSet {
        ReplicaSet(metadata: ObjectMeta(name: "web", namespace: "default"),
                   spec: ReplicaSetSpec(replicas: replicas, selector: LabelSelector(matchLabels: ["app": "web"]), template: template(["app": "web"])))
    }

    @Test func createsOwnedPodsScalesDownAndReportsStatus() async throws {
        let c = Cluster()
        let rs = try await c.api.create(makeRS(3))
        let controller = ReplicaSetController(client: c.api, clock: c.clock)
        try await controller.sync(key: "default/web")
        var pods = c.api.objects(Pod.self, namespace: "default")
        #expect(pods.count == 3)
        for p in pods {
            #expect(p.metadata.ownerReferences == [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "web", uid: rs.metadata.uid ?? "", controller: true, blockOwnerDeletion: true)])
            #expect(p.metadata.labels == ["app": "web"])
            #expect(p.metadata.name?.hasPrefix("web-") == true)
        }
        // A second sync before anything changed creates nothing more.
        try await controller.sync(key: "default/web")
        #expect(c.api.objects(Pod.self, namespace: "default").count == 3)

        try await c.runPods()
        try await controller.sync(key: "default/web")
        let status = try #require(c.api.objects(ReplicaSet.self).first?.status)
        #expect(status.replicas == 3 && status.readyReplicas == 3 && status.availableReplicas == 3 && status.observedGeneration == 1)

        _ = try await c.api.mergePatch(ReplicaSet.self, namespace: "default", name: "web", .object(["spec": .object(["replicas": .number(1)])]))
        try await controller.sync(key: "default/web")
        try await c.runPods()
        pods = c.api.objects(Pod.self, namespace: "default")
        #expect(pods.count == 1)
        try await controller.sync(key: "default/web")
        let after = try #require(c.api.objects(ReplicaSet.self).first)
        #expect(after.status?.replicas == 1)
        #expect(after.status?.observedGeneration == after.metadata.generation)
    }

    @Test func adoptsMatchingOrphanInsteadOfCreating() async throws {
        let c = Cluster()
        _ = try await c.api.create(makePod("orphan", labels: ["app": "web"]))
        _ = try await c.api.create(makePod("other", labels: ["app": "db"]))
        let rs = try await c.api.create(makeRS(1))
        try await ReplicaSetController(client: c.api, clock: c.clock).sync(key: "default/web")
        let pods = c.api.objects(Pod.self, namespace: "default")
        #expect(pods.map(\.metadata.name) == ["orphan", "other"])
        #expect(pods[0].metadata.ownerReferences?.first?.uid == rs.metadata.uid)
        #expect(pods[1].metadata.ownerReferences == nil)
    }

    @Test func missingReplicaSetIsNotAnErrorButABadKeyIs() async throws {
        let c = Cluster()
        try await ReplicaSetController(client: c.api).sync(key: "default/none")
        await #expect(throws: ControllerError.self) { try await ReplicaSetController(client: c.api).sync(key: "no-namespace") }
    }

    @Test func createFailureNamesTheReplicaSet() async throws {
        let c = Cluster()
        _ = try await c.api.create(makeRS(1))
        c.api.failNext(.create, kind: "Pod", error: KubeClientError(code: 500, reason: "InternalError", message: "boom"))
        do {
            try await ReplicaSetController(client: c.api).sync(key: "default/web")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("ReplicaSet default/web"))
            #expect(error.cause?.code == 500)
        }
    }
}

import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct DeploymentLogicTests {
    func deployment(_ replicas: Int32, surge: IntOrString? = nil, unavailable: IntOrString? = nil) -> Deployment {
        Deployment(metadata: ObjectMeta(name: "web", namespace: "default"),
                   spec: DeploymentSpec(replicas: replicas, selector: LabelSelector(matchLabels: ["app": "web"]), template: template(["app": "web"]),
                                        strategy: DeploymentStrategy(type: "RollingUpdate", rollingUpdate: RollingUpdateDeployment(maxUnavailable: unavailable, maxSurge: surge))))
    }

    @Test(arguments: [
        (Int32(10), nil as IntOrString?, nil as IntOrString?, Int32(3), Int32(2)),
        (3, nil, nil, 1, 0),
        (1, .int(0), .int(0), 0, 1),
        (4, .string("50%"), .int(1), 2, 1),
    ])
    func fenceposts(_ c: (Int32, IntOrString?, IntOrString?, Int32, Int32)) throws {
        let (surge, unavailable) = try DeploymentLogic.fenceposts(deployment(c.0, surge: c.1, unavailable: c.2))
        #expect(surge == c.3)
        #expect(unavailable == c.4)
    }

    @Test func badPercentIsAnError() {
        #expect(throws: ControllerError.self) { try DeploymentLogic.fenceposts(deployment(3, surge: .string("lots"))) }
    }

    @Test func templateHashIsStableSafeAndTracksTheTemplate() {
        let a = DeploymentLogic.templateHash(template(["app": "web"]), collisionCount: nil)
        #expect(a == DeploymentLogic.templateHash(template(["app": "web"]), collisionCount: nil))
        #expect(a != DeploymentLogic.templateHash(template(["app": "web"], image: "nodekit/busybox:2"), collisionCount: nil))
        #expect(a != DeploymentLogic.templateHash(template(["app": "web"]), collisionCount: 1))
        #expect(a.allSatisfy { "bcdfghjklmnpqrstvwxz2456789".contains($0) })
        var labelled = template(["app": "web"])
        labelled.metadata?.labels?["pod-template-hash"] = a
        #expect(DeploymentLogic.templateHash(labelled, collisionCount: nil) == a)
    }

    @Test func newReplicaSetGrowsWithinSurge() throws {
        let d = deployment(3)
        let newRS = ReplicaSet(metadata: ObjectMeta(name: "new"), spec: ReplicaSetSpec(replicas: 0, selector: LabelSelector()))
        let old = ReplicaSet(metadata: ObjectMeta(name: "old"), spec: ReplicaSetSpec(replicas: 3, selector: LabelSelector()))
        #expect(try DeploymentLogic.newReplicaSetReplicas(d, newRS: newRS, all: [old, newRS]) == 1)
    }
}

@Suite struct DeploymentControllerTests {
    func deployment(_ replicas: Int32, strategy: DeploymentStrategy? = nil, historyLimit: Int32? = nil) -> Deployment {
        var spec = DeploymentSpec(replicas: replicas, selector: LabelSelector(matchLabels: ["app": "web"]), template: template(["app": "web"]), strategy: strategy)
        spec.revisionHistoryLimit = historyLimit
        return Deployment(metadata: ObjectMeta(name: "web", namespace: "default"), spec: spec)
    }

    /// Syncs the Deployment and its ReplicaSets and runs pods until nothing changes, checking
    /// `invariant` after every step.
    func settle(_ c: Cluster, steps: Int = 40, invariant: (Cluster) throws -> Void = { _ in }) async throws {
        let d = DeploymentController(client: c.api, clock: c.clock)
        let rs = ReplicaSetController(client: c.api, clock: c.clock)
        var last = ""
        for _ in 0..<steps {
            try await d.sync(key: "default/web")
            for r in c.api.objects(ReplicaSet.self, namespace: "default") { try await rs.sync(key: r.key) }
            try invariant(c)
            try await c.runPods()
            try invariant(c)
            let rv = c.api.resourceVersion
            if rv == last { return }
            last = rv
        }
        Issue.record("did not settle in \(steps) steps")
    }

    func activePods(_ c: Cluster) -> [Pod] { c.api.objects(Pod.self, namespace: "default").filter(PodFacts.isActive) }

    @Test func rolloutCreatesReplicaSetAndReportsCompletion() async throws {
        let c = Cluster()
        _ = try await c.api.create(deployment(3))
        try await settle(c)
        let sets = c.api.objects(ReplicaSet.self, namespace: "default")
        #expect(sets.count == 1)
        let rs = try #require(sets.first)
        let hash = try #require(rs.metadata.labels?["pod-template-hash"])
        #expect(rs.metadata.name == "web-\(hash)")
        #expect(rs.spec?.selector.matchLabels == ["app": "web", "pod-template-hash": hash])
        #expect(rs.metadata.annotations?["deployment.kubernetes.io/revision"] == "1")
        #expect(activePods(c).count == 3)
        #expect(activePods(c).allSatisfy { $0.metadata.labels?["pod-template-hash"] == hash })
        let d = try #require(c.api.objects(Deployment.self).first)
        #expect(d.metadata.annotations?["deployment.kubernetes.io/revision"] == "1")
        let status = try #require(d.status)
        #expect(status.replicas == 3 && status.updatedReplicas == 3 && status.availableReplicas == 3 && status.readyReplicas == 3)
        #expect(status.observedGeneration == d.metadata.generation)
        #expect(status.conditions?.first { $0.type == "Available" }?.status == "True")
        let progressing = try #require(status.conditions?.first { $0.type == "Progressing" })
        #expect(progressing.reason == "NewReplicaSetAvailable")
        #expect(progressing.message == "ReplicaSet \"\(rs.metadata.name ?? "")\" has successfully progressed.")
    }

    @Test func rollingUpdateStaysWithinSurgeAndUnavailability() async throws {
        let c = Cluster()
        _ = try await c.api.create(deployment(4, strategy: DeploymentStrategy(type: "RollingUpdate", rollingUpdate: RollingUpdateDeployment(maxUnavailable: .int(1), maxSurge: .int(1)))))
        try await settle(c)
        _ = try await c.api.mergePatch(Deployment.self, namespace: "default", name: "web",
                                       .object(["spec": .object(["template": try JSONValue.encode(template(["app": "web"], image: "nodekit/busybox:2"))])]))
        var maxPods = 0, minReady = Int.max
        try await settle(c) { c in
            let pods = self.activePods(c)
            maxPods = max(maxPods, pods.count)
            minReady = min(minReady, pods.filter(PodFacts.isReady).count)
        }
        #expect(maxPods <= 5, "replicas + maxSurge")
        #expect(minReady >= 3, "replicas - maxUnavailable")
        let sets = c.api.objects(ReplicaSet.self, namespace: "default").sorted { DeploymentLogic.revision($0) < DeploymentLogic.revision($1) }
        #expect(sets.map { $0.spec?.replicas } == [0, 4])
        #expect(sets.map { DeploymentLogic.revision($0) } == [1, 2])
        #expect(activePods(c).allSatisfy { $0.spec.containers[0].image == "nodekit/busybox:2" })
        let d = try #require(c.api.objects(Deployment.self).first)
        #expect(d.metadata.annotations?["deployment.kubernetes.io/revision"] == "2")
        #expect(d.status?.updatedReplicas == 4 && d.status?.replicas == 4)
    }

    @Test func recreateStopsOldPodsBeforeStartingNew() async throws {
        let c = Cluster()
        _ = try await c.api.create(deployment(2, strategy: DeploymentStrategy(type: "Recreate")))
        try await settle(c)
        _ = try await c.api.mergePatch(Deployment.self, namespace: "default", name: "web",
                                       .object(["spec": .object(["template": try JSONValue.encode(template(["app": "web"], image: "nodekit/busybox:2"))])]))
        try await settle(c) { c in
            let images = Set(self.activePods(c).map { $0.spec.containers[0].image ?? "" })
            #expect(images.count <= 1, "old and new pods never run together")
        }
        #expect(activePods(c).count == 2)
        #expect(activePods(c).allSatisfy { $0.spec.containers[0].image == "nodekit/busybox:2" })
    }

    @Test func historyLimitPrunesOldReplicaSets() async throws {
        let c = Cluster()
        _ = try await c.api.create(deployment(1, historyLimit: 1))
        try await settle(c)
        for version in 2...4 {
            _ = try await c.api.mergePatch(Deployment.self, namespace: "default", name: "web",
                                           .object(["spec": .object(["template": try JSONValue.encode(template(["app": "web"], image: "nodekit/busybox:\(version)"))])]))
            try await settle(c)
        }
        let revisions = c.api.objects(ReplicaSet.self, namespace: "default").map(DeploymentLogic.revision).sorted()
        #expect(revisions == [3, 4])
    }

    @Test func pausedDeploymentDoesNotRollOut() async throws {
        let c = Cluster()
        _ = try await c.api.create(deployment(2))
        try await settle(c)
        _ = try await c.api.mergePatch(Deployment.self, namespace: "default", name: "web",
                                       .object(["spec": .object(["paused": .bool(true), "replicas": .number(3),
                                                                 "template": try JSONValue.encode(template(["app": "web"], image: "nodekit/busybox:2"))])]))
        try await settle(c)
        let sets = c.api.objects(ReplicaSet.self, namespace: "default")
        #expect(sets.count == 1)
        #expect(sets.first?.spec?.replicas == 3, "a paused Deployment still scales")
        #expect(activePods(c).allSatisfy { $0.spec.containers[0].image == "nodekit/busybox:1" })
        let progressing = c.api.objects(Deployment.self).first?.status?.conditions?.first { $0.type == "Progressing" }
        #expect(progressing?.status == "Unknown" && progressing?.reason == "DeploymentPaused")
    }
}

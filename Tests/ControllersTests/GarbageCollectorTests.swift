import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct GarbageCollectorTests {
    func owned(_ c: Cluster, by rs: ReplicaSet, _ names: [String], block: Bool = true) async throws {
        for name in names {
            var pod = makePod(name)
            pod.metadata.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: rs.metadata.name ?? "", uid: rs.metadata.uid ?? "", controller: true, blockOwnerDeletion: block)]
            _ = try await c.api.create(pod)
        }
    }

    func makeRS(_ c: Cluster) async throws -> ReplicaSet {
        try await c.api.create(ReplicaSet(metadata: ObjectMeta(name: "rs", namespace: "default"), spec: ReplicaSetSpec(replicas: 0, selector: LabelSelector(matchLabels: ["app": "x"]))))
    }

    @Test func backgroundDeletionRemovesDependentsOfAGoneOwner() async throws {
        let c = Cluster()
        let rs = try await makeRS(c)
        try await owned(c, by: rs, ["a", "b"])
        _ = try await c.api.create(makePod("unowned"))
        let gc = GarbageCollector(client: c.api)
        #expect(try await gc.sync() == 0, "owners present: nothing to do")
        try await c.api.delete(ReplicaSet.self, namespace: "default", name: "rs")
        #expect(try await gc.sync() == 2)
        #expect(c.api.objects(Pod.self, namespace: "default").map(\.metadata.name) == ["unowned"])
    }

    @Test func foregroundDeletionRemovesDependentsThenTheOwner() async throws {
        let c = Cluster()
        let rs = try await makeRS(c)
        try await owned(c, by: rs, ["a", "b"])
        try await c.api.delete(ReplicaSet.self, namespace: "default", name: "rs", options: DeleteOptions(propagationPolicy: "Foreground"))
        let waiting = try await c.api.get(ReplicaSet.self, namespace: "default", name: "rs")
        #expect(waiting.metadata.finalizers == ["foregroundDeletion"])
        let gc = GarbageCollector(client: c.api)
        try await gc.sync()
        #expect(c.api.objects(Pod.self, namespace: "default").isEmpty)
        #expect(!c.api.objects(ReplicaSet.self).isEmpty, "the owner waits for the pass that sees its dependents gone")
        try await gc.sync()
        #expect(c.api.objects(ReplicaSet.self).isEmpty)
    }

    @Test func orphanDeletionKeepsDependentsWithoutTheReference() async throws {
        let c = Cluster()
        let rs = try await makeRS(c)
        try await owned(c, by: rs, ["a"])
        try await c.api.delete(ReplicaSet.self, namespace: "default", name: "rs", options: DeleteOptions(propagationPolicy: "Orphan"))
        let gc = GarbageCollector(client: c.api)
        try await gc.sync()
        try await gc.sync()
        #expect(c.api.objects(ReplicaSet.self).isEmpty)
        let pods = c.api.objects(Pod.self, namespace: "default")
        #expect(pods.map(\.metadata.name) == ["a"])
        #expect(pods.first?.metadata.ownerReferences == nil)
    }

    @Test func referenceToAnUnknownKindIsNeverDangling() {
        var meta = ObjectMeta(name: "p", namespace: "default")
        meta.uid = "p-uid"
        meta.ownerReferences = [OwnerReference(apiVersion: "example.com/v1", kind: "Widget", name: "w", uid: "w-uid")]
        #expect(GarbageCollectorLogic.decide([.init(kind: "Pod", meta: meta)], knownKinds: ["Pod"]).isEmpty)
        #expect(GarbageCollectorLogic.decide([.init(kind: "Pod", meta: meta)], knownKinds: ["Pod", "Widget"]).map(\.1) == [.delete(propagation: "Background")])
    }

    @Test func deadOwnerReferenceIsDroppedWhileAnotherOwnerLives() async throws {
        let c = Cluster()
        let live = try await makeRS(c)
        var pod = makePod("shared")
        pod.metadata.ownerReferences = [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: live.metadata.uid ?? ""),
                                        OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "gone", uid: "gone-uid")]
        _ = try await c.api.create(pod)
        try await GarbageCollector(client: c.api).sync()
        let after = try await c.api.get(Pod.self, namespace: "default", name: "shared")
        #expect(after.metadata.ownerReferences?.map(\.uid) == [live.metadata.uid ?? ""])
    }
}

@Suite struct NamespaceControllerTests {
    @Test func deletingANamespaceEmptiesItThenFinalizes() async throws {
        let c = Cluster()
        var ns = Namespace(metadata: ObjectMeta(name: "team"), spec: NamespaceSpec(finalizers: ["kubernetes"]))
        // The fake removes an object when metadata.finalizers is empty; a finalizer of the
        // test's own keeps the namespace visible after finalization, as a real server's
        // phase=Terminating namespace stays until spec.finalizers is empty.
        ns.metadata.finalizers = ["test.nodekit.io/hold"]
        _ = try await c.api.create(ns)
        _ = try await c.api.create(makePod("p", namespace: "team"))
        _ = try await c.api.create(ConfigMap(metadata: ObjectMeta(name: "cm", namespace: "team")))
        _ = try await c.api.create(makePod("elsewhere", namespace: "default"))
        let controller = NamespaceController(client: c.api)
        #expect(try await controller.sync(key: "team"), "an active namespace is left alone")
        #expect(c.api.objects(Pod.self, namespace: "team").count == 1)

        try await c.api.delete(Namespace.self, namespace: nil, name: "team")
        #expect(try await controller.sync(key: "team"))
        #expect(c.api.objects(Pod.self, namespace: "team").isEmpty)
        #expect(c.api.objects(ConfigMap.self, namespace: "team").isEmpty)
        #expect(c.api.objects(Pod.self, namespace: "default").count == 1)
        #expect(try await c.api.get(Namespace.self, namespace: nil, name: "team").spec?.finalizers == [])
    }

    @Test func serviceAccountControllerCreatesDefault() async throws {
        let c = Cluster()
        _ = try await c.api.create(Namespace(metadata: ObjectMeta(name: "team")))
        let controller = ServiceAccountController(client: c.api)
        try await controller.sync(key: "team")
        try await controller.sync(key: "team")
        #expect(c.api.objects(ServiceAccount.self, namespace: "team").map(\.metadata.name) == ["default"])
        try await controller.sync(key: "missing")
        #expect(c.api.objects(ServiceAccount.self).count == 1)
    }
}

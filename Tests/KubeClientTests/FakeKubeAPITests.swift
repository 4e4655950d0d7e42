import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct FakeKubeAPITests {
    static func cm(_ name: String, ns: String = "default", labels: [String: String]? = nil, data: [String: String]? = nil) -> ConfigMap {
        ConfigMap(metadata: ObjectMeta(name: name, namespace: ns, labels: labels), data: data)
    }

    static func pod(_ name: String, ns: String = "default", node: String? = nil, labels: [String: String]? = nil) -> Pod {
        var spec = PodSpec(containers: [Container(name: "c", image: "busybox")])
        spec.nodeName = node
        return Pod(metadata: ObjectMeta(name: name, namespace: ns, labels: labels), spec: spec)
    }

    @Test func createGetUpdateConflict() async throws {
        let api = FakeKubeAPI()
        let created = try await api.create(Self.cm("a", data: ["k": "1"]))
        #expect(created.metadata.uid != nil)
        #expect(created.metadata.resourceVersion == "2")
        do {
            _ = try await api.create(Self.cm("a"))
            Issue.record("duplicate create succeeded")
        } catch {
            #expect(error.isAlreadyExists)
            #expect(error.code == 409)
        }
        var changed = created
        changed.data = ["k": "2"]
        let updated = try await api.update(changed)
        #expect(updated.data == ["k": "2"])
        #expect(updated.metadata.resourceVersion == "3")
        do {
            _ = try await api.update(changed)
            Issue.record("stale update succeeded")
        } catch {
            #expect(error.isConflict)
        }
        let got = try await api.get(ConfigMap.self, namespace: "default", name: "a")
        #expect(got == updated)
        do {
            _ = try await api.get(ConfigMap.self, namespace: "default", name: "missing")
            Issue.record("found a missing object")
        } catch {
            #expect(error.isNotFound)
            #expect(error.message == "configmaps \"missing\" not found")
        }
    }

    @Test func noOpUpdateKeepsTheResourceVersion() async throws {
        let api = FakeKubeAPI()
        let created = try await api.create(Self.cm("a", data: ["k": "1"]))
        let same = try await api.update(created)
        #expect(same.metadata.resourceVersion == created.metadata.resourceVersion)
        #expect(api.resourceVersion == "2")
    }

    @Test func statusSubresourceAndGeneration() async throws {
        let api = FakeKubeAPI()
        let d = Deployment(metadata: ObjectMeta(name: "web", namespace: "default"),
                           spec: DeploymentSpec(replicas: 1, selector: LabelSelector(matchLabels: ["app": "web"]), template: PodTemplateSpec()))
        var stored = try await api.create(d)
        #expect(stored.metadata.generation == 1)
        // Status through the main resource is ignored, as upstream does for kinds with a status subresource.
        stored.status = DeploymentStatus(replicas: 5)
        stored = try await api.update(stored)
        #expect(stored.status == nil)
        #expect(stored.metadata.generation == 1)
        let patched = try await api.mergePatch(Deployment.self, namespace: "default", name: "web", .object(["status": .object(["replicas": .number(1)]), "spec": .object(["replicas": .number(9)])]), subresource: "status")
        #expect(patched.status?.replicas == 1)
        #expect(patched.spec?.replicas == 1)
        #expect(patched.metadata.generation == 1)
        let scaled = try await api.mergePatch(Deployment.self, namespace: "default", name: "web", .object(["spec": .object(["replicas": .number(3)])]))
        #expect(scaled.spec?.replicas == 3)
        #expect(scaled.metadata.generation == 2)
        #expect(scaled.status?.replicas == 1)
    }

    @Test func finalizersDelayDeletion() async throws {
        let api = FakeKubeAPI()
        var c = Self.cm("f")
        c.metadata.finalizers = ["example.com/keep"]
        _ = try await api.create(c)
        try await api.delete(ConfigMap.self, namespace: "default", name: "f")
        let terminating = try await api.get(ConfigMap.self, namespace: "default", name: "f")
        #expect(terminating.metadata.deletionTimestamp != nil)
        _ = try await api.mergePatch(ConfigMap.self, namespace: "default", name: "f", .object(["metadata": .object(["finalizers": .null])]))
        #expect(api.objects(ConfigMap.self).isEmpty)
    }

    @Test func boundPodsAreDeletedGracefully() async throws {
        let api = FakeKubeAPI()
        _ = try await api.create(Self.pod("p", node: "n1"))
        try await api.delete(Pod.self, namespace: "default", name: "p")
        let p = try await api.get(Pod.self, namespace: "default", name: "p")
        #expect(p.metadata.deletionTimestamp != nil)
        #expect(p.metadata.deletionGracePeriodSeconds == 30)
        try await api.delete(Pod.self, namespace: "default", name: "p", options: DeleteOptions(gracePeriodSeconds: 0))
        #expect(api.objects(Pod.self).isEmpty)
    }

    @Test func deletePreconditions() async throws {
        let api = FakeKubeAPI()
        _ = try await api.create(Self.cm("a"))
        do {
            try await api.delete(ConfigMap.self, namespace: "default", name: "a", options: DeleteOptions(preconditions: Preconditions(uid: "other")))
            Issue.record("precondition ignored")
        } catch {
            #expect(error.isConflict)
        }
        #expect(api.objects(ConfigMap.self).count == 1)
    }

    @Test func listSelectorsAndPaging() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a", labels: ["app": "web"]), Self.cm("b", labels: ["app": "db"]), Self.cm("c", ns: "other", labels: ["app": "web"]), Self.cm("d")])
        #expect(try await api.list(ConfigMap.self).items.count == 4)
        #expect(try await api.list(ConfigMap.self, namespace: "default").items.map(\.metadata.name) == ["a", "b", "d"])
        let web = try await api.list(ConfigMap.self, namespace: nil, options: ListOptions(labelSelector: "app in (web)"))
        #expect(web.items.map(\.key) == ["default/a", "other/c"])
        let notWeb = try await api.list(ConfigMap.self, namespace: "default", options: ListOptions(labelSelector: "app!=web"))
        #expect(notWeb.items.map(\.metadata.name) == ["b", "d"])
        let byName = try await api.list(ConfigMap.self, namespace: nil, options: ListOptions(fieldSelector: "metadata.name=c"))
        #expect(byName.items.map(\.key) == ["other/c"])
        let page1 = try await api.list(ConfigMap.self, namespace: nil, options: ListOptions(limit: 3))
        #expect(page1.items.count == 3)
        let page2 = try await api.list(ConfigMap.self, namespace: nil, options: ListOptions(limit: 3, continueToken: page1.metadata.continue))
        #expect(page2.items.map(\.key) == ["other/c"])
        #expect(page2.metadata.continue == nil)
    }

    @Test func watchReplaysFromAResourceVersionAndFollowsSelectors() async throws {
        let api = FakeKubeAPI()
        let a = try await api.create(Self.cm("a", labels: ["app": "web"]))
        let stream = try await api.watch(ConfigMap.self, namespace: "default", options: ListOptions(labelSelector: "app=web", resourceVersion: a.metadata.resourceVersion))
        _ = try await api.create(Self.cm("b", labels: ["app": "web"]))
        _ = try await api.create(Self.cm("ignored", labels: ["app": "db"]))
        _ = try await api.mergePatch(ConfigMap.self, namespace: "default", name: "a", .object(["metadata": .object(["labels": .object(["app": .string("db")])])]))
        _ = try await api.mergePatch(ConfigMap.self, namespace: "default", name: "ignored", .object(["metadata": .object(["labels": .object(["app": .string("web")])])]))
        try await api.delete(ConfigMap.self, namespace: "default", name: "b")
        api.breakWatches(error: nil)
        var seen: [String] = []
        for try await e in stream {
            switch e {
            case .added(let o): seen.append("+\(o.metadata.name!)")
            case .modified(let o): seen.append("~\(o.metadata.name!)")
            case .deleted(let o): seen.append("-\(o.metadata.name!)")
            case .bookmark: seen.append("bookmark")
            }
        }
        // a leaving the selection is a DELETED; ignored entering it is an ADDED.
        #expect(seen == ["+b", "-a", "+ignored", "-b"])
    }

    @Test func watchFromACompactedVersionIsGone() async throws {
        let api = FakeKubeAPI()
        let a = try await api.create(Self.cm("a"))
        _ = try await api.create(Self.cm("b"))
        api.compact()
        let stream = try await api.watch(ConfigMap.self, namespace: nil, options: ListOptions(resourceVersion: a.metadata.resourceVersion))
        do {
            for try await _ in stream {}
            Issue.record("watch from a compacted version did not fail")
        } catch let error as KubeClientError {
            #expect(error.isGone)
        }
    }

    @Test func bindingAndEviction() async throws {
        let api = FakeKubeAPI()
        _ = try await api.create(Self.pod("p", labels: ["app": "web"]))
        try await api.create(binding: Binding(podNamespace: "default", podName: "p", node: "n1"), options: WriteOptions())
        let bound = try await api.get(Pod.self, namespace: "default", name: "p")
        #expect(bound.spec.nodeName == "n1")
        #expect(bound.status?.conditions?.first { $0.type == "PodScheduled" }?.status == "True")
        do {
            try await api.create(binding: Binding(podNamespace: "default", podName: "p", node: "n2"), options: WriteOptions())
            Issue.record("rebinding succeeded")
        } catch {
            #expect(error.code == 409)
            #expect(error.message.contains("already assigned to node \"n1\""))
        }
        let pdb = PodDisruptionBudget(metadata: ObjectMeta(name: "web", namespace: "default"), spec: PodDisruptionBudgetSpec(minAvailable: 1, selector: LabelSelector(matchLabels: ["app": "web"])),
                                      status: PodDisruptionBudgetStatus(disruptionsAllowed: 0))
        try api.seed([pdb])
        do {
            try await api.evict(Eviction(metadata: ObjectMeta(name: "p", namespace: "default")))
            Issue.record("eviction ignored the budget")
        } catch {
            #expect(error.isTooManyRequests)
        }
        _ = try await api.mergePatch(PodDisruptionBudget.self, namespace: "default", name: "web", .object(["status": .object(["disruptionsAllowed": .number(1)])]), subresource: "status")
        try await api.evict(Eviction(metadata: ObjectMeta(name: "p", namespace: "default"), deleteOptions: DeleteOptions(gracePeriodSeconds: 0)))
        #expect(api.objects(Pod.self).isEmpty)
        #expect(api.objects(PodDisruptionBudget.self).first?.status?.disruptionsAllowed == 0)
    }

    @Test func injectedFailuresHitTheNamedVerbOnce() async throws {
        let api = FakeKubeAPI()
        api.failNext(.list, kind: "Pod", error: KubeClientError(code: 500, reason: "InternalError", message: "boom"))
        _ = try await api.list(ConfigMap.self)
        await #expect(throws: KubeClientError.self) { _ = try await api.list(Pod.self) }
        _ = try await api.list(Pod.self)
        #expect(api.requestCount(.list) == 3)
    }

    @Test func generateNameAndClusterScope() async throws {
        let api = FakeKubeAPI()
        var meta = ObjectMeta(namespace: "default")
        meta.generateName = "web-"
        let made = try await api.create(ConfigMap(metadata: meta))
        #expect(made.metadata.name?.hasPrefix("web-") == true)
        #expect(made.metadata.name?.count == 9)
        let node = try await api.create(Node(metadata: ObjectMeta(name: "n1", namespace: "ignored")))
        #expect(node.metadata.namespace == nil)
        #expect(try await api.get(Node.self, namespace: nil, name: "n1").metadata.name == "n1")
    }
}

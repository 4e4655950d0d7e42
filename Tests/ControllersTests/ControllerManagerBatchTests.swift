@testable import Controllers
import Foundation
import KubeAPI
import KubeClient
import Logging
import Synchronization
import Testing
import TestSupport

/// The controller manager's informers take each list and each batch of watch events in one
/// pass: the key index updated in one call, each work queue reached once per batch.
@Suite struct ControllerManagerBatchTests {
    /// Drains `queue` after shutting it down: the keys it would sync, in order.
    func drained(_ queue: WorkQueue) async -> [String] {
        await queue.shutdown()
        let synced = SyncedKeys()
        await queue.work(logger: Logger(label: "test")) { key in synced.append(key); return nil }
        return synced.keys
    }

    @Test func queuedKeysKeepOrderPerQueueAndFlushOncePerQueue() async {
        let a = WorkQueue(name: "a"), b = WorkQueue(name: "b")
        var keys = QueuedKeys()
        keys.add("ns/one", to: a)
        keys.add("ns/x", to: b)
        keys.add("ns/two", to: a)
        keys.add("ignored", to: nil)
        keys.add(["ns/one", "ns/three"], to: a)
        #expect(keys.keys(for: a) == ["ns/one", "ns/two", "ns/one", "ns/three"])
        #expect(keys.keys(for: b) == ["ns/x"])
        await keys.flush()
        // The queue deduplicates: a key queued twice in one batch is synced once.
        #expect(await drained(a) == ["ns/one", "ns/two", "ns/three"])
        #expect(await drained(b) == ["ns/x"])
    }

    @Test func workQueueAddsABatchInOrderWithoutDuplicates() async {
        let q = WorkQueue(name: "q")
        await q.add("k1")
        await q.add(["k2", "k1", "k3", "k2"])
        #expect(await drained(q) == ["k1", "k2", "k3"])
    }

    @Test(arguments: [
        // (changes in order, keys left); the index starts with "a/0"
        ([("a/1", false), ("a/1", true)], ["a/0"]),
        ([("a/1", true), ("a/1", false)], ["a/0", "a/1"]),
        ([("a/1", false), ("b/2", false), ("a/1", false)], ["a/0", "a/1", "b/2"]),
        ([("a/0", true), ("x/9", true)], [String]()),
    ])
    func keyIndexAppliesABatchInOrder(_ changes: [(String, Bool)], _ left: [String]) async {
        let index = KeyIndex()
        await index.set("Pod", ["a/0"])
        await index.apply("Pod", changes.map { (key: $0.0, deleted: $0.1) })
        #expect(Set(await index.all("Pod")) == Set(left))
    }

    @Test func keyIndexFindsKeysInAnyOfSeveralNamespaces() async {
        let index = KeyIndex()
        await index.set("Service", ["a/web", "ab/web", "b/db", "c/cache"])
        #expect(Set(await index.inNamespaces("Service", ["a", "b"])) == ["a/web", "b/db"])
        #expect(await index.inNamespaces("Service", []).isEmpty)
        #expect(await index.inNamespaces("Other", ["a"]).isEmpty)
    }

    /// The whole manager against the fake API: namespaces listed at start and one added later
    /// get their `default` ServiceAccount (Namespace informer -> serviceaccount queue), and a
    /// Deployment gets a ReplicaSet whose pods the ReplicaSet controller counts (Pod informer
    /// -> replicaset queue).
    @Test func managerDrivesControllersFromListsAndBatches() async throws {
        let api = FakeKubeAPI()
        for name in ["a", "b"] { _ = try await api.create(Namespace(metadata: ObjectMeta(name: name))) }
        let manager = ControllerManager(client: api, leaderElection: false)
        let running = Task { await manager.runControllers() }
        defer { running.cancel() }
        _ = try await api.create(Namespace(metadata: ObjectMeta(name: "c")))
        _ = try await api.create(Deployment(metadata: ObjectMeta(name: "web", namespace: "a"),
                                            spec: DeploymentSpec(replicas: 2, selector: LabelSelector(matchLabels: ["app": "web"]), template: template(["app": "web"]))))

        // Generous: the unit tests run in parallel on two cooperative threads, and CPU-bound
        // synchronous tests beside this one (the 70,000-entry ipset tables) hold both threads for
        // tens of seconds in a debug build; the manager does its work in milliseconds once it runs.
        let deadline = ContinuousClock.now + .seconds(180)
        func settled() -> Bool {
            let accounts = Set(api.objects(ServiceAccount.self).map { "\($0.metadata.namespace ?? "")/\($0.metadata.name ?? "")" })
            let sets = api.objects(ReplicaSet.self, namespace: "a")
            return accounts.isSuperset(of: ["a/default", "b/default", "c/default"])
                && sets.count == 1 && sets[0].status?.replicas == 2 && api.objects(Pod.self, namespace: "a").count == 2
        }
        // Sleep, not yield: a yielding loop keeps one of the two pool threads busy.
        while !settled(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(settled(), "ServiceAccounts: \(api.objects(ServiceAccount.self).map(\.key)); ReplicaSets: \(api.objects(ReplicaSet.self).map { "\($0.key) \(String(describing: $0.status?.replicas))" })")
    }
}

/// Keys a test's work-queue worker synced, in order.
final class SyncedKeys: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ key: String) { storage.withLock { $0.append(key) } }
    var keys: [String] { storage.withLock { $0 } }
}

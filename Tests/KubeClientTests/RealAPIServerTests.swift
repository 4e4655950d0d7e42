import APIServer
import Controllers
import Foundation
import KubeAPI
import KubeClient
import Store
import Testing
import TestSupport

/// HTTPKubeClient, the Informer, leader election and the control-plane loops against the real
/// API server, in process: HTTPS on loopback with the admin kubeconfig the server writes, an
/// in-memory store. No root needed. Every wait is bounded (a test that hangs fails instead).
@Suite struct RealAPIServerTests {
    @Test(arguments: ClientTransport.allCases) func crudConflictsAndErrors(_ transport: ClientTransport) async throws {
        try await withServer(transport) { _, client in
            let created = try await client.create(ConfigMap(metadata: ObjectMeta(name: "cm", namespace: "default", labels: ["app": "a"]), data: ["k": "v1"]))
            #expect(created.metadata.uid != nil)
            #expect(created.metadata.resourceVersion != nil)
            do {
                _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "cm", namespace: "default")))
                Issue.record("a second create succeeded")
            } catch let error as KubeClientError {
                #expect(error.isAlreadyExists, "second create: \(error)")
            }
            var changed = created
            changed.data = ["k": "v2"]
            let updated = try await client.update(changed)
            #expect(updated.data?["k"] == "v2")
            #expect(updated.metadata.resourceVersion != created.metadata.resourceVersion)
            do {
                _ = try await client.update(changed)
                Issue.record("an update with a stale resourceVersion succeeded")
            } catch let error as KubeClientError {
                #expect(error.isConflict, "stale update: \(error)")
            }
            let patched: ConfigMap = try await client.mergePatch(ConfigMap.self, namespace: "default", name: "cm", .object(["data": .object(["extra": .string("x")])]))
            #expect(patched.data == ["k": "v2", "extra": "x"])
            let selected = try await client.list(ConfigMap.self, namespace: "default", options: ListOptions(labelSelector: "app=a"))
            #expect(selected.items.map(\.metadata.name) == ["cm"])
            let none = try await client.list(ConfigMap.self, namespace: "default", options: ListOptions(labelSelector: "app=b"))
            #expect(none.items.isEmpty)
            try await client.delete(ConfigMap.self, namespace: "default", name: "cm")
            do {
                _ = try await client.get(ConfigMap.self, namespace: "default", name: "cm")
                Issue.record("a deleted object is still there")
            } catch let error as KubeClientError {
                #expect(error.isNotFound, "get after delete: \(error)")
            }
        }
    }

    /// The writes that do not decode their answer still apply, and still fail as the decoding
    /// ones do (the server's Status becomes the same KubeClientError).
    @Test(arguments: ClientTransport.allCases) func writesThatDiscardTheirResultApplyAndFailAlike(_ transport: ClientTransport) async throws {
        try await withServer(transport) { _, client in
            try await client.createDiscardingResult(ConfigMap(metadata: ObjectMeta(name: "d", namespace: "default"), data: ["k": "v1"]), options: WriteOptions())
            #expect(try await client.get(ConfigMap.self, namespace: "default", name: "d").data == ["k": "v1"])
            do {
                try await client.createDiscardingResult(ConfigMap(metadata: ObjectMeta(name: "d", namespace: "default")), options: WriteOptions())
                Issue.record("a second create succeeded")
            } catch let error as KubeClientError {
                #expect(error.isAlreadyExists, "second create: \(error)")
            }
            try await client.mergePatchDiscardingResult(ConfigMap.self, namespace: "default", name: "d", .object(["data": .object(["extra": .string("x")])]))
            #expect(try await client.get(ConfigMap.self, namespace: "default", name: "d").data == ["k": "v1", "extra": "x"])
            do {
                try await client.mergePatchDiscardingResult(ConfigMap.self, namespace: "default", name: "missing", .object(["data": .object([:])]))
                Issue.record("a patch of a missing object succeeded")
            } catch let error as KubeClientError {
                #expect(error.isNotFound, "patch of a missing object: \(error)")
            }
            do {
                try await client.createDiscardingResult(ConfigMap(metadata: ObjectMeta(name: "Not_A_Name", namespace: "default")), options: WriteOptions())
                Issue.record("an invalid name was accepted")
            } catch let error as KubeClientError {
                #expect(error.code == 422, "invalid create: \(error)")
            }
        }
    }

    @Test(arguments: ClientTransport.allCases) func pagedListReturnsEveryItemOnce(_ transport: ClientTransport) async throws {
        try await withServer(transport) { _, client in
            for i in 0..<7 { _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "p\(i)", namespace: "default"))) }
            var names: [String] = []
            var token: String?
            var pages = 0
            repeat {
                let page = try await client.list(ConfigMap.self, namespace: "default", options: ListOptions(limit: 3, continueToken: token))
                names += page.items.compactMap(\.metadata.name)
                token = page.metadata.continue.flatMap { $0.isEmpty ? nil : $0 }
                pages += 1
            } while token != nil && pages < 10
            #expect(pages == 3)
            #expect(names.filter { $0.hasPrefix("p") }.sorted() == (0..<7).map { "p\($0)" })
        }
    }

    @Test(arguments: ClientTransport.allCases) func watchStreamsEventsInOrderWithBookmarks(_ transport: ClientTransport) async throws {
        try await withServer(transport, bookmarkInterval: .milliseconds(500)) { _, client in
            let start = try await client.list(ConfigMap.self, namespace: "default").metadata.resourceVersion
            let stream = try await client.watch(ConfigMap.self, namespace: "default", options: ListOptions(resourceVersion: start, allowWatchBookmarks: true))
            _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "w", namespace: "default"), data: ["n": "1"]))
            let _: ConfigMap = try await client.mergePatch(ConfigMap.self, namespace: "default", name: "w", .object(["data": .object(["n": .string("2")])]))
            try await client.delete(ConfigMap.self, namespace: "default", name: "w")
            let (seen, bookmarks) = try await within(.seconds(15), "watch events") {
                var seen: [String] = []
                var bookmarks = 0
                for try await event in stream {
                    switch event {
                    case .added(let o): seen.append("added \(o.data?["n"] ?? "")")
                    case .modified(let o): seen.append("modified \(o.data?["n"] ?? "")")
                    case .deleted: seen.append("deleted")
                    case .bookmark(let rv):
                        #expect(!rv.isEmpty)
                        bookmarks += 1
                    }
                    if seen.count == 3 && bookmarks > 0 { break }
                }
                return (seen, bookmarks)
            }
            #expect(seen == ["added 1", "modified 2", "deleted"])
            #expect(bookmarks > 0, "no bookmark within the server's bookmark interval")
        }
    }

    @Test(arguments: ClientTransport.allCases) func watchFromACompactedRevisionIsGone(_ transport: ClientTransport) async throws {
        try await withServer(transport) { server, client in
            _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "old", namespace: "default")))
            let old = try await client.list(ConfigMap.self, namespace: "default").metadata.resourceVersion ?? "0"
            for i in 0..<3 { _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "n\(i)", namespace: "default"))) }
            let current = try await server.store.currentRevision()
            try await server.store.compact(to: current)
            do {
                let stream = try await client.watch(ConfigMap.self, namespace: "default", options: ListOptions(resourceVersion: old))
                try await within(.seconds(10), "410 on the stream") { for try await _ in stream {} }
                Issue.record("a watch from a compacted revision did not fail")
            } catch let error as KubeClientError {
                #expect(error.isGone, "watch from compacted rv: \(error)")
            }
        }
    }

    @Test(arguments: ClientTransport.allCases) func informerListsThenFollowsTheWatch(_ transport: ClientTransport) async throws {
        try await withServer(transport) { _, client in
            _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "before", namespace: "default")))
            let informer = Informer<ConfigMap>(client: client)
            let (events, sink) = AsyncStream.makeStream(of: String.self)
            informer.addHandler(InformerHandler(onAdd: { sink.yield("add \($0.metadata.name ?? "")") },
                                                onUpdate: { _, new in sink.yield("update \(new.metadata.name ?? "") \(new.data?["v"] ?? "")") },
                                                onDelete: { sink.yield("delete \($0.metadata.name ?? "")") }))
            let running = Task { await informer.run() }
            defer { running.cancel() }
            try await within(.seconds(10), "informer sync") { await informer.waitForSync() }
            #expect(informer.cache.get(namespace: "default", name: "before") != nil)
            var got = try await within(.seconds(10), "the listed object's add") {
                var iterator = events.makeAsyncIterator()
                return [await iterator.next() ?? ""]
            }
            _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "after", namespace: "default")))
            let _: ConfigMap = try await client.mergePatch(ConfigMap.self, namespace: "default", name: "after", .object(["data": .object(["v": .string("2")])]))
            try await client.delete(ConfigMap.self, namespace: "default", name: "before")
            got += try await within(.seconds(10), "watch events through the informer") {
                var iterator = events.makeAsyncIterator()
                var more: [String] = []
                for _ in 0..<3 { more.append(await iterator.next() ?? "") }
                return more
            }
            #expect(got.filter { $0.contains("before") || $0.contains("after") } == ["add before", "add after", "update after 2", "delete before"])
            #expect(informer.cache.get(namespace: "default", name: "before") == nil)
            #expect(informer.cache.get(namespace: "default", name: "after")?.data?["v"] == "2")
        }
    }

    @Test(arguments: ClientTransport.allCases) func bindingAndStatusSubresourceAndLeases(_ transport: ClientTransport) async throws {
        try await withServer(transport) { _, client in
            _ = try await client.create(Node(metadata: ObjectMeta(name: "n1")))
            let pod = try await client.create(Pod(metadata: ObjectMeta(name: "p", namespace: "default"),
                                                  spec: PodSpec(containers: [Container(name: "c", image: "nodekit/busybox")])))
            try await client.create(binding: Binding(podNamespace: "default", podName: "p", node: "n1", podUID: pod.metadata.uid), options: WriteOptions())
            let bound = try await client.get(Pod.self, namespace: "default", name: "p")
            #expect(bound.spec.nodeName == "n1")
            do {
                try await client.create(binding: Binding(podNamespace: "default", podName: "p", node: "n2"), options: WriteOptions())
                Issue.record("a second binding succeeded")
            } catch let error as KubeClientError {
                #expect(error.isConflict, "second binding: \(error)")
            }
            let running: Pod = try await client.mergePatch(Pod.self, namespace: "default", name: "p",
                                                           .object(["status": .object(["phase": .string("Running"), "podIP": .string("10.244.0.5")])]),
                                                           subresource: "status")
            #expect(running.status?.phase == "Running")
            #expect(running.spec.nodeName == "n1", "a status patch keeps the spec")

            let elector = LeaderElector(client: client, leaseName: "test-leader", identity: "a")
            let rival = LeaderElector(client: client, leaseName: "test-leader", identity: "b")
            #expect(await elector.tryAcquireOrRenew())
            #expect(await elector.tryAcquireOrRenew(), "the holder renews")
            #expect(!(await rival.tryAcquireOrRenew()), "a rival cannot take a fresh lease")
            let lease = try await client.get(Lease.self, namespace: "kube-system", name: "test-leader")
            #expect(lease.spec?.holderIdentity == "a")
        }
    }

    @Test(arguments: ClientTransport.allCases) func controllersAndSchedulerRunADeployment(_ transport: ClientTransport) async throws {
        try await withServer(transport) { _, client in
            _ = try await client.create(Node(metadata: ObjectMeta(name: "node-a", labels: ["kubernetes.io/hostname": "node-a"])))
            let ready = ISO8601DateFormatter().string(from: Date())
            let _: Node = try await client.mergePatch(Node.self, namespace: nil, name: "node-a", .object(["status": .object([
                "allocatable": .object(["cpu": .string("4"), "memory": .string("8Gi"), "pods": .string("110")]),
                "capacity": .object(["cpu": .string("4"), "memory": .string("8Gi"), "pods": .string("110")]),
                "conditions": .array([.object(["type": .string("Ready"), "status": .string("True"), "lastHeartbeatTime": .string(ready)])]),
            ])]), subresource: "status")
            let controllers = ControllerManager(client: client, leaderElection: false)
            let scheduler = SchedulerRunner(client: client)
            let loops = Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await controllers.runControllers() }
                    group.addTask { await scheduler.run() }
                }
            }
            defer { loops.cancel() }
            let labels = ["app": "web"]
            let template = PodTemplateSpec(metadata: ObjectMeta(labels: labels), spec: PodSpec(containers: [Container(name: "web", image: "nodekit/busybox")]))
            _ = try await client.create(Deployment(metadata: ObjectMeta(name: "web", namespace: "default"),
                                                   spec: DeploymentSpec(replicas: 3, selector: LabelSelector(matchLabels: labels), template: template)))
            let pods = try await within(.seconds(30), "3 pods created and bound") {
                while true {
                    let pods = try await client.list(Pod.self, namespace: "default", options: ListOptions(labelSelector: "app=web")).items
                    if pods.count == 3 && pods.allSatisfy({ $0.spec.nodeName == "node-a" }) { return pods }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(pods.count == 3)
            #expect(pods.allSatisfy { $0.spec.nodeName == "node-a" })
            let owners = Set(pods.compactMap { $0.metadata.ownerReferences?.first?.kind })
            #expect(owners == ["ReplicaSet"])
            // The collector lists every kind it manages; those the server does not serve are skipped.
            _ = try await GarbageCollector(client: client).sync()
        }
    }

    // MARK: helpers

    /// Starts an API server on loopback (``withLoopbackAPIServer(plainHTTP:watch:_:)``: HTTPS,
    /// port 0, in-memory store, temporary data dir), connects an HTTPKubeClient through the
    /// kubeconfig it wrote, runs `body`, and stops both, also when `body` throws.
    func withServer(_ transport: ClientTransport, bookmarkInterval: Duration = .seconds(60),
                    _ body: (APIServer, HTTPKubeClient) async throws -> Void) async throws {
        try await withLoopbackAPIServer(watch: WatchSettings(bookmarkInterval: bookmarkInterval, defaultTimeout: .seconds(60))) { loopback in
            let client = switch transport {
            case .https: try HTTPKubeClient(kubeconfigPath: loopback.kubeconfigPath)
            case .inProcess: HTTPKubeClient(config: try Kubeconfig.load(path: loopback.kubeconfigPath), inProcess: loopback.server.inProcessEndpoint())
            }
            do {
                try await body(loopback.server, client)
            } catch {
                await client.shutdown()
                throw error
            }
            await client.shutdown()
        }
    }
}

/// How a test's client reaches the server: over HTTPS on loopback with the admin kubeconfig, or
/// in process through the server's handler (as `nodekit server`'s control plane does).
enum ClientTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case https
    case inProcess

    var testDescription: String { rawValue }
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `work`, failing with ``TimedOut`` when it takes longer than `limit` (the work is then
/// cancelled).
func within<T: Sendable>(_ limit: Duration, _ what: String, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

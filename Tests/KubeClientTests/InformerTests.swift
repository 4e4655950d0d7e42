import KubeAPI
import KubeClient
import Synchronization
import Testing
import TestSupport

/// Records handler calls as compact strings: `+key`, `~key@rv`, `-key`.
final class HandlerLog: Sendable {
    private let entries = Mutex<[String]>([])
    private let continuation: AsyncStream<String>.Continuation
    let stream: AsyncStream<String>

    init() {
        (stream, continuation) = AsyncStream<String>.makeStream()
    }

    func handler<T: KubeObject>(_ type: T.Type) -> InformerHandler<T> {
        InformerHandler(
            onAdd: { self.add("+\($0.key)") },
            onUpdate: { _, n in self.add("~\(n.key)@\(n.metadata.resourceVersion ?? "")") },
            onDelete: { self.add("-\($0.key)") })
    }

    private func add(_ s: String) {
        entries.withLock { $0.append(s) }
        continuation.yield(s)
    }

    func take() -> [String] { entries.withLock { e in defer { e = [] }; return e } }

    /// Waits for the next `n` entries from the stream (no sleeping: each arrives as an event).
    func next(_ n: Int) async -> [String] {
        var out: [String] = []
        for await s in stream {
            out.append(s)
            if out.count == n { break }
        }
        return out
    }
}

@Suite struct InformerTests {
    static func cm(_ name: String, ns: String = "default", labels: [String: String]? = nil) -> ConfigMap {
        ConfigMap(metadata: ObjectMeta(name: name, namespace: ns, labels: labels))
    }

    @Test func relistFillsTheCacheAndSyncs() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a"), Self.cm("b"), Self.cm("c", ns: "kube-system")])
        let informer = Informer<ConfigMap>(client: api)
        let log = HandlerLog()
        informer.addHandler(log.handler(ConfigMap.self))
        #expect(!informer.hasSynced)
        let rv = try await informer.relist()
        #expect(rv == api.resourceVersion)
        #expect(informer.hasSynced)
        #expect(log.take() == ["+default/a", "+default/b", "+kube-system/c"])
        #expect(informer.cache.list(namespace: "default").map(\.key) == ["default/a", "default/b"])
        #expect(informer.cache.get(namespace: "kube-system", name: "c") != nil)
        await informer.waitForSync()
    }

    @Test func relistFollowsEveryPage() async throws {
        let api = FakeKubeAPI()
        try api.seed((0..<1203).map { Self.cm(String(format: "cm-%04d", $0)) })
        let informer = Informer<ConfigMap>(client: api)
        try await informer.relist()
        #expect(informer.cache.count == 1203)
        #expect(api.requestCount(.list) == 3)
    }

    @Test func watchEventsUpdateCacheIndexesAndHandlers() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a", labels: ["tier": "web"])])
        let informer = Informer<ConfigMap>(client: api)
        informer.cache.addIndex("tier") { [$0.metadata.labels?["tier"] ?? ""] }
        let log = HandlerLog()
        informer.addHandler(log.handler(ConfigMap.self))
        try await informer.relist()
        #expect(await log.next(1) == ["+default/a"])
        let watching = Task { try await informer.watchOnce() }
        while api.watcherCount == 0 { await Task.yield() }
        _ = try await api.create(Self.cm("b", labels: ["tier": "web"]))
        let patched = try await api.mergePatch(ConfigMap.self, namespace: "default", name: "a", .object(["metadata": .object(["labels": .object(["tier": .string("db")])])]))
        try await api.delete(ConfigMap.self, namespace: "default", name: "b")
        let events = await log.next(3)
        #expect(events == ["+default/b", "~default/a@\(patched.metadata.resourceVersion!)", "-default/b"])
        #expect(informer.cache.byIndex("tier", "db").map(\.key) == ["default/a"])
        #expect(informer.cache.byIndex("tier", "web").isEmpty)
        #expect(informer.lastResourceVersion == api.resourceVersion)
        api.breakWatches(error: nil)
        try await watching.value
    }

    @Test func brokenWatchThenRelistDeliversWhatWasMissed() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a"), Self.cm("b")])
        let informer = Informer<ConfigMap>(client: api)
        let log = HandlerLog()
        informer.addHandler(log.handler(ConfigMap.self))
        try await informer.relist()
        _ = log.take()
        let watching = Task { try await informer.watchOnce() }
        while api.watcherCount == 0 { await Task.yield() }
        api.breakWatches()
        await #expect(throws: KubeClientError.self) { try await watching.value }
        // Changes while disconnected: a deleted, b changed, c added.
        try await api.delete(ConfigMap.self, namespace: "default", name: "a")
        let b = try await api.mergePatch(ConfigMap.self, namespace: "default", name: "b", .object(["data": .object(["x": .string("1")])]))
        _ = try await api.create(Self.cm("c"))
        try await informer.relist()
        #expect(Set(log.take()) == ["~default/b@\(b.metadata.resourceVersion!)", "+default/c", "-default/a"])
        #expect(informer.cache.keys == ["default/b", "default/c"])
    }

    @Test func goneWatchIsReportedSoTheCallerRelists() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a")])
        let informer = Informer<ConfigMap>(client: api)
        try await informer.relist()
        _ = try await api.create(Self.cm("b"))
        api.compact()
        do {
            try await informer.watchOnce()
            Issue.record("watch from a compacted version succeeded")
        } catch {
            #expect(error.isGone)
        }
        try await informer.relist()
        #expect(informer.cache.keys == ["default/a", "default/b"])
    }

    @Test func bookmarksAdvanceTheResourceVersionWithoutEvents() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a")])
        let other = Informer<Secret>(client: api)
        let informer = Informer<ConfigMap>(client: api)
        let log = HandlerLog()
        informer.addHandler(log.handler(ConfigMap.self))
        try await informer.relist()
        try await other.relist()
        _ = log.take()
        try api.seed([Secret(metadata: ObjectMeta(name: "s", namespace: "default"))])
        let watching = Task { try await informer.watchOnce() }
        while api.watcherCount == 0 { await Task.yield() }
        api.sendBookmarks()
        api.breakWatches(error: nil)
        try await watching.value
        #expect(informer.lastResourceVersion == api.resourceVersion)
        #expect(log.take().isEmpty)
    }

    @Test func resyncReplaysTheCacheAsUpdates() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a"), Self.cm("b")])
        let informer = Informer<ConfigMap>(client: api)
        let log = HandlerLog()
        informer.addHandler(log.handler(ConfigMap.self))
        try await informer.relist()
        _ = log.take()
        informer.resync()
        #expect(log.take() == ["~default/a@2", "~default/b@3"])
    }

    @Test func lateHandlerSeesTheCacheAsAdds() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a")])
        let informer = Informer<ConfigMap>(client: api)
        try await informer.relist()
        let log = HandlerLog()
        informer.addHandler(log.handler(ConfigMap.self))
        #expect(log.take() == ["+default/a"])
    }

    @Test func runLoopRecoversFromFailuresAndBrokenWatches() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.cm("a")])
        api.failNext(.list, error: KubeClientError(code: 503, reason: "ServiceUnavailable", message: "starting"))
        let delays = Mutex<[Duration]>([])
        let informer = Informer<ConfigMap>(client: api, sleep: { d in delays.withLock { $0.append(d) }; await Task.yield() })
        let log = HandlerLog()
        informer.addHandler(log.handler(ConfigMap.self))
        let running = Task { await informer.run() }
        defer { running.cancel() }
        await informer.waitForSync()
        #expect(await log.next(1) == ["+default/a"])
        #expect(delays.withLock { $0 } == [.milliseconds(800)])
        while api.watcherCount == 0 { await Task.yield() }
        api.breakWatches()
        _ = try await api.create(Self.cm("b"))
        #expect(await log.next(1) == ["+default/b"])
        #expect(informer.listCount >= 2)
        running.cancel()
        await running.value
    }

    @Test(arguments: [(0, 0), (1, 800), (2, 1600), (3, 3200), (6, 25600), (7, 30000), (40, 30000)])
    func backoffDoublesToItsCap(failures: Int, millis: Int) {
        #expect(InformerBackoff().delay(afterFailures: failures) == .milliseconds(millis))
    }
}

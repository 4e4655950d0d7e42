import KubeAPI
import Logging
import Synchronization

/// Callbacks for cache changes. Called serially, in the order the informer saw the changes,
/// on the informer's task; they must be quick (typically: enqueue a key) and must not call
/// back into the informer's single-step methods.
public struct InformerHandler<T: KubeObject>: Sendable {
    public var onAdd: @Sendable (T) -> Void
    /// Old and new object. During a resync both are the cached object.
    public var onUpdate: @Sendable (T, T) -> Void
    /// The last state the informer knew; after a missed deletion (seen only on re-list) it may
    /// be older than the object's final state.
    public var onDelete: @Sendable (T) -> Void

    public init(onAdd: @escaping @Sendable (T) -> Void = { _ in }, onUpdate: @escaping @Sendable (T, T) -> Void = { _, _ in }, onDelete: @escaping @Sendable (T) -> Void = { _ in }) {
        self.onAdd = onAdd
        self.onUpdate = onUpdate
        self.onDelete = onDelete
    }

    /// One callback for every change: the key (`namespace/name`) of the object.
    public static func key(_ f: @escaping @Sendable (String) -> Void) -> InformerHandler<T> {
        InformerHandler(onAdd: { f($0.key) }, onUpdate: { _, n in f(n.key) }, onDelete: { f($0.key) })
    }
}

/// The informer's local copy of the objects, keyed by `namespace/name`, with a namespace index
/// and any custom indexes. Thread-safe; readers see a consistent snapshot per call.
public final class InformerCache<T: KubeObject>: Sendable {
    public typealias IndexFunction = @Sendable (T) -> [String]

    private struct State {
        var items: [String: T] = [:]
        var indexers: [String: IndexFunction] = [:]
        /// index name → index value → keys
        var indexes: [String: [String: Set<String>]] = [:]
    }

    private let state = Mutex(State())
    /// The name of the built-in index by `metadata.namespace`.
    public static var namespaceIndex: String { "namespace" }

    init() {
        addIndex(Self.namespaceIndex) { [$0.metadata.namespace ?? ""] }
    }

    /// Adds an index; existing items are indexed at once.
    public func addIndex(_ name: String, _ function: @escaping IndexFunction) {
        state.withLock { s in
            s.indexers[name] = function
            var index: [String: Set<String>] = [:]
            for (key, item) in s.items {
                for value in function(item) { index[value, default: []].insert(key) }
            }
            s.indexes[name] = index
        }
    }

    public func get(key: String) -> T? { state.withLock { $0.items[key] } }

    public func get(namespace: String?, name: String) -> T? {
        get(key: namespace.map { $0.isEmpty ? name : "\($0)/\(name)" } ?? name)
    }

    /// All items, sorted by key.
    public func list() -> [T] {
        state.withLock { s in s.items.sorted { $0.key < $1.key }.map(\.value) }
    }

    public func list(namespace: String) -> [T] { byIndex(Self.namespaceIndex, namespace) }

    /// The items whose index function returned `value`, sorted by key.
    public func byIndex(_ name: String, _ value: String) -> [T] {
        state.withLock { s in
            (s.indexes[name]?[value] ?? []).sorted().compactMap { s.items[$0] }
        }
    }

    public var count: Int { state.withLock { $0.items.count } }
    public var keys: [String] { state.withLock { $0.items.keys.sorted() } }

    /// Stores `item` and returns the previous one.
    @discardableResult
    func upsert(_ item: T) -> T? {
        state.withLock { s in
            let key = item.key
            let old = s.items[key]
            if let old { Self.unindex(&s, key: key, item: old) }
            s.items[key] = item
            for (name, f) in s.indexers {
                for value in f(item) { s.indexes[name, default: [:]][value, default: []].insert(key) }
            }
            return old
        }
    }

    /// Removes the item with `key` and returns it.
    @discardableResult
    func remove(key: String) -> T? {
        state.withLock { s in
            guard let old = s.items.removeValue(forKey: key) else { return nil }
            Self.unindex(&s, key: key, item: old)
            return old
        }
    }

    private static func unindex(_ s: inout State, key: String, item: T) {
        for (name, f) in s.indexers {
            for value in f(item) {
                s.indexes[name]?[value]?.remove(key)
                if s.indexes[name]?[value]?.isEmpty == true { s.indexes[name]?[value] = nil }
            }
        }
    }
}

/// Back-off between failed list/watch attempts: `initial` doubled per failure up to `maximum`.
public struct InformerBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration

    /// client-go's reflector starts at 800 ms and caps at 30 s.
    public init(initial: Duration = .milliseconds(800), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before attempt `failures` + 1 (0 failures: no delay).
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var d = initial
        for _ in 1..<min(failures, 32) {
            d = d * 2
            if d >= maximum { return maximum }
        }
        return min(d, maximum)
    }
}

/// Keeps a local cache of one kind in step with the API server: LIST, then WATCH from the
/// list's resourceVersion (with bookmarks), re-LIST after 410 Gone or a broken watch (with
/// back-off), and an optional periodic resync that replays every cached object to
/// `onUpdate`. Handlers see each change once, in order.
///
/// `run()` loops until its task is cancelled. The single steps (`relist`, `watchOnce`,
/// `resync`, `apply`) are public so tests can drive the informer without timers; do not call
/// them while `run()` is active.
public final class Informer<T: KubeObject>: Sendable {
    public let cache = InformerCache<T>()
    private let client: any KubeAPIClient
    private let namespace: String?
    private let labelSelector: String?
    private let fieldSelector: String?
    private let resyncPeriod: Duration?
    private let backoff: InformerBackoff
    private let watchTimeoutSeconds: Int
    private let sleep: @Sendable (Duration) async throws -> Void
    private let logger: Logger

    private struct State {
        var handlers: [InformerHandler<T>] = []
        var synced = false
        var lastResourceVersion: String?
        var syncWaiters: [CheckedContinuation<Void, Never>] = []
        var relists = 0
    }

    private let state = Mutex(State())
    /// Serializes cache changes with their handler calls (watch events and resync).
    private let delivery = Mutex(())

    /// - Parameters:
    ///   - namespace: nil for all namespaces (or a cluster-scoped kind).
    ///   - resyncPeriod: nil for no periodic resync.
    ///   - watchTimeoutSeconds: asks the server to end each watch after this long; the
    ///     informer then re-watches from the last resourceVersion without a list.
    ///   - sleep: how the run loop waits (back-off, resync); inject one for tests.
    public init(client: any KubeAPIClient, namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                resyncPeriod: Duration? = nil, backoff: InformerBackoff = InformerBackoff(), watchTimeoutSeconds: Int = 300,
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                logger: Logger = Logger(label: "nodekit.informer")) {
        self.client = client
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resyncPeriod = resyncPeriod
        self.backoff = backoff
        self.watchTimeoutSeconds = watchTimeoutSeconds
        self.sleep = sleep
        var l = logger
        l[metadataKey: "kind"] = "\(T.kind)"
        self.logger = l
    }

    /// Adds handlers. Handlers added after the first sync get an `onAdd` for every cached
    /// object first, as client-go's do.
    public func addHandler(_ handler: InformerHandler<T>) {
        delivery.withLock { _ in
            state.withLock { $0.handlers.append(handler) }
            for item in cache.list() { handler.onAdd(item) }
        }
    }

    /// Whether the first LIST has been applied to the cache.
    public var hasSynced: Bool { state.withLock { $0.synced } }

    /// The resourceVersion the next watch resumes from.
    public var lastResourceVersion: String? { state.withLock { $0.lastResourceVersion } }

    /// LISTs performed so far (the first one and every re-list).
    public var listCount: Int { state.withLock { $0.relists } }

    /// Returns once `hasSynced` is true, or when the calling task is cancelled.
    public func waitForSync() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.synced || Task.isCancelled { return true }
                    s.syncWaiters.append(c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let waiters = state.withLock { s in
                defer { s.syncWaiters = [] }
                return s.syncWaiters
            }
            for w in waiters { w.resume() }
        }
    }

    // MARK: Run loop

    /// Lists, watches, re-lists and resyncs until the task is cancelled. Never throws: failures
    /// are logged and retried with back-off.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let period = resyncPeriod, period > .zero {
                group.addTask { [self] in
                    while !Task.isCancelled {
                        do { try await sleep(period) } catch { return }
                        if hasSynced { resync() }
                    }
                }
            }
            group.addTask { [self] in await listAndWatchLoop() }
            await group.next()
            group.cancelAll()
        }
    }

    private func listAndWatchLoop() async {
        var failures = 0
        var needsList = true
        while !Task.isCancelled {
            do {
                if needsList {
                    try await relist()
                    needsList = false
                }
                try await watchOnce()
                failures = 0
            } catch {
                if Task.isCancelled { return }
                needsList = true
                // 410 Gone is the normal end of a watch that fell behind: re-list at once.
                if error.isGone && failures == 0 {
                    logger.debug("watch expired; re-listing", metadata: ["error": "\(error)"])
                } else {
                    failures += 1
                    let delay = backoff.delay(afterFailures: failures)
                    logger.warning("list/watch failed; retrying", metadata: ["error": "\(error)", "delay": "\(delay)"])
                    do { try await sleep(delay) } catch { return }
                }
            }
        }
    }

    // MARK: Single steps

    /// LISTs every page and makes the cache equal to the result: `onAdd` for new objects,
    /// `onUpdate` for changed ones (by resourceVersion), `onDelete` for vanished ones. Marks
    /// the informer synced and returns the list's resourceVersion.
    @discardableResult
    public func relist() async throws(KubeClientError) -> String {
        var items: [T] = []
        var options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, limit: 500)
        var rv = ""
        repeat {
            let page = try await client.list(T.self, namespace: namespace, options: options)
            items += page.items
            rv = page.metadata.resourceVersion ?? rv
            options.continueToken = page.metadata.continue.flatMap { $0.isEmpty ? nil : $0 }
        } while options.continueToken != nil
        delivery.withLock { _ in
            let handlers = state.withLock { $0.handlers }
            var seen = Set<String>()
            for item in items {
                seen.insert(item.key)
                let old = cache.upsert(item)
                if let old {
                    if old.metadata.resourceVersion != item.metadata.resourceVersion { for h in handlers { h.onUpdate(old, item) } }
                } else {
                    for h in handlers { h.onAdd(item) }
                }
            }
            for key in cache.keys where !seen.contains(key) {
                if let gone = cache.remove(key: key) { for h in handlers { h.onDelete(gone) } }
            }
        }
        let waiters = state.withLock { s in
            s.synced = true
            s.lastResourceVersion = rv
            s.relists += 1
            defer { s.syncWaiters = [] }
            return s.syncWaiters
        }
        for w in waiters { w.resume() }
        return rv
    }

    /// Watches from `lastResourceVersion` and applies events until the stream ends. Returns
    /// normally when the server closed the watch; throws on ERROR events (410 Gone: the caller
    /// must `relist`) and on broken connections.
    public func watchOnce() async throws(KubeClientError) {
        let options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, resourceVersion: lastResourceVersion,
                                  timeoutSeconds: watchTimeoutSeconds, allowWatchBookmarks: true)
        let stream = try await client.watch(T.self, namespace: namespace, options: options)
        do {
            for try await event in stream { apply(event) }
        } catch let error as KubeClientError {
            throw error
        } catch is CancellationError {
            return
        } catch {
            throw KubeClientError(code: 0, reason: "Transport", message: "watch \(T.kind): \(error)")
        }
    }

    /// Applies one watch event to the cache and calls the handlers.
    public func apply(_ event: WatchEvent<T>) {
        delivery.withLock { _ in
            let handlers = state.withLock { $0.handlers }
            switch event {
            case .added(let o), .modified(let o):
                let old = cache.upsert(o)
                if let old { for h in handlers { h.onUpdate(old, o) } } else { for h in handlers { h.onAdd(o) } }
            case .deleted(let o):
                let old = cache.remove(key: o.key)
                if old != nil { for h in handlers { h.onDelete(o) } }
            case .bookmark:
                break
            }
        }
        if let rv = event.resourceVersion, !rv.isEmpty { state.withLock { $0.lastResourceVersion = rv } }
    }

    /// Calls `onUpdate(o, o)` for every cached object, so handlers can repair drift.
    public func resync() {
        delivery.withLock { _ in
            let handlers = state.withLock { $0.handlers }
            for item in cache.list() { for h in handlers { h.onUpdate(item, item) } }
        }
    }
}

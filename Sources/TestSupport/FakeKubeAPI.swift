import APIMachinery
import Foundation
import KubeAPI
import KubeClient
import Synchronization

/// A stateful in-memory Kubernetes API behind `KubeAPIClient`, for unit tests of controllers,
/// the scheduler, the kubelet's API source and informers.
///
/// What it simulates, as the API server does:
/// - one global resourceVersion counter; every write bumps it; a no-op update does not;
/// - create: AlreadyExists, `generateName`, uid, creationTimestamp, generation 1;
/// - update and patch: Conflict on a stale resourceVersion; the main resource keeps the stored
///   status and the `status` subresource changes only status; generation bumps when anything
///   outside metadata and status changes; patches are merge, strategic merge (with the
///   built-in schemas) and JSON patch;
/// - delete: preconditions; objects with finalizers get a deletionTimestamp and stay until
///   the last finalizer goes; a pod bound to a node is deleted gracefully (deletionTimestamp,
///   deletionGracePeriodSeconds) until a delete with grace period 0;
/// - list with label and field selectors, limit and continue;
/// - watch from a resourceVersion (replaying history, 410 Gone before the compacted
///   revision, synthetic ADDED events from "" or "0"), with selector transitions turned into
///   ADDED/DELETED as upstream's watch cache does, and bookmarks on request;
/// - pods/binding (Conflict when already bound) and pods/eviction (429 when a
///   PodDisruptionBudget's `status.disruptionsAllowed` is 0).
///
/// Test controls: `failNext`, `breakWatches`, `compact`, `sendBookmarks`, `requestCount`.
/// Thread-safe.
public final class FakeKubeAPI: KubeAPIClient {
    /// One request verb, for failure injection and counters.
    public enum Verb: String, Sendable, Hashable, CaseIterable {
        case get, list, create, update, patch, delete, watch, bind, evict
    }

    private struct ResourceKey: Hashable {
        var apiVersion: String
        var kind: String
    }

    private struct Change {
        var rv: Int64
        var resource: ResourceKey
        var type: String
        var object: JSONValue
        var old: JSONValue?
    }

    private struct Watcher {
        var resource: ResourceKey
        var namespace: String?
        var labels: LabelSelectorQuery
        var fields: FieldSelectorQuery
        var bookmarks: Bool
        var deliver: @Sendable (String, JSONValue) -> Void
        var bookmark: @Sendable (String) -> Void
        var fail: @Sendable (KubeClientError?) -> Void
    }

    private struct Failure {
        var verb: Verb
        var kind: String?
        var error: KubeClientError
    }

    private struct State {
        var rv: Int64 = 1
        var uidCounter = 0
        var objects: [ResourceKey: [String: JSONValue]] = [:]
        var history: [Change] = []
        var compactedRV: Int64 = 0
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var failures: [Failure] = []
        var counts: [Verb: Int] = [:]
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Date
    /// History kept for watches, in changes; older changes are compacted (410 Gone).
    private let historyLimit: Int

    /// `now` stamps creation and deletion timestamps (pass a ManualClock's `now`).
    public init(now: @escaping @Sendable () -> Date = { Date() }, historyLimit: Int = 10_000) {
        self.now = now
        self.historyLimit = historyLimit
    }

    // MARK: Test controls

    /// The next `verb` request (on `kind`, or any kind) fails with `error` instead of running.
    public func failNext(_ verb: Verb, kind: String? = nil, error: KubeClientError) {
        state.withLock { $0.failures.append(Failure(verb: verb, kind: kind, error: error)) }
    }

    /// Ends every open watch stream: with `error` (a broken connection) or cleanly (nil, a
    /// server-side timeout).
    public func breakWatches(error: KubeClientError? = KubeClientError(code: 0, reason: "Transport", message: "fake: watch connection reset")) {
        let ws = state.withLock { s -> [Watcher] in
            defer { s.watchers = [:] }
            return Array(s.watchers.values)
        }
        for w in ws { w.fail(error) }
    }

    /// Forgets the watch history: a watch from an older resourceVersion gets 410 Gone.
    public func compact() {
        state.withLock { s in
            s.compactedRV = s.rv
            s.history = []
        }
    }

    /// Sends a BOOKMARK with the current resourceVersion to every watch that asked for them.
    public func sendBookmarks() {
        state.withLock { s in
            for w in s.watchers.values where w.bookmarks { w.bookmark(String(s.rv)) }
        }
    }

    /// Requests served (or failed by injection) per verb.
    public func requestCount(_ verb: Verb) -> Int { state.withLock { $0.counts[verb] ?? 0 } }

    /// Open watch streams.
    public var watcherCount: Int { state.withLock { $0.watchers.count } }

    /// The current resourceVersion.
    public var resourceVersion: String { state.withLock { String($0.rv) } }

    /// The stored objects of `type`, sorted by namespace/name (no request is counted).
    public func objects<T: KubeObject>(_ type: T.Type, namespace: String? = nil) -> [T] {
        let raw = state.withLock { s in
            (s.objects[ResourceKey(apiVersion: T.apiVersion, kind: T.kind)] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
        }
        return raw.compactMap { try? $0.decode(T.self) }.filter { namespace == nil || $0.metadata.namespace == namespace }
    }

    /// Stores objects as `create` would (no failure injection, no counting).
    public func seed<T: KubeObject>(_ objects: [T]) throws(KubeClientError) {
        for o in objects { _ = try createStored(o, options: WriteOptions()) }
    }

    // MARK: KubeAPIClient

    public func get<T: KubeObject>(_ type: T.Type, namespace: String?, name: String) async throws(KubeClientError) -> T {
        try begin(.get, T.kind)
        let info = try ResourceTable.info(for: T.self)
        let key = Self.key(info, namespace, name)
        guard let raw = state.withLock({ $0.objects[ResourceKey(apiVersion: T.apiVersion, kind: T.kind)]?[key] }) else {
            throw Self.notFound(info, name)
        }
        return try Self.typed(raw, T.self)
    }

    public func list<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> ObjectList<T> {
        try begin(.list, T.kind)
        let info = try ResourceTable.info(for: T.self)
        let labels = try LabelSelectorQuery(parsing: options.labelSelector ?? "")
        let fields = try FieldSelectorQuery(parsing: options.fieldSelector ?? "")
        let (rv, all) = state.withLock { s in
            (s.rv, (s.objects[ResourceKey(apiVersion: T.apiVersion, kind: T.kind)] ?? [:]).sorted { $0.key < $1.key })
        }
        var items: [(String, JSONValue)] = all.filter { Self.selected($0.value, info: info, namespace: namespace, labels: labels, fields: fields) }
        if let token = options.continueToken { items = items.filter { $0.0 > token } }
        var meta = ListMeta(resourceVersion: String(rv))
        if let limit = options.limit, limit > 0, items.count > limit {
            items = Array(items.prefix(limit))
            meta.continue = items.last?.0
        }
        var out: [T] = []
        for (_, raw) in items { out.append(try Self.typed(raw, T.self)) }
        return ObjectList(items: out, metadata: meta)
    }

    public func create<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError) -> T {
        try begin(.create, T.kind)
        return try Self.typed(try createStored(object, options: options), T.self)
    }

    public func update<T: KubeObject>(_ object: T, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T {
        try begin(.update, T.kind)
        let info = try ResourceTable.info(for: T.self)
        guard let name = object.metadata.name, !name.isEmpty else {
            throw KubeClientError(code: 422, reason: "Invalid", message: "\(T.kind).metadata.name: Required value")
        }
        let new = try Self.json(object)
        let result = try write(info, namespace: object.metadata.namespace, name: name, dryRun: options.dryRun) { old throws(KubeClientError) in
            if let rv = object.metadata.resourceVersion, !rv.isEmpty, rv != old["metadata"]?["resourceVersion"]?.stringValue {
                throw Self.conflict(info, name)
            }
            return new
        } merge: { old, new in Self.merged(old: old, new: new, subresource: subresource) }
        return try Self.typed(result, T.self)
    }

    public func patch<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T {
        try begin(.patch, T.kind)
        let info = try ResourceTable.info(for: T.self)
        let result = try write(info, namespace: namespace, name: name, dryRun: options.dryRun) { old throws(KubeClientError) in
            let patched: JSONValue
            do {
                switch patchType {
                case .merge: patched = JSONMergePatch.apply(patch, to: old)
                case .strategicMerge: patched = try StrategicMergePatch.apply(patch, to: old, schema: SchemaRegistry.builtin.schema(apiVersion: T.apiVersion, kind: T.kind))
                case .json: patched = try JSONPatch.apply(patch, to: old)
                case .apply:
                    throw KubeClientError(code: 415, reason: "UnsupportedMediaType", message: "FakeKubeAPI does not implement server-side apply")
                }
            } catch let e as KubeClientError {
                throw e
            } catch {
                throw KubeClientError(code: 422, reason: "Invalid", message: "patch \(info.plural) \(name): \(error)")
            }
            if let rv = patched["metadata"]?["resourceVersion"]?.stringValue, rv != old["metadata"]?["resourceVersion"]?.stringValue {
                throw Self.conflict(info, name)
            }
            return patched
        } merge: { old, new in Self.merged(old: old, new: new, subresource: subresource) }
        return try Self.typed(result, T.self)
    }

    public func delete<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, options: DeleteOptions) async throws(KubeClientError) {
        try begin(.delete, T.kind)
        try deleteStored(try ResourceTable.info(for: T.self), namespace: namespace, name: name, options: options)
    }

    public func watch<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        try begin(.watch, T.kind)
        let info = try ResourceTable.info(for: T.self)
        let labels = try LabelSelectorQuery(parsing: options.labelSelector ?? "")
        let fields = try FieldSelectorQuery(parsing: options.fieldSelector ?? "")
        let (stream, continuation) = AsyncThrowingStream<WatchEvent<T>, any Error>.makeStream()
        let resource = ResourceKey(apiVersion: T.apiVersion, kind: T.kind)
        let deliver: @Sendable (String, JSONValue) -> Void = { type, raw in
            guard let object = try? raw.decode(T.self) else { return }
            switch type {
            case "ADDED": continuation.yield(.added(object))
            case "MODIFIED": continuation.yield(.modified(object))
            default: continuation.yield(.deleted(object))
            }
        }
        let watcher = Watcher(resource: resource, namespace: namespace, labels: labels, fields: fields, bookmarks: options.allowWatchBookmarks,
                              deliver: deliver,
                              bookmark: { continuation.yield(.bookmark(resourceVersion: $0)) },
                              fail: { error in if let error { continuation.finish(throwing: error) } else { continuation.finish() } })
        let id: Int? = state.withLock { s -> Int? in
            let from = options.resourceVersion.flatMap { Int64($0) } ?? 0
            if from == 0 {
                for (_, raw) in (s.objects[resource] ?? [:]).sorted(by: { $0.key < $1.key })
                where Self.selected(raw, info: info, namespace: namespace, labels: labels, fields: fields) {
                    deliver("ADDED", raw)
                }
            } else if from < s.compactedRV {
                continuation.finish(throwing: KubeClientError(code: 410, reason: "Expired", message: "too old resource version: \(from) (\(s.compactedRV))"))
                return nil
            } else {
                for c in s.history where c.resource == resource && c.rv > from {
                    Self.dispatch(c, to: watcher, info: info)
                }
            }
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = watcher
            return id
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
            }
        }
        return stream
    }

    public func create(binding: Binding, options: WriteOptions) async throws(KubeClientError) {
        try begin(.bind, "Binding")
        let info = try ResourceTable.info(for: Pod.self)
        guard let name = binding.metadata.name, let ns = binding.metadata.namespace, let node = binding.target.name, !node.isEmpty else {
            throw KubeClientError(code: 422, reason: "Invalid", message: "binding needs metadata.name, metadata.namespace and target.name")
        }
        let stamp = Self.timestamp(now())
        _ = try write(info, namespace: ns, name: name, dryRun: options.dryRun) { old throws(KubeClientError) in
            if let uid = binding.metadata.uid, uid != old["metadata"]?["uid"]?.stringValue {
                throw KubeClientError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": uid mismatch")
            }
            if let bound = old["spec"]?["nodeName"]?.stringValue, !bound.isEmpty {
                throw KubeClientError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": pod \(name) is already assigned to node \"\(bound)\"")
            }
            var new = old
            Self.set(&new, ["spec", "nodeName"], .string(node))
            var conditions = Self.array(new["status"]?["conditions"])
            conditions.removeAll { $0["type"]?.stringValue == "PodScheduled" }
            conditions.append(.object(["type": .string("PodScheduled"), "status": .string("True"), "lastTransitionTime": .string(stamp)]))
            Self.set(&new, ["status", "conditions"], .array(conditions))
            return new
        } merge: { _, new in new }
    }

    public func evict(_ eviction: Eviction) async throws(KubeClientError) {
        try begin(.evict, "Eviction")
        let info = try ResourceTable.info(for: Pod.self)
        guard let name = eviction.metadata.name, let ns = eviction.metadata.namespace else {
            throw KubeClientError(code: 422, reason: "Invalid", message: "eviction needs metadata.name and metadata.namespace")
        }
        guard let pod = state.withLock({ $0.objects[ResourceKey(apiVersion: Pod.apiVersion, kind: Pod.kind)]?[Self.key(info, ns, name)] }) else {
            throw Self.notFound(info, name)
        }
        let labels = (try? pod["metadata"]?["labels"]?.decode([String: String].self)) ?? [:]
        let pdbInfo = try ResourceTable.info(for: PodDisruptionBudget.self)
        for pdb in objects(PodDisruptionBudget.self, namespace: ns) where pdb.spec?.selector.map({ $0.matches(labels) }) ?? false {
            let allowed = pdb.status?.disruptionsAllowed ?? 0
            if allowed <= 0 {
                throw KubeClientError(code: 429, reason: "TooManyRequests", message: "Cannot evict pod as it would violate the pod's disruption budget.",
                                      status: Status(status: "Failure", message: "Cannot evict pod as it would violate the pod's disruption budget.", reason: "TooManyRequests",
                                                     details: StatusDetails(causes: [StatusCause(reason: "DisruptionBudget", message: "The disruption budget \(pdb.metadata.name ?? "") needs \(pdb.status?.desiredHealthy ?? 0) healthy pods and has \(pdb.status?.currentHealthy ?? 0) currently")]), code: 429))
            }
            _ = try write(pdbInfo, namespace: ns, name: pdb.metadata.name ?? "", dryRun: false) { old throws(KubeClientError) in
                var new = old
                Self.set(&new, ["status", "disruptionsAllowed"], .number(Double(allowed - 1)))
                return new
            } merge: { _, new in new }
        }
        try deleteStored(info, namespace: ns, name: name, options: eviction.deleteOptions ?? DeleteOptions())
    }

    // MARK: Storage

    private func begin(_ verb: Verb, _ kind: String) throws(KubeClientError) {
        let failure = state.withLock { s -> KubeClientError? in
            s.counts[verb, default: 0] += 1
            guard let i = s.failures.firstIndex(where: { $0.verb == verb && ($0.kind == nil || $0.kind == kind) }) else { return nil }
            return s.failures.remove(at: i).error
        }
        if let failure { throw failure }
    }

    private func createStored<T: KubeObject>(_ object: T, options: WriteOptions) throws(KubeClientError) -> JSONValue {
        let info = try ResourceTable.info(for: T.self)
        var raw = try Self.json(object)
        var meta = object.metadata
        if info.namespaced {
            guard let ns = meta.namespace, !ns.isEmpty else {
                throw KubeClientError(code: 400, reason: "BadRequest", message: "the namespace of the provided object does not match the namespace sent on the request")
            }
        } else {
            meta.namespace = nil
        }
        let stamp = Self.timestamp(now())
        let resource = ResourceKey(apiVersion: T.apiVersion, kind: T.kind)
        return try state.withLock { s throws(KubeClientError) -> JSONValue in
            if meta.name?.isEmpty ?? true {
                guard let prefix = meta.generateName, !prefix.isEmpty else {
                    throw KubeClientError(code: 422, reason: "Invalid", message: "\(T.kind).metadata.name: Required value: name or generateName is required")
                }
                s.uidCounter += 1
                meta.name = prefix + Self.suffix(s.uidCounter)
            }
            let key = Self.key(info, meta.namespace, meta.name ?? "")
            if s.objects[resource]?[key] != nil {
                throw KubeClientError(code: 409, reason: "AlreadyExists", message: "\(info.plural) \"\(meta.name ?? "")\" already exists",
                                      status: Status(status: "Failure", message: "\(info.plural) \"\(meta.name ?? "")\" already exists", reason: "AlreadyExists", details: StatusDetails(name: meta.name, kind: info.plural), code: 409))
            }
            s.uidCounter += 1
            meta.uid = String(format: "00000000-0000-4000-8000-%012d", s.uidCounter)
            meta.creationTimestamp = stamp
            meta.generation = 1
            meta.deletionTimestamp = nil
            let next = s.rv + 1
            meta.resourceVersion = String(next)
            guard let metaJSON = try? JSONValue.encode(meta) else { throw KubeClientError(code: 500, reason: "InternalError", message: "cannot encode metadata") }
            Self.set(&raw, ["metadata"], metaJSON)
            if options.dryRun { return raw }
            s.rv = next
            s.objects[resource, default: [:]][key] = raw
            record(&s, Change(rv: next, resource: resource, type: "ADDED", object: raw, old: nil), info: info)
            return raw
        }
    }

    /// Reads the stored object, lets `change` produce the next one, applies `merge` (which
    /// fields the endpoint may change), then stores it with a new resourceVersion — unless
    /// nothing changed — and removes it when it is being deleted and has no finalizers left.
    private func write(_ info: ResourceInfo, namespace: String?, name: String, dryRun: Bool,
                       change: (JSONValue) throws(KubeClientError) -> JSONValue,
                       merge: (JSONValue, JSONValue) -> JSONValue) throws(KubeClientError) -> JSONValue {
        let resource = ResourceKey(apiVersion: info.apiVersion, kind: info.kind)
        let key = Self.key(info, namespace, name)
        return try state.withLock { s throws(KubeClientError) -> JSONValue in
            guard let old = s.objects[resource]?[key] else { throw Self.notFound(info, name) }
            var new = merge(old, try change(old))
            // Identity and server-owned metadata cannot be changed by a write.
            for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "name", "namespace", "generation", "resourceVersion"] {
                Self.set(&new, ["metadata", field], old["metadata"]?[field] ?? .null)
            }
            if new == old { return old }
            if Self.specChanged(old, new) {
                let gen = Self.number(old["metadata"]?["generation"]) ?? 1
                Self.set(&new, ["metadata", "generation"], .number(gen + 1))
            }
            let next = s.rv + 1
            Self.set(&new, ["metadata", "resourceVersion"], .string(String(next)))
            if dryRun { return new }
            s.rv = next
            let finalizers = Self.array(new["metadata"]?["finalizers"])
            if new["metadata"]?["deletionTimestamp"]?.stringValue != nil, finalizers.isEmpty, info.kind != "Pod" || Self.gracePeriod(new) == 0 {
                s.objects[resource]?[key] = nil
                record(&s, Change(rv: next, resource: resource, type: "DELETED", object: new, old: old), info: info)
            } else {
                s.objects[resource]?[key] = new
                record(&s, Change(rv: next, resource: resource, type: "MODIFIED", object: new, old: old), info: info)
            }
            return new
        }
    }

    private func deleteStored(_ info: ResourceInfo, namespace: String?, name: String, options: DeleteOptions) throws(KubeClientError) {
        let resource = ResourceKey(apiVersion: info.apiVersion, kind: info.kind)
        let key = Self.key(info, namespace, name)
        let stamp = Self.timestamp(now())
        try state.withLock { s throws(KubeClientError) in
            guard let old = s.objects[resource]?[key] else { throw Self.notFound(info, name) }
            if let uid = options.preconditions?.uid, uid != old["metadata"]?["uid"]?.stringValue {
                throw KubeClientError(code: 409, reason: "Conflict", message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old["metadata"]?["uid"]?.stringValue ?? "")")
            }
            if let rv = options.preconditions?.resourceVersion, rv != old["metadata"]?["resourceVersion"]?.stringValue {
                throw KubeClientError(code: 409, reason: "Conflict", message: "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(old["metadata"]?["resourceVersion"]?.stringValue ?? "")")
            }
            if options.dryRun?.contains("All") == true { return }
            var finalizers = Self.array(old["metadata"]?["finalizers"])
            if options.propagationPolicy == "Foreground", !finalizers.contains(.string("foregroundDeletion")) { finalizers.append(.string("foregroundDeletion")) }
            if options.propagationPolicy == "Orphan", !finalizers.contains(.string("orphan")) { finalizers.append(.string("orphan")) }
            var grace: Int64 = 0
            if info.kind == "Pod", let node = old["spec"]?["nodeName"]?.stringValue, !node.isEmpty, old["status"]?["phase"]?.stringValue != "Succeeded", old["status"]?["phase"]?.stringValue != "Failed" {
                let specGrace = Self.number(old["spec"]?["terminationGracePeriodSeconds"]).map { Int64($0) } ?? 30
                grace = options.gracePeriodSeconds ?? Self.number(old["metadata"]?["deletionGracePeriodSeconds"]).map { Int64($0) } ?? specGrace
            }
            let next = s.rv + 1
            if finalizers.isEmpty && grace == 0 {
                var gone = old
                Self.set(&gone, ["metadata", "resourceVersion"], .string(String(next)))
                s.rv = next
                s.objects[resource]?[key] = nil
                record(&s, Change(rv: next, resource: resource, type: "DELETED", object: gone, old: old), info: info)
                return
            }
            var new = old
            if old["metadata"]?["deletionTimestamp"]?.stringValue == nil { Self.set(&new, ["metadata", "deletionTimestamp"], .string(stamp)) }
            if info.kind == "Pod" { Self.set(&new, ["metadata", "deletionGracePeriodSeconds"], .number(Double(grace))) }
            Self.set(&new, ["metadata", "finalizers"], finalizers.isEmpty ? .null : .array(finalizers))
            if new == old { return }
            Self.set(&new, ["metadata", "resourceVersion"], .string(String(next)))
            s.rv = next
            s.objects[resource]?[key] = new
            record(&s, Change(rv: next, resource: resource, type: "MODIFIED", object: new, old: old), info: info)
        }
    }

    private func record(_ s: inout State, _ change: Change, info: ResourceInfo) {
        s.history.append(change)
        if s.history.count > historyLimit {
            let drop = s.history.count - historyLimit
            s.compactedRV = s.history[drop - 1].rv
            s.history.removeFirst(drop)
        }
        for w in s.watchers.values where w.resource == change.resource { Self.dispatch(change, to: w, info: info) }
    }

    /// Sends `change` to `watcher` as its selectors see it: an object entering the selection
    /// is ADDED, one leaving it is DELETED.
    private static func dispatch(_ change: Change, to w: Watcher, info: ResourceInfo) {
        let now = selected(change.object, info: info, namespace: w.namespace, labels: w.labels, fields: w.fields)
        let before = change.old.map { selected($0, info: info, namespace: w.namespace, labels: w.labels, fields: w.fields) } ?? false
        switch change.type {
        case "ADDED": if now { w.deliver("ADDED", change.object) }
        case "DELETED": if before || now { w.deliver("DELETED", change.object) }
        default:
            if now && before { w.deliver("MODIFIED", change.object) } else if now { w.deliver("ADDED", change.object) } else if before { w.deliver("DELETED", change.object) }
        }
    }

    // MARK: Helpers

    private static func selected(_ raw: JSONValue, info: ResourceInfo, namespace: String?, labels: LabelSelectorQuery, fields: FieldSelectorQuery) -> Bool {
        if info.namespaced, let ns = namespace, !ns.isEmpty, raw["metadata"]?["namespace"]?.stringValue != ns { return false }
        let l = (try? raw["metadata"]?["labels"]?.decode([String: String].self)) ?? [:]
        return labels.matches(l) && fields.matches(raw)
    }

    /// The main resource keeps the stored status; the status subresource changes only status.
    private static func merged(old: JSONValue, new: JSONValue, subresource: String?) -> JSONValue {
        var out: JSONValue
        if subresource == "status" {
            out = old
            set(&out, ["status"], new["status"] ?? .null)
        } else {
            out = new
            if old["status"] != nil || new["status"] != nil { set(&out, ["status"], old["status"] ?? .null) }
        }
        return out
    }

    private static func specChanged(_ old: JSONValue, _ new: JSONValue) -> Bool {
        guard case .object(var a) = old, case .object(var b) = new else { return old != new }
        for k in ["metadata", "status", "apiVersion", "kind"] {
            a[k] = nil
            b[k] = nil
        }
        return a != b
    }

    private static func gracePeriod(_ raw: JSONValue) -> Int64 {
        number(raw["metadata"]?["deletionGracePeriodSeconds"]).map { Int64($0) } ?? 0
    }

    private static func array(_ value: JSONValue?) -> [JSONValue] {
        if case .array(let a)? = value { return a }
        return []
    }

    private static func number(_ value: JSONValue?) -> Double? {
        if case .number(let d)? = value { return d }
        return nil
    }

    private static func set(_ value: inout JSONValue, _ path: [String], _ newValue: JSONValue) {
        guard let first = path.first else { value = newValue; return }
        var members: [String: JSONValue]
        if case .object(let m) = value { members = m } else { members = [:] }
        if path.count == 1 {
            if newValue == .null { members[first] = nil } else { members[first] = newValue }
        } else {
            var child = members[first] ?? .object([:])
            set(&child, Array(path.dropFirst()), newValue)
            members[first] = child
        }
        value = .object(members)
    }

    private static func key(_ info: ResourceInfo, _ namespace: String?, _ name: String) -> String {
        info.namespaced ? "\(namespace ?? "")/\(name)" : name
    }

    private static func json<T: Encodable>(_ value: T) throws(KubeClientError) -> JSONValue {
        do { return try JSONValue.encode(value) } catch {
            throw KubeClientError(code: 0, reason: "Encode", message: "cannot encode \(T.self): \(error)")
        }
    }

    private static func typed<T: Decodable>(_ raw: JSONValue, _ type: T.Type) throws(KubeClientError) -> T {
        do { return try raw.decode(T.self) } catch {
            throw KubeClientError(code: 0, reason: "Decode", message: "cannot decode \(T.self): \(error)")
        }
    }

    private static func notFound(_ info: ResourceInfo, _ name: String) -> KubeClientError {
        let message = "\(info.plural) \"\(name)\" not found"
        return KubeClientError(code: 404, reason: "NotFound", message: message,
                               status: Status(status: "Failure", message: message, reason: "NotFound", details: StatusDetails(name: name, kind: info.plural), code: 404))
    }

    private static func conflict(_ info: ResourceInfo, _ name: String) -> KubeClientError {
        let message = "Operation cannot be fulfilled on \(info.plural) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again"
        return KubeClientError(code: 409, reason: "Conflict", message: message,
                               status: Status(status: "Failure", message: message, reason: "Conflict", details: StatusDetails(name: name, kind: info.plural), code: 409))
    }

    /// Five characters from upstream's generateName alphabet (no vowels, no 0/1/3), derived
    /// from a counter so runs are reproducible.
    private static func suffix(_ n: Int) -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        var x = UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        var out = ""
        for _ in 0..<5 {
            out.append(alphabet[Int(x % UInt64(alphabet.count))])
            x /= UInt64(alphabet.count)
        }
        return out
    }

    private static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

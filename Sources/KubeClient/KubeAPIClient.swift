import KubeAPI

/// The Kubernetes REST API as every Nodekit component uses it: typed CRUD, patch, watch and
/// the pod subresources the scheduler and the eviction paths need.
///
/// Conformers: `HTTPKubeClient` (a real API server, over HTTP/1.1 or HTTPS) and
/// `FakeKubeAPI` in TestSupport (a stateful in-memory API for unit tests).
///
/// Contract shared by all methods:
/// - `namespace` is required for namespaced kinds and ignored for cluster-scoped ones; nil on a
///   namespaced kind's `list`/`watch` means all namespaces.
/// - Errors are `KubeClientError`: the server's `Status` when it sent one (code, reason,
///   message), or a transport/decoding failure with code 0.
/// - Safe to call from any task concurrently.
///
/// Writing objects you do not fully own: the typed structs are partial (they model the
/// fields Nodekit reads), so an `update` built from a decoded struct drops every field the
/// struct does not model. Writers that own only some fields (a controller writing status, a
/// kubelet writing pod conditions, a node agent writing node status) must use `patch` with
/// `.merge` (or a status patch through `subresource: "status"`). `update` is for objects the
/// caller fully owns, and it fails with 409 Conflict when `metadata.resourceVersion` is stale.
public protocol KubeAPIClient: Sendable {
    /// GET one object. 404 when it does not exist.
    func get<T: KubeObject>(_ type: T.Type, namespace: String?, name: String) async throws(KubeClientError) -> T
    /// LIST objects (one page when `options.limit` is set; follow `metadata.continue`).
    func list<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> ObjectList<T>
    /// POST a new object; its namespace comes from `object.metadata.namespace`.
    /// 409 AlreadyExists when the name is taken.
    func create<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError) -> T
    /// PUT the whole object (or its `status` subresource). 409 Conflict on a stale resourceVersion.
    func update<T: KubeObject>(_ object: T, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T
    /// PATCH an object (or a subresource) and return the result.
    func patch<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T
    /// As ``create(_:options:)``, without decoding the object the server answers with (client-go's
    /// `Do(ctx).Error()`): for callers that do not read it. The errors are the same.
    func createDiscardingResult<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError)
    /// As ``patch(_:namespace:name:patch:patchType:subresource:options:)``, without decoding the
    /// result: for writers that do not read it (a kubelet's status writes). The errors are the same.
    func patchDiscardingResult<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError)
    /// DELETE an object. Returns once the server accepted the delete; an object with finalizers
    /// or a grace period may still exist afterwards (with `deletionTimestamp` set).
    func delete<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, options: DeleteOptions) async throws(KubeClientError)
    /// WATCH changes after `options.resourceVersion`. The stream ends when the server closes
    /// the watch (the caller re-watches from the last seen resourceVersion) and throws a
    /// `KubeClientError` for a watch ERROR event (410 Gone when the version is too old) or a
    /// transport failure. Cancelling the consuming task closes the connection.
    func watch<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<WatchEvent<T>, any Error>
    /// WATCH as ``watch(_:namespace:options:)``, with the events that arrived together (one
    /// chunk of the response) delivered as one element, in order, never empty. A consumer that
    /// hands events to an actor makes one hop per batch instead of one per event, which keeps a
    /// busy watch from falling behind on a loaded machine.
    func watchBatches<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<T>], any Error>
    /// POST `pods/{name}/binding`: assigns the pod to `binding.target.name`. 409 when the pod is
    /// already bound.
    func create(binding: Binding, options: WriteOptions) async throws(KubeClientError)
    /// POST `pods/{name}/eviction`. 429 TooManyRequests when a PodDisruptionBudget forbids it.
    func evict(_ eviction: Eviction) async throws(KubeClientError)
}

extension KubeAPIClient {
    /// One event per batch, for clients that have no transport chunks to group by.
    public func watchBatches<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<T>], any Error> {
        let events = try await watch(type, namespace: namespace, options: options)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await event in events { continuation.yield([event]) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Decodes the result and drops it, for clients with nothing cheaper to do.
    public func createDiscardingResult<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError) {
        _ = try await create(object, options: options)
    }

    /// Decodes the result and drops it, for clients with nothing cheaper to do.
    public func patchDiscardingResult<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError) {
        _ = try await self.patch(type, namespace: namespace, name: name, patch: patch, patchType: patchType, subresource: subresource, options: options)
    }

    public func list<T: KubeObject>(_ type: T.Type, namespace: String? = nil) async throws(KubeClientError) -> ObjectList<T> {
        try await list(type, namespace: namespace, options: ListOptions())
    }

    public func create<T: KubeObject>(_ object: T) async throws(KubeClientError) -> T {
        try await create(object, options: WriteOptions())
    }

    public func update<T: KubeObject>(_ object: T) async throws(KubeClientError) -> T {
        try await update(object, subresource: nil, options: WriteOptions())
    }

    /// A JSON merge patch (RFC 7386) of the object or of `subresource`.
    public func mergePatch<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, _ patch: JSONValue, subresource: String? = nil) async throws(KubeClientError) -> T {
        try await self.patch(type, namespace: namespace, name: name, patch: patch, patchType: .merge, subresource: subresource, options: WriteOptions())
    }

    /// ``mergePatch(_:namespace:name:_:subresource:)`` without decoding the result.
    public func mergePatchDiscardingResult<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, _ patch: JSONValue, subresource: String? = nil) async throws(KubeClientError) {
        try await patchDiscardingResult(type, namespace: namespace, name: name, patch: patch, patchType: .merge, subresource: subresource, options: WriteOptions())
    }

    public func delete<T: KubeObject>(_ type: T.Type, namespace: String?, name: String) async throws(KubeClientError) {
        try await delete(type, namespace: namespace, name: name, options: DeleteOptions())
    }
}

/// Query parameters of LIST and WATCH.
public struct ListOptions: Sendable, Hashable {
    /// `app=web,tier!=db,env in (a,b),!legacy`: upstream's label selector syntax.
    public var labelSelector: String?
    /// `metadata.name=x,spec.nodeName=n`: equality on the fields the server supports per kind.
    public var fieldSelector: String?
    public var resourceVersion: String?
    /// `Exact` or `NotOlderThan` (list only).
    public var resourceVersionMatch: String?
    public var limit: Int?
    public var continueToken: String?
    public var timeoutSeconds: Int?
    /// Ask for BOOKMARK events (watch only); servers may ignore it.
    public var allowWatchBookmarks: Bool
    /// Client-side, never sent: the objects come back without `metadata.managedFields`, which
    /// the client skips while reading the response instead of decoding it (client-go's
    /// informer transform, as kube-scheduler sets it). For callers that never read
    /// managedFields; an `update` of such an object keeps the server's managedFields, since
    /// the server keeps them when a request has none. Clients without the option (fakes)
    /// may return them anyway.
    public var omitManagedFields: Bool

    public init(labelSelector: String? = nil, fieldSelector: String? = nil, resourceVersion: String? = nil, resourceVersionMatch: String? = nil,
                limit: Int? = nil, continueToken: String? = nil, timeoutSeconds: Int? = nil, allowWatchBookmarks: Bool = false,
                omitManagedFields: Bool = false) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resourceVersion = resourceVersion
        self.resourceVersionMatch = resourceVersionMatch
        self.limit = limit
        self.continueToken = continueToken
        self.timeoutSeconds = timeoutSeconds
        self.allowWatchBookmarks = allowWatchBookmarks
        self.omitManagedFields = omitManagedFields
    }
}

/// Query parameters of create, update and patch.
public struct WriteOptions: Sendable, Hashable {
    /// Validate and default, persist nothing (`dryRun=All`).
    public var dryRun: Bool
    /// The manager name recorded in managedFields; required for server-side apply.
    public var fieldManager: String?
    /// Server-side apply: take ownership of conflicting fields.
    public var force: Bool?

    public init(dryRun: Bool = false, fieldManager: String? = nil, force: Bool? = nil) {
        self.dryRun = dryRun
        self.fieldManager = fieldManager
        self.force = force
    }
}

/// The PATCH content types the API server accepts.
public enum PatchKind: String, Sendable, Hashable, CaseIterable {
    /// RFC 7386 JSON merge patch: objects merge, lists are replaced, null deletes.
    case merge = "application/merge-patch+json"
    /// Kubernetes strategic merge patch (lists merge by their patch merge key).
    case strategicMerge = "application/strategic-merge-patch+json"
    /// RFC 6902 JSON patch: a list of operations.
    case json = "application/json-patch+json"
    /// Server-side apply (the body is the applied configuration; needs a fieldManager).
    case apply = "application/apply-patch+yaml"
}

/// One event of a watch stream. ERROR events are not values: the stream throws them as
/// `KubeClientError`.
public enum WatchEvent<T: KubeObject>: Sendable {
    case added(T)
    case modified(T)
    case deleted(T)
    /// The server has sent everything up to `resourceVersion` (nothing changed for this watch).
    case bookmark(resourceVersion: String)

    /// The object of ADDED, MODIFIED and DELETED.
    public var object: T? {
        switch self {
        case .added(let o), .modified(let o), .deleted(let o): return o
        case .bookmark: return nil
        }
    }

    /// The resourceVersion to resume a watch from after this event.
    public var resourceVersion: String? {
        switch self {
        case .added(let o), .modified(let o), .deleted(let o): return o.metadata.resourceVersion
        case .bookmark(let rv): return rv
        }
    }
}

/// Every failure of a `KubeAPIClient` call.
public struct KubeClientError: Error, CustomStringConvertible, Sendable {
    /// The HTTP status code, or 0 when no response was received or it could not be read.
    public var code: Int
    /// The Status reason (`NotFound`, `Conflict`, `AlreadyExists`, `Expired`, `Invalid`, ...),
    /// or for code 0 one of `Transport`, `Decode`, `Encode`, `UnknownKind`, `BadRequest`.
    public var reason: String
    public var message: String
    /// The server's Status object, when it sent one.
    public var status: Status?

    public init(code: Int, reason: String, message: String, status: Status? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.status = status
    }

    /// An error from a server Status, keeping its code, reason and message.
    public init(status: Status, httpCode: Int? = nil) {
        self.init(code: httpCode ?? Int(status.code ?? 0), reason: status.reason ?? "Unknown", message: status.message ?? "", status: status)
    }

    public var description: String { "\(code) \(reason): \(message)" }

    public var isNotFound: Bool { code == 404 || reason == "NotFound" }
    /// 409 for a stale resourceVersion (`Conflict`); AlreadyExists is also 409 but not a conflict.
    public var isConflict: Bool { code == 409 && reason != "AlreadyExists" }
    public var isAlreadyExists: Bool { reason == "AlreadyExists" }
    /// 410 Gone / `Expired`: the requested resourceVersion is compacted; re-list.
    public var isGone: Bool { code == 410 || reason == "Expired" || reason == "Gone" }
    public var isTooManyRequests: Bool { code == 429 || reason == "TooManyRequests" }
    public var isInvalid: Bool { code == 422 || reason == "Invalid" }
    /// Nothing came back from the server (connection refused or reset, timeout, TLS failure).
    public var isTransport: Bool { code == 0 && reason == "Transport" }

    static func transport(_ message: String) -> KubeClientError { KubeClientError(code: 0, reason: "Transport", message: message) }
    static func decode(_ message: String) -> KubeClientError { KubeClientError(code: 0, reason: "Decode", message: message) }
    static func encode(_ message: String) -> KubeClientError { KubeClientError(code: 0, reason: "Encode", message: message) }
}

extension KubeAPIClient {
    /// This client with `ListOptions.omitManagedFields` set on every list and watch: for
    /// list-watch loops that never read managedFields (the scheduler's informers, as
    /// kube-scheduler strips them).
    public func omittingManagedFields() -> any KubeAPIClient { ManagedFieldsOmittingClient(base: self) }
}

/// Forwards every call to `base`, with `omitManagedFields` set on lists and watches.
struct ManagedFieldsOmittingClient: KubeAPIClient {
    let base: any KubeAPIClient

    func get<T: KubeObject>(_ type: T.Type, namespace: String?, name: String) async throws(KubeClientError) -> T {
        try await base.get(type, namespace: namespace, name: name)
    }

    func list<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> ObjectList<T> {
        var options = options
        options.omitManagedFields = true
        return try await base.list(type, namespace: namespace, options: options)
    }

    func create<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError) -> T {
        try await base.create(object, options: options)
    }

    func update<T: KubeObject>(_ object: T, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T {
        try await base.update(object, subresource: subresource, options: options)
    }

    func patch<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T {
        try await base.patch(type, namespace: namespace, name: name, patch: patch, patchType: patchType, subresource: subresource, options: options)
    }

    func createDiscardingResult<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError) {
        try await base.createDiscardingResult(object, options: options)
    }

    func patchDiscardingResult<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError) {
        try await base.patchDiscardingResult(type, namespace: namespace, name: name, patch: patch, patchType: patchType, subresource: subresource, options: options)
    }

    func delete<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, options: DeleteOptions) async throws(KubeClientError) {
        try await base.delete(type, namespace: namespace, name: name, options: options)
    }

    func watch<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        var options = options
        options.omitManagedFields = true
        return try await base.watch(type, namespace: namespace, options: options)
    }

    func watchBatches<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<T>], any Error> {
        var options = options
        options.omitManagedFields = true
        return try await base.watchBatches(type, namespace: namespace, options: options)
    }

    func create(binding: Binding, options: WriteOptions) async throws(KubeClientError) {
        try await base.create(binding: binding, options: options)
    }

    func evict(_ eviction: Eviction) async throws(KubeClientError) {
        try await base.evict(eviction)
    }
}

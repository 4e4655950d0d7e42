import APIMachinery
import Foundation
import KubeAPI
import Store

/// Options a write carries from its query string and body (metav1.CreateOptions,
/// UpdateOptions, DeleteOptions).
struct WriteOptions: Sendable {
    var dryRun = false
    var gracePeriodSeconds: Int64?
    var propagationPolicy: String?
    var preconditionUID: String?
    var preconditionResourceVersion: String?
    /// Who writes: recorded in metadata.managedFields as an "Update" of the fields the write
    /// adds or changes (upstream's default for server-internal writes is its own name).
    var fieldManager = "nodekit-apiserver"
    /// The desired object's managedFields were already computed by server-side apply.
    var fieldsApplied = false
    /// The subresource written through ("status", "scale"), recorded with the manager's entry.
    var subresource: String?
}

/// How a list reads: selectors, paging and the resourceVersion rules of upstream's list.
struct ListOptions: Sendable {
    var labelSelector = LabelSelectorQuery.everything
    var fieldSelector = FieldSelectorQuery.everything
    var limit = 0
    var continueToken: String?
    var resourceVersion = ""
    var resourceVersionMatch = ""
}

/// A page of a list: decoded objects, or (``RESTStorage/listServed``) their JSON as served.
struct ListPage<Item: Sendable>: Sendable {
    var items: [Item]
    var resourceVersion: Int64
    var continueToken: String?
    var remainingItemCount: Int64?
}

/// The REST semantics of one resource over the Store: create, get, list, update, delete, with
/// metadata rules, defaulting, validation, preconditions, generation, finalizers and graceful
/// deletion. Objects are stored as JSON without their resourceVersion, which is the key's mod
/// revision and is set on every read.
///
/// Thread-safety: a value type over a `Sendable` store; every method may run concurrently.
/// Writes are compare-and-swap on the mod revision, so concurrent writers never lose updates.
struct RESTStorage: Sendable {
    let store: any Store
    let registry: ResourceRegistry
    let allocator: ServiceAllocator
    let now: @Sendable () -> Date
    /// Objects decoded from the store and written to it, by key and revision: each revision of
    /// an object is decoded at most once for every read and watch.
    var cache = ObjectCache()

    // MARK: Reading

    /// The object stored in `kv`, with its resourceVersion (the mod revision) set.
    func decode(_ kv: KeyValue, _ resource: ResourceDefinition) throws(APIError) -> JSONObject {
        try decodeWithAttributes(kv, resource).object
    }

    /// ``decode(_:_:)`` with what selectors read of the object, in one cache lookup: the
    /// attributes are worked out once per revision, when it is first cached.
    func decodeWithAttributes(_ kv: KeyValue, _ resource: ResourceDefinition) throws(APIError) -> (object: JSONObject, attributes: SelectorAttributes) {
        let key = ObjectCache.Key(storageKey: kv.key, revision: kv.modRevision)
        let cached = cache.entry(key)
        if let object = cached.object {
            if let attributes = cached.attributes { return (object, attributes) }
            let attributes = SelectorAttributes(object, resource: resource)
            cache.insert(key, object: object, jsonBytes: kv.value.count, attributes: attributes)
            return (object, attributes)
        }
        var object: JSONObject
        if let written = cache.objectBeingWritten(kv.key, value: kv.value) {
            object = written
        } else {
            guard let decoded = try JSONCoding.decode(kv.value, what: "stored \(resource.plural) \(kv.key)").objectValue else {
                throw APIError.internalError("stored \(resource.plural) \(kv.key) is not a JSON object")
            }
            object = decoded
        }
        object.metadata["resourceVersion"] = .string(String(kv.modRevision))
        let attributes = cached.attributes ?? SelectorAttributes(object, resource: resource)
        cache.insert(key, object: object, jsonBytes: kv.value.count, attributes: attributes)
        return (object, attributes)
    }

    /// What selectors read of the object stored in `kv`: cached with its revision (kept when
    /// the decoded object of a superseded revision is dropped), else from the object decoded.
    func selectorAttributes(_ kv: KeyValue, _ resource: ResourceDefinition) throws(APIError) -> SelectorAttributes {
        if let attributes = cache.attributes(ObjectCache.Key(storageKey: kv.key, revision: kv.modRevision)) { return attributes }
        return try decodeWithAttributes(kv, resource).attributes
    }

    /// The object stored in `kv` as served (compact JSON, sorted keys, its resourceVersion set):
    /// byte for byte `JSONCoding.encode(decode(kv))`, built from the stored bytes without
    /// decoding them (``StoredObject/servedJSON``) unless they have another shape.
    func served(_ kv: KeyValue, _ resource: ResourceDefinition) throws(APIError) -> [UInt8] {
        let key = ObjectCache.Key(storageKey: kv.key, revision: kv.modRevision)
        if let encoded = cache.encoded(key) { return encoded }
        if let encoded = StoredObject.servedJSON(kv.value, revision: kv.modRevision) { return encoded }
        return JSONCoding.encode(try decode(kv, resource))
    }

    /// The encoded form of `object` at its resourceVersion, when this server wrote or served
    /// that revision recently: a revision's content never changes, so these are the bytes
    /// encoding `object` gives. Only for objects as stored at that revision (not a dry run's
    /// result, which carries the current resourceVersion over other content).
    func cachedEncoding(of object: JSONObject, _ resource: ResourceDefinition) -> [UInt8]? {
        guard let text = object.metadata["resourceVersion"]?.stringValue, let revision = Int64(text) else { return nil }
        return cache.encoded(ObjectCache.Key(storageKey: resource.storageKey(namespace: object.namespace, name: object.name), revision: revision))
    }

    func get(_ resource: ResourceDefinition, namespace: String?, name: String) async throws(APIError) -> JSONObject {
        try decode(try await getKV(resource, namespace: namespace, name: name), resource)
    }

    func getKV(_ resource: ResourceDefinition, namespace: String?, name: String) async throws(APIError) -> KeyValue {
        let kv: KeyValue?
        do { kv = try await store.get(resource.storageKey(namespace: namespace, name: name)) } catch { throw APIError.from(error, resource, name: name) }
        guard let kv else { throw APIError.notFound(resource, name: name) }
        return kv
    }

    /// Paged, filtered list. A continue token pins the revision of the first page, so the pages
    /// of one list are one consistent snapshot (410 once that revision is compacted).
    func list(_ resource: ResourceDefinition, namespace: String?, options: ListOptions) async throws(APIError) -> ListPage<JSONObject> {
        try await list(resource, namespace: namespace, options: options) { kv throws(APIError) in
            let object = try decode(kv, resource)
            return options.labelSelector.matches(object.labels) && options.fieldSelector.matches(object, resource: resource) ? object : nil
        }
    }

    /// `list`, with each item as served (``served(_:_:)``): a list without selectors never
    /// decodes its items (a 10k-pod list used to decode and re-encode every one); with
    /// selectors, items are decoded to test them but sent as stored.
    func listServed(_ resource: ResourceDefinition, namespace: String?, options: ListOptions) async throws(APIError) -> ListPage<[UInt8]> {
        let filtered = !options.labelSelector.requirements.isEmpty || !options.fieldSelector.requirements.isEmpty
        return try await list(resource, namespace: namespace, options: options) { kv throws(APIError) in
            if filtered {
                let object = try decode(kv, resource)
                guard options.labelSelector.matches(object.labels), options.fieldSelector.matches(object, resource: resource) else { return nil }
            }
            return try served(kv, resource)
        }
    }

    /// `list` for a Table: each item's object to compute the cells from and its served bytes
    /// for the row's object. An item not cached is decoded without `metadata.managedFields`
    /// (no column or selector reads them; a pod's entries are a third of its bytes) and is not
    /// cached, so a 10k-item list does not flush the cache of recent writes.
    func listForTable(_ resource: ResourceDefinition, namespace: String?, options: ListOptions) async throws(APIError) -> ListPage<Table.Item> {
        try await list(resource, namespace: namespace, options: options) { kv throws(APIError) in
            var object: JSONObject
            if let cached = cache.object(ObjectCache.Key(storageKey: kv.key, revision: kv.modRevision)) {
                object = cached
            } else {
                let parsed: JSONValue
                do { parsed = try JSONValue.parse(kv.value, omitting: Self.withoutManagedFields) } catch {
                    throw APIError.badRequest("error decoding stored \(resource.plural) \(kv.key): invalid JSON: \(error)")
                }
                guard let decoded = parsed.objectValue else { throw APIError.internalError("stored \(resource.plural) \(kv.key) is not a JSON object") }
                object = decoded
                object.metadata["resourceVersion"] = .string(String(kv.modRevision))
            }
            guard options.labelSelector.matches(object.labels), options.fieldSelector.matches(object, resource: resource) else { return nil }
            return Table.Item(object: object, served: try served(kv, resource))
        }
    }

    private static let withoutManagedFields = JSONOmissions([["metadata", "managedFields"]])

    /// The paging and revision rules of a list; `item` turns a key-value into the page's item,
    /// or nil when the selectors leave it out.
    private func list<Item: Sendable>(_ resource: ResourceDefinition, namespace: String?, options: ListOptions,
                                      item: (KeyValue) throws(APIError) -> Item?) async throws(APIError) -> ListPage<Item> {
        let prefix = resource.storagePrefix(namespace: namespace)
        var revision: Int64 = 0
        var startKey: String?
        if let token = options.continueToken, !token.isEmpty {
            let parsed = try ContinueToken(decoding: token, prefix: prefix)
            revision = parsed.revision
            startKey = parsed.startKey
        } else if !options.resourceVersion.isEmpty && options.resourceVersion != "0" {
            guard let rv = Int64(options.resourceVersion), rv > 0 else {
                throw APIError.badRequest("invalid resource version \"\(options.resourceVersion)\"")
            }
            if options.resourceVersionMatch == "Exact" {
                revision = rv
            } else {
                let current: Int64
                do { current = try await store.currentRevision() } catch { throw APIError.from(error, resource, name: "") }
                if rv > current { throw APIError.from(.futureRevision(requested: rv, current: current), resource, name: "") }
            }
        }
        if let name = options.fieldSelector.pinnedName, startKey == nil, namespace != nil || !resource.namespaced {
            // A list pinned to one name (kubectl get NAME -w, informers for one object) reads one key.
            let result: RangeResult
            do { result = try await store.range(RangeRequest(key: prefix + name, revision: revision)) } catch { throw APIError.from(error, resource, name: name) }
            var items: [Item] = []
            for kv in result.kvs { if let selected = try item(kv) { items.append(selected) } }
            return ListPage(items: items, resourceVersion: result.revision)
        }
        let filtered = !options.labelSelector.requirements.isEmpty || !options.fieldSelector.requirements.isEmpty
        var items: [Item] = []
        var next = startKey
        while true {
            let want = options.limit > 0 ? options.limit - items.count : 0
            // Filtering may drop keys, so read ahead in chunks of at least a few hundred. An
            // unlimited list still reads in chunks (one revision): a 10k-pod range in one
            // response exceeds etcd's 4 MiB gRPC message limit.
            let chunk = options.limit > 0 ? (filtered ? max(want, 500) : want) : Self.unlimitedListChunk
            let result: RangeResult
            do {
                result = try await store.range(.prefix(prefix, startKey: next, limit: chunk, revision: revision))
            } catch let error {
                if case .compacted = error, options.continueToken != nil {
                    throw APIError.gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.")
                }
                throw APIError.from(error, resource, name: "")
            }
            revision = result.revision
            items.reserveCapacity(items.count + result.kvs.count)
            for (index, kv) in result.kvs.enumerated() {
                guard let selected = try item(kv) else { continue }
                items.append(selected)
                if options.limit > 0 && items.count == options.limit {
                    let hasMore = index < result.kvs.count - 1 || result.more
                    guard hasMore else { return ListPage(items: items, resourceVersion: revision) }
                    let remaining = filtered ? nil : Int64(result.count - index - 1)
                    let token = ContinueToken(revision: revision, startKey: kv.key + "\u{0}").encoded
                    return ListPage(items: items, resourceVersion: revision, continueToken: token, remainingItemCount: remaining)
                }
            }
            guard result.more, let last = result.kvs.last else { break }
            next = last.key + "\u{0}"
        }
        return ListPage(items: items, resourceVersion: revision)
    }

    // MARK: Creating

    /// Prepares a new object from a request body: checks kind and namespace, sets the server's
    /// metadata, defaults and validates. Does not write.
    func prepareCreate(_ resource: ResourceDefinition, namespace: String?, body: JSONValue) throws(APIError) -> JSONObject {
        guard var object = body.objectValue else { throw APIError.badRequest("the body of the request is not a JSON object") }
        try checkTypeMeta(object, resource)
        object["apiVersion"] = .string(resource.apiVersion)
        object["kind"] = .string(resource.kind)
        var meta = object.metadata
        if resource.namespaced {
            let given = meta["namespace"]?.stringValue ?? ""
            if !given.isEmpty, let namespace, given != namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            meta["namespace"] = .string(namespace ?? given)
        } else {
            meta["namespace"] = nil
        }
        if (meta["name"]?.stringValue ?? "").isEmpty, let base = meta["generateName"]?.stringValue, !base.isEmpty {
            meta["name"] = .string(String(base.prefix(58)) + Self.randomSuffix())
        }
        meta["uid"] = .string(Self.randomUID())
        meta["creationTimestamp"] = .string(Timestamp.format(now()))
        meta["generation"] = resource.tracksGeneration ? .int(1) : nil
        for field in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] { meta[field] = nil }
        object.metadata = meta
        resource.defaults(&object)
        try validate(object, old: nil, resource)
        return object
    }

    func checkTypeMeta(_ object: JSONObject, _ resource: ResourceDefinition) throws(APIError) {
        if let kind = object["kind"]?.stringValue, !kind.isEmpty, kind != resource.kind {
            throw APIError.badRequest("the kind in the data (\(kind)) does not match the expected kind (\(resource.kind)) for \(resource.qualifiedPlural)")
        }
        if let apiVersion = object["apiVersion"]?.stringValue, !apiVersion.isEmpty, apiVersion != resource.apiVersion {
            throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(resource.apiVersion))")
        }
        if let meta = object["metadata"], meta.objectValue == nil {
            throw APIError.badRequest("metadata must be an object, got \(meta)")
        }
    }

    func validate(_ object: JSONObject, old: JSONObject?, _ resource: ResourceDefinition) throws(APIError) {
        let errors = ObjectMetaValidation.validate(object, rule: resource.nameRule) + resource.validate(object, old)
        if !errors.isEmpty { throw APIError.invalid(resource, name: object.name, errors: errors) }
    }

    func create(_ resource: ResourceDefinition, namespace: String?, body: JSONValue, options: WriteOptions) async throws(APIError) -> JSONObject {
        var object = try prepareCreate(resource, namespace: namespace, body: body)
        if !options.fieldsApplied { object = recordManagedFields(old: nil, new: object, resource, options: options) }
        if resource.namespaced { try await checkNamespaceAcceptsCreates(object.namespace) }
        if resource.kind == "Pod" && resource.group.isEmpty {
            try await ServiceAccountAdmission.admit(&object, storage: self)
            try validate(object, old: nil, resource)
        }
        let name = object.name
        var allocated: [String] = []
        if resource.kind == "Service" && resource.group.isEmpty && !options.dryRun {
            allocated = try await allocator.allocate(&object, old: nil).added
        }
        if options.dryRun { return object }
        let kv: KeyValue
        var stored = object
        stored.metadata["resourceVersion"] = nil
        let bytes = JSONCoding.encode(stored)
        let storageKey = resource.storageKey(namespace: object.namespace, name: name)
        let token = cache.beginWrite(storageKey, stored: bytes, object: stored)
        defer { cache.endWrite(storageKey, token: token) }
        do {
            kv = try await store.create(storageKey, value: bytes, ttl: nil)
        } catch {
            await allocator.release(allocated)
            if case .conflict = error { throw APIError.alreadyExists(resource, name: name) }
            throw APIError.from(error, resource, name: name)
        }
        object.metadata["resourceVersion"] = .string(String(kv.modRevision))
        cacheWritten(object, stored: bytes, key: kv.key, revision: kv.modRevision, resource)
        return object
    }

    func checkNamespaceAcceptsCreates(_ namespace: String) async throws(APIError) {
        let namespaces = Namespaces.definition
        let ns = try await get(namespaces, namespace: nil, name: namespace)
        if ns.metadata["deletionTimestamp"] != nil || ns[path: ["status", "phase"]]?.stringValue == "Terminating" {
            throw APIError(code: 403, reason: "Forbidden",
                           message: "unable to create new content in namespace \(namespace) because it is being terminated",
                           details: StatusDetails(name: namespace, kind: "namespaces", causes: [StatusCause(reason: "NamespaceTerminating", message: "namespace \(namespace) is being terminated", field: "metadata.namespace")]))
        }
    }

    /// Keys read per store range when a list has no limit.
    static let unlimitedListChunk = 1000

    /// A random (version 4) UUID in lower case, as upstream's uids: 16 bytes from the system's
    /// generator (Foundation's `UUID()` opened and read /dev/urandom for each one).
    static func randomUID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) } + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (i, byte) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func randomSuffix() -> String {
        // Upstream's alphabet: no vowels (no words) and no look-alike characters.
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet.randomElement()! })
    }

    // MARK: Updating

    /// What a PUT to the object or one of its subresources replaces.
    enum UpdateScope: Sendable { case main, status, finalize }

    /// Replaces an object (PUT). `transform` receives the current object and returns the desired
    /// one (for PUT the body; for PATCH the patched current). A resourceVersion in the desired
    /// object is a precondition (409 when stale); without one the update retries on conflicts.
    func update(_ resource: ResourceDefinition, namespace: String?, name: String, scope: UpdateScope, options: WriteOptions,
                transform: @Sendable (JSONObject) throws(APIError) -> JSONObject) async throws(APIError) -> JSONObject {
        for _ in 0..<32 {
            let kv = try await getKV(resource, namespace: namespace, name: name)
            let old = try decode(kv, resource)
            let desired = try transform(old)
            try checkTypeMeta(desired, resource)
            if !desired.name.isEmpty && desired.name != name {
                throw APIError.badRequest("the name of the object (\(desired.name)) does not match the name on the URL (\(name))")
            }
            let precondition = desired.metadata["resourceVersion"]?.stringValue ?? ""
            if !precondition.isEmpty && precondition != String(kv.modRevision) {
                throw APIError.conflict(resource, name: name)
            }
            var object = merge(desired: desired, old: old, scope: scope, resource)
            resource.defaults(&object)
            try validate(object, old: old, resource)
            if resource.tracksGeneration && specChanged(object, old) {
                object.metadata["generation"] = .int((old.metadata["generation"]?.intValue ?? 1) + 1)
            }
            if !options.fieldsApplied { object = recordManagedFields(old: old, new: object, resource, options: options) }
            var allocation = ServiceAllocator.Allocation()
            if resource.kind == "Service" && resource.group.isEmpty && !options.dryRun {
                allocation = try await allocator.allocate(&object, old: old)
            }
            if object == old || options.dryRun { return object }
            do {
                let written = try await write(object, kv: kv, old: old, resource)
                await allocator.release(allocation.dropped)
                return written
            } catch let error {
                await allocator.release(allocation.added)
                if error.reason == "Conflict" && precondition.isEmpty { continue }
                throw error
            }
        }
        throw APIError.conflict(resource, name: name, why: "too many concurrent updates")
    }

    /// `new` with its managedFields updated for an ordinary write by `options.fieldManager`:
    /// the manager owns what it added or changed, removed fields leave every manager, and the
    /// fields its (sub)resource cannot change are left as they were owned.
    func recordManagedFields(old: JSONObject?, new: JSONObject, _ resource: ResourceDefinition, options: WriteOptions) -> JSONObject {
        let schema = SchemaRegistry.builtin.schema(apiVersion: resource.apiVersion, kind: resource.kind)
        let recorded = ServerSideApply.recordUpdate(old: old.map(JSONValue.object), new: .object(new), manager: options.fieldManager,
                                                    subresource: options.subresource, schema: schema, now: Timestamp.format(now()),
                                                    resetFields: ResourceHandler.resetFields(resource, subresource: options.subresource))
        return recorded.objectValue ?? new
    }

    /// Writes `object` over `kv`; deletes it instead when it is being deleted and its last
    /// finalizer is gone. `old`, the object decoded from `kv` (`decode(kv, resource)`), lets the
    /// encoding copy what did not change from the old bytes.
    func write(_ object: JSONObject, kv: KeyValue, old: JSONObject? = nil, _ resource: ResourceDefinition) async throws(APIError) -> JSONObject {
        var stored = object
        stored.metadata["resourceVersion"] = nil
        do {
            if canFinishDeletion(object, resource) {
                let result = try await store.delete(kv.key, expectedModRevision: kv.modRevision)
                await allocator.releaseAll(of: object, resource)
                var gone = object
                gone.metadata["resourceVersion"] = .string(String(result.revision))
                return gone
            }
            let bytes = encode(stored, over: kv, old: old)
            let token = cache.beginWrite(kv.key, stored: bytes, object: stored)
            defer { cache.endWrite(kv.key, token: token) }
            let written = try await store.update(kv.key, value: bytes, expectedModRevision: kv.modRevision, ttl: nil)
            var out = object
            out.metadata["resourceVersion"] = .string(String(written.modRevision))
            cacheWritten(out, stored: bytes, key: kv.key, revision: written.modRevision, resource)
            return out
        } catch {
            throw APIError.from(error, resource, name: object.name)
        }
    }

    /// `JSONCoding.encode(stored)`, with the parts the update left unchanged copied from the
    /// bytes it replaces (``SplicedEncoding``) when the caller has their decoded object and
    /// splicing is not turned off. (Looking the object up in the cache here instead cost about
    /// what the splice saved: the cache's lock and the entry's copy.)
    private func encode(_ stored: JSONObject, over kv: KeyValue, old: JSONObject?) -> [UInt8] {
        guard SplicedEncoding.enabled, let old else { return JSONCoding.encode(stored) }
        return SplicedEncoding.encode(stored, old: old, oldBytes: kv.value)
    }

    /// Caches an object just written with its served bytes (the stored bytes with the
    /// resourceVersion spliced in): the response and every watcher send them without encoding
    /// the object again, and the next update's read finds the object.
    private func cacheWritten(_ object: JSONObject, stored: [UInt8], key: String, revision: Int64, _ resource: ResourceDefinition) {
        let cacheKey = ObjectCache.Key(storageKey: key, revision: revision)
        // A watcher usually sees the write's event before the writer learns its revision, and
        // caches these same bytes (the stored ones with the revision spliced in) and the
        // attributes then.
        let attributes = cache.attributes(cacheKey) ?? SelectorAttributes(object, resource: resource)
        if let served = cache.encoded(cacheKey) ?? StoredObject.servedJSON(stored, revision: revision) {
            cache.insert(cacheKey, object: object, encoded: served, attributes: attributes)
        } else {
            cache.insert(cacheKey, object: object, jsonBytes: stored.count, attributes: attributes)
        }
    }

    /// True when an object under deletion has nothing left to wait for: no finalizers, no
    /// namespace spec finalizers, and (for a scheduled pod under graceful deletion) no kubelet that
    /// has yet to delete it with grace 0.
    func canFinishDeletion(_ object: JSONObject, _ resource: ResourceDefinition) -> Bool {
        guard object.metadata["deletionTimestamp"] != nil, object.finalizers.isEmpty else { return false }
        if resource.kind == "Pod" && resource.group.isEmpty && (object.metadata["deletionGracePeriodSeconds"]?.intValue ?? 0) > 0 { return false }
        if resource.kind == "Namespace" && !(object[path: ["spec", "finalizers"]]?.arrayValue ?? []).isEmpty { return false }
        return true
    }

    /// The object a PUT stores: the server-owned metadata of the old object, and for resources
    /// with a status subresource the old status (main PUT) or the old everything-but-status
    /// (status PUT).
    func merge(desired: JSONObject, old: JSONObject, scope: UpdateScope, _ resource: ResourceDefinition) -> JSONObject {
        var object: JSONObject
        switch scope {
        case .main:
            object = desired
            if resource.hasStatus { object["status"] = old["status"] }
            if resource.kind == "Namespace" { object[path: ["spec", "finalizers"]] = old[path: ["spec", "finalizers"]] }
        case .status:
            object = old
            object["status"] = desired["status"]
            var meta = old.metadata
            // Upstream's status strategies keep metadata changes other than the fixed fields.
            // managedFields come from the request too: server-side apply computed them, or the
            // client sent them back (recordManagedFields keeps the live ones when it did not).
            for field in ["labels", "annotations", "ownerReferences", "finalizers", "managedFields"] { meta[field] = desired.metadata[field] }
            object.metadata = meta
        case .finalize:
            object = old
            object[path: ["spec", "finalizers"]] = desired[path: ["spec", "finalizers"]] ?? .array([])
        }
        var meta = object.metadata
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "name", "namespace"] {
            meta[field] = old.metadata[field]
        }
        meta["resourceVersion"] = old.metadata["resourceVersion"]
        meta["selfLink"] = nil
        object.metadata = meta
        object["apiVersion"] = .string(resource.apiVersion)
        object["kind"] = .string(resource.kind)
        if resource.kind == "Namespace", old[path: ["status", "phase"]]?.stringValue == "Terminating" {
            object[path: ["status", "phase"]] = .string("Terminating")
        }
        return object
    }

    /// True when anything but metadata and status changed: generation counts those changes.
    func specChanged(_ new: JSONObject, _ old: JSONObject) -> Bool {
        var a = new, b = old
        for field in ["metadata", "status"] { a[field] = nil; b[field] = nil }
        return a != b
    }

    // MARK: Deleting

    /// Deletes an object, or starts its deletion: with finalizers (or an orphan/foreground
    /// propagation policy) it gets a deletionTimestamp and stays; a scheduled pod gets a grace
    /// period and stays until deleted with grace 0; a namespace becomes Terminating. Returns the
    /// object as deleted or as marked, and whether it is gone from the store.
    func delete(_ resource: ResourceDefinition, namespace: String?, name: String, options: WriteOptions) async throws(APIError) -> (object: JSONObject, gone: Bool) {
        for _ in 0..<32 {
            let kv = try await getKV(resource, namespace: namespace, name: name)
            var object = try decode(kv, resource)
            if let uid = options.preconditionUID, uid != object.metadata["uid"]?.stringValue {
                throw APIError.conflict(resource, name: name, why: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(object.metadata["uid"]?.stringValue ?? "")")
            }
            if let rv = options.preconditionResourceVersion, rv != String(kv.modRevision) {
                throw APIError.conflict(resource, name: name, why: "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(kv.modRevision)")
            }
            var finalizers = object.finalizers
            switch options.propagationPolicy {
            case "Orphan": if !finalizers.contains("orphan") { finalizers.append("orphan") }
            case "Foreground": if !finalizers.contains("foregroundDeletion") { finalizers.append("foregroundDeletion") }
            case nil, "Background": break
            case let other?:
                throw APIError.invalid(resource, name: name, errors: [FieldError(.notSupported, "propagationPolicy", value: other, "supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"")])
            }
            let alreadyDeleting = object.metadata["deletionTimestamp"] != nil
            var grace: Int64 = 0
            if resource.kind == "Pod" && resource.group.isEmpty {
                let scheduled = !(object[path: ["spec", "nodeName"]]?.stringValue ?? "").isEmpty
                let finished = ["Succeeded", "Failed"].contains(object[path: ["status", "phase"]]?.stringValue ?? "")
                grace = options.gracePeriodSeconds ?? object[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30
                if !scheduled || finished || grace < 0 { grace = 0 }
                if alreadyDeleting, let current = object.metadata["deletionGracePeriodSeconds"]?.intValue, current < grace { grace = current }
            }
            let namespaceWithFinalizers = resource.kind == "Namespace" && !(object[path: ["spec", "finalizers"]]?.arrayValue ?? []).isEmpty
            if finalizers.isEmpty && grace == 0 && !namespaceWithFinalizers {
                if options.dryRun { return (object, true) }
                do {
                    let result = try await store.delete(kv.key, expectedModRevision: kv.modRevision)
                    await allocator.releaseAll(of: object, resource)
                    object.metadata["resourceVersion"] = .string(String(result.revision))
                    return (object, true)
                } catch let error {
                    if case .conflict = error { continue }
                    throw APIError.from(error, resource, name: name)
                }
            }
            if alreadyDeleting && finalizers == object.finalizers && grace == (object.metadata["deletionGracePeriodSeconds"]?.intValue ?? 0) {
                return (object, false)
            }
            var meta = object.metadata
            meta["finalizers"] = finalizers.isEmpty ? nil : .array(finalizers.map { .string($0) })
            if !alreadyDeleting || grace < (meta["deletionGracePeriodSeconds"]?.intValue ?? 0) {
                meta["deletionTimestamp"] = .string(Timestamp.format(now().addingTimeInterval(TimeInterval(grace))))
            }
            meta["deletionGracePeriodSeconds"] = .int(grace)
            // As upstream's BeforeDelete: one more, where there is a generation.
            if !alreadyDeleting, let generation = meta["generation"]?.intValue, generation > 0 { meta["generation"] = .int(generation + 1) }
            object.metadata = meta
            if resource.kind == "Namespace" { object[path: ["status", "phase"]] = .string("Terminating") }
            if options.dryRun { return (object, false) }
            do {
                return (try await write(object, kv: kv, resource), false)
            } catch let error {
                if error.reason == "Conflict" { continue }
                throw error
            }
        }
        throw APIError.conflict(resource, name: name, why: "too many concurrent updates")
    }
}

/// A list's continue token: the revision of the first page and the key to resume at,
/// base64url-encoded JSON (opaque to clients, as upstream's).
struct ContinueToken: Sendable {
    var revision: Int64
    var startKey: String

    init(revision: Int64, startKey: String) {
        self.revision = revision
        self.startKey = startKey
    }

    init(decoding token: String, prefix: String) throws(APIError) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let value = try? JSONDecoder().decode(JSONValue.self, from: data),
              let rv = value["rv"]?.intValue, let start = value["start"]?.stringValue, start.hasPrefix(prefix) else {
            throw APIError.badRequest("continue key is not valid: \(token)")
        }
        revision = rv
        startKey = start
    }

    var encoded: String {
        let json = JSONCoding.encode(JSONValue.object(["rv": .int(revision), "start": .string(startKey)]))
        return Data(json).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

import Foundation
import KubeAPI
import Store

/// How watches behave: how often an idle watch with `allowWatchBookmarks` gets a BOOKMARK, and
/// how long a watch lasts when the client gives no `timeoutSeconds`.
public struct WatchSettings: Sendable {
    public var bookmarkInterval: Duration
    public var defaultTimeout: Duration

    public init(bookmarkInterval: Duration = .seconds(60), defaultTimeout: Duration = .seconds(1800)) {
        self.bookmarkInterval = bookmarkInterval
        self.defaultTimeout = defaultTimeout
    }
}

/// One watch: the events of a resource (in a namespace, filtered by selectors) as
/// newline-delimited metav1.WatchEvent JSON, from a resourceVersion on.
///
/// - resourceVersion "" or "0": ADDED for every current object, then changes after that list.
/// - resourceVersion N: every change after N; when N is compacted, a single ERROR event with a
///   410 Expired Status (what client-go and the Python client expect to relist on).
/// - Objects entering or leaving the selection are sent as ADDED and DELETED, as upstream does.
/// - BOOKMARKs (with allowWatchBookmarks) carry only the kind and a resourceVersion.
struct WatchStream: Sendable {
    let storage: RESTStorage
    let resource: ResourceDefinition
    let namespace: String?
    let options: ListOptions
    let bookmarks: Bool
    let sendInitialEvents: Bool
    /// includeObject for Table events, nil for plain objects.
    let table: String?
    let timeout: Duration
    let settings: WatchSettings

    func start() async throws(APIError) -> AsyncStream<[UInt8]> {
        var initial: [JSONObject] = []
        var startRevision: Int64
        let rv = options.resourceVersion
        if rv.isEmpty || rv == "0" || sendInitialEvents {
            var listOptions = options
            listOptions.limit = 0
            listOptions.continueToken = nil
            if !sendInitialEvents { listOptions.resourceVersion = "" }
            let page = try await storage.list(resource, namespace: namespace, options: listOptions)
            initial = page.items
            startRevision = page.resourceVersion + 1
        } else {
            guard let value = Int64(rv), value > 0 else { throw APIError.badRequest("invalid resource version \"\(rv)\"") }
            startRevision = value + 1
        }
        let request: WatchRequest
        if let name = options.fieldSelector.pinnedName, namespace != nil || !resource.namespaced {
            request = WatchRequest(key: resource.storageKey(namespace: namespace, name: name), prefix: false, startRevision: startRevision, progressNotify: bookmarks)
        } else {
            request = .prefix(resource.storagePrefix(namespace: namespace), startRevision: startRevision, progressNotify: bookmarks)
        }
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .unbounded)
        let storeWatch: StoreWatch
        do {
            storeWatch = try await storage.store.watch(request)
        } catch let error {
            if case let .compacted(requested, compactRevision) = error {
                let status = APIError.gone("too old resource version: \(requested - 1) (\(compactRevision))").status
                continuation.yield(encodeEvent("ERROR", .object(JSONValue.objectFromStatus(status))))
                continuation.finish()
                return stream
            }
            throw APIError.from(error, resource, name: "")
        }
        let driver = Task {
            await run(storeWatch, initial: initial, startRevision: startRevision, continuation: continuation)
        }
        let ticker = Task {
            // Bookmarks: ask the store for a progress message on a schedule; it answers after
            // every event already delivered, so the bookmark's revision is safe to resume from.
            while bookmarks && !Task.isCancelled {
                try? await Task.sleep(for: settings.bookmarkInterval)
                storeWatch.requestProgress()
            }
        }
        let deadline = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { storeWatch.cancel() }
        }
        continuation.onTermination = { _ in
            driver.cancel()
            ticker.cancel()
            deadline.cancel()
            storeWatch.cancel()
        }
        return stream
    }

    private func run(_ watch: StoreWatch, initial: [JSONObject], startRevision: Int64, continuation: AsyncStream<[UInt8]>.Continuation) async {
        var first = true
        /// `stored`: the bytes `object` was decoded from (the event's value), when shared.
        func line(_ type: String, _ object: JSONObject, cached key: ObjectCache.Key?, stored: [UInt8]? = nil) -> [UInt8] {
            if let table {
                let rv = Int64(object.metadata["resourceVersion"]?.stringValue ?? "") ?? 0
                defer { first = false }
                return encodeEvent(type, Table.render([object], resource: resource, includeObject: table, resourceVersion: rv, continueToken: nil, withColumns: first))
            } else if let key {
                let encoded = storage.cache.encoded(key) ?? {
                    // The stored bytes with the revision spliced in are the object's encoding
                    // (a watcher usually sees a write's event before its writer caches it).
                    let bytes = stored.flatMap { StoredObject.servedJSON($0, revision: key.revision) } ?? JSONCoding.encode(object)
                    storage.cache.insert(key, encoded: bytes)
                    return bytes
                }()
                return Self.eventLine(type, encodedObject: encoded)
            } else {
                return encodeEvent(type, .object(object))
            }
        }
        for object in initial { continuation.yield(line("ADDED", object, cached: nil)) }
        if sendInitialEvents && bookmarks {
            continuation.yield(encodeEvent("BOOKMARK", bookmark(startRevision - 1, initialEventsEnd: true)))
        }
        do {
            for try await message in watch {
                switch message {
                case .progress(let revision):
                    if bookmarks { continuation.yield(encodeEvent("BOOKMARK", bookmark(revision, initialEventsEnd: false))) }
                case .events(let events):
                    // The events of one store batch go out as one chunk (one TLS record and one
                    // write instead of one per event), in order.
                    var batch: [UInt8] = []
                    for event in events {
                        if plain {
                            switch servedLine(event) {
                            case .line(let line): batch.append(contentsOf: line); continue
                            case .none: continue
                            case .decode: break
                            }
                        }
                        if let (type, object, shared) = translate(event) {
                            let stored = event.kind == .put ? event.kv.value : event.previous?.value
                            batch.append(contentsOf: line(type, object, cached: shared ? ObjectCache.Key(storageKey: event.kv.key, revision: event.revision) : nil,
                                                          stored: shared ? stored : nil))
                        }
                    }
                    if !batch.isEmpty { continuation.yield(batch) }
                }
            }
        } catch let error as StoreError {
            if case .compacted = error {
                let status = APIError.gone("too old resource version: \(error)").status
                continuation.yield(encodeEvent("ERROR", .object(JSONValue.objectFromStatus(status))))
            } else {
                let status = APIError.from(error, resource, name: "").status
                continuation.yield(encodeEvent("ERROR", .object(JSONValue.objectFromStatus(status))))
            }
        } catch {
            // Cancellation: the client went away or the watch timed out.
        }
        continuation.finish()
    }

    /// A watch without selectors, sending objects (not Tables): every event under its store
    /// prefix is in the selection, so events need no decoding.
    private var plain: Bool {
        table == nil && options.labelSelector.requirements.isEmpty && options.fieldSelector.requirements.isEmpty
    }

    enum ServedLine {
        case line([UInt8])
        /// Not sent (a delete whose previous value was compacted, as `translate`).
        case none
        /// The stored value is not in the shape `StoredObject` reads: decode it.
        case decode
    }

    /// The event line of a store event for a `plain` watch, built from the stored bytes
    /// (`StoredObject.servedJSON`) and shared through the cache with every other watch of the
    /// object: bytes equal to `translate` and `encodeEvent`'s.
    func servedLine(_ event: StoreEvent) -> ServedLine {
        let key = ObjectCache.Key(storageKey: event.kv.key, revision: event.revision)
        let type: String
        let stored: KeyValue
        switch event.kind {
        case .put:
            type = event.previous == nil ? "ADDED" : "MODIFIED"
            stored = event.kv
        case .delete:
            guard let previous = event.previous else { return .none }
            type = "DELETED"
            stored = previous
        }
        if let encoded = storage.cache.encoded(key) { return .line(Self.eventLine(type, encodedObject: encoded)) }
        guard let encoded = StoredObject.servedJSON(stored.value, revision: event.revision) else { return .decode }
        storage.cache.insert(key, encoded: encoded)
        return .line(Self.eventLine(type, encodedObject: encoded))
    }

    /// The watch event for a store event, or nil when the object is outside the selection
    /// before and after; `shared` when the object is the event's own (decoded once, whatever
    /// the number of watchers, and cached under the event's key and revision). As upstream's
    /// cacher, an object leaving the selection is sent as DELETED with its previous content
    /// and the event's resourceVersion.
    func translate(_ event: StoreEvent) -> (type: String, object: JSONObject, shared: Bool)? {
        // Selection reads the attributes (labels and selectable fields), which the cache keeps
        // for a superseded revision without its decoded object: the previous object is decoded
        // only when it is sent (DELETED).
        func selected(_ attributes: SelectorAttributes?) -> Bool {
            guard let attributes else { return false }
            if let namespace, resource.namespaced, attributes.namespace != namespace { return false }
            return options.labelSelector.matches(attributes.labels) && options.fieldSelector.matches(attributes)
        }
        let previouslySelected = selected(event.previous.flatMap { try? storage.selectorAttributes($0, resource) })
        func previousAtEvent() -> JSONObject? {
            guard let kv = event.previous, var object = try? storage.decode(kv, resource) else { return nil }
            object.metadata["resourceVersion"] = .string(String(event.revision))
            return object
        }
        switch event.kind {
        case .put:
            // The event's own object is usually cached (or being written): one lookup gives
            // both.
            guard let (object, attributes) = try? storage.decodeWithAttributes(event.kv, resource) else { return nil }
            switch (previouslySelected, selected(attributes)) {
            case (true, true): return ("MODIFIED", object, true)
            case (false, true): return ("ADDED", object, true)
            case (true, false): return previousAtEvent().map { ("DELETED", $0, false) }
            case (false, false): return nil
            }
        case .delete:
            guard previouslySelected else { return nil }
            let key = ObjectCache.Key(storageKey: event.kv.key, revision: event.revision)
            if let object = storage.cache.object(key) { return ("DELETED", object, true) }
            guard let object = previousAtEvent() else { return nil }
            storage.cache.insert(key, object: object, jsonBytes: event.previous?.value.count ?? 0)
            return ("DELETED", object, true)
        }
    }

    private func bookmark(_ revision: Int64, initialEventsEnd: Bool) -> JSONValue {
        var metadata: JSONObject = ["resourceVersion": .string(String(revision))]
        if initialEventsEnd { metadata["annotations"] = .object(["k8s.io/initial-events-end": .string("true")]) }
        return .object(["kind": .string(resource.kind), "apiVersion": .string(resource.apiVersion), "metadata": .object(metadata)])
    }

    private func encodeEvent(_ type: String, _ object: JSONValue) -> [UInt8] {
        JSONCoding.encode(JSONValue.object(["type": .string(type), "object": object])) + [10]
    }

    /// The line `encodeEvent` writes, around an object already encoded by `JSONCoding.encode`:
    /// with sorted keys "object" comes before "type".
    static func eventLine(_ type: String, encodedObject: [UInt8]) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(encodedObject.count + type.utf8.count + 24)
        line.append(contentsOf: #"{"object":"#.utf8)
        line.append(contentsOf: encodedObject)
        line.append(contentsOf: #","type":"#.utf8)
        line.append(contentsOf: JSONCoding.encode(JSONValue.string(type)))
        line.append(contentsOf: "}\n".utf8)
        return line
    }
}

extension JSONValue {
    static func objectFromStatus(_ status: Status) -> JSONObject {
        (try? JSONValue.encode(status))?.objectValue ?? [:]
    }
}

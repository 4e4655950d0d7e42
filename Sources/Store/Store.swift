internal import LinuxSystem

/// The cluster-state store: an MVCC key-value store with etcd v3's model, behind one narrow
/// protocol (kine's shape) so that the embedded default, the in-memory reference and a real etcd
/// cluster are interchangeable backends.
///
/// The model:
/// - One global revision counts every change. Each create, update, delete or TTL expiry makes
///   exactly one new revision and one ``StoreEvent``.
/// - Each key carries the revision that created it and the one that last changed it
///   (``KeyValue/createRevision``, ``KeyValue/modRevision``).
/// - Writes are compare-and-swap on the mod revision; a failed compare returns the current value
///   in ``StoreError/conflict(key:current:)``.
/// - Reads and watches see past revisions until they are compacted; below the compaction
///   revision they fail with ``StoreError/compacted(requested:compactRevision:)`` (HTTP 410).
///
/// Concurrency: every method may be called from any task at any time. A method returns once its
/// effect is durable (for the embedded backend: fsynced; for etcd: committed by the cluster).
/// Cancellation of the calling task does not undo a write that was already sent.
public protocol Store: Sendable {
    /// The newest revision a read without an explicit revision would see.
    func currentRevision() async throws(StoreError) -> Int64

    /// Creates `key`. Fails with ``StoreError/conflict(key:current:)`` carrying the existing value
    /// when the key exists. With a `ttl`, the key is deleted (a delete event) once it elapses.
    /// Returns the new key-value; its `modRevision` is the revision of the create.
    func create(_ key: String, value: [UInt8], ttl: Duration?) async throws(StoreError) -> KeyValue

    /// Replaces the value of `key` if its mod revision is still `expectedModRevision`. Fails with
    /// ``StoreError/notFound(key:)`` when the key does not exist and with
    /// ``StoreError/conflict(key:current:)`` (carrying the current value) when it changed since.
    /// A `ttl` replaces any previous TTL; nil leaves the key without one.
    func update(_ key: String, value: [UInt8], expectedModRevision: Int64, ttl: Duration?) async throws(StoreError) -> KeyValue

    /// Deletes `key`, if `expectedModRevision` is nil or still its mod revision. Fails like
    /// ``update(_:value:expectedModRevision:ttl:)``. Returns the revision of the delete and the
    /// value the key held.
    func delete(_ key: String, expectedModRevision: Int64?) async throws(StoreError) -> DeleteResult

    /// Reads one key or a key prefix at a revision.
    func range(_ request: RangeRequest) async throws(StoreError) -> RangeResult

    /// Watches one key or a prefix from a revision. Throws at once when the start revision is
    /// compacted; the returned watch then delivers, in revision order, every event from the start
    /// revision on, each with the value before it. Events are never skipped or repeated.
    func watch(_ request: WatchRequest) async throws(StoreError) -> StoreWatch

    /// Discards history below `revision`: afterwards reads below it and watches starting below it
    /// fail with ``StoreError/compacted(requested:compactRevision:)``. Compacting at or below the
    /// current compaction revision fails the same way; above the current revision it fails with
    /// ``StoreError/futureRevision(requested:current:)``.
    func compact(to revision: Int64) async throws(StoreError)

    /// Releases files, connections and background tasks, and ends every open watch. Later calls
    /// fail with ``StoreError/unavailable(_:)``. Idempotent.
    func close() async
}

extension Store {
    /// The key-value of `key` at `revision` (0: current), or nil when it does not exist there.
    public func get(_ key: String, revision: Int64 = 0) async throws(StoreError) -> KeyValue? {
        try await range(RangeRequest(key: key, revision: revision)).kvs.first
    }
}

/// A key with its value and MVCC metadata at one revision (etcd's `mvccpb.KeyValue`).
public struct KeyValue: Sendable, Hashable, CustomStringConvertible {
    public var key: String
    public var value: [UInt8]
    /// The revision of the create that started this key's current life.
    public var createRevision: Int64
    /// The revision of the last change; for a delete event, the revision of the delete.
    public var modRevision: Int64
    /// Changes since the create, starting at 1; 0 in a delete event.
    public var version: Int64

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
    }

    public var description: String {
        "\(key)@\(modRevision) (created \(createRevision), version \(version), \(value.count) bytes)"
    }
}

/// The outcome of a delete.
public struct DeleteResult: Sendable, Hashable {
    /// The revision of the delete.
    public var revision: Int64
    /// The value the key held before the delete.
    public var previous: KeyValue

    public init(revision: Int64, previous: KeyValue) {
        self.revision = revision
        self.previous = previous
    }
}

/// A read of one key, or of the keys under a prefix.
public struct RangeRequest: Sendable, Hashable {
    /// The key, or with `prefix` the prefix; keys compare as UTF-8 bytes.
    public var key: String
    /// Read every key that starts with `key`.
    public var prefix: Bool
    /// For a prefix read, start at this key (inclusive) instead of at the prefix: the next page
    /// of a paged list. Must start with the prefix.
    public var startKey: String?
    /// At most this many key-values; 0 is no limit.
    public var limit: Int
    /// The revision to read at; 0 is the current revision.
    public var revision: Int64
    /// Return only ``RangeResult/count``.
    public var countOnly: Bool

    public init(key: String, prefix: Bool = false, startKey: String? = nil, limit: Int = 0, revision: Int64 = 0, countOnly: Bool = false) {
        self.key = key
        self.prefix = prefix
        self.startKey = startKey
        self.limit = limit
        self.revision = revision
        self.countOnly = countOnly
    }

    /// A read of every key under `prefix`.
    public static func prefix(_ prefix: String, startKey: String? = nil, limit: Int = 0, revision: Int64 = 0, countOnly: Bool = false) -> RangeRequest {
        RangeRequest(key: prefix, prefix: true, startKey: startKey, limit: limit, revision: revision, countOnly: countOnly)
    }
}

/// The result of a ``RangeRequest``.
public struct RangeResult: Sendable, Hashable {
    /// Key-values in key order; empty for a count-only read.
    public var kvs: [KeyValue]
    /// True when the limit cut the result short.
    public var more: Bool
    /// The number of keys in the range (from `startKey` on), whatever the limit.
    public var count: Int
    /// The revision the read reflects: the requested one, or the current one when 0 was asked.
    public var revision: Int64

    public init(kvs: [KeyValue], more: Bool, count: Int, revision: Int64) {
        self.kvs = kvs
        self.more = more
        self.count = count
        self.revision = revision
    }
}

/// What a watch follows.
public struct WatchRequest: Sendable, Hashable {
    /// The key, or with `prefix` the prefix.
    public var key: String
    public var prefix: Bool
    /// The first revision to deliver (inclusive); 0 starts after the current revision.
    public var startRevision: Int64
    /// Send ``WatchMessage/progress(revision:)`` when no events were sent for a while, so a
    /// client can resume from a recent revision (a Kubernetes bookmark).
    public var progressNotify: Bool

    public init(key: String, prefix: Bool = false, startRevision: Int64 = 0, progressNotify: Bool = false) {
        self.key = key
        self.prefix = prefix
        self.startRevision = startRevision
        self.progressNotify = progressNotify
    }

    /// A watch of every key under `prefix`.
    public static func prefix(_ prefix: String, startRevision: Int64 = 0, progressNotify: Bool = false) -> WatchRequest {
        WatchRequest(key: prefix, prefix: true, startRevision: startRevision, progressNotify: progressNotify)
    }
}

/// One change.
public struct StoreEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case put, delete }
    public var kind: Kind
    /// For a put the new key-value; for a delete the key, an empty value and `modRevision` set to
    /// the revision of the delete.
    public var kv: KeyValue
    /// The key-value before the event; nil for a create, or when that history was compacted.
    public var previous: KeyValue?

    public init(kind: Kind, kv: KeyValue, previous: KeyValue?) {
        self.kind = kind
        self.kv = kv
        self.previous = previous
    }

    /// The revision of the change.
    public var revision: Int64 { kv.modRevision }
}

/// What a watch delivers.
public enum WatchMessage: Sendable, Hashable {
    /// Events in revision order, each revision after every one delivered before.
    case events([StoreEvent])
    /// Nothing matched up to `revision`: every later event has a higher revision.
    case progress(revision: Int64)
}

/// An open watch: an async sequence of ``WatchMessage``s, ending with an error when the backend
/// fails (``StoreError``) and normally when it is cancelled or the store closes.
public struct StoreWatch: AsyncSequence, Sendable {
    public typealias Element = WatchMessage
    private let stream: AsyncThrowingStream<WatchMessage, any Error>
    private let progress: @Sendable () -> Void
    private let stop: @Sendable () -> Void

    /// Backends build a watch from their stream, a function that asks for a progress message
    /// now, and one that stops the watch.
    public init(stream: AsyncThrowingStream<WatchMessage, any Error>, requestProgress: @escaping @Sendable () -> Void, cancel: @escaping @Sendable () -> Void) {
        self.stream = stream
        self.progress = requestProgress
        self.stop = cancel
    }

    /// Asks for a ``WatchMessage/progress(revision:)`` soon, ordered after every event already
    /// delivered (etcd's WatchProgressRequest).
    public func requestProgress() { progress() }

    /// Stops the watch; the sequence ends. Idempotent.
    public func cancel() { stop() }

    public func makeAsyncIterator() -> AsyncThrowingStream<WatchMessage, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}

/// Why a store call failed. One type for every backend, so the API server maps it once:
/// `compacted` to 410 Gone, `conflict` to 409, `notFound` to 404, `futureRevision` to 504 (as
/// kube-apiserver does for a too-large resourceVersion), the rest to 5xx or 400.
public enum StoreError: Error, Hashable, CustomStringConvertible {
    /// A read or watch asked for `requested`, below the oldest revision kept.
    case compacted(requested: Int64, compactRevision: Int64)
    /// A read asked for a revision newer than the store's.
    case futureRevision(requested: Int64, current: Int64)
    /// A compare-and-swap failed: the key exists (create) or changed (update/delete). `current`
    /// is its value now, nil when it no longer exists.
    case conflict(key: String, current: KeyValue?)
    /// An update or delete named a key that does not exist.
    case notFound(key: String)
    /// The request itself is wrong (an empty key, a start key outside the prefix...).
    case invalidArgument(String)
    /// The backend cannot serve: closed, failed, or every etcd endpoint unreachable.
    case unavailable(String)
    /// Stored data is damaged (a checksum mismatch before the end of the log, say).
    case corrupted(String)

    public var description: String {
        switch self {
        case let .compacted(requested, compactRevision):
            "store: revision \(requested) has been compacted (oldest kept: \(compactRevision))"
        case let .futureRevision(requested, current):
            "store: revision \(requested) is in the future (current: \(current))"
        case let .conflict(key, current):
            if let current { "store: conflict on \(key): it is now at revision \(current.modRevision)" } else { "store: conflict on \(key): it no longer exists" }
        case let .notFound(key):
            "store: key \(key) not found"
        case let .invalidArgument(message):
            "store: invalid request: \(message)"
        case let .unavailable(message):
            "store: unavailable: \(message)"
        case let .corrupted(message):
            "store: data corrupted: \(message)"
        }
    }
}

/// Wall-clock time for TTLs and automatic compaction, injectable so tests step time.
public protocol StoreClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMilliseconds() -> Int64
}

/// The system's real-time clock.
public struct SystemStoreClock: StoreClock {
    public init() {}
    public func nowMilliseconds() -> Int64 { wallClockMilliseconds() }
}

#if canImport(Glibc)
import Glibc
#endif
/// One entry in a key's history: a put (a live value) or a delete (a tombstone).
struct Record: Sendable, Hashable {
    var kv: KeyValue
    var deleted: Bool
    /// When the key expires (ms since the Unix epoch); 0 for no TTL. Only puts carry one.
    var expiresAt: Int64
}

/// A change applied to ``MVCCState``, also the unit the embedded log stores.
enum Mutation: Sendable, Hashable {
    case put(Record)
    case delete(key: String, revision: Int64)
    case compact(revision: Int64)
}

/// The whole MVCC key space as a value: every key's history since the compaction revision, in
/// revision order, plus the keys in byte order for ranges.
///
/// Not thread-safe: ``LocalStore`` owns it behind a lock. Being a value, it can be copied in O(1)
/// for a snapshot while writers go on (copy-on-write).
struct MVCCState: Sendable {
    /// The newest revision applied (durable or not).
    private(set) var revision: Int64 = 0
    /// Reads and watches below this revision fail as compacted.
    private(set) var compactRevision: Int64 = 0
    /// Each key's history, oldest first. Compaction keeps, per key, the newest record at or below
    /// the compaction revision (unless it is a tombstone) and everything after it.
    private(set) var histories: [String: [Record]] = [:]
    /// The keys of `histories` in UTF-8 byte order.
    private(set) var sortedKeys: [String] = []
    /// Keys whose newest record is a live put with a TTL, and when they expire.
    private(set) var expiries: [String: Int64] = [:]

    init() {}

    /// The newest record of `key`, tombstone or not.
    func latest(_ key: String) -> Record? { histories[key]?.last }

    /// The newest live record of `key` at or below `revision`.
    func live(_ key: String, at revision: Int64) -> KeyValue? {
        guard let history = histories[key] else { return nil }
        return Self.live(in: history, at: revision)
    }

    private static func live(in history: [Record], at revision: Int64) -> KeyValue? {
        var index = history.count - 1
        while index >= 0 {
            let record = history[index]
            if record.kv.modRevision <= revision { return record.deleted ? nil : record.kv }
            index -= 1
        }
        return nil
    }

    // MARK: Mutations

    /// Applies a mutation. Puts and deletes must carry `revision + 1`; the caller has checked the
    /// compare. Replaying a compaction at or below the current one is a no-op (a snapshot may
    /// already include a compaction whose log record follows it).
    mutating func apply(_ mutation: Mutation) {
        switch mutation {
        case let .put(record):
            precondition(record.kv.modRevision == revision + 1, "MVCC revisions must be consecutive")
            revision = record.kv.modRevision
            let key = record.kv.key
            if histories[key] == nil { insertSortedKey(key) }
            histories[key, default: []].append(record)
            if record.expiresAt > 0 { expiries[key] = record.expiresAt } else { expiries[key] = nil }
        case let .delete(key, deleteRevision):
            precondition(deleteRevision == revision + 1, "MVCC revisions must be consecutive")
            revision = deleteRevision
            if histories[key] == nil { insertSortedKey(key) }
            let tombstone = KeyValue(key: key, value: [], createRevision: 0, modRevision: deleteRevision, version: 0)
            histories[key, default: []].append(Record(kv: tombstone, deleted: true, expiresAt: 0))
            expiries[key] = nil
        case let .compact(compactTo):
            if compactTo > compactRevision { compact(to: compactTo) }
        }
    }

    /// Restores one key's history from a snapshot; keys must come in byte order.
    mutating func restore(key: String, history: [Record], revision snapshotRevision: Int64, compactRevision snapshotCompact: Int64) {
        histories[key] = history
        sortedKeys.append(key)
        if let last = history.last, !last.deleted, last.expiresAt > 0 { expiries[key] = last.expiresAt }
        revision = snapshotRevision
        compactRevision = snapshotCompact
    }

    /// Sets the revisions of an empty state restored from a snapshot with no keys.
    mutating func restoreRevisions(revision snapshotRevision: Int64, compactRevision snapshotCompact: Int64) {
        revision = snapshotRevision
        compactRevision = snapshotCompact
    }

    private mutating func insertSortedKey(_ key: String) {
        let index = Self.lowerBound(sortedKeys, key)
        sortedKeys.insert(key, at: index)
    }

    private mutating func compact(to compactTo: Int64) {
        compactRevision = compactTo
        var emptied = false
        for key in Array(histories.keys) {
            guard var history = histories[key] else { continue }
            guard let keep = history.lastIndex(where: { $0.kv.modRevision <= compactTo }) else { continue }
            var drop = keep
            if history[keep].deleted { drop = keep + 1 }
            if drop == 0 { continue }
            history.removeFirst(drop)
            if history.isEmpty {
                histories[key] = nil
                emptied = true
            } else {
                histories[key] = history
            }
        }
        if emptied { sortedKeys.removeAll { histories[$0] == nil } }
    }

    // MARK: Reads

    /// The keys a range request covers, as an index range into `sortedKeys`, scanned lazily.
    private func keyIndices(key: String, prefix: Bool, startKey: String?) -> (start: Int, matches: (String) -> Bool) {
        if !prefix {
            let index = Self.lowerBound(sortedKeys, key)
            return (index, { $0 == key })
        }
        let from = startKey ?? key
        return (Self.lowerBound(sortedKeys, from), { $0.utf8.starts(with: key.utf8) })
    }

    /// Serves a range at `revision`, which the caller has checked against the compaction and
    /// current revisions.
    func range(_ request: RangeRequest, at readRevision: Int64) -> RangeResult {
        if !request.prefix {
            // One key (every get, and each update's read): a hash lookup instead of a binary
            // search of the sorted keys.
            guard let history = histories[request.key], let kv = Self.live(in: history, at: readRevision) else {
                return RangeResult(kvs: [], more: false, count: 0, revision: readRevision)
            }
            return RangeResult(kvs: request.countOnly ? [] : [kv], more: false, count: 1, revision: readRevision)
        }
        let (start, matches) = keyIndices(key: request.key, prefix: request.prefix, startKey: request.startKey)
        var kvs: [KeyValue] = []
        var count = 0
        var index = start
        while index < sortedKeys.count {
            let key = sortedKeys[index]
            if !matches(key) { break }
            index += 1
            guard let kv = Self.live(in: histories[key]!, at: readRevision) else { continue }
            count += 1
            if !request.countOnly && (request.limit == 0 || kvs.count < request.limit) { kvs.append(kv) }
        }
        return RangeResult(kvs: kvs, more: request.limit > 0 && count > kvs.count && !request.countOnly, count: count, revision: readRevision)
    }

    /// Every event on keys the watch covers with a revision in `from...through`, in revision
    /// order, each with the value before it when that is still in the history.
    func events(key: String, prefix: Bool, from: Int64, through: Int64) -> [StoreEvent] {
        guard from <= through else { return [] }
        let (start, matches) = keyIndices(key: key, prefix: prefix, startKey: nil)
        var events: [StoreEvent] = []
        var index = start
        while index < sortedKeys.count {
            let name = sortedKeys[index]
            if !matches(name) { break }
            index += 1
            let history = histories[name]!
            for (position, record) in history.enumerated() where record.kv.modRevision >= from && record.kv.modRevision <= through {
                let before = position > 0 && !history[position - 1].deleted ? history[position - 1].kv : nil
                events.append(Self.event(for: record, previous: before))
            }
        }
        events.sort { $0.revision < $1.revision }
        return events
    }

    /// The event a record makes, given the key's value before it.
    static func event(for record: Record, previous: KeyValue?) -> StoreEvent {
        StoreEvent(kind: record.deleted ? .delete : .put, kv: record.kv, previous: previous)
    }

    /// The event the newest record of `key` makes.
    func latestEvent(_ key: String) -> StoreEvent? {
        guard let history = histories[key], let record = history.last else { return nil }
        let before = history.count > 1 && !history[history.count - 2].deleted ? history[history.count - 2].kv : nil
        return Self.event(for: record, previous: before)
    }

    /// The first index in `keys` whose key is not below `key` in byte order.
    static func lowerBound(_ keys: [String], _ key: String) -> Int {
        var low = 0, high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if byteLess(keys[mid], key) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Byte-order comparison, as etcd orders keys (Swift's `<` on String is not byte order for
    /// every non-ASCII string).
    static func byteLess(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { a in
            b.withUTF8 { b in
                let common = min(a.count, b.count)
                if common > 0, let x = a.baseAddress, let y = b.baseAddress {
                    let order = memcmp(x, y, common)
                    if order != 0 { return order < 0 }
                }
                return a.count < b.count
            }
        }
    }
}

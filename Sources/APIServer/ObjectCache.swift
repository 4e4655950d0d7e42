#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import KubeAPI
import Store
import Synchronization

/// Decoded objects and their encoded JSON, by storage key and revision, shared by every
/// request and watch of one API server.
///
/// A key's value at one mod revision never changes (MVCC), so an object decoded once can serve
/// every later read of that revision: each watcher of a resource used to decode every event's
/// new and previous value and encode the event on its own, and an update decoded the object
/// the previous write had just encoded. With the cache, a write's object is stored once, each
/// event is decoded at most once and encoded at most once, and every watcher whose selection
/// matches sends the same bytes.
///
/// Entries are the objects as served: `metadata.resourceVersion` set to the revision (for a
/// delete event, the object before the delete with the delete's revision). Each storage key
/// keeps its newest ``revisionsPerKey`` revisions: the current one (an update's read) and the
/// one before it (a watch with selectors compares the event's previous and new object). Only the
/// newest keeps its decoded object; a superseded one keeps what selectors read of it
/// (``SelectorAttributes``, as upstream's watch cache keeps beside each object) and its encoding,
/// which halves the estimate per key of an object written twice (a pod created, then bound). Each
/// resource holds entries up to a memory budget, estimated from the JSON sizes, and drops the
/// keys written least recently first, so it covers every object of a resource that fits in
/// the budget (the Leases of 5,000 nodes are estimated at about 54 MB) and a busy kind does not push out
/// another's. A lookup that misses is decoded again, never wrong.
///
/// Thread-safety: every method may be called from any task; entries are immutable values.
final class ObjectCache: Sendable {
    struct Key: Hashable, Sendable {
        var storageKey: String
        var revision: Int64
    }

    /// Revisions kept per storage key.
    static let revisionsPerKey = 2

    /// Estimated bytes a decoded object takes per byte of its JSON: dictionaries with their
    /// hash tables, enum boxes, strings of more than 15 bytes on the heap and malloc's headers.
    /// Measured once (session 10): a Running pod of 3,807 JSON bytes with three managedFields
    /// entries, decoded 20,000 times and kept, grew the RSS by 23.5 KB per pod (6.2x); 8 leaves
    /// room for malloc's fragmentation.
    static let decodedBytesPerJSONByte = 8

    private struct Revision: Sendable {
        var revision: Int64
        /// Kept for the newest revision of a key, and for an older one only while its
        /// `attributes` are unknown.
        var object: JSONObject?
        /// The object as served (compact JSON, sorted keys), once a watcher needed it.
        var encoded: [UInt8]?
        /// What selectors read of the object.
        var attributes: SelectorAttributes?
        /// Estimated bytes held.
        var cost: Int
    }

    private struct Slot: Sendable {
        /// Oldest first.
        var revisions: [Revision] = []
        /// The sequence number of the last revision added: the slot's live entry in `order`.
        var sequence = 0
        var cost: Int { revisions.reduce(0) { $0 + $1.cost } }
    }

    /// The entries of one resource.
    private struct Shard: Sendable {
        struct Entry: Sendable {
            var key: String
            var sequence: Int
        }

        var slots: [String: Slot] = [:]
        /// Storage keys in the order revisions were added, with the sequence number of each
        /// addition; an entry whose key was added again later is stale. `head` is the oldest.
        var order: [Entry] = []
        var head = 0
        var nextSequence = 0
        var bytes = 0

        mutating func add(_ key: Key, object: JSONObject?, encoded: [UInt8]?, attributes: SelectorAttributes?, jsonBytes: Int, budget: Int) {
            var slot = slots[key.storageKey] ?? Slot()
            slots[key.storageKey] = nil
            /// Sets the cost of revision `index` from what it holds, and the shard's bytes with it.
            func updateCost(_ index: Int) {
                let entry = slot.revisions[index]
                let cost = (entry.encoded?.count ?? 0) + (entry.object == nil ? 0 : jsonBytes * ObjectCache.decodedBytesPerJSONByte)
                    + (entry.attributes?.estimatedBytes ?? 0) + 64
                bytes += cost - entry.cost
                slot.revisions[index].cost = cost
            }
            let changed: Int
            if let index = slot.revisions.firstIndex(where: { $0.revision == key.revision }) {
                var entry = slot.revisions[index]
                if entry.attributes == nil, let attributes { entry.attributes = attributes }
                if entry.object == nil, let object, index == slot.revisions.count - 1 || entry.attributes == nil { entry.object = object }
                if entry.encoded == nil, let encoded { entry.encoded = encoded }
                slot.revisions[index] = entry
                changed = index
            } else {
                let position = slot.revisions.firstIndex { $0.revision > key.revision } ?? slot.revisions.endIndex
                if position == 0 && slot.revisions.count >= ObjectCache.revisionsPerKey {
                    // Older than every revision kept: not worth a place.
                    slots[key.storageKey] = slot
                    return
                }
                slot.revisions.insert(Revision(revision: key.revision, object: object, encoded: encoded, attributes: attributes, cost: 0), at: position)
                if slot.revisions.count > ObjectCache.revisionsPerKey {
                    bytes -= slot.revisions.removeFirst().cost
                    changed = position - 1
                } else {
                    changed = position
                }
                nextSequence += 1
                slot.sequence = nextSequence
                order.append(Entry(key: key.storageKey, sequence: nextSequence))
            }
            updateCost(changed)
            // A superseded revision is read by watches with selectors (its attributes) and
            // by lagging watchers (its encoding); reads and updates want the newest. Its
            // decoded object, most of an entry's cost, goes once its attributes are known.
            for index in slot.revisions.indices.dropLast() where slot.revisions[index].object != nil && slot.revisions[index].attributes != nil {
                slot.revisions[index].object = nil
                updateCost(index)
            }
            slots[key.storageKey] = slot
            evict(toFit: budget)
        }

        mutating func evict(toFit budget: Int) {
            while bytes > budget && head < order.count {
                let oldest = order[head]
                head += 1
                guard let slot = slots[oldest.key], slot.sequence == oldest.sequence else { continue }
                bytes -= slot.cost
                slots[oldest.key] = nil
            }
            // Keys rewritten while the shard is under its budget leave stale entries: keep
            // the queue within twice the live keys (amortised O(1) per addition).
            if order.count - head > 2 * slots.count + 1024 {
                order = order[head...].filter { slots[$0.key]?.sequence == $0.sequence }
                head = 0
            }
        }
    }

    /// Estimated bytes each resource may hold.
    let budgetBytes: Int
    private let shards = Mutex<[String: Shard]>([:])

    init(budgetBytes: Int = ObjectCache.defaultBudgetBytes) {
        self.budgetBytes = max(0, budgetBytes)
    }

    /// The default budget per resource: a sixteenth of the machine's memory, at least 128 MiB
    /// and at most 1 GiB. kube-apiserver's watch cache keeps every current object of a resource
    /// decoded, with no budget; this cache keeps two revisions per key within the budget, so
    /// the budget decides how many objects a busy resource keeps. With 128 MiB, a cluster of
    /// 50,000 pods kept about the last 2,000 pods written, and a binding or status write that
    /// came seconds after the pod's create decoded the stored bytes again (6% of hollow-bench's
    /// CPU at 5,000 nodes and 50,000 pods; docs/scheduler-bench.md, tenth session).
    static let defaultBudgetBytes: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return 128 << 20 }
        return min(max(pages * pageSize / 16, 128 << 20), 1 << 30)
    }()

    /// The resource an entry belongs to: the storage key up to its namespace or name
    /// (`/registry/<group>/<plural>/`); keys of another shape share one shard.
    private static func resource(of storageKey: String) -> Substring {
        let bytes = storageKey.utf8
        var slashes = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "/") {
            slashes += 1
            if slashes == 4 { return storageKey[..<bytes.index(after: index)] }
        }
        return ""
    }

    private func revision(_ key: Key) -> Revision? {
        let shard = String(Self.resource(of: key.storageKey))
        return shards.withLock { $0[shard]?.slots[key.storageKey]?.revisions.first { $0.revision == key.revision } }
    }

    /// The decoded object of `key` at its revision, or nil when it is not cached.
    func object(_ key: Key) -> JSONObject? { revision(key)?.object }

    /// What selectors read of the object of `key` at its revision, or nil when not cached.
    func attributes(_ key: Key) -> SelectorAttributes? { revision(key)?.attributes }

    /// The decoded object and the attributes of `key` at its revision, each nil when not cached.
    func entry(_ key: Key) -> (object: JSONObject?, attributes: SelectorAttributes?) {
        let found = revision(key)
        return (found?.object, found?.attributes)
    }

    /// The object's encoded JSON, or nil when it is not cached.
    func encoded(_ key: Key) -> [UInt8]? { revision(key)?.encoded }

    /// Records the decoded object of `key`, decoded from `jsonBytes` bytes of JSON, with what
    /// selectors read of it when known; a known one is kept, since a revision's object never
    /// changes. A revision older than the key's newest keeps only the attributes when given.
    func insert(_ key: Key, object: JSONObject, jsonBytes: Int, attributes: SelectorAttributes? = nil) {
        update(key, object: object, encoded: nil, attributes: attributes, jsonBytes: jsonBytes)
    }

    /// Records the encoded object of `key`; a known encoding is kept.
    func insert(_ key: Key, encoded: [UInt8]) {
        update(key, object: nil, encoded: encoded, attributes: nil, jsonBytes: encoded.count)
    }

    /// Records both forms of an object just written, in one step.
    func insert(_ key: Key, object: JSONObject, encoded: [UInt8], attributes: SelectorAttributes? = nil) {
        update(key, object: object, encoded: encoded, attributes: attributes, jsonBytes: encoded.count)
    }

    private func update(_ key: Key, object: JSONObject?, encoded: [UInt8]?, attributes: SelectorAttributes?, jsonBytes: Int) {
        let shardName = String(Self.resource(of: key.storageKey))
        let budget = budgetBytes
        shards.withLock { shards in
            shards[shardName, default: Shard()].add(key, object: object, encoded: encoded, attributes: attributes, jsonBytes: jsonBytes, budget: budget)
        }
    }

    // MARK: Writes in flight

    /// A write between handing its bytes to the store and learning its revision.
    private struct PendingWrite: Sendable {
        var token: Int
        var stored: [UInt8]
        var object: JSONObject
    }

    private let writes = Mutex<(next: Int, byKey: [String: [PendingWrite]])>((0, [:]))

    /// Records that `object`, encoded as `stored`, is being written to `storageKey`. The store
    /// hands the write's event to watchers when it is durable, which is before the writer
    /// learns the revision and caches the object: a watcher that finds the revision missing
    /// takes the object from here instead of decoding the bytes again. Returns a token for
    /// ``endWrite(_:token:)``, which must follow whatever the write's outcome.
    func beginWrite(_ storageKey: String, stored: [UInt8], object: JSONObject) -> Int {
        writes.withLock { writes in
            writes.next += 1
            writes.byKey[storageKey, default: []].append(PendingWrite(token: writes.next, stored: stored, object: object))
            return writes.next
        }
    }

    func endWrite(_ storageKey: String, token: Int) {
        writes.withLock { writes in
            writes.byKey[storageKey]?.removeAll { $0.token == token }
            if writes.byKey[storageKey]?.isEmpty == true { writes.byKey[storageKey] = nil }
        }
    }

    /// The object of a write in flight to `storageKey` whose bytes are `value` (as stored,
    /// without a resourceVersion), or nil.
    func objectBeingWritten(_ storageKey: String, value: [UInt8]) -> JSONObject? {
        writes.withLock { $0.byKey[storageKey]?.first { $0.stored == value }?.object }
    }

    /// Entries currently held, over all resources (for tests).
    var count: Int { shards.withLock { $0.values.reduce(0) { $0 + $1.slots.values.reduce(0) { $0 + $1.revisions.count } } } }

    /// Estimated bytes held, over all resources.
    var bytes: Int { shards.withLock { $0.values.reduce(0) { $0 + $1.bytes } } }
}

/// Stored objects served without decoding them: the store keeps an object as compact JSON with
/// sorted keys and without `metadata.resourceVersion` (the key's mod revision is the version),
/// so serving it means inserting that one member where sorted order puts it.
enum StoredObject {
    /// `stored` with `"resourceVersion":"<revision>"` inserted into its `metadata`, before the
    /// first member whose key sorts after it. The result is what `JSONCoding.encode` gives for
    /// the decoded object with the resourceVersion set, when `stored` was written by
    /// `JSONCoding.encode` (every object this server stores). Nil when `stored` is not an object
    /// with a `metadata` object, or already holds a resourceVersion: the caller decodes then.
    static func servedJSON(_ stored: [UInt8], revision: Int64) -> [UInt8]? {
        var metadata: Range<Int>?
        do {
            _ = try JSONScanner.forEachMember(of: stored, in: 0..<stored.count) { member in
                guard member.key == "metadata" else { return true }
                metadata = member.value
                return false
            }
        } catch {
            return nil
        }
        guard let metadata, stored[metadata.lowerBound] == UInt8(ascii: "{") else { return nil }
        var insertAt: Int?
        var afterLast = metadata.lowerBound + 1
        var hasMembers = false
        var present = false
        do {
            _ = try JSONScanner.forEachMember(of: stored, in: metadata) { member in
                if member.key == "resourceVersion" {
                    present = true
                    return false
                }
                if member.key > "resourceVersion" {
                    insertAt = member.keyStart
                    return false
                }
                hasMembers = true
                afterLast = member.value.upperBound
                return true
            }
        } catch {
            return nil
        }
        if present { return nil }
        let member = Array(#""resourceVersion":""#.utf8) + Array(String(revision).utf8) + [UInt8(ascii: "\"")]
        var out: [UInt8] = []
        out.reserveCapacity(stored.count + member.count + 1)
        if let insertAt {
            out.append(contentsOf: stored[..<insertAt])
            out.append(contentsOf: member)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: stored[insertAt...])
        } else {
            out.append(contentsOf: stored[..<afterLast])
            if hasMembers { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: member)
            out.append(contentsOf: stored[afterLast...])
        }
        return out
    }
}

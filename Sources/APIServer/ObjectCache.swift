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
/// delete event, the object before the delete with the delete's revision). Each resource keeps
/// its newest `capacity` entries (first in, first out), so a busy kind (Leases) does not push
/// out another's; a lookup that misses is decoded again, never wrong.
///
/// Thread-safety: every method may be called from any task; entries are immutable values.
final class ObjectCache: Sendable {
    struct Key: Hashable, Sendable {
        var storageKey: String
        var revision: Int64
    }

    private struct Entry: Sendable {
        var object: JSONObject?
        /// The object as served (compact JSON, sorted keys), once a watcher needed it.
        var encoded: [UInt8]?
    }

    private struct Ring: Sendable {
        var entries: [Key: Entry] = [:]
        /// Keys in insertion order; `head` is the oldest once the ring is full.
        var order: [Key] = []
        var head = 0

        mutating func add(_ key: Key, _ entry: Entry, capacity: Int) {
            if order.count < capacity {
                order.append(key)
            } else {
                entries[order[head]] = nil
                order[head] = key
                head = (head + 1) % capacity
            }
            entries[key] = entry
        }
    }

    /// Entries kept per resource (its storage prefix).
    let capacity: Int
    private let rings = Mutex<[String: Ring]>([:])

    init(capacity: Int = 1024) {
        self.capacity = max(1, capacity)
    }

    /// The resource an entry belongs to: the storage key up to its namespace or name
    /// (`/registry/<group>/<plural>/`); keys of another shape share one ring.
    private static func resource(of storageKey: String) -> Substring {
        let bytes = storageKey.utf8
        var slashes = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "/") {
            slashes += 1
            if slashes == 4 { return storageKey[..<bytes.index(after: index)] }
        }
        return ""
    }

    /// The decoded object of `key` at its revision, or nil when it is not cached.
    func object(_ key: Key) -> JSONObject? {
        let ring = String(Self.resource(of: key.storageKey))
        return rings.withLock { $0[ring]?.entries[key]?.object }
    }

    /// The object's encoded JSON, or nil when it is not cached.
    func encoded(_ key: Key) -> [UInt8]? {
        let ring = String(Self.resource(of: key.storageKey))
        return rings.withLock { $0[ring]?.entries[key]?.encoded }
    }

    /// Records the decoded object of `key`; a known one is kept, since a revision's object
    /// never changes.
    func insert(_ key: Key, object: JSONObject) {
        update(key) { if $0.object == nil { $0.object = object } }
    }

    /// Records the encoded object of `key`; a known encoding is kept.
    func insert(_ key: Key, encoded: [UInt8]) {
        update(key) { if $0.encoded == nil { $0.encoded = encoded } }
    }

    /// Records both forms of an object just written, in one step.
    func insert(_ key: Key, object: JSONObject, encoded: [UInt8]) {
        update(key) { entry in
            if entry.object == nil { entry.object = object }
            if entry.encoded == nil { entry.encoded = encoded }
        }
    }

    private func update(_ key: Key, _ change: (inout Entry) -> Void) {
        let ring = String(Self.resource(of: key.storageKey))
        rings.withLock { rings in
            if rings[ring]?.entries[key] != nil {
                change(&rings[ring]!.entries[key]!)
            } else {
                var entry = Entry()
                change(&entry)
                rings[ring, default: Ring()].add(key, entry, capacity: capacity)
            }
        }
    }

    /// Entries currently held, over all resources (for tests).
    var count: Int { rings.withLock { $0.values.reduce(0) { $0 + $1.entries.count } } }
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

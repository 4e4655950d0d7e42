import Store

/// A backend under test: the store, a key prefix no other check uses, and a way to make time
/// pass for TTLs.
public struct StoreUnderTest: Sendable {
    public let store: any Store
    public let prefix: String
    /// Lets `duration` pass for TTLs and processes expiries: a manual clock step plus a
    /// maintenance pass for the local backends, real waiting for etcd.
    public let elapse: @Sendable (Duration) async throws -> Void

    public init(store: any Store, prefix: String, elapse: @escaping @Sendable (Duration) async throws -> Void) {
        self.store = store
        self.prefix = prefix
        self.elapse = elapse
    }
}

/// A conformance check that did not hold.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let check: String
    public let message: String
    public var description: String { "\(check): \(message)" }
}

/// The one conformance suite every ``Store`` backend runs (memory, embedded, etcd). Each check
/// throws ``ConformanceFailure`` naming what differed, so the same checks run from the unit and
/// the integration test targets.
public enum StoreConformance {
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        case createGetUpdateDelete, createConflictReturnsCurrent, compareAndSwapFailures, binaryValues
        case rangePrefixLimitCount, pagingWithStartKey, readAtPastRevision, futureRevision
        case watchFromPastWithPrevious, watchLiveFiltersByPrefix, watchProgress
        case compaction, watchFromCompactedRevision, ttlExpiry
        public var description: String { rawValue }
    }

    public static func run(_ check: Check, on target: StoreUnderTest) async throws {
        let store = target.store
        let p = target.prefix
        func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw ConformanceFailure(check: check.rawValue, message: message()) }
        }
        func expectError(_ message: String, _ body: () async throws -> Void, matches: (StoreError) -> Bool) async throws {
            var caught: StoreError?
            do {
                try await body()
            } catch let error as StoreError {
                caught = error
            }
            guard let caught else { throw ConformanceFailure(check: check.rawValue, message: "\(message): no error") }
            try expect(matches(caught), "\(message): got \(caught)")
        }
        let v1: [UInt8] = Array("one".utf8), v2: [UInt8] = Array("two".utf8)

        switch check {
        case .createGetUpdateDelete:
            let created = try await store.create(p + "k", value: v1, ttl: nil)
            try expect(created.version == 1 && created.createRevision == created.modRevision && created.value == v1, "create returned \(created)")
            let read = try await store.get(p + "k")
            try expect(read == created, "get returned \(String(describing: read)), want \(created)")
            let updated = try await store.update(p + "k", value: v2, expectedModRevision: created.modRevision, ttl: nil)
            try expect(updated.version == 2 && updated.createRevision == created.createRevision && updated.modRevision > created.modRevision,
                       "update returned \(updated)")
            let deleted = try await store.delete(p + "k", expectedModRevision: updated.modRevision)
            try expect(deleted.previous == updated && deleted.revision > updated.modRevision, "delete returned \(deleted)")
            try expect(try await store.get(p + "k") == nil, "key still readable after delete")
            let current = try await store.currentRevision()
            try expect(current >= deleted.revision, "current revision \(current) is below the delete at \(deleted.revision)")
            let again = try await store.create(p + "k", value: v1, ttl: nil)
            try expect(again.version == 1 && again.createRevision > deleted.revision, "re-create returned \(again)")
            let unconditional = try await store.delete(p + "k", expectedModRevision: nil)
            try expect(unconditional.previous == again, "unconditional delete returned \(unconditional)")

        case .createConflictReturnsCurrent:
            let first = try await store.create(p + "k", value: v1, ttl: nil)
            try await expectError("second create", { _ = try await store.create(p + "k", value: v2, ttl: nil) }) {
                if case let .conflict(key, current) = $0 { return key == p + "k" && current == first }
                return false
            }

        case .compareAndSwapFailures:
            let first = try await store.create(p + "k", value: v1, ttl: nil)
            let second = try await store.update(p + "k", value: v2, expectedModRevision: first.modRevision, ttl: nil)
            try await expectError("update with a stale revision", { _ = try await store.update(p + "k", value: v1, expectedModRevision: first.modRevision, ttl: nil) }) {
                if case let .conflict(_, current) = $0 { return current == second }
                return false
            }
            try await expectError("delete with a stale revision", { _ = try await store.delete(p + "k", expectedModRevision: first.modRevision) }) {
                if case let .conflict(_, current) = $0 { return current == second }
                return false
            }
            try await expectError("update of a missing key", { _ = try await store.update(p + "missing", value: v1, expectedModRevision: 1, ttl: nil) }) {
                $0 == .notFound(key: p + "missing")
            }
            try await expectError("delete of a missing key", { _ = try await store.delete(p + "missing", expectedModRevision: nil) }) {
                $0 == .notFound(key: p + "missing")
            }
            try expect(try await store.get(p + "k") == second, "a failed compare changed the key")

        case .binaryValues:
            let bytes = (0...255).map { UInt8($0) } + [0, 0, 255]
            let created = try await store.create(p + "bin", value: bytes, ttl: nil)
            try expect(try await store.get(p + "bin")?.value == bytes, "binary value changed in a round trip")
            let empty = try await store.update(p + "bin", value: [], expectedModRevision: created.modRevision, ttl: nil)
            try expect(try await store.get(p + "bin") == empty && empty.value.isEmpty, "empty value not kept")

        case .rangePrefixLimitCount:
            for name in ["c", "a", "b"] { _ = try await store.create(p + "r/" + name, value: Array(name.utf8), ttl: nil) }
            _ = try await store.create(p + "r0", value: v1, ttl: nil)
            _ = try await store.create(p + "q", value: v1, ttl: nil)
            let all = try await store.range(.prefix(p + "r/"))
            try expect(all.kvs.map(\.key) == [p + "r/a", p + "r/b", p + "r/c"] && all.count == 3 && !all.more, "prefix read returned \(all.kvs.map(\.key)), count \(all.count)")
            let limited = try await store.range(.prefix(p + "r/", limit: 2))
            try expect(limited.kvs.map(\.key) == [p + "r/a", p + "r/b"] && limited.more && limited.count == 3, "limit 2 returned \(limited.kvs.map(\.key)) more=\(limited.more) count=\(limited.count)")
            let counted = try await store.range(.prefix(p + "r/", countOnly: true))
            try expect(counted.kvs.isEmpty && counted.count == 3, "count-only returned \(counted.kvs.count) kvs, count \(counted.count)")
            let single = try await store.range(RangeRequest(key: p + "r"))
            try expect(single.kvs.isEmpty && single.count == 0, "exact read of a key that only prefixes others returned \(single.kvs.map(\.key))")

        case .pagingWithStartKey:
            for index in 0..<5 { _ = try await store.create(p + "page/\(index)", value: v1, ttl: nil) }
            let first = try await store.range(.prefix(p + "page/", limit: 2))
            try expect(first.kvs.map(\.key) == [p + "page/0", p + "page/1"] && first.more, "first page \(first.kvs.map(\.key))")
            _ = try await store.create(p + "page/9", value: v1, ttl: nil)
            let second = try await store.range(.prefix(p + "page/", startKey: p + "page/1\u{0}", limit: 2, revision: first.revision))
            try expect(second.kvs.map(\.key) == [p + "page/2", p + "page/3"] && second.more && second.count == 3 && second.revision == first.revision,
                       "second page at the first page's revision: \(second.kvs.map(\.key)) more=\(second.more) count=\(second.count) rev=\(second.revision)")

        case .readAtPastRevision:
            let a = try await store.create(p + "h", value: v1, ttl: nil)
            let b = try await store.update(p + "h", value: v2, expectedModRevision: a.modRevision, ttl: nil)
            let d = try await store.delete(p + "h", expectedModRevision: b.modRevision)
            try expect(try await store.get(p + "h", revision: a.modRevision) == a, "read at the create's revision")
            try expect(try await store.get(p + "h", revision: b.modRevision) == b, "read at the update's revision")
            try expect(try await store.get(p + "h", revision: d.revision) == nil, "read at the delete's revision")
            try expect(try await store.get(p + "h", revision: a.modRevision - 1) == nil, "read before the create")
            let past = try await store.range(.prefix(p, revision: a.modRevision))
            try expect(past.revision == a.modRevision && past.kvs == [a], "range at a past revision returned \(past.kvs) at \(past.revision)")

        case .futureRevision:
            let current = try await store.currentRevision()
            try await expectError("read at a future revision", { _ = try await store.range(.prefix(p, revision: current + 1000)) }) {
                if case .futureRevision = $0 { return true }
                return false
            }

        case .watchFromPastWithPrevious:
            let a = try await store.create(p + "w", value: v1, ttl: nil)
            let b = try await store.update(p + "w", value: v2, expectedModRevision: a.modRevision, ttl: nil)
            let d = try await store.delete(p + "w", expectedModRevision: b.modRevision)
            let watch = try await store.watch(.prefix(p, startRevision: a.modRevision))
            let events = try await collectEvents(watch, count: 3)
            try expect(events.count == 3, "got \(events.count) events, want 3")
            try expect(events[0].kind == .put && events[0].kv == a && events[0].previous == nil, "first event \(events[0])")
            try expect(events[1].kind == .put && events[1].kv == b && events[1].previous == a, "second event \(events[1])")
            try expect(events[2].kind == .delete && events[2].kv.key == p + "w" && events[2].revision == d.revision && events[2].previous == b,
                       "third event \(events[2])")

        case .watchLiveFiltersByPrefix:
            let watch = try await store.watch(.prefix(p + "a/"))
            let x = try await store.create(p + "a/x", value: v1, ttl: nil)
            _ = try await store.create(p + "b/y", value: v1, ttl: nil)
            _ = try await store.create(p + "a", value: v1, ttl: nil)
            let z = try await store.create(p + "a/z", value: v2, ttl: nil)
            let exact = try await store.watch(WatchRequest(key: p + "a/x"))
            let x2 = try await store.update(p + "a/x", value: v2, expectedModRevision: x.modRevision, ttl: nil)
            let events = try await collectEvents(watch, count: 3)
            try expect(events.map(\.kv) == [x, z, x2], "prefix watch got \(events.map(\.kv.key))")
            try expect(events[2].previous == x, "prev value of the update: \(String(describing: events[2].previous))")
            let exactEvents = try await collectEvents(exact, count: 1)
            try expect(exactEvents.map(\.kv) == [x2], "key watch got \(exactEvents.map(\.kv.key))")

        case .watchProgress:
            let watch = try await store.watch(.prefix(p + "quiet/", progressNotify: true))
            let written = try await store.create(p + "elsewhere", value: v1, ttl: nil)
            watch.requestProgress()
            var progress: Int64?
            for try await message in watch {
                if case let .progress(revision) = message { progress = revision; break }
                if case .events = message { throw ConformanceFailure(check: check.rawValue, message: "events on a quiet prefix") }
            }
            watch.cancel()
            try expect((progress ?? 0) >= written.modRevision, "progress revision \(String(describing: progress)) is below \(written.modRevision)")

        case .compaction:
            let a = try await store.create(p + "c", value: v1, ttl: nil)
            let b = try await store.update(p + "c", value: v2, expectedModRevision: a.modRevision, ttl: nil)
            let other = try await store.create(p + "d", value: v1, ttl: nil)
            try await store.compact(to: other.modRevision)
            try await expectError("read below the compaction", { _ = try await store.range(.prefix(p, revision: a.modRevision)) }) {
                if case .compacted = $0 { return true }
                return false
            }
            let at = try await store.range(.prefix(p, revision: other.modRevision))
            try expect(at.kvs == [b, other], "read at the compaction revision returned \(at.kvs)")
            try expect(try await store.get(p + "c") == b, "compaction lost the newest value")
            try await expectError("compacting again at the same revision", { try await store.compact(to: other.modRevision) }) {
                if case .compacted = $0 { return true }
                return false
            }
            let current = try await store.currentRevision()
            try await expectError("compacting in the future", { try await store.compact(to: current + 1000) }) {
                if case .futureRevision = $0 { return true }
                return false
            }

        case .watchFromCompactedRevision:
            let a = try await store.create(p + "wc", value: v1, ttl: nil)
            let b = try await store.update(p + "wc", value: v2, expectedModRevision: a.modRevision, ttl: nil)
            let c = try await store.update(p + "wc", value: v1, expectedModRevision: b.modRevision, ttl: nil)
            try await store.compact(to: c.modRevision)
            try await expectError("watch from a compacted revision", { _ = try await store.watch(.prefix(p, startRevision: a.modRevision)) }) {
                if case let .compacted(_, compactRevision) = $0 { return compactRevision == c.modRevision }
                return false
            }
            let watch = try await store.watch(.prefix(p, startRevision: c.modRevision))
            let events = try await collectEvents(watch, count: 1)
            try expect(events.map(\.kv) == [c], "watch from the compaction revision got \(events.map(\.kv))")

        case .ttlExpiry:
            let watch = try await store.watch(.prefix(p))
            let temporary = try await store.create(p + "event", value: v1, ttl: .seconds(1))
            let kept = try await store.create(p + "node", value: v1, ttl: nil)
            try await target.elapse(.milliseconds(1500))
            var attempts = 0
            while try await store.get(p + "event") != nil {
                attempts += 1
                try expect(attempts < 20, "TTL key still there after \(attempts) extra waits")
                try await target.elapse(.milliseconds(500))
            }
            try expect(try await store.get(p + "node") == kept, "key without a TTL was removed")
            let events = try await collectEvents(watch, count: 3)
            try expect(events.count == 3 && events[2].kind == .delete && events[2].kv.key == p + "event" && events[2].previous == temporary,
                       "expiry events \(events)")
        }
    }

    /// Reads events from `watch` until `count` arrived (or `timeout` passed, as a guard against a
    /// hang), then cancels it.
    public static func collectEvents(_ watch: StoreWatch, count: Int, timeout: Duration = .seconds(20)) async throws -> [StoreEvent] {
        try await withThrowingTaskGroup(of: [StoreEvent]?.self) { group in
            group.addTask {
                var events: [StoreEvent] = []
                for try await message in watch {
                    if case let .events(batch) = message { events += batch }
                    if events.count >= count { break }
                }
                return events
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            watch.cancel()
            guard let first else { throw ConformanceFailure(check: "watch", message: "fewer than \(count) events within \(timeout)") }
            return first
        }
    }
}

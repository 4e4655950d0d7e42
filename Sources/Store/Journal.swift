internal import LinuxSystem
import Synchronization

/// The embedded store's files: a write-ahead log cut into segments, plus snapshots.
///
/// Layout of the data directory:
/// - `LOCK`: held with `flock` while a process has the store open, so two processes never
///   write the same log.
/// - `wal-<first revision, 16 hex digits>.log`: framed ``Mutation``s in order (see
///   ``RecordCodec``). Only the newest segment is appended to.
/// - `snap-<revision, 16 hex digits>.snap`: the whole ``MVCCState`` at that revision, with a
///   trailing CRC-32; written to a `.tmp` name, fsynced, renamed, and the directory fsynced.
///
/// Recovery loads the newest valid snapshot and replays the segments after it. A damaged frame at
/// the end of the newest segment is a write torn by a crash (it was never acknowledged): the
/// segment is truncated there. Damage anywhere else is ``StoreError/corrupted(_:)``.
///
/// Threads: ``append(_:)`` and ``rotate(firstRevision:)`` run on the store's one flusher thread;
/// ``writeSnapshot(_:revision:)`` on a snapshot thread. The segment list is shared under a lock.
final class Journal: Sendable {
    let directory: String
    private let lockFile: SystemFile

    private struct Segment {
        var file: SystemFile
        var path: String
        var size: Int64
    }

    private struct Files {
        /// The segment being appended to.
        var current: Segment
        /// Paths of older segments with their first revisions, oldest first.
        var older: [(firstRevision: Int64, path: String)]
        /// Bytes appended since the newest snapshot.
        var bytesSinceSnapshot: Int64
        /// The size of the newest snapshot written or read (0 when there is none).
        var snapshotBytes: Int64 = 0
        /// Bytes appended to the log, and written to snapshots, since the store opened.
        var loggedSinceOpen: Int64 = 0
        var snapshottedSinceOpen: Int64 = 0
        /// fdatasyncs of the log so far (one per group commit).
        var syncs: Int64 = 0
        var closed = false
    }

    private let files: Mutex<Files>

    private init(directory: String, lockFile: SystemFile, files: Files) {
        self.directory = directory
        self.lockFile = lockFile
        self.files = Mutex(files)
    }

    static func segmentName(_ firstRevision: Int64) -> String { "wal-" + hex16(firstRevision) + ".log" }
    static func snapshotName(_ revision: Int64) -> String { "snap-" + hex16(revision) + ".snap" }

    private static func hex16(_ value: Int64) -> String {
        let digits = String(UInt64(value), radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    private static func parseRevision(_ name: String, prefix: String, suffix: String) -> Int64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.count == 16, let value = UInt64(digits, radix: 16) else { return nil }
        return Int64(value)
    }

    /// Opens (creating if needed) the store in `directory`, recovers its state, and returns the
    /// journal ready for appends.
    static func open(directory: String) throws(StoreError) -> (Journal, MVCCState) {
        do {
            try SystemFile.makeDirectory(directory)
            let lockFile = try SystemFile.open(directory + "/LOCK", [.readWrite, .create])
            guard try lockFile.lockExclusive() else {
                try? lockFile.close()
                throw StoreError.unavailable("\(directory) is open in another process (LOCK is held)")
            }
            do {
                let (files, state) = try recover(directory)
                return (Journal(directory: directory, lockFile: lockFile, files: files), state)
            } catch {
                try? lockFile.close()
                throw error
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.unavailable("opening store in \(directory): \(error)")
        }
    }

    private static func recover(_ directory: String) throws -> (Files, MVCCState) {
        let names = try SystemFile.listDirectory(directory)
        for name in names where name.hasSuffix(".tmp") { try SystemFile.unlink(directory + "/" + name) }
        let snapshots = names.compactMap { parseRevision($0, prefix: "snap-", suffix: ".snap") }.sorted(by: >)
        var segments = names.compactMap { name in parseRevision(name, prefix: "wal-", suffix: ".log").map { ($0, directory + "/" + name) } }
        segments.sort { $0.0 < $1.0 }

        var state = MVCCState()
        var snapshotBytes: Int64 = 0
        var snapshotError: String?
        for revision in snapshots {
            do {
                (state, snapshotBytes) = try readSnapshot(directory + "/" + snapshotName(revision))
                snapshotError = nil
                break
            } catch {
                snapshotError = "\(snapshotName(revision)): \(error)"
            }
        }
        if let snapshotError { throw StoreError.corrupted("no readable snapshot in \(directory): \(snapshotError)") }

        // Segments entirely covered by the snapshot are leftovers of an interrupted cleanup.
        while segments.count > 1 && segments[1].0 <= state.revision + 1 {
            try SystemFile.unlink(segments[0].1)
            segments.removeFirst()
        }
        if let first = segments.first, first.0 > state.revision + 1 {
            throw StoreError.corrupted("\(directory): log starts at revision \(first.0) but the state ends at \(state.revision)")
        }

        var current: Segment?
        var bytesSinceSnapshot: Int64 = 0
        for (index, (_, path)) in segments.enumerated() {
            let isLast = index == segments.count - 1
            let file = try SystemFile.open(path, [.readWrite])
            let bytes = try file.readAll()
            var offset = 0
            replay: while true {
                switch RecordCodec.readFrame(bytes, at: offset) {
                case let .mutation(mutation, next):
                    try apply(mutation, to: &state, path: path, offset: offset)
                    offset = next
                case .end:
                    break replay
                case let .damaged(reason):
                    guard isLast else {
                        try? file.close()
                        throw StoreError.corrupted("\(path) at byte \(offset): \(reason), and newer segments follow")
                    }
                    // A torn tail: the crash came mid-write, before the fsync that would have
                    // acknowledged it.
                    try file.truncate(to: Int64(offset))
                    try file.dataSync()
                    break replay
                }
            }
            bytesSinceSnapshot += Int64(offset)
            if isLast {
                current = Segment(file: file, path: path, size: Int64(offset))
            } else {
                try file.close()
            }
        }
        let older = segments.dropLast().map { (firstRevision: $0.0, path: $0.1) }
        if current == nil {
            let path = directory + "/" + segmentName(state.revision + 1)
            let file = try SystemFile.open(path, [.readWrite, .create])
            try SystemFile.syncDirectory(directory)
            current = Segment(file: file, path: path, size: 0)
        }
        return (Files(current: current!, older: Array(older), bytesSinceSnapshot: bytesSinceSnapshot, snapshotBytes: snapshotBytes), state)
    }

    private static func apply(_ mutation: Mutation, to state: inout MVCCState, path: String, offset: Int) throws {
        let revision: Int64
        switch mutation {
        case let .put(record): revision = record.kv.modRevision
        case let .delete(_, deleteRevision): revision = deleteRevision
        case .compact:
            state.apply(mutation)
            return
        }
        if revision <= state.revision { return }
        guard revision == state.revision + 1 else {
            throw StoreError.corrupted("\(path) at byte \(offset): revision \(revision) follows \(state.revision)")
        }
        state.apply(mutation)
    }

    // MARK: Appending (flusher thread)

    /// Writes `bytes` at the end of the current segment and fdatasyncs it: when this returns,
    /// the frames survive a crash.
    func append(_ bytes: [UInt8]) throws(SystemError) {
        let segment = files.withLock { $0.current }
        try segment.file.write(bytes, at: segment.size)
        try segment.file.dataSync()
        files.withLock {
            $0.current.size += Int64(bytes.count)
            $0.bytesSinceSnapshot += Int64(bytes.count)
            $0.loggedSinceOpen += Int64(bytes.count)
            $0.syncs += 1
        }
    }

    /// Log fdatasyncs since the store was opened.
    var syncs: Int64 { files.withLock { $0.syncs } }

    /// Bytes logged since the newest snapshot.
    var bytesSinceSnapshot: Int64 { files.withLock { $0.bytesSinceSnapshot } }

    /// The size of the newest snapshot written or read since the store opened (0 when none).
    var snapshotBytes: Int64 { files.withLock { $0.snapshotBytes } }

    /// Bytes appended to the log and bytes written to snapshots since the store opened.
    var bytesWritten: (log: Int64, snapshots: Int64) { files.withLock { ($0.loggedSinceOpen, $0.snapshottedSinceOpen) } }

    /// Whether the log since the newest snapshot is long enough for another: at least
    /// `threshold` bytes and at least the newest snapshot's size. A snapshot holds the whole
    /// state with its retained history, so with a fixed threshold alone a growing store wrote
    /// its whole state again every `threshold` bytes of log (quadratic in the state's size:
    /// 4% of hollow-bench's CPU at 50,000 pods); tied to the snapshot's size, the bytes written
    /// to snapshots stay within the bytes logged, and recovery replays at most about one
    /// snapshot's worth of log.
    func snapshotDue(threshold: Int64) -> Bool {
        files.withLock { $0.bytesSinceSnapshot >= max(threshold, $0.snapshotBytes) }
    }

    /// Starts a new segment whose first record will have `firstRevision`. Everything appended
    /// before is in older segments, which a snapshot at `firstRevision - 1` or later makes
    /// removable.
    /// Returns false, doing nothing, when the current segment already starts at `firstRevision`.
    @discardableResult
    func rotate(firstRevision: Int64) throws(SystemError) -> Bool {
        let path = directory + "/" + Self.segmentName(firstRevision)
        if files.withLock({ $0.current.path == path }) { return false }
        let file = try SystemFile.open(path, [.readWrite, .create, .truncate])
        try SystemFile.syncDirectory(directory)
        let previous = files.withLock { files in
            let previous = files.current
            files.older.append((firstRevision: Self.parseRevision(String(previous.path.split(separator: "/").last!), prefix: "wal-", suffix: ".log") ?? 0, path: previous.path))
            files.current = Segment(file: file, path: path, size: 0)
            files.bytesSinceSnapshot = 0
            return previous
        }
        try previous.file.close()
        return true
    }

    // MARK: Snapshots (snapshot thread)

    /// Writes `state`, cut at `revision`, as a snapshot, then removes the segments and snapshots
    /// it makes redundant. `state` may hold records above `revision` (writes still in flight);
    /// they are left out, and replay restores them from the log.
    func writeSnapshot(_ state: MVCCState, revision: Int64) throws(SystemError) {
        var keys: [(String, [Record])] = []
        // The snapshot's size, reserved at once: appending to a growing buffer of hundreds of
        // megabytes copied it again at every doubling.
        var size = 8 + 3 * 8 + 4
        for key in state.sortedKeys {
            let history = state.histories[key]!.filter { $0.kv.modRevision <= revision }
            if history.isEmpty { continue }
            keys.append((key, history))
            size += 8 + key.utf8.count
            for record in history { size += RecordCodec.recordHeaderSize + record.kv.value.count }
        }
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(size)
        writer.bytes.append(contentsOf: Array("NKSNAP01".utf8))
        writer.i64(revision)
        writer.i64(state.compactRevision)
        writer.i64(Int64(keys.count))
        for (key, history) in keys {
            writer.string(key)
            writer.u32(UInt32(history.count))
            for record in history { RecordCodec.appendRecord(record, to: &writer) }
        }
        writer.u32(CRC32.checksum(writer.bytes))

        let name = Self.snapshotName(revision)
        let temporary = directory + "/" + name + ".tmp"
        let file = try SystemFile.open(temporary, [.readWrite, .create, .truncate])
        do {
            try file.write(writer.bytes, at: 0)
            try file.dataSync()
            try file.close()
        } catch {
            try? file.close()
            throw error
        }
        try SystemFile.rename(temporary, to: directory + "/" + name)
        try SystemFile.syncDirectory(directory)
        let written = Int64(writer.bytes.count)
        files.withLock {
            $0.snapshotBytes = written
            $0.snapshottedSinceOpen += written
        }

        let removable = files.withLock { files in
            let gone = files.older.filter { $0.firstRevision <= revision + 1 }.map(\.path)
            files.older.removeAll { $0.firstRevision <= revision + 1 }
            return gone
        }
        // Keep only the segments that may hold records after the snapshot. A segment is fully
        // covered when the next one starts at or below revision + 1; rotation guarantees that for
        // every segment before the one started at this snapshot's rotation.
        for path in removable { try SystemFile.unlink(path) }
        for old in try SystemFile.listDirectory(directory) {
            if let other = Self.parseRevision(old, prefix: "snap-", suffix: ".snap"), other < revision {
                try SystemFile.unlink(directory + "/" + old)
            }
        }
    }

    /// The state in the snapshot at `path`, and the snapshot's size in bytes.
    private static func readSnapshot(_ path: String) throws -> (MVCCState, Int64) {
        let file = try SystemFile.open(path, [])
        defer { try? file.close() }
        let bytes = try file.readAll()
        guard bytes.count >= 36 else { throw StoreError.corrupted("\(path): \(bytes.count) bytes is too short for a snapshot") }
        var trailer = ByteReader(bytes, from: bytes.count - 4)
        guard try trailer.u32() == CRC32.checksum(bytes, from: 0, to: bytes.count - 4) else {
            throw StoreError.corrupted("\(path): checksum mismatch")
        }
        guard Array(bytes[0..<8]) == Array("NKSNAP01".utf8) else { throw StoreError.corrupted("\(path): not a Nodekit snapshot") }
        var reader = ByteReader(bytes, from: 8, to: bytes.count - 4)
        let revision = try reader.i64()
        let compactRevision = try reader.i64()
        let count = try reader.i64()
        var state = MVCCState()
        state.restoreRevisions(revision: revision, compactRevision: compactRevision)
        for _ in 0..<count {
            let key = try reader.string()
            let records = try reader.u32()
            var history: [Record] = []
            history.reserveCapacity(Int(records))
            for _ in 0..<records { history.append(try RecordCodec.readRecord(key: key, from: &reader)) }
            state.restore(key: key, history: history, revision: revision, compactRevision: compactRevision)
        }
        return (state, Int64(bytes.count))
    }

    /// Closes the segment and releases the directory lock. Idempotent.
    func close() {
        let segment: Segment? = files.withLock { files in
            if files.closed { return nil }
            files.closed = true
            return files.current
        }
        guard let segment else { return }
        try? segment.file.close()
        try? lockFile.close()
    }
}

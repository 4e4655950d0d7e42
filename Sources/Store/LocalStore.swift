import Dispatch
import Glibc
import Synchronization

/// Settings of a ``LocalStore``.
public struct LocalStoreOptions: Sendable {
    /// How much history automatic compaction keeps (etcd's periodic compaction; 5 minutes, as
    /// kube-apiserver compacts by default).
    public var historyRetention: Duration = .seconds(300)
    /// How often the background loop expires TTL keys, compacts and sends progress messages.
    public var maintenanceInterval: Duration = .seconds(5)
    /// Log bytes after which the flusher starts a new segment and a snapshot is written, so the
    /// files stay bounded under churn; once the newest snapshot is larger, its size is the
    /// threshold (``Journal/snapshotDue(threshold:)``).
    public var snapshotThresholdBytes: Int64 = 64 << 20
    /// The longest the flusher holds a batch open before its fdatasync while writes announced
    /// with ``LocalStore/expectingWrite(_:)`` are still on their way (group commit's commit
    /// delay; as PostgreSQL's `commit_delay` waits only while `commit_siblings` transactions are
    /// open). A batch is never held for a writer that is not coming: with no announced write on
    /// its way (a lone writer, or every writer already waiting) the flusher syncs at once, as
    /// etcd does once per raft Ready. Each fdatasync costs CPU, a device flush and a wakeup per
    /// waiter, and each batch becomes one watch event batch, so under many concurrent requests
    /// fewer, larger batches save CPU; every write still returns only once it is durable. Zero
    /// turns it off. Measured in docs/scheduler-bench.md (sixteenth session).
    public var groupCommitDelay: Duration = .milliseconds(1)
    /// The clock for TTLs and retention; tests inject a manual one.
    public var clock: any StoreClock = SystemStoreClock()
    /// Run ``LocalStore/runMaintenance()`` every `maintenanceInterval` in the background. Tests
    /// turn it off and call the single step themselves.
    public var backgroundMaintenance = true

    public init() {}
}

/// The in-process MVCC store: the embedded backend (with a ``Journal`` in a directory) and the
/// in-memory reference backend (without one) are this one type, so they share every semantic.
///
/// Writes apply to the in-memory state under a lock, in revision order, and append a log frame;
/// one flusher thread writes and fdatasyncs whatever frames accumulated (group commit: writers
/// that arrive during an fsync share the next one, and a batch is held open briefly for writes
/// announced as on their way, ``LocalStoreOptions/groupCommitDelay``), then makes the batch
/// visible to reads and watches and resumes the writers. Reads and watches never see a revision
/// before it is durable.
/// Compare-and-swap checks run against the newest state, durable or not, so concurrent writers
/// are ordered by the lock.
public final class LocalStore: Store {
    private struct WatcherEntry {
        let box: WatcherBox
        var sentSinceTick: Bool
    }

    private final class WatcherBox: Sendable {
        let key: String
        let prefix: Bool
        let progressNotify: Bool
        let continuation: AsyncThrowingStream<WatchMessage, any Error>.Continuation
        let terminated = Atomic<Bool>(false)

        init(key: String, prefix: Bool, progressNotify: Bool, continuation: AsyncThrowingStream<WatchMessage, any Error>.Continuation) {
            self.key = key
            self.prefix = prefix
            self.progressNotify = progressNotify
            self.continuation = continuation
        }

        func matches(_ name: String) -> Bool {
            prefix ? name.utf8.starts(with: key.utf8) : name == key
        }
    }

    private struct State {
        var mvcc = MVCCState()
        /// The newest revision reads and watches see: durable.
        var visibleRevision: Int64 = 0
        /// Frames not yet handed to the flusher.
        var pending = ByteWriter()
        var pendingEvents: [StoreEvent] = []
        var pendingRevision: Int64 = 0
        /// Frames are numbered so writers (compactions too, which make no revision) can wait for
        /// theirs.
        var appendedSequence: Int64 = 0
        var durableSequence: Int64 = 0
        var waiters: [(sequence: Int64, continuation: CheckedContinuation<Void, any Error>)] = []
        var watchers: [Int: WatcherEntry] = [:]
        var nextWatcherID = 0
        /// (time, revision) samples for retention-based compaction, oldest first.
        var samples: [(time: Int64, revision: Int64)] = []
        var snapshotRunning = false
        var failure: StoreError?
        var closed = false
        var flusherExit: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>
    private let journal: Journal?
    private let options: LocalStoreOptions
    /// `options.groupCommitDelay` in whole microseconds, or nil when it is off.
    private let commitDelayMicroseconds: UInt32?
    private let wakeFlusher = DispatchSemaphore(value: 0)
    /// Batches the flusher held open for `groupCommitDelay` (for statistics and tests).
    private let delayedFlushes = Atomic<Int64>(0)
    /// Writes announced by ``expectingWrite(_:)`` that have not reached the store yet.
    private let writesOnTheirWay = Atomic<Int>(0)
    private let maintenance = Mutex<Task<Void, Never>?>(nil)

    private init(journal: Journal?, recovered: MVCCState, options: LocalStoreOptions) {
        var initial = State()
        initial.mvcc = recovered
        initial.visibleRevision = recovered.revision
        initial.pendingRevision = recovered.revision
        self.state = Mutex(initial)
        self.journal = journal
        self.options = options
        let micros = Int64(options.groupCommitDelay / .microseconds(1))
        self.commitDelayMicroseconds = micros > 0 ? UInt32(clamping: micros) : nil
    }

    /// A store that keeps everything in memory: the reference backend for tests. Same semantics
    /// as the embedded one, nothing durable.
    public static func inMemory(options: LocalStoreOptions = LocalStoreOptions()) -> LocalStore {
        let store = LocalStore(journal: nil, recovered: MVCCState(), options: options)
        store.startMaintenance()
        return store
    }

    /// Opens (or creates) the embedded store in `directory`, recovering its state from the
    /// newest snapshot and the log. Fails with ``StoreError/unavailable(_:)`` when another process
    /// has it open, and ``StoreError/corrupted(_:)`` when its files are damaged beyond a torn tail.
    public static func open(directory: String, options: LocalStoreOptions = LocalStoreOptions()) throws(StoreError) -> LocalStore {
        let (journal, recovered) = try Journal.open(directory: directory)
        let store = LocalStore(journal: journal, recovered: recovered, options: options)
        // The flusher blocks in fdatasync, so it gets its own thread, off the Swift concurrency
        // pool.
        DispatchQueue(label: "nodekit.store.flusher").async { [store] in store.flushLoop(journal) }
        store.startMaintenance()
        return store
    }

    private func startMaintenance() {
        guard options.backgroundMaintenance else { return }
        let interval = options.maintenanceInterval
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.runMaintenance()
            }
        }
        maintenance.withLock { $0 = task }
    }

    // MARK: Writes

    public func create(_ key: String, value: [UInt8], ttl: Duration?) async throws(StoreError) -> KeyValue {
        try Self.validate(key)
        let expiresAt = expiry(ttl)
        return try await write { (mvcc: MVCCState) throws(StoreError) -> (Mutation, KeyValue) in
            if let latest = mvcc.latest(key), !latest.deleted { throw StoreError.conflict(key: key, current: latest.kv) }
            let revision = mvcc.revision + 1
            let kv = KeyValue(key: key, value: value, createRevision: revision, modRevision: revision, version: 1)
            return (.put(Record(kv: kv, deleted: false, expiresAt: expiresAt)), kv)
        }
    }

    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64, ttl: Duration?) async throws(StoreError) -> KeyValue {
        try Self.validate(key)
        let expiresAt = expiry(ttl)
        return try await write { (mvcc: MVCCState) throws(StoreError) -> (Mutation, KeyValue) in
            guard let latest = mvcc.latest(key), !latest.deleted else { throw StoreError.notFound(key: key) }
            guard latest.kv.modRevision == expectedModRevision else { throw StoreError.conflict(key: key, current: latest.kv) }
            let kv = KeyValue(key: key, value: value, createRevision: latest.kv.createRevision, modRevision: mvcc.revision + 1, version: latest.kv.version + 1)
            return (.put(Record(kv: kv, deleted: false, expiresAt: expiresAt)), kv)
        }
    }

    public func delete(_ key: String, expectedModRevision: Int64?) async throws(StoreError) -> DeleteResult {
        try Self.validate(key)
        return try await write { (mvcc: MVCCState) throws(StoreError) -> (Mutation, DeleteResult) in
            guard let latest = mvcc.latest(key), !latest.deleted else { throw StoreError.notFound(key: key) }
            if let expectedModRevision, latest.kv.modRevision != expectedModRevision {
                throw StoreError.conflict(key: key, current: latest.kv)
            }
            let revision = mvcc.revision + 1
            return (.delete(key: key, revision: revision), DeleteResult(revision: revision, previous: latest.kv))
        }
    }

    public func compact(to revision: Int64) async throws(StoreError) {
        _ = try await write { (mvcc: MVCCState) throws(StoreError) -> (Mutation, Void) in
            if revision <= mvcc.compactRevision { throw StoreError.compacted(requested: revision, compactRevision: mvcc.compactRevision) }
            if revision > mvcc.revision { throw StoreError.futureRevision(requested: revision, current: mvcc.revision) }
            return (.compact(revision: revision), ())
        }
    }

    private static func validate(_ key: String) throws(StoreError) {
        if key.isEmpty { throw StoreError.invalidArgument("empty key") }
    }

    private func expiry(_ ttl: Duration?) -> Int64 {
        guard let ttl else { return 0 }
        let (seconds, attoseconds) = ttl.components
        return options.clock.nowMilliseconds() + seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Checks and applies one mutation under the lock, then waits until it is durable.
    private func write<R: Sendable>(_ decide: (MVCCState) throws(StoreError) -> (Mutation, R)) async throws(StoreError) -> R {
        let (result, sequence) = try state.withLock { (state: inout State) throws(StoreError) -> (R, Int64?) in
            if let failure = state.failure { throw failure }
            if state.closed { throw StoreError.unavailable("store is closed") }
            let (mutation, result) = try decide(state.mvcc)
            state.mvcc.apply(mutation)
            let event: StoreEvent? = switch mutation {
            case let .put(record): state.mvcc.latestEvent(record.kv.key)
            case let .delete(key, _): state.mvcc.latestEvent(key)
            case .compact: nil
            }
            guard journal != nil else {
                state.visibleRevision = state.mvcc.revision
                if let event { dispatch([event], in: &state) }
                return (result, nil)
            }
            RecordCodec.appendFrame(mutation, to: &state.pending)
            if let event { state.pendingEvents.append(event) }
            state.pendingRevision = state.mvcc.revision
            state.appendedSequence += 1
            return (result, state.appendedSequence)
        }
        if let expected = Self.expected, expected.store === self { expected.arrive() }
        guard let sequence else { return result }
        wakeFlusher.signal()
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: Result<Void, StoreError>? = state.withLock { state in
                    if state.durableSequence >= sequence { return .success(()) }
                    if let failure = state.failure { return .failure(failure) }
                    state.waiters.append((sequence, continuation))
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.unavailable("waiting for the log: \(error)")
        }
        return result
    }

    // MARK: The flusher (group commit)

    /// A request that is expected to write to a store: it counts as on its way until its first
    /// write reaches that store, or until it ends.
    final class ExpectedWrite: Sendable {
        let store: LocalStore
        let arrived = Atomic<Bool>(false)

        init(store: LocalStore) { self.store = store }

        func arrive() {
            if !arrived.exchange(true, ordering: .relaxed) { store.writesOnTheirWay.subtract(1, ordering: .relaxed) }
        }
    }

    @TaskLocal static var expected: ExpectedWrite?

    /// Runs `body`, work that will probably write to this store (an API server's mutating
    /// request): until its first write reaches the store, or it ends, the flusher knows a write
    /// is on its way and may hold the next batch open for it (``LocalStoreOptions/groupCommitDelay``).
    public func expectingWrite<T, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        let write = ExpectedWrite(store: self)
        writesOnTheirWay.add(1, ordering: .relaxed)
        defer { write.arrive() }
        let result: Result<T, E> = await Self.$expected.withValue(write) {
            do throws(E) { return .success(try await body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// How often a held batch looks again for writes still on their way, in microseconds.
    private static let commitDelayStep: UInt32 = 50

    private func flushLoop(_ journal: Journal) {
        while true {
            wakeFlusher.wait()
            // Drain everything queued, including frames appended while the last fsync ran: they
            // share the next one. While announced writes are still on their way, hold the batch
            // open (up to the delay) so that they share its fsync too.
            while true {
                if let limit = commitDelayMicroseconds, writesOnTheirWay.load(ordering: .relaxed) > 0,
                   state.withLock({ !$0.pending.bytes.isEmpty && !$0.closed }) {
                    var waited: UInt32 = 0
                    repeat {
                        let step = min(Self.commitDelayStep, limit - waited)
                        usleep(step)
                        waited += step
                    } while waited < limit && writesOnTheirWay.load(ordering: .relaxed) > 0
                    delayedFlushes.add(1, ordering: .relaxed)
                }
                if !flushBatch(journal) { break }
            }
            // close() marks the store closed, then hands over its continuation and signals
            // again: a wakeup in between (a signal left from earlier writes) must not end the
            // loop, or close() would wait for a flusher that is gone.
            let exit = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.closed ? state.flusherExit : nil
            }
            if let exit {
                journal.close()
                exit.resume()
                return
            }
        }
    }

    /// Writes and fdatasyncs the queued frames, then publishes them. Returns false when nothing
    /// was queued.
    private func flushBatch(_ journal: Journal) -> Bool {
        let batch = state.withLock { state -> (bytes: [UInt8], events: [StoreEvent], revision: Int64, sequence: Int64)? in
            if state.pending.bytes.isEmpty { return nil }
            let batch = (state.pending.bytes, state.pendingEvents, state.pendingRevision, state.appendedSequence)
            state.pending = ByteWriter()
            state.pendingEvents = []
            return batch
        }
        guard let batch else { return false }
        do {
            try journal.append(batch.bytes)
        } catch {
            fail(StoreError.unavailable("writing the log in \(journal.directory): \(error)"))
            return false
        }
        let (ready, snapshot) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], (MVCCState, Int64)?) in
            state.visibleRevision = batch.revision
            state.durableSequence = batch.sequence
            dispatch(batch.events, in: &state)
            var ready: [CheckedContinuation<Void, any Error>] = []
            state.waiters.removeAll { waiter in
                guard waiter.sequence <= batch.sequence else { return false }
                ready.append(waiter.continuation)
                return true
            }
            guard !state.snapshotRunning, journal.snapshotDue(threshold: options.snapshotThresholdBytes) else { return (ready, nil) }
            state.snapshotRunning = true
            // The copy is O(1) (copy-on-write); records above visibleRevision are still in
            // flight and go to the new segment, so the snapshot leaves them out.
            return (ready, (state.mvcc, state.visibleRevision))
        }
        for continuation in ready { continuation.resume() }
        if let (copy, revision) = snapshot { startSnapshot(copy, revision: revision, journal: journal) }
        return true
    }

    private func startSnapshot(_ copy: MVCCState, revision: Int64, journal: Journal) {
        do {
            try journal.rotate(firstRevision: revision + 1)
        } catch {
            fail(StoreError.unavailable("starting a log segment in \(journal.directory): \(error)"))
            return
        }
        DispatchQueue(label: "nodekit.store.snapshot").async { [self] in
            do {
                try journal.writeSnapshot(copy, revision: revision)
                state.withLock { $0.snapshotRunning = false }
            } catch {
                fail(StoreError.unavailable("writing a snapshot in \(journal.directory): \(error)"))
            }
        }
    }

    /// Puts the store in a failed state: after a failed fsync nothing in memory can be trusted
    /// to be on disk, so every pending and later call fails (as etcd stops on a WAL error).
    private func fail(_ error: StoreError) {
        let (waiters, watchers) = state.withLock { state in
            if state.failure == nil { state.failure = error }
            let waiters = state.waiters.map(\.continuation)
            state.waiters = []
            let watchers = state.watchers.values.map(\.box)
            state.watchers = [:]
            return (waiters, watchers)
        }
        for waiter in waiters { waiter.resume(throwing: error) }
        for watcher in watchers { watcher.continuation.finish(throwing: error) }
    }

    // MARK: Reads

    public func currentRevision() async throws(StoreError) -> Int64 {
        try state.withLock { (state: inout State) throws(StoreError) -> Int64 in
            try Self.checkOpen(state)
            return state.visibleRevision
        }
    }

    public func range(_ request: RangeRequest) async throws(StoreError) -> RangeResult {
        if request.key.isEmpty && !request.prefix { throw StoreError.invalidArgument("empty key") }
        if let start = request.startKey, !start.utf8.starts(with: request.key.utf8) || !request.prefix {
            throw StoreError.invalidArgument("start key \(start) is not under prefix \(request.key)")
        }
        if request.limit < 0 { throw StoreError.invalidArgument("negative limit \(request.limit)") }
        return try state.withLock { (state: inout State) throws(StoreError) -> RangeResult in
            try Self.checkOpen(state)
            let revision = request.revision > 0 ? request.revision : state.visibleRevision
            if revision > state.visibleRevision { throw StoreError.futureRevision(requested: revision, current: state.visibleRevision) }
            if revision < state.mvcc.compactRevision {
                throw StoreError.compacted(requested: revision, compactRevision: state.mvcc.compactRevision)
            }
            return state.mvcc.range(request, at: revision)
        }
    }

    private static func checkOpen(_ state: State) throws(StoreError) {
        if let failure = state.failure { throw failure }
        if state.closed { throw StoreError.unavailable("store is closed") }
    }

    // MARK: Watches

    public func watch(_ request: WatchRequest) async throws(StoreError) -> StoreWatch {
        if request.key.isEmpty && !request.prefix { throw StoreError.invalidArgument("empty key") }
        let (stream, continuation) = AsyncThrowingStream<WatchMessage, any Error>.makeStream()
        let box = WatcherBox(key: request.key, prefix: request.prefix, progressNotify: request.progressNotify, continuation: continuation)
        continuation.onTermination = { [box] _ in box.terminated.store(true, ordering: .relaxed) }
        let id = try state.withLock { (state: inout State) throws(StoreError) -> Int in
            try Self.checkOpen(state)
            let start = request.startRevision > 0 ? request.startRevision : state.visibleRevision + 1
            if start < state.mvcc.compactRevision {
                throw StoreError.compacted(requested: start, compactRevision: state.mvcc.compactRevision)
            }
            let past = state.mvcc.events(key: request.key, prefix: request.prefix, from: start, through: state.visibleRevision)
            if !past.isEmpty { continuation.yield(.events(past)) }
            let id = state.nextWatcherID
            state.nextWatcherID += 1
            state.watchers[id] = WatcherEntry(box: box, sentSinceTick: !past.isEmpty)
            return id
        }
        return StoreWatch(
            stream: stream,
            requestProgress: { [weak self] in
                self?.state.withLock { state in
                    guard let entry = state.watchers[id] else { return }
                    entry.box.continuation.yield(.progress(revision: state.visibleRevision))
                }
            },
            cancel: { [weak self] in
                let box = self?.state.withLock { $0.watchers.removeValue(forKey: id)?.box }
                box?.continuation.finish()
            })
    }

    /// Sends durable events to the watchers they match. Called under the lock, so watchers see
    /// revisions in order and a new watcher's history joins the live stream without a gap.
    private func dispatch(_ events: [StoreEvent], in state: inout State) {
        guard !events.isEmpty, !state.watchers.isEmpty else { return }
        var gone: [Int] = []
        for (id, entry) in state.watchers {
            if entry.box.terminated.load(ordering: .relaxed) {
                gone.append(id)
                continue
            }
            let matched = events.filter { entry.box.matches($0.kv.key) }
            if matched.isEmpty { continue }
            if case .terminated = entry.box.continuation.yield(.events(matched)) { gone.append(id) }
            state.watchers[id]?.sentSinceTick = true
        }
        for id in gone { state.watchers[id] = nil }
    }

    // MARK: Maintenance (single steps)

    /// One maintenance pass: expires TTL keys, compacts history older than the retention, and
    /// sends progress messages to idle watchers that asked for them. The background loop calls
    /// this every `maintenanceInterval`; tests call it after stepping their clock.
    public func runMaintenance() async {
        await expireKeys()
        await compactHistory()
        sendProgress()
    }

    /// Deletes every key whose TTL has elapsed, each with its own revision and delete event.
    /// Returns how many were deleted.
    @discardableResult
    public func expireKeys() async -> Int {
        let now = options.clock.nowMilliseconds()
        let due = state.withLock { state in state.mvcc.expiries.filter { $0.value <= now }.map { ($0.key, $0.value) } }
        var deleted = 0
        for (key, expiresAt) in due {
            // The key may have been rewritten since: delete only the version that expired.
            guard let kv = try? await get(key), let current = state.withLock({ $0.mvcc.latest(key) }),
                  current.expiresAt == expiresAt, current.kv.modRevision == kv.modRevision else { continue }
            if (try? await delete(key, expectedModRevision: kv.modRevision)) != nil { deleted += 1 }
        }
        return deleted
    }

    /// Records the current revision with the time, and compacts to the newest revision recorded
    /// at least `historyRetention` ago. Returns the new compaction revision, or nil when there was
    /// nothing to compact.
    @discardableResult
    public func compactHistory() async -> Int64? {
        let now = options.clock.nowMilliseconds()
        let retention = options.historyRetention.components.seconds * 1000 + options.historyRetention.components.attoseconds / 1_000_000_000_000_000
        let target = state.withLock { state -> Int64? in
            state.samples.append((now, state.visibleRevision))
            var target: Int64?
            while let first = state.samples.first, first.time <= now - retention {
                target = first.revision
                state.samples.removeFirst()
            }
            guard let target, target > state.mvcc.compactRevision else { return nil }
            return target
        }
        guard let target else { return nil }
        do {
            try await compact(to: target)
            return target
        } catch {
            return nil
        }
    }

    /// Sends a progress message to every watcher that asked for progress notifications and got
    /// nothing since the last call.
    public func sendProgress() {
        state.withLock { state in
            for (id, entry) in state.watchers {
                if entry.box.progressNotify && !entry.sentSinceTick {
                    entry.box.continuation.yield(.progress(revision: state.visibleRevision))
                }
                state.watchers[id]?.sentSinceTick = false
            }
        }
    }

    // MARK: Closing

    public func close() async {
        maintenance.withLock { $0?.cancel() }
        let watchers = state.withLock { state -> [WatcherBox]? in
            if state.closed { return nil }
            state.closed = true
            let boxes = state.watchers.values.map(\.box)
            state.watchers = [:]
            return boxes
        }
        guard let watchers else { return }
        for watcher in watchers { watcher.continuation.finish() }
        guard journal != nil else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            state.withLock { $0.flusherExit = continuation }
            wakeFlusher.signal()
        }
    }

    /// Counts of what the store holds, for metrics and tests.
    public struct Statistics: Sendable, Hashable {
        public var revision: Int64
        public var compactRevision: Int64
        public var keys: Int
        public var records: Int
        public var watchers: Int
        /// Log fdatasyncs since open (0 in memory): fewer than writes means group commit worked.
        public var logSyncs: Int64
        /// Bytes appended to the log and written to snapshots since open (0 in memory).
        public var logBytes: Int64 = 0
        public var snapshotBytes: Int64 = 0
        /// Batches the flusher held open for ``LocalStoreOptions/groupCommitDelay``.
        public var delayedFlushes: Int64 = 0
        /// Writes announced by ``LocalStore/expectingWrite(_:)`` that have not arrived yet.
        public var writesOnTheirWay: Int = 0
    }

    public func statistics() -> Statistics {
        let written = journal?.bytesWritten ?? (log: 0, snapshots: 0)
        return state.withLock { state in
            Statistics(revision: state.visibleRevision, compactRevision: state.mvcc.compactRevision, keys: state.mvcc.sortedKeys.count,
                       records: state.mvcc.histories.values.reduce(0) { $0 + $1.count }, watchers: state.watchers.count,
                       logSyncs: journal?.syncs ?? 0, logBytes: written.log, snapshotBytes: written.snapshots,
                       delayedFlushes: delayedFlushes.load(ordering: .relaxed), writesOnTheirWay: writesOnTheirWay.load(ordering: .relaxed))
        }
    }
}

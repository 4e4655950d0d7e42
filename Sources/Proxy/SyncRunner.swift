import Synchronization

/// A monotonic time source, injected so tests can step time instead of sleeping.
public protocol ProxyClock: Sendable {
    /// Time since an arbitrary fixed origin; never decreases.
    func now() -> Duration
}

/// The real monotonic clock.
public struct SystemProxyClock: ProxyClock {
    private let origin = ContinuousClock.now
    public init() {}
    public func now() -> Duration { ContinuousClock.now - origin }
}

/// What a sync step did.
public enum SyncKind: Equatable, Sendable {
    /// Rewrote every rule (at start, every `syncPeriod`, and after a failure).
    case full
    /// Rewrote only the rules of Services that changed.
    case partial
}

/// Decides when the proxy syncs, as upstream's BoundedFrequencyRunner does: never more often
/// than `minSyncPeriod`, at least every `syncPeriod`; full syncs at start, every `syncPeriod`
/// and after a failed sync; partial syncs otherwise.
///
/// Thread-safe (state behind a mutex). The run loop lives in ``Proxier/run()``; this type is
/// the pure timing policy, so tests drive it with a manual clock.
public final class SyncRunner: Sendable {
    public let minSyncPeriod: Duration
    public let syncPeriod: Duration
    private let clock: any ProxyClock

    private struct State {
        var lastSync: Duration?
        var lastFullSync: Duration?
        var lastFailed = false
        var pending = true
    }
    private let state = Mutex(State())

    public init(minSyncPeriod: Duration, syncPeriod: Duration, clock: any ProxyClock) {
        self.minSyncPeriod = minSyncPeriod
        self.syncPeriod = syncPeriod
        self.clock = clock
    }

    /// Marks that something changed and a sync is wanted (it runs when ``isDue`` allows).
    public func request() { state.withLock { $0.pending = true } }

    /// True when a sync should run now: one is pending (or the last failed) and
    /// `minSyncPeriod` has passed since the last, or `syncPeriod` has passed.
    public var isDue: Bool {
        let now = clock.now()
        return state.withLock { s in
            guard let last = s.lastSync else { return true }
            if now - last >= syncPeriod { return true }
            return (s.pending || s.lastFailed) && now - last >= minSyncPeriod
        }
    }

    /// The kind the next sync must be.
    public var nextKind: SyncKind {
        let now = clock.now()
        return state.withLock { s in
            guard let full = s.lastFullSync, !s.lastFailed else { return .full }
            return now - full >= syncPeriod ? .full : .partial
        }
    }

    /// How long until ``isDue`` may next become true (zero when it is due now).
    public var timeUntilDue: Duration {
        let now = clock.now()
        return state.withLock { s in
            guard let last = s.lastSync else { return .zero }
            let wait = (s.pending || s.lastFailed) ? minSyncPeriod : syncPeriod
            return max(.zero, last + wait - now)
        }
    }

    /// Records the outcome of a sync of `kind` that started at `start`.
    public func record(_ kind: SyncKind, start: Duration, succeeded: Bool) {
        state.withLock { s in
            s.lastSync = start
            s.lastFailed = !succeeded
            if succeeded {
                s.pending = false
                if kind == .full { s.lastFullSync = start }
            }
        }
    }

    /// The current time on the injected clock.
    public func now() -> Duration { clock.now() }
}

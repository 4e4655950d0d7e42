import Foundation
import KubeAPI
import Logging
import Synchronization

/// Wall-clock time (Unix seconds) for metrics and health, injected so tests can set it.
public struct ProxyWallClock: Sendable {
    public let now: @Sendable () -> Double
    public init(_ now: @escaping @Sendable () -> Double) { self.now = now }
    public static let system = ProxyWallClock { Date().timeIntervalSince1970 }
}

/// Ties input, change tracking, timing and one or more backends together: the proxy's loop.
///
/// Feed it Service and EndpointSlice updates (from a watch or a ``ConfigDirectorySource``);
/// ``syncRules()`` is the single step that applies pending changes to every backend, full or
/// partial as the ``SyncRunner`` decides. Thread-safe.
public final class Proxier: Sendable {
    public let backends: [any ProxyBackend]
    public let runner: SyncRunner
    private let logger: Logger
    private let observer: (@Sendable (SyncReport) -> Void)?
    private let metrics: ProxyMetrics?
    private let health: ProxyHealth?
    private let wallClock: ProxyWallClock
    private let conntrack: ConntrackCleaner?

    private struct State {
        var tracker: ChangeTracker
        var proxyState = ProxyState()
        /// Service ports changed since the last successful sync.
        var dirty = Set<ServicePortName>()
        /// `endpoints.kubernetes.io/last-change-trigger-time` of slice changes not yet synced
        /// (Unix seconds), for the network programming latency.
        var triggers: [Double] = []
    }
    private let state: Mutex<State>
    /// Serialises syncs without holding the state lock while the kernel works.
    private let syncLock = Mutex(())

    /// The outcome of one sync, for metrics and health checks.
    public struct SyncReport: Sendable {
        public var kind: SyncKind
        public var duration: Duration
        public var succeeded: Bool
        public var serviceCount: Int
        public var changedCount: Int
        public var error: String?
        /// Per slice change this sync programmed that carried a trigger time: seconds from
        /// that time to the end of the sync.
        public var networkProgrammingSeconds: [Double] = []
        /// The modes of the backends that failed.
        public var failedModes: [String] = []
        /// Stale UDP conntrack entries deleted after the sync.
        public var conntrackEntriesDeleted = 0
    }

    /// `metrics` and `health`, when given, are fed by updates and syncs; `wallClock` (Unix
    /// seconds) times them. `conntrack`, when given, deletes stale UDP entries after every
    /// successful sync (a cleanup failure is logged; the rules stay synced).
    public init(nodeName: String, backends: [any ProxyBackend], runner: SyncRunner, logger: Logger = Logger(label: "nodekit.proxy"),
                metrics: ProxyMetrics? = nil, health: ProxyHealth? = nil,
                wallClock: ProxyWallClock = .system, conntrack: ConntrackCleaner? = nil,
                observer: (@Sendable (SyncReport) -> Void)? = nil) {
        self.conntrack = conntrack
        self.backends = backends
        self.runner = runner
        self.logger = logger
        self.observer = observer
        self.metrics = metrics
        self.health = health
        self.wallClock = wallClock
        state = Mutex(State(tracker: ChangeTracker(nodeName: nodeName)))
    }

    /// The annotation the EndpointSlice controller sets to when the change behind a slice
    /// update happened (RFC 3339).
    public static let triggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"

    public func update(_ service: Service) {
        if record({ $0.update(service) }) { metrics?.serviceChanged() }
    }
    public func delete(serviceKey: String) {
        if record({ $0.update(serviceKey: serviceKey, nil) }) { metrics?.serviceChanged() }
    }
    public func update(_ slice: EndpointSlice, deleted: Bool = false) {
        let trigger = slice.metadata.annotations?[Self.triggerTimeAnnotation].flatMap(Self.parseTime)
        if record({ $0.update(slice, deleted: deleted) }, trigger: deleted ? nil : trigger) { metrics?.endpointsChanged() }
    }

    static func parseTime(_ text: String) -> Double? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)?.timeIntervalSince1970
    }

    /// Applies `change` to the tracker; returns what it returned (true: a sync is needed).
    private func record(_ change: (inout ChangeTracker) -> Bool, trigger: Double? = nil) -> Bool {
        let (changed, pending) = state.withLock { s in
            let changed = change(&s.tracker)
            if changed, let trigger { s.triggers.append(trigger) }
            return (changed, s.tracker.hasPendingChanges)
        }
        if pending {
            runner.request()
            health?.queued()
            metrics?.queued(wallTime: wallClock.now())
        }
        return changed
    }

    /// A snapshot of what the proxy currently programs (after the last ``syncRules()``).
    public var currentState: ProxyState { state.withLock { $0.proxyState } }

    /// One sync step: applies pending changes to every backend, as a full sync when the runner
    /// says so. Returns the report; a failed backend makes the next sync full.
    @discardableResult
    public func syncRules() -> SyncReport {
        syncLock.withLock { _ in
            let kind = runner.nextKind
            let start = runner.now()
            let (snapshot, changed, triggers) = state.withLock { s -> (ProxyState, Set<ServicePortName>, [Double]) in
                s.dirty.formUnion(s.tracker.apply(to: &s.proxyState))
                return (s.proxyState, s.dirty, s.triggers)
            }
            var failure: String?
            var failedModes: [String] = []
            for backend in backends {
                do { try backend.sync(snapshot, changed: changed, kind: kind) } catch {
                    failure = "\(backend.mode): \(error)"
                    failedModes.append(backend.mode)
                    logger.error("sync failed", metadata: ["mode": "\(backend.mode)", "kind": "\(kind)", "error": "\(error)"])
                }
            }
            if failure == nil {
                state.withLock {
                    $0.dirty = []
                    $0.triggers.removeFirst(min(triggers.count, $0.triggers.count))
                }
            }
            runner.record(kind, start: start, succeeded: failure == nil)
            let end = wallClock.now()
            var report = SyncReport(kind: kind, duration: runner.now() - start, succeeded: failure == nil,
                                    serviceCount: snapshot.services.count, changedCount: changed.count, error: failure)
            report.failedModes = failedModes
            if failure == nil, let conntrack {
                do {
                    let cleaned = try conntrack.clean(snapshot, changed: changed, kind: kind)
                    report.conntrackEntriesDeleted = cleaned.deleted.count
                    if !cleaned.deleted.isEmpty {
                        logger.info("deleted stale UDP conntrack entries", metadata: ["count": "\(cleaned.deleted.count)", "examined": "\(cleaned.examined)"])
                    }
                } catch {
                    logger.error("conntrack cleanup failed", metadata: ["error": "\(error)"])
                }
            }
            if failure == nil {
                report.networkProgrammingSeconds = triggers.map { max(0, end - $0) }
                health?.updated()
            }
            metrics?.record(report, wallTime: end)
            logger.debug("synced rules", metadata: ["kind": "\(kind)", "services": "\(report.serviceCount)", "changed": "\(report.changedCount)", "duration": "\(report.duration)"])
            observer?(report)
            return report
        }
    }

    /// Syncs whenever the runner says a sync is due, until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            if runner.isDue { syncRules() }
            let wait = min(runner.timeUntilDue, .milliseconds(500))
            try? await Task.sleep(for: max(wait, .milliseconds(10)))
        }
    }
}

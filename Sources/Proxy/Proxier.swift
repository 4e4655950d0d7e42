import KubeAPI
import Logging
import Synchronization

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

    private struct State {
        var tracker: ChangeTracker
        var proxyState = ProxyState()
        /// Service ports changed since the last successful sync.
        var dirty = Set<ServicePortName>()
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
    }

    public init(nodeName: String, backends: [any ProxyBackend], runner: SyncRunner, logger: Logger = Logger(label: "nodekit.proxy"),
                observer: (@Sendable (SyncReport) -> Void)? = nil) {
        self.backends = backends
        self.runner = runner
        self.logger = logger
        self.observer = observer
        state = Mutex(State(tracker: ChangeTracker(nodeName: nodeName)))
    }

    public func update(_ service: Service) { record { $0.update(service) } }
    public func delete(serviceKey: String) { record { $0.update(serviceKey: serviceKey, nil) } }
    public func update(_ slice: EndpointSlice, deleted: Bool = false) { record { $0.update(slice, deleted: deleted) } }

    private func record(_ change: (inout ChangeTracker) -> Void) {
        let pending = state.withLock { s in
            change(&s.tracker)
            return s.tracker.hasPendingChanges
        }
        if pending { runner.request() }
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
            let (snapshot, changed) = state.withLock { s -> (ProxyState, Set<ServicePortName>) in
                s.dirty.formUnion(s.tracker.apply(to: &s.proxyState))
                return (s.proxyState, s.dirty)
            }
            var failure: String?
            for backend in backends {
                do { try backend.sync(snapshot, changed: changed, kind: kind) } catch {
                    failure = "\(backend.mode): \(error)"
                    logger.error("sync failed", metadata: ["mode": "\(backend.mode)", "kind": "\(kind)", "error": "\(error)"])
                }
            }
            if failure == nil { state.withLock { $0.dirty = [] } }
            runner.record(kind, start: start, succeeded: failure == nil)
            let report = SyncReport(kind: kind, duration: runner.now() - start, succeeded: failure == nil,
                                    serviceCount: snapshot.services.count, changedCount: changed.count, error: failure)
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

import Foundation
import KubeAPI
import Logging

/// Where the eviction manager reads resource usage. `summary()` measures afresh on every call.
public protocol StatsProvider: Sendable {
    func summary() async throws(KubeletError) -> StatsSummary
}

/// What the eviction manager needs from the kubelet: the pods it runs and a way to kill one.
///
/// Contract: `activePods()` returns pods that are not yet terminal. `evict(_:gracePeriodSeconds:status:)`
/// stops every container of the pod within the grace period, records `status` (phase Failed,
/// reason Evicted, upstream's message) as the pod's final status, and returns once the pod's
/// containers are stopped; it throws when the kill failed, and the manager then tries the next pod.
public protocol EvictionPodHost: Sendable {
    func activePods() async -> [Pod]
    func evict(_ pod: Pod, gracePeriodSeconds: Int64, status: PodStatus) async throws(KubeletError)
}

/// Node-level reclaim, tried before any pod is evicted for disk pressure: dead containers first,
/// then unused images (``ContainerGC`` and ``ImageGC`` conform through ``NodeReclaimer``).
public protocol NodeLevelReclaimer: Sendable {
    func deleteAllUnusedContainers() async throws(KubeletError)
    func deleteAllUnusedImages() async throws(KubeletError)
}

/// What one eviction-manager step did.
public struct EvictionDecision: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        /// Node-level reclaim (dead containers, unused images) brought the signal back above
        /// its threshold plus minimum reclaim; no pod was evicted.
        case reclaimedNodeResources
        /// `pod` was killed with `message`.
        case evictedPod
    }
    public var action: Action
    public var signal: EvictionSignal
    public var threshold: EvictionThreshold
    /// `namespace/name` and UID of the evicted pod (empty for node-level reclaim).
    public var podKey: String
    public var podUID: String
    public var message: String
    public var annotations: [String: String]
    public var gracePeriodSeconds: Int64
}

/// Upstream's eviction manager (pkg/kubelet/eviction): observes signals, decides which
/// thresholds are met (with grace periods, minimum reclaim and the pressure transition period),
/// reclaims node-level resources first, then evicts at most one pod per step.
///
/// Drive it with ``synchronize(now:)`` (the kubelet calls it every 10 s, as upstream's
/// monitoring interval); read ``pressureConditions`` for the Node's conditions. An actor:
/// steps never overlap.
///
/// Wiring (kubelet helper): construct with a ``HostStatsProvider``, an ``EvictionPodHost`` that
/// lists the workers' pods and evicts through `PodWorker.terminate(gracePeriod:remove:)` with the
/// given status, and a ``NodeReclaimer`` over the runtime; call `synchronize(now: clock.now())`
/// every 10 s and pass ``pressureConditions`` to ``NodeStatusBuilder``.
public actor EvictionManager {
    public nonisolated let config: EvictionConfig
    /// Where it measures; the kubelet serves the same numbers at `/stats/summary`.
    public nonisolated let stats: any StatsProvider
    let host: any EvictionPodHost
    let reclaimer: (any NodeLevelReclaimer)?
    let logger: Logger

    /// Thresholds met at the last step, before grace periods (they then need minimum reclaim).
    public private(set) var thresholdsMet: [EvictionThreshold] = []
    var firstObservedAt: [EvictionThreshold: Date] = [:]
    var conditionLastObservedAt: [NodePressureCondition: Date] = [:]
    /// Pressure conditions now true: set while a threshold is met and for the pressure
    /// transition period after.
    public private(set) var pressureConditions: Set<NodePressureCondition> = []
    /// The signals of the last step.
    public private(set) var lastObservations: [EvictionSignal: SignalObservation] = [:]

    public init(config: EvictionConfig, stats: any StatsProvider, host: any EvictionPodHost,
                reclaimer: (any NodeLevelReclaimer)? = nil, logger: Logger = Logger(label: "nodekit.eviction")) {
        self.config = config
        self.stats = stats
        self.host = host
        self.reclaimer = reclaimer
        self.logger = logger
    }

    /// One step at `now`. Returns what was done: nothing, a node-level reclaim that relieved the
    /// pressure, or one evicted pod. A failed measurement is logged and the step does nothing.
    @discardableResult
    public func synchronize(now: Date) async -> [EvictionDecision] {
        let summary: StatsSummary
        do { summary = try await stats.summary() } catch {
            logger.warning("eviction manager: cannot read stats", metadata: ["error": "\(error)"])
            return []
        }
        let observations = summary.observations
        lastObservations = observations
        var met = Self.thresholdsMet(config.thresholds, observations, enforceMinReclaim: false)
        for threshold in Self.thresholdsMet(thresholdsMet, observations, enforceMinReclaim: true) where !met.contains(threshold) {
            met.append(threshold)
        }
        var firstSeen: [EvictionThreshold: Date] = [:]
        for threshold in met { firstSeen[threshold] = firstObservedAt[threshold] ?? now }
        firstObservedAt = firstSeen
        for threshold in met { conditionLastObservedAt[threshold.signal.nodeCondition] = now }
        let transition = config.pressureTransitionPeriod.seconds
        pressureConditions = Set(conditionLastObservedAt.filter { now.timeIntervalSince($0.value) < transition }.keys)
        thresholdsMet = met

        let actionable = met.filter { now.timeIntervalSince(firstSeen[$0] ?? now) >= $0.gracePeriod.seconds }
        guard let threshold = Self.byEvictionPriority(actionable).first else { return [] }
        let observed = observations[threshold.signal]
        logger.info("eviction manager: threshold met", metadata: ["threshold": "\(threshold)", "available": "\(observed?.available ?? -1)"])

        if let relief = await reclaimNodeLevel(threshold, now: now) { return [relief] }

        let pods = await host.activePods()
        guard !pods.isEmpty else {
            logger.info("eviction manager: no pods to evict", metadata: ["signal": "\(threshold.signal.rawValue)"])
            return []
        }
        let statsByUID = Dictionary(summary.pods.map { ($0.podRef.uid, $0) }, uniquingKeysWith: { a, _ in a })
        for candidate in EvictionRanking.rank(pods, signal: threshold.signal, stats: summary.pods) {
            let pod = candidate.pod
            if candidate.critical {
                logger.warning("eviction manager: cannot evict a critical pod", metadata: ["pod": "\(pod.key)"])
                continue
            }
            let (message, annotations) = EvictionRanking.message(
                signal: threshold.signal, thresholdAmount: observed.map { threshold.value.amount(capacity: $0.capacity) },
                available: observed?.available, pod: pod, stats: statsByUID[pod.metadata.uid ?? ""])
            let grace = gracePeriod(for: pod, threshold: threshold)
            do {
                try await host.evict(pod, gracePeriodSeconds: grace, status: Self.evictedStatus(message: message, now: now))
            } catch {
                logger.warning("eviction manager: evicting pod failed", metadata: ["pod": "\(pod.key)", "error": "\(error)"])
                continue
            }
            logger.info("eviction manager: evicted pod", metadata: ["pod": "\(pod.key)", "message": "\(message)"])
            return [EvictionDecision(action: .evictedPod, signal: threshold.signal, threshold: threshold, podKey: pod.key,
                                     podUID: pod.metadata.uid ?? "", message: message, annotations: annotations, gracePeriodSeconds: grace)]
        }
        return []
    }

    /// For disk signals: dead containers, then unused images; after each, a fresh measurement.
    /// Returns a decision when the threshold (with minimum reclaim) is no longer met.
    func reclaimNodeLevel(_ threshold: EvictionThreshold, now: Date) async -> EvictionDecision? {
        guard let reclaimer, threshold.signal.nodeCondition == .diskPressure else { return nil }
        let steps: [(String, () async throws(KubeletError) -> Void)] = [
            ("dead containers", reclaimer.deleteAllUnusedContainers),
            ("unused images", reclaimer.deleteAllUnusedImages),
        ]
        for (what, step) in steps {
            do { try await step() } catch {
                logger.warning("eviction manager: reclaiming \(what) failed", metadata: ["error": "\(error)"])
                continue
            }
            guard let summary = try? await stats.summary() else { continue }
            let observations = summary.observations
            if Self.thresholdsMet([threshold], observations, enforceMinReclaim: true).isEmpty {
                lastObservations = observations
                return EvictionDecision(action: .reclaimedNodeResources, signal: threshold.signal, threshold: threshold,
                                        podKey: "", podUID: "", message: "reclaimed \(what); \(threshold.signal.rawValue) is above its threshold",
                                        annotations: [:], gracePeriodSeconds: 0)
            }
        }
        return nil
    }

    /// Hard evictions kill at once (upstream's 1 s); soft ones get the pod's own grace period,
    /// capped by `--eviction-max-pod-grace-period` when that is set.
    func gracePeriod(for pod: Pod, threshold: EvictionThreshold) -> Int64 {
        if threshold.isHard { return 1 }
        let own = pod.spec.terminationGracePeriodSeconds ?? 30
        return config.maxPodGracePeriodSeconds > 0 ? min(config.maxPodGracePeriodSeconds, own) : own
    }

    /// The final status of an evicted pod, as upstream records it.
    public static func evictedStatus(message: String, now: Date) -> PodStatus {
        var status = PodStatus(phase: "Failed")
        status.reason = "Evicted"
        status.message = message
        status.conditions = [PodCondition(type: "DisruptionTarget", status: "True", reason: "TerminationByKubelet",
                                          message: message, lastTransitionTime: now.rfc3339)]
        return status
    }

    /// The thresholds met by `observations`: available < value (+ minimum reclaim when enforced).
    /// Signals without an observation are skipped.
    public static func thresholdsMet(_ thresholds: [EvictionThreshold], _ observations: [EvictionSignal: SignalObservation],
                                     enforceMinReclaim: Bool) -> [EvictionThreshold] {
        thresholds.filter { threshold in
            guard let observed = observations[threshold.signal] else { return false }
            var amount = threshold.value.amount(capacity: observed.capacity)
            if enforceMinReclaim, let reclaim = threshold.minReclaim { amount += reclaim.amount(capacity: observed.capacity) }
            return amount > observed.available
        }
    }

    /// Memory first, then the others in their configured order (upstream's byEvictionPriority).
    public static func byEvictionPriority(_ thresholds: [EvictionThreshold]) -> [EvictionThreshold] {
        thresholds.filter { $0.signal == .memoryAvailable } + thresholds.filter { $0.signal != .memoryAvailable }
    }
}

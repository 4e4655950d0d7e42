import Foundation
import KubeAPI

/// What the eviction manager would do with one measurement, without doing it: every signal
/// against its thresholds, the threshold it would act on, and the pods in the order it would
/// evict them. Used by `nodectl evict --node-pressure`; built only from the manager's own
/// functions (``EvictionManager/thresholdsMet(_:_:enforceMinReclaim:)``,
/// ``EvictionManager/byEvictionPriority(_:)``, ``EvictionRanking``), so it cannot drift from it.
public struct EvictionPreview: Sendable, Hashable, Codable {
    public struct Signal: Sendable, Hashable, Codable {
        public var signal: String
        public var available: Int64
        public var capacity: Int64
        /// True when `--simulate` replaced the measured value.
        public var simulated: Bool
        public var thresholds: [Threshold]
    }

    public struct Threshold: Sendable, Hashable, Codable {
        /// As written: `<100Mi`, `<10%`.
        public var value: String
        /// The value in bytes, inodes or processes at this signal's capacity.
        public var amount: Int64
        public var hard: Bool
        public var gracePeriodSeconds: Double
        public var met: Bool
    }

    public struct Candidate: Sendable, Hashable, Codable {
        public var rank: Int
        public var namespace: String
        public var name: String
        public var qosClass: String
        public var priority: Int32
        public var usage: Int64?
        public var request: Int64
        public var critical: Bool
        /// Why the pod sits at this rank (``EvictionRanking/explain(_:signal:)``).
        public var reason: String
        /// The message the pod's status would get if it were evicted now (nil for critical pods).
        public var message: String?
    }

    public var signals: [Signal]
    /// The signal the manager would act on: the first met threshold in eviction priority (memory
    /// first). Nil when nothing is met; ``rankedFor`` then shows the order under memory pressure.
    public var acting: String?
    /// The signal the candidates are ranked for.
    public var rankedFor: String
    public var candidates: [Candidate]

    /// Computes the preview from `summary` (its node observations, with `overrides` replacing the
    /// available amount of a signal) and the pods the kubelet runs. Thresholds are judged as the
    /// manager judges them on its first observation: a soft threshold that is met still waits
    /// for its grace period, which `gracePeriodSeconds` shows.
    public static func compute(config: EvictionConfig, summary: StatsSummary, pods: [Pod],
                               overrides: [EvictionSignal: Int64] = [:]) -> EvictionPreview {
        var observations = summary.observations
        for (signal, available) in overrides {
            let capacity = observations[signal]?.capacity ?? available
            observations[signal] = SignalObservation(available: available, capacity: capacity)
        }
        let met = EvictionManager.thresholdsMet(config.thresholds, observations, enforceMinReclaim: false)
        let signals = observations.keys.sorted().map { signal -> Signal in
            let observed = observations[signal]!
            let thresholds = config.thresholds.filter { $0.signal == signal }.map { threshold in
                Threshold(value: "<" + threshold.value.description, amount: threshold.value.amount(capacity: observed.capacity),
                          hard: threshold.isHard, gracePeriodSeconds: threshold.gracePeriod.seconds, met: met.contains(threshold))
            }
            return Signal(signal: signal.rawValue, available: observed.available, capacity: observed.capacity,
                          simulated: overrides[signal] != nil, thresholds: thresholds)
        }
        let acting = EvictionManager.byEvictionPriority(met).first
        let signal = acting?.signal ?? .memoryAvailable
        let active = pods.filter { $0.status?.phase != "Succeeded" && $0.status?.phase != "Failed" }
        let statsByUID = Dictionary(summary.pods.map { ($0.podRef.uid, $0) }, uniquingKeysWith: { a, _ in a })
        let observed = observations[signal]
        let candidates = EvictionRanking.rank(active, signal: signal, stats: summary.pods).enumerated().map { index, ranked in
            let pod = ranked.pod
            let message = ranked.critical ? nil : EvictionRanking.message(
                signal: signal, thresholdAmount: acting.flatMap { threshold in observed.map { threshold.value.amount(capacity: $0.capacity) } },
                available: acting == nil ? nil : observed?.available, pod: pod, stats: statsByUID[pod.metadata.uid ?? ""]).message
            return Candidate(rank: index + 1, namespace: pod.metadata.namespace ?? "default", name: pod.metadata.name ?? "",
                             qosClass: QOSClass(pod.spec).rawValue, priority: ranked.priority, usage: ranked.usage, request: ranked.request,
                             critical: ranked.critical, reason: EvictionRanking.explain(ranked, signal: signal), message: message)
        }
        return EvictionPreview(signals: signals, acting: acting?.signal.rawValue, rankedFor: signal.rawValue, candidates: candidates)
    }

    /// Parses `--simulate` entries, `signal=value` (`memory.available=100Mi`, `nodefs.available=5%`),
    /// into available amounts; a percentage is of the signal's observed capacity.
    public static func parseOverrides(_ entries: [String], observations: [EvictionSignal: SignalObservation]) throws(KubeletError) -> [EvictionSignal: Int64] {
        var out: [EvictionSignal: Int64] = [:]
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw KubeletError(.configuration, "--simulate \(entry): expected SIGNAL=VALUE, e.g. memory.available=100Mi")
            }
            guard let signal = EvictionSignal(rawValue: parts[0]) else {
                let known = EvictionSignal.allCases.map(\.rawValue).joined(separator: ", ")
                throw KubeletError(.configuration, "--simulate \(entry): unknown signal \(parts[0]) (known: \(known))")
            }
            let value: ThresholdValue
            do { value = try EvictionConfig.parseValue(parts[1], signal: signal, what: "simulated value") } catch {
                throw KubeletError(.configuration, "--simulate \(entry): \(error.message)")
            }
            if case .percentage = value, observations[signal] == nil {
                throw KubeletError(.configuration, "--simulate \(entry): a percentage needs a measured \(signal.rawValue) capacity, and there is none")
            }
            out[signal] = value.amount(capacity: observations[signal]?.capacity ?? 0)
        }
        return out
    }
}

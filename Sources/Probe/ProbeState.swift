/// The outcome of one probe run, as upstream's prober: success, failure, or unknown (the probe
/// could not run, e.g. the container is not running yet).
public enum ProbeResult: String, Sendable, Hashable, Codable {
    case success, failure, unknown
}

/// Turns individual probe runs into the probe's result using its thresholds, as upstream's
/// worker does: a result changes only after `successThreshold` consecutive successes or
/// `failureThreshold` consecutive failures; before `initialDelay` has passed since the
/// container started, the probe does not run and keeps its initial result.
///
/// A value type with no clock of its own: the caller passes the time, so tests step it.
public struct ProbeState: Sendable, Hashable {
    public let kind: ProbeKind
    public let timing: ProbeTiming
    /// The probe's current result (what drives readiness, or a restart).
    public private(set) var result: ProbeResult
    /// The result of the last run and how many runs in a row gave it.
    public private(set) var lastRun: ProbeResult?
    public private(set) var runCount = 0

    public init(kind: ProbeKind, timing: ProbeTiming) {
        self.kind = kind
        self.timing = timing
        self.result = kind.initialResult
    }

    /// Whether the probe should run at `now` for a container that started at `startedAt`.
    public func shouldRun(now: ContinuousClock.Instant, startedAt: ContinuousClock.Instant) -> Bool {
        now - startedAt >= timing.initialDelay
    }

    /// Records one run. Returns true when the probe's result changed.
    @discardableResult
    public mutating func record(_ run: ProbeResult) -> Bool {
        if run == lastRun { runCount += 1 } else { lastRun = run; runCount = 1 }
        let threshold: Int
        switch run {
        case .success: threshold = timing.successThreshold
        case .failure: threshold = timing.failureThreshold
        case .unknown: return false
        }
        guard runCount >= threshold, result != run else { return false }
        result = run
        return true
    }

    /// Back to the initial result, as after a container restart. Upstream keeps a failed
    /// liveness probe's streak from carrying over into the new container.
    public mutating func reset() {
        result = kind.initialResult
        lastRun = nil
        runCount = 0
    }

    /// What a result change means for the container, in upstream's terms.
    public var consequence: String {
        switch (kind, result) {
        case (.liveness, .failure): return "the container will be restarted"
        case (.startup, .failure): return "the container will be restarted (startup probe failed)"
        case (.readiness, .failure): return "the container is not ready: the pod is removed from Service endpoints"
        case (.readiness, .success): return "the container is ready"
        case (.startup, .success): return "the container has started: liveness and readiness probes run"
        case (.liveness, .success): return "the container is alive"
        case (_, .unknown): return "no change"
        }
    }
}

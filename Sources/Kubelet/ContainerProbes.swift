import CRI
import Foundation
import KubeAPI
import Probe

/// Exec probes and exec hooks through CRI `ExecSync`.
public struct CRIProbeExecutor: ProbeExecutor {
    public let runtime: any ContainerRuntime
    public init(runtime: any ContainerRuntime) { self.runtime = runtime }

    public func execSync(containerID: String, command: [String], timeout: Duration) async throws -> (exitCode: Int32, output: String) {
        var request = Runtime_V1_ExecSyncRequest()
        request.containerID = containerID
        request.cmd = command
        request.timeout = max(1, Int64(timeout.seconds.rounded(.up)))
        let response = try await runtime.execSync(request, timeout: timeout + .seconds(2))
        return (response.exitCode, String(decoding: response.stdout + response.stderr, as: UTF8.self))
    }
}

/// One probe run as kept for `nodectl probe` (issue 10).
public struct ProbeRecord: Sendable, Hashable, Codable {
    public var kind: ProbeKind
    public var time: Date
    public var result: ProbeResult
    public var message: String
}

/// The probes of one running container: their threshold state, schedule and recent history.
/// A new container (another id) starts over, as upstream's workers do.
public struct ContainerProbes: Sendable {
    public static let historyLimit = 10
    public private(set) var containerID: String
    public private(set) var states: [ProbeKind: ProbeState] = [:]
    var nextRun: [ProbeKind: Date] = [:]
    /// The last runs, oldest first, at most ``historyLimit``.
    public private(set) var history: [ProbeRecord] = []

    public init(containerID: String, container: Container) {
        self.containerID = containerID
        for (kind, probe) in Self.probes(of: container) {
            states[kind] = ProbeState(kind: kind, timing: ProbeTiming(probe, kind: kind))
        }
    }

    static func probes(of container: Container) -> [(ProbeKind, KubeAPI.Probe)] {
        [(.startup, container.startupProbe), (.liveness, container.livenessProbe), (.readiness, container.readinessProbe)]
            .compactMap { kind, probe in probe.map { (kind, $0) } }
    }

    /// True once the startup probe has succeeded (or when there is none).
    public var started: Bool { states[.startup].map { $0.result == .success } ?? true }
    /// Readiness: the readiness probe's result once started; started alone without a probe.
    public var ready: Bool {
        guard started else { return false }
        return states[.readiness].map { $0.result == .success } ?? true
    }
    /// Why the container must be restarted, if a liveness or startup probe says so.
    public var restartReason: String? {
        if states[.startup]?.result == .failure { return "Startup probe failed" }
        if started, states[.liveness]?.result == .failure { return "Liveness probe failed" }
        return nil
    }

    /// The probes due at `now` for a container that started at `startedAt`: startup alone until
    /// it succeeds, then liveness and readiness.
    public func due(now: Date, startedAt: Date) -> [ProbeKind] {
        let kinds: [ProbeKind] = started ? [.liveness, .readiness] : [.startup]
        return kinds.filter { kind in
            guard let state = states[kind] else { return false }
            guard now.timeIntervalSince(startedAt) >= state.timing.initialDelay.seconds else { return false }
            return nextRun[kind].map { now >= $0 } ?? true
        }
    }

    /// When the next probe is due (for the worker's wake-up), nil without probes.
    public func nextDue(startedAt: Date) -> Date? {
        let kinds: [ProbeKind] = started ? [.liveness, .readiness] : [.startup]
        return kinds.compactMap { kind -> Date? in
            guard let state = states[kind] else { return nil }
            return nextRun[kind] ?? startedAt.addingTimeInterval(state.timing.initialDelay.seconds)
        }.min()
    }

    public mutating func record(_ kind: ProbeKind, outcome: ProbeOutcome, at now: Date) {
        guard var state = states[kind] else { return }
        state.record(outcome.result)
        states[kind] = state
        nextRun[kind] = now.addingTimeInterval(state.timing.period.seconds)
        history.append(ProbeRecord(kind: kind, time: now, result: outcome.result, message: outcome.message))
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
    }
}

/// Runs lifecycle hooks (postStart, preStop) the way probes run: exec through CRI, httpGet
/// through the prober's HTTP client; `sleep` waits; tcpSocket is a no-op, as upstream.
public struct HookRunner: Sendable {
    let prober: Prober
    public init(prober: Prober) { self.prober = prober }

    /// Runs `handler` for `container`; throws a `hook` error saying what failed.
    public func run(_ handler: LifecycleHandler, name: String, container: Container, containerID: String, podIP: String, timeout: Duration) async throws(KubeletError) {
        if let sleep = handler.sleep {
            try? await Task.sleep(for: min(.seconds(sleep.seconds), timeout))
            return
        }
        if handler.tcpSocket != nil && handler.exec == nil && handler.httpGet == nil { return }
        var probe = KubeAPI.Probe()
        probe.exec = handler.exec
        probe.httpGet = handler.httpGet
        let target: ProbeTarget
        do { target = try ProbeTarget.resolve(probe, container: container, podIP: podIP) } catch {
            throw KubeletError(.hook, "\(name) hook of container \(container.name): \(error)")
        }
        let outcome = await prober.run(target, containerID: containerID, timeout: timeout)
        guard outcome.result == .success else {
            throw KubeletError(.hook, "\(name) hook of container \(container.name) failed: \(outcome.message)")
        }
    }
}

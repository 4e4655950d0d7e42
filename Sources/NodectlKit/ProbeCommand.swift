import ArgumentParser
import CRI
import Foundation
import KubeAPI
import KubeClient
import Kubelet
import Probe

/// `nodectl probe POD`: runs a pod's configured probes now, from the node, with the kubelet's
/// probe code, and explains the result.
public struct ProbeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Run a pod's probes now and say what the result would do.",
        discussion: """
            The pod comes from the API server (kubeconfig as kubectl finds it, then
            /var/lib/nodekit/kubeconfig), or with --kubelet, or without any kubeconfig, from the
            kubelet's /pods. httpGet, tcpSocket and grpc probes connect to the pod IP from this
            host; exec probes run through CRI ExecSync on --runtime-endpoint. The kubelet's recent
            runs of the container's probes follow. Exit status: 0 when every probe run succeeded,
            1 otherwise.
            """)

    @Argument(help: "The pod's name.") var pod: String
    @Option(name: .shortAndLong, help: "The pod's namespace (default: the kubeconfig context's, else default).") var namespace: String?
    @Option(name: .shortAndLong, help: "Only this container (default: every container with probes).") var container: String?
    @Option(name: .customLong("type"), help: "Only this probe: liveness, readiness or startup (default: all configured).") var kind: ProbeKind?
    @Flag(help: "Run again at the probe's period until interrupted.") var watch = false
    @Option(name: .customLong("runtime-endpoint"), help: "CRI socket for exec probes (default: the Nodekit containerd socket).") var runtimeEndpoint: String?
    @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table
    @OptionGroup var cluster: ClusterOptions

    public init() {}

    public func run() async throws {
        try await CommandRunner.run {
            let succeeded = try await execute(console: .standardOutput)
            if !succeeded { throw ExitCode.failure }
        }
    }

    /// Runs the probes once (or, with `--watch`, until cancelled) and writes the report to
    /// `console`. Returns whether every probe run of the last round succeeded.
    public func execute(console: Console) async throws -> Bool {
        let source = try await ProbedPodSource.resolve(cluster: cluster, namespace: namespace, name: pod)
        let runtime: CRIClient?
        do {
            runtime = try connectRuntime(for: try ProbePlan.make(pod: source.pod, container: container, kind: kind))
        } catch {
            await source.shutdown()
            throw error
        }
        do {
            let succeeded = try await probe(source, runtime: runtime, console: console)
            await runtime?.close()
            await source.shutdown()
            return succeeded
        } catch {
            await runtime?.close()
            await source.shutdown()
            throw error
        }
    }

    /// A CRI client when some probe is an exec probe.
    func connectRuntime(for runs: [ProbeRun]) throws -> CRIClient? {
        guard runs.contains(where: { if case .exec = $0.target { return true } else { return false } }) else { return nil }
        do {
            let endpoint = try runtimeEndpoint.map { text throws(CRIError) in try RuntimeEndpoint(parsing: text) } ?? RuntimeEndpoint.nodekitDefault()
            return try CRIClient(endpoint: endpoint)
        } catch {
            throw NodectlError("exec probes need the container runtime: \(error)")
        }
    }

    func probe(_ source: ProbedPodSource, runtime: CRIClient?, console: Console) async throws -> Bool {
        let targetPod = source.pod
        let runs = try ProbePlan.make(pod: targetPod, container: container, kind: kind)
        let prober = Prober(executor: runtime.map { CRIProbeExecutor(runtime: $0) })
        var succeeded = true
        repeat {
            var report = ProbeReportView(namespace: targetPod.metadata.namespace ?? "default", pod: targetPod.metadata.name ?? "",
                                         podIP: targetPod.status?.podIP ?? "", node: targetPod.spec.nodeName ?? "", source: source.description)
            for run in runs {
                let outcome = await prober.run(run.target, containerID: run.containerID, timeout: run.timing.timeout)
                report.probes.append(.init(run: run, outcome: outcome))
            }
            for name in Set(runs.map(\.container)).sorted() {
                report.history[name] = await source.history(container: name)
            }
            succeeded = report.probes.allSatisfy { $0.result == ProbeResult.success.rawValue }
            console.write(try report.render(output))
            if watch {
                try await Task.sleep(for: runs.map(\.timing.period).min() ?? .seconds(10))
            }
        } while watch && !Task.isCancelled
        return succeeded
    }
}

extension ProbeKind: ExpressibleByArgument {}

/// Where nodectl found the pod, and where it reads the kubelet's probe history.
struct ProbedPodSource: Sendable, CustomStringConvertible {
    var pod: Pod
    var api: HTTPKubeClient?
    var kubelet: KubeletEndpoint?
    /// Why the kubelet cannot be asked, when it cannot.
    var kubeletProblem: String?

    var description: String {
        (api != nil ? "API server" : "kubelet \(kubelet?.url ?? "")")
    }

    /// The pod from the API server when a kubeconfig is found and `--kubelet` is not given;
    /// else from the kubelet's /pods (`--kubelet`, default http://127.0.0.1:10250).
    static func resolve(cluster: ClusterOptions, namespace: String?, name: String) async throws -> ProbedPodSource {
        if cluster.kubelet == nil, let api = try cluster.apiClient() {
            let ns = namespace ?? cluster.defaultNamespace()
            let pod: Pod
            do { pod = try await api.get(Pod.self, namespace: ns, name: name) } catch {
                await api.shutdown()
                if error.isNotFound { throw NodectlError("pod \(ns)/\(name) not found") }
                throw NodectlError("getting pod \(ns)/\(name): \(CommandRunner.oneLine(error))")
            }
            var source = ProbedPodSource(pod: pod, api: api)
            var kubeletURL: String?
            if let nodeName = pod.spec.nodeName, !nodeName.isEmpty {
                if let node = try? await api.get(Node.self, namespace: nil, name: nodeName) {
                    kubeletURL = KubeletEndpoint.url(of: node)
                }
                if kubeletURL == nil { source.kubeletProblem = "node \(nodeName) does not report a kubelet endpoint" }
            } else {
                source.kubeletProblem = "the pod is not scheduled to a node"
            }
            if let kubeletURL { source.kubelet = try? KubeletEndpoint(url: kubeletURL) }
            return source
        }
        let url = cluster.kubelet ?? ClusterOptions.localKubelet
        let kubelet = try KubeletEndpoint(url: url)
        let ns = namespace ?? "default"
        let pods: [Pod]
        do { pods = try await kubelet.pods() } catch {
            await kubelet.shutdown()
            throw NodectlError(cluster.kubelet == nil ? "no kubeconfig found, and \(error)" : error.description)
        }
        guard let pod = pods.first(where: { $0.metadata.namespace ?? "default" == ns && $0.metadata.name == name }) else {
            await kubelet.shutdown()
            throw NodectlError("pod \(ns)/\(name) not found on the kubelet at \(url)")
        }
        return ProbedPodSource(pod: pod, kubelet: kubelet)
    }

    /// The kubelet's recent probe runs for `container`.
    func history(container: String) async -> ProbeHistoryView {
        guard let kubelet else { return ProbeHistoryView(error: kubeletProblem ?? "no kubelet endpoint") }
        do {
            let report = try await kubelet.probes(namespace: pod.metadata.namespace ?? "default", pod: pod.metadata.name ?? "", container: container)
            return ProbeHistoryView(ready: report.ready, started: report.started, restartReason: report.restartReason, runs: report.history)
        } catch {
            return ProbeHistoryView(error: error.description)
        }
    }

    func shutdown() async {
        await api?.shutdown()
        await kubelet?.shutdown()
    }
}

/// One probe to run: which container, which kind, resolved against the pod.
struct ProbeRun: Sendable, Hashable {
    var container: String
    var kind: ProbeKind
    var target: ProbeTarget
    var timing: ProbeTiming
    /// The running container's id, without the runtime prefix (`containerd://`).
    var containerID: String
}

enum ProbePlan {
    /// The probes of `pod` to run, filtered by container and kind, in container order and then
    /// startup, liveness, readiness. Throws when nothing matches or a probe cannot be resolved.
    static func make(pod: Pod, container: String?, kind: ProbeKind?) throws(NodectlError) -> [ProbeRun] {
        let key = "\(pod.metadata.namespace ?? "default")/\(pod.metadata.name ?? "")"
        let containers = pod.spec.containers.filter { container == nil || $0.name == container }
        if let container, containers.isEmpty {
            let names = pod.spec.containers.map(\.name).joined(separator: ", ")
            throw NodectlError("pod \(key) has no container \(container) (containers: \(names))")
        }
        let podIP = pod.status?.podIP ?? ""
        var runs: [ProbeRun] = []
        for c in containers {
            let probes: [(ProbeKind, KubeAPI.Probe?)] = [(.startup, c.startupProbe), (.liveness, c.livenessProbe), (.readiness, c.readinessProbe)]
            for case let (probeKind, probe?) in probes where kind == nil || kind == probeKind {
                let target: ProbeTarget
                do { target = try ProbeTarget.resolve(probe, container: c, podIP: podIP) } catch {
                    throw NodectlError("pod \(key) container \(c.name) \(probeKind.rawValue) probe: \(error)")
                }
                if case .exec = target {} else if podIP.isEmpty, probe.httpGet?.host == nil, probe.tcpSocket?.host == nil {
                    throw NodectlError("pod \(key) has no IP yet: its \(probeKind.rawValue) probe of container \(c.name) cannot run")
                }
                let status = pod.status?.containerStatuses?.first { $0.name == c.name }
                let rawID = status?.containerID ?? ""
                let id = rawID.range(of: "://").map { String(rawID[$0.upperBound...]) } ?? rawID
                if case .exec = target, id.isEmpty {
                    throw NodectlError("pod \(key) container \(c.name) is not running: its exec \(probeKind.rawValue) probe cannot run")
                }
                runs.append(ProbeRun(container: c.name, kind: probeKind, target: target, timing: ProbeTiming(probe, kind: probeKind), containerID: id))
            }
        }
        guard !runs.isEmpty else {
            let what = kind.map { "\($0.rawValue) probe" } ?? "probes"
            throw NodectlError("pod \(key) \(container.map { "container \($0) " } ?? "")has no \(what)")
        }
        return runs
    }

    /// What the result would do to the container, in the kubelet's terms.
    static func effect(kind: ProbeKind, result: ProbeResult, timing: ProbeTiming) -> String {
        switch (kind, result) {
        case (.liveness, .success):
            return "none: the container keeps running"
        case (.liveness, _):
            return "restart the container after \(timing.failureThreshold) consecutive failures (failureThreshold)"
        case (.readiness, .success):
            return "mark the container ready after \(timing.successThreshold) consecutive successes (successThreshold)"
        case (.readiness, _):
            return "mark the container unready (pod removed from Service endpoints) after \(timing.failureThreshold) consecutive failures (failureThreshold)"
        case (.startup, .success):
            return "the container counts as started: liveness and readiness probes begin"
        case (.startup, _):
            return "liveness and readiness stay held back; restart the container after \(timing.failureThreshold) consecutive failures (failureThreshold)"
        }
    }
}

/// The kubelet's view of one container's probes, or why it could not be read.
struct ProbeHistoryView: Sendable, Hashable, Codable {
    var ready: Bool?
    var started: Bool?
    var restartReason: String?
    var runs: [ProbeRecord] = []
    var error: String?

    init(ready: Bool? = nil, started: Bool? = nil, restartReason: String? = nil, runs: [ProbeRecord] = [], error: String? = nil) {
        self.ready = ready
        self.started = started
        self.restartReason = restartReason
        self.runs = runs
        self.error = error
    }
}

/// `nodectl probe`'s report: what `-o json|yaml` prints, and what the text view renders.
struct ProbeReportView: Sendable, Hashable, Codable {
    struct Run: Sendable, Hashable, Codable {
        var container: String
        var type: String
        var target: String
        var result: String
        var message: String
        var statusCode: Int?
        var exitCode: Int32?
        var output: String
        var milliseconds: Double
        var effect: String

        init(container: String, type: String, target: String, result: String, message: String, statusCode: Int?, exitCode: Int32?,
             output: String, milliseconds: Double, effect: String) {
            self.container = container
            self.type = type
            self.target = target
            self.result = result
            self.message = message
            self.statusCode = statusCode
            self.exitCode = exitCode
            self.output = output
            self.milliseconds = milliseconds
            self.effect = effect
        }

        init(run: ProbeRun, outcome: ProbeOutcome) {
            let ms = Double(outcome.elapsed.components.seconds) * 1000 + Double(outcome.elapsed.components.attoseconds) / 1e15
            self.init(container: run.container, type: run.kind.rawValue, target: run.target.description, result: outcome.result.rawValue,
                      message: outcome.message, statusCode: outcome.statusCode, exitCode: outcome.exitCode, output: outcome.output,
                      milliseconds: (ms * 10).rounded() / 10, effect: ProbePlan.effect(kind: run.kind, result: outcome.result, timing: run.timing))
        }
    }

    var namespace: String
    var pod: String
    var podIP: String
    var node: String
    var source: String
    var probes: [Run] = []
    var history: [String: ProbeHistoryView] = [:]

    func render(_ format: OutputFormat) throws -> String {
        if format != .table { return try NodectlOutput.render(self, as: format) }
        var out = "pod \(namespace)/\(pod)  ip \(podIP.isEmpty ? "<none>" : podIP)  node \(node.isEmpty ? "<none>" : node)  (from \(source))\n"
        for run in probes {
            out += "\n\(run.container) \(run.type) probe: \(run.target)\n"
            out += "  target:  \(run.target)\n"
            if let code = run.statusCode { out += "  status:  HTTP \(code)\n" }
            if let code = run.exitCode { out += "  exit:    \(code)\n" }
            let output = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if !output.isEmpty {
                let shown = output.count > 200 ? String(output.prefix(200)) + "…" : output
                out += "  output:  \(shown.split(whereSeparator: \.isNewline).joined(separator: "\\n"))\n"
            }
            out += "  result:  \(run.result): \(run.message) (\(Self.milliseconds(run.milliseconds)))\n"
            out += "  effect:  \(run.effect)\n"
        }
        for (container, view) in history.sorted(by: { $0.key < $1.key }) {
            out += "\nkubelet history of \(container):"
            if let error = view.error {
                out += " unavailable (\(error))\n"
                continue
            }
            var state: [String] = []
            if let started = view.started { state.append("started=\(started)") }
            if let ready = view.ready { state.append("ready=\(ready)") }
            if let reason = view.restartReason { state.append("restart: \(reason)") }
            out += " " + state.joined(separator: " ") + "\n"
            if view.runs.isEmpty {
                out += "  (no runs yet)\n"
                continue
            }
            var table = Table("TIME", "TYPE", "RESULT", "MESSAGE")
            for record in view.runs {
                table.append([Self.time(record.time), record.kind.rawValue, record.result.rawValue, record.message])
            }
            out += table.render().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        return out
    }

    static func milliseconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.1fms", value) : String(format: "%.0fms", value)
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

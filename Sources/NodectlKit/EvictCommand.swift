import ArgumentParser
import CRI
import Foundation
import KubeAPI
import KubeClient
import Kubelet

/// `nodectl evict POD`: evicts through the Eviction API (policy/v1), which honours
/// PodDisruptionBudgets. `nodectl evict --node-pressure`: the node's eviction signals against
/// the kubelet's thresholds and the pods the eviction manager would evict, in its order.
public struct EvictCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "evict",
        abstract: "Evict a pod through the Eviction API, or show what node pressure would evict (--node-pressure).",
        discussion: """
            nodectl evict POD [-n NS] [--grace-period S] [--dry-run]
              POST pods/eviction. When a PodDisruptionBudget blocks it (429), exits 1 naming the budget.
            nodectl evict --node-pressure [--simulate SIGNAL=VALUE ...]
              Signals from the kubelet's /stats/summary (or, when the kubelet cannot be reached,
              measured here: root cgroup, statfs, pids, CRI stats), the thresholds given as the
              kubelet's flags (default: upstream's --eviction-hard), and the pods ranked by the
              eviction manager's own code. --simulate replaces a signal's available amount.
            """)

    @Argument(help: "The pod to evict (not with --node-pressure).") var pod: String?
    @Option(name: .shortAndLong, help: "The pod's namespace (default: the kubeconfig context's, else default).") var namespace: String?
    @Option(name: .customLong("grace-period"), help: "Seconds the pod gets to stop (default: its own terminationGracePeriodSeconds).") var gracePeriod: Int64?
    @Flag(name: .customLong("dry-run"), help: "Ask the API server to check the eviction without doing it (server-side dry run).") var dryRun = false

    @Flag(name: .customLong("node-pressure"), help: "Show the node's eviction signals and the pods node pressure would evict, and why.") var nodePressure = false
    @Option(help: "With --node-pressure: replace a signal's available amount, SIGNAL=VALUE (repeatable), e.g. memory.available=100Mi.") var simulate: [String] = []
    @Option(name: .customLong("eviction-hard"), help: "The kubelet's --eviction-hard.") var evictionHard = EvictionConfig.defaultHardText
    @Option(name: .customLong("eviction-soft"), help: "The kubelet's --eviction-soft.") var evictionSoft = ""
    @Option(name: .customLong("eviction-soft-grace-period"), help: "The kubelet's --eviction-soft-grace-period.") var evictionSoftGracePeriod = ""
    @Option(name: .customLong("eviction-minimum-reclaim"), help: "The kubelet's --eviction-minimum-reclaim.") var evictionMinimumReclaim = ""
    @Option(name: .customLong("node-name"), help: "With --node-pressure and a kubeconfig: the node whose pods to rank when measuring here (default: the host name).") var nodeName: String?
    @Option(name: .customLong("runtime-endpoint"), help: "With --node-pressure: CRI socket for measuring here (default: the Nodekit containerd socket).") var runtimeEndpoint: String?
    @Option(name: .customLong("root-dir"), help: "With --node-pressure: the kubelet's root directory (nodefs) when measuring here.") var rootDir: String?

    @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table
    @OptionGroup var cluster: ClusterOptions

    public init() {}

    public func validate() throws {
        if nodePressure {
            if pod != nil { throw ValidationError("give either a pod or --node-pressure, not both") }
            if dryRun || gracePeriod != nil { throw ValidationError("--dry-run and --grace-period apply to evicting a pod, not to --node-pressure") }
        } else {
            if pod == nil { throw ValidationError("give the pod to evict, or --node-pressure") }
            if !simulate.isEmpty { throw ValidationError("--simulate needs --node-pressure") }
            if let gracePeriod, gracePeriod < 0 { throw ValidationError("--grace-period must not be negative") }
        }
    }

    public func run() async throws {
        try await CommandRunner.run {
            if nodePressure {
                try await showNodePressure(console: .standardOutput)
            } else {
                try await evictPod(console: .standardOutput)
            }
        }
    }

    // MARK: Evict one pod

    /// What became of one eviction request.
    struct EvictionResult: Sendable, Hashable, Codable {
        var namespace: String
        var pod: String
        var dryRun: Bool
        var gracePeriodSeconds: Int64?
        var result: String
    }

    /// POSTs the eviction. Throws ``NodectlError`` naming the budget when a PodDisruptionBudget
    /// blocks it.
    public func evictPod(console: Console) async throws {
        guard let pod else { throw NodectlError("no pod given") }
        guard let api = try cluster.apiClient() else {
            throw NodectlError("no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config, \(KubeconfigLocator.nodekitPath)): evicting a pod needs the API server")
        }
        let ns = namespace ?? cluster.defaultNamespace()
        let eviction = Eviction(metadata: ObjectMeta(name: pod, namespace: ns),
                                deleteOptions: gracePeriod != nil || dryRun ? DeleteOptions(gracePeriodSeconds: gracePeriod, dryRun: dryRun ? ["All"] : nil) : nil)
        do {
            try await api.evict(eviction)
        } catch {
            let message = await Self.explain(error, namespace: ns, pod: pod, api: api)
            await api.shutdown()
            throw NodectlError(message)
        }
        await api.shutdown()
        let result = EvictionResult(namespace: ns, pod: pod, dryRun: dryRun, gracePeriodSeconds: gracePeriod,
                                    result: dryRun ? "evicted (server dry run)" : "evicted")
        if output == .table {
            var table = Table("NAMESPACE", "POD", "RESULT")
            table.append([ns, pod, result.result])
            console.write(table.render())
        } else {
            console.write(try NodectlOutput.render(result, as: output))
        }
    }

    /// One line for a failed eviction. A 429 names the PodDisruptionBudget: from the API
    /// server's cause (`The disruption budget NAME needs ...`), else the budgets in the
    /// namespace whose selector matches the pod.
    static func explain(_ error: KubeClientError, namespace: String, pod: String, api: any KubeAPIClient) async -> String {
        let key = "\(namespace)/\(pod)"
        if error.isNotFound { return "cannot evict pod \(key): pod not found" }
        guard error.isTooManyRequests else { return "cannot evict pod \(key): \(CommandRunner.oneLine(error))" }
        let causes = error.status?.details?.causes ?? []
        if let cause = causes.first(where: { $0.reason == "DisruptionBudget" })?.message ?? causes.first?.message,
           let budget = budgetName(inCause: cause) {
            return "cannot evict pod \(key): blocked by PodDisruptionBudget \(budget): \(cause)"
        }
        var budgets: [String] = []
        if let target = try? await api.get(Pod.self, namespace: namespace, name: pod),
           let list = try? await api.list(PodDisruptionBudget.self, namespace: namespace) {
            let labels = target.metadata.labels ?? [:]
            budgets = list.items.filter { $0.spec?.selector?.matches(labels) ?? false }.compactMap(\.metadata.name).sorted()
        }
        let named = budgets.isEmpty ? "a PodDisruptionBudget" : "PodDisruptionBudget \(budgets.joined(separator: ", "))"
        return "cannot evict pod \(key): blocked by \(named): \(error.message)"
    }

    /// `NAME` from upstream's cause text "The disruption budget NAME needs N healthy pods ...".
    static func budgetName(inCause cause: String) -> String? {
        let prefix = "The disruption budget "
        guard let start = cause.range(of: prefix)?.upperBound else { return nil }
        let name = cause[start...].prefix { !$0.isWhitespace }
        return name.isEmpty ? nil : String(name)
    }

    // MARK: Node pressure

    /// Reads the signals and pods, computes the preview and writes it.
    public func showNodePressure(console: Console) async throws {
        let config: EvictionConfig
        do {
            config = try EvictionConfig.parse(hard: evictionHard, soft: evictionSoft, softGracePeriods: evictionSoftGracePeriod,
                                              minimumReclaim: evictionMinimumReclaim)
        } catch {
            throw NodectlError(error.description)
        }
        let (summary, pods, source) = try await measure()
        let overrides: [EvictionSignal: Int64]
        do { overrides = try EvictionPreview.parseOverrides(simulate, observations: summary.observations) } catch {
            throw NodectlError(error.description)
        }
        let preview = EvictionPreview.compute(config: config, summary: summary, pods: pods, overrides: overrides)
        console.write(try NodePressureView.render(preview, source: source, format: output))
    }

    /// The stats summary and pods: from the kubelet (`--kubelet`, the node's kubelet as the API
    /// server reports it, else http://127.0.0.1:10250); when it cannot be read, measured here
    /// with the kubelet's own ``HostStatsProvider`` and the node's pods from the API server.
    func measure() async throws -> (StatsSummary, [Pod], String) {
        let name = (nodeName ?? ProcessInfo.processInfo.hostName).lowercased()
        let api = cluster.kubelet == nil ? try cluster.apiClient() : nil
        var url = cluster.kubelet ?? ClusterOptions.localKubelet
        if cluster.kubelet == nil, let api, let node = try? await api.get(Node.self, namespace: nil, name: name), let nodeURL = KubeletEndpoint.url(of: node) {
            url = nodeURL
        }
        let kubelet = try KubeletEndpoint(url: url)
        let kubeletProblem: String
        do {
            let summary = try await kubelet.statsSummary()
            let pods = try await kubelet.pods()
            await kubelet.shutdown()
            await api?.shutdown()
            return (summary, pods, "kubelet \(url)")
        } catch {
            await kubelet.shutdown()
            kubeletProblem = error.description
        }
        var pods: [Pod] = []
        var podsNote = "no kubeconfig: no pods to rank"
        if let api {
            do {
                pods = try await api.list(Pod.self, namespace: nil, options: ListOptions(fieldSelector: "spec.nodeName=\(name)")).items
                podsNote = "pods of node \(name) from the API server"
            } catch {
                podsNote = "pods unavailable: \(CommandRunner.oneLine(error))"
            }
            await api.shutdown()
        }
        let runtime: CRIClient
        do {
            let endpoint = try runtimeEndpoint.map { text throws(CRIError) in try RuntimeEndpoint(parsing: text) } ?? RuntimeEndpoint.nodekitDefault()
            runtime = try CRIClient(endpoint: endpoint)
        } catch {
            throw NodectlError("the kubelet cannot be read (\(kubeletProblem)) and the container runtime cannot be reached to measure here: \(error)")
        }
        let known = pods
        let provider = HostStatsProvider(node: NodeInfo.host(nodeName: name, rootDirectory: rootDir), runtime: runtime, pods: { known })
        do {
            let summary = try await provider.summary()
            await runtime.close()
            return (summary, pods, "measured on this node; \(podsNote); \(kubeletProblem)")
        } catch {
            await runtime.close()
            throw NodectlError("measuring this node: \(error)")
        }
    }
}

/// Text and structured views of an ``EvictionPreview``.
enum NodePressureView {
    struct Document: Codable {
        var source: String
        var preview: EvictionPreview
    }

    static func render(_ preview: EvictionPreview, source: String, format: OutputFormat) throws -> String {
        if format != .table { return try NodectlOutput.render(Document(source: source, preview: preview), as: format) }
        var out = "signals: \(source)\n"
        var signals = Table("SIGNAL", "AVAILABLE", "CAPACITY", "THRESHOLD", "MET")
        for entry in preview.signals {
            guard let signal = EvictionSignal(rawValue: entry.signal) else { continue }
            let available = Format.amount(entry.available, signal: signal) + (entry.simulated ? " (simulated)" : "")
            let thresholds = entry.thresholds.isEmpty ? "-" : entry.thresholds.map { threshold in
                "\(threshold.value) (\(threshold.hard ? "hard" : "soft, grace \(Format.seconds(threshold.gracePeriodSeconds))"))"
            }.joined(separator: ", ")
            let met = entry.thresholds.isEmpty ? "-" : (entry.thresholds.contains { $0.met } ? "yes" : "no")
            signals.append([entry.signal, available, Format.amount(entry.capacity, signal: signal), thresholds, met])
        }
        out += signals.render() + "\n"
        if let acting = preview.acting {
            out += "\(acting) is below its threshold: the eviction manager evicts one pod per step, in this order:\n"
        } else {
            out += "no threshold is met: nothing would be evicted now. Order under \(preview.rankedFor) pressure:\n"
        }
        if preview.candidates.isEmpty {
            out += "(no pods)\n"
            return out
        }
        guard let signal = EvictionSignal(rawValue: preview.rankedFor) else { return out }
        var table = Table("RANK", "POD", "QOS", "PRIORITY", "USAGE", "REQUEST", "WHY")
        for candidate in preview.candidates {
            table.append(["\(candidate.rank)", "\(candidate.namespace)/\(candidate.name)", candidate.qosClass, "\(candidate.priority)",
                          candidate.usage.map { Format.amount($0, signal: signal) } ?? "<none>",
                          Format.amount(candidate.request, signal: signal), candidate.reason])
        }
        out += table.render()
        if preview.acting != nil, let first = preview.candidates.first(where: { !$0.critical }), let message = first.message {
            out += "\nfirst eviction: \(first.namespace)/\(first.name), status reason Evicted, message: \(message.trimmingCharacters(in: .whitespaces))\n"
        }
        return out
    }
}

extension Format {
    /// Bytes in binary units with one decimal (`20.1Gi`, `512Mi`, `900`), counts as they are.
    static func amount(_ value: Int64, signal: EvictionSignal) -> String {
        guard signal.isBytes else { return String(value) }
        let units = ["", "Ki", "Mi", "Gi", "Ti", "Pi"]
        var scaled = Double(value)
        var unit = 0
        while abs(scaled) >= 1024 && unit < units.count - 1 {
            scaled /= 1024
            unit += 1
        }
        if unit == 0 { return String(value) }
        let text = String(format: "%.1f", scaled)
        return (text.hasSuffix(".0") ? String(text.dropLast(2)) : text) + units[unit]
    }

    /// `90s`, `5m`, `1m30s`.
    static func seconds(_ value: Double) -> String {
        let total = Int(value.rounded())
        if total < 60 { return "\(total)s" }
        return total % 60 == 0 ? "\(total / 60)m" : "\(total / 60)m\(total % 60)s"
    }
}

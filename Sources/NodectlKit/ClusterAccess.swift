import ArgumentParser
import Foundation
import KubeAPI
import KubeClient
import Kubelet
import Synchronization

/// Where nodectl's commands write. The executable writes to the process's stdout; tests collect
/// the text to check it.
public struct Console: Sendable {
    let sink: @Sendable (String) -> Void

    public init(_ sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    public func write(_ text: String) { sink(text) }

    public static let standardOutput = Console { FileHandle.standardOutput.write(Data($0.utf8)) }

    /// A console that keeps what is written, for tests and for `--watch` rendering.
    public static func collecting() -> (Console, @Sendable () -> String) {
        let text = Mutex("")
        return (Console { chunk in text.withLock { $0 += chunk } }, { text.withLock { $0 } })
    }
}

/// Finds the cluster as kubectl does, plus Nodekit's node-local kubeconfig.
public enum KubeconfigLocator {
    /// What `nodekit server` writes on a node that runs it.
    public static let nodekitPath = "/var/lib/nodekit/kubeconfig"

    /// The kubeconfig to use: `--kubeconfig` (which must exist), then the first existing file of
    /// `$KUBECONFIG` (a `:`-separated list; kubectl merges them, nodectl reads the first that
    /// exists), then `~/.kube/config`, then ``nodekitPath``. Nil when none exists.
    public static func locate(flag: String?, environment: [String: String], home: String?,
                              exists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) throws(NodectlError) -> String? {
        if let flag {
            guard exists(flag) else { throw NodectlError("--kubeconfig \(flag): no such file") }
            return flag
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            if let first = list.split(separator: ":").map(String.init).first(where: exists) { return first }
        }
        if let home, !home.isEmpty, exists(home + "/.kube/config") { return home + "/.kube/config" }
        return exists(nodekitPath) ? nodekitPath : nil
    }
}

/// The options every cluster-reading command takes, and the clients they make.
public struct ClusterOptions: ParsableArguments {
    @Option(help: "Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then /var/lib/nodekit/kubeconfig).")
    public var kubeconfig: String?

    @Option(help: "Kubeconfig context (default: its current-context).")
    public var context: String?

    @Option(help: "The kubelet's HTTP endpoint, e.g. http://127.0.0.1:10250 (default: the pod's node as the API server reports it, else http://127.0.0.1:10250).")
    public var kubelet: String?

    public init() {}

    public static let localKubelet = "http://127.0.0.1:10250"

    /// The kubeconfig path, nil when none is configured.
    func kubeconfigPath() throws(NodectlError) -> String? {
        let environment = ProcessInfo.processInfo.environment
        return try KubeconfigLocator.locate(flag: kubeconfig, environment: environment,
                                            home: environment["HOME"] ?? NSHomeDirectory())
    }

    /// An API client, nil when no kubeconfig is found.
    func apiClient() throws(NodectlError) -> HTTPKubeClient? {
        guard let path = try kubeconfigPath() else { return nil }
        do {
            return try HTTPKubeClient(config: Kubeconfig.load(path: path, context: context))
        } catch {
            throw NodectlError("\(error)")
        }
    }

    /// The default namespace: the kubeconfig context's, else `default`.
    func defaultNamespace() -> String {
        guard let path = try? kubeconfigPath(), let config = try? Kubeconfig.load(path: path, context: context) else { return "default" }
        return config.namespace
    }
}

/// Reads the kubelet's own endpoints: `/pods`, `/probes/...`, `/stats/summary`.
public struct KubeletEndpoint: Sendable {
    public let url: String
    let client: HTTPKubeClient

    public init(url: String) throws(NodectlError) {
        do {
            var config = KubeClientConfig(server: try ServerAddress(parsing: url))
            config.requestTimeout = .seconds(10)
            self.client = try HTTPKubeClient(config: config)
        } catch {
            throw NodectlError("kubelet \(url): \(error)")
        }
        self.url = url
    }

    /// The kubelet's endpoint of the node the API server names in `nodeName`, from the Node's
    /// status (daemonEndpoints.kubeletEndpoint and the first InternalIP, ExternalIP or Hostname
    /// address, as the API server's log proxy picks it). Nil when the Node does not say.
    public static func url(of node: Node) -> String? {
        guard let port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port, port > 0 else { return nil }
        let addresses = node.status?.addresses ?? []
        guard let host = ["InternalIP", "ExternalIP", "Hostname"].lazy.compactMap({ type in
            addresses.first { $0.type == type }?.address
        }).first else { return nil }
        return "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String, dates: Bool = false) async throws(NodectlError) -> T {
        let bytes: [UInt8]
        do { bytes = try await client.getRaw(path) } catch {
            throw NodectlError("kubelet \(url)\(path): \(Self.describe(error))")
        }
        let decoder = JSONDecoder()
        if dates { decoder.dateDecodingStrategy = .iso8601 }
        do { return try decoder.decode(T.self, from: Data(bytes)) } catch {
            throw NodectlError("kubelet \(url)\(path): cannot decode the answer: \(error)")
        }
    }

    /// A transport failure in a few words ("connection refused"), else the API error.
    static func describe(_ error: KubeClientError) -> String {
        guard error.isTransport else { return error.description }
        for known in ["Connection refused", "timed out", "No route to host", "Connection reset"] where error.message.localizedCaseInsensitiveContains(known) {
            return "cannot connect: \(known.lowercased())"
        }
        return "cannot connect: \(error.message)"
    }

    public func pods() async throws(NodectlError) -> [Pod] {
        try await get(ObjectList<Pod>.self, "/pods").items
    }

    public func probes(namespace: String, pod: String, container: String) async throws(NodectlError) -> KubeletServer.ProbeReport {
        try await get(KubeletServer.ProbeReport.self, "/probes/\(namespace)/\(pod)/\(container)", dates: true)
    }

    public func statsSummary() async throws(NodectlError) -> StatsSummary {
        try await get(StatsSummary.self, "/stats/summary")
    }

    public func shutdown() async { await client.shutdown() }
}

/// Runs a command body and turns every failure into one line on stderr and a non-zero exit
/// (never a backtrace or a usage text): `nodectl: <message>`.
enum CommandRunner {
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("nodectl: \(oneLine(error))\n".utf8))
            throw ExitCode.failure
        }
    }

    /// The error as one line: newlines folded into "; ".
    static func oneLine(_ error: any Error) -> String {
        let text: String
        if let error = error as? KubeClientError { text = error.message.isEmpty ? error.description : "\(error.reason): \(error.message)" } else { text = "\(error)" }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
    }
}

import ArgumentParser
import Foundation
import KubeClient
import LinuxSystem
import Logging

/// `nodekit agent`: joins a cluster as a node. Registers the Node, runs the kubelet against
/// the API server's pods for this node, keeps the Node's status and Lease current, runs the
/// proxy fed from Services and EndpointSlices, and keeps the CNI node routes file in step with
/// the other nodes' pod CIDRs (``NodeAgent``, shared with `nodekit server`).
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Join a cluster as a node: kubelet + proxy against an API server.")

    @Option(help: "API server URL, https://HOST:PORT (with --token).")
    var server: String?

    @Option(help: "Bearer token for --server.")
    var token: String?

    @Option(name: .customLong("certificate-authority"), help: "PEM file of the CA that signed the server's certificate (with --server).")
    var certificateAuthority: String?

    @Flag(name: .customLong("insecure-skip-tls-verify"), help: "Do not verify the server's certificate (with --server).")
    var insecureSkipTLSVerify = false

    @Option(help: "Kubeconfig file (instead of --server and --token).")
    var kubeconfig: String?

    @OptionGroup var node: NodeAgentOptions

    func validate() throws {
        if kubeconfig == nil && server == nil { throw ValidationError("give --server (with --token) or --kubeconfig") }
        if kubeconfig != nil && (server != nil || token != nil) { throw ValidationError("--kubeconfig excludes --server and --token") }
    }

    func clientConfig() throws -> KubeClientConfig {
        if let kubeconfig { return try Kubeconfig.load(path: kubeconfig) }
        let ca = try certificateAuthority.map { path -> [UInt8] in
            guard let d = FileManager.default.contents(atPath: path) else { throw ValidationError("--certificate-authority: cannot read \(path)") }
            return Array(d)
        }
        return try KubeClientConfig(server: server!, token: token, caPEM: ca, insecure: insecureSkipTLSVerify)
    }

    func run() async throws {
        let logger = Logger(label: "nodekit.agent")
        let signals = TerminationSignals.stream()
        let client = try HTTPKubeClient(config: clientConfig())
        let agent = NodeAgent(options: node, client: client, logger: logger)
        do {
            try await untilSignalled(signals, logger: logger) { try await agent.run() }
        } catch let error as KubeClientError where error.code == 0 && server != nil && certificateAuthority == nil && !insecureSkipTLSVerify {
            await client.shutdown()
            // A Nodekit server's certificate is signed by its own cluster CA, which the system
            // trust store lacks; the handshake failure reaches here only as a closed channel.
            throw AgentFailure(description: "cannot reach the API server at \(server ?? ""): \(error.message). If its certificate is signed by the cluster's own CA, "
                + "pass --certificate-authority DATA_DIR/pki/ca.crt (or --kubeconfig DATA_DIR/kubeconfig) from the server")
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }
}

/// A failure of `nodekit agent` with what to do about it.
struct AgentFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs `work` until it returns or SIGINT/SIGTERM arrives, then cancels it and waits for it to
/// wind down.
func untilSignalled(_ signals: AsyncStream<String>, logger: Logger, _ work: @escaping @Sendable () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await work() }
        group.addTask {
            for await name in signals {
                logger.info("stopping", metadata: ["signal": "\(name)"])
                return
            }
        }
        try await group.next()
        group.cancelAll()
    }
}

import APIServer
import ArgumentParser
import Foundation
import Logging

/// `nodekit apiserver`: the Kubernetes API over the embedded store or etcd, on HTTPS.
struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Serve the Kubernetes API (HTTPS) over the embedded store or etcd.",
        discussion: "On first start it creates DIR/pki (CA, serving and admin certificates, admin token) and writes DIR/kubeconfig for the admin."
    )

    @OptionGroup var options: APIServerOptions

    @Option(name: .customLong("insecure-port"), help: "Also serve plain HTTP on 127.0.0.1 at this port, as the admin (off by default).")
    var insecurePort: Int?

    func validate() throws {
        if let insecurePort, !(0...65535).contains(insecurePort) { throw ValidationError("--insecure-port must be 0...65535, got \(insecurePort)") }
    }

    func run() async throws {
        let logger = Logger(label: "nodekit.apiserver")
        let startMetadata = try prepareControlPlaneProcess()
        logger.info("starting", metadata: startMetadata)
        var configuration = options.configuration
        configuration.insecurePort = insecurePort
        try FileManager.default.createDirectory(atPath: options.dataDirectory, withIntermediateDirectories: true)
        let store = try APIServer.openConfiguredStore(url: options.store, dataDirectory: options.dataDirectory)
        let server = try APIServer(store: store, configuration: configuration, logger: logger)
        try await server.bootstrap()
        // SIGTERM ends the process: every acknowledged write is already durable in the store.
        do {
            try await server.run()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

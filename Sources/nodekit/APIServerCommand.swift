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

    @Option(name: .customLong("data-dir"), help: "Holds pki/, kubeconfig and the embedded store.")
    var dataDirectory = "/var/lib/nodekit"

    @Option(name: .customLong("store"), help: "embedded:///path, a path, memory:// or etcd://host:port[,host:port...] (default: DATA-DIR/store).")
    var store: String?

    @Option(name: .customLong("bind-address"), help: "Address of the HTTPS listener.")
    var bindAddress = "0.0.0.0"

    @Option(name: .customLong("secure-port"), help: "HTTPS port.")
    var securePort = 6443

    @Option(name: .customLong("insecure-port"), help: "Also serve plain HTTP on 127.0.0.1 at this port, as the admin (off by default).")
    var insecurePort: Int?

    @Option(name: .customLong("advertise-address"), help: "The address nodes reach this server at (added to the serving certificate).")
    var advertiseAddress: String?

    @Option(name: .customLong("service-cluster-ip-range"), help: "The IPv4 CIDR Service ClusterIPs come from.")
    var serviceClusterIPRange = "10.96.0.0/12"

    @Option(name: .customLong("service-node-port-range"), help: "The NodePort range, LOW-HIGH.")
    var serviceNodePortRange = "30000-32767"

    @Option(name: .customLong("tls-san"), parsing: .upToNextOption, help: "More DNS names or IPs for the serving certificate.")
    var extraSANs: [String] = []

    func validate() throws {
        guard nodePortRange != nil else { throw ValidationError("--service-node-port-range must be LOW-HIGH with 1 <= LOW <= HIGH <= 65535, got \(serviceNodePortRange)") }
        guard (0...65535).contains(securePort) else { throw ValidationError("--secure-port must be 0...65535, got \(securePort)") }
        if let insecurePort, !(0...65535).contains(insecurePort) { throw ValidationError("--insecure-port must be 0...65535, got \(insecurePort)") }
    }

    var nodePortRange: ClosedRange<Int>? {
        let parts = serviceNodePortRange.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[0] <= parts[1], parts[1] <= 65535 else { return nil }
        return parts[0]...parts[1]
    }

    func run() async throws {
        let logger = Logger(label: "nodekit.apiserver")
        var configuration = APIServerConfiguration(dataDirectory: dataDirectory)
        configuration.bindAddress = bindAddress
        configuration.securePort = securePort
        configuration.insecurePort = insecurePort
        configuration.advertiseAddress = advertiseAddress
        configuration.serviceClusterIPRange = serviceClusterIPRange
        configuration.nodePortRange = nodePortRange ?? 30000...32767
        configuration.extraSANs = extraSANs
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let store = try APIServer.openConfiguredStore(url: store, dataDirectory: dataDirectory)
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

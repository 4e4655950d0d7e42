import APIServer
import ArgumentParser
import CRI
import Foundation
import KubeClient
import Logging

/// The API server's flags, one definition for `nodekit apiserver` and `nodekit server`. Where
/// the two commands spelled a flag differently, upstream kube-apiserver's name comes first and
/// the other stays as an alias (`--service-cluster-ip-range`, alias `--service-cidr`).
struct APIServerOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Holds pki/, kubeconfig and the embedded store.")
    var dataDirectory = "/var/lib/nodekit"

    @Option(name: .customLong("store"), help: "embedded:///path, a path, memory:// or etcd://host:port[,host:port...] (default: DATA-DIR/store).")
    var store: String?

    @Option(name: .customLong("bind-address"), help: "Address of the API server's HTTPS listener.")
    var bindAddress = "0.0.0.0"

    @Option(name: .customLong("secure-port"), help: "The API server's HTTPS port (0 picks a free one; the kubeconfig names it).")
    var securePort = 6443

    @Option(name: .customLong("advertise-address"), help: "The address nodes reach this server at (added to the serving certificate).")
    var advertiseAddress: String?

    @Option(name: [.customLong("service-cluster-ip-range"), .customLong("service-cidr")], help: "The IPv4 CIDR Service ClusterIPs come from.")
    var serviceClusterIPRange = "10.96.0.0/12"

    @Option(name: .customLong("service-node-port-range"), help: "The NodePort range, LOW-HIGH.")
    var serviceNodePortRange = "30000-32767"

    @Option(name: .customLong("tls-san"), parsing: .upToNextOption, help: "More DNS names or IPs for the serving certificate.")
    var extraSANs: [String] = []

    func validate() throws {
        guard nodePortRange != nil else { throw ValidationError("--service-node-port-range must be LOW-HIGH with 1 <= LOW <= HIGH <= 65535, got \(serviceNodePortRange)") }
        guard (0...65535).contains(securePort) else { throw ValidationError("--secure-port must be 0...65535, got \(securePort)") }
        guard IPv4Network(serviceClusterIPRange) != nil else { throw ValidationError("--service-cluster-ip-range: \(serviceClusterIPRange) is not an IPv4 CIDR") }
    }

    var nodePortRange: ClosedRange<Int>? {
        let parts = serviceNodePortRange.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[0] <= parts[1], parts[1] <= 65535 else { return nil }
        return parts[0]...parts[1]
    }

    /// The server's configuration from these flags.
    var configuration: APIServerConfiguration {
        var configuration = APIServerConfiguration(dataDirectory: dataDirectory)
        configuration.bindAddress = bindAddress
        configuration.securePort = securePort
        configuration.advertiseAddress = advertiseAddress
        configuration.serviceClusterIPRange = serviceClusterIPRange
        configuration.nodePortRange = nodePortRange ?? 30000...32767
        configuration.extraSANs = extraSANs
        return configuration
    }
}

/// The kubelet's flags, one definition for `nodekit kubelet`, `nodekit agent` and `nodekit
/// server`. Upstream kubelet's `--port` and `--address` come first; `--kubelet-port` and
/// `--kubelet-address`, the agent's names, stay as aliases.
struct KubeletOptions: ParsableArguments {
    @Option(name: .customLong("node-name"), help: "This node's name (default: the host name).")
    var nodeName: String?

    @Option(name: .customLong("runtime-endpoint"), help: "CRI endpoint, unix://PATH (default: NODEKIT_CRI_ENDPOINT or containerd's).")
    var runtimeEndpoint: String?

    @Option(name: .customLong("root-dir"), help: "Kubelet state directory (default /var/lib/kubelet); pod logs go to <root-dir>/logs/pods when set.")
    var rootDir: String?

    @Option(name: .customLong("pod-manifest-path"), help: "Directory of static pod manifests (mirror pods appear in the API when there is one).")
    var podManifestPath: String?

    @Option(name: [.customLong("port"), .customLong("kubelet-port")], help: "Port of the kubelet's HTTP endpoints (0 picks a free one).")
    var port: Int = 10250

    @Option(name: [.customLong("address"), .customLong("kubelet-address")], help: "Address the kubelet's HTTP endpoints listen on.")
    var address: String = "0.0.0.0"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) is not a port number") }
    }

    /// `--node-name`, or the host name, lower-cased as a Node name must be.
    var resolvedNodeName: String { (nodeName ?? ProcessInfo.processInfo.hostName).lowercased() }

    func endpoint() throws -> RuntimeEndpoint {
        do {
            return try runtimeEndpoint.map { endpoint throws(CRIError) in try RuntimeEndpoint(parsing: endpoint) } ?? RuntimeEndpoint.nodekitDefault()
        } catch {
            throw ValidationError("--runtime-endpoint: \(error)")
        }
    }

    /// The CRI client on `--runtime-endpoint`, its connection events in `logger`: failures and
    /// GOAWAYs at warning (calls in flight fail with them), opens, closes and rotations at debug.
    func runtimeClient(logger: Logger) throws -> CRIClient {
        try CRIClient(endpoint: endpoint(), events: { event in
            switch event {
            case .failed, .goAwayReceived, .goAwaySent: logger.warning("\(event)")
            case .opened, .closed, .rotated: logger.debug("\(event)")
            }
        })
    }
}

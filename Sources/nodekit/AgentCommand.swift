import ArgumentParser
import CRI
import Foundation
import IPTables
import KubeAPI
import KubeClient
import Kubelet
import Logging
import NFTables
import Proxy

/// `nodekit agent`: joins a cluster as a node. Registers the Node, runs the kubelet against
/// the API server's pods for this node, the proxy fed from Services and EndpointSlices, and
/// keeps the CNI node routes file in step with the other nodes' pod CIDRs.
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

    @Option(name: .customLong("node-name"), help: "This node's name (default: the host name).")
    var nodeName: String?

    @Option(name: .customLong("node-ip"), help: "The node's InternalIP (default: the first non-loopback IPv4 address).")
    var nodeIP: String?

    @Option(name: .customLong("runtime-endpoint"), help: "CRI endpoint, unix://PATH (default: NODEKIT_CRI_ENDPOINT or containerd's).")
    var runtimeEndpoint: String?

    @Option(name: .customLong("root-dir"), help: "Kubelet state directory (default /var/lib/kubelet).")
    var rootDir: String?

    @Option(name: .customLong("kubelet-port"), help: "Port of the kubelet's HTTP endpoints (0 picks a free one).")
    var kubeletPort: Int = 10250

    @Option(name: .customLong("proxy-mode"), help: "nftables (default), iptables, or none (no proxy).")
    var proxyMode: String = "nftables"

    @Option(name: .customLong("cluster-cidr"), help: "The pod network; ClusterIP traffic from outside it is masqueraded.")
    var clusterCIDR: String = "10.244.0.0/16"

    @Option(name: .customLong("cni-routes-file"), help: "The nodekit-cni node routes file to keep up to date (nodeRoutesFile in the CNI config).")
    var cniRoutesFile: String = "/var/lib/nodekit/cni/node-routes.json"

    func validate() throws {
        if kubeconfig == nil && server == nil { throw ValidationError("give --server (with --token) or --kubeconfig") }
        if kubeconfig != nil && (server != nil || token != nil) { throw ValidationError("--kubeconfig excludes --server and --token") }
        guard ["nftables", "iptables", "none"].contains(proxyMode) else { throw ValidationError("--proxy-mode must be nftables, iptables or none") }
        guard CIDR(clusterCIDR) != nil else { throw ValidationError("--cluster-cidr: \(clusterCIDR) is not a CIDR") }
        guard (0...65535).contains(kubeletPort) else { throw ValidationError("--kubelet-port \(kubeletPort) is not a port number") }
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
        let name = (nodeName ?? ProcessInfo.processInfo.hostName).lowercased()
        let client = try HTTPKubeClient(config: clientConfig())
        let ip = nodeIP ?? Self.firstIPv4()
        let registered = try await NodeRegistration(nodeName: name, internalIP: ip).register(with: client)
        logger.info("node registered", metadata: ["node": "\(name)", "ip": "\(ip ?? "-")", "podCIDR": "\(registered.spec?.podCIDR ?? "(not yet assigned)")"])

        let endpoint: RuntimeEndpoint
        do {
            endpoint = try runtimeEndpoint.map { endpoint throws(CRIError) in try RuntimeEndpoint(parsing: endpoint) } ?? RuntimeEndpoint.nodekitDefault()
        } catch {
            throw ValidationError("--runtime-endpoint: \(error)")
        }
        let runtime = try CRIClient(endpoint: endpoint)
        let source = APIServerPodSource(client: client, nodeName: name, logger: logger)
        let kubelet = Kubelet(node: NodeInfo.host(nodeName: name, rootDirectory: rootDir, hostIP: ip ?? ""), runtime: runtime, sources: [source],
                              objects: APIPodObjects(client: client), statusManager: PodStatusManager(client: client, nodeName: name, logger: logger),
                              logger: logger)
        let kubeletServer = KubeletServer(kubelet: kubelet, host: "0.0.0.0", port: kubeletPort)

        let nodes = Informer<Node>(client: client, logger: logger)
        let routesFile = cniRoutesFile
        nodes.addHandler(.key { _ in
            let routes = NodeRoutesFile.routes(nodes: nodes.cache.list(), selfName: name)
            do {
                if try NodeRoutesFile.write(routes, to: routesFile) { logger.info("node routes updated", metadata: ["routes": "\(routes.count)", "file": "\(routesFile)"]) }
            } catch {
                logger.error("cannot write node routes", metadata: ["file": "\(routesFile)", "error": "\(error)"])
            }
        })
        let proxier = try makeProxier(nodeName: name, logger: logger)
        let services = Informer<Service>(client: client, logger: logger)
        let slices = Informer<EndpointSlice>(client: client, logger: logger)
        if let proxier {
            services.addHandler(InformerHandler(onAdd: { proxier.update($0) }, onUpdate: { _, s in proxier.update(s) }, onDelete: { proxier.delete(serviceKey: $0.key) }))
            slices.addHandler(InformerHandler(onAdd: { proxier.update($0) }, onUpdate: { _, s in proxier.update(s) }, onDelete: { proxier.update($0, deleted: true) }))
        }
        // NodeStatusManager (capacity, conditions, Lease heartbeat) belongs to the node status
        // work in Sources/Kubelet/NodeStatus (issue 10); this agent runs it once it exists.
        logger.warning("node status and Lease heartbeat are not wired yet: the node lifecycle controller will mark this node Unknown (issue 7)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await kubelet.run() }
            group.addTask { await source.run() }
            group.addTask { try await kubeletServer.run { bound in logger.info("serving kubelet endpoints", metadata: ["port": "\(bound)"]) } }
            group.addTask { await nodes.run() }
            if let proxier {
                group.addTask { await services.run() }
                group.addTask { await slices.run() }
                group.addTask {
                    await services.waitForSync()
                    await slices.waitForSync()
                    await proxier.run()
                }
            }
            try await group.next()
            group.cancelAll()
        }
        await client.shutdown()
        await runtime.close()
    }

    func makeProxier(nodeName: String, logger: Logger) throws -> Proxier? {
        let config = NFTablesProxier.Config(nodePortAddresses: [], clusterCIDR: CIDR(clusterCIDR), masqueradeAll: false)
        let backends: [any ProxyBackend]
        switch proxyMode {
        case "nftables": backends = Family.allCases.map { NFTablesProxier(family: $0, nft: NetlinkNFTables(), config: config) }
        case "iptables":
            backends = Family.allCases.map { IPTablesProxier(family: $0, ipt: ExecIPTables(variant: IPTablesVariant.detect(), ipv6: $0 == .ip6), config: config) }
        default: return nil
        }
        let runner = SyncRunner(minSyncPeriod: .seconds(1), syncPeriod: .seconds(30), clock: SystemProxyClock())
        return Proxier(nodeName: nodeName, backends: backends, runner: runner, logger: logger)
    }

    /// The first non-loopback IPv4 address of the host.
    static func firstIPv4() -> String? {
        Foundation.Host.current().addresses.first { a in
            a.split(separator: ".").count == 4 && !a.hasPrefix("127.")
        }
    }
}

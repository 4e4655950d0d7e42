import APIServer
import ArgumentParser
import Controllers
import Foundation
import Kubelet
import KubeAPI
import KubeClient
import LinuxSystem
import Logging
import Synchronization

/// `nodekit server`: a whole cluster in one process. The store and the API server (which
/// writes DATA_DIR/kubeconfig), then, through an HTTP client of that kubeconfig (the same
/// public API every other client uses): the scheduler, the controllers and node IPAM under one
/// leader-election Lease, and, unless `--no-agent`, this machine as a node (``NodeAgent``).
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run a cluster in one process: store, API server, scheduler, controllers, node IPAM and a local node.",
        discussion: """
            On first start it creates DATA-DIR/pki and writes DATA-DIR/kubeconfig (admin) once the
            API port is bound. Several servers run side by side on one machine with their own
            --data-dir, --secure-port, --kubelet-port, --root-dir, --runtime-endpoint and
            --nftables-table (or --no-agent). SIGINT or SIGTERM stops it; pods keep running and
            are adopted by the next start.
            """)

    @OptionGroup(title: "API server options") var api: APIServerOptions

    @Option(name: .customLong("node-cidr-mask-size"), help: "Prefix length of each node's podCIDR, cut from --cluster-cidr.")
    var nodeCIDRMaskSize = 24

    @Flag(name: .customLong("no-agent"), help: "Run the control plane only (this machine is not a node).")
    var noAgent = false

    @Option(name: .customLong("node-monitor-grace-period"), help: "How long a node may stay silent (no Lease renewal, no status) before it is marked Unknown and tainted unreachable (Go duration; upstream 1.32's default).")
    var nodeMonitorGracePeriod = "50s"

    @OptionGroup(title: "Node (kubelet and proxy) options") var node: NodeAgentOptions

    func validate() throws {
        guard let cluster = IPv4Network(node.clusterCIDR), (cluster.prefixLength...30).contains(nodeCIDRMaskSize) else {
            throw ValidationError("--node-cidr-mask-size \(nodeCIDRMaskSize) must be between the prefix of --cluster-cidr \(node.clusterCIDR) and 30")
        }
        guard let grace = EvictionConfig.parseDuration(nodeMonitorGracePeriod), grace > .zero else {
            throw ValidationError("--node-monitor-grace-period \(nodeMonitorGracePeriod) must be a positive duration such as 50s or 2m")
        }
    }

    func run() async throws {
        let logger = Logger(label: "nodekit.server")
        let startMetadata = try prepareControlPlaneProcess()
        logger.info("starting", metadata: startMetadata)
        let signals = TerminationSignals.stream()
        try FileManager.default.createDirectory(atPath: api.dataDirectory, withIntermediateDirectories: true)
        let store = try APIServer.openConfiguredStore(url: api.store, dataDirectory: api.dataDirectory)
        do {
            let server = try APIServer(store: store, configuration: api.configuration, logger: logger)
            try await server.bootstrap()
            try await serve(server, signals: signals, logger: logger)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        logger.info("stopped")
    }

    /// Serves the API and, once it listens, runs the cluster's loops against it (and keeps this
    /// server in the `kubernetes` Service's endpoints); until a signal arrives (or the API server
    /// fails). On a signal the control plane stops first, giving up its Lease and its endpoint
    /// through this server's API, which still serves; then the rest stops.
    func serve(_ server: APIServer, signals: AsyncStream<String>, logger: Logger) async throws {
        let (listening, listened) = AsyncStream.makeStream(of: APIServerEndpoints.self)
        let kubeconfigPath = server.configuration.kubeconfigPath
        let controlPlane = ControlPlaneTask()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.run { endpoints in
                    listened.yield(endpoints)
                    listened.finish()
                }
            }
            group.addTask {
                var bound: APIServerEndpoints?
                for await endpoints in listening { bound = endpoints }
                guard let bound else { return }
                // The control plane and the local node talk to this process's own API server
                // in process: through its handler (authorization, admission, watch as for any
                // client), without TLS, HTTP framing and loopback TCP.
                let client = HTTPKubeClient(config: try Kubeconfig.load(path: kubeconfigPath), inProcess: server.inProcessEndpoint())
                let plane = Task { await self.controlPlane(client: client, logger: logger) }
                let address = self.advertisedAddress
                let endpoints = Task {
                    guard let address else {
                        logger.info("no address pods can reach (bound to loopback, no --advertise-address): the kubernetes Service gets no endpoints from this server")
                        return
                    }
                    await APIServerEndpointReconciler(client: client, address: address, port: Int32(bound.securePort), logger: logger).run()
                }
                controlPlane.tasks.withLock { $0 = [plane, endpoints] }
                await withTaskCancellationHandler {
                    await withTaskGroup(of: Void.self) { parts in
                        parts.addTask { await plane.value }
                        parts.addTask { await endpoints.value }
                        if !self.noAgent {
                            parts.addTask {
                                do { try await NodeAgent(options: self.node, client: client, logger: logger).run() } catch {
                                    logger.error("the local node stopped", metadata: ["error": "\(error)"])
                                }
                            }
                        }
                        await parts.waitForAll()
                    }
                } onCancel: {
                    plane.cancel()
                    endpoints.cancel()
                }
                await client.shutdown()
            }
            group.addTask {
                for await name in signals {
                    logger.info("stopping", metadata: ["signal": "\(name)"])
                    break
                }
                for task in controlPlane.tasks.withLock({ $0 }) {
                    task.cancel()
                    await task.value
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The address pods reach this API server at: --advertise-address, else --bind-address
    /// unless it is the wildcard, else the host's first non-loopback IPv4 (upstream's order).
    /// Never a loopback address (upstream refuses one too): as a Service endpoint it would send
    /// the proxy's rules after every connection to 127.0.0.1, and pods cannot reach it.
    var advertisedAddress: String? {
        let address: String?
        if let advertise = api.advertiseAddress {
            address = advertise
        } else if api.bindAddress != "0.0.0.0" && api.bindAddress != "::" {
            address = api.bindAddress
        } else {
            address = NodeAgent.firstIPv4()
        }
        guard let address, !address.hasPrefix("127."), address != "::1" else { return nil }
        return address
    }

    /// The scheduler, the controllers and node IPAM, run only while this server holds the
    /// controller manager's Lease (several servers can share one etcd store).
    func controlPlane(client: HTTPKubeClient, logger: Logger) async {
        // A stable identity (host and data dir): a restarted server renews its own Lease at once
        // instead of waiting out the previous run's.
        let identity = "\(ProcessInfo.processInfo.hostName)_\(api.dataDirectory)"
        let elector = LeaderElector(client: client, leaseName: ControllerManager.leaseName, identity: identity, logger: logger)
        var manager = ControllerManager(client: client, logger: logger, identity: identity, leaderElection: false)
        let grace = (EvictionConfig.parseDuration(nodeMonitorGracePeriod) ?? .seconds(50)).components
        manager.nodeMonitorGracePeriod = TimeInterval(grace.seconds) + TimeInterval(grace.attoseconds) / 1e18
        let controllers = manager
        let clusterCIDR = node.clusterCIDR, maskSize = nodeCIDRMaskSize
        await elector.run {
            logger.info("leading: running the scheduler, controllers and node IPAM", metadata: ["identity": "\(identity)"])
            defer { logger.info("stopped leading: the scheduler, controllers and node IPAM returned", metadata: ["identity": "\(identity)"]) }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await controllers.runControllers() }
                group.addTask { await SchedulerRunner(client: client, logger: logger).run() }
                group.addTask { await Self.nodeIPAM(client: client, clusterCIDR: clusterCIDR, maskSize: maskSize, logger: logger) }
                await group.waitForAll()
            }
        }
    }

    /// Gives every Node without a podCIDR one from the cluster CIDR, on every Node event,
    /// until cancelled. Assignments made are remembered, so an event that arrives before the
    /// informer has seen a patch never hands the same subnet out twice.
    static func nodeIPAM(client: any KubeAPIClient, clusterCIDR: String, maskSize: Int, logger: Logger) async {
        let ipam: NodeIPAM
        do { ipam = try NodeIPAM(client: client, clusterCIDR: clusterCIDR, nodeMaskSize: maskSize) } catch {
            logger.error("node IPAM disabled", metadata: ["error": "\(error)"])
            return
        }
        let nodes = Informer<Node>(client: client, logger: logger)
        let (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        nodes.addHandler(.key { _ in changed.yield() })
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await nodes.run() }
            group.addTask {
                var assigned: [String: String] = [:]
                for await _ in changes {
                    let current = nodes.cache.list().map { node -> Node in
                        guard let name = node.metadata.name, let cidr = assigned[name], (node.spec?.podCIDR ?? "").isEmpty else { return node }
                        var copy = node
                        var spec = copy.spec ?? NodeSpec()
                        spec.podCIDR = cidr
                        copy.spec = spec
                        return copy
                    }
                    do {
                        for (name, cidr) in try await ipam.sync(current) {
                            assigned[name] = cidr
                            logger.info("node podCIDR assigned", metadata: ["node": "\(name)", "podCIDR": "\(cidr)"])
                        }
                    } catch {
                        logger.warning("node IPAM failed; retrying on the next node event", metadata: ["error": "\(error)"])
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// The control plane's tasks (leader-elected loops, the `kubernetes` Service's endpoints), once
/// started: the signal handler stops them, in order, before the API server.
private final class ControlPlaneTask: Sendable {
    let tasks = Mutex<[Task<Void, Never>]>([])
}

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

/// The node's flags, shared by `nodekit agent` and `nodekit server` (one definition, so the
/// two accept the same kubelet and proxy options). Everything that would collide between two
/// nodes on one machine (ports, state directories, the routes file) is a flag.
struct NodeAgentOptions: ParsableArguments {
    @OptionGroup var kubelet: KubeletOptions

    @Option(name: .customLong("node-ip"), help: "The node's InternalIP (default: the first non-loopback IPv4 address).")
    var nodeIP: String?

    @Option(name: .customLong("proxy-mode"), help: "nftables (default), iptables, ipvs, or none (no proxy).")
    var proxyMode: String = "nftables"

    @Option(name: .customLong("nftables-table"), help: "The proxy's nftables table (--proxy-mode nftables); nodes sharing one network namespace need their own.")
    var nftablesTable: String = NFTablesProxier.defaultTableName

    @Option(name: .customLong("cluster-cidr"), help: "The pod network; ClusterIP traffic from outside it is masqueraded (the server also splits it into node podCIDRs).")
    var clusterCIDR: String = "10.244.0.0/16"

    @Option(name: .customLong("cni-routes-file"), help: "The nodekit-cni node routes file to keep up to date (nodeRoutesFile in the CNI config; default $NODEKIT_STATE_DIR/cni/node-routes.json, as hack/containerd.sh writes it, state dir /run/nodekit).")
    var cniRoutesFile: String?

    @Option(name: .customLong("node-routes"), help: "Program the kernel's routes to other nodes' podCIDRs via their InternalIPs (true, the default) or only write --cni-routes-file (false).")
    var programRoutes: Bool = true

    func validate() throws {
        guard proxyMode == "none" || ProxyMode(rawValue: proxyMode) != nil else {
            throw ValidationError("--proxy-mode must be nftables, iptables, ipvs or none, got \(proxyMode)")
        }
        guard CIDR(clusterCIDR) != nil else { throw ValidationError("--cluster-cidr: \(clusterCIDR) is not a CIDR") }
        guard !nftablesTable.isEmpty, nftablesTable.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ValidationError("--nftables-table must be letters, digits, - or _, got \(nftablesTable)")
        }
    }

    var resolvedRoutesFile: String {
        cniRoutesFile ?? (ProcessInfo.processInfo.environment["NODEKIT_STATE_DIR"] ?? "/run/nodekit") + "/cni/node-routes.json"
    }
}

/// One node's duties against an API server: register the Node, run the kubelet on the pods
/// bound to it (plus static pods), keep the Node's status and its Lease current, run the
/// proxy fed by Service and EndpointSlice informers, and keep the routes to the other nodes'
/// podCIDRs (the CNI node routes file and the kernel's) in step with the Nodes.
///
/// ``run()`` returns when its task is cancelled (pods keep running, as with upstream's
/// kubelet) or throws when registration or the kubelet's listener fails. The client is the
/// caller's: it is not shut down here.
struct NodeAgent: Sendable {
    /// Upstream's kubelet defaults: node status every 10 s, Lease renewal every 10 s.
    static let statusPeriod: Duration = .seconds(10)
    static let leasePeriod: Duration = .seconds(10)
    /// How often every route to another node is programmed again.
    static let routesRefreshPeriod: Duration = .seconds(60)

    let options: NodeAgentOptions
    let client: any KubeAPIClient
    let logger: Logger

    func run() async throws {
        let name = options.kubelet.resolvedNodeName
        let ip = options.nodeIP ?? Self.firstIPv4()
        let registered = try await NodeRegistration(nodeName: name, internalIP: ip).register(with: client)
        logger.info("node registered", metadata: ["node": "\(name)", "ip": "\(ip ?? "-")", "podCIDR": "\(registered.spec?.podCIDR ?? "(not yet assigned)")"])

        let runtime = try options.kubelet.runtimeClient(logger: logger)
        do {
            try await run(name: name, ip: ip, runtime: runtime)
        } catch {
            await runtime.close()
            throw error
        }
        await runtime.close()
    }

    private func run(name: String, ip: String?, runtime: CRIClient) async throws {
        let client = self.client, logger = self.logger, options = self.options
        let source = APIServerPodSource(client: client, nodeName: name, logger: logger)
        var sources: [any PodSource] = [source]
        if let manifests = options.kubelet.podManifestPath { sources.append(StaticPodSource(directory: manifests, nodeName: name)) }
        let node = NodeInfo.host(nodeName: name, rootDirectory: options.kubelet.rootDir, hostIP: ip ?? "")
        let kubelet = Kubelet(node: node, runtime: runtime, sources: sources, objects: APIPodObjects(client: client),
                              statusManager: PodStatusManager(client: client, nodeName: name, logger: logger), logger: logger)
        // Node pressure: eviction with upstream's default hard thresholds, node-level reclaim
        // through container and image GC first; the Node's pressure conditions come from it.
        let containerGC = ContainerGC(runtime: runtime, activePodUIDs: { Set(await kubelet.pods().compactMap(\.metadata.uid)) })
        let imageGC = try ImageGC(runtime: runtime)
        let eviction = EvictionManager(config: EvictionConfig(), stats: HostStatsProvider(node: node, runtime: runtime, pods: { await kubelet.pods() }),
                                       host: kubelet, reclaimer: NodeReclaimer(containers: containerGC, images: imageGC))
        await kubelet.attach(NodeHousekeeping(eviction: eviction, containerGC: containerGC, imageGC: imageGC))
        let kubeletServer = KubeletServer(kubelet: kubelet, host: options.kubelet.address, port: options.kubelet.port, stats: eviction.stats)
        let (boundPorts, boundPort) = AsyncStream.makeStream(of: Int.self)

        // Routes to the other nodes' podCIDRs follow the Nodes (a podCIDR arrives after its
        // Node): the CNI routes file and the kernel's routes, so a node that joins is reachable
        // before any pod starts here.
        let nodes = Informer<Node>(client: client, logger: logger)
        let routes = NodeRoutesSync(selfName: name, routesFile: options.resolvedRoutesFile,
                                    table: options.programRoutes ? NodeRouteKernel() : nil, logger: logger)
        routes.follow(nodes)
        // The same input path as `nodekit proxy --kubeconfig`: Services and EndpointSlices with
        // upstream's service-proxy-name/headless selector, then the sync loop once both listed.
        let proxySource = try Self.makeProxier(options: options, nodeName: name, logger: logger).map {
            Proxy.APIServerSource(client: client, proxier: $0, logger: logger)
        }
        let rootDirectory = node.rootDirectory
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await kubelet.run() }
            group.addTask { await source.run() }
            group.addTask {
                try await kubeletServer.run { bound in
                    logger.info("serving kubelet endpoints", metadata: ["address": "\(options.kubelet.address):\(bound)"])
                    boundPort.yield(bound)
                    boundPort.finish()
                }
            }
            group.addTask {
                // The Node reports the port the kubelet really listens on (--kubelet-port 0).
                var port = options.kubelet.port
                for await bound in boundPorts { port = bound }
                let status = NodeStatusManager(
                    nodeName: name, client: client, runtime: runtime, config: NodeStatusConfig(kubeletPort: Int32(port)),
                    facts: .host(internalIP: ip ?? "", hostname: name),
                    measure: { () throws(KubeletError) in try NodeStatusManager.hostCapacity(rootDirectory: rootDirectory) },
                    pressure: { await eviction.pressureConditions }, logger: logger)
                await Self.heartbeat(status, logger: logger)
            }
            group.addTask { await nodes.run() }
            group.addTask {
                // Restores routes someone else removed, and retries failed steps.
                await nodes.waitForSync()
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.routesRefreshPeriod)
                    if !Task.isCancelled { routes.sync(nodes: nodes.cache.list(), full: true) }
                }
            }
            if let proxySource {
                group.addTask { await proxySource.run() }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The Node's status and its Lease, each on its own 10 s timer, until cancelled. A failed
    /// step is logged and tried again on the next tick.
    static func heartbeat(_ status: NodeStatusManager, logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    do { try await status.syncNodeStatus() } catch {
                        logger.warning("node status update failed", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: statusPeriod)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await status.renewLease() } catch {
                        logger.warning("node lease renewal failed", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: leasePeriod)
                }
            }
        }
    }

    /// The proxy of `--proxy-mode` (nil for none), built by the same factory as `nodekit proxy`,
    /// with UDP conntrack cleanup after each sync.
    static func makeProxier(options: NodeAgentOptions, nodeName: String, logger: Logger) throws -> Proxier? {
        guard let mode = ProxyMode(rawValue: options.proxyMode) else { return nil }
        let factory = ProxyBackendFactory(mode: mode, clusterCIDR: CIDR(options.clusterCIDR), nftablesTable: options.nftablesTable)
        let backends = try factory.makeBackends()
        let conntrack = try ProxyBackendFactory.makeConntrackCleaner()
        let runner = SyncRunner(minSyncPeriod: .seconds(1), syncPeriod: .seconds(30), clock: SystemProxyClock())
        return Proxier(nodeName: nodeName, backends: backends, runner: runner, logger: logger, conntrack: conntrack)
    }

    /// The first non-loopback IPv4 address of the host.
    static func firstIPv4() -> String? {
        Foundation.Host.current().addresses.first { a in
            a.split(separator: ".").count == 4 && !a.hasPrefix("127.")
        }
    }
}

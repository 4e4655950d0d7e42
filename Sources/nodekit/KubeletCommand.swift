import ArgumentParser
import CRI
import Foundation
import Kubelet
import Logging

/// `nodekit kubelet`: runs the pods of a manifest directory on containerd and serves the
/// kubelet's HTTP endpoints. Stopping it leaves the pods running; the next start adopts them.
struct KubeletCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubelet",
        abstract: "Run static pods from a manifest directory, and the pods an API server binds to this node, on a CRI runtime (containerd).",
        discussion: """
            Every file in --pod-manifest-path holds one pod (YAML or JSON). The directory is re-read
            every second: a new file starts its pod, an edited file restarts it, a removed file stops
            and removes it. With --kubeconfig the kubelet also runs the pods bound to --node-name
            (list+watch), writes their status, makes mirror pods for the static ones and finishes
            graceful deletions. Endpoints: /healthz, /pods, /metrics, /containerLogs/<ns>/<pod>/<container>.
            """)

    @OptionGroup var options: KubeletOptions

    @Option(help: "Kubeconfig of the API server whose pods bound to this node the kubelet runs.")
    var kubeconfig: String?

    func validate() throws {
        guard options.podManifestPath != nil else { throw ValidationError("give --pod-manifest-path (the directory of static pod manifests)") }
    }

    func run() async throws {
        let logger = Logger(label: "nodekit.kubelet")
        let endpoint = try options.endpoint()
        let name = options.resolvedNodeName
        let podManifestPath = options.podManifestPath ?? ""
        let address = options.address
        let runtime = try options.runtimeClient(logger: logger)
        let node = NodeInfo.host(nodeName: name, rootDirectory: options.rootDir)
        let api: KubeletAPIConnection?
        do { api = try kubeconfig.map { path throws(KubeletError) in try KubeletAPIConnection(kubeconfigPath: path, nodeName: name, logger: logger) } } catch {
            throw ValidationError("--kubeconfig: \(error)")
        }
        var sources: [any PodSource] = [StaticPodSource(directory: podManifestPath, nodeName: name)]
        if let api { sources.append(api.source) }
        let kubelet = Kubelet(node: node, runtime: runtime, sources: sources, objects: api?.objects,
                              statusManager: api?.statusManager, logger: logger)
        // Node pressure: eviction with upstream's default hard thresholds, node-level reclaim
        // through container and image GC first.
        let containerGC = ContainerGC(runtime: runtime, activePodUIDs: { Set(await kubelet.pods().compactMap(\.metadata.uid)) })
        let imageGC = try ImageGC(runtime: runtime)
        let eviction = EvictionManager(config: EvictionConfig(), stats: HostStatsProvider(node: node, runtime: runtime, pods: { await kubelet.pods() }),
                                       host: kubelet, reclaimer: NodeReclaimer(containers: containerGC, images: imageGC))
        await kubelet.attach(NodeHousekeeping(eviction: eviction, containerGC: containerGC, imageGC: imageGC))
        let server = KubeletServer(kubelet: kubelet, host: address, port: options.port, stats: eviction.stats)
        logger.info("kubelet starting", metadata: ["node": "\(name)", "runtime": "\(endpoint)", "manifests": "\(podManifestPath)"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await kubelet.run() }
            if let api { group.addTask { await api.source.run() } }
            group.addTask {
                try await server.run { bound in logger.info("serving kubelet endpoints", metadata: ["address": "\(address):\(bound)"]) }
            }
            try await group.next()
            group.cancelAll()
        }
        await api?.shutdown()
        await runtime.close()
    }
}

import ArgumentParser
import Foundation
import IPTables
import KubeClient
import Logging
import NFTables
import Proxy
import Synchronization

/// `nodekit proxy`: programs Services into kernel rules (issue 8).
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Program Services and EndpointSlices into kernel rules (kube-proxy)."
    )

    @Option(name: .customLong("proxy-mode"), help: "nftables (default), iptables or ipvs.")
    var mode: ProxyMode = .nftables

    @Option(name: .customLong("ipvs-scheduler"), help: "With --proxy-mode ipvs: the scheduler of every virtual server (default rr).")
    var ipvsScheduler = "rr"

    enum Variant: String, ExpressibleByArgument, CaseIterable {
        case auto, nft, legacy
    }

    @Option(name: .customLong("iptables-variant"), help: "With --proxy-mode iptables: nft, legacy, or auto (what the host's iptables command uses).")
    var iptablesVariant: Variant = .auto

    @Option(name: .customLong("config-dir"), help: "Read Service and EndpointSlice YAML/JSON from this directory (rescanned).")
    var configDirectory: String?

    @Option(help: "Kubeconfig file: read Services and EndpointSlices from its API server by list+watch.")
    var kubeconfig: String?

    @Flag(help: "Remove every rule any proxy backend created, then exit.")
    var cleanup = false

    @Option(name: .customLong("nodeport-addresses"), parsing: .upToNextOption, help: "CIDRs of node addresses that accept NodePorts (default: all local addresses but loopback).")
    var nodePortAddresses: [String] = []

    @Option(name: .customLong("cluster-cidr"), help: "The pod network; ClusterIP traffic from outside it is masqueraded.")
    var clusterCIDR: String?

    @Flag(name: .customLong("masquerade-all"), help: "Masquerade all Service traffic.")
    var masqueradeAll = false

    @Option(name: .customLong("hostname-override"), help: "This node's name (endpoints with this nodeName are local).")
    var nodeName: String = ProcessInfo.processInfo.hostName

    @Option(name: .customLong("min-sync-period"), help: "Seconds between syncs at least (default 1).")
    var minSyncPeriod: Double = 1

    @Option(name: .customLong("sync-period"), help: "Seconds between full syncs at most (default 30).")
    var syncPeriod: Double = 30

    @Option(name: .customLong("config-rescan-period"), help: "Seconds between rescans of --config-dir (default 1).")
    var rescanPeriod: Double = 1

    @Option(name: .customLong("metrics-bind-address"), help: "HOST:PORT for /metrics (Prometheus text); empty to disable.")
    var metricsBindAddress = "127.0.0.1:10249"

    @Option(name: .customLong("healthz-bind-address"), help: "HOST:PORT for /healthz and /livez; empty to disable.")
    var healthzBindAddress = "0.0.0.0:10256"

    @Option(name: .customLong("health-check-bind-address"), help: "Address the healthCheckNodePort servers of externalTrafficPolicy Local Services listen on.")
    var healthCheckBindAddress = "0.0.0.0"

    @Flag(help: "Sync once and exit (for scripts and tests).")
    var once = false

    func validate() throws {
        for c in nodePortAddresses where CIDR(c) == nil { throw ValidationError("--nodeport-addresses: \(c) is not a CIDR") }
        if let c = clusterCIDR, CIDR(c) == nil { throw ValidationError("--cluster-cidr: \(c) is not a CIDR") }
        if minSyncPeriod < 0 || syncPeriod <= 0 || syncPeriod < minSyncPeriod {
            throw ValidationError("--sync-period must be positive and at least --min-sync-period")
        }
        for (flag, value) in [("--metrics-bind-address", metricsBindAddress), ("--healthz-bind-address", healthzBindAddress)]
        where !value.isEmpty && Self.hostPort(value) == nil {
            throw ValidationError("\(flag): \(value) is not HOST:PORT")
        }
        if !cleanup && (configDirectory == nil) == (kubeconfig == nil) {
            throw ValidationError("give one input: --kubeconfig FILE or --config-dir DIR")
        }
        if once && kubeconfig != nil { throw ValidationError("--once works with --config-dir only") }
    }

    var factory: ProxyBackendFactory {
        let variant: IPTablesVariant? = switch iptablesVariant {
        case .auto: nil
        case .nft: .nft
        case .legacy: .legacy
        }
        return ProxyBackendFactory(mode: mode, iptablesVariant: variant, nodePortAddresses: nodePortAddresses.compactMap(CIDR.init),
                                   clusterCIDR: clusterCIDR.flatMap(CIDR.init), masqueradeAll: masqueradeAll, ipvsScheduler: ipvsScheduler)
    }

    /// `HOST:PORT` or `[V6]:PORT`.
    static func hostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        let logger = Logger(label: "nodekit.proxy")
        if cleanup {
            let failures = ProxyCleanup.removeAll(others: ProxyCleanup.ipvsBackends())
            if !failures.isEmpty { throw ValidationError("cleanup failed: " + failures.joined(separator: "; ")) }
            return
        }
        let runner = SyncRunner(minSyncPeriod: .seconds(minSyncPeriod), syncPeriod: .seconds(syncPeriod), clock: SystemProxyClock())
        let metrics = ProxyMetrics()
        // Upstream: unhealthy when a wanted sync is twice the sync period late.
        let health = ProxyHealth(healthTimeout: 2 * syncPeriod)
        let serviceHealth = ServiceHealthServer(bindAddress: healthCheckBindAddress)
        let holder = ProxierHolder()
        let backends: [any ProxyBackend]
        let conntrack: ConntrackCleaner
        do {
            backends = try factory.makeBackends()
            conntrack = try ProxyBackendFactory.makeConntrackCleaner()
        } catch {
            throw ProxyCommandFailure(message: error.message)
        }
        let proxier = Proxier(nodeName: nodeName.lowercased(), backends: backends, runner: runner, logger: logger,
                              metrics: metrics, health: health, conntrack: conntrack) { report in
            if report.succeeded {
                logger.info("synced", metadata: ["kind": "\(report.kind)", "services": "\(report.serviceCount)", "changed": "\(report.changedCount)", "duration": "\(report.duration)"])
                if let state = holder.proxier?.currentState {
                    for e in serviceHealth.sync(state) { logger.error("\(e)") }
                }
            }
        }
        holder.proxier = proxier
        defer { serviceHealth.shutdown() }
        let directorySource = configDirectory.map { ConfigDirectorySource(directory: $0, proxier: proxier) }
        if let directorySource {
            let scan = try directorySource.rescan()
            for e in scan.errors { logger.warning("config-dir: \(e)") }
            if once {
                let report = proxier.syncRules()
                if let e = report.error { throw ProxyCommandFailure(message: "sync failed: \(e)") }
                return
            }
        }
        var client: HTTPKubeClient?
        if let kubeconfig {
            do { client = try HTTPKubeClient(config: Kubeconfig.load(path: kubeconfig)) } catch {
                throw ProxyCommandFailure(message: "--kubeconfig \(kubeconfig): \(error)")
            }
        }
        var servers: [ProxyHTTPServer] = []
        defer { for s in servers { s.close() } }
        if let (host, port) = Self.hostPort(metricsBindAddress) {
            servers.append(try ProxyHTTPServer.bind(host: host, port: port) { path in
                path == "/metrics" ? (.ok, "text/plain; version=0.0.4", metrics.render()) : (.notFound, "text/plain", "404 page not found\n")
            })
        }
        if let (host, port) = Self.hostPort(healthzBindAddress) {
            servers.append(try ProxyHTTPServer.bind(host: host, port: port) { path in
                path == "/healthz" || path == "/livez" ? health.response() : (.notFound, "text/plain", "404 page not found\n")
            })
        }
        let period = rescanPeriod
        await withTaskGroup(of: Void.self) { group in
            if let client {
                let source = APIServerSource(client: client, proxier: proxier, logger: logger)
                group.addTask { await source.run() }
            }
            if let directorySource {
                group.addTask { await proxier.run() }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(period))
                        do {
                            for e in try directorySource.rescan().errors { logger.warning("config-dir: \(e)") }
                        } catch { logger.error("config-dir: \(error)") }
                    }
                }
            }
            await group.waitForAll()
        }
        await client?.shutdown()
    }
}

/// A failure the proxy reports as one line (no usage text) with a non-zero exit.
struct ProxyCommandFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension ProxyMode: ExpressibleByArgument {}

/// Lets the sync observer read the proxier it was passed to (set once, before syncs start).
final class ProxierHolder: Sendable {
    private let value = Mutex<Proxier?>(nil)
    var proxier: Proxier? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

import ArgumentParser
import Foundation
import IPTables
import Logging
import NFTables
import Proxy

/// `nodekit proxy`: programs Services into kernel rules (issue 8).
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Program Services and EndpointSlices into kernel rules (kube-proxy)."
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case nftables, iptables, ipvs
    }

    @Option(name: .customLong("proxy-mode"), help: "nftables (default), iptables or ipvs.")
    var mode: Mode = .nftables

    enum Variant: String, ExpressibleByArgument, CaseIterable {
        case auto, nft, legacy
    }

    @Option(name: .customLong("iptables-variant"), help: "With --proxy-mode iptables: nft, legacy, or auto (what the host's iptables command uses).")
    var iptablesVariant: Variant = .auto

    @Option(name: .customLong("config-dir"), help: "Read Service and EndpointSlice YAML/JSON from this directory (rescanned).")
    var configDirectory: String?

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

    @Flag(help: "Sync once and exit (for scripts and tests).")
    var once = false

    func validate() throws {
        for c in nodePortAddresses where CIDR(c) == nil { throw ValidationError("--nodeport-addresses: \(c) is not a CIDR") }
        if let c = clusterCIDR, CIDR(c) == nil { throw ValidationError("--cluster-cidr: \(c) is not a CIDR") }
        if minSyncPeriod < 0 || syncPeriod <= 0 || syncPeriod < minSyncPeriod {
            throw ValidationError("--sync-period must be positive and at least --min-sync-period")
        }
        if !cleanup && configDirectory == nil {
            throw ValidationError("--config-dir is required (API server input is not wired into this command yet; issue 8)")
        }
    }

    func backends() throws -> [any ProxyBackend] {
        let config = NFTablesProxier.Config(nodePortAddresses: nodePortAddresses.compactMap(CIDR.init),
                                            clusterCIDR: clusterCIDR.flatMap(CIDR.init), masqueradeAll: masqueradeAll)
        switch mode {
        case .nftables:
            return Family.allCases.map { NFTablesProxier(family: $0, nft: NetlinkNFTables(), config: config) }
        case .iptables:
            let variant = switch iptablesVariant {
            case .auto: IPTablesVariant.detect()
            case .nft: IPTablesVariant.nft
            case .legacy: IPTablesVariant.legacy
            }
            return Family.allCases.map { IPTablesProxier(family: $0, ipt: ExecIPTables(variant: variant, ipv6: $0 == .ip6), config: config) }
        case .ipvs:
            throw ValidationError("--proxy-mode ipvs is not wired into this command yet (issue 8)")
        }
    }

    func run() async throws {
        let logger = Logger(label: "nodekit.proxy")
        if cleanup {
            let failures = ProxyCleanup.removeAll()
            if !failures.isEmpty { throw ValidationError("cleanup failed: " + failures.joined(separator: "; ")) }
            return
        }
        let runner = SyncRunner(minSyncPeriod: .seconds(minSyncPeriod), syncPeriod: .seconds(syncPeriod), clock: SystemProxyClock())
        let proxier = Proxier(nodeName: nodeName, backends: try backends(), runner: runner, logger: logger) { report in
            if report.succeeded {
                logger.info("synced", metadata: ["kind": "\(report.kind)", "services": "\(report.serviceCount)", "changed": "\(report.changedCount)", "duration": "\(report.duration)"])
            }
        }
        let source = ConfigDirectorySource(directory: configDirectory!, proxier: proxier)
        let scan = try source.rescan()
        for e in scan.errors { logger.warning("config-dir: \(e)") }
        if once {
            let report = proxier.syncRules()
            if let e = report.error { throw ValidationError("sync failed: \(e)") }
            return
        }
        let period = rescanPeriod
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await proxier.run() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(period))
                    do {
                        for e in try source.rescan().errors { logger.warning("config-dir: \(e)") }
                    } catch { logger.error("config-dir: \(error)") }
                }
            }
            await group.waitForAll()
        }
    }
}

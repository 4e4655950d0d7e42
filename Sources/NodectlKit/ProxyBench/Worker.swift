import Foundation
import IPTables
import IPVS
import LinuxSystem
import NFTables
import Proxy

/// What one programming run measured. The worker prints it as JSON on stdout.
struct ProgramResult: Codable, Sendable {
    var backend: String
    var services: Int
    var endpoints: Int
    var fullSyncSeconds: Double
    var partialAddSeconds: Double
    var partialEndpointSeconds: Double
    /// Rules (iptables `-A` lines), objects (nftables tables, chains, rules, sets and set
    /// elements, each counted once) or virtual + real
    /// servers (IPVS) of the full sync.
    var objects: Int
    var objectKind: String
    /// VmHWM of the worker process, in KiB: the peak resident set of the process that programmed.
    var peakRSSKiB: Int
    /// IPVS only: where the full sync's time went, by kind of call (the rest is the backend's own work).
    var fullSyncPhases: [ProgramPhase]? = nil
}

/// Programs the workload through one backend in the calling process's network namespace (the
/// parent starts it with `ip netns exec NODE`): a full sync, then a partial sync after one
/// Service is added, then one after one endpoint changes. The rules stay for the probe.
enum ProxyBenchWorker {
    /// The phases of the IPVS backend's calls.
    static let ipvsPhases = IPVSPhaseClock()

    /// `ipvs-unbatched` (the worker only, for before/after profiles) is the IPVS backend with
    /// one request per change, as it was before batching.
    static func makeBackend(_ name: String) throws -> (any ProxyBackend, objects: (ProxyState) throws -> (Int, String)) {
        switch name {
        case "nftables":
            let backend = NFTablesProxier(family: .ip, nft: NetlinkNFTables(keepingSocketOpen: true))
            return (backend, { state in
                let objects = backend.fullTransaction(state).operations.reduce(0) { n, op in
                    if case .addElements(_, let e) = op { n + e.count } else { n + 1 }
                }
                return (objects, "objects")
            })
        case "iptables", "iptables-legacy":
            let backend = IPTablesProxier(family: .ip, ipt: ExecIPTables(variant: name == "iptables" ? .nft : .legacy))
            return (backend, { state in
                let text = backend.fullRestoreText(state)
                return (text.split(separator: "\n").filter { $0.hasPrefix("-A ") }.count, "rules")
            })
        case "ipvs", "ipvs-unbatched":
            let ipvs = try NetlinkIPVS()
            let clock = ipvsPhases
            let batched = name == "ipvs"
            let backend = IPVSProxier(family: .ip, ipvs: TimedIPVS(ipvs, clock: clock, batched: batched),
                                      device: TimedServiceAddressDevice(try NetlinkServiceAddressDevice(), clock: clock, batched: batched),
                                      iptables: TimedIPTables(iptables: ExecIPTables(writesTables: false), clock: clock),
                                      ipset: TimedIPSet(ipset: ExecIPSet(path: benchTool("ipset") ?? "/usr/sbin/ipset"), clock: clock),
                                      sysctl: TimedSysctl(sysctl: ProcSysctlWriter(), clock: clock))
            return (backend, { state in
                let services = try ipvs.services().count
                return (services + state.endpoints.values.map(\.count).reduce(0, +), "virtual + real servers")
            })
        default:
            throw ProxyBenchError("unknown backend \(name) (nftables, iptables, iptables-legacy, ipvs)")
        }
    }

    static func run(backend name: String, services: Int, endpoints: Int) throws -> ProgramResult {
        let workload = ProxyWorkload(services: services, endpoints: endpoints)
        let (backend, count) = try makeBackend(name)
        var state = workload.state()
        let clock = ContinuousClock()
        let full = try clock.measure { try backend.sync(state, changed: [], kind: .full) }
        let phases = name.hasPrefix("ipvs") ? ipvsPhases.take() : nil
        let (partialAdd, partialEndpoint) = try workload.timePartialSyncs(&state) { try backend.sync($0, changed: $1, kind: .partial) }
        let (objects, kind) = try count(state)
        return ProgramResult(backend: name, services: services, endpoints: endpoints, fullSyncSeconds: full.seconds,
                             partialAddSeconds: partialAdd.seconds, partialEndpointSeconds: partialEndpoint.seconds,
                             objects: objects, objectKind: kind, peakRSSKiB: try peakRSS(), fullSyncPhases: phases)
    }

    /// VmHWM from /proc/self/status, in KiB.
    static func peakRSS() throws -> Int {
        let status = String(decoding: try FileOps.read("/proc/self/status"), as: UTF8.self)
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            if let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") { return kib }
        }
        throw ProxyBenchError("no VmHWM in /proc/self/status")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

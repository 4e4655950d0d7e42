import IPTables
import NFTables
import Synchronization

/// The iptables backend: upstream's KUBE-* chains in the nat and filter tables, loaded with one
/// `iptables-restore --noflush` per sync. A partial sync rewrites the shared dispatch chains
/// (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES) and only the chains of the Service
/// ports that changed; chains of removed ports are flushed and deleted in the same restore.
///
/// Thread-safe: syncs are serialised by a mutex.
public final class IPTablesProxier: ProxyBackend {
    public let mode = "iptables"
    public let family: Family
    private let ipt: any IPTablesInterface
    private let config: NFTablesProxier.Config

    private struct Programmed {
        /// Per Service port: chain name -> rules, by table.
        var nat: [ServicePortName: [String: [String]]] = [:]
        var valid = false
        var lastRestore = ""
    }
    private let programmed = Mutex(Programmed())

    /// The jumps from built-in chains into ours, as upstream installs them.
    static let jumps: [(table: String, chain: String, rule: [String])] = [
        ("nat", "PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "POSTROUTING", ["-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"]),
        ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-j", "KUBE-SERVICES"]),
        ("filter", "FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-j", "KUBE-SERVICES"]),
        ("filter", "OUTPUT", ["-m", "conntrack", "--ctstate", "NEW", "-j", "KUBE-SERVICES"]),
        ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-j", "KUBE-EXTERNAL-SERVICES"]),
    ]
    static let natFixed = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    static let filterFixed = ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"]

    public init(family: Family, ipt: any IPTablesInterface, config: NFTablesProxier.Config = .init()) {
        self.family = family
        self.ipt = ipt
        self.config = config
    }

    /// Upstream's chain suffix: the first 16 characters of base32(sha256(text)).
    static func hash(_ text: String) -> String { NFTablesProxier.hash(text, length: 16) }

    private var hostSuffix: String { family == .ip ? "/32" : "/128" }

    public func sync(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws {
        try programmed.withLock { p in
            let full = kind == .full || !p.valid
            if full { for j in Self.jumps { try ipt.ensureRule(table: j.table, chain: j.chain, j.rule) } }
            var next: [ServicePortName: [String: [String]]] = [:]
            var services: [String] = []
            var nodePorts: [String] = []
            var filterServices: [String] = []
            var filterExternal: [String] = []
            for name in state.services.keys.sorted() {
                let r = render(name, state.services[name]!, state.endpoints[name] ?? [])
                guard let r else { continue }
                next[name] = r.chains
                services += r.services
                nodePorts += r.nodePorts
                filterServices += r.filterServices
                filterExternal += r.filterExternal
            }
            let rewrite: [ServicePortName] = full ? Array(next.keys) : changed.filter { next[$0] != p.nat[$0] }.sorted()
            var stale: [String] = []
            let previous = p.nat
            for name in full ? Array(previous.keys) : Array(changed) {
                for chain in previous[name]?.keys.sorted() ?? [] where next[name]?[chain] == nil { stale.append(chain) }
            }
            var nat = "*nat\n"
            for c in Self.natFixed { nat += ":\(c) - [0:0]\n" }
            var chainLines = ""
            for name in rewrite.sorted() {
                for chain in next[name]!.keys.sorted() {
                    nat += ":\(chain) - [0:0]\n"
                    for rule in next[name]![chain]! { chainLines += "-A \(chain) \(rule)\n" }
                }
            }
            for chain in stale.sorted() { nat += ":\(chain) - [0:0]\n" }
            nat += "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
            nat += "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
            nat += "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
            nat += "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
            for line in services { nat += "-A KUBE-SERVICES \(line)\n" }
            let localFilter = config.nodePortAddresses.filter { $0.family == family }
            if config.nodePortAddresses.isEmpty {
                nat += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
            } else {
                for c in localFilter { nat += "-A KUBE-SERVICES -d \(c.network)/\(c.prefixLength) -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n" }
            }
            for line in nodePorts { nat += "-A KUBE-NODEPORTS \(line)\n" }
            nat += chainLines
            for chain in stale.sorted() { nat += "-X \(chain)\n" }
            nat += "COMMIT\n"
            var filter = "*filter\n"
            for c in Self.filterFixed { filter += ":\(c) - [0:0]\n" }
            for line in filterServices { filter += "-A KUBE-SERVICES \(line)\n" }
            for line in filterExternal { filter += "-A KUBE-EXTERNAL-SERVICES \(line)\n" }
            filter += "COMMIT\n"
            let text = filter + nat
            do { try ipt.restore(text) } catch {
                p.valid = false
                throw error
            }
            if full {
                // Chains from an earlier process that are no longer rendered: remove them.
                let known = Set(next.values.flatMap(\.keys))
                let orphans = previous.values.flatMap(\.keys).filter { !known.contains($0) }
                if !orphans.isEmpty { try ipt.deleteChains(table: "nat", Array(Set(orphans)).sorted()) }
            }
            p.nat = next
            p.valid = true
            p.lastRestore = text
        }
    }

    public func cleanup() throws {
        for j in Self.jumps { try ipt.deleteRule(table: j.table, chain: j.chain, j.rule) }
        let known = programmed.withLock { Array(Set($0.nat.values.flatMap(\.keys))).sorted() }
        try ipt.deleteChains(table: "nat", Self.natFixed + known)
        try ipt.deleteChains(table: "filter", Self.filterFixed)
        programmed.withLock { $0 = Programmed() }
    }

    public func describeRules() -> String { programmed.withLock { $0.lastRestore } }

    /// The restore text of a full sync of `state` (for golden tests and baselines).
    public func fullRestoreText(_ state: ProxyState) throws -> String {
        let recorder = RecordingIPTables()
        let p = IPTablesProxier(family: family, ipt: recorder, config: config)
        try p.sync(state, changed: [], kind: .full)
        return recorder.restores.last ?? ""
    }

    struct Rendered {
        var chains: [String: [String]] = [:]
        var services: [String] = []
        var nodePorts: [String] = []
        var filterServices: [String] = []
        var filterExternal: [String] = []
    }

    func render(_ name: ServicePortName, _ info: ServicePortInfo, _ allEndpoints: [EndpointInfo]) -> Rendered? {
        let clusterIPs = info.clusterIPs.filter { $0.family == family }
        guard !clusterIPs.isEmpty else { return nil }
        let selection = EndpointSelection(service: info, endpoints: allEndpoints.filter { $0.ip.family == family })
        let proto = info.protocol.rawValue
        let hash = Self.hash(name.description + proto)
        let svc = "KUBE-SVC-\(hash)", ext = "KUBE-EXT-\(hash)", fw = "KUBE-FW-\(hash)", svl = "KUBE-SVL-\(hash)"
        let comment = "-m comment --comment \"\(name.description)\""
        var r = Rendered()
        func sep(_ ep: EndpointInfo) -> String { "KUBE-SEP-" + Self.hash(name.description + proto + ep.description) }
        func dispatch(_ eps: [EndpointInfo]) -> [String] {
            var rules: [String] = []
            if let t = info.affinityTimeoutSeconds {
                for ep in eps { rules.append("\(comment) -m recent --name \(sep(ep)) --mask \(family == .ip ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") --rsource --rcheck --seconds \(t) --reap -j \(sep(ep))") }
            }
            for (i, ep) in eps.enumerated() {
                let remaining = eps.count - i
                if remaining > 1 {
                    let probability = String(formatProbability(1.0 / Double(remaining)))
                    rules.append("\(comment) -m statistic --mode random --probability \(probability) -j \(sep(ep))")
                } else {
                    rules.append("\(comment) -j \(sep(ep))")
                }
            }
            return rules
        }
        for ep in Set(selection.cluster + selection.local).sorted() {
            var rules = ["\(comment) -s \(ep.ip)\(hostSuffix) -j KUBE-MARK-MASQ"]
            let recent = info.affinityTimeoutSeconds != nil ? "-m recent --name \(sep(ep)) --mask \(family == .ip ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") --rsource --set " : ""
            rules.append("\(comment) \(recent)-m \(proto) -p \(proto) -j DNAT --to-destination \(ep)")
            r.chains[sep(ep)] = rules
        }
        let match = { (ip: IPAddress, port: UInt16) in "-d \(ip)\(self.hostSuffix) -p \(proto) -m \(proto) --dport \(port)" }
        if selection.cluster.isEmpty {
            for ip in clusterIPs { r.filterServices.append("\(comment) \(match(ip, info.port)) -j REJECT") }
        } else {
            var rules: [String] = []
            if config.masqueradeAll {
                rules.append("\(comment) -j KUBE-MARK-MASQ")
            } else if let cidr = config.clusterCIDR, cidr.family == family {
                for ip in clusterIPs { rules.append("\(comment) ! -s \(cidr.network)/\(cidr.prefixLength) \(match(ip, info.port)) -j KUBE-MARK-MASQ") }
            }
            r.chains[svc] = rules + dispatch(selection.cluster)
            for ip in clusterIPs { r.services.append("\(comment) \(match(ip, info.port)) -j \(svc)") }
        }
        if info.hasExternalDestinations {
            let usable = info.externalPolicyLocal ? !(selection.local.isEmpty && selection.cluster.isEmpty) : !selection.cluster.isEmpty
            let externalIPs = info.externalIPs.filter { $0.family == family }
            let lbIPs = info.loadBalancerIngressIPs.filter { $0.family == family }
            if usable {
                if info.externalPolicyLocal {
                    var rules: [String] = []
                    if !selection.cluster.isEmpty {
                        rules.append("\(comment) -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ")
                        rules.append("\(comment) -m addrtype --src-type LOCAL -j \(svc)")
                    }
                    rules.append("\(comment) -j \(svl)")
                    r.chains[ext] = rules
                    r.chains[svl] = selection.local.isEmpty ? ["\(comment) -j DROP"] : dispatch(selection.local)
                } else {
                    r.chains[ext] = ["\(comment) -j KUBE-MARK-MASQ", "\(comment) -j \(svc)"]
                }
                for ip in externalIPs { r.services.append("\(comment) \(match(ip, info.port)) -j \(ext)") }
                let ranges = info.loadBalancerSourceRanges.filter { $0.family == family }
                if !lbIPs.isEmpty && !ranges.isEmpty {
                    r.chains[fw] = ranges.map { "\(comment) -s \($0.network)/\($0.prefixLength) -j \(ext)" } + ["\(comment) -j DROP"]
                }
                for ip in lbIPs { r.services.append("\(comment) \(match(ip, info.port)) -j \(ranges.isEmpty ? ext : fw)") }
                if info.nodePort != 0 { r.nodePorts.append("\(comment) -p \(proto) -m \(proto) --dport \(info.nodePort) -j \(ext)") }
            } else {
                for ip in externalIPs + lbIPs { r.filterServices.append("\(comment) \(match(ip, info.port)) -j REJECT") }
                if info.nodePort != 0 { r.filterExternal.append("\(comment) -m addrtype --dst-type LOCAL -p \(proto) -m \(proto) --dport \(info.nodePort) -j REJECT") }
            }
        }
        return r
    }
}

/// Upstream prints probabilities with 10 decimals (`%0.10f`).
private func formatProbability(_ v: Double) -> String {
    let scaled = (v * 1e10).rounded()
    let whole = Int(scaled / 1e10)
    var frac = String(Int(scaled.truncatingRemainder(dividingBy: 1e10)))
    while frac.count < 10 { frac = "0" + frac }
    return "\(whole).\(frac)"
}

/// Records restores instead of running them (golden rendering).
final class RecordingIPTables: IPTablesInterface, @unchecked Sendable {
    private(set) var restores: [String] = []
    func restore(_ text: String) throws(IPTablesError) { restores.append(text) }
    func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {}
    func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {}
    func deleteChains(table: String, _ chains: [String]) throws(IPTablesError) {}
}

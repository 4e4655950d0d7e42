import IPTables
import IPVS
import NFTables
import Synchronization

/// The IPVS backend, as upstream's IPVS mode:
/// - one virtual server per Service port and address (each ClusterIP, externalIP and
///   LoadBalancer ingress IP, and each node IP for a NodePort), one real server per endpoint,
///   scheduler `rr` by default, ClientIP affinity as IPVS persistence with its timeout;
/// - the Service IPs bound to `kube-ipvs0` so the kernel treats them as local (see
///   ``ServiceAddressDevice`` for the bridge fallback where the dummy driver is missing);
/// - ipset and iptables only where upstream uses them: the masquerade mark for cluster-IP
///   traffic from outside the cluster CIDR (or all, with masqueradeAll), for externalIPs, LB IPs
///   and NodePorts unless externalTrafficPolicy is Local (the `-LOCAL` sets), hairpin masquerade
///   (`KUBE-LOOP-BACK`), the postrouting MASQUERADE; loadBalancerSourceRanges in filter
///   (`KUBE-LOAD-BALANCER-FW` → `KUBE-SOURCE-RANGES-FIREWALL`: sources in
///   `KUBE-LOAD-BALANCER-SOURCE-CIDR` or `-SOURCE-IP` return, the rest are dropped; the node's
///   own connections to such an LB IP are dropped in `KUBE-IPVS-OUT-FILTER` unless a range holds
///   a node IP), and the accept rule of health check node ports (`KUBE-HEALTH-CHECK-NODE-PORT`);
/// - removed endpoints of TCP Services drain: their real server stays at weight 0 (no new
///   connections) until the kernel reports no connections through it, then it is deleted.
///   UDP and SCTP real servers are deleted at once (upstream; `expire_nodest_conn` ends
///   their flows). Every sync re-checks the draining real servers.
///
/// One backend per address family, as upstream runs one proxier per family: both share
/// kube-ipvs0 and the IPVS table, and each syncs only the virtual servers and bound addresses
/// of its own family (cleanup removes both families').
///
/// IPVS has no transactions: a sync is a series of netlink requests, sent as one batch (many
/// per datagram, see ``IPVSInterface/apply(_:)``) in which every change is tried even after one
/// failed. A failed sync leaves some of its changes applied; the next sync is then full and
/// converges on the desired state.
/// Thread-safe: syncs are serialised by a mutex.
public final class IPVSProxier: ProxyBackend {
    public let mode = "ipvs"
    public let family: NFTables.Family
    private let ipvs: any IPVSInterface
    private let device: any ServiceAddressDevice
    private let iptables: (any IPTablesInterface)?
    private let ipset: (any IPSetInterface)?
    private let sysctl: (any SysctlWriter)?
    private let config: Config

    /// Options.
    public struct Config: Sendable {
        /// The IPVS scheduler for every virtual server.
        public var scheduler: String
        /// The node's addresses that NodePorts are served on (one virtual server each).
        public var nodeIPs: [NFTables.IPAddress]
        /// The pod network: cluster-IP traffic from outside it is masqueraded.
        public var clusterCIDR: CIDR?
        /// Masquerade all Service traffic.
        public var masqueradeAll: Bool

        public init(scheduler: String = "rr", nodeIPs: [NFTables.IPAddress] = [], clusterCIDR: CIDR? = nil, masqueradeAll: Bool = false) {
            self.scheduler = scheduler
            self.nodeIPs = nodeIPs
            self.clusterCIDR = clusterCIDR
            self.masqueradeAll = masqueradeAll
        }
    }

    /// What one Service port programs.
    struct Rendered: Equatable {
        /// Virtual servers and the real servers that take new connections.
        var servers: [VirtualServer.Key: Desired] = [:]
        /// Addresses bound to kube-ipvs0.
        var addresses: Set<NFTables.IPAddress> = []
        /// `set entry` strings, e.g. `KUBE-CLUSTER-IP 10.96.0.1,tcp:80`.
        var ipsetEntries: Set<String> = []
        /// KUBE-IPVS-OUT-FILTER rules: LB IP ports with source ranges that leave the node out.
        var outFilterRules: Set<String> = []
    }

    struct Desired: Equatable {
        var service: VirtualServer
        var destinations: Set<RealServer.Key>
    }

    private struct Programmed {
        var services: [ServicePortName: Rendered] = [:]
        /// How many Service ports use each bound address.
        var addressUsers: [NFTables.IPAddress: Int] = [:]
        /// Weight-0 real servers waiting for their connections to end.
        var draining: [VirtualServer.Key: Set<RealServer.Key>] = [:]
        /// The KUBE-IPVS-OUT-FILTER rules in the kernel, sorted.
        var outFilter: [String] = []
        /// The `maxelem` of each hash set in the kernel, read and sized by the last full sync.
        var setMaxElements: [String: Int] = [:]
        var valid = false
    }
    private let programmed = Mutex(Programmed())

    /// `ipvs`, `device`, `ipset` and `sysctl` act in the proxy's network namespace. Without
    /// `iptables` and `ipset` no masquerade rules are written (virtual and real servers only).
    public init(family: NFTables.Family, ipvs: any IPVSInterface, device: any ServiceAddressDevice,
                iptables: (any IPTablesInterface)?, ipset: (any IPSetInterface)?, sysctl: (any SysctlWriter)?,
                config: Config = Config()) {
        self.family = family
        self.ipvs = ipvs
        self.device = device
        self.iptables = iptables
        self.ipset = ipset
        self.sysctl = sysctl
        self.config = config
    }

    // MARK: Names

    /// One ipset of upstream's IPVS mode: its IPv4 name, type, and the comment upstream's rules
    /// that match it carry.
    struct SetSpec: Sendable {
        var base: String
        var type: String
        var comment: String
    }

    /// The ipsets this backend uses, as upstream's `ipsetInfo` (without KUBE-IPVS-IPS, whose
    /// KUBE-IPVS-FILTER chain is not built here).
    static let setSpecs: [SetSpec] = [
        SetSpec(base: "KUBE-LOOP-BACK", type: "hash:ip,port,ip", comment: "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"),
        SetSpec(base: "KUBE-CLUSTER-IP", type: "hash:ip,port", comment: "Kubernetes service cluster ip + port for masquerade purpose"),
        SetSpec(base: "KUBE-EXTERNAL-IP", type: "hash:ip,port", comment: "Kubernetes service external ip + port for masquerade and filter purpose"),
        SetSpec(base: "KUBE-EXTERNAL-IP-LOCAL", type: "hash:ip,port", comment: "Kubernetes service external ip + port with externalTrafficPolicy=local"),
        SetSpec(base: "KUBE-LOAD-BALANCER", type: "hash:ip,port", comment: "Kubernetes service lb portal"),
        SetSpec(base: "KUBE-LOAD-BALANCER-FW", type: "hash:ip,port", comment: "Kubernetes service load balancer ip + port for load balancer with sourceRange"),
        SetSpec(base: "KUBE-LOAD-BALANCER-LOCAL", type: "hash:ip,port", comment: "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"),
        SetSpec(base: "KUBE-LOAD-BALANCER-SOURCE-IP", type: "hash:ip,port,ip", comment: "Kubernetes service load balancer ip + port + source IP for packet filter purpose"),
        SetSpec(base: "KUBE-LOAD-BALANCER-SOURCE-CIDR", type: "hash:ip,port,net", comment: "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"),
        SetSpec(base: "KUBE-NODE-PORT-TCP", type: "bitmap:port", comment: "Kubernetes nodeport TCP port for masquerade purpose"),
        SetSpec(base: "KUBE-NODE-PORT-LOCAL-TCP", type: "bitmap:port", comment: "Kubernetes nodeport TCP port with externalTrafficPolicy=local"),
        SetSpec(base: "KUBE-NODE-PORT-UDP", type: "bitmap:port", comment: "Kubernetes nodeport UDP port for masquerade purpose"),
        SetSpec(base: "KUBE-NODE-PORT-LOCAL-UDP", type: "bitmap:port", comment: "Kubernetes nodeport UDP port with externalTrafficPolicy=local"),
        SetSpec(base: "KUBE-NODE-PORT-SCTP-HASH", type: "hash:ip,port", comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"),
        SetSpec(base: "KUBE-NODE-PORT-LOCAL-SCTP-HASH", type: "hash:ip,port",
                comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"),
        SetSpec(base: "KUBE-HEALTH-CHECK-NODE-PORT", type: "bitmap:port", comment: "Kubernetes health check node port"),
    ]

    /// The set's name in this family: upstream renames `KUBE-` to `KUBE-6-` for IPv6 and cuts
    /// the result to ipset's 31-character limit.
    func setName(_ base: String) -> String {
        guard family == .ip6, base.hasPrefix("KUBE-") else { return base }
        return String(("KUBE-6-" + base.dropFirst(5)).prefix(31))
    }

    var clusterIPSet: String { setName("KUBE-CLUSTER-IP") }
    var externalIPSet: String { setName("KUBE-EXTERNAL-IP") }
    var externalIPLocalSet: String { setName("KUBE-EXTERNAL-IP-LOCAL") }
    var loadBalancerSet: String { setName("KUBE-LOAD-BALANCER") }
    var loadBalancerFWSet: String { setName("KUBE-LOAD-BALANCER-FW") }
    var loadBalancerLocalSet: String { setName("KUBE-LOAD-BALANCER-LOCAL") }
    var loadBalancerSourceIPSet: String { setName("KUBE-LOAD-BALANCER-SOURCE-IP") }
    var loadBalancerSourceCIDRSet: String { setName("KUBE-LOAD-BALANCER-SOURCE-CIDR") }
    var loopbackSet: String { setName("KUBE-LOOP-BACK") }
    var healthCheckNodePortSet: String { setName("KUBE-HEALTH-CHECK-NODE-PORT") }
    /// TCP and UDP node ports are bitmap:port sets; SCTP ones are hash:ip,port sets of node IP
    /// and port, as upstream.
    func nodePortSet(_ proto: TransportProtocol, local: Bool = false) -> String {
        let infix = local ? "LOCAL-" : ""
        return switch proto {
        case .tcp: setName("KUBE-NODE-PORT-\(infix)TCP")
        case .udp: setName("KUBE-NODE-PORT-\(infix)UDP")
        case .sctp: setName("KUBE-NODE-PORT-\(infix)SCTP-HASH")
        }
    }
    var allSets: [String] { Self.setSpecs.map { setName($0.base) } }
    /// The set a hash set that outgrows its `maxelem` is rebuilt in before the swap (see
    /// ``growLines(_:entries:maxElements:)``); it exists only inside one `ipset restore`, or
    /// after one failed half-way.
    var growthSet: String { setName("KUBE-GROW-TMP") }
    /// The `--comment` upstream's rule on `name` carries.
    func comment(_ name: String) -> String {
        "\"" + (Self.setSpecs.first { setName($0.base) == name }?.comment ?? name) + "\""
    }

    /// The jumps from built-in chains into ours, as upstream installs them (its
    /// KUBE-IPVS-FILTER jump aside).
    static let jumps: [(table: String, chain: String, rule: [String])] = [
        ("nat", "OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "POSTROUTING", ["-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"]),
        ("filter", "FORWARD", ["-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"]),
        ("filter", "INPUT", ["-m", "comment", "--comment", "kubernetes health check rules", "-j", "KUBE-NODE-PORT"]),
        ("filter", "INPUT", ["-m", "comment", "--comment", "kube-proxy firewall rules", "-j", "KUBE-PROXY-FIREWALL"]),
        ("filter", "FORWARD", ["-m", "comment", "--comment", "kube-proxy firewall rules", "-j", "KUBE-PROXY-FIREWALL"]),
        ("filter", "OUTPUT", ["-m", "comment", "--comment", "kubernetes ipvs access filter", "-j", "KUBE-IPVS-OUT-FILTER"]),
    ]
    static let natChains = ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ"]
    static let filterChains = ["KUBE-FORWARD", "KUBE-NODE-PORT", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL", "KUBE-IPVS-OUT-FILTER"]
    /// Sets earlier Nodekit versions created (SCTP node ports were a bitmap:port set); cleanup
    /// removes them too.
    static let formerSets = ["KUBE-NODE-PORT-SCTP"]

    // MARK: ProxyBackend

    public func sync(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws {
        try programmed.withLock { p in
            do {
                if kind == .full || !p.valid {
                    try fullSync(state, &p)
                } else {
                    try partialSync(state, changed: changed, &p)
                }
                try drain(&p)
                p.valid = true
            } catch {
                p.valid = false
                throw error
            }
        }
    }

    public func cleanup() throws {
        try programmed.withLock { p in
            // Every virtual server of this family, as upstream's CleanupLeftovers flushes IPVS
            // ("only the ipvs proxier creates ipvs rules"): a cleanup run from another process
            // cannot tell its NodePort servers on the node's addresses from anyone else's.
            try ipvs.apply(try ipvs.services().filter { $0.key.address.family == family }.map { .deleteService($0.key) })
            try device.remove()
            if let iptables {
                for j in Self.jumps { try iptables.deleteRule(table: j.table, chain: j.chain, j.rule) }
                // Declaring the chains flushes them (and creates missing ones), so -X always applies.
                var text = ""
                for (table, chains) in [("nat", Self.natChains), ("filter", Self.filterChains)] {
                    text += "*\(table)\n" + chains.map { ":\($0) - [0:0]\n" }.joined() + chains.map { "-X \($0)\n" }.joined() + "COMMIT\n"
                }
                try iptables.restore(text)
            }
            // After the rules: ipset cannot destroy a set a rule still refers to.
            try ipset?.destroy(allSets + [growthSet] + (family == .ip ? Self.formerSets : []))
            p = Programmed()
        }
    }

    public func describeRules() -> String {
        programmed.withLock { p in
            var lines: [String] = []
            for name in p.services.keys.sorted() {
                for (key, desired) in p.services[name]!.servers.sorted(by: { $0.key < $1.key }) {
                    let draining = p.draining[key] ?? []
                    let dests = desired.destinations.sorted().map { "\($0)" } + draining.sorted().map { "\($0) (draining)" }
                    lines.append("\(name) \(desired.service) -> " + (dests.isEmpty ? "(none)" : dests.joined(separator: " ")))
                }
            }
            return lines.joined(separator: "\n")
        }
    }

    // MARK: Rendering

    private func ipvsProtocol(_ proto: TransportProtocol) -> IPVSProtocol {
        switch proto {
        case .tcp: .tcp
        case .udp: .udp
        case .sctp: .sctp
        }
    }

    /// `ADDR/LEN` entries of a hash:ip,port,net set for `range`. The kernel refuses a /0 net
    /// there (cidr must be 1-32 or 1-128), so a /0 range becomes its two halves.
    static func netEntries(_ range: CIDR) -> [String] {
        guard range.prefixLength == 0 else { return ["\(range.network)/\(range.prefixLength)"] }
        let upper = range.network.family == .ip ? "128.0.0.0" : "8000::"
        return ["\(range.network)/1", "\(upper)/1"]
    }

    /// The virtual servers, addresses, ipset entries and KUBE-IPVS-OUT-FILTER rules of one
    /// Service port; nil when it has no cluster IP of this family.
    func render(_ info: ServicePortInfo, _ endpoints: [EndpointInfo]) -> Rendered? {
        let clusterIPs = info.clusterIPs.filter { $0.family == family }
        guard !clusterIPs.isEmpty else { return nil }
        let selection = EndpointSelection(service: info, endpoints: endpoints.filter { $0.ip.family == family })
        let proto = ipvsProtocol(info.protocol)
        let name = info.protocol.rawValue
        func keys(_ eps: [EndpointInfo]) -> Set<RealServer.Key> { Set(eps.map { RealServer.Key(address: $0.ip, port: $0.port) }) }
        let cluster = keys(selection.cluster)
        let external = keys(info.externalPolicyLocal ? selection.local : selection.cluster)
        let local = info.externalPolicyLocal
        var r = Rendered()
        func add(_ address: NFTables.IPAddress, port: UInt16, _ destinations: Set<RealServer.Key>, bind: Bool) {
            let key = VirtualServer.Key(address: address, protocol: proto, port: port)
            r.servers[key] = Desired(service: VirtualServer(key: key, scheduler: config.scheduler, persistenceTimeout: info.affinityTimeoutSeconds),
                                     destinations: destinations)
            if bind { r.addresses.insert(key.address) }
        }
        for ip in clusterIPs {
            add(ip, port: info.port, cluster, bind: true)
            r.ipsetEntries.insert("\(clusterIPSet) \(ip),\(name):\(info.port)")
        }
        for ip in info.externalIPs where ip.family == family {
            add(ip, port: info.port, external, bind: true)
            // Local policy keeps the client's address: no masquerade, so its own set.
            r.ipsetEntries.insert("\(local ? externalIPLocalSet : externalIPSet) \(ip),\(name):\(info.port)")
        }
        let ranges = info.loadBalancerSourceRanges.filter { $0.family == family }
        let nodeIPs = config.nodeIPs.filter { $0.family == family }
        let rangesHoldNode = nodeIPs.contains { node in ranges.contains { $0.contains(node) } }
        for ip in info.loadBalancerIngressIPs where ip.family == family {
            add(ip, port: info.port, external, bind: true)
            let entry = "\(ip),\(name):\(info.port)"
            r.ipsetEntries.insert("\(loadBalancerSet) \(entry)")
            if local { r.ipsetEntries.insert("\(loadBalancerLocalSet) \(entry)") }
            guard !ranges.isEmpty else { continue }
            // Sources outside the ranges are dropped in KUBE-SOURCE-RANGES-FIREWALL.
            r.ipsetEntries.insert("\(loadBalancerFWSet) \(entry)")
            for range in ranges {
                for net in Self.netEntries(range) { r.ipsetEntries.insert("\(loadBalancerSourceCIDRSet) \(entry),\(net)") }
            }
            if rangesHoldNode {
                // The node reaches its own bound LB IP with that IP as the source.
                r.ipsetEntries.insert("\(loadBalancerSourceIPSet) \(entry),\(ip)")
            } else {
                // IPVS schedules the node's own connections at LOCAL_OUT, before any INPUT
                // filter could see them; upstream drops them in OUTPUT by their virtual address.
                r.outFilterRules.insert("-A KUBE-IPVS-OUT-FILTER -s \(ip) -m ipvs --vaddr \(ip) --vproto \(name) --vport \(info.port) -j DROP")
            }
        }
        if info.nodePort != 0 {
            for ip in nodeIPs { add(ip, port: info.nodePort, external, bind: false) }
            let entries = info.protocol == .sctp ? nodeIPs.map { "\($0),\(name):\(info.nodePort)" } : ["\(info.nodePort)"]
            for e in entries {
                r.ipsetEntries.insert("\(nodePortSet(info.protocol)) \(e)")
                if local { r.ipsetEntries.insert("\(nodePortSet(info.protocol, local: true)) \(e)") }
            }
        }
        if local && info.healthCheckNodePort != 0 {
            r.ipsetEntries.insert("\(healthCheckNodePortSet) \(info.healthCheckNodePort)")
        }
        // A pod reaching itself through its Service: upstream masquerades this hairpin flow.
        for ep in Set(selection.cluster + selection.local) {
            r.ipsetEntries.insert("\(loopbackSet) \(ep.ip),\(name):\(ep.port),\(ep.ip)")
        }
        return r
    }

    /// The nat rules: static, derived from the configuration only (a rule on an empty set
    /// matches nothing, so upstream's per-sync omission of such rules changes no packet).
    func natRules() -> String {
        var t = "*nat\n"
        for c in Self.natChains { t += ":\(c) - [0:0]\n" }
        t += "-A KUBE-SERVICES -s \(family == .ip ? "127.0.0.0/8" : "::1/128") -j RETURN\n"
        t += "-A KUBE-POSTROUTING -m comment --comment \(comment(loopbackSet)) -m set --match-set \(loopbackSet) dst,dst,src -j MASQUERADE\n"
        t += "-A KUBE-SERVICES -m comment --comment \(comment(loadBalancerSet)) -m set --match-set \(loadBalancerSet) dst,dst -j KUBE-LOAD-BALANCER\n"
        t += "-A KUBE-LOAD-BALANCER -m comment --comment \(comment(loadBalancerLocalSet)) -m set --match-set \(loadBalancerLocalSet) dst,dst -j RETURN\n"
        for proto in TransportProtocol.allCases {
            let match = proto == .sctp ? "dst,dst" : "dst"
            for local in [true, false] {
                let s = nodePortSet(proto, local: local)
                t += "-A KUBE-NODE-PORT -p \(proto.rawValue) -m comment --comment \(comment(s)) -m set --match-set \(s) \(match) -j \(local ? "RETURN" : "KUBE-MARK-MASQ")\n"
            }
        }
        let clusterMatch = "-A KUBE-SERVICES -m comment --comment \(comment(clusterIPSet)) -m set --match-set \(clusterIPSet) dst,dst"
        if config.masqueradeAll {
            t += "\(clusterMatch) -j KUBE-MARK-MASQ\n"
        } else if let cidr = config.clusterCIDR, cidr.family == family {
            t += "\(clusterMatch) ! -s \(cidr.network)/\(cidr.prefixLength) -j KUBE-MARK-MASQ\n"
        }
        t += "-A KUBE-SERVICES -m comment --comment \(comment(externalIPSet)) -m set --match-set \(externalIPSet) dst,dst -j KUBE-MARK-MASQ\n"
        t += "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT\n"
        t += "-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ\n"
        t += "-A KUBE-SERVICES -m set --match-set \(clusterIPSet) dst,dst -j ACCEPT\n"
        t += "-A KUBE-SERVICES -m set --match-set \(loadBalancerSet) dst,dst -j ACCEPT\n"
        t += "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
        t += "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
        t += "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
        t += "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
        t += "COMMIT\n"
        return t
    }

    /// The filter rules: loadBalancerSourceRanges (KUBE-PROXY-FIREWALL → KUBE-SOURCE-RANGES-FIREWALL,
    /// which returns for allowed sources and drops the rest), the node's own access to LB IPs
    /// (`outFilter`, KUBE-IPVS-OUT-FILTER), forwarding of marked traffic, and health check node ports.
    func filterRules(outFilter: [String]) -> String {
        var t = "*filter\n"
        for c in Self.filterChains { t += ":\(c) - [0:0]\n" }
        t += "-A KUBE-PROXY-FIREWALL -m comment --comment \(comment(loadBalancerFWSet)) -m set --match-set \(loadBalancerFWSet) dst,dst -j KUBE-SOURCE-RANGES-FIREWALL\n"
        for s in [loadBalancerSourceCIDRSet, loadBalancerSourceIPSet] {
            t += "-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment \(comment(s)) -m set --match-set \(s) dst,dst,src -j RETURN\n"
        }
        t += "-A KUBE-SOURCE-RANGES-FIREWALL -j DROP\n"
        for rule in outFilter { t += rule + "\n" }
        t += "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
        t += "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        t += "-A KUBE-NODE-PORT -m comment --comment \(comment(healthCheckNodePortSet)) -m set --match-set \(healthCheckNodePortSet) dst -j ACCEPT\n"
        t += "COMMIT\n"
        return t
    }

    /// The set an ipset entry line (`SET MEMBER`) belongs to.
    static func setOf(_ entry: String) -> Substring { entry.prefix { $0 != " " } }

    /// The `create` line of `spec`'s set under `name`, holding `maxElements` if it is a hash set.
    /// A default-sized set's line has no `maxelem`, so that it reads as it did before sets
    /// were sized and means what upstream's explicit default means.
    func createLine(_ spec: SetSpec, name: String, maxElements: Int) -> String {
        guard spec.type.hasPrefix("hash:") else { return "create \(name) \(spec.type) range 0-65535\n" }
        let size = maxElements == IPSetHeader.defaultMaxElements ? "" : " maxelem \(maxElements)"
        return "create \(name) \(spec.type) family \(family == .ip ? "inet" : "inet6")\(size)\n"
    }

    /// `ipset restore` lines that replace `set` by one holding `maxElements` and `entries` (its
    /// members, without the set name) with no moment in which a packet finds it partly filled:
    /// the entries go into ``growthSet``, `swap` exchanges the two sets' contents under their
    /// names, and the old contents are destroyed. iptables rules keep matching `set`: the kernel
    /// swaps the sets in its index table, where the rules point, and their reference counts with
    /// them (tested in the VM: IPVSProxyIPSetGrowthIntegrationTests).
    func growLines(_ set: String, entries: [Substring], maxElements: Int) -> String {
        let spec = Self.setSpecs.first { setName($0.base) == set }!
        var text = createLine(spec, name: growthSet, maxElements: maxElements)
        for member in entries { text += "add \(growthSet) \(member)\n" }
        return text + "swap \(growthSet) \(set)\ndestroy \(growthSet)\n"
    }

    /// The `ipset restore` text of a full sync and each hash set's `maxelem` after it:
    /// every set created (idempotent with `-exist`) and given exactly `entries` (sorted
    /// `SET MEMBER` lines), given the sets in the kernel now (`kernel`, by name).
    ///
    /// A new set is created and filled. A set that exists and gets entries is replaced through
    /// ``growLines(_:entries:maxElements:)``, never flushed and refilled: `ipset restore` applies
    /// one command at a time, so a flushed live set would be empty or partly filled while the
    /// restore runs (seconds at 100k entries), and packets matched against it then (hairpin
    /// masquerade, external IPs, source ranges) would be treated wrongly. An existing set that
    /// gets no entries is flushed: emptying it is one command.
    ///
    /// A new set is created to hold its entries (``IPSetHeader/maxElements(toHold:)``). An
    /// existing one keeps its `maxelem`, which its `create -exist` line must repeat (ipset
    /// refuses a create whose options differ), while its entries fit; otherwise it is replaced
    /// by a larger one. Sets never shrink: `maxelem` costs no memory.
    /// Upstream creates every set with the default `maxelem` (65,536) and fails to add the
    /// entries beyond it (kubernetes/kubernetes#129389).
    func fullSyncSetText(_ entries: [String], kernel: [String: IPSetHeader]) -> (text: String, maxElements: [String: Int]) {
        var counts: [Substring: Int] = [:]
        for entry in entries { counts[Self.setOf(entry), default: 0] += 1 }
        // A growth set left by a restore that failed half-way would refuse its create line.
        var text = kernel[growthSet] == nil ? "" : "destroy \(growthSet)\n"
        var sizes: [String: Int] = [:]
        // The existing sets that get entries, with the maxelem of their replacement.
        var replaced: [String: Int] = [:]
        for spec in Self.setSpecs {
            let name = setName(spec.base)
            let count = counts[Substring(name)] ?? 0
            let existing = kernel[name]?.maxElements
            let size = existing ?? IPSetHeader.maxElements(toHold: count)
            text += createLine(spec, name: name, maxElements: size)
            let grown = spec.type.hasPrefix("hash:") && count > size ? IPSetHeader.maxElements(toHold: count) : size
            if spec.type.hasPrefix("hash:") { sizes[name] = grown }
            if kernel[name] != nil {
                if count > 0 { replaced[name] = grown } else { text += "flush \(name)\n" }
            }
        }
        var members: [String: [Substring]] = [:]
        for entry in entries {
            let set = Self.setOf(entry)
            if replaced[String(set)] != nil {
                members[String(set), default: []].append(entry.dropFirst(set.count + 1))
            } else {
                text += "add \(entry)\n"
            }
        }
        for (set, size) in replaced.sorted(by: { $0.key < $1.key }) { text += growLines(set, entries: members[set] ?? [], maxElements: size) }
        return (text, sizes)
    }

    // MARK: Syncing

    private func fullSync(_ state: ProxyState, _ p: inout Programmed) throws {
        try sysctl?.set("net.ipv4.vs.conntrack", "1") // lets iptables' MASQUERADE see IPVS flows
        try sysctl?.set("net.ipv4.vs.expire_nodest_conn", "1")
        try sysctl?.set("net.ipv4.vs.expire_quiescent_template", "1")
        try device.ensure()
        var next: [ServicePortName: Rendered] = [:]
        next.reserveCapacity(state.services.count)
        for (name, info) in state.services {
            if let r = render(info, state.endpoints[name] ?? []) { next[name] = r }
        }
        if let ipset {
            let kernel = Dictionary(try ipset.headers().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let (text, sizes) = fullSyncSetText(Set(next.values.flatMap(\.ipsetEntries)).sorted(), kernel: kernel)
            try ipset.restore(text)
            p.setMaxElements = sizes
        }
        let outFilter = Set(next.values.flatMap(\.outFilterRules)).sorted()
        if let iptables {
            // The jumps go in the same restore, after the chains they target are declared.
            let jumps = try missingJumps(iptables)
            func committing(_ block: String, _ lines: [String]) -> String {
                String(block.dropLast("COMMIT\n".count)) + lines.map { $0 + "\n" }.joined() + "COMMIT\n"
            }
            try iptables.restore(committing(natRules(), jumps["nat"] ?? []) + committing(filterRules(outFilter: outFilter), jumps["filter"] ?? []))
        }
        p.outFilter = outFilter
        // The other family's backend shares kube-ipvs0 and the IPVS table: leave its part alone.
        let bound = try device.addresses().filter { $0.family == family }
        var wanted: [VirtualServer.Key: Desired] = [:]
        wanted.reserveCapacity(next.count)
        for r in next.values { wanted.merge(r.servers) { a, _ in a } }
        let kernel = Dictionary(try ipvs.services().filter { $0.key.address.family == family }.map { ($0.key, $0) },
                                uniquingKeysWith: { a, _ in a })
        var changes: [IPVSChange] = []
        for (key, desired) in wanted.sorted(by: { $0.key < $1.key }) {
            if let existing = kernel[key] {
                if existing != desired.service { changes.append(.updateService(desired.service)) }
                let current = Dictionary(try ipvs.destinations(of: key).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
                reconcile(key, current: current, wanted: desired.destinations, &p, into: &changes)
            } else {
                changes.append(.addService(desired.service))
                for dest in desired.destinations.sorted() { changes.append(.addDestination(RealServer(key: dest), to: key)) }
                p.draining[key] = nil
            }
        }
        // Virtual servers of ours (on a bound address or programmed before) that are no longer wanted.
        let previous = Set(p.services.values.flatMap(\.servers.keys))
        for key in kernel.keys.sorted() where wanted[key] == nil && (bound.contains(key.address) || previous.contains(key)) {
            changes.append(.deleteService(key))
            p.draining[key] = nil
        }
        // One batch for IPVS and one per direction for kube-ipvs0: each sends many requests per
        // datagram, where one request per object made a full sync wait for thousands of ACKs.
        try ipvs.apply(changes)
        var users: [NFTables.IPAddress: Int] = [:]
        for r in next.values { for a in r.addresses { users[a, default: 0] += 1 } }
        try device.bind(Set(users.keys).subtracting(bound).sorted())
        try device.unbind(bound.subtracting(users.keys).sorted())
        p.services = next
        p.addressUsers = users
    }

    /// The jumps from the built-in chains that are missing, as `-I CHAIN 1 ...` restore lines by
    /// table: upstream's EnsureRule on every sync inserts them first, in ``jumps`` order (so the
    /// last is first). One iptables-save per table reads them, where one check (and one insert)
    /// process per jump cost 2-10 s of a 1k-Service full sync in the VM (docs/proxy-bench-ipvs.md).
    private func missingJumps(_ iptables: any IPTablesInterface) throws -> [String: [String]] {
        func line(_ words: [String]) -> String { words.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ") }
        var missing: [String: [String]] = [:]
        for table in ["nat", "filter"] {
            let saved = Set(try iptables.save(table: table).split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") })
            for j in Self.jumps where j.table == table && !saved.contains("-A \(j.chain) " + line(j.rule)) {
                missing[table, default: []].append("-I \(j.chain) 1 " + line(j.rule))
            }
        }
        return missing
    }

    /// Plans the changes that bring the real servers of `key` from `current` (the kernel's) to
    /// `wanted`: adds the new, restores weight 1 to returning ones, and starts draining the removed.
    private func reconcile(_ key: VirtualServer.Key, current: [RealServer.Key: RealServer], wanted: Set<RealServer.Key>,
                           _ p: inout Programmed, into changes: inout [IPVSChange]) {
        for dest in wanted.sorted() {
            if let existing = current[dest] {
                if existing.weight == 0 { changes.append(.updateDestination(RealServer(key: dest), in: key)) }
            } else {
                changes.append(.addDestination(RealServer(key: dest), to: key))
            }
            p.draining[key]?.remove(dest)
        }
        for (dest, existing) in current.sorted(by: { $0.key < $1.key }) where !wanted.contains(dest) {
            if existing.weight != 0 {
                var quiesced = existing
                quiesced.weight = 0
                changes.append(.updateDestination(quiesced, in: key))
            }
            p.draining[key, default: []].insert(dest)
        }
        if p.draining[key]?.isEmpty == true { p.draining[key] = nil }
    }

    private func partialSync(_ state: ProxyState, changed: Set<ServicePortName>, _ p: inout Programmed) throws {
        var addEntries: [String] = []
        var delEntries: [String] = []
        var changes: [IPVSChange] = []
        // Addresses whose users changed, with whether they were bound before: an address one
        // Service port leaves and another takes in the same sync stays bound.
        var touched: [NFTables.IPAddress: Bool] = [:]
        for name in changed.sorted() {
            let old = p.services[name] ?? Rendered()
            let new = state.services[name].flatMap { render($0, state.endpoints[name] ?? []) } ?? Rendered()
            if old == new { continue }
            for (key, desired) in new.servers.sorted(by: { $0.key < $1.key }) {
                if let before = old.servers[key] {
                    if before.service != desired.service { changes.append(.updateService(desired.service)) }
                    if before.destinations != desired.destinations {
                        // What the kernel has: the previously wanted plus any still draining.
                        var current: [RealServer.Key: RealServer] = [:]
                        for d in before.destinations { current[d] = RealServer(key: d) }
                        for d in p.draining[key] ?? [] { current[d] = RealServer(key: d, weight: 0) }
                        reconcile(key, current: current, wanted: desired.destinations, &p, into: &changes)
                    }
                } else {
                    changes.append(.addService(desired.service))
                    for dest in desired.destinations.sorted() { changes.append(.addDestination(RealServer(key: dest), to: key)) }
                }
            }
            for key in old.servers.keys.sorted() where new.servers[key] == nil {
                changes.append(.deleteService(key))
                p.draining[key] = nil
            }
            for a in new.addresses.subtracting(old.addresses) {
                if touched[a] == nil { touched[a] = p.addressUsers[a] != nil }
                p.addressUsers[a, default: 0] += 1
            }
            for a in old.addresses.subtracting(new.addresses) {
                if touched[a] == nil { touched[a] = p.addressUsers[a] != nil }
                p.addressUsers[a, default: 1] -= 1
                if p.addressUsers[a]! <= 0 { p.addressUsers[a] = nil }
            }
            addEntries += new.ipsetEntries.subtracting(old.ipsetEntries)
            delEntries += old.ipsetEntries.subtracting(new.ipsetEntries)
            p.services[name] = state.services[name] == nil ? nil : new
        }
        try ipvs.apply(changes)
        try device.bind(touched.filter { !$0.value && p.addressUsers[$0.key] != nil }.keys.sorted())
        try device.unbind(touched.filter { $0.value && p.addressUsers[$0.key] == nil }.keys.sorted())
        if let ipset, !(addEntries.isEmpty && delEntries.isEmpty) {
            // A node port shared by TCP entries of two Services stays while either uses it.
            let stillUsed = Set(p.services.values.flatMap(\.ipsetEntries))
            let growing = outgrown(Set(addEntries.map(Self.setOf)), stillUsed, p.setMaxElements)
            var text = ""
            for entry in delEntries.sorted() where !stillUsed.contains(entry) && growing[String(Self.setOf(entry))] == nil { text += "del \(entry)\n" }
            for entry in addEntries.sorted() where growing[String(Self.setOf(entry))] == nil { text += "add \(entry)\n" }
            for (set, size) in growing.sorted(by: { $0.key < $1.key }) {
                let members = stillUsed.filter { Self.setOf($0) == set }.sorted().map { $0.dropFirst(set.count + 1) }
                text += growLines(set, entries: members, maxElements: size)
            }
            if !text.isEmpty { try ipset.restore(text) }
            p.setMaxElements.merge(growing) { _, new in new }
        }
        let outFilter = Set(p.services.values.flatMap(\.outFilterRules)).sorted()
        if outFilter != p.outFilter, let iptables {
            // Declaring the chain flushes it; the other chains are left as they are.
            try iptables.restore("*filter\n:KUBE-IPVS-OUT-FILTER - [0:0]\n" + outFilter.map { $0 + "\n" }.joined() + "COMMIT\n")
            p.outFilter = outFilter
        }
    }

    /// The hash sets among `sets` whose members in `entries` (all of them, `SET MEMBER`) no
    /// longer fit their `maxelem` in `sizes`, with the `maxelem` to grow each to.
    private func outgrown(_ sets: Set<Substring>, _ entries: Set<String>, _ sizes: [String: Int]) -> [String: Int] {
        var counts: [Substring: Int] = [:]
        for entry in entries {
            let set = Self.setOf(entry)
            if sets.contains(set) { counts[set, default: 0] += 1 }
        }
        var growing: [String: Int] = [:]
        for (set, count) in counts {
            if let size = sizes[String(set)], count > size { growing[String(set)] = IPSetHeader.maxElements(toHold: count) }
        }
        return growing
    }

    /// Deletes draining real servers the kernel reports without connections, and forgets ones
    /// that are gone. UDP and SCTP ones go at once, as upstream.
    private func drain(_ p: inout Programmed) throws {
        var changes: [IPVSChange] = []
        for (key, dests) in p.draining.sorted(by: { $0.key < $1.key }) {
            let current = Dictionary(try ipvs.destinations(of: key).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            var remaining = dests
            for dest in dests.sorted() {
                guard let existing = current[dest] else {
                    remaining.remove(dest)
                    continue
                }
                if key.protocol != .tcp || existing.connections == 0 {
                    changes.append(.deleteDestination(dest, from: key))
                    remaining.remove(dest)
                }
            }
            p.draining[key] = remaining.isEmpty ? nil : remaining
        }
        try ipvs.apply(changes)
    }
}

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
///   traffic from outside the cluster CIDR (or all, with masqueradeAll), for externalIPs and
///   NodePorts, hairpin masquerade (`KUBE-LOOP-BACK`), and the postrouting MASQUERADE;
/// - removed endpoints of TCP Services drain: their real server stays at weight 0 (no new
///   connections) until the kernel reports no connections through it, then it is deleted.
///   UDP and SCTP real servers are deleted at once (upstream; `expire_nodest_conn` ends
///   their flows). Every sync re-checks the draining real servers.
///
/// IPVS has no transactions: a sync is a series of netlink requests. A failed sync leaves some
/// of its changes applied; the next sync is then full and converges on the desired state.
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

    /// The ipset names, as upstream (`KUBE-6-` prefix for IPv6).
    var setPrefix: String { family == .ip ? "KUBE-" : "KUBE-6-" }
    var clusterIPSet: String { setPrefix + "CLUSTER-IP" }
    var externalIPSet: String { setPrefix + "EXTERNAL-IP" }
    var loopbackSet: String { setPrefix + "LOOP-BACK" }
    func nodePortSet(_ proto: TransportProtocol) -> String { setPrefix + "NODE-PORT-" + proto.rawValue.uppercased() }
    var allSets: [String] { [clusterIPSet, externalIPSet, loopbackSet] + TransportProtocol.allCases.map(nodePortSet) }

    /// The jumps from built-in chains into ours, as upstream installs them.
    static let jumps: [(table: String, chain: String, rule: [String])] = [
        ("nat", "PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "POSTROUTING", ["-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"]),
    ]
    static let natChains = ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "KUBE-NODE-PORT"]

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
            let programmedKeys = Set(p.services.values.flatMap(\.servers.keys))
            let bound = try device.addresses()
            // Ours: programmed by this process, or on an address an earlier one bound.
            for service in try ipvs.services() where programmedKeys.contains(service.key) || bound.contains(service.key.address) {
                try ipvs.deleteService(service.key)
            }
            try device.remove()
            if let iptables {
                for j in Self.jumps { try iptables.deleteRule(table: j.table, chain: j.chain, j.rule) }
                // Declaring the chains flushes them (and creates missing ones), so -X always applies.
                try iptables.restore("*nat\n" + Self.natChains.map { ":\($0) - [0:0]\n" }.joined()
                                     + Self.natChains.map { "-X \($0)\n" }.joined() + "COMMIT\n")
            }
            try ipset?.destroy(allSets)
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

    /// The virtual servers, addresses and ipset entries of one Service port; nil when it has no
    /// cluster IP of this family.
    func render(_ info: ServicePortInfo, _ endpoints: [EndpointInfo]) -> Rendered? {
        let clusterIPs = info.clusterIPs.filter { $0.family == family }
        guard !clusterIPs.isEmpty else { return nil }
        let selection = EndpointSelection(service: info, endpoints: endpoints.filter { $0.ip.family == family })
        let proto = ipvsProtocol(info.protocol)
        let name = info.protocol.rawValue
        func keys(_ eps: [EndpointInfo]) -> Set<RealServer.Key> { Set(eps.map { RealServer.Key(address: $0.ip, port: $0.port) }) }
        let cluster = keys(selection.cluster)
        let external = keys(info.externalPolicyLocal ? selection.local : selection.cluster)
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
        for ip in (info.externalIPs + info.loadBalancerIngressIPs).filter({ $0.family == family }) {
            add(ip, port: info.port, external, bind: true)
            r.ipsetEntries.insert("\(externalIPSet) \(ip),\(name):\(info.port)")
        }
        if info.nodePort != 0 {
            for ip in config.nodeIPs where ip.family == family { add(ip, port: info.nodePort, external, bind: false) }
            r.ipsetEntries.insert("\(nodePortSet(info.protocol)) \(info.nodePort)")
        }
        // A pod reaching itself through its Service: upstream masquerades this hairpin flow.
        for ep in Set(selection.cluster + selection.local) {
            r.ipsetEntries.insert("\(loopbackSet) \(ep.ip),\(name):\(ep.port),\(ep.ip)")
        }
        return r
    }

    /// The nat rules: static, derived from the configuration only.
    func natRules() -> String {
        var t = "*nat\n"
        for c in Self.natChains { t += ":\(c) - [0:0]\n" }
        t += "-A KUBE-POSTROUTING -m comment --comment \"Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose\" -m set --match-set \(loopbackSet) dst,dst,src -j MASQUERADE\n"
        t += "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
        t += "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
        t += "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
        t += "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
        if config.masqueradeAll {
            t += "-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set \(clusterIPSet) dst,dst -j KUBE-MARK-MASQ\n"
        } else if let cidr = config.clusterCIDR, cidr.family == family {
            t += "-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" ! -s \(cidr.network)/\(cidr.prefixLength) -m set --match-set \(clusterIPSet) dst,dst -j KUBE-MARK-MASQ\n"
        }
        t += "-A KUBE-SERVICES -m comment --comment \"Kubernetes service external ip + port for masquerade and filter purpose\" -m set --match-set \(externalIPSet) dst,dst -j KUBE-MARK-MASQ\n"
        t += "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT\n"
        for proto in TransportProtocol.allCases {
            t += "-A KUBE-NODE-PORT -p \(proto.rawValue) -m comment --comment \"Kubernetes nodeport \(proto.rawValue.uppercased()) port for masquerade purpose\" -m set --match-set \(nodePortSet(proto)) dst -j KUBE-MARK-MASQ\n"
        }
        t += "COMMIT\n"
        return t
    }

    /// `ipset restore` lines that create every set (idempotent with `-exist`).
    func createSetLines() -> String {
        let inet = family == .ip ? "inet" : "inet6"
        var t = "create \(clusterIPSet) hash:ip,port family \(inet)\n"
        t += "create \(externalIPSet) hash:ip,port family \(inet)\n"
        t += "create \(loopbackSet) hash:ip,port,ip family \(inet)\n"
        for proto in TransportProtocol.allCases { t += "create \(nodePortSet(proto)) bitmap:port range 0-65535\n" }
        return t
    }

    // MARK: Syncing

    private func fullSync(_ state: ProxyState, _ p: inout Programmed) throws {
        try sysctl?.set("net.ipv4.vs.conntrack", "1") // lets iptables' MASQUERADE see IPVS flows
        try sysctl?.set("net.ipv4.vs.expire_nodest_conn", "1")
        try sysctl?.set("net.ipv4.vs.expire_quiescent_template", "1")
        try device.ensure()
        var next: [ServicePortName: Rendered] = [:]
        for (name, info) in state.services {
            if let r = render(info, state.endpoints[name] ?? []) { next[name] = r }
        }
        if let ipset {
            var text = createSetLines()
            for set in allSets { text += "flush \(set)\n" }
            for entry in Set(next.values.flatMap(\.ipsetEntries)).sorted() { text += "add \(entry)\n" }
            try ipset.restore(text)
        }
        if let iptables {
            try iptables.restore(natRules())
            for j in Self.jumps { try iptables.ensureRule(table: j.table, chain: j.chain, j.rule) }
        }
        let bound = try device.addresses()
        var wanted: [VirtualServer.Key: Desired] = [:]
        for r in next.values { wanted.merge(r.servers) { a, _ in a } }
        let kernel = Dictionary(try ipvs.services().map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for (key, desired) in wanted.sorted(by: { $0.key < $1.key }) {
            if let existing = kernel[key] {
                if existing != desired.service { try ipvs.updateService(desired.service) }
                let current = Dictionary(try ipvs.destinations(of: key).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
                try reconcile(key, current: current, wanted: desired.destinations, &p)
            } else {
                try ipvs.addService(desired.service)
                for dest in desired.destinations.sorted() { try ipvs.addDestination(RealServer(key: dest), to: key) }
                p.draining[key] = nil
            }
        }
        // Virtual servers of ours (on a bound address or programmed before) that are no longer wanted.
        let previous = Set(p.services.values.flatMap(\.servers.keys))
        for key in kernel.keys.sorted() where wanted[key] == nil && (bound.contains(key.address) || previous.contains(key)) {
            try ipvs.deleteService(key)
            p.draining[key] = nil
        }
        var users: [NFTables.IPAddress: Int] = [:]
        for r in next.values { for a in r.addresses { users[a, default: 0] += 1 } }
        for a in Set(users.keys).subtracting(bound).sorted() { try device.bind(a) }
        for a in bound.subtracting(users.keys).sorted() { try device.unbind(a) }
        p.services = next
        p.addressUsers = users
    }

    /// Brings the real servers of `key` from `current` (the kernel's) to `wanted`: adds the new,
    /// restores weight 1 to returning ones, and starts draining the removed.
    private func reconcile(_ key: VirtualServer.Key, current: [RealServer.Key: RealServer], wanted: Set<RealServer.Key>, _ p: inout Programmed) throws {
        for dest in wanted.sorted() {
            if let existing = current[dest] {
                if existing.weight == 0 { try ipvs.updateDestination(RealServer(key: dest), in: key) }
            } else {
                try ipvs.addDestination(RealServer(key: dest), to: key)
            }
            p.draining[key]?.remove(dest)
        }
        for (dest, existing) in current where !wanted.contains(dest) {
            if existing.weight != 0 {
                var quiesced = existing
                quiesced.weight = 0
                try ipvs.updateDestination(quiesced, in: key)
            }
            p.draining[key, default: []].insert(dest)
        }
        if p.draining[key]?.isEmpty == true { p.draining[key] = nil }
    }

    private func partialSync(_ state: ProxyState, changed: Set<ServicePortName>, _ p: inout Programmed) throws {
        var addEntries: [String] = []
        var delEntries: [String] = []
        for name in changed.sorted() {
            let old = p.services[name] ?? Rendered()
            let new = state.services[name].flatMap { render($0, state.endpoints[name] ?? []) } ?? Rendered()
            if old == new { continue }
            for (key, desired) in new.servers.sorted(by: { $0.key < $1.key }) {
                if let before = old.servers[key] {
                    if before.service != desired.service { try ipvs.updateService(desired.service) }
                    if before.destinations != desired.destinations {
                        // What the kernel has: the previously wanted plus any still draining.
                        var current: [RealServer.Key: RealServer] = [:]
                        for d in before.destinations { current[d] = RealServer(key: d) }
                        for d in p.draining[key] ?? [] { current[d] = RealServer(key: d, weight: 0) }
                        try reconcile(key, current: current, wanted: desired.destinations, &p)
                    }
                } else {
                    try ipvs.addService(desired.service)
                    for dest in desired.destinations.sorted() { try ipvs.addDestination(RealServer(key: dest), to: key) }
                }
            }
            for key in old.servers.keys.sorted() where new.servers[key] == nil {
                try ipvs.deleteService(key)
                p.draining[key] = nil
            }
            for a in new.addresses.subtracting(old.addresses).sorted() {
                p.addressUsers[a, default: 0] += 1
                if p.addressUsers[a] == 1 { try device.bind(a) }
            }
            for a in old.addresses.subtracting(new.addresses).sorted() {
                p.addressUsers[a, default: 1] -= 1
                if p.addressUsers[a]! <= 0 {
                    p.addressUsers[a] = nil
                    try device.unbind(a)
                }
            }
            addEntries += new.ipsetEntries.subtracting(old.ipsetEntries)
            delEntries += old.ipsetEntries.subtracting(new.ipsetEntries)
            p.services[name] = state.services[name] == nil ? nil : new
        }
        if let ipset, !(addEntries.isEmpty && delEntries.isEmpty) {
            // A node port shared by TCP entries of two Services stays while either uses it.
            let stillUsed = Set(p.services.values.flatMap(\.ipsetEntries))
            var text = ""
            for entry in delEntries.sorted() where !stillUsed.contains(entry) { text += "del \(entry)\n" }
            for entry in addEntries.sorted() { text += "add \(entry)\n" }
            if !text.isEmpty { try ipset.restore(text) }
        }
    }

    /// Deletes draining real servers the kernel reports without connections, and forgets ones
    /// that are gone. UDP and SCTP ones go at once, as upstream.
    private func drain(_ p: inout Programmed) throws {
        for (key, dests) in p.draining.sorted(by: { $0.key < $1.key }) {
            let current = Dictionary(try ipvs.destinations(of: key).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            var remaining = dests
            for dest in dests.sorted() {
                guard let existing = current[dest] else {
                    remaining.remove(dest)
                    continue
                }
                if key.protocol != .tcp || existing.connections == 0 {
                    try ipvs.deleteDestination(dest, from: key)
                    remaining.remove(dest)
                }
            }
            p.draining[key] = remaining.isEmpty ? nil : remaining
        }
    }
}

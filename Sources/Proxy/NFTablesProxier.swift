import Crypto

import NFTables
import Synchronization

/// The nftables backend: one private table per family (`table ip nodekit-proxy`), Services
/// dispatched through verdict maps keyed by `daddr . l4proto . dport`.
///
/// Object layout (see docs/proxy.md for the measurements behind it):
/// - global verdict maps `service-ips`, `service-nodeports`, `no-endpoint-services`,
///   `no-endpoint-nodeports`, looked up from a few base-chain rules;
/// - per Service port a chain `service-HASH-ns/name/proto/port` that picks an endpoint with
///   one `numgen random mod K 0 goto` rule per endpoint (probability 1/K for the remaining K),
///   and per endpoint a chain `endpoint-HASH-...__ip/port` that marks hairpin traffic and DNATs.
///   Unlike upstream's anonymous `numgen ... vmap` per Service, this creates no set per Service
///   (the kernel resolves sets by walking lists and validates each map bound to many chains
///   once per chain, which makes upstream's shape superlinear here);
/// - session affinity as upstream: one timeout set per endpoint, `update @set { ip saddr }`.
///
/// Each sync is one atomic transaction. Thread-safe: syncs are serialised by a mutex.
public final class NFTablesProxier: ProxyBackend {
    public let mode = "nftables"
    public static let defaultTableName = "nodekit-proxy"
    /// The packet mark bit that tells the postrouting chain to masquerade (upstream's 0x4000).
    public static let masqueradeMark: UInt32 = 0x4000

    public let family: Family
    public let tableName: String
    private let nft: any NFTablesInterface
    private let config: Config

    /// Rendering options.
    public struct Config: Sendable {
        /// Node port addresses; empty means every local address except loopback.
        public var nodePortAddresses: [CIDR]
        /// The pod network: cluster-IP traffic from outside it is masqueraded. Nil: only hairpin
        /// and external traffic is masqueraded.
        public var clusterCIDR: CIDR?
        /// Masquerade all Service traffic.
        public var masqueradeAll: Bool

        public init(nodePortAddresses: [CIDR] = [], clusterCIDR: CIDR? = nil, masqueradeAll: Bool = false) {
            self.nodePortAddresses = nodePortAddresses
            self.clusterCIDR = clusterCIDR
            self.masqueradeAll = masqueradeAll
        }
    }

    private struct Programmed {
        var services: [ServicePortName: ServiceObjects] = [:]
        var valid = false
    }
    private let programmed = Mutex(Programmed())

    public init(family: Family, nft: any NFTablesInterface, tableName: String = NFTablesProxier.defaultTableName, config: Config = Config()) {
        self.family = family
        self.nft = nft
        self.tableName = tableName
        self.config = config
    }

    // MARK: ProxyBackend

    public func sync(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws {
        try programmed.withLock { p in
            var tx = Transaction(family: family, table: tableName)
            var next = p.services
            if kind == .full || !p.valid {
                tx.add(.addTable)
                tx.add(.deleteTable)
                next = [:]
                for (name, info) in state.services {
                    if let objects = render(name, info, state.endpoints[name] ?? []) { next[name] = objects }
                }
                renderFull(next, into: &tx)
            } else {
                for name in changed.sorted() {
                    let new = state.services[name].flatMap { render(name, $0, state.endpoints[name] ?? []) }
                    let old = p.services[name]
                    if old == new { continue }
                    next[name] = new
                    renderDiff(old: old ?? ServiceObjects(), new: new ?? ServiceObjects(), into: &tx)
                }
            }
            if tx.isEmpty { return }
            do { try nft.apply(tx) } catch {
                p.valid = false
                throw error
            }
            p.services = next
            p.valid = true
        }
    }

    public func cleanup() throws {
        var tx = Transaction(family: family, table: tableName)
        tx.add(.addTable)
        tx.add(.deleteTable)
        try nft.apply(tx)
        programmed.withLock { $0 = Programmed() }
    }

    public func describeRules() -> String {
        programmed.withLock { p in
            var tx = Transaction(family: family, table: tableName)
            renderFull(p.services, into: &tx)
            return Self.sortedDump(tx)
        }
    }

    /// The transaction a full sync of `state` would apply (for golden tests and `nft -f` baselines).
    public func fullTransaction(_ state: ProxyState) -> Transaction {
        var tx = Transaction(family: family, table: tableName)
        tx.add(.addTable)
        var objects: [ServicePortName: ServiceObjects] = [:]
        for (name, info) in state.services {
            if let o = render(name, info, state.endpoints[name] ?? []) { objects[name] = o }
        }
        renderFull(objects, into: &tx)
        return tx
    }

    /// A transaction's text with objects sorted (rules keep their order within each chain,
    /// since order is meaning there) and element lists split one per line: stable across map
    /// iteration order, for golden files.
    public static func sortedDump(_ tx: Transaction) -> String {
        var keyed: [(key: String, index: Int, line: String)] = []
        let rulePrefix = "add rule \(tx.family.rawValue) \(tx.table) "
        for (i, line) in tx.render().split(separator: "\n").enumerated() {
            if line.hasPrefix("add element "), let open = line.firstIndex(of: "{") {
                let head = line[..<open]
                let body = line[line.index(after: open)...].dropLast(2)
                for e in body.split(separator: ",") {
                    let text = "\(head){ \(e.split(separator: " ").joined(separator: " ")) }"
                    keyed.append((text, 0, text))
                }
            } else if line.hasPrefix(rulePrefix) {
                let chain = line.dropFirst(rulePrefix.count).prefix { $0 != " " }
                keyed.append((rulePrefix + chain, i, String(line)))
            } else {
                keyed.append((String(line), 0, String(line)))
            }
        }
        keyed.sort { $0.key != $1.key ? $0.key < $1.key : $0.index < $1.index }
        return keyed.map(\.line).joined(separator: "\n") + "\n"
    }

    // MARK: Rendering

    /// Everything one Service port owns in the table.
    struct ServiceObjects: Equatable {
        var chains: [String: [Rule]] = [:]
        var sets: [String: NamedSet] = [:]
        /// Elements by map name.
        var elements: [String: [Element]] = [:]
    }

    static let serviceIPs = "service-ips"
    static let serviceNodePorts = "service-nodeports"
    static let noEndpointServices = "no-endpoint-services"
    static let noEndpointNodePorts = "no-endpoint-nodeports"
    static let markChain = "mark-for-masquerade"
    /// The regular chain that sets the masquerade mark (a jump target for other tables' tools).
    public static var markChainName: String { markChain }
    static let rejectChain = "reject-chain"

    private func renderFull(_ services: [ServicePortName: ServiceObjects], into tx: inout Transaction) {
        tx.add(.addTable)
        let f = family
        let addrKey: [KeyPart] = [.daddr(f), .l4proto, .dport]
        let portKey: [KeyPart] = [.l4proto, .dport]
        for (name, key) in [(Self.serviceIPs, addrKey), (Self.serviceNodePorts, portKey),
                            (Self.noEndpointServices, addrKey), (Self.noEndpointNodePorts, portKey)] {
            tx.add(.addSet(NamedSet(name, key: key, isVerdictMap: true)))
        }
        var chains: [(Chain, [Rule])] = []
        let loopback = CIDR(f == .ip ? "127.0.0.0/8" : "::1/128")!
        func nodePortRules(_ map: String) -> [Rule] {
            let families = config.nodePortAddresses.filter { $0.family == f }
            if config.nodePortAddresses.isEmpty {
                return [Rule(.fibDaddrLocal, .daddr(loopback, negated: true), .vmap(portKey, map))]
            }
            return families.map { Rule(.daddr($0), .fibDaddrLocal, .vmap(portKey, map)) }
        }
        chains.append((Chain(Self.markChain), [Rule(.markOr(Self.masqueradeMark))]))
        // TCP gets a reset rather than ICMP: the kernel rate-limits ICMP errors per peer (and
        // shares the budget with redirects), so ICMP alone lets repeated connects hang.
        chains.append((Chain(Self.rejectChain), [Rule(.l4proto(.tcp), .rejectTCPReset), Rule(.reject)]))
        chains.append((Chain("masquerading"), [
            Rule(.markHas(Self.masqueradeMark, negated: true), .verdict(.return)),
            Rule(.markXor(Self.masqueradeMark)),
            Rule(.masquerade),
        ]))
        chains.append((Chain("services"), [Rule(.vmap(addrKey, Self.serviceIPs))] + nodePortRules(Self.serviceNodePorts)))
        chains.append((Chain("service-endpoints-check"), [Rule(.vmap(addrKey, Self.noEndpointServices))] + nodePortRules(Self.noEndpointNodePorts)))
        chains.append((Chain("nat-prerouting", base: .init(type: .nat, hook: .prerouting, priority: -100)), [Rule(.verdict(.jump("services")))]))
        chains.append((Chain("nat-output", base: .init(type: .nat, hook: .output, priority: -100)), [Rule(.verdict(.jump("services")))]))
        chains.append((Chain("nat-postrouting", base: .init(type: .nat, hook: .postrouting, priority: 100)), [Rule(.verdict(.jump("masquerading")))]))
        for hook in [Hook.input, .forward, .output] {
            chains.append((Chain("filter-\(hook.rawValue)", base: .init(type: .filter, hook: hook, priority: -110)),
                           [Rule(.ctStateNew, .verdict(.jump("service-endpoints-check")))]))
        }
        // Regular chains first, so every jump target exists when a rule naming it is added.
        for (c, _) in chains where c.base == nil { tx.add(.addChain(c)) }
        // Order between Services does not matter to the kernel (only objects before their
        // users), and sorting 10k names costs more than the rest of this function.
        for o in services.values {
            for s in o.sets.values { tx.add(.addSet(s)) }
            for c in o.chains.keys { tx.add(.addChain(Chain(c))) }
        }
        for o in services.values {
            for (c, rules) in o.chains { for r in rules { tx.add(.addRule(chain: c, r)) } }
        }
        var elements: [String: [Element]] = [:]
        for o in services.values { for (m, e) in o.elements { elements[m, default: []] += e } }
        for m in elements.keys.sorted() { tx.add(.addElements(set: m, elements[m]!)) }
        for (c, rules) in chains where c.base == nil { for r in rules { tx.add(.addRule(chain: c.name, r)) } }
        for (c, rules) in chains where c.base != nil {
            tx.add(.addChain(c))
            for r in rules { tx.add(.addRule(chain: c.name, r)) }
        }
    }

    private func renderDiff(old: ServiceObjects, new: ServiceObjects, into tx: inout Transaction) {
        for m in old.elements.keys.sorted() {
            let keep = Set(new.elements[m] ?? [])
            let gone = old.elements[m]!.filter { !keep.contains($0) }
            if !gone.isEmpty { tx.add(.deleteElements(set: m, gone)) }
        }
        for c in old.chains.keys.sorted() where new.chains[c] != old.chains[c] { tx.add(.flushChain(c)) }
        for c in old.chains.keys.sorted() where new.chains[c] == nil { tx.add(.deleteChain(c)) }
        for s in old.sets.keys.sorted() where new.sets[s] != old.sets[s] { tx.add(.deleteSet(s)) }
        for s in new.sets.keys.sorted() where new.sets[s] != old.sets[s] { tx.add(.addSet(new.sets[s]!)) }
        for c in new.chains.keys.sorted() where old.chains[c] == nil { tx.add(.addChain(Chain(c))) }
        for c in new.chains.keys.sorted() where new.chains[c] != old.chains[c] {
            for r in new.chains[c]! { tx.add(.addRule(chain: c, r)) }
        }
        for m in new.elements.keys.sorted() {
            let had = Set(old.elements[m] ?? [])
            let added = new.elements[m]!.filter { !had.contains($0) }
            if !added.isEmpty { tx.add(.addElements(set: m, added)) }
        }
    }

    /// Upstream's chain-name hash: base32 of SHA-256, truncated.
    static func hash(_ text: String, length: Int) -> String {
        // Only the first ceil(length·5/8) bytes of the digest reach the output.
        let digest = SHA256.hash(data: Array(text.utf8)).prefix((length * 5 + 7) / 8)
        return String(base32(Array(digest)).prefix(length))
    }

    static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for b in bytes {
            buffer = buffer << 8 | UInt32(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Renders one Service port; nil when it has no address in this table's family.
    func render(_ name: ServicePortName, _ info: ServicePortInfo, _ allEndpoints: [EndpointInfo]) -> ServiceObjects? {
        let f = family
        let clusterIPs = info.clusterIPs.filter { $0.family == f }
        guard !clusterIPs.isEmpty else { return nil }
        let endpoints = allEndpoints.filter { $0.ip.family == f }
        let selection = EndpointSelection(service: info, endpoints: endpoints)
        let proto = info.protocol
        let base = "\(Self.hash(name.description + proto.rawValue, length: 8))-\(name.namespace)/\(name.name)/\(proto.rawValue)/\(name.port)"
        let serviceChain = "service-\(base)"
        let externalChain = "external-\(base)"
        let localChain = "local-\(base)"
        let firewallChain = "firewall-\(base)"
        var o = ServiceObjects()

        let hashPrefix = name.description + proto.rawValue
        let suffix = "\(name.namespace)/\(name.name)/\(proto.rawValue)/\(name.port)__"
        // Each endpoint's name is hashed once, however many rules name its chain.
        var endpointNames: [EndpointInfo: String] = [:]
        func endpointName(_ ep: EndpointInfo) -> String {
            if let n = endpointNames[ep] { return n }
            let n = "\(Self.hash(hashPrefix + ep.description, length: 8))-\(suffix)\(ep.ip)/\(ep.port)"
            endpointNames[ep] = n
            return n
        }
        func endpointChain(_ ep: EndpointInfo) -> String { "endpoint-" + endpointName(ep) }
        func affinitySet(_ ep: EndpointInfo) -> String { "affinity-" + endpointName(ep) }

        /// Rules that pick one of `eps` uniformly (or the affine one), ending in a goto.
        func dispatch(_ eps: [EndpointInfo]) -> [Rule] {
            var rules: [Rule] = []
            if info.affinityTimeoutSeconds != nil {
                for ep in eps { rules.append(Rule(.saddrInSet(f, affinitySet(ep)), .verdict(.goto(endpointChain(ep))))) }
            }
            for (i, ep) in eps.enumerated() {
                let remaining = eps.count - i
                rules.append(remaining > 1
                    ? Rule(.numgenRandomZero(modulus: UInt32(remaining)), .verdict(.goto(endpointChain(ep))))
                    : Rule(.verdict(.goto(endpointChain(ep)))))
            }
            return rules
        }

        for ep in Set(selection.cluster + selection.local) {
            var rules = [Rule(.saddr(CIDR(host: ep.ip)), .verdict(.jump(Self.markChain)))]
            if let timeout = info.affinityTimeoutSeconds {
                o.sets[affinitySet(ep)] = NamedSet(affinitySet(ep), key: [.saddr(f)], isVerdictMap: false, timeoutSeconds: timeout)
                rules.append(Rule(.updateSaddr(f, affinitySet(ep))))
            }
            rules.append(Rule(.l4proto(proto), .dnat(ep.ip, ep.port)))
            o.chains[endpointChain(ep)] = rules
        }

        let reject = Element(key: [], verdict: .goto(Self.rejectChain))
        func add(_ map: String, _ key: [KeyValue], _ verdict: Verdict) {
            o.elements[map, default: []].append(Element(key: key, verdict: verdict))
        }

        if selection.cluster.isEmpty {
            for ip in clusterIPs { add(Self.noEndpointServices, [.address(ip), .proto(proto), .port(info.port)], reject.verdict!) }
        } else {
            var rules: [Rule] = []
            if config.masqueradeAll {
                rules.append(Rule(.verdict(.jump(Self.markChain))))
            } else if let cidr = config.clusterCIDR, cidr.family == f {
                for ip in clusterIPs {
                    rules.append(Rule(.daddr(CIDR(host: ip)), .dport(proto, info.port), .saddr(cidr, negated: true), .verdict(.jump(Self.markChain))))
                }
            }
            o.chains[serviceChain] = rules + dispatch(selection.cluster)
            for ip in clusterIPs { add(Self.serviceIPs, [.address(ip), .proto(proto), .port(info.port)], .goto(serviceChain)) }
        }

        if info.hasExternalDestinations {
            let usable = info.externalPolicyLocal ? !(selection.local.isEmpty && selection.cluster.isEmpty) : !selection.cluster.isEmpty
            let externalIPs = info.externalIPs.filter { $0.family == f }
            let lbIPs = info.loadBalancerIngressIPs.filter { $0.family == f }
            if usable {
                if info.externalPolicyLocal {
                    var rules: [Rule] = []
                    // Traffic from this node itself keeps cluster semantics (upstream does the same).
                    if !selection.cluster.isEmpty {
                        rules.append(Rule(.fibSaddrLocal, .verdict(.jump(Self.markChain))))
                        rules.append(Rule(.fibSaddrLocal, .verdict(.goto(serviceChain))))
                    }
                    rules.append(Rule(.verdict(.goto(localChain))))
                    o.chains[externalChain] = rules
                    // No local endpoint: drop external traffic rather than send it off-node.
                    o.chains[localChain] = selection.local.isEmpty ? [Rule(.verdict(.drop))] : dispatch(selection.local)
                } else {
                    o.chains[externalChain] = [Rule(.verdict(.jump(Self.markChain))), Rule(.verdict(.goto(serviceChain)))]
                }
                for ip in externalIPs { add(Self.serviceIPs, [.address(ip), .proto(proto), .port(info.port)], .goto(externalChain)) }
                let ranges = info.loadBalancerSourceRanges.filter { $0.family == f }
                if !lbIPs.isEmpty && !ranges.isEmpty {
                    o.chains[firewallChain] = ranges.map { Rule(.saddr($0), .verdict(.goto(externalChain))) } + [Rule(.verdict(.drop))]
                }
                for ip in lbIPs {
                    add(Self.serviceIPs, [.address(ip), .proto(proto), .port(info.port)], .goto(ranges.isEmpty ? externalChain : firewallChain))
                }
                if info.nodePort != 0 { add(Self.serviceNodePorts, [.proto(proto), .port(info.nodePort)], .goto(externalChain)) }
            } else {
                for ip in externalIPs + lbIPs { add(Self.noEndpointServices, [.address(ip), .proto(proto), .port(info.port)], reject.verdict!) }
                if info.nodePort != 0 { add(Self.noEndpointNodePorts, [.proto(proto), .port(info.nodePort)], reject.verdict!) }
            }
        }
        return o
    }
}

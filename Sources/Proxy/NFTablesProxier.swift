import Crypto
import Dispatch

import NFTables
import Synchronization

/// The nftables backend: one private table per family (`table ip nodekit-proxy`), Services
/// dispatched through verdict maps keyed by `daddr . l4proto . dport`.
///
/// Object layout (docs/proxy-bench.md has the measurements behind it). The kernel's cost is per
/// object, and every commit that adds a jump or goto (a rule or a verdict-map element) makes it
/// re-validate every chain reachable from the base chains; that walk is cheap over a few shared
/// chains and expensive over one chain per Service. So:
/// - global verdict maps `service-ips`, `service-nodeports`, `no-endpoint-services`,
///   `no-endpoint-nodeports`, looked up from a few base-chain rules;
/// - a Service port reached only by its ClusterIPs, without session affinity (the common case),
///   owns **no chain**: its `service-ips` element is `goto dispatch-M` (M = its endpoint count),
///   a chain shared by every Service with M endpoints, whose rule is
///   `dnat to ip daddr . meta l4proto . th dport . numgen random mod M map @service-endpoints`;
///   the Service's M `service-endpoints` elements map `clusterIP . proto . port . i` to endpoint
///   i. An endpoint change that keeps M changes only data-map elements, which the kernel does
///   not re-validate;
/// - a Service port with external destinations (externalIPs, load-balancer IPs, NodePorts) or
///   session affinity keeps a chain `service-HASH-ns/name/proto/port` that picks an endpoint
///   with one `numgen random mod K 0 ... dnat` rule per endpoint (probability 1/K for the
///   remaining K); `external-`, `local-` and `firewall-` chains as upstream's;
/// - session affinity as upstream: one timeout set and chain per endpoint,
///   `update @set { ip saddr }` then DNAT;
/// - hairpin traffic (an endpoint reaching itself through a Service) is masqueraded in
///   postrouting by one lookup, `ip saddr . ip daddr @hairpin ct status dnat`, whose `EP . EP`
///   elements are reference-counted over the Service ports that DNAT to EP.
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
        /// For each endpoint count M, how many programmed Service ports goto `dispatch-M`: the
        /// chain exists while the count is above zero.
        var dispatchReferences: [Int: Int] = [:]
        /// For each endpoint address, how many programmed Service ports DNAT to it: its
        /// `hairpin` element exists while the count is above zero.
        var hairpinReferences: [IPAddress: Int] = [:]
        /// Elements in each global map, and the size it was created with at the last full sync.
        var elementCounts: [String: Int] = [:]
        var sizes: [String: UInt32] = [:]
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
            // The bookkeeping is updated in place (copying it would cost O(N) per partial
            // sync); if the kernel then rejects the batch, `valid` stays false and the next
            // sync rebuilds everything from the state.
            var full = kind == .full || !p.valid
            if !full {
                var diffs: [(old: ServiceObjects, new: ServiceObjects)] = []
                for name in changed.sorted() {
                    let new = state.services[name].flatMap { render(name, $0, state.endpoints[name] ?? []) }
                    let old = p.services[name]
                    if old == new { continue }
                    p.services[name] = new
                    diffs.append((old ?? ServiceObjects(), new ?? ServiceObjects()))
                }
                if diffs.isEmpty { return }
                p.valid = false
                // A global map is created with a size at each full sync; a partial sync that
                // could fill one (counting every new element as added) becomes a full sync,
                // which sizes the maps afresh.
                var adding: [String: Int] = [:]
                for d in diffs {
                    for (m, e) in d.new.elements { adding[m, default: 0] += e.count }
                    adding[Self.hairpin, default: 0] += d.new.hairpin.count
                }
                let counts = p.elementCounts.merging([Self.hairpin: p.hairpinReferences.count]) { $1 }
                full = adding.contains { m, n in (counts[m] ?? 0) + n > Int(p.sizes[m] ?? 0) }
                if !full { partial(diffs, &p, into: &tx) }
            }
            if full {
                p.valid = false
                tx.add(.addTable)
                tx.add(.deleteTable)
                p.services = state.renderEach { render($0, $1, $2) }
                let r = renderFull(p.services, into: &tx)
                (p.dispatchReferences, p.hairpinReferences, p.elementCounts, p.sizes) = (r.dispatch, r.hairpin, r.elementCounts, r.sizes)
            }
            if tx.isEmpty {
                p.valid = true
                return
            }
            try nft.apply(tx)
            p.valid = true
        }
    }

    /// Adds to `tx` the changes `diffs` make, and updates the reference counts and element
    /// counts in `p` to match.
    private func partial(_ diffs: [(old: ServiceObjects, new: ServiceObjects)], _ p: inout Programmed, into tx: inout Transaction) {
        for d in diffs {
            for (m, e) in d.old.elements { p.elementCounts[m, default: 0] -= e.count }
            for (m, e) in d.new.elements { p.elementCounts[m, default: 0] += e.count }
        }
        let touchedDispatch = Set(diffs.flatMap { $0.old.dispatch + $0.new.dispatch }).sorted()
        let touchedHairpin = Set(diffs.flatMap { $0.old.hairpin + $0.new.hairpin }).sorted()
        let dispatchBefore = touchedDispatch.map { p.dispatchReferences[$0] ?? 0 }
        let hairpinBefore = touchedHairpin.map { p.hairpinReferences[$0] ?? 0 }
        for d in diffs {
            for m in d.old.dispatch { p.dispatchReferences[m, default: 0] -= 1 }
            for m in d.new.dispatch { p.dispatchReferences[m, default: 0] += 1 }
            for ip in d.old.hairpin { p.hairpinReferences[ip, default: 0] -= 1 }
            for ip in d.new.hairpin { p.hairpinReferences[ip, default: 0] += 1 }
        }
        // Shared dispatch chains come first (the elements below may goto them) and go
        // last (after the elements that went to them are deleted).
        var unusedDispatch: [Int] = []
        for (m, before) in zip(touchedDispatch, dispatchBefore) {
            let after = p.dispatchReferences[m] ?? 0
            if after == 0 { p.dispatchReferences[m] = nil }
            if before == 0 && after > 0 { addDispatchChain(m, into: &tx) }
            if before > 0 && after == 0 { unusedDispatch.append(m) }
        }
        for d in diffs { renderDiff(old: d.old, new: d.new, into: &tx) }
        for m in unusedDispatch {
            tx.add(.flushChain(Self.dispatchChain(m)))
            tx.add(.deleteChain(Self.dispatchChain(m)))
        }
        var gone: [IPAddress] = []
        var added: [IPAddress] = []
        for (ip, before) in zip(touchedHairpin, hairpinBefore) {
            let after = p.hairpinReferences[ip] ?? 0
            if after == 0 { p.hairpinReferences[ip] = nil }
            if before > 0 && after == 0 { gone.append(ip) }
            if before == 0 && after > 0 { added.append(ip) }
        }
        if !gone.isEmpty { tx.add(.deleteElements(set: Self.hairpin, gone.map(Self.hairpinElement))) }
        if !added.isEmpty { tx.add(.addElements(set: Self.hairpin, added.map(Self.hairpinElement))) }
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
            _ = renderFull(p.services, into: &tx)
            return Self.sortedDump(tx)
        }
    }

    /// The transaction a full sync of `state` would apply (for golden tests and `nft -f` baselines).
    public func fullTransaction(_ state: ProxyState) -> Transaction {
        var tx = Transaction(family: family, table: tableName)
        tx.add(.addTable)
        _ = renderFull(state.renderEach { render($0, $1, $2) }, into: &tx)
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
        /// Elements by map name; every key is the Service port's own.
        var elements: [String: [Element]] = [:]
        /// The endpoint counts of the shared `dispatch-M` chains its elements goto.
        var dispatch: [Int] = []
        /// The endpoint addresses it DNATs to (the `hairpin` set's references).
        var hairpin: [IPAddress] = []
    }

    static let serviceIPs = "service-ips"
    static let serviceNodePorts = "service-nodeports"
    static let noEndpointServices = "no-endpoint-services"
    static let noEndpointNodePorts = "no-endpoint-nodeports"
    static let serviceEndpoints = "service-endpoints"
    static let hairpin = "hairpin"
    static let markChain = "mark-for-masquerade"
    /// The regular chain that sets the masquerade mark (a jump target for other tables' tools).
    public static var markChainName: String { markChain }
    static let rejectChain = "reject-chain"

    static func dispatchChain(_ endpoints: Int) -> String { "dispatch-\(endpoints)" }

    static func hairpinElement(_ ip: IPAddress) -> Element { Element(key: [.address(ip), .address(ip)]) }

    /// The shared chain that DNATs a ClusterIP Service port with `endpoints` endpoints to one
    /// of them, chosen uniformly by `numgen`, through `service-endpoints`.
    private func dispatchRules(_ endpoints: Int) -> [Rule] {
        let f = family
        var rules: [Rule] = []
        if config.masqueradeAll {
            rules.append(Rule(.verdict(.jump(Self.markChain))))
        } else if let cidr = config.clusterCIDR, cidr.family == f {
            rules.append(Rule(.saddr(cidr, negated: true), .verdict(.jump(Self.markChain))))
        }
        rules.append(Rule(.dnatMap(f, [.daddr(f), .l4proto, .dport, .numgen(modulus: UInt32(endpoints))], Self.serviceEndpoints)))
        return rules
    }

    private func addDispatchChain(_ endpoints: Int, into tx: inout Transaction) {
        let name = Self.dispatchChain(endpoints)
        tx.add(.addChain(Chain(name)))
        for r in dispatchRules(endpoints) { tx.add(.addRule(chain: name, r)) }
    }

    /// What a full sync programmed: the reference counts of the dispatch chains and hairpin
    /// elements, and each global map's element count and size.
    private struct FullCounts {
        var dispatch: [Int: Int] = [:]
        var hairpin: [IPAddress: Int] = [:]
        var elementCounts: [String: Int] = [:]
        var sizes: [String: UInt32] = [:]
    }

    /// The size a global map holding `count` elements is created with: room to double before
    /// a partial sync must fall back to a full one, in powers of two so that the size (and the
    /// golden text) changes rarely. The kernel allocates a bucket array for the whole size up
    /// front, about 11 bytes per unit of size.
    public static func mapSize(_ count: Int) -> UInt32 {
        var size = 1024
        while size < 2 * count { size *= 2 }
        return UInt32(clamping: size)
    }

    /// Renders the whole table for `services`.
    private func renderFull(_ services: [ServicePortName: ServiceObjects], into tx: inout Transaction) -> FullCounts {
        tx.add(.addTable)
        let f = family
        let addrKey: [KeyPart] = [.daddr(f), .l4proto, .dport]
        let portKey: [KeyPart] = [.l4proto, .dport]
        var counts = FullCounts()
        counts.hairpin.reserveCapacity(services.values.reduce(0) { $0 + $1.hairpin.count })
        for o in services.values {
            for m in o.dispatch { counts.dispatch[m, default: 0] += 1 }
            for ip in o.hairpin { counts.hairpin[ip, default: 0] += 1 }
        }
        var elements: [String: [Element]] = [:]
        for o in services.values { for (m, e) in o.elements { elements[m, default: []] += e } }
        for m in [Self.serviceIPs, Self.serviceNodePorts, Self.noEndpointServices, Self.noEndpointNodePorts, Self.serviceEndpoints] {
            counts.elementCounts[m] = elements[m]?.count ?? 0
            counts.sizes[m] = Self.mapSize(counts.elementCounts[m]!)
        }
        counts.sizes[Self.hairpin] = Self.mapSize(counts.hairpin.count)
        for (name, key) in [(Self.serviceIPs, addrKey), (Self.serviceNodePorts, portKey),
                            (Self.noEndpointServices, addrKey), (Self.noEndpointNodePorts, portKey)] {
            tx.add(.addSet(NamedSet(name, key: key, isVerdictMap: true, size: counts.sizes[name])))
        }
        // The modulus in a key declaration is immaterial: only the part's type and width count.
        tx.add(.addSet(NamedSet(Self.serviceEndpoints, key: addrKey + [.numgen(modulus: 1)], isVerdictMap: false,
                                data: [.daddr(f), .dport], size: counts.sizes[Self.serviceEndpoints])))
        tx.add(.addSet(NamedSet(Self.hairpin, key: [.saddr(f), .daddr(f)], isVerdictMap: false, size: counts.sizes[Self.hairpin])))
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
            // After DNAT, source = destination only for an endpoint that reached itself. The
            // DNAT check keeps it to Service traffic, as upstream's per-endpoint rule: without
            // it, every connection of a host-network endpoint to its own address (any port) was
            // masqueraded too.
            Rule(.inSet([.saddr(f), .daddr(f)], Self.hairpin), .ctStatusDNAT, .verdict(.jump(Self.markChain))),
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
        for m in counts.dispatch.keys.sorted() { chains.append((Chain(Self.dispatchChain(m)), dispatchRules(m))) }
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
        for m in elements.keys.sorted() { tx.add(.addElements(set: m, elements[m]!)) }
        if !counts.hairpin.isEmpty { tx.add(.addElements(set: Self.hairpin, counts.hairpin.keys.map(Self.hairpinElement))) }
        for (c, rules) in chains where c.base == nil { for r in rules { tx.add(.addRule(chain: c.name, r)) } }
        for (c, rules) in chains where c.base != nil {
            tx.add(.addChain(c))
            for r in rules { tx.add(.addRule(chain: c.name, r)) }
        }
        return counts
    }

    /// Changes one Service port's objects from `old` to `new`. Hairpin elements and shared
    /// dispatch chains are the caller's: they are shared between Service ports.
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
        let affinity = info.affinityTimeoutSeconds != nil
        var o = ServiceObjects()
        let reject = Verdict.goto(Self.rejectChain)
        func add(_ map: String, _ key: [KeyValue], _ verdict: Verdict) {
            o.elements[map, default: []].append(Element(key: key, verdict: verdict))
        }
        // Distinct addresses in selection order (a Service has few endpoints: a linear check
        // beats hashing and sorting them, which showed in full syncs of 10k Services).
        for ep in selection.cluster + selection.local where !o.hairpin.contains(ep.ip) { o.hairpin.append(ep.ip) }

        // The common case: no chain of its own (see the type's comment).
        if !affinity && !info.hasExternalDestinations {
            if selection.cluster.isEmpty {
                for ip in clusterIPs { add(Self.noEndpointServices, [.address(ip), .proto(proto), .port(info.port)], reject) }
                return o
            }
            let m = selection.cluster.count
            o.dispatch = [m]
            for ip in clusterIPs {
                add(Self.serviceIPs, [.address(ip), .proto(proto), .port(info.port)], .goto(Self.dispatchChain(m)))
                for (i, ep) in selection.cluster.enumerated() {
                    o.elements[Self.serviceEndpoints, default: []].append(Element(
                        key: [.address(ip), .proto(proto), .port(info.port), .index(UInt32(i))],
                        data: [.address(ep.ip), .port(ep.port)]))
                }
            }
            return o
        }

        let base = "\(Self.hash(name.description + proto.rawValue, length: 8))-\(name.namespace)/\(name.name)/\(proto.rawValue)/\(name.port)"
        let serviceChain = "service-\(base)"
        let externalChain = "external-\(base)"
        let localChain = "local-\(base)"
        let firewallChain = "firewall-\(base)"

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

        /// Rules that pick one of `eps` uniformly (or, with affinity, the affine one) and DNAT:
        /// directly in the rule, or with affinity through the endpoint's chain, which records
        /// the client in the endpoint's affinity set.
        func dispatch(_ eps: [EndpointInfo]) -> [Rule] {
            var rules: [Rule] = []
            if affinity {
                for ep in eps { rules.append(Rule(.saddrInSet(f, affinitySet(ep)), .verdict(.goto(endpointChain(ep))))) }
            }
            for (i, ep) in eps.enumerated() {
                let remaining = eps.count - i
                let pick: [RuleExpr] = remaining > 1 ? [.numgenRandomZero(modulus: UInt32(remaining))] : []
                rules.append(Rule(pick + (affinity ? [.verdict(.goto(endpointChain(ep)))] : [.l4proto(proto), .dnat(ep.ip, ep.port)])))
            }
            return rules
        }

        if let timeout = info.affinityTimeoutSeconds {
            for ep in Set(selection.cluster + selection.local) {
                o.sets[affinitySet(ep)] = NamedSet(affinitySet(ep), key: [.saddr(f)], isVerdictMap: false, timeoutSeconds: timeout)
                o.chains[endpointChain(ep)] = [Rule(.updateSaddr(f, affinitySet(ep))), Rule(.l4proto(proto), .dnat(ep.ip, ep.port))]
            }
        }

        if selection.cluster.isEmpty {
            for ip in clusterIPs { add(Self.noEndpointServices, [.address(ip), .proto(proto), .port(info.port)], reject) }
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
                for ip in externalIPs + lbIPs { add(Self.noEndpointServices, [.address(ip), .proto(proto), .port(info.port)], reject) }
                if info.nodePort != 0 { add(Self.noEndpointNodePorts, [.proto(proto), .port(info.nodePort)], reject) }
            }
        }
        return o
    }
}

extension ProxyState {
    /// `render` applied to every Service port with its endpoints; nil results are left out.
    /// Above 2,000 Service ports the work is split into chunks that run on several threads
    /// (a full sync's rendering is CPU work proportional to N; the kernel's part comes after
    /// it). `render` must be safe to call from several threads at once.
    func renderEach<T: Sendable>(_ render: @Sendable (ServicePortName, ServicePortInfo, [EndpointInfo]) -> T?) -> [ServicePortName: T] {
        let entries = Array(services)
        let chunks = entries.count >= 2000 ? min(8, entries.count / 1000) : 1
        var parts = [[(ServicePortName, T)]](repeating: [], count: chunks)
        parts.withUnsafeMutableBufferPointer { slots in
            // Each chunk writes only its own slot.
            nonisolated(unsafe) let buffer = slots
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let range = (entries.count * c / chunks)..<(entries.count * (c + 1) / chunks)
                var rendered: [(ServicePortName, T)] = []
                rendered.reserveCapacity(range.count)
                for (name, info) in entries[range] {
                    if let r = render(name, info, endpoints[name] ?? []) { rendered.append((name, r)) }
                }
                buffer[c] = rendered
            }
        }
        var out: [ServicePortName: T] = [:]
        out.reserveCapacity(entries.count)
        for part in parts { for (name, r) in part { out[name] = r } }
        return out
    }
}

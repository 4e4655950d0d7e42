import Dispatch
import IPTables
import NFTables
import Synchronization

/// The iptables backend: upstream's KUBE-* chain structure, loaded with one
/// `iptables-restore --noflush` per sync (nat and filter in one input). A full sync is that
/// one restore and nothing else: the jumps from the built-in chains are part of its input
/// (`-I CHAIN 1`) when the kernel lacks them. Whether it lacks them is read (with the leftover
/// chains) by one iptables-save per table at the first full sync and after any failure; later
/// full syncs trust what this process installed (each `iptables -C` of the nat table costs a
/// whole-table read with iptables-legacy: 0.5 s at 10k Services).
///
/// Above 1,000 endpoints (upstream's largeClusterEndpointsThreshold) the rules of the
/// per-Service and per-endpoint chains carry no comments, as upstream's large-cluster mode:
/// that shrinks the restore input by about 40%. The dispatch rules keep theirs (they name the
/// Service for `nodectl proxy rules`).
///
/// Chains, as upstream names them:
/// - nat: `KUBE-SERVICES` (dispatch by destination; its last rule jumps to `KUBE-NODEPORTS`),
///   `KUBE-NODEPORTS`, `KUBE-POSTROUTING` (masquerades marked traffic), `KUBE-MARK-MASQ`, and
///   per Service port `KUBE-SVC-*` (endpoint choice), `KUBE-SVL-*` (local endpoints,
///   externalTrafficPolicy Local), `KUBE-EXT-*` (external traffic), `KUBE-FW-*`
///   (loadBalancerSourceRanges) and per endpoint `KUBE-SEP-*` (hairpin mark + DNAT);
/// - filter: `KUBE-SERVICES` (REJECT cluster IPs without endpoints), `KUBE-EXTERNAL-SERVICES`
///   (REJECT external destinations without endpoints, DROP external traffic without local
///   endpoints), `KUBE-NODEPORTS` (accept health check node ports), `KUBE-FORWARD`,
///   `KUBE-PROXY-FIREWALL` (DROP load-balancer traffic that `KUBE-FW-*` did not accept).
///
/// Rejects of TCP use `--reject-with tcp-reset` (upstream uses ICMP port unreachable, which
/// the kernel rate-limits per peer, so repeated connects can hang instead of failing).
///
/// A full sync flushes and rewrites every chain and deletes stale `KUBE-SVC/SEP/EXT/FW/SVL`
/// chains (on the first full sync, also those a previous process left, found with
/// iptables-save). A partial sync touches only the changed Service ports: their own chains
/// are rewritten or deleted, and their rules in the shared dispatch chains are removed with
/// `-D` and added with `-I`/`-A`, so the restore does not grow with the number of Services
/// (upstream rewrites `KUBE-SERVICES` in full on every sync).
///
/// A full sync streams its text into the running restore in two passes: a first pass plans
/// every Service port (which chains it owns; their names are hashes of the Service and
/// endpoint texts), so that all chains can be declared first, in the order the restore tools
/// load fastest; the second renders one Service port at a time and writes its chains' rules at
/// once, while the tool parses what came before. The shared dispatch rules, which jump to the
/// per-Service chains, follow them; the filter table, whose rules need every Service port
/// rendered, comes last.
///
/// Thread-safe: syncs are serialised by a mutex.
public final class IPTablesProxier: ProxyBackend {
    public let mode = "iptables"
    public let family: Family
    private let ipt: any IPTablesInterface
    private let config: NFTablesProxier.Config

    /// A rule in a chain shared by every Service (`KUBE-SERVICES`, `KUBE-NODEPORTS`, ...).
    struct DispatchRule: Hashable, Comparable {
        var table: String
        var chain: String
        /// The rule after `-A CHAIN`.
        var rule: String

        static func < (a: Self, b: Self) -> Bool { (a.table, a.chain, a.rule) < (b.table, b.chain, b.rule) }
    }

    /// Everything one Service port owns.
    struct Rendered: Equatable {
        /// Its own nat chains (`KUBE-SVC-...`, `KUBE-SEP-...`, ...) and their rules.
        var chains: [String: [String]] = [:]
        /// Its rules in the shared chains.
        var dispatch: [DispatchRule] = []
    }

    /// What the first pass of a sync knows about one Service port: the endpoints it uses, the
    /// chains it owns, and the texts the second pass needs again. ``render(_:largeCluster:)``
    /// writes exactly the chains in ``chainNames``. A class: a full sync sorts and passes
    /// around one per Service port (copies of the struct were a tenth of a sync's CPU at 10k).
    final class Plan: Sendable {
        /// What the Service port does with traffic to its external destinations.
        enum External: Sendable, Equatable {
            /// No node port, external IP or load-balancer IP.
            case absent
            /// No endpoint can take external traffic: filter REJECTs it.
            case rejected
            /// A `KUBE-EXT` chain; `svl`: a `KUBE-SVL` chain (externalTrafficPolicy Local with
            /// local endpoints); `fw`: a `KUBE-FW` chain (load-balancer source ranges).
            case chains(svl: Bool, fw: Bool)
        }

        let name: ServicePortName
        let info: ServicePortInfo
        let clusterIPs: [IPAddress]
        let selection: EndpointSelection
        /// `namespace/name:port`, the comments' text.
        let serviceName: String
        /// The suffix of the Service port's own chains.
        let hash: String
        /// `ip:port` and the `KUBE-SEP` chain of each endpoint in ``selection``.
        let endpoints: [EndpointInfo: (text: String, sep: String)]
        /// The endpoints with a `KUBE-SEP` chain, in order.
        let sepEndpoints: [EndpointInfo]
        let external: External

        init(name: ServicePortName, info: ServicePortInfo, clusterIPs: [IPAddress], selection: EndpointSelection, serviceName: String,
             hash: String, endpoints: [EndpointInfo: (text: String, sep: String)], external: External) {
            self.name = name
            self.info = info
            self.clusterIPs = clusterIPs
            self.selection = selection
            self.serviceName = serviceName
            self.hash = hash
            self.endpoints = endpoints
            sepEndpoints = endpoints.keys.sorted()
            self.external = external
        }

        /// Whether cluster traffic has endpoints (a `KUBE-SVC` chain).
        var hasServiceChain: Bool { !selection.cluster.isEmpty }
        var svc: String { "KUBE-SVC-" + hash }
        var ext: String { "KUBE-EXT-" + hash }
        var fw: String { "KUBE-FW-" + hash }
        var svl: String { "KUBE-SVL-" + hash }

        /// Every nat chain the Service port owns.
        var chainNames: [String] {
            var names = sepEndpoints.map { endpoints[$0]!.sep }
            if hasServiceChain { names.append(svc) }
            if case .chains(let hasSVL, let hasFW) = external {
                names.append(ext)
                if hasSVL { names.append(svl) }
                if hasFW { names.append(fw) }
            }
            return names
        }
    }

    private struct Programmed {
        var services: [ServicePortName: Rendered] = [:]
        var valid = false
        /// True once chains left by an earlier process have been looked for and removed, and
        /// the jumps from the built-in chains are known to be in place.
        var swept = false
        /// The comment mode the programmed chains were rendered in.
        var largeCluster = false
    }

    /// Upstream's largeClusterEndpointsThreshold: above this many endpoints (over all Service
    /// ports), per-Service and per-endpoint rules are written without comments.
    public static let largeClusterEndpointsThreshold = 1000
    private let programmed = Mutex(Programmed())

    static let natChains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    static let filterChains = ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL"]
    /// Prefixes of the per-Service and per-endpoint nat chains.
    static let serviceChainPrefixes = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"]

    /// The jumps from built-in chains into ours, as upstream installs them.
    static let jumps: [(table: String, chain: String, rule: [String])] = {
        let new = ["-m", "conntrack", "--ctstate", "NEW"]
        func comment(_ text: String) -> [String] { ["-m", "comment", "--comment", text] }
        return [
            ("filter", "INPUT", new + comment("kubernetes load balancer firewall") + ["-j", "KUBE-PROXY-FIREWALL"]),
            ("filter", "INPUT", comment("kubernetes health check service ports") + ["-j", "KUBE-NODEPORTS"]),
            ("filter", "INPUT", new + comment("kubernetes externally-visible service portals") + ["-j", "KUBE-EXTERNAL-SERVICES"]),
            ("filter", "FORWARD", new + comment("kubernetes load balancer firewall") + ["-j", "KUBE-PROXY-FIREWALL"]),
            ("filter", "FORWARD", comment("kubernetes forwarding rules") + ["-j", "KUBE-FORWARD"]),
            ("filter", "FORWARD", new + comment("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            ("filter", "FORWARD", new + comment("kubernetes externally-visible service portals") + ["-j", "KUBE-EXTERNAL-SERVICES"]),
            ("filter", "OUTPUT", new + comment("kubernetes load balancer firewall") + ["-j", "KUBE-PROXY-FIREWALL"]),
            ("filter", "OUTPUT", new + comment("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            ("nat", "OUTPUT", comment("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            ("nat", "PREROUTING", comment("kubernetes service portals") + ["-j", "KUBE-SERVICES"]),
            ("nat", "POSTROUTING", comment("kubernetes postrouting rules") + ["-j", "KUBE-POSTROUTING"]),
        ]
    }()

    public init(family: Family, ipt: any IPTablesInterface, config: NFTablesProxier.Config = .init()) {
        self.family = family
        self.ipt = ipt
        self.config = config
    }

    /// Upstream's chain suffix: the first 16 characters of base32(sha256(text)).
    static func hash(_ text: String) -> String { NFTablesProxier.hash(text, length: 16) }

    private var hostSuffix: String { family == .ip ? "/32" : "/128" }

    // MARK: ProxyBackend

    /// Whether `state` is past the large-cluster threshold (upstream counts the endpoints of
    /// every Service port it knows).
    static func isLargeCluster(_ state: ProxyState) -> Bool {
        var total = 0
        for (name, eps) in state.endpoints where state.services[name] != nil { total += eps.count }
        return total > largeClusterEndpointsThreshold
    }

    public func sync(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws {
        try programmed.withLock { p in
            let large = Self.isLargeCluster(state)
            // Crossing the threshold changes every chain's text: rewrite them all at once.
            let full = kind == .full || !p.valid || large != p.largeCluster
            var next = p.services
            if full {
                let needsSave = !p.swept
                var saved: (() throws(IPTablesError) -> [String])?
                var saveError: IPTablesError?
                let previous = p.services
                do {
                    // The restore starts first and parses the text while it is written: the
                    // first pass overlaps the tool's start, rendering overlaps its parsing.
                    try ipt.restore { out in
                        next = writeFullText(to: &out) {
                            let plans = planEach(state)
                            return (plans.flatMap(\.chainNames), plans.lazy.map { ($0.name, self.render($0, largeCluster: large)) })
                        } declared: {
                            // Only the end of the text needs the saved tables. They are read
                            // while the rules are rendered and parsed, and spawned only once the
                            // restore has its chains: each spawn costs the calling thread a few
                            // ms that the tool, idle until then, would wait for. Spawned from
                            // this thread, which is in the proxier's network namespace.
                            if needsSave { saved = ipt.startSave(tables: ["nat", "filter"]) }
                        } tail: { chains in
                            var stale = Set(previous.values.flatMap(\.chains.keys)).subtracting(chains)
                            guard let saved else { return (stale.sorted(), []) }
                            let tables: [String]
                            do throws(IPTablesError) { tables = try saved() } catch {
                                saveError = error
                                return nil
                            }
                            let live = Set(chains)
                            stale.formUnion(leftoverChains(tables[0]).filter { !live.contains($0) })
                            let natLines = IPTablesSave.lines(tables[0]), filterLines = IPTablesSave.lines(tables[1])
                            return (stale.sorted(), Self.jumps.filter { !Self.hasJump($0, in: $0.table == "nat" ? natLines : filterLines) })
                        }
                    }
                } catch {
                    p.valid = false
                    // The next full sync reads the kernel again (leftovers, jumps).
                    p.swept = false
                    // A failed save left the restore without COMMIT (nothing changed): its
                    // error says why.
                    throw saveError ?? error
                }
                p.services = next
                p.valid = true
                p.swept = true
                p.largeCluster = large
                return
            }
            let text: String
            do {
                var removed: [DispatchRule] = [], added: [DispatchRule] = []
                var rewrite: [String: [String]] = [:], stale: [String] = []
                for name in changed.sorted() {
                    let old = p.services[name] ?? Rendered()
                    let new = state.services[name].flatMap { plan(name, $0, state.endpoints[name] ?? []) }.map { render($0, largeCluster: large) }
                    if old == (new ?? Rendered()) { continue }
                    next[name] = new
                    let new_ = new ?? Rendered()
                    let keep = Set(new_.dispatch), had = Set(old.dispatch)
                    removed += old.dispatch.filter { !keep.contains($0) }
                    added += new_.dispatch.filter { !had.contains($0) }
                    for (c, rules) in new_.chains where old.chains[c] != rules { rewrite[c] = rules }
                    stale += old.chains.keys.filter { new_.chains[$0] == nil }
                }
                text = partialText(removed: removed, added: added, rewrite: rewrite, stale: stale.sorted())
            }
            if text.isEmpty { return }
            do { try ipt.restore(text) } catch {
                p.valid = false
                p.swept = false
                throw error
            }
            p.services = next
        }
    }

    /// Removes the jumps and every chain this backend (in any process) created. Idempotent.
    public func cleanup() throws {
        for j in Self.jumps { try ipt.deleteRule(table: j.table, chain: j.chain, j.rule) }
        var text = ""
        for (table, fixed) in [("filter", Self.filterChains), ("nat", Self.natChains)] {
            let saved = try ipt.save(table: table)
            let present = Set(IPTablesSave.chainNames(saved))
            let ours = (fixed.filter { present.contains($0) } + (table == "nat" ? leftoverChains(saved) : [])).sorted()
            if ours.isEmpty { continue }
            // Flush all first (they refer to each other), then delete.
            text += "*\(table)\n" + ours.map { ":\($0) - [0:0]\n" }.joined() + ours.map { "-X \($0)\n" }.joined() + "COMMIT\n"
        }
        if !text.isEmpty { try ipt.restore(text) }
        programmed.withLock { $0 = Programmed() }
    }

    public func describeRules() -> String {
        programmed.withLock { p in
            var text = RestoreInput()
            writeFullText(to: &text) {
                (p.services.values.flatMap(\.chains.keys), p.services.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            } tail: { _ in ([], []) }
            return text.text
        }
    }

    /// The restore text a full sync of `state` writes into tables without the jumps (for
    /// golden tests and baselines).
    public func fullRestoreText(_ state: ProxyState) -> String {
        let large = Self.isLargeCluster(state)
        var text = RestoreInput()
        writeFullText(to: &text) {
            let plans = planEach(state)
            return (plans.flatMap(\.chainNames), plans.lazy.map { ($0.name, self.render($0, largeCluster: large)) })
        } tail: { _ in ([], []) }
        return text.text
    }

    /// The first pass of a full sync: every Service port of this family planned, in name order.
    /// Above 1,000 Service ports and endpoints it runs on several threads: it comes before the
    /// restore's first chain line, and the tool, started already, waits for that line.
    func planEach(_ state: ProxyState) -> [Plan] {
        let entries = Array(state.services)
        // Indices into the names are sorted, not the (name, info) pairs: moving or reading a
        // pair copies the info (retaining each of its arrays), and comparing `ServicePortName`s
        // as tuples builds two tuples per comparison; that was a third of the first pass at 1k.
        let names = entries.map(\.key)
        let order = names.indices.sorted { Self.precedes(names[$0], names[$1]) }
        let work = entries.count + state.endpoints.values.reduce(0) { $0 + $1.count }
        // An even number of chunks above 1,000: on two cores an odd one leaves a chunk alone at the end.
        let chunks = work < 1000 ? 1 : 2 * min(4, max(1, work / 4000))
        var parts = [[Plan]](repeating: [], count: chunks)
        parts.withUnsafeMutableBufferPointer { slots in
            // Each chunk writes only its own slot.
            nonisolated(unsafe) let buffer = slots
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                buffer[c] = order[(order.count * c / chunks)..<(order.count * (c + 1) / chunks)].compactMap { i in
                    let (name, info) = entries[i]
                    return plan(name, info, state.endpoints[name] ?? [])
                }
            }
        }
        return parts.flatMap { $0 }
    }

    /// `a < b` for Service port names (namespace, name, port, protocol), field by field.
    static func precedes(_ a: ServicePortName, _ b: ServicePortName) -> Bool {
        if a.namespace != b.namespace { return a.namespace < b.namespace }
        if a.name != b.name { return a.name < b.name }
        if a.port != b.port { return a.port < b.port }
        return a.protocol.rawValue < b.protocol.rawValue
    }

    /// Rule arguments as restore text (arguments with spaces quoted, as iptables-save prints them).
    static func ruleText(_ rule: [String]) -> String {
        rule.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ")
    }

    /// Whether the iptables-save lines of the jump's table have a rule in its chain with its
    /// comment and target.
    static func hasJump(_ jump: (table: String, chain: String, rule: [String]), in saved: [Substring.UTF8View]) -> Bool {
        let prefix = "-A \(jump.chain) ", target = "-j \(jump.rule.last ?? "")"
        let comment = jump.rule.firstIndex(of: "--comment").map { jump.rule[$0 + 1] } ?? ""
        // Only the built-in chain's lines become Strings: a saved nat table of 10k Services is
        // 7 MB.
        return saved.contains { bytes in
            guard bytes.starts(with: prefix.utf8) else { return false }
            let line = String(Substring(bytes))
            return line.hasSuffix(target) && line.contains(comment)
        }
    }

    // MARK: Restore text

    /// Per-Service nat chains present in `saved` (iptables-save of nat).
    private func leftoverChains(_ saved: String) -> [String] {
        IPTablesSave.chainNames(saved).filter { name in Self.serviceChainPrefixes.contains { name.hasPrefix($0) } }
    }

    private var nodePortJumps: [String] {
        let comment = "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\""
        if config.nodePortAddresses.isEmpty {
            // Not on loopback, as the nftables backend (route_localnet stays off).
            return ["\(comment) ! -d \(family == .ip ? "127.0.0.0/8" : "::1/128") -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"]
        }
        return config.nodePortAddresses.filter { $0.family == family }.map {
            "\(comment) -d \($0.network)/\($0.prefixLength) -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
        }
    }

    /// Writes a full sync's restore text to `out` a piece at a time (a streamed restore parses
    /// it as it comes) and returns what each Service port owns.
    /// - `plan`: every per-Service chain (all are declared before the first rule), and each
    ///   Service port with its rendered chains, in the order their rules are written (a lazy
    ///   sequence renders each as it is reached). Called after the table's first lines are
    ///   handed over, so the tool opens the table while the plan is made.
    /// - `declared`: called once every chain line has been handed over, before the first rule.
    /// - `tail`: given the chains, the stale chains to delete and the jumps from built-in chains
    ///   the kernel lacks (those are inserted at the top, `-I CHAIN 1`, in order, so the last
    ///   listed ends first, as upstream's prepends); nil to stop before the first COMMIT, so
    ///   that the restore fails and changes nothing.
    ///
    /// nat comes first: its per-Service chains are most of the text and can be written as they
    /// are rendered. Then come its dispatch rules (they need every Service port), and the filter
    /// table, whose rules are all dispatch rules.
    @discardableResult
    private func writeFullText<S: Sequence>(to out: inout RestoreInput, plan: () -> (chains: [String], services: S),
                                            declared: () -> Void = {},
                                            tail: ([String]) -> (stale: [String], jumps: [(table: String, chain: String, rule: [String])])?)
        -> [ServicePortName: Rendered] where S.Element == (ServicePortName, Rendered) {
        func line(_ pieces: String...) {
            for piece in pieces { out.write(piece) }
            out.write("\n")
        }
        out.write("*nat\n")
        for c in Self.natChains { line(":", c, " - [0:0]") }
        out.flush()
        let (chains, services) = plan()
        // Per-Service chains are declared in descending name order, which both restore tools
        // load fastest (docs/proxy-bench-iptables.md): libiptc keeps user chains in a sorted
        // list, so each new chain goes first (O(1)) instead of after a walk through its index
        // bucket, and iptables-nft's cache inserts sorted input without a walk. Upstream
        // declares them in Go map order; the rules, and their order in each chain, are upstream's.
        for c in chains.sorted(by: >) { line(":", c, " - [0:0]") }
        out.flush()
        declared()
        out.write("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n")
        out.write("-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n")
        out.write("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
        out.write("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n")
        var rendered: [ServicePortName: Rendered] = [:]
        // Sized once: growing by doubling rehashes every Service port rendered so far.
        rendered.reserveCapacity(services.underestimatedCount)
        var dispatch: [DispatchRule] = []
        for (name, r) in services {
            for c in r.chains.keys.sorted() { for rule in r.chains[c]! { line("-A ", c, " ", rule) } }
            dispatch += r.dispatch
            rendered[name] = r
        }
        dispatch.sort()
        for d in dispatch where d.table == "nat" { line("-A ", d.chain, " ", d.rule) }
        for j in nodePortJumps { line("-A KUBE-SERVICES ", j) }
        guard let end = tail(chains) else { return rendered }
        let (stale, jumps) = end
        // Flushed first, deleted after: stale chains jump to each other.
        for c in stale { line(":", c, " - [0:0]") }
        for c in stale { line("-X ", c) }
        for j in jumps where j.table == "nat" { line("-I ", j.chain, " 1 ", Self.ruleText(j.rule)) }
        out.write("COMMIT\n")

        out.write("*filter\n")
        for c in Self.filterChains { line(":", c, " - [0:0]") }
        out.write("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n")
        out.write("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
        for d in dispatch where d.table == "filter" { line("-A ", d.chain, " ", d.rule) }
        for j in jumps where j.table == "filter" { line("-I ", j.chain, " 1 ", Self.ruleText(j.rule)) }
        out.write("COMMIT\n")
        return rendered
    }

    /// The restore text of a full sync of `state` in the layout upstream's syncProxyRules
    /// writes, for the benchmark's baseline: the fixed chains' lines, then each Service port's
    /// chain lines as it comes (its `KUBE-SVC/SVL/EXT/FW` chains, then its endpoints'
    /// `KUBE-SEP` chains); the fixed rules, then each Service port's rules together (its
    /// dispatch rules, then its chains' rules); the `KUBE-NODEPORTS` jump last. Service ports
    /// come in name order where upstream iterates a Go map (random order: chain names are
    /// hashes either way). The rules are those of ``fullRestoreText(_:)``, line for line, but
    /// for the `-m PROTO` upstream writes in each `KUBE-SEP` DNAT rule.
    public func upstreamLayoutRestoreText(_ state: ProxyState) -> String {
        let large = Self.isLargeCluster(state)
        let services = state.renderEach { plan($0, $1, $2).map { render($0, largeCluster: large, upstreamText: true) } }
        let names = services.keys.sorted()
        func ordered(_ chains: [String: [String]]) -> [String] {
            let own = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-"].flatMap { prefix in chains.keys.filter { $0.hasPrefix(prefix) } }
            return own + chains.keys.filter { $0.hasPrefix("KUBE-SEP-") }.sorted()
        }
        var filter = "*filter\n" + Self.filterChains.map { ":\($0) - [0:0]\n" }.joined()
        filter += "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
        filter += "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        var natChains = "*nat\n" + Self.natChains.map { ":\($0) - [0:0]\n" }.joined()
        var natRules = "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
        natRules += "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
        natRules += "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
        natRules += "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
        for name in names {
            let r = services[name]!
            for d in r.dispatch {
                if d.table == "filter" { filter += "-A \(d.chain) \(d.rule)\n" } else { natRules += "-A \(d.chain) \(d.rule)\n" }
            }
            for c in ordered(r.chains) {
                natChains += ":\(c) - [0:0]\n"
                for rule in r.chains[c]! { natRules += "-A \(c) \(rule)\n" }
            }
        }
        for j in nodePortJumps { natRules += "-A KUBE-SERVICES \(j)\n" }
        return filter + "COMMIT\n" + natChains + natRules + "COMMIT\n"
    }

    private func partialText(removed: [DispatchRule], added: [DispatchRule], rewrite: [String: [String]], stale: [String]) -> String {
        var out = ""
        let filterRemoved = removed.filter { $0.table == "filter" }.sorted(), filterAdded = added.filter { $0.table == "filter" }.sorted()
        if !filterRemoved.isEmpty || !filterAdded.isEmpty {
            out += "*filter\n"
            for d in filterRemoved { out += "-D \(d.chain) \(d.rule)\n" }
            for d in filterAdded { out += "-A \(d.chain) \(d.rule)\n" }
            out += "COMMIT\n"
        }
        let natRemoved = removed.filter { $0.table == "nat" }.sorted(), natAdded = added.filter { $0.table == "nat" }.sorted()
        if !natRemoved.isEmpty || !natAdded.isEmpty || !rewrite.isEmpty || !stale.isEmpty {
            out += "*nat\n"
            for c in rewrite.keys.sorted() { out += ":\(c) - [0:0]\n" }
            for c in stale { out += ":\(c) - [0:0]\n" }
            for d in natRemoved { out += "-D \(d.chain) \(d.rule)\n" }
            for c in rewrite.keys.sorted() { for r in rewrite[c]! { out += "-A \(c) \(r)\n" } }
            // Inserted at the top: KUBE-SERVICES must keep its KUBE-NODEPORTS jump last.
            for d in natAdded { out += d.chain == "KUBE-SERVICES" ? "-I \(d.chain) 1 \(d.rule)\n" : "-A \(d.chain) \(d.rule)\n" }
            for c in stale { out += "-X \(c)\n" }
            out += "COMMIT\n"
        }
        return out
    }

    // MARK: Rendering

    /// The first pass for one Service port: its endpoints, chain names and shared texts; nil
    /// when it has no cluster IP in this family.
    func plan(_ name: ServicePortName, _ info: ServicePortInfo, _ allEndpoints: [EndpointInfo]) -> Plan? {
        let clusterIPs = info.clusterIPs.filter { $0.family == family }
        guard !clusterIPs.isEmpty else { return nil }
        let selection = EndpointSelection(service: info, endpoints: allEndpoints.filter { $0.ip.family == family })
        let proto = info.protocol.rawValue
        // Names and addresses are formatted once per Service port and endpoint: at 5k Services
        // the text is most of what a full sync does besides the restore itself.
        let serviceName = name.description
        var endpoints: [EndpointInfo: (text: String, sep: String)] = [:]
        for ep in selection.cluster + selection.local where endpoints[ep] == nil {
            let text = ep.description
            endpoints[ep] = (text, "KUBE-SEP-" + Self.hash(serviceName + proto + text))
        }
        let external: Plan.External
        if !info.hasExternalDestinations {
            external = .absent
        } else {
            let noLocal = info.externalPolicyLocal && selection.local.isEmpty
            if selection.hasNoEndpoints || (noLocal && selection.cluster.isEmpty) {
                external = .rejected
            } else {
                let fw = info.loadBalancerIngressIPs.contains { $0.family == family } && info.loadBalancerSourceRanges.contains { $0.family == family }
                external = .chains(svl: info.externalPolicyLocal && !noLocal, fw: fw)
            }
        }
        return Plan(name: name, info: info, clusterIPs: clusterIPs, selection: selection, serviceName: serviceName,
                    hash: Self.hash(serviceName + proto), endpoints: endpoints, external: external)
    }

    /// The second pass for one Service port: the rules of its chains (exactly
    /// `plan.chainNames`) and its rules in the shared chains. `largeCluster`: leave the comments
    /// out of per-Service and per-endpoint chains. `upstreamText`: write each `KUBE-SEP` DNAT
    /// rule as upstream does, with a `-m PROTO` match of no options before `-p PROTO` (only
    /// for the benchmark's baseline; see the DNAT rule below).
    func render(_ plan: Plan, largeCluster: Bool = false, upstreamText: Bool = false) -> Rendered {
        let info = plan.info, serviceName = plan.serviceName, endpointText = plan.endpoints
        let proto = info.protocol.rawValue
        let svc = plan.svc, ext = plan.ext, fw = plan.fw, svl = plan.svl
        func comment(_ suffix: String = "") -> String { "-m comment --comment \"\(serviceName)\(suffix)\"" }
        /// The comment of a rule in a per-Service or per-endpoint chain, with a trailing space.
        func chainComment(_ suffix: String = "") -> String { largeCluster ? "" : comment(suffix) + " " }
        let mask = family == .ip ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        let reject = info.protocol == .tcp ? "REJECT --reject-with tcp-reset" : "REJECT"
        var r = Rendered()
        func add(_ table: String, _ chain: String, _ rule: String) { r.dispatch.append(DispatchRule(table: table, chain: chain, rule: rule)) }
        func match(_ ip: IPAddress, _ port: UInt16) -> String { "-m \(proto) -p \(proto) -d \(ip)\(hostSuffix) --dport \(port)" }
        let nodePortMatch = "-m addrtype --dst-type LOCAL -m \(proto) -p \(proto) --dport \(info.nodePort)"
        let selection = plan.selection, clusterIPs = plan.clusterIPs

        func sep(_ ep: EndpointInfo) -> String { endpointText[ep]!.sep }
        func dispatch(_ eps: [EndpointInfo]) -> [String] {
            var rules: [String] = []
            if let t = info.affinityTimeoutSeconds {
                for ep in eps {
                    rules.append("\(chainComment(" -> \(endpointText[ep]!.text)"))-m recent --name \(sep(ep)) --mask \(mask) --rsource --rcheck --seconds \(t) --reap -j \(sep(ep))")
                }
            }
            for (i, ep) in eps.enumerated() {
                let remaining = eps.count - i
                let statistic = remaining > 1 ? "-m statistic --mode random --probability \(probabilityText(remaining)) " : ""
                rules.append("\(chainComment(" -> \(endpointText[ep]!.text)"))\(statistic)-j \(sep(ep))")
            }
            return rules
        }
        let sepComment = chainComment()
        // Upstream writes `-m tcp -p tcp -j DNAT`. A protocol match without options only adds
        // "not a later fragment, header readable", which every packet the nat table sees
        // passes: conntrack has reassembled fragments, and a packet whose header it cannot
        // read is invalid and never reaches nat. Without it, the rule loads one match fewer
        // per endpoint (the restore ~7% cheaper at 1k x 2; docs/proxy-bench-iptables.md).
        let dnatProtocol = upstreamText ? "-m \(proto) -p \(proto)" : "-p \(proto)"
        for ep in plan.sepEndpoints {
            let recent = info.affinityTimeoutSeconds != nil ? "-m recent --set --name \(sep(ep)) --mask \(mask) --rsource " : ""
            r.chains[sep(ep)] = [
                "\(sepComment)-s \(ep.ip)\(hostSuffix) -j KUBE-MARK-MASQ",
                "\(sepComment)\(recent)\(dnatProtocol) -j DNAT --to-destination \(endpointText[ep]!.text)",
            ]
        }

        if !plan.hasServiceChain {
            for ip in clusterIPs { add("filter", "KUBE-SERVICES", "\(comment(" has no endpoints")) \(match(ip, info.port)) -j \(reject)") }
        } else {
            var rules: [String] = []
            if config.masqueradeAll {
                for ip in clusterIPs { rules.append("\(comment(" cluster IP")) \(match(ip, info.port)) -j KUBE-MARK-MASQ") }
            } else if let cidr = config.clusterCIDR, cidr.family == family {
                for ip in clusterIPs { rules.append("\(comment(" cluster IP")) \(match(ip, info.port)) ! -s \(cidr.network)/\(cidr.prefixLength) -j KUBE-MARK-MASQ") }
            }
            r.chains[svc] = rules + dispatch(selection.cluster)
            for ip in clusterIPs { add("nat", "KUBE-SERVICES", "\(comment(" cluster IP")) \(match(ip, info.port)) -j \(svc)") }
        }

        if plan.external == .absent { return r }
        if info.externalPolicyLocal && info.healthCheckNodePort != 0 {
            add("filter", "KUBE-NODEPORTS", "\(comment(" health check node port")) -m tcp -p tcp --dport \(info.healthCheckNodePort) -j ACCEPT")
        }
        let externalIPs = info.externalIPs.filter { $0.family == family }
        let lbIPs = info.loadBalancerIngressIPs.filter { $0.family == family }
        let ranges = info.loadBalancerSourceRanges.filter { $0.family == family }
        guard case .chains(let hasSVL, let hasFW) = plan.external else {
            for ip in externalIPs + lbIPs { add("filter", "KUBE-EXTERNAL-SERVICES", "\(comment(" has no endpoints")) \(match(ip, info.port)) -j \(reject)") }
            if info.nodePort != 0 { add("filter", "KUBE-EXTERNAL-SERVICES", "\(comment(" has no endpoints")) \(nodePortMatch) -j \(reject)") }
            return r
        }
        if info.externalPolicyLocal {
            var rules: [String] = []
            if plan.hasServiceChain {
                // Traffic from this node itself keeps cluster semantics (upstream does the same).
                if let cidr = config.clusterCIDR, cidr.family == family {
                    rules.append("\(comment(" pod traffic for external destinations")) -s \(cidr.network)/\(cidr.prefixLength) -j \(svc)")
                }
                rules.append("\(comment(" masquerade LOCAL traffic for external destinations")) -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ")
                rules.append("\(comment(" route LOCAL traffic for external destinations")) -m addrtype --src-type LOCAL -j \(svc)")
            }
            if !hasSVL {
                // The nat table cannot drop: external traffic that was not DNATed is dropped in filter.
                for ip in externalIPs + lbIPs { add("filter", "KUBE-EXTERNAL-SERVICES", "\(comment(" has no local endpoints")) \(match(ip, info.port)) -j DROP") }
                if info.nodePort != 0 { add("filter", "KUBE-EXTERNAL-SERVICES", "\(comment(" has no local endpoints")) \(nodePortMatch) -j DROP") }
            } else {
                rules.append("\(comment()) -j \(svl)")
                r.chains[svl] = dispatch(selection.local)
            }
            r.chains[ext] = rules
        } else {
            r.chains[ext] = ["\(comment(" masquerade traffic for external destinations")) -j KUBE-MARK-MASQ", "\(comment()) -j \(svc)"]
        }
        for ip in externalIPs { add("nat", "KUBE-SERVICES", "\(comment(" external IP")) \(match(ip, info.port)) -j \(ext)") }
        if hasFW {
            r.chains[fw] = ranges.map { "\(comment(" loadbalancer IP")) -s \($0.network)/\($0.prefixLength) -j \(ext)" }
            for ip in lbIPs { add("filter", "KUBE-PROXY-FIREWALL", "\(comment(" traffic not accepted by \(fw)")) \(match(ip, info.port)) -j DROP") }
        }
        for ip in lbIPs { add("nat", "KUBE-SERVICES", "\(comment(" loadbalancer IP")) \(match(ip, info.port)) -j \(hasFW ? fw : ext)") }
        if info.nodePort != 0 { add("nat", "KUBE-NODEPORTS", "\(comment()) -m \(proto) -p \(proto) --dport \(info.nodePort) -j \(ext)") }
        return r
    }
}

/// The probability of choosing the first of `remaining` endpoints, 1/`remaining`, as upstream
/// prints it; the texts for up to 128 endpoints are formatted once per process.
private func probabilityText(_ remaining: Int) -> String {
    remaining < probabilityTexts.count ? probabilityTexts[remaining] : formatProbability(1.0 / Double(remaining))
}

private let probabilityTexts = (0...128).map { $0 < 1 ? "" : formatProbability(1.0 / Double($0)) }

/// Upstream prints probabilities with 10 decimals (`%0.10f`).
private func formatProbability(_ v: Double) -> String {
    let scaled = (v * 1e10).rounded()
    let whole = Int(scaled / 1e10)
    var frac = String(Int(scaled.truncatingRemainder(dividingBy: 1e10)))
    while frac.count < 10 { frac = "0" + frac }
    return "\(whole).\(frac)"
}

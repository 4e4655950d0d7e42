import Crypto
import Dispatch
import IPTables
import NFTables
import Synchronization

/// The iptables backend: upstream's KUBE-* chain structure, loaded with one
/// `iptables-restore --noflush` per sync (nat and filter in one input). A full sync is that
/// one restore and nothing else: the jumps from the built-in chains are part of its input
/// (`-I CHAIN 1`) when the kernel lacks them. Whether it lacks them is read (with the leftover
/// chains) at the first full sync and after any failure, from the kernel with iptables-legacy
/// (``KernelTable``), by one iptables-save of all tables with iptables-nft; later
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
/// chains (on the first full sync, also those a previous process left, found in the tables
/// as read then). A partial sync touches only the changed Service ports: their own chains
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

    /// Everything one Service port owns, as text: what a partial sync compares and writes.
    struct Rendered: Equatable {
        /// Its own nat chains (`KUBE-SVC-...`, `KUBE-SEP-...`, ...) and their rules.
        var chains: [String: [String]] = [:]
        /// Its rules in the shared chains.
        var dispatch: [DispatchRule] = []
    }

    /// The name of a per-Service or per-endpoint nat chain: its prefix and upstream's suffix
    /// (the first 16 characters of base32(sha256(text))), kept as integers whose order is the
    /// names' text order. A full sync declares, sorts and writes tens of thousands of these
    /// without making a String of any.
    struct ChainName: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// The prefixes, in the order of their text.
        enum Kind: UInt8, Sendable, CaseIterable {
            case ext, fw, sep, svc, svl

            var prefix: StaticString {
                switch self {
                case .ext: "KUBE-EXT-"
                case .fw: "KUBE-FW-"
                case .sep: "KUBE-SEP-"
                case .svc: "KUBE-SVC-"
                case .svl: "KUBE-SVL-"
                }
            }
        }

        let kind: Kind
        /// The suffix's 16 ASCII characters, big-endian, the first 8 in `high`.
        let high: UInt64
        let low: UInt64

        init(_ kind: Kind, high: UInt64, low: UInt64) {
            self.kind = kind
            self.high = high
            self.low = low
        }

        /// The chain of `kind` whose suffix hashes `text` (a Service port's or endpoint's).
        init(_ kind: Kind, hashing text: [UInt8]) {
            var sha = SHA256()
            text.withUnsafeBytes { sha.update(bufferPointer: $0) }
            // 16 base32 characters are the first 80 bits of the digest, 40 per half.
            var first: UInt64 = 0, second: UInt64 = 0
            sha.finalize().withUnsafeBytes { digest in
                for i in 0..<5 { first = first << 8 | UInt64(digest[i]) }
                for i in 5..<10 { second = second << 8 | UInt64(digest[i]) }
            }
            func characters(_ bits: UInt64) -> UInt64 {
                var out: UInt64 = 0
                for i in 0..<8 {
                    let v = (bits >> UInt64(35 - 5 * i)) & 31
                    // RFC 4648's alphabet: A-Z, then 2-7.
                    out = out << 8 | (v < 26 ? 65 + v : 50 + v - 26)
                }
                return out
            }
            self.init(kind, high: characters(first), low: characters(second))
        }

        /// Parses a chain name this backend writes; nil for any other name.
        init?(_ text: String) {
            let bytes = Array(text.utf8)
            guard let kind = Kind.allCases.first(where: { kind in
                kind.prefix.withUTF8Buffer { bytes.count == $0.count + 16 && bytes.starts(with: $0) }
            }) else { return nil }
            var halves: [UInt64] = [0, 0]
            for (i, c) in bytes.suffix(16).enumerated() {
                guard (65...90).contains(c) || (50...55).contains(c) else { return nil }
                halves[i / 8] = halves[i / 8] << 8 | UInt64(c)
            }
            self.init(kind, high: halves[0], low: halves[1])
        }

        /// The chain of another kind with the same suffix (a Service port's SVC, EXT, FW, SVL).
        func with(_ kind: Kind) -> ChainName { ChainName(kind, high: high, low: low) }

        static func < (a: Self, b: Self) -> Bool {
            a.kind != b.kind ? a.kind.rawValue < b.kind.rawValue : a.high != b.high ? a.high < b.high : a.low < b.low
        }

        var description: String {
            var bytes: [UInt8] = []
            bytes.put(self)
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// What the first pass of a sync knows about one Service port: the endpoints it uses, the
    /// chains it owns, and the texts the second pass needs again. ``render(_:largeCluster:upstreamText:chains:natDispatch:filterDispatch:)``
    /// writes exactly the chains in ``chainNames``. It is also what the proxier remembers of a
    /// Service port between syncs: a partial sync renders the old plan again to compare. A
    /// class: a full sync passes around one per Service port.
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

        /// An endpoint with a `KUBE-SEP` chain.
        struct Endpoint: Sendable {
            let ip: IPAddress
            let port: UInt16
            /// `ip:port` (`[ip]:port` for IPv6).
            let text: String
            let sep: ChainName
        }

        let name: ServicePortName
        let info: ServicePortInfo
        let clusterIPs: [IPAddress]
        /// `namespace/name:port`, the comments' text.
        let serviceName: String
        /// The Service port's `KUBE-SVC` chain (its other chains share the suffix).
        let svc: ChainName
        /// The endpoints with a `KUBE-SEP` chain, in order, one per `ip:port`.
        let endpoints: [Endpoint]
        /// The endpoints for cluster traffic and for external traffic with
        /// externalTrafficPolicy Local, as indices into ``endpoints``, in the selection's order.
        let cluster: [Int]
        let local: [Int]
        let external: External

        init(name: ServicePortName, info: ServicePortInfo, clusterIPs: [IPAddress], serviceName: String, svc: ChainName,
             endpoints: [Endpoint], cluster: [Int], local: [Int], external: External) {
            self.name = name
            self.info = info
            self.clusterIPs = clusterIPs
            self.serviceName = serviceName
            self.svc = svc
            self.endpoints = endpoints
            self.cluster = cluster
            self.local = local
            self.external = external
        }

        /// Whether cluster traffic has endpoints (a `KUBE-SVC` chain).
        var hasServiceChain: Bool { !cluster.isEmpty }
        var ext: ChainName { svc.with(.ext) }
        var fw: ChainName { svc.with(.fw) }
        var svl: ChainName { svc.with(.svl) }

        /// Appends every nat chain the Service port owns.
        func appendChainNames(to names: inout [ChainName]) {
            for ep in endpoints { names.append(ep.sep) }
            if hasServiceChain { names.append(svc) }
            if case .chains(let hasSVL, let hasFW) = external {
                names.append(ext)
                if hasSVL { names.append(svl) }
                if hasFW { names.append(fw) }
            }
        }

        var chainNames: [ChainName] {
            var names: [ChainName] = []
            appendChainNames(to: &names)
            return names
        }
    }

    /// The plans of the Service ports programmed: in name order as a full sync leaves them (it
    /// builds no dictionary), by name once a partial sync has looked one up.
    private enum Plans {
        case ordered([Plan])
        case byName([ServicePortName: Plan])

        var all: [Plan] {
            switch self {
            case .ordered(let plans): plans
            case .byName(let plans): Array(plans.values)
            }
        }

        var byName: [ServicePortName: Plan] {
            switch self {
            case .ordered(let plans): Dictionary(plans.map { ($0.name, $0) }) { first, _ in first }
            case .byName(let plans): plans
            }
        }
    }

    private struct Programmed {
        var plans = Plans.ordered([])
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


    // MARK: ProxyBackend

    /// Whether `state` is past the large-cluster threshold (upstream counts the endpoints of
    /// every Service port it knows).
    static func isLargeCluster(_ state: ProxyState) -> Bool {
        var total = 0
        // It stops at the threshold: a full sync asks before it starts the restore, and a
        // lookup per Service port of 10k took 8 ms.
        for (name, eps) in state.endpoints where !eps.isEmpty && state.services[name] != nil {
            total += eps.count
            if total > largeClusterEndpointsThreshold { return true }
        }
        return false
    }

    public func sync(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws {
        try programmed.withLock { p in
            let large = Self.isLargeCluster(state)
            // Crossing the threshold changes every chain's text: rewrite them all at once.
            let full = kind == .full || !p.valid || large != p.largeCluster
            if full {
                let needsSave = !p.swept
                var saved: (() throws(IPTablesError) -> [TableSnapshot])?
                var saveError: IPTablesError?
                let previous = p.plans.all
                var planned: [Plan] = []
                do {
                    // The restore starts first and parses the text while it is written: the
                    // first pass overlaps the tool's start, rendering overlaps its parsing.
                    try ipt.restore { out in
                        planned = writeFullText(to: &out, largeCluster: large) {
                            planEach(state)
                        } declared: {
                            // Only the end of the text needs the tables as they are. With
                            // iptables-nft one iptables-save reads them while the rules are
                            // rendered and parsed, spawned only once the restore has its chains
                            // and a first piece of rules to parse (a spawn costs the calling
                            // thread about a millisecond that the tool would otherwise spend
                            // waiting for input); iptables-legacy's are read from the kernel
                            // when the end asks, no process. From this thread, which is in the
                            // proxier's network namespace.
                            if needsSave { saved = ipt.startRead(tables: ["nat", "filter"]) }
                        } tail: { chains in
                            // `chains` is in descending order.
                            func live(_ c: ChainName) -> Bool {
                                var lo = 0, hi = chains.count
                                while lo < hi {
                                    let mid = (lo + hi) / 2
                                    if c < chains[mid] { lo = mid + 1 } else { hi = mid }
                                }
                                return lo < chains.count && chains[lo] == c
                            }
                            var stale = Set<String>()
                            for plan in previous { for c in plan.chainNames where !live(c) { stale.insert(c.description) } }
                            guard let saved else { return (stale.sorted(), []) }
                            let tables: [TableSnapshot]
                            do throws(IPTablesError) { tables = try saved() } catch {
                                saveError = error
                                return nil
                            }
                            for c in tables[0].chainNames where Self.isServiceChain(c) && (ChainName(c).map { !live($0) } ?? true) { stale.insert(c) }
                            return (stale.sorted(), Self.jumps.filter { !Self.hasJump($0, in: tables[$0.table == "nat" ? 0 : 1]) })
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
                p.plans = .ordered(planned)
                p.valid = true
                p.swept = true
                p.largeCluster = large
                return
            }
            var next = p.plans.byName
            let text: String
            do {
                var removed: [DispatchRule] = [], added: [DispatchRule] = []
                var rewrite: [String: [String]] = [:], stale: [String] = []
                for name in changed.sorted() {
                    let old = next[name].map { rendered($0, largeCluster: large) } ?? Rendered()
                    let newPlan = state.services[name].flatMap { plan(name, $0, state.endpoints[name] ?? []) }
                    let new = newPlan.map { rendered($0, largeCluster: large) } ?? Rendered()
                    if old == new { continue }
                    next[name] = newPlan
                    let keep = Set(new.dispatch), had = Set(old.dispatch)
                    removed += old.dispatch.filter { !keep.contains($0) }
                    added += new.dispatch.filter { !had.contains($0) }
                    for (c, rules) in new.chains where old.chains[c] != rules { rewrite[c] = rules }
                    stale += old.chains.keys.filter { new.chains[$0] == nil }
                }
                text = partialText(removed: removed, added: added, rewrite: rewrite, stale: stale.sorted())
            }
            if text.isEmpty { return }
            do { try ipt.restore(text) } catch {
                p.valid = false
                p.swept = false
                throw error
            }
            p.plans = .byName(next)
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
            writeFullText(to: &text, largeCluster: p.largeCluster) { p.plans.all } tail: { _ in ([], []) }
            return text.text
        }
    }

    /// The restore text a full sync of `state` writes into tables without the jumps (for
    /// golden tests and baselines).
    public func fullRestoreText(_ state: ProxyState) -> String {
        var text = RestoreInput()
        writeFullText(to: &text, largeCluster: Self.isLargeCluster(state)) { planEach(state) } tail: { _ in ([], []) }
        return text.text
    }

    /// The first pass of a full sync: every Service port of this family planned, in no
    /// particular order (``writeFullText`` puts them in name order once the chains are
    /// declared, while the tool creates them: sorting the 1,000 names of 1k x 2 first took
    /// ~0.8 ms of the time the tool waits for its first chain line). Above 1,000 Service ports
    /// and endpoints it is split into chunks for `concurrentPerform`.
    func planEach(_ state: ProxyState) -> [Plan] {
        let services = state.services
        var work = services.count
        for eps in state.endpoints.values { work += eps.count }
        // An even number of chunks above 1,000: on two cores an odd one leaves a chunk alone at the end.
        let chunks = work < 1000 ? 1 : 2 * min(4, max(1, work / 4000))
        // Positions in the dictionary, not (name, info) pairs: reading a pair copies the info
        // (retaining each of its arrays).
        let positions = Array(services.indices)
        var parts = [[Plan]](repeating: [], count: chunks)
        parts.withUnsafeMutableBufferPointer { slots in
            // Each chunk writes only its own slot.
            nonisolated(unsafe) let buffer = slots
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                buffer[c] = positions[(positions.count * c / chunks)..<(positions.count * (c + 1) / chunks)].compactMap { i in
                    let (name, info) = services[i]
                    return plan(name, info, state.endpoints[name] ?? [])
                }
            }
        }
        return parts.count == 1 ? parts[0] : parts.flatMap { $0 }
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

    /// Whether the jump's table (as read before a full sync) has a rule in its chain with its
    /// comment and target.
    static func hasJump(_ jump: (table: String, chain: String, rule: [String]), in table: TableSnapshot) -> Bool {
        let comment = jump.rule.firstIndex(of: "--comment").map { jump.rule[$0 + 1] } ?? ""
        return table.hasJump(chain: jump.chain, target: jump.rule.last ?? "", comment: comment)
    }

    // MARK: Restore text

    /// Per-Service nat chains present in `saved` (iptables-save of nat).
    private func leftoverChains(_ saved: String) -> [String] {
        IPTablesSave.chainNames(saved).filter(Self.isServiceChain)
    }

    /// Whether `name` is a per-Service or per-endpoint nat chain's (by its prefix).
    static func isServiceChain(_ name: String) -> Bool {
        serviceChainPrefixes.contains { name.hasPrefix($0) }
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
    /// it as it comes) and returns the plans it wrote, in name order.
    /// - `plan`: every Service port's plan, in any order (their rules are written in name
    ///   order). Called after the table's first lines (the fixed chains and their rules) are
    ///   handed over, so the tool opens the table and loads those rules' extensions while the
    ///   plan is made.
    /// - `declared`: called once every chain line and the first piece of rules (a stream chunk)
    ///   have been handed over, or after the last Service port's rules if they are fewer.
    /// - `tail`: given the chains (in descending order), the stale chains to delete and the
    ///   jumps from built-in chains the kernel lacks (those are inserted at the top, `-I CHAIN
    ///   1`, in order, so the last listed ends first, as upstream's prepends); nil to stop
    ///   before the first COMMIT, so that the restore fails and changes nothing.
    ///
    /// nat comes first: its per-Service chains are most of the text, and each Service port's
    /// rules are rendered as bytes straight into the restore's buffer (no String per rule).
    /// Its rules in the shared chains are collected as bytes beside them and follow
    /// (`KUBE-SERVICES` ends with the jump to `KUBE-NODEPORTS`, after every Service port's
    /// rules); the filter table, whose rules are all dispatch rules, comes last.
    @discardableResult
    private func writeFullText(to out: inout RestoreInput, largeCluster: Bool, plan: () -> [Plan],
                               declared: () -> Void = {},
                               tail: ([ChainName]) -> (stale: [String], jumps: [(table: String, chain: String, rule: [String])])?) -> [Plan] {
        func line(_ pieces: String...) {
            for piece in pieces { out.write(piece) }
            out.write("\n")
        }
        out.write("*nat\n")
        for c in Self.natChains { line(":", c, " - [0:0]") }
        // The fixed chains' rules refer to nothing else: the tool parses them, loading their
        // extensions (mark, MARK, comment, MASQUERADE), while the plan is made.
        out.write("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n")
        out.write("-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n")
        out.write("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
        out.write("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n")
        out.flush()
        var plans = plan()
        var chains: [ChainName] = []
        chains.reserveCapacity(plans.count * 3)
        for p in plans { p.appendChainNames(to: &chains) }
        // Per-Service chains are declared in descending name order, which both restore tools
        // load fastest (docs/proxy-bench-iptables.md): libiptc keeps user chains in a sorted
        // list, so each new chain goes first (O(1)) instead of after a walk through its index
        // bucket, and iptables-nft's cache inserts sorted input without a walk. Upstream
        // declares them in Go map order; the rules, and their order in each chain, are upstream's.
        chains.sort(by: >)
        for c in chains {
            out.withBuffer { buffer in
                buffer.put(":")
                buffer.put(c)
                buffer.put(" - [0:0]\n")
            }
        }
        out.flush()
        // Rules are written in Service port name order. Sorted here, not before the plan: the
        // tool is creating the chains just declared meanwhile.
        plans.sort { Self.precedes($0.name, $1.name) }
        var natDispatch: [UInt8] = [], filterDispatch: [UInt8] = []
        // `declared` waits until the tool has a chunk of rules besides the chain lines: at
        // 1k x 2 it sat idle for the ~2 ms the calling thread spent in it right after them.
        var rules = 0, announced = false
        for p in plans {
            out.withBuffer { buffer in
                let start = buffer.count
                render(p, largeCluster: largeCluster, chains: &buffer, natDispatch: &natDispatch, filterDispatch: &filterDispatch)
                rules += buffer.count - start
            }
            if !announced && rules >= RestoreInput.streamChunk {
                announced = true
                declared()
            }
        }
        if !announced { declared() }
        out.write(bytes: natDispatch)
        for j in nodePortJumps { line("-A KUBE-SERVICES ", j) }
        guard let end = tail(chains) else { return plans }
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
        out.write(bytes: filterDispatch)
        for j in jumps where j.table == "filter" { line("-I ", j.chain, " 1 ", Self.ruleText(j.rule)) }
        out.write("COMMIT\n")
        return plans
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
        let services = state.renderEach { plan($0, $1, $2).map { rendered($0, largeCluster: large, upstreamText: true) } }
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
        // Filtered only when another family is present (one array fewer per Service port).
        let clusterIPs = info.clusterIPs.allSatisfy { $0.family == family } ? info.clusterIPs : info.clusterIPs.filter { $0.family == family }
        guard !clusterIPs.isEmpty else { return nil }
        let ofFamily = allEndpoints.allSatisfy { $0.ip.family == family } ? allEndpoints : allEndpoints.filter { $0.ip.family == family }
        let selection = Self.select(info, ofFamily)
        // The chain names hash `namespace/name:port` + protocol (+ `ip:port` for endpoints),
        // written once into one buffer; each endpoint's text is formatted once.
        let serviceName = name.description
        var text: [UInt8] = []
        text.reserveCapacity(serviceName.utf8.count + 64)
        text.put(text: serviceName)
        text.put(text: info.protocol.rawValue)
        let base = text.count
        let svc = ChainName(.svc, hashing: text)
        // Both selections are sorted by address and port: one chain per `ip:port` in the union.
        let candidates = selection.local.isEmpty ? selection.cluster : (selection.cluster + selection.local).sorted()
        var endpoints: [Plan.Endpoint] = []
        endpoints.reserveCapacity(candidates.count)
        for ep in candidates {
            if let last = endpoints.last, last.ip == ep.ip, last.port == ep.port { continue }
            text.removeLast(text.count - base)
            text.put(endpoint: ep)
            endpoints.append(Plan.Endpoint(ip: ep.ip, port: ep.port, text: String(decoding: text[base...], as: UTF8.self),
                                           sep: ChainName(.sep, hashing: text)))
        }
        func index(_ ep: EndpointInfo) -> Int {
            var lo = 0, hi = endpoints.count
            while lo < hi {
                let mid = (lo + hi) / 2, e = endpoints[mid]
                if e.ip < ep.ip || (e.ip == ep.ip && e.port < ep.port) { lo = mid + 1 } else { hi = mid }
            }
            return lo
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
        // Without local endpoints each endpoint of the cluster selection has its own chain, in order.
        let cluster = selection.local.isEmpty && endpoints.count == selection.cluster.count ? Array(endpoints.indices) : selection.cluster.map(index)
        return Plan(name: name, info: info, clusterIPs: clusterIPs, serviceName: serviceName, svc: svc, endpoints: endpoints,
                    cluster: cluster, local: selection.local.map(index), external: external)
    }

    /// `EndpointSelection(service: info, endpoints: endpoints)`, without its filtered and sorted
    /// copies in the common case: neither traffic policy Local, every endpoint ready, in
    /// ascending order without duplicates. Then the selection for cluster traffic is
    /// `endpoints` as they are (the ready ones, sorted), there is none for external traffic
    /// with policy Local, and the Service port has no endpoints exactly when `endpoints` is
    /// empty.
    public static func select(_ info: ServicePortInfo, _ endpoints: [EndpointInfo]) -> (cluster: [EndpointInfo], local: [EndpointInfo], hasNoEndpoints: Bool) {
        var plain = !info.internalPolicyLocal && !info.externalPolicyLocal
        if plain {
            for i in endpoints.indices where !endpoints[i].ready || (i > 0 && !(endpoints[i - 1] < endpoints[i])) {
                plain = false
                break
            }
        }
        if plain { return (endpoints, [], endpoints.isEmpty) }
        let selection = EndpointSelection(service: info, endpoints: endpoints)
        return (selection.cluster, selection.local, selection.hasNoEndpoints)
    }

    /// A Service port's rules as text, for partial syncs and the benchmark's baseline: what
    /// ``render(_:largeCluster:upstreamText:chains:natDispatch:filterDispatch:)`` writes, split
    /// into its chains' rules and its rules in the shared chains.
    func rendered(_ plan: Plan, largeCluster: Bool, upstreamText: Bool = false) -> Rendered {
        var chains: [UInt8] = [], nat: [UInt8] = [], filter: [UInt8] = []
        render(plan, largeCluster: largeCluster, upstreamText: upstreamText, chains: &chains, natDispatch: &nat, filterDispatch: &filter)
        var r = Rendered()
        for c in plan.chainNames { r.chains[c.description] = [] }
        /// Each `-A CHAIN RULE` line as (CHAIN, RULE).
        func rules(_ bytes: [UInt8]) -> [(chain: String, rule: String)] {
            bytes.split(separator: UInt8(ascii: "\n")).map { line in
                let rest = line.dropFirst(3)
                let space = rest.firstIndex(of: UInt8(ascii: " ")) ?? rest.endIndex
                return (String(decoding: rest[..<space], as: UTF8.self), String(decoding: rest[space...].dropFirst(), as: UTF8.self))
            }
        }
        for (chain, rule) in rules(chains) { r.chains[chain, default: []].append(rule) }
        for (chain, rule) in rules(nat) { r.dispatch.append(DispatchRule(table: "nat", chain: chain, rule: rule)) }
        for (chain, rule) in rules(filter) { r.dispatch.append(DispatchRule(table: "filter", chain: chain, rule: rule)) }
        return r
    }

    /// The second pass for one Service port, as restore lines (`-A CHAIN RULE\n`) appended to
    /// three buffers: `chains` gets the rules of its own chains (exactly `plan.chainNames`, each
    /// chain's rules together and in order), `natDispatch` and `filterDispatch` its rules in the
    /// shared chains of each table, in order. The bytes are written directly (no String per
    /// rule): in a full sync `chains` is the streamed restore's own buffer. `largeCluster`: leave
    /// the comments out of per-Service and per-endpoint chains. `upstreamText`: write each
    /// `KUBE-SEP` DNAT rule as upstream does, with a `-m PROTO` match of no options before
    /// `-p PROTO` (only for the benchmark's baseline; see the DNAT rule below).
    func render(_ plan: Plan, largeCluster: Bool, upstreamText: Bool = false,
                chains out: inout [UInt8], natDispatch nat: inout [UInt8], filterDispatch filter: inout [UInt8]) {
        let info = plan.info, proto = info.protocol.rawValue, serviceName = plan.serviceName
        let svc = plan.svc, ext = plan.ext, fw = plan.fw, svl = plan.svl
        let v4 = family == .ip
        let hostSuffix: StaticString = v4 ? "/32" : "/128"
        let mask: StaticString = v4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        let reject: StaticString = info.protocol == .tcp ? " -j REJECT --reject-with tcp-reset\n" : " -j REJECT\n"
        let clusterCIDR = config.clusterCIDR.flatMap { $0.family == family ? $0 : nil }

        func begin(_ b: inout [UInt8], _ chain: StaticString) {
            b.put("-A ")
            b.put(chain)
            b.put(" ")
        }
        func begin(_ b: inout [UInt8], _ chain: ChainName) {
            b.put("-A ")
            b.put(chain)
            b.put(" ")
        }
        /// `-m comment --comment "SERVICE<suffix>" `.
        func comment(_ b: inout [UInt8], _ suffix: StaticString = "") {
            b.put("-m comment --comment \"")
            b.put(text: serviceName)
            b.put(suffix)
            b.put("\" ")
        }
        /// The comment of a rule in a per-Service or per-endpoint chain.
        func chainComment(_ b: inout [UInt8]) { if !largeCluster { comment(&b) } }
        func endpointComment(_ b: inout [UInt8], _ ep: Plan.Endpoint) {
            if largeCluster { return }
            b.put("-m comment --comment \"")
            b.put(text: serviceName)
            b.put(" -> ")
            b.put(text: ep.text)
            b.put("\" ")
        }
        /// `-m PROTO -p PROTO -d IP/32 --dport PORT`.
        func match(_ b: inout [UInt8], _ ip: IPAddress, _ port: UInt16) {
            b.put("-m ")
            b.put(text: proto)
            b.put(" -p ")
            b.put(text: proto)
            b.put(" -d ")
            b.put(ip)
            b.put(hostSuffix)
            b.put(" --dport ")
            b.put(decimal: Int(port))
        }
        /// `-m PROTO -p PROTO --dport NODEPORT`.
        func nodePortOnly(_ b: inout [UInt8]) {
            b.put("-m ")
            b.put(text: proto)
            b.put(" -p ")
            b.put(text: proto)
            b.put(" --dport ")
            b.put(decimal: Int(info.nodePort))
        }
        /// `-m addrtype --dst-type LOCAL -m PROTO -p PROTO --dport NODEPORT`.
        func nodePortMatch(_ b: inout [UInt8]) {
            b.put("-m addrtype --dst-type LOCAL ")
            nodePortOnly(&b)
        }
        func jump(_ b: inout [UInt8], _ chain: ChainName) {
            b.put("-j ")
            b.put(chain)
            b.put("\n")
        }
        /// A `KUBE-SVC` or `KUBE-SVL` chain's rules: affinity checks, then the random choice.
        func dispatch(_ chain: ChainName, _ eps: [Int]) {
            if let t = info.affinityTimeoutSeconds {
                for i in eps {
                    let ep = plan.endpoints[i]
                    begin(&out, chain)
                    endpointComment(&out, ep)
                    out.put("-m recent --name ")
                    out.put(ep.sep)
                    out.put(" --mask ")
                    out.put(mask)
                    out.put(" --rsource --rcheck --seconds ")
                    out.put(decimal: Int(t))
                    out.put(" --reap ")
                    jump(&out, ep.sep)
                }
            }
            for (n, i) in eps.enumerated() {
                let ep = plan.endpoints[i], remaining = eps.count - n
                begin(&out, chain)
                endpointComment(&out, ep)
                if remaining > 1 {
                    out.put("-m statistic --mode random --probability ")
                    out.put(text: probabilityText(remaining))
                    out.put(" ")
                }
                jump(&out, ep.sep)
            }
        }

        for ep in plan.endpoints {
            begin(&out, ep.sep)
            chainComment(&out)
            out.put("-s ")
            out.put(ep.ip)
            out.put(hostSuffix)
            out.put(" -j KUBE-MARK-MASQ\n")
            begin(&out, ep.sep)
            chainComment(&out)
            if info.affinityTimeoutSeconds != nil {
                out.put("-m recent --set --name ")
                out.put(ep.sep)
                out.put(" --mask ")
                out.put(mask)
                out.put(" --rsource ")
            }
            // Upstream writes `-m tcp -p tcp -j DNAT`. A protocol match without options only
            // adds "not a later fragment, header readable", which every packet the nat table
            // sees passes: conntrack has reassembled fragments, and a packet whose header it
            // cannot read is invalid and never reaches nat. Without it, the rule loads one
            // match fewer per endpoint (the restore ~7% cheaper at 1k x 2;
            // docs/proxy-bench-iptables.md).
            if upstreamText {
                out.put("-m ")
                out.put(text: proto)
                out.put(" ")
            }
            out.put("-p ")
            out.put(text: proto)
            out.put(" -j DNAT --to-destination ")
            out.put(text: ep.text)
            out.put("\n")
        }

        if !plan.hasServiceChain {
            for ip in plan.clusterIPs {
                begin(&filter, "KUBE-SERVICES")
                comment(&filter, " has no endpoints")
                match(&filter, ip, info.port)
                filter.put(reject)
            }
        } else {
            if config.masqueradeAll || clusterCIDR != nil {
                for ip in plan.clusterIPs {
                    begin(&out, svc)
                    comment(&out, " cluster IP")
                    match(&out, ip, info.port)
                    if !config.masqueradeAll, let cidr = clusterCIDR {
                        out.put(" ! -s ")
                        out.put(cidr)
                    }
                    out.put(" -j KUBE-MARK-MASQ\n")
                }
            }
            dispatch(svc, plan.cluster)
            for ip in plan.clusterIPs {
                begin(&nat, "KUBE-SERVICES")
                comment(&nat, " cluster IP")
                match(&nat, ip, info.port)
                nat.put(" ")
                jump(&nat, svc)
            }
        }

        if plan.external == .absent { return }
        if info.externalPolicyLocal && info.healthCheckNodePort != 0 {
            begin(&filter, "KUBE-NODEPORTS")
            comment(&filter, " health check node port")
            filter.put("-m tcp -p tcp --dport ")
            filter.put(decimal: Int(info.healthCheckNodePort))
            filter.put(" -j ACCEPT\n")
        }
        let externalIPs = info.externalIPs.filter { $0.family == family }
        let lbIPs = info.loadBalancerIngressIPs.filter { $0.family == family }
        guard case .chains(let hasSVL, let hasFW) = plan.external else {
            for ip in externalIPs + lbIPs {
                begin(&filter, "KUBE-EXTERNAL-SERVICES")
                comment(&filter, " has no endpoints")
                match(&filter, ip, info.port)
                filter.put(reject)
            }
            if info.nodePort != 0 {
                begin(&filter, "KUBE-EXTERNAL-SERVICES")
                comment(&filter, " has no endpoints")
                nodePortMatch(&filter)
                filter.put(reject)
            }
            return
        }
        if info.externalPolicyLocal {
            if plan.hasServiceChain {
                // Traffic from this node itself keeps cluster semantics (upstream does the same).
                if let cidr = clusterCIDR {
                    begin(&out, ext)
                    comment(&out, " pod traffic for external destinations")
                    out.put("-s ")
                    out.put(cidr)
                    out.put(" ")
                    jump(&out, svc)
                }
                begin(&out, ext)
                comment(&out, " masquerade LOCAL traffic for external destinations")
                out.put("-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ\n")
                begin(&out, ext)
                comment(&out, " route LOCAL traffic for external destinations")
                out.put("-m addrtype --src-type LOCAL ")
                jump(&out, svc)
            }
            if !hasSVL {
                // The nat table cannot drop: external traffic that was not DNATed is dropped in filter.
                for ip in externalIPs + lbIPs {
                    begin(&filter, "KUBE-EXTERNAL-SERVICES")
                    comment(&filter, " has no local endpoints")
                    match(&filter, ip, info.port)
                    filter.put(" -j DROP\n")
                }
                if info.nodePort != 0 {
                    begin(&filter, "KUBE-EXTERNAL-SERVICES")
                    comment(&filter, " has no local endpoints")
                    nodePortMatch(&filter)
                    filter.put(" -j DROP\n")
                }
            } else {
                begin(&out, ext)
                comment(&out)
                jump(&out, svl)
                dispatch(svl, plan.local)
            }
        } else {
            begin(&out, ext)
            comment(&out, " masquerade traffic for external destinations")
            out.put("-j KUBE-MARK-MASQ\n")
            begin(&out, ext)
            comment(&out)
            jump(&out, svc)
        }
        for ip in externalIPs {
            begin(&nat, "KUBE-SERVICES")
            comment(&nat, " external IP")
            match(&nat, ip, info.port)
            nat.put(" ")
            jump(&nat, ext)
        }
        if hasFW {
            for range in info.loadBalancerSourceRanges where range.family == family {
                begin(&out, fw)
                comment(&out, " loadbalancer IP")
                out.put("-s ")
                out.put(range)
                out.put(" ")
                jump(&out, ext)
            }
            for ip in lbIPs {
                begin(&filter, "KUBE-PROXY-FIREWALL")
                filter.put("-m comment --comment \"")
                filter.put(text: serviceName)
                filter.put(" traffic not accepted by ")
                filter.put(fw)
                filter.put("\" ")
                match(&filter, ip, info.port)
                filter.put(" -j DROP\n")
            }
        }
        for ip in lbIPs {
            begin(&nat, "KUBE-SERVICES")
            comment(&nat, " loadbalancer IP")
            match(&nat, ip, info.port)
            nat.put(" ")
            jump(&nat, hasFW ? fw : ext)
        }
        if info.nodePort != 0 {
            begin(&nat, "KUBE-NODEPORTS")
            comment(&nat)
            nodePortOnly(&nat)
            nat.put(" ")
            jump(&nat, ext)
        }
    }
}

/// Restore text written as bytes.
extension [UInt8] {
    fileprivate mutating func put(_ literal: StaticString) {
        literal.withUTF8Buffer { append(contentsOf: $0) }
    }

    fileprivate mutating func put(text: String) {
        append(contentsOf: text.utf8)
    }

    fileprivate mutating func put(decimal value: Int) {
        var rest = value.magnitude, digits = 1
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        if value < 0 { append(UInt8(ascii: "-")) }
        let start = count
        append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        rest = value.magnitude
        for i in stride(from: start + digits - 1, through: start, by: -1) {
            self[i] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
    }

    fileprivate mutating func put(_ ip: IPAddress) {
        let bytes = ip.bytes
        guard bytes.count == 4 else { return put(text: ip.description) }
        for (i, b) in bytes.enumerated() {
            if i > 0 { append(UInt8(ascii: ".")) }
            put(decimal: Int(b))
        }
    }

    /// `network/length`.
    fileprivate mutating func put(_ cidr: CIDR) {
        put(cidr.network)
        append(UInt8(ascii: "/"))
        put(decimal: cidr.prefixLength)
    }

    /// `ip:port`, or `[ip]:port` for IPv6 (upstream's endpoint string).
    fileprivate mutating func put(endpoint ep: EndpointInfo) {
        if ep.ip.family == .ip {
            put(ep.ip)
        } else {
            append(UInt8(ascii: "["))
            put(ep.ip)
            append(UInt8(ascii: "]"))
        }
        append(UInt8(ascii: ":"))
        put(decimal: Int(ep.port))
    }

    fileprivate mutating func put(_ chain: IPTablesProxier.ChainName) {
        put(chain.kind.prefix)
        Swift.withUnsafeBytes(of: chain.high.bigEndian) { append(contentsOf: $0) }
        Swift.withUnsafeBytes(of: chain.low.bigEndian) { append(contentsOf: $0) }
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

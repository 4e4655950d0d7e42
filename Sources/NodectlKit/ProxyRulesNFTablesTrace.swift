import Foundation
import NFTables

/// Evaluates a synthetic packet through an nftables table the way the kernel would: base
/// chains by hook and priority, jump/goto/return, verdict maps and set lookups with
/// concatenated keys, `numgen` (each value is a branch with its probability), DNAT through
/// maps, the packet mark, masquerade, reject and drop. It knows no object names: a packet's
/// fate comes only from the table's contents.
///
/// What a packet does not carry (the source address when not given, whether an address is
/// local when the node's addresses are unknown, a client's entry in a dynamic set) is a
/// condition: evaluation forks, and each path lists the conditions it assumed. Conditions on
/// the same address are kept consistent (a path that assumed `ip saddr 10.1.0.0/16` answers
/// `ip saddr != 10.0.0.0/8` as false without forking).
public struct NFTablesTracer: Sendable {
    /// The packet to trace. `saddr` nil means any client; `daddr` nil means any local address
    /// of the node (a NodePort).
    public struct Packet: Sendable {
        public var saddr: IPAddress?
        public var daddr: IPAddress?
        /// IANA protocol number (6 tcp, 17 udp, 132 sctp).
        public var proto: Int
        public var dport: Int
        /// The packet is sent by the node itself (output hook) rather than arriving (prerouting).
        public var fromNode: Bool

        public init(saddr: IPAddress? = nil, daddr: IPAddress?, proto: Int, dport: Int, fromNode: Bool = false) {
            self.saddr = saddr
            self.daddr = daddr
            self.proto = proto
            self.dport = dport
            self.fromNode = fromNode
        }
    }

    /// One way the packet can go.
    public struct Path: Codable, Equatable, Sendable {
        /// `DNAT`, `REJECT`, `DROP` or `ACCEPT` (not translated: delivered or forwarded as is).
        public var verdict: String
        /// `ip:port` after DNAT.
        public var endpoint: String?
        /// The share of packets (under the path's conditions) that take this path.
        public var probability: Double
        /// What the path assumed about the packet, in order.
        public var conditions: [String]
        /// The rules that acted, `chain: rule`, in order.
        public var steps: [String]
        /// The packet leaves masqueraded (source NAT to the node's address).
        public var masquerade: Bool
        /// Dynamic sets the packet adds its source to (session affinity), with their timeout.
        public var affinitySeconds: Int?
        /// Regular chains the packet passed through, in order.
        public var chains: [String]
        /// Source prefixes the path assumed the client to be in (e.g. loadBalancerSourceRanges).
        public var sourcePrefixes: [String] = []
        /// The chain whose rule translated the destination.
        public var dnatChain: String?
    }

    public let rulesets: [NFTablesRuleset]
    /// The node's own addresses; nil when unknown (then `fib ... type local` is a condition).
    public let localAddresses: Set<IPAddress>?
    /// At most this many paths per packet.
    public var pathLimit = 4096

    public init(rulesets: [NFTablesRuleset], localAddresses: Set<IPAddress>?) {
        self.rulesets = rulesets
        self.localAddresses = localAddresses
    }

    static let protocolNumbers = ["tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58]

    /// Every path of `packet` through the tables of its address family.
    public func trace(_ packet: Packet) throws(NFTablesReadError) -> [Path] {
        let family = (packet.daddr ?? packet.saddr)?.family.rawValue
        var results: [Path] = []
        for ruleset in rulesets where family == nil || ruleset.family == family {
            var engine = Engine(ruleset: ruleset, local: localAddresses, limit: pathLimit)
            results += try engine.run(packet)
        }
        if results.isEmpty {
            results = [Path(verdict: "ACCEPT", endpoint: nil, probability: 1, conditions: [], steps: [], masquerade: false, affinitySeconds: nil, chains: [])]
        }
        return results
    }

    // MARK: Engine

    enum Field: Hashable { case saddr, daddr }

    /// A packet value: known, unknown (a field the packet does not fix), or a concatenation.
    indirect enum Sym {
        case known(Value)
        case unknown(Field)
        case opaque(String)
        case concat([Sym])
    }

    enum Value: Equatable {
        case address(IPAddress)
        case number(Int)
        case text(String)
        case concat([Value])
    }

    /// `field` is (positive) or is not (negative) inside one of `prefixes`.
    struct Fact {
        var field: Field
        var prefixes: [CIDR]
        var positive: Bool
    }

    enum Flow { case next, ret, accept, drop, reject }

    struct State {
        var saddr: IPAddress?
        var daddr: IPAddress?
        var proto: Int
        var dport: Int
        var mark: Int = 0
        var saddrLocal: Bool?
        var daddrLocal: Bool?
        var probability = 1.0
        var facts: [Fact] = []
        var opaque: [String: Bool] = [:]
        var conditions: [String] = []
        var steps: [String] = []
        var endpoint: String?
        var masquerade = false
        var affinitySeconds: Int?
        var chains: [String] = []
        var natDone = false
        var dnatChain: String?
        var verdict: Flow = .next
    }

    struct Engine {
        let ruleset: NFTablesRuleset
        let local: Set<IPAddress>?
        let limit: Int
        var produced = 0

        init(ruleset: NFTablesRuleset, local: Set<IPAddress>?, limit: Int) {
            self.ruleset = ruleset
            self.local = local
            self.limit = limit
        }

        func isLocal(_ a: IPAddress?) -> Bool? {
            guard let a else { return nil }
            if let loop = CIDR(a.family == .ip ? "127.0.0.0/8" : "::1/128"), loop.contains(a) { return true }
            return local.map { $0.contains(a) }
        }

        mutating func run(_ packet: Packet) throws(NFTablesReadError) -> [Path] {
            var s = State(saddr: packet.saddr, daddr: packet.daddr, proto: packet.proto, dport: packet.dport)
            // A packet arriving at prerouting comes from a pod or another host, not from one of
            // the node's own addresses.
            s.saddrLocal = packet.fromNode ? true : packet.saddr.map { isLocal($0) } ?? false
            s.daddrLocal = packet.daddr == nil ? true : isLocal(packet.daddr)
            var states = [s]
            if packet.fromNode {
                states = try hook("output", states)
                states = try hook("postrouting", states)
            } else {
                states = try hook("prerouting", states)
                // Routing: a translated or non-local destination is forwarded.
                var forwarded: [State] = [], input: [State] = []
                for st in states {
                    if st.verdict != .next { input.append(st); continue }
                    let localNow = st.endpoint == nil ? (st.daddrLocal ?? false) : (isLocal(st.daddr) ?? false)
                    if localNow { input.append(st) } else { forwarded.append(st) }
                }
                input = try hook("input", input)
                forwarded = try hook("forward", forwarded)
                forwarded = try hook("postrouting", forwarded)
                states = forwarded + input
            }
            return states.map { s in
                let verdict: String
                switch s.verdict {
                case .drop: verdict = "DROP"
                case .reject: verdict = "REJECT"
                default: verdict = s.endpoint == nil ? "ACCEPT" : "DNAT"
                }
                return Path(verdict: verdict, endpoint: s.verdict == .drop || s.verdict == .reject ? nil : s.endpoint,
                            probability: s.probability, conditions: s.conditions, steps: s.steps,
                            masquerade: s.masquerade && verdict != "DROP" && verdict != "REJECT",
                            affinitySeconds: s.affinitySeconds, chains: s.chains,
                            sourcePrefixes: s.facts.filter { $0.field == .saddr && $0.positive }.flatMap { $0.prefixes.map(\.description) },
                            dnatChain: s.dnatChain)
            }
        }

        /// Runs the base chains of `hook` in priority order over every live state.
        mutating func hook(_ name: String, _ states: [State]) throws(NFTablesReadError) -> [State] {
            // NAT is set up once per hook (destination NAT before routing, source NAT after).
            var current = states.map { s in var s = s; s.natDone = false; return s }
            for chain in ruleset.baseChains(hook: name) {
                var next: [State] = []
                for var s in current {
                    // A finished packet, or a nat chain after the connection's NAT is set up.
                    if s.verdict == .drop || s.verdict == .reject || (chain.type == "nat" && s.natDone) { next.append(s); continue }
                    s.verdict = .next
                    for var r in try runChain(chain.name, s, depth: 0) {
                        if r.verdict == .ret || r.verdict == .next {
                            r.verdict = chain.policy == "drop" ? .drop : .next
                            if chain.policy == "drop" { r.steps.append("\(chain.name): policy drop") }
                        } else if r.verdict == .accept {
                            r.verdict = .next
                        }
                        next.append(r)
                    }
                }
                current = next
            }
            return current
        }

        /// Runs a chain; each result's verdict is `.ret` (fell off the end or returned),
        /// `.accept`, `.drop` or `.reject`.
        mutating func runChain(_ name: String, _ state: State, depth: Int) throws(NFTablesReadError) -> [State] {
            guard depth < 32 else { throw NFTablesReadError("table \(ruleset.family) \(ruleset.table): chain \(name) nests more than 32 jumps deep (a loop?)") }
            guard let chain = ruleset.chains[name] else {
                throw NFTablesReadError("table \(ruleset.family) \(ruleset.table): a rule jumps to chain \(name), which does not exist")
            }
            var s = state
            if chain.type == nil { s.chains.append(name) }
            var live = [s]
            var done: [State] = []
            for rule in chain.rules {
                var after: [State] = []
                for st in live {
                    for r in try runRule(rule, in: name, st, depth: depth) {
                        if r.verdict == .next { after.append(r) } else { done.append(r) }
                    }
                }
                live = after
                if live.isEmpty { break }
            }
            for var st in live {
                st.verdict = .ret
                done.append(st)
            }
            produced += done.count
            guard produced <= limit * 64, done.count <= limit else {
                throw NFTablesReadError("table \(ruleset.family) \(ruleset.table): more than \(limit) paths through chain \(name)")
            }
            return done
        }

        /// One rule: its expressions in order. A false match ends the rule (`.next`).
        mutating func runRule(_ rule: [NftJSON], in chain: String, _ state: State, depth: Int) throws(NFTablesReadError) -> [State] {
            let text = "\(chain): \(NftText.rule(rule))"
            // (state, still inside this rule)
            var live: [State] = [state]
            var out: [State] = []
            for expr in rule {
                guard let (kind, body) = expr.single else { continue }
                var next: [State] = []
                for var s in live {
                    switch kind {
                    case "match":
                        for (matched, t) in try match(body, s) {
                            if matched { next.append(t) } else { out.append(t) }
                        }
                    case "counter", "log", "limit", "quota", "comment", "notrack":
                        next.append(s)
                    case "mangle":
                        if body["key"]?["meta"]?["key"]?.string == "mark", let v = body["value"], case .known(.number(let n)) = eval(v, s).first?.0 {
                            s.mark = n
                        }
                        next.append(s)
                    case "accept", "drop", "reject", "return":
                        s.steps.append(text)
                        s.verdict = kind == "accept" ? .accept : kind == "drop" ? .drop : kind == "reject" ? .reject : .ret
                        out.append(s)
                    case "continue":
                        next.append(s)
                    case "jump", "goto":
                        guard let target = body["target"]?.string else { next.append(s); continue }
                        s.steps.append(text)
                        for r in try call(kind, target, s, depth: depth) {
                            if r.verdict == .next { next.append(r) } else { out.append(r) }
                        }
                    case "vmap":
                        guard let key = body["key"], let data = body["data"] else { next.append(s); continue }
                        for (verdict, t) in try lookup(key, data, s, text: text) {
                            var t2 = t
                            guard let verdict, let (vk, vb) = verdict.single else {
                                // No element matched: the rule stops, as a failed match would.
                                out.append(t)
                                continue
                            }
                            t2.steps.append("\(text) → \(NftText.render(verdict))")
                            switch vk {
                            case "jump", "goto":
                                for r in try call(vk, vb["target"]?.string ?? "", t2, depth: depth) {
                                    if r.verdict == .next { next.append(r) } else { out.append(r) }
                                }
                            case "accept": t2.verdict = .accept; out.append(t2)
                            case "drop": t2.verdict = .drop; out.append(t2)
                            case "return": t2.verdict = .ret; out.append(t2)
                            default: next.append(t2)
                            }
                        }
                    case "dnat":
                        for (target, t) in try natTarget(body, s, text: text) {
                            var t2 = t
                            guard let target else { out.append(t); continue }
                            t2.steps.append("\(text) → \(target.address.family == .ip ? "\(target.address)" : "[\(target.address)]"):\(target.port)")
                            t2.endpoint = target.address.family == .ip ? "\(target.address):\(target.port)" : "[\(target.address)]:\(target.port)"
                            t2.daddr = target.address
                            t2.dport = target.port
                            t2.natDone = true
                            t2.dnatChain = chain
                            t2.verdict = .accept
                            out.append(t2)
                        }
                    case "masquerade", "snat":
                        s.steps.append(text)
                        s.masquerade = true
                        s.natDone = true
                        s.verdict = .accept
                        out.append(s)
                    case "set":
                        // `update @set { ip saddr }`: session affinity remembers this client.
                        if let name = body["set"]?.string, name.hasPrefix("@"), let set = ruleset.sets[String(name.dropFirst())] {
                            s.affinitySeconds = set.timeoutSeconds ?? s.affinitySeconds
                            s.steps.append(text)
                        }
                        next.append(s)
                    default:
                        // Unknown statement: record it, and assume it lets the packet go on.
                        s.steps.append("\(text) (not interpreted: \(kind))")
                        next.append(s)
                    }
                }
                live = next
            }
            for var s in live {
                s.verdict = .next
                out.append(s)
            }
            return out
        }

        /// `jump`: a returning callee continues this rule. `goto`: a returning callee returns
        /// from this chain too.
        mutating func call(_ kind: String, _ target: String, _ s: State, depth: Int) throws(NFTablesReadError) -> [State] {
            try runChain(target, s, depth: depth + 1).map { r in
                var r = r
                if r.verdict == .ret { r.verdict = kind == "jump" ? .next : .ret }
                return r
            }
        }

        // MARK: Values

        /// The alternatives of an expression's value: one, except numgen (one per value).
        func eval(_ e: NftJSON, _ s: State) -> [(Sym, Double)] {
            switch e {
            case .number(let n): return [(.known(.number(n)), 1)]
            case .string(let t): return [(.known(literal(t)), 1)]
            default: break
            }
            guard let (k, v) = e.single else { return [(.opaque(NftText.render(e)), 1)] }
            switch k {
            case "payload":
                let field = v["field"]?.string ?? ""
                let proto = v["protocol"]?.string ?? ""
                switch (proto, field) {
                case ("ip", "saddr"), ("ip6", "saddr"): return [(s.saddr.map { .known(.address($0)) } ?? .unknown(.saddr), 1)]
                case ("ip", "daddr"), ("ip6", "daddr"): return [(s.daddr.map { .known(.address($0)) } ?? .unknown(.daddr), 1)]
                case (_, "dport") where ["th", "tcp", "udp", "sctp"].contains(proto):
                    // `tcp dport` also requires the protocol: it is false for another one.
                    if proto != "th" && NFTablesTracer.protocolNumbers[proto] != s.proto { return [(.known(.text("(no \(proto) header)")), 1)] }
                    return [(.known(.number(s.dport)), 1)]
                case ("ip", "protocol"), ("ip6", "nexthdr"): return [(.known(.number(s.proto)), 1)]
                default: return [(.opaque(NftText.render(e)), 1)]
                }
            case "meta":
                switch v["key"]?.string {
                case "l4proto": return [(.known(.number(s.proto)), 1)]
                case "mark": return [(.known(.number(s.mark)), 1)]
                case "nfproto": return [(.known(.text(ruleset.family == "ip6" ? "ipv6" : "ipv4")), 1)]
                default: return [(.opaque(NftText.render(e)), 1)]
                }
            case "ct" where v["key"]?.string == "state":
                return [(.known(.text("new")), 1)]
            case "ct" where v["key"]?.string == "status":
                return [(.known(.text(s.dnatChain != nil ? "dnat" : "confirmed")), 1)]
            case "fib" where v["result"]?.string == "type":
                let flags = v["flags"]?.array?.compactMap(\.string) ?? []
                let known = flags.contains("saddr") ? s.saddrLocal : s.daddrLocal
                guard let known else { return [(.opaque(NftText.render(e)), 1)] }
                return [(.known(.text(known ? "local" : "unicast")), 1)]
            case "numgen":
                let mod = max(1, v["mod"]?.int ?? 1)
                let offset = v["offset"]?.int ?? 0
                return (0..<mod).map { (.known(.number($0 + offset)), 1.0 / Double(mod)) }
            case "concat":
                var alternatives: [([Sym], Double)] = [([], 1)]
                for part in v.array ?? [] {
                    let values = eval(part, s)
                    alternatives = alternatives.flatMap { a in values.map { (a.0 + [$0.0], a.1 * $0.1) } }
                }
                return alternatives.map { (.concat($0.0), $0.1) }
            case "&", "|", "^":
                let parts = v.array ?? []
                guard parts.count == 2, case .known(.number(let a)) = eval(parts[0], s).first?.0,
                      case .known(.number(let b)) = eval(parts[1], s).first?.0 else { return [(.opaque(NftText.render(e)), 1)] }
                return [(.known(.number(k == "&" ? a & b : k == "|" ? a | b : a ^ b)), 1)]
            default:
                return [(.opaque(NftText.render(e)), 1)]
            }
        }

        func literal(_ t: String) -> Value {
            if let a = IPAddress(t) { return .address(a) }
            if let p = NFTablesTracer.protocolNumbers[t] { return .number(p) }
            if let n = Int(t) { return .number(n) }
            if t.hasPrefix("0x"), let n = Int(t.dropFirst(2), radix: 16) { return .number(n) }
            return .text(t)
        }

        /// The elements a right-hand side stands for: a set reference, an anonymous set, or one value.
        func elements(_ right: NftJSON) throws(NFTablesReadError) -> (elements: [NftJSON], dynamic: Bool, name: String?) {
            if let name = right.string, name.hasPrefix("@") {
                guard let set = ruleset.sets[String(name.dropFirst())] else {
                    throw NFTablesReadError("table \(ruleset.family) \(ruleset.table): a rule uses set \(name), which does not exist")
                }
                return (set.elements.map(\.key), set.isDynamic, name)
            }
            if let (k, v) = right.single, k == "set" {
                return ((v.array ?? [v]).map(NFTablesRuleset.unwrapElement), false, nil)
            }
            if let list = right.array { return (list, false, nil) }
            return ([right], false, nil)
        }

        /// Whether a known value matches one element (a value, prefix, range or concatenation).
        func matches(_ value: Value, _ element: NftJSON) -> Bool {
            if case .concat(let parts) = value {
                guard let (k, v) = element.single, k == "concat", let items = v.array, items.count == parts.count else { return false }
                return zip(parts, items).allSatisfy { matches($0, $1) }
            }
            if let (k, v) = element.single {
                switch k {
                case "prefix":
                    guard case .address(let a) = value, let net = v["addr"]?.string, let len = v["len"]?.int,
                          let cidr = CIDR("\(net)/\(len)") else { return false }
                    return cidr.contains(a)
                case "range":
                    guard let ends = v.array, ends.count == 2 else { return false }
                    switch (value, literalOf(ends[0]), literalOf(ends[1])) {
                    case (.number(let n), .number(let lo)?, .number(let hi)?): return lo <= n && n <= hi
                    case (.address(let a), .address(let lo)?, .address(let hi)?): return lo <= a && a <= hi
                    default: return false
                    }
                case "elem": return v["val"].map { matches(value, $0) } ?? false
                default: return false
                }
            }
            if let list = element.array { return list.contains { matches(value, $0) } }
            return literalOf(element) == value
        }

        func literalOf(_ e: NftJSON) -> Value? {
            switch e {
            case .number(let n): return .number(n)
            case .string(let t): return literal(t)
            default: return nil
            }
        }

        /// An element's part as a prefix, for facts about an address.
        func prefix(_ e: NftJSON) -> CIDR? {
            if let t = e.string, let a = IPAddress(t) { return CIDR(host: a) }
            if let (k, v) = e.single, k == "prefix", let net = v["addr"]?.string, let len = v["len"]?.int { return CIDR("\(net)/\(len)") }
            return nil
        }

        static func within(_ inner: CIDR, _ outer: CIDR) -> Bool {
            inner.family == outer.family && inner.prefixLength >= outer.prefixLength && outer.contains(inner.network)
        }

        static func disjoint(_ a: CIDR, _ b: CIDR) -> Bool { !within(a, b) && !within(b, a) }

        /// What the facts already say about `field` being in one of `candidates`; nil when open.
        func decided(_ field: Field, _ candidates: [CIDR], _ s: State) -> Bool? {
            for f in s.facts where f.field == field {
                if f.positive {
                    if f.prefixes.allSatisfy({ p in candidates.contains { Self.within(p, $0) } }) { return true }
                    if f.prefixes.allSatisfy({ p in candidates.allSatisfy { Self.disjoint(p, $0) } }) { return false }
                } else if candidates.allSatisfy({ c in f.prefixes.contains { Self.within(c, $0) } }) {
                    return false
                }
            }
            return nil
        }

        static func name(_ f: Field, _ family: String) -> String { "\(family) \(f == .saddr ? "saddr" : "daddr")" }

        /// Tests `sym` against elements; forks on what the packet does not fix.
        func test(_ sym: Sym, _ right: NftJSON, _ s: State, text: String) throws(NFTablesReadError) -> [(Bool, State)] {
            let (elements, dynamic, setName) = try elements(right)
            let parts: [Sym]
            if case .concat(let p) = sym { parts = p } else { parts = [sym] }
            let knownValues = parts.map { p -> Value? in if case .known(let v) = p { v } else { nil } }
            if knownValues.allSatisfy({ $0 != nil }) {
                let value = parts.count == 1 && !isConcat(sym) ? knownValues[0]! : .concat(knownValues.map { $0! })
                return [(elements.contains { matches(value, $0) }, s)]
            }
            // Keep the elements whose known parts match; the open part must match one of them.
            let unknownIndexes = parts.indices.filter { knownValues[$0] == nil }
            let candidates = elements.filter { e in
                let items: [NftJSON]
                if isConcat(sym) { guard let (k, v) = e.single, k == "concat", let a = v.array, a.count == parts.count else { return false }; items = a }
                else { items = [e] }
                return parts.indices.allSatisfy { i in knownValues[i].map { matches($0, items[i]) } ?? true }
            }
            if candidates.isEmpty && !dynamic { return [(false, s)] }
            if unknownIndexes.count == 1, !dynamic, case .unknown(let field) = parts[unknownIndexes[0]] {
                let i = unknownIndexes[0]
                let prefixes = candidates.compactMap { e -> CIDR? in
                    if isConcat(sym), let (_, v) = e.single, let a = v.array { return prefix(a[i]) }
                    return prefix(e)
                }
                if prefixes.count == candidates.count {
                    if let d = decided(field, prefixes, s) { return [(d, s)] }
                    let fieldName = Self.name(field, ruleset.family)
                    let shown = prefixes.count == 1 ? prefixes[0].description : "{ " + prefixes.map(\.description).joined(separator: ", ") + " }"
                    var yes = s, no = s
                    yes.facts.append(Fact(field: field, prefixes: prefixes, positive: true))
                    yes.conditions.append("\(fieldName) \(shown)")
                    no.facts.append(Fact(field: field, prefixes: prefixes, positive: false))
                    no.conditions.append("\(fieldName) != \(shown)")
                    return [(true, yes), (false, no)]
                }
            }
            // Anything else open (a dynamic set, a local-address test, an uninterpreted field).
            let key = "\(NftText.render(symExpression(sym))) \(setName ?? NftText.render(right))"
            if let d = s.opaque[key] { return [(d, s)] }
            var yes = s, no = s
            yes.opaque[key] = true
            no.opaque[key] = false
            let fibField = fibFieldOf(sym)
            if let fibField {
                yes.conditions.append("\(fibField) is a local address")
                no.conditions.append("\(fibField) is not a local address")
                if fibField == "saddr" { yes.saddrLocal = true; no.saddrLocal = false } else { yes.daddrLocal = true; no.daddrLocal = false }
            } else if dynamic {
                yes.conditions.append("the client is in \(setName ?? "the set") (session affinity)")
                no.conditions.append("the client is not in \(setName ?? "the set")")
            } else {
                yes.conditions.append(key)
                no.conditions.append("not \(key)")
            }
            return [(true, yes), (false, no)]
        }

        func isConcat(_ s: Sym) -> Bool { if case .concat = s { true } else { false } }

        func fibFieldOf(_ s: Sym) -> String? {
            if case .opaque(let t) = s, t.hasPrefix("fib ") { return t.contains("saddr") ? "saddr" : "daddr" }
            return nil
        }

        func symExpression(_ s: Sym) -> NftJSON {
            switch s {
            case .known(let v): return .string(describe(v))
            case .unknown(let f): return .string(Self.name(f, ruleset.family))
            case .opaque(let t): return .string(t)
            case .concat(let parts): return .object(["concat": .array(parts.map(symExpression))])
            }
        }

        func describe(_ v: Value) -> String {
            switch v {
            case .address(let a): return a.description
            case .number(let n): return String(n)
            case .text(let t): return t
            case .concat(let parts): return parts.map(describe).joined(separator: " . ")
            }
        }

        /// A `match` expression; forks on numgen values and open conditions.
        func match(_ body: NftJSON, _ s: State) throws(NFTablesReadError) -> [(Bool, State)] {
            guard let left = body["left"], let right = body["right"] else { return [(true, s)] }
            let op = body["op"]?.string ?? "=="
            var results: [(Bool, State)] = []
            var merged: [Bool: Double] = [:]
            for (sym, p) in eval(left, s) {
                for (hit, t) in try test(sym, right, s, text: NftText.render(body)) {
                    let result = op == "!=" ? !hit : hit
                    if p < 1 {
                        merged[result, default: 0] += p
                    } else {
                        results.append((result, t))
                    }
                }
            }
            for (result, p) in merged.sorted(by: { $0.key && !$1.key }) {
                var t = s
                // The share is the path's probability; the rule itself shows in the steps.
                t.probability *= p
                results.append((result, t))
            }
            return results
        }

        static func fraction(_ p: Double) -> String {
            for d in 1...64 {
                let n = (p * Double(d)).rounded()
                if abs(n / Double(d) - p) < 1e-9 { return "\(Int(n))/\(d)" }
            }
            return String(format: "%.3f", p)
        }

        /// A verdict-map or data-map lookup: (the value found or nil for a miss, state).
        func lookup(_ key: NftJSON, _ data: NftJSON, _ s: State, text: String) throws(NFTablesReadError) -> [(NftJSON?, State)] {
            let pairs: [(NftJSON, NftJSON)]
            if let name = data.string, name.hasPrefix("@") {
                guard let set = ruleset.sets[String(name.dropFirst())] else {
                    throw NFTablesReadError("table \(ruleset.family) \(ruleset.table): a rule uses map \(name), which does not exist")
                }
                pairs = set.elements.compactMap { e in e.value.map { (e.key, $0) } }
            } else if let (k, v) = data.single, k == "set", let list = v.array {
                pairs = list.compactMap { e in e.array.flatMap { $0.count == 2 ? (NFTablesRuleset.unwrapElement($0[0]), $0[1]) : nil } }
            } else {
                return [(nil, s)]
            }
            var out: [(NftJSON?, State)] = []
            for (sym, p) in eval(key, s) {
                var base = s
                base.probability *= p
                var rest = [base]
                for (elementKey, value) in pairs {
                    var still: [State] = []
                    for st in rest {
                        for (hit, t) in try test(sym, .object(["set": .array([elementKey])]), st, text: text) {
                            if hit { out.append((value, t)) } else { still.append(t) }
                        }
                    }
                    rest = still
                    if rest.isEmpty { break }
                }
                out += rest.map { (nil, $0) }
            }
            return out
        }

        /// The address and port a `dnat` statement translates to, per alternative.
        func natTarget(_ body: NftJSON, _ s: State, text: String) throws(NFTablesReadError) -> [((address: IPAddress, port: Int)?, State)] {
            guard let addr = body["addr"] else { return [(nil, s)] }
            var results: [((address: IPAddress, port: Int)?, State)] = []
            let found: [(NftJSON?, State)]
            if let (k, v) = addr.single, k == "map", let key = v["key"], let data = v["data"] {
                found = try lookup(key, data, s, text: text)
            } else {
                found = [(addr, s)]
            }
            for (value, t) in found {
                guard let value else { results.append((nil, t)); continue }
                var address: IPAddress?
                var port = t.dport
                if let (k, v) = value.single, k == "concat", let parts = v.array, parts.count == 2 {
                    address = parts[0].string.flatMap { IPAddress($0) }
                    port = parts[1].int ?? port
                } else {
                    address = value.string.flatMap { IPAddress($0) }
                }
                if let p = body["port"] {
                    if let n = p.int { port = n } else if let (k, v) = p.single, k == "map", let key = v["key"], let data = v["data"],
                       let hit = try lookup(key, data, t, text: text).first?.0, let n = hit.int { port = n }
                }
                guard let address else {
                    throw NFTablesReadError("table \(ruleset.family) \(ruleset.table): cannot read the address of \(text)")
                }
                results.append(((address, port), t))
            }
            return results
        }
    }
}

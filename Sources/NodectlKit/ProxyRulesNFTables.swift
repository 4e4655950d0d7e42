import Foundation
import NFTables

/// A JSON value as `nft -j` prints it (libnftables' JSON schema, version 1).
indirect enum NftJSON: Decodable, Equatable, Sendable {
    case object([String: NftJSON])
    case array([NftJSON])
    case string(String)
    case number(Int)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let v = try? c.decode(Int.self) { self = .number(v); return }
        if let v = try? c.decode(Bool.self) { self = .bool(v); return }
        if let v = try? c.decode(String.self) { self = .string(v); return }
        if let v = try? c.decode([NftJSON].self) { self = .array(v); return }
        self = .object(try c.decode([String: NftJSON].self))
    }

    subscript(key: String) -> NftJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The key and value of a one-key object (`{"payload": {...}}`), the shape of every
    /// expression and statement.
    var single: (String, NftJSON)? {
        if case .object(let o) = self, o.count == 1, let (k, v) = o.first { return (k, v) }
        return nil
    }

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var int: Int? { if case .number(let n) = self { n } else { nil } }
    var array: [NftJSON]? { if case .array(let a) = self { a } else { nil } }
}

/// The error of reading an nftables table: names the table and what is wrong.
public struct NFTablesReadError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One table of the kernel's nftables ruleset, read from `nft -j list table FAMILY NAME`.
/// Nothing in it knows the proxy's object names: ``NFTablesTracer`` interprets the chains,
/// maps and sets the way the kernel evaluates them.
public struct NFTablesRuleset: Sendable {
    struct Chain: Sendable {
        var name: String
        /// `filter`, `nat` or `route` for a base chain; nil for a regular chain.
        var type: String?
        var hook: String?
        var priority: Int
        var policy: String
        var rules: [[NftJSON]] = []
    }

    struct NamedSet: Sendable {
        var name: String
        /// `verdict` for a verdict map, a data type for a data map, nil for a set.
        var mapType: String?
        /// Elements are added by packets (session affinity): their presence depends on the client.
        var isDynamic: Bool
        var timeoutSeconds: Int?
        var elements: [(key: NftJSON, value: NftJSON?)] = []
    }

    public let family: String
    public let table: String
    var chains: [String: Chain] = [:]
    var sets: [String: NamedSet] = [:]

    /// Parses `nft -j list table` output; throws when it is not nft JSON or holds no such table.
    public init(json: Data, family: String, table: String) throws(NFTablesReadError) {
        self.family = family
        self.table = table
        let root: NftJSON
        do { root = try JSONDecoder().decode(NftJSON.self, from: json) } catch {
            throw NFTablesReadError("nft -j list table \(family) \(table): not JSON: \(error)")
        }
        guard let items = root["nftables"]?.array else {
            throw NFTablesReadError("nft -j list table \(family) \(table): no \"nftables\" array in the output")
        }
        var sawTable = false
        for item in items {
            guard let (kind, body) = item.single else { continue }
            guard body["family"]?.string == family, body["table"]?.string == table || kind == "table" else { continue }
            switch kind {
            case "table":
                if body["name"]?.string == table { sawTable = true }
            case "chain":
                guard let name = body["name"]?.string else { continue }
                chains[name] = Chain(name: name, type: body["type"]?.string, hook: body["hook"]?.string,
                                     priority: body["prio"]?.int ?? 0, policy: body["policy"]?.string ?? "accept")
            case "rule":
                guard let chain = body["chain"]?.string, let exprs = body["expr"]?.array else { continue }
                chains[chain, default: Chain(name: chain, type: nil, hook: nil, priority: 0, policy: "accept")].rules.append(exprs)
            case "set", "map":
                guard let name = body["name"]?.string else { continue }
                let flags = body["flags"]?.array?.compactMap(\.string) ?? (body["flags"]?.string.map { [$0] } ?? [])
                var s = NamedSet(name: name, mapType: kind == "map" ? (body["map"]?.string ?? "data") : nil,
                                 isDynamic: flags.contains("dynamic") || flags.contains("timeout"),
                                 timeoutSeconds: body["timeout"]?.int)
                for e in body["elem"]?.array ?? [] {
                    if kind == "map", let pair = e.array, pair.count == 2 {
                        s.elements.append((Self.unwrapElement(pair[0]), pair[1]))
                    } else {
                        s.elements.append((Self.unwrapElement(e), nil))
                    }
                }
                sets[name] = s
            default:
                continue
            }
        }
        guard sawTable else { throw NFTablesReadError("nft -j list table \(family) \(table): the output has no such table") }
    }

    /// An element with a timeout or comment is printed as `{"elem": {"val": ...}}`.
    static func unwrapElement(_ e: NftJSON) -> NftJSON {
        if let (k, v) = e.single, k == "elem", let val = v["val"] { return val }
        return e
    }

    /// Base chains attached to `hook`, in the kernel's order (lowest priority first).
    func baseChains(hook: String) -> [Chain] {
        chains.values.filter { $0.hook == hook && $0.type != nil }.sorted { ($0.priority, $0.name) < ($1.priority, $1.name) }
    }
}

/// nft's text for JSON expressions and statements, for explanations.
enum NftText {
    static func render(_ e: NftJSON) -> String {
        switch e {
        case .string(let s): return s
        case .number(let n): return String(n)
        case .bool(let b): return String(b)
        case .null: return ""
        case .array(let a): return "{ " + a.map(render).joined(separator: ", ") + " }"
        case .object:
            guard let (k, v) = e.single else { return "?" }
            switch k {
            case "payload": return "\(v["protocol"]?.string ?? "?") \(v["field"]?.string ?? "?")"
            case "meta": return "meta \(v["key"]?.string ?? "?")"
            case "ct": return "ct \(v["key"]?.string ?? "?")"
            case "fib": return "fib \((v["flags"]?.array?.compactMap(\.string) ?? []).joined(separator: " . ")) \(v["result"]?.string ?? "?")"
            case "numgen": return "numgen \(v["mode"]?.string ?? "?") mod \(v["mod"]?.int ?? 0)" + ((v["offset"]?.int ?? 0) != 0 ? " offset \(v["offset"]!.int!)" : "")
            case "concat": return (v.array ?? []).map(render).joined(separator: " . ")
            case "prefix": return "\(v["addr"].map(render) ?? "?")/\(v["len"]?.int ?? 0)"
            case "range": return (v.array ?? []).map(render).joined(separator: "-")
            case "set" where v["op"] != nil:
                return "\(v["op"]?.string ?? "?") \(v["set"].map(render) ?? "?") { \(v["elem"].map(render) ?? "?") }"
            case "set": return v.array.map { "{ " + $0.map(renderElement).joined(separator: ", ") + " }" } ?? render(v)
            case "map": return "\(v["key"].map(render) ?? "?") map \(v["data"].map(render) ?? "?")"
            case "&", "|", "^", "<<", ">>":
                let parts = (v.array ?? []).map(render)
                return parts.joined(separator: " \(k) ")
            case "match":
                let op = v["op"]?.string ?? "=="
                // nft leaves out an implicit `==`, but not after an arithmetic expression.
                let arithmetic = v["left"]?.single.map { ["&", "|", "^", "numgen"].contains($0.0) } ?? false
                let shownOp = (op == "==" && !arithmetic) || op == "in" ? "" : " \(op)"
                return "\(v["left"].map(render) ?? "?")\(shownOp) \(v["right"].map(render) ?? "?")"
            case "vmap": return "\(v["key"].map(render) ?? "?") vmap \(v["data"].map(render) ?? "?")"
            case "jump", "goto": return "\(k) \(v["target"]?.string ?? "?")"
            case "accept", "drop", "return", "continue": return k
            case "reject": return "reject" + (v["type"]?.string.map { " with \($0)" } ?? "")
            case "counter": return "counter"
            case "dnat", "snat":
                let addr = v["addr"].map(render) ?? ""
                let port = v["port"].map { ":" + render($0) } ?? ""
                return "\(k) to \(addr)\(port)"
            case "masquerade": return "masquerade"
            case "mangle": return "\(v["key"].map(render) ?? "?") set \(v["value"].map(render) ?? "?")"
            case "elem": return v["val"].map(render) ?? "?"
            default: return k
            }
        }
    }

    static func renderElement(_ e: NftJSON) -> String {
        if let pair = e.array, pair.count == 2 { return "\(render(pair[0])) : \(render(pair[1]))" }
        return render(e)
    }

    static func rule(_ exprs: [NftJSON]) -> String {
        exprs.filter { $0.single?.0 != "counter" }.map(render).joined(separator: " ")
    }
}

/// `nodectl proxy rules|trace` over nftables: the Service view is built by tracing packets,
/// not by recognising the proxy's chains. Candidate destinations come from the keys of
/// every map and set a rule looks up with a key of destination address, protocol and port
/// (and from rules that match a destination address and port directly); each is traced, and
/// the destinations that reach DNAT or a reject are the Service frontends.
public enum NFTablesRulesReader {
    /// The Service a path belongs to, from the chain names upstream's nftables proxy and
    /// Nodekit's use (`service-HASH-ns/name/proto/port`, `endpoint-HASH-ns/name/proto/port__ip/port`);
    /// nil when no chain on the path is named that way.
    static func serviceName(chains: [String]) -> String? {
        for chain in chains {
            let words = chain.split(separator: "-", maxSplits: 2)
            guard words.count == 3, words[1].count == 8, words[1].allSatisfy({ $0.isUppercase || $0.isNumber }) else { continue }
            let body = words[2].components(separatedBy: "__")[0].split(separator: "/", omittingEmptySubsequences: false)
            guard body.count == 4 else { continue }
            return body[3].isEmpty ? "\(body[0])/\(body[1])" : "\(body[0])/\(body[1]):\(body[3])"
        }
        return nil
    }

    static func protoName(_ n: Int) -> String {
        NFTablesTracer.protocolNumbers.first { $0.value == n && $0.key != "ipv6-icmp" }?.key ?? String(n)
    }

    /// Destinations worth tracing in one table: (address or nil for any local address, protocol, port).
    static func candidates(_ ruleset: NFTablesRuleset) -> [NFTablesTracer.Packet] {
        var out: [NFTablesTracer.Packet] = []
        var seen = Set<String>()
        func add(_ daddr: IPAddress?, _ proto: Int, _ port: Int) {
            let key = "\(daddr?.description ?? "*") \(proto) \(port)"
            guard seen.insert(key).inserted else { return }
            out.append(NFTablesTracer.Packet(daddr: daddr, proto: proto, dport: port))
        }
        /// The role of each part of a lookup key: "daddr", "proto", "dport" or nil.
        func roles(_ key: NftJSON) -> [String?] {
            let parts: [NftJSON]
            if let (k, v) = key.single, k == "concat" { parts = v.array ?? [] } else { parts = [key] }
            return parts.map { p in
                guard let (k, v) = p.single else { return nil }
                if k == "payload", v["field"]?.string == "daddr" { return "daddr" }
                if k == "payload", v["field"]?.string == "dport" { return "dport:" + (v["protocol"]?.string ?? "th") }
                if k == "meta", v["key"]?.string == "l4proto" { return "proto" }
                return nil
            }
        }
        func addElement(_ roles: [String?], _ element: NftJSON) {
            let values: [NftJSON]
            if roles.count > 1 { guard let (k, v) = element.single, k == "concat", let a = v.array, a.count == roles.count else { return }; values = a }
            else { values = [element] }
            var daddr: IPAddress?, proto: Int?, port: Int?
            for (role, value) in zip(roles, values) {
                switch role {
                case "daddr"?: daddr = value.string.flatMap { IPAddress($0) }
                case "proto"?: proto = value.string.flatMap { NFTablesTracer.protocolNumbers[$0] } ?? value.int
                case let r? where r.hasPrefix("dport:"):
                    port = value.int
                    let p = String(r.dropFirst(6))
                    if p != "th" { proto = NFTablesTracer.protocolNumbers[p] }
                default: break
                }
            }
            guard let port, roles.contains(where: { $0?.hasPrefix("dport:") == true }) else { return }
            if roles.contains("daddr") && daddr == nil { return }
            for p in proto.map({ [$0] }) ?? [6, 17, 132] { add(daddr, p, port) }
        }
        func keys(of data: NftJSON) -> [NftJSON] {
            if let name = data.string, name.hasPrefix("@") { return ruleset.sets[String(name.dropFirst())]?.elements.map(\.key) ?? [] }
            if let (k, v) = data.single, k == "set" {
                return (v.array ?? []).map { e in e.array.map { NFTablesRuleset.unwrapElement($0[0]) } ?? NFTablesRuleset.unwrapElement(e) }
            }
            return [data]
        }
        for chain in ruleset.chains.values.sorted(by: { $0.name < $1.name }) {
            for rule in chain.rules {
                var daddr: IPAddress?, port: Int?, proto: Int?
                for expr in rule {
                    guard let (k, v) = expr.single else { continue }
                    if k == "vmap" || (k == "match" && (v["op"]?.string ?? "==") != "!="), let key = v[k == "vmap" ? "key" : "left"],
                       let data = v[k == "vmap" ? "data" : "right"] {
                        let r = roles(key)
                        if r.count > 1 || (k == "vmap") {
                            for e in keys(of: data) { addElement(r, e) }
                        } else if r.first == "daddr" {
                            daddr = data.string.flatMap { IPAddress($0) }
                        } else if let role = r.first ?? nil, role.hasPrefix("dport:") {
                            port = data.int
                            let p = String(role.dropFirst(6))
                            if p != "th" { proto = NFTablesTracer.protocolNumbers[p] }
                        } else if r.first == "proto" {
                            proto = data.string.flatMap { NFTablesTracer.protocolNumbers[$0] }
                        }
                    }
                }
                if let daddr, let port { for p in proto.map({ [$0] }) ?? [6, 17, 132] { add(daddr, p, port) } }
            }
        }
        return out
    }

    /// The Services a tracer's tables program, by name (or by address when unnamed).
    public static func read(_ tracer: NFTablesTracer) throws(NFTablesReadError) -> [ProgrammedService] {
        var services: [String: ProgrammedService] = [:]
        var unnamed: [String: String] = [:]
        for ruleset in tracer.rulesets {
            for packet in candidates(ruleset) {
                let single = NFTablesTracer(rulesets: [ruleset], localAddresses: tracer.localAddresses)
                let paths = try single.trace(packet)
                guard paths.contains(where: { $0.verdict != "ACCEPT" }) else { continue }
                let proto = protoName(packet.proto)
                let address = packet.daddr.map { $0.family == .ip ? $0.description : "[\($0)]" }
                // Unnamed chains: frontends whose packets are translated in the same chains
                // belong to one Service, named by its first frontend.
                let dnatChains = Set(paths.compactMap(\.dnatChain)).sorted()
                let groupKey = dnatChains.isEmpty ? nil : "\(ruleset.family) " + dnatChains.joined(separator: " ")
                let name = paths.lazy.compactMap { serviceName(chains: $0.chains) }.first
                    ?? groupKey.flatMap { unnamed[$0] }
                    ?? "\(address ?? "*"):\(packet.dport)/\(proto)"
                if let groupKey, unnamed[groupKey] == nil { unnamed[groupKey] = name }
                var s = services[name] ?? ProgrammedService(name: name, proto: proto)
                let endpoints = orderedEndpoints(paths)
                let ranges = paths.contains { $0.verdict == "DROP" || $0.verdict == "REJECT" } && !endpoints.isEmpty
                    ? orderedUnique(paths.filter { $0.verdict == "DNAT" }.flatMap(\.sourcePrefixes)) : []
                let kind: ProgrammedService.FrontendKind = packet.daddr == nil ? .nodePort : ranges.isEmpty ? .address : .loadBalancerIP
                var frontend = ProgrammedService.Frontend(kind: kind, address: packet.daddr?.description, port: packet.dport)
                frontend.sourceRanges = ranges
                frontend.endpoints = endpoints
                s.frontends.append(frontend)
                if let a = paths.compactMap(\.affinitySeconds).max() { s.affinitySeconds = a }
                services[name] = s
            }
        }
        return services.values.map { s in
            var s = s
            s.frontends.sort { ($0.kind == .nodePort ? 1 : 0, $0.address ?? "", $0.port) < ($1.kind == .nodePort ? 1 : 0, $1.address ?? "", $1.port) }
            s.endpoints = orderedUnique(s.frontends.flatMap { $0.endpoints ?? [] })
            s.rejects = s.endpoints.isEmpty
            for i in s.frontends.indices where s.frontends[i].endpoints == s.endpoints { s.frontends[i].endpoints = nil }
            return s
        }.sorted { $0.name < $1.name }
    }

    static func orderedUnique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }

    static func orderedEndpoints(_ paths: [NFTablesTracer.Path]) -> [String] {
        orderedUnique(paths.compactMap { $0.verdict == "DNAT" ? $0.endpoint : nil })
    }

    /// Where `packet` goes: the Service, the endpoint set, and each path rule by rule.
    public static func trace(_ tracer: NFTablesTracer, _ packet: NFTablesTracer.Packet, destination: String) throws(NFTablesReadError) -> ProxyTrace {
        let paths = try tracer.trace(packet)
        var t = ProxyTrace(destination: destination, proto: protoName(packet.proto), verdict: "none")
        t.endpoints = orderedEndpoints(paths)
        let verdicts = Set(paths.map(\.verdict))
        t.verdict = verdicts.contains("DNAT") ? "DNAT" : verdicts.contains("REJECT") ? "REJECT" : verdicts.contains("DROP") ? "DROP" : "none"
        t.service = paths.lazy.compactMap { serviceName(chains: $0.chains) }.first
        if t.service == nil && t.verdict != "none" { t.service = "\(destination)/\(t.proto)" }
        // The steps every path shares, then each path's own.
        var common = paths.first?.steps ?? []
        for p in paths.dropFirst() {
            let n = zip(common, p.steps).prefix { $0 == $1 }.count
            common = Array(common.prefix(n))
        }
        t.reasons = common
        if t.verdict == "none" { t.reasons.append("no rule translates or rejects a \(t.proto) packet to \(destination): it is not proxied") }
        t.paths = paths.map { p in
            var p = p
            p.steps = Array(p.steps.dropFirst(common.count))
            return p
        }
        return t
    }
}

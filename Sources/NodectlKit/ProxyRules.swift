import Foundation

/// What the kernel holds for one Service port, read back from programmed rules (not from the
/// API), so `nodectl proxy rules` and `trace` show what packets actually meet.
public struct ProgrammedService: Codable, Equatable, Sendable {
    /// How a packet reaches the Service.
    public enum FrontendKind: String, Codable, Sendable {
        case clusterIP, externalIP, loadBalancerIP, nodePort
        /// An address the Service answers on, when the rules do not say which kind it is
        /// (nftables: cluster, external and LoadBalancer IPs share one verdict map).
        case address
    }

    /// One address (or, for a NodePort, any local address) and port the Service answers on.
    public struct Frontend: Codable, Equatable, Sendable, CustomStringConvertible {
        public var kind: FrontendKind
        /// nil for a NodePort (every local address accepts it).
        public var address: String?
        public var port: Int
        /// LoadBalancer source ranges (empty: any source).
        public var sourceRanges: [String] = []
        /// The endpoints traffic to this frontend reaches, when they differ from the Service's
        /// (externalTrafficPolicy Local); empty: dropped or rejected. Nil: the Service's.
        public var endpoints: [String]?

        public init(kind: FrontendKind, address: String?, port: Int, sourceRanges: [String] = [], endpoints: [String]? = nil) {
            self.kind = kind
            self.address = address
            self.port = port
            self.sourceRanges = sourceRanges
            self.endpoints = endpoints
        }

        var host: String {
            guard let address else { return "?" }
            return address.contains(":") ? "[\(address)]" : address
        }

        public var description: String {
            var text: String
            switch kind {
            case .nodePort: text = "*:\(port) (NodePort)"
            case .clusterIP, .address: text = "\(host):\(port)"
            case .externalIP: text = "\(host):\(port) (externalIP)"
            case .loadBalancerIP: text = "\(host):\(port) (LB)"
            }
            if let endpoints { text += " -> " + (endpoints.isEmpty ? "(none)" : endpoints.joined(separator: "|")) }
            return text
        }
    }

    /// `namespace/name` or `namespace/name:port`, as upstream's rule comments name it.
    public var name: String
    /// `tcp`, `udp` or `sctp`.
    public var proto: String
    public var frontends: [Frontend] = []
    /// Endpoints for traffic to the cluster IP (`ip:port`).
    public var endpoints: [String] = []
    /// Endpoints for external traffic when externalTrafficPolicy is Local; nil when external
    /// traffic uses ``endpoints``.
    public var localEndpoints: [String]?
    /// ClientIP session affinity timeout, when set.
    public var affinitySeconds: Int?
    /// Traffic is rejected: the Service has no endpoints.
    public var rejects = false

    public init(name: String, proto: String) {
        self.name = name
        self.proto = proto
    }
}

/// Reads the proxy's iptables rules (`iptables-save` text of the filter and nat tables, in
/// upstream's KUBE-* layout as ``IPTablesProxier`` writes it) into one ``ProgrammedService``
/// per Service port.
public enum IPTablesRulesReader {
    struct Rule {
        var table: String
        var chain: String
        var comment: String?
        var arguments: [String]
        var jump: String? { value("-j") }
        func value(_ flag: String) -> String? {
            guard let i = arguments.firstIndex(of: flag), i + 1 < arguments.count else { return nil }
            return arguments[i + 1]
        }
        /// `-d ADDR/32` without the host prefix length; nil when negated or absent.
        var destination: String? {
            guard let i = arguments.firstIndex(of: "-d"), i > 0 ? arguments[i - 1] != "!" : true else { return nil }
            return value("-d").map(IPTablesRulesReader.stripHostPrefix)
        }
        var protocolName: String? { value("-p") }
        var destinationPort: Int? { value("--dport").flatMap { Int($0) } }
    }

    /// Splits a rule line into words, honouring double quotes (comments).
    static func words(_ line: Substring) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        var started = false
        for c in line {
            if c == "\"" { quoted.toggle(); started = true; continue }
            if c == " " && !quoted {
                if started { out.append(current) }
                current = ""
                started = false
                continue
            }
            current.append(c)
            started = true
        }
        if started { out.append(current) }
        return out
    }

    static func stripHostPrefix(_ text: String) -> String {
        text.hasSuffix("/32") || text.hasSuffix("/128") ? String(text[..<text.lastIndex(of: "/")!]) : text
    }

    static func parse(_ save: String) -> [Rule] {
        var table = ""
        var rules: [Rule] = []
        for line in save.split(separator: "\n") {
            if line.hasPrefix("*") { table = String(line.dropFirst()); continue }
            guard line.hasPrefix("-A ") else { continue }
            var w = words(line)
            guard w.count >= 2 else { continue }
            let chain = w[1]
            w.removeFirst(2)
            var comment: String?
            if let i = w.firstIndex(of: "--comment"), i + 1 < w.count { comment = w[i + 1] }
            rules.append(Rule(table: table, chain: chain, comment: comment, arguments: w))
        }
        return rules
    }

    /// The Service name at the start of a rule comment (`ns/name:port cluster IP` → `ns/name:port`).
    static func serviceName(_ comment: String) -> String {
        String(comment.split(separator: " ", maxSplits: 1).first ?? "")
    }

    /// The Service ports programmed in `save`, sorted by name.
    public static func read(_ save: String) -> [ProgrammedService] {
        let rules = parse(save)
        var services: [String: ProgrammedService] = [:]
        func service(_ name: String, _ proto: String?) -> ProgrammedService {
            services[name] ?? ProgrammedService(name: name, proto: proto ?? "tcp")
        }
        let nat = rules.filter { $0.table == "nat" }
        let byChain = Dictionary(grouping: nat, by: \.chain)
        /// Endpoints and affinity of a KUBE-SVC- or KUBE-SVL- chain.
        func endpoints(of chain: String) -> (endpoints: [String], affinity: Int?) {
            var seen: [String] = []
            var affinity: Int?
            for rule in byChain[chain] ?? [] {
                guard let target = rule.jump, target.hasPrefix("KUBE-SEP-") else { continue }
                if let seconds = rule.value("--seconds").flatMap({ Int($0) }) { affinity = seconds; continue }
                let dnat = (byChain[target] ?? []).compactMap { $0.value("--to-destination") }.first
                if let dnat, !seen.contains(dnat) { seen.append(dnat) }
            }
            return (seen, affinity)
        }
        /// Where an external chain (KUBE-EXT-) sends traffic: the local-only chain, if any.
        func localChain(of ext: String) -> String? {
            (byChain[ext] ?? []).compactMap(\.jump).first { $0.hasPrefix("KUBE-SVL-") }
        }
        func fill(_ s: inout ProgrammedService, svcChain: String) {
            let e = endpoints(of: svcChain)
            s.endpoints = e.endpoints
            s.affinitySeconds = e.affinity ?? s.affinitySeconds
        }

        for rule in nat where rule.chain == "KUBE-SERVICES" || rule.chain == "KUBE-NODEPORTS" {
            guard let comment = rule.comment, let target = rule.jump,
                  target.hasPrefix("KUBE-SVC-") || target.hasPrefix("KUBE-EXT-") || target.hasPrefix("KUBE-FW-") else { continue }
            let name = serviceName(comment)
            var s = service(name, rule.protocolName)
            let kind: ProgrammedService.FrontendKind =
                rule.chain == "KUBE-NODEPORTS" ? .nodePort
                : comment.hasSuffix("external IP") ? .externalIP
                : comment.hasSuffix("loadbalancer IP") ? .loadBalancerIP : .clusterIP
            var frontend = ProgrammedService.Frontend(kind: kind, address: kind == .nodePort ? nil : rule.destination, port: rule.destinationPort ?? 0)
            var external = target
            if target.hasPrefix("KUBE-FW-") {
                let fw = byChain[target] ?? []
                frontend.sourceRanges = fw.compactMap { $0.value("-s").map(stripHostPrefix) }
                external = fw.compactMap(\.jump).first { $0.hasPrefix("KUBE-EXT-") } ?? target
            }
            s.frontends.append(frontend)
            let suffix = String(target.split(separator: "-").last ?? "")
            fill(&s, svcChain: "KUBE-SVC-" + suffix)
            if external.hasPrefix("KUBE-EXT-"), let local = localChain(of: external) {
                let e = endpoints(of: local)
                s.localEndpoints = e.endpoints
                s.affinitySeconds = e.affinity ?? s.affinitySeconds
            }
            services[name] = s
        }
        // Rejections live in the filter table: "NAME has no endpoints".
        for rule in rules where rule.table == "filter" && rule.jump == "REJECT" {
            guard let comment = rule.comment, comment.hasSuffix(" has no endpoints") else { continue }
            let name = serviceName(comment)
            var s = service(name, rule.protocolName)
            s.rejects = true
            let kind: ProgrammedService.FrontendKind = rule.chain == "KUBE-EXTERNAL-SERVICES" && rule.destination == nil ? .nodePort
                : rule.chain == "KUBE-EXTERNAL-SERVICES" ? .externalIP : .clusterIP
            let f = ProgrammedService.Frontend(kind: kind, address: kind == .nodePort ? nil : rule.destination, port: rule.destinationPort ?? 0)
            if !s.frontends.contains(f) { s.frontends.append(f) }
            services[name] = s
        }
        return services.values.sorted { $0.name < $1.name }
    }
}

/// Where a packet to one address would go, by the programmed rules.
public struct ProxyTrace: Codable, Equatable, Sendable {
    public var destination: String
    public var proto: String
    /// The Service port that matched, nil when none did (the packet is not proxied).
    public var service: String?
    public var match: ProgrammedService.FrontendKind?
    /// The endpoints the packet may reach (one of them, by the backend's balancing).
    public var endpoints: [String] = []
    /// `DNAT`, `REJECT` or `none`.
    public var verdict: String
    /// Why, one clause per decision, in order (for nftables: the rules every path takes).
    public var reasons: [String] = []
    /// nftables: every way the packet can go, with the rules each path takes after ``reasons``.
    public var paths: [NFTablesTracer.Path]?

    /// Traces `address:port/proto` through `services`. A NodePort matches at any address that
    /// is not itself a Service address (the kernel accepts it only on local addresses).
    public static func trace(address: String, port: Int, proto: String, services: [ProgrammedService]) -> ProxyTrace {
        var t = ProxyTrace(destination: "\(address):\(port)", proto: proto, verdict: "none")
        let candidates = services.filter { $0.proto == proto }
        var hit: (ProgrammedService, ProgrammedService.Frontend)?
        for s in candidates {
            if let f = s.frontends.first(where: { $0.kind != .nodePort && $0.address == address && $0.port == port }) { hit = (s, f); break }
        }
        if hit == nil {
            for s in candidates {
                if let f = s.frontends.first(where: { $0.kind == .nodePort && $0.port == port }) { hit = (s, f); break }
            }
        }
        guard let (service, frontend) = hit else {
            t.reasons = ["no \(proto) Service port is programmed at \(address):\(port): the packet is not proxied"]
            return t
        }
        t.service = service.name
        t.match = frontend.kind
        switch frontend.kind {
        case .clusterIP, .address: t.reasons.append("matches the cluster IP of \(service.name)")
        case .externalIP: t.reasons.append("matches an externalIP of \(service.name)")
        case .loadBalancerIP:
            t.reasons.append("matches a LoadBalancer ingress IP of \(service.name)")
            if !frontend.sourceRanges.isEmpty {
                t.reasons.append("only from loadBalancerSourceRanges \(frontend.sourceRanges.joined(separator: ", ")); other sources are dropped")
            }
        case .nodePort: t.reasons.append("matches NodePort \(port) of \(service.name) (on this node's addresses)")
        }
        if service.rejects {
            t.verdict = "REJECT"
            t.reasons.append("the Service has no endpoints: rejected")
            return t
        }
        let external = frontend.kind != .clusterIP
        if external, let local = service.localEndpoints {
            t.endpoints = local
            t.reasons.append("externalTrafficPolicy Local: only endpoints on this node (\(local.count))")
        } else {
            t.endpoints = service.endpoints
            t.reasons.append("\(service.endpoints.count) endpoint(s) for \(external ? "external" : "cluster") traffic")
        }
        if t.endpoints.isEmpty {
            t.verdict = external && service.localEndpoints != nil ? "DROP" : "REJECT"
            t.reasons.append(t.verdict == "DROP" ? "no local endpoints: dropped" : "no endpoints: rejected")
            return t
        }
        t.verdict = "DNAT"
        if let seconds = service.affinitySeconds {
            t.reasons.append("ClientIP session affinity for \(seconds) s: a client stays on the endpoint it first reached")
        } else {
            t.reasons.append("balanced at random over the endpoints")
        }
        return t
    }
}

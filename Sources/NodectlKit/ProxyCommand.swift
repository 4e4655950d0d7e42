import ArgumentParser
import Foundation
import IPTables
import IPVS
import LinuxSystem
import Netlink
import NFTables
import Proxy
import Yams

/// `nodectl proxy rules|trace`: what the proxy has programmed in this node's kernel, per
/// Service, and where a packet to one address would go. Both read the kernel, not the API
/// server: nftables (`nft -j list table`, interpreted rule by rule), iptables-save, or IPVS
/// over generic netlink.
public struct ProxyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Show the Service rules programmed in the kernel, and trace where a packet would go.",
        subcommands: [Rules.self, Trace.self])

    public init() {}

    /// Which kernel interface to read.
    public enum Mode: String, ExpressibleByArgument, CaseIterable, Sendable {
        case nftables, iptables, ipvs
    }

    public struct KernelOptions: ParsableArguments {
        @Option(name: .customLong("proxy-mode"), help: "nftables (default), iptables or ipvs.")
        var mode: Mode = .nftables
        @Option(name: .customLong("table"), help: "With nftables: the proxy's table name (its --nftables-table; default nodekit-proxy), read in the ip and ip6 families.")
        var table: String = NFTablesProxier.defaultTableName
        @Option(name: .customLong("iptables-variant"), help: "nft or legacy (default: what the iptables command uses).")
        var variant: String?
        @Option(help: "Read the rules of this network namespace (a path such as /var/run/netns/NAME; default: this process's).")
        var netns: String?
        public init() {}

        func namespace() throws -> NetworkNamespace? {
            try netns.map { path in
                do { return try NetworkNamespace(path: path) } catch { throw NodectlError("cannot open netns \(path): \(error)") }
            }
        }

        /// The nftables tables named `table` (ip and ip6), with this namespace's local addresses.
        func nftablesTracer() throws -> NFTablesTracer {
            let namespace = try namespace()
            guard let nft = ExecIPTables.locate("nft") else { throw NodectlError("nft not found (install the nftables package)") }
            var rulesets: [NFTablesRuleset] = []
            var missing: [String] = []
            for family in ["ip", "ip6"] {
                let list = { () throws -> ChildProcess.Output in
                    try ChildProcess.run(nft, arguments: [nft, "-j", "list", "table", family, table], environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], input: [])
                }
                let out: ChildProcess.Output
                do { out = try namespace.map { try $0.run(list) } ?? list() } catch {
                    throw NodectlError("cannot run nft -j list table \(family) \(table): \(error)")
                }
                if out.status != 0 {
                    let message = String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "exit \(out.status)"
                    if message.contains("No such file or directory") { missing.append(family); continue }
                    throw NodectlError("nft -j list table \(family) \(table): \(message)")
                }
                do { rulesets.append(try NFTablesRuleset(json: Data(out.stdout), family: family, table: table)) } catch {
                    throw NodectlError("\(error)")
                }
            }
            if rulesets.isEmpty {
                throw NodectlError("no nftables table \(table) in family ip or ip6\(netns.map { " in \($0)" } ?? ""): is the proxy running in nftables mode (see --table, --proxy-mode)?")
            }
            let addresses: [AddressInfo]
            do { addresses = try RouteNetlink(socket: try MnlSocket(namespace: namespace)).addresses(family: nil) } catch {
                throw NodectlError("cannot list this namespace's addresses: \(error)")
            }
            let local = Set(addresses.compactMap { NFTables.IPAddress("\($0.prefix.address)") })
            return NFTablesTracer(rulesets: rulesets, localAddresses: local)
        }

        func services() throws -> [ProgrammedService] {
            let namespace = try namespace()
            switch mode {
            case .nftables:
                do { return try NFTablesRulesReader.read(try nftablesTracer()) } catch let error as NFTablesReadError {
                    throw NodectlError("\(error)")
                }
            case .iptables:
                let v: IPTablesVariant
                switch variant {
                case nil: v = IPTablesVariant.detect()
                case "nft": v = .nft
                case "legacy": v = .legacy
                case let other?: throw NodectlError("--iptables-variant \(other): use nft or legacy")
                }
                let ipt = ExecIPTables(variant: v)
                let read = { () throws -> String in
                    try ipt.save(table: "filter") + ipt.save(table: "nat")
                }
                let text: String
                do { text = try namespace.map { try $0.run(read) } ?? read() } catch {
                    throw NodectlError("cannot read iptables rules: \(error)")
                }
                return IPTablesRulesReader.read(text)
            case .ipvs:
                do {
                    let ipvs = try NetlinkIPVS(namespace: namespace)
                    return try IPVSRulesReader.read(ipvs)
                } catch let error as IPVSError where error.isUnavailable {
                    throw NodectlError("IPVS is not available in this kernel: \(error)")
                } catch {
                    throw NodectlError("cannot read IPVS: \(error)")
                }
            }
        }
    }

    /// `nodectl proxy rules [SERVICE]`.
    public struct Rules: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show the programmed Service ports: addresses, endpoints, affinity, reject.")
        @Argument(help: "Only this Service (namespace/name, or namespace/name:port).")
        var service: String?
        @OptionGroup var kernel: KernelOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.")
        var output: OutputFormat = .table
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                var services = try kernel.services()
                if let service {
                    services = services.filter { $0.name == service || $0.name.hasPrefix(service + ":") }
                    if services.isEmpty { throw NodectlError("no rules are programmed for \(service)") }
                }
                print(try ProxyView.render(services, format: output), terminator: "")
            }
        }
    }

    /// `nodectl proxy trace IP:PORT[/PROTO]`.
    public struct Trace: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Explain which Service and endpoints a packet to IP:PORT[/PROTO] would reach.")
        @Argument(help: "IP:PORT or IP:PORT/PROTO (tcp, udp, sctp; default tcp); [V6]:PORT for IPv6.")
        var destination: String
        @Option(help: "With nftables: the packet's source address (default: any client; rules on the source become conditions).")
        var from: String?
        @Flag(name: .customLong("all-paths"), help: "With nftables: list every path, not one per outcome.")
        var allPaths = false
        @Flag(name: .customLong("from-node"), help: "With nftables: the packet is sent by the node itself (output hook), not arriving from a pod or another host.")
        var fromNode = false
        @OptionGroup var kernel: KernelOptions
        @Option(name: .shortAndLong, help: "table (text), json or yaml.")
        var output: OutputFormat = .table
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                guard let (address, port, proto) = ProxyView.parseDestination(destination) else {
                    throw NodectlError("\(destination) is not IP:PORT[/tcp|udp|sctp]")
                }
                let trace: ProxyTrace
                if kernel.mode == .nftables {
                    guard let daddr = NFTables.IPAddress(address) else { throw NodectlError("\(address) is not an IP address") }
                    let saddr = try from.map { text in
                        guard let a = NFTables.IPAddress(text), a.family == daddr.family else {
                            throw NodectlError("--from \(text) is not an IP address of the destination's family")
                        }
                        return a
                    }
                    let packet = NFTablesTracer.Packet(saddr: saddr, daddr: daddr, proto: NFTablesTracer.protocolNumbers[proto]!,
                                                       dport: port, fromNode: fromNode)
                    do { trace = try NFTablesRulesReader.trace(try kernel.nftablesTracer(), packet, destination: "\(daddr.family == .ip ? address : "[\(address)]"):\(port)") } catch let error as NFTablesReadError {
                        throw NodectlError("\(error)")
                    }
                } else {
                    trace = ProxyTrace.trace(address: address, port: port, proto: proto, services: try kernel.services())
                }
                print(try ProxyView.render(trace, format: output, allPaths: allPaths), terminator: "")
            }
        }
    }
}

/// Reads IPVS virtual and real servers into ``ProgrammedService`` values. IPVS carries no
/// Service names, so each virtual server is named by its address (`10.96.0.1:443/tcp`).
enum IPVSRulesReader {
    static func read(_ ipvs: any IPVSInterface) throws -> [ProgrammedService] {
        try ipvs.services().sorted { $0.key < $1.key }.map { vs in
            let proto = vs.key.protocol.description.lowercased()
            var s = ProgrammedService(name: "\(vs.key.address.family == .ip ? "\(vs.key.address)" : "[\(vs.key.address)]"):\(vs.key.port)/\(proto)", proto: proto)
            s.frontends = [.init(kind: .clusterIP, address: "\(vs.key.address)", port: Int(vs.key.port))]
            let destinations = try ipvs.destinations(of: vs.key).sorted { $0.key < $1.key }
            s.endpoints = destinations.filter { $0.weight > 0 }.map { "\($0.key)" }
            s.affinitySeconds = vs.isPersistent ? Int(vs.timeout) : nil
            s.rejects = s.endpoints.isEmpty
            return s
        }
    }
}

enum ProxyView {
    /// `IP:PORT[/PROTO]` or `[V6]:PORT[/PROTO]`.
    static func parseDestination(_ text: String) -> (String, Int, String)? {
        var rest = Substring(text)
        var proto = "tcp"
        if let slash = rest.lastIndex(of: "/") {
            proto = rest[rest.index(after: slash)...].lowercased()
            rest = rest[..<slash]
        }
        guard ["tcp", "udp", "sctp"].contains(proto), let colon = rest.lastIndex(of: ":"),
              let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else { return nil }
        return (host, port, proto)
    }

    static func encode<T: Encodable>(_ value: T, format: OutputFormat) throws -> String {
        if format == .yaml { return try YAMLEncoder().encode(value) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }

    static func render(_ services: [ProgrammedService], format: OutputFormat) throws -> String {
        guard format == .table else { return try encode(services, format: format) }
        var table = Table("SERVICE", "PROTO", "ADDRESSES", "ENDPOINTS", "AFFINITY")
        for s in services {
            var endpoints = s.rejects ? "(none: reject)" : s.endpoints.joined(separator: ",")
            if let local = s.localEndpoints { endpoints += " local:" + (local.isEmpty ? "(none)" : local.joined(separator: ",")) }
            let frontends = s.frontends.map { f in f.description + (f.sourceRanges.isEmpty ? "" : " from " + f.sourceRanges.joined(separator: "|")) }
            table.append([s.name, s.proto, frontends.joined(separator: ","), endpoints,
                          s.affinitySeconds.map { "ClientIP \($0)s" } ?? "None"])
        }
        return table.render()
    }

    static func render(_ trace: ProxyTrace, format: OutputFormat, allPaths: Bool = false) throws -> String {
        guard format == .table else { return try encode(trace, format: format) }
        var out = "\(trace.destination)/\(trace.proto): \(trace.verdict)"
        if let service = trace.service { out += " via \(service)" }
        if !trace.endpoints.isEmpty { out += " -> " + trace.endpoints.joined(separator: ", ") }
        out += "\n" + trace.reasons.map { "  - \($0)\n" }.joined()
        let paths = trace.paths ?? []
        // By default one path per outcome: the one that assumes least about the packet.
        var shown = Array(paths.indices)
        if !allPaths {
            var best: [String: Int] = [:]
            for i in paths.indices {
                let key = "\(paths[i].verdict) \(paths[i].endpoint ?? "")"
                if let j = best[key], paths[j].conditions.count <= paths[i].conditions.count { continue }
                best[key] = i
            }
            shown = best.values.sorted()
        }
        for i in shown where paths.count > 1 || !paths[i].steps.isEmpty || !paths[i].conditions.isEmpty {
            let p = paths[i]
            var head = "  path \(i + 1) of \(paths.count)"
            if p.probability < 1 { head += " (\(percent(p.probability)) of packets)" }
            if !p.conditions.isEmpty { head += " if " + p.conditions.joined(separator: " and ") }
            head += ": " + (p.endpoint.map { "\(p.verdict) \($0)" } ?? p.verdict)
            if p.masquerade { head += ", masqueraded" }
            if let a = p.affinitySeconds { head += ", client remembered \(a) s (ClientIP affinity)" }
            out += head + "\n" + p.steps.map { "      \($0)\n" }.joined()
        }
        if shown.count < paths.count {
            out += "  (\(paths.count - shown.count) more paths reach the same outcomes under other conditions, e.g. masquerade or hairpin; --all-paths lists them)\n"
        }
        return out
    }

    static func percent(_ p: Double) -> String {
        let v = p * 100
        return v == v.rounded() ? "\(Int(v))%" : String(format: "%.1f%%", v)
    }
}

import ArgumentParser
import Foundation
import IPTables
import IPVS
import LinuxSystem
import Yams

/// `nodectl proxy rules|trace`: what the proxy has programmed in this node's kernel, per
/// Service, and where a packet to one address would go. Both read the kernel now (iptables-save,
/// IPVS over generic netlink), not the API server.
public struct ProxyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Show the Service rules programmed in the kernel, and trace where a packet would go.",
        subcommands: [Rules.self, Trace.self])

    public init() {}

    /// Which kernel interface to read.
    public enum Mode: String, ExpressibleByArgument, CaseIterable, Sendable {
        case iptables, ipvs
    }

    public struct KernelOptions: ParsableArguments {
        @Option(name: .customLong("proxy-mode"), help: "iptables (default) or ipvs. nftables is not read yet (issue 8).")
        var mode: Mode = .iptables
        @Option(name: .customLong("iptables-variant"), help: "nft or legacy (default: what the iptables command uses).")
        var variant: String?
        @Option(help: "Read the rules of this network namespace (a path such as /var/run/netns/NAME; default: this process's).")
        var netns: String?
        public init() {}

        func services() throws -> [ProgrammedService] {
            let namespace = try netns.map { path in
                do { return try NetworkNamespace(path: path) } catch { throw NodectlError("cannot open netns \(path): \(error)") }
            }
            switch mode {
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
        @OptionGroup var kernel: KernelOptions
        @Option(name: .shortAndLong, help: "table (text), json or yaml.")
        var output: OutputFormat = .table
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                guard let (address, port, proto) = ProxyView.parseDestination(destination) else {
                    throw NodectlError("\(destination) is not IP:PORT[/tcp|udp|sctp]")
                }
                let trace = ProxyTrace.trace(address: address, port: port, proto: proto, services: try kernel.services())
                print(try ProxyView.render(trace, format: output), terminator: "")
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
            table.append([s.name, s.proto, s.frontends.map(\.description).joined(separator: ","), endpoints,
                          s.affinitySeconds.map { "ClientIP \($0)s" } ?? "None"])
        }
        return table.render()
    }

    static func render(_ trace: ProxyTrace, format: OutputFormat) throws -> String {
        guard format == .table else { return try encode(trace, format: format) }
        var out = "\(trace.destination)/\(trace.proto): \(trace.verdict)"
        if let service = trace.service { out += " via \(service)" }
        if !trace.endpoints.isEmpty { out += " -> " + trace.endpoints.joined(separator: ", ") }
        out += "\n" + trace.reasons.map { "  - \($0)\n" }.joined()
        return out
    }
}

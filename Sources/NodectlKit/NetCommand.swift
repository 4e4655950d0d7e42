import ArgumentParser
import CNI
import Foundation
import LinuxSystem
import Netlink

/// `nodectl net …`: the pod network as the node sees it: a pod's interfaces, addresses and
/// routes (read over netlink inside its netns), and CNI commands run through Nodekit's CNI
/// runtime library with the node's conflist.
public struct NetCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "net",
        abstract: "Show pod network namespaces and run CNI commands (CHECK, STATUS, ADD, DEL).",
        subcommands: [Show.self, Check.self, Status.self, Add.self, Del.self])

    public init() {}

    static var stateDir: String { ProcessInfo.processInfo.environment["NODEKIT_STATE_DIR"] ?? "/run/nodekit" }

    /// Where the CNI runtime finds its conflist, plugins and cache.
    public struct CNIOptions: ParsableArguments {
        @Option(help: "The network conflist (default: $NODEKIT_STATE_DIR/cni/net.d/10-nodekit.conflist).")
        public var conflist: String?
        @Option(name: .customLong("cni-bin-dir"), help: "Plugin directories, ':'-separated (default: $NODEKIT_STATE_DIR/cni/bin:/usr/lib/cni).")
        public var binDir: String?
        @Option(name: .customLong("cache-dir"), help: "Result cache (default: $NODEKIT_STATE_DIR/cni/cache).")
        public var cacheDir: String?
        public init() {}

        func runtime() -> CNIRuntime {
            let dirs = (binDir ?? "\(NetCommand.stateDir)/cni/bin:/usr/lib/cni").split(separator: ":").map(String.init)
            return CNIRuntime(pluginDirs: dirs, cacheDir: cacheDir ?? "\(NetCommand.stateDir)/cni/cache")
        }

        func list() throws -> NetworkConfigList {
            try NetworkConfigList.load(path: conflist ?? "\(NetCommand.stateDir)/cni/net.d/10-nodekit.conflist")
        }
    }

    /// The attachment a command acts on.
    public struct AttachmentOptions: ParsableArguments {
        @Option(name: .customLong("container-id"), help: "The sandbox (pod) id the runtime used as CNI_CONTAINERID.")
        public var containerID: String
        @Option(help: "The pod's netns path (CNI_NETNS).")
        public var netns: String = ""
        @Option(help: "The interface inside the pod (CNI_IFNAME).")
        public var ifname: String = "eth0"
        public init() {}

        var runtimeConfig: RuntimeConfig { RuntimeConfig(containerID: containerID, netns: netns, ifname: ifname) }
    }

    /// `nodectl net show --netns PATH`: interfaces, addresses and routes inside a netns.
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show the interfaces, addresses and routes in a network namespace.")
        @Option(help: "The netns path, e.g. /var/run/netns/cni-… or /proc/PID/ns/net (default: this process's).")
        var netns: String?
        @Option(name: .shortAndLong, help: "Output format: table or json.")
        var output: OutputFormat = .table
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                let namespace = try netns.map { path in
                    do { return try NetworkNamespace(path: path) } catch { throw NodectlError("cannot open netns \(path): \(error)") }
                }
                let netlink = RouteNetlink(socket: try MnlSocket(namespace: namespace))
                let links = try netlink.links().sorted { $0.index < $1.index }
                let addresses = try netlink.addresses(family: nil)
                let routes = try netlink.routes(family: 2) + netlink.routes(family: 10)
                print(NetView.render(links: links, addresses: addresses, routes: routes, format: output), terminator: "")
            }
        }
    }

    /// `nodectl net check`: CNI CHECK of an attachment with its cached result.
    public struct Check: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Run CNI CHECK for a pod's attachment (uses the cached ADD result).")
        @OptionGroup var cni: CNIOptions
        @OptionGroup var attachment: AttachmentOptions
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                var rt = attachment.runtimeConfig
                let list = try cni.list()
                let runtime = cni.runtime()
                if rt.netns.isEmpty, let cached = try runtime.cachedResult(list, rt),
                   let sandbox = cached["interfaces"]?.arrayValue?.compactMap({ $0["sandbox"]?.stringValue }).first {
                    rt.netns = sandbox
                }
                try runtime.check(list, rt)
                print("CHECK ok: \(rt.containerID)/\(rt.ifname) in network \(list.name)")
            }
        }
    }

    /// `nodectl net status`: CNI STATUS of the network's plugins.
    public struct Status: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Run CNI STATUS for the network's plugins.")
        @OptionGroup var cni: CNIOptions
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                let list = try cni.list()
                try cni.runtime().status(list)
                print("STATUS ok: network \(list.name) can add pods")
            }
        }
    }

    /// `nodectl net add`: CNI ADD through the chain; prints the result JSON.
    public struct Add: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Run CNI ADD for a netns through the network's chain and print the result.")
        @OptionGroup var cni: CNIOptions
        @OptionGroup var attachment: AttachmentOptions
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                let list = try cni.list()
                let result = try cni.runtime().add(list, attachment.runtimeConfig)
                print(result.json(version: list.cniVersion).description)
            }
        }
    }

    /// `nodectl net del`: CNI DEL through the chain in reverse order.
    public struct Del: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Run CNI DEL for an attachment through the network's chain, in reverse order.")
        @OptionGroup var cni: CNIOptions
        @OptionGroup var attachment: AttachmentOptions
        public init() {}

        public func run() throws {
            try NetCommand.guarded {
                try cni.runtime().delete(try cni.list(), attachment.runtimeConfig)
                print("DEL ok: \(attachment.containerID)/\(attachment.ifname)")
            }
        }
    }

    /// Turns every failure into one line on stderr and exit status 1.
    static func guarded(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            FileHandle.standardError.write(Data("nodectl: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Text and JSON views of a netns's links, addresses and routes.
enum NetView {
    static func render(links: [LinkInfo], addresses: [AddressInfo], routes: [RouteInfo], format: OutputFormat) -> String {
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        if format != .table {
            let linkJSON: [CNI.JSONValue] = links.map { link in
                .object([("index", .number(Double(link.index))), ("name", .string(link.name)), ("kind", link.kind.map { .string($0) } ?? .null),
                         ("mtu", .number(Double(link.mtu))), ("mac", .string(link.macString)), ("up", .bool(link.isUp)),
                         ("master", link.masterIndex.flatMap { names[$0] }.map { .string($0) } ?? .null),
                         ("addresses", .array(addresses.filter { $0.index == link.index }.map { .string($0.prefix.description) }))])
            }
            let routeJSON: [CNI.JSONValue] = routes.map { route in
                .object([("dst", .string(route.destination.length == 0 ? "default" : route.destination.description)),
                         ("gw", route.gateway.map { .string($0.description) } ?? .null),
                         ("dev", route.outputIndex.flatMap { names[$0] }.map { .string($0) } ?? .null)])
            }
            return CNI.JSONValue.object([("interfaces", .array(linkJSON)), ("routes", .array(routeJSON))]).description + "\n"
        }
        var interfaces = Table("INDEX", "NAME", "KIND", "STATE", "MTU", "MAC", "MASTER", "ADDRESSES")
        for link in links {
            interfaces.append([String(link.index), link.name, link.kind ?? "-", link.isUp ? "UP" : "DOWN", String(link.mtu),
                               link.macString.isEmpty ? "-" : link.macString, link.masterIndex.flatMap { names[$0] } ?? "-",
                               addresses.filter { $0.index == link.index }.map(\.prefix.description).joined(separator: ",")])
        }
        var routeTable = Table("DESTINATION", "GATEWAY", "DEVICE")
        for route in routes {
            routeTable.append([route.destination.length == 0 ? "default" : route.destination.description,
                               route.gateway?.description ?? "-", route.outputIndex.flatMap { names[$0] } ?? "-"])
        }
        return interfaces.render() + "\n" + routeTable.render()
    }
}

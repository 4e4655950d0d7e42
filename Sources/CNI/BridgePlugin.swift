import Netlink

/// What the runtime passes a plugin in CNI_* variables.
public struct PluginInvocation: Sendable, Equatable {
    public var command: String
    public var containerID: String
    public var netns: String
    public var ifname: String
    public var args: String
    public var path: String

    /// Reads and validates the CNI_* variables `command` needs. Throws code 4 when one is
    /// missing or invalid.
    public init(environment: [String: String]) throws(CNIError) {
        guard let command = environment["CNI_COMMAND"], !command.isEmpty else {
            throw CNIError(CNIError.invalidEnvironment, "CNI_COMMAND is not set")
        }
        self.command = command
        containerID = environment["CNI_CONTAINERID"] ?? ""
        netns = environment["CNI_NETNS"] ?? ""
        ifname = environment["CNI_IFNAME"] ?? ""
        args = environment["CNI_ARGS"] ?? ""
        path = environment["CNI_PATH"] ?? ""
        switch command {
        case "ADD", "CHECK":
            try Self.require("CNI_CONTAINERID", containerID)
            try Self.require("CNI_NETNS", netns)
            try Self.require("CNI_IFNAME", ifname)
        case "DEL":
            try Self.require("CNI_CONTAINERID", containerID)
            try Self.require("CNI_IFNAME", ifname)
        case "VERSION", "STATUS", "GC":
            return
        default:
            throw CNIError(CNIError.invalidEnvironment, "CNI_COMMAND \"\(command)\" is not one of ADD, DEL, CHECK, VERSION, STATUS, GC")
        }
        guard let first = containerID.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(first),
              containerID.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)) }) else {
            throw CNIError(CNIError.invalidEnvironment, "CNI_CONTAINERID \"\(containerID)\" must start alphanumeric and hold only [A-Za-z0-9_.-]")
        }
        try validateInterfaceName(ifname, field: "CNI_IFNAME")
    }

    private static func require(_ name: String, _ value: String) throws(CNIError) {
        if value.isEmpty { throw CNIError(CNIError.invalidEnvironment, "\(name) is not set") }
    }
}

/// The nodekit-cni plugin: a Linux bridge, a veth pair per pod, built-in host-local IPAM,
/// routes and optional masquerade. Every method is one CNI command; errors are ``CNIError``
/// with the spec's codes.
///
/// ADD is not retried here: on failure it undoes what it did (veth, IP reservation) before
/// throwing. DEL is idempotent and succeeds when the netns is already gone.
public struct BridgePlugin: Sendable {
    public let kernel: any PodNetworkKernel

    public init(kernel: any PodNetworkKernel) {
        self.kernel = kernel
    }

    /// The host-side veth name: "veth" + 8 hex digits of a hash of (containerID, ifname),
    /// stable so DEL and CHECK find it without state.
    public static func hostVethName(containerID: String, ifname: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (containerID + "/" + ifname).utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(UInt32(truncatingIfNeeded: hash ^ (hash >> 32)), radix: 16)
        return "veth" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    // MARK: ADD

    public func add(_ invocation: PluginInvocation, config: BridgeNetworkConfig) throws(CNIError) -> CNIResult {
        let pod = try kernel.openPodNamespace(invocation.netns)
        let host = try kernel.hostNetlink()
        let attachment = Attachment(containerID: invocation.containerID, ifname: invocation.ifname)
        let ipam = IPAMStore(dataDir: config.dataDir, network: config.name, rangeSets: config.rangeSets)
        let allocations = try ipam.allocate(attachment)
        let hostVeth = Self.hostVethName(containerID: invocation.containerID, ifname: invocation.ifname)
        do throws(CNIError) {
            return try setUp(invocation, config: config, pod: pod, host: host, hostVeth: hostVeth, allocations: allocations)
        } catch {
            // Undo: deleting the host end removes the pod end too; then free the addresses.
            if let link = try? host.link(named: hostVeth) { try? host.deleteLink(index: link.index) }
            _ = try? ipam.release(attachment)
            throw error
        }
    }

    private func setUp(_ invocation: PluginInvocation, config: BridgeNetworkConfig, pod: PodNamespace, host: any RouteNetlinkOperations,
                       hostVeth: String, allocations: [(address: IPPrefix, gateway: IPAddress)]) throws(CNIError) -> CNIResult {
        let bridge = try ensureBridge(config, host: host, gateways: config.isGateway ? allocations : [])
        if config.isGateway {
            for family in Set(allocations.map(\.address.address.isV4)) { try kernel.enableForwarding(ipv6: !family) }
        }

        if let stale = try kernel(host, "look up \(hostVeth)", { () throws(NetlinkError) in try host.link(named: hostVeth) }) {
            // A veth left by an ADD whose DEL never came: the name is ours, so replace it.
            try kernel(host, "delete stale \(hostVeth)") { () throws(NetlinkError) in try host.deleteLink(index: stale.index) }
        }
        try kernel(host, "create veth \(hostVeth) peer \(invocation.ifname)") { () throws(NetlinkError) in
            try host.createVeth(name: hostVeth, peerName: invocation.ifname, peerNamespaceFD: pod.fd, mtu: config.mtu ?? bridge.mtu)
        }
        guard let hostLink = try kernel(host, "look up \(hostVeth)", { () throws(NetlinkError) in try host.link(named: hostVeth) }) else {
            throw CNIError(CNIError.kernelFailure, "veth \(hostVeth) vanished after creation")
        }
        try kernel(host, "attach \(hostVeth) to \(bridge.name)") { () throws(NetlinkError) in
            try host.setMaster(index: hostLink.index, masterIndex: bridge.index)
        }
        if config.hairpinMode {
            try kernel(host, "hairpin on \(hostVeth)") { () throws(NetlinkError) in try host.setHairpin(index: hostLink.index, enabled: true) }
        }
        try kernel(host, "set \(hostVeth) up") { () throws(NetlinkError) in try host.setUp(index: hostLink.index) }

        let podNetlink = pod.netlink
        guard let podLink = try kernel(podNetlink, "look up \(invocation.ifname) in \(pod.path)", { () throws(NetlinkError) in
            try podNetlink.link(named: invocation.ifname)
        }) else {
            throw CNIError(CNIError.kernelFailure, "interface \(invocation.ifname) missing in \(pod.path) after creating the veth")
        }
        var result = CNIResult(cniVersion: config.cniVersion)
        result.interfaces = [
            .init(name: bridge.name, mac: bridge.macString),
            .init(name: hostVeth, mac: hostLink.macString),
            .init(name: invocation.ifname, mac: podLink.macString, mtu: Int(podLink.mtu), sandbox: invocation.netns),
        ]
        try kernel(podNetlink, "set \(invocation.ifname) up") { () throws(NetlinkError) in try podNetlink.setUp(index: podLink.index) }
        for allocation in allocations {
            try kernel(podNetlink, "add \(allocation.address) to \(invocation.ifname)") { () throws(NetlinkError) in
                try podNetlink.addAddress(index: podLink.index, prefix: allocation.address)
            }
            result.ips.append(.init(address: allocation.address, gateway: allocation.gateway, interface: 2))
        }
        for route in config.routes {
            guard let allocation = allocations.first(where: { $0.address.address.isV4 == route.dst.address.isV4 }) else { continue }
            let gateway = route.gw ?? allocation.gateway
            try kernel(podNetlink, "add route \(route.dst) via \(gateway)") { () throws(NetlinkError) in
                try podNetlink.addRoute(RouteInfo(destination: route.dst, gateway: gateway, outputIndex: podLink.index), replace: true)
            }
            result.routes.append(.init(dst: route.dst, gw: gateway))
        }

        try ensureNodeRoutes(config, host: host, bridge: bridge)
        if config.ipMasq {
            try kernel.ensureMasquerade(network: config.name, podCIDRs: config.rangeSets.map { $0[0].subnet }, clusterCIDRs: config.clusterCIDRs)
        }
        return result
    }

    /// Creates the bridge if missing, sets MTU and up, and adds each gateway address
    /// (subnet-length prefix) unless present. Safe under concurrent ADDs: EEXIST is success.
    private func ensureBridge(_ config: BridgeNetworkConfig, host: any RouteNetlinkOperations,
                              gateways: [(address: IPPrefix, gateway: IPAddress)]) throws(CNIError) -> LinkInfo {
        var bridge = try kernel(host, "look up bridge \(config.bridge)") { () throws(NetlinkError) in try host.link(named: config.bridge) }
        if bridge == nil {
            do {
                try host.createBridge(name: config.bridge, mtu: config.mtu)
            } catch where error.errno == 17 {
                // Another ADD created it first.
            } catch {
                throw CNIError(CNIError.kernelFailure, "create bridge \(config.bridge)", details: error.description)
            }
            bridge = try kernel(host, "look up bridge \(config.bridge)") { () throws(NetlinkError) in try host.link(named: config.bridge) }
        }
        guard let link = bridge else { throw CNIError(CNIError.kernelFailure, "bridge \(config.bridge) missing after creation") }
        guard link.kind == "bridge" else {
            throw CNIError(CNIError.invalidNetworkConfig, "\(config.bridge) exists and is a \(link.kind ?? "non-bridge") link, not a bridge")
        }
        if let mtu = config.mtu, link.mtu != mtu {
            try kernel(host, "set \(config.bridge) mtu \(mtu)") { () throws(NetlinkError) in try host.setMTU(index: link.index, mtu: mtu) }
        }
        if !link.isUp {
            try kernel(host, "set \(config.bridge) up") { () throws(NetlinkError) in try host.setUp(index: link.index) }
        }
        if !gateways.isEmpty {
            let existing = try kernel(host, "list addresses") { () throws(NetlinkError) in try host.addresses(family: nil) }.filter { $0.index == link.index }
            for g in gateways {
                let prefix = IPPrefix(address: g.gateway, length: g.address.length)
                if existing.contains(where: { $0.prefix == prefix }) { continue }
                do {
                    try host.addAddress(index: link.index, prefix: prefix)
                } catch where error.errno == 17 {
                    continue
                } catch {
                    throw CNIError(CNIError.kernelFailure, "add gateway \(prefix) to \(config.bridge)", details: error.description)
                }
            }
        }
        return link
    }

    /// Host routes to other nodes' pod CIDRs, from the config and the node routes file, added
    /// with replace so a moved node's gateway is updated.
    private func ensureNodeRoutes(_ config: BridgeNetworkConfig, host: any RouteNetlinkOperations, bridge: LinkInfo) throws(CNIError) {
        var routes = config.nodeRoutes
        if let path = config.nodeRoutesFile, let bytes = try kernel.readFile(path) {
            routes += try RouteSpec.parseRoutesFile(bytes, path: path)
        }
        for route in routes {
            try kernel(host, "route \(route.dst) via \(route.gw?.description ?? bridge.name)") { () throws(NetlinkError) in
                try host.addRoute(RouteInfo(destination: route.dst, gateway: route.gw, outputIndex: route.gw == nil ? bridge.index : nil), replace: true)
            }
        }
    }

    // MARK: DEL

    /// Releases the addresses and deletes the veth. Succeeds when the netns, the interface or
    /// the reservation is already gone.
    public func delete(_ invocation: PluginInvocation, config: BridgeNetworkConfig) throws(CNIError) {
        let attachment = Attachment(containerID: invocation.containerID, ifname: invocation.ifname)
        let ipam = IPAMStore(dataDir: config.dataDir, network: config.name, rangeSets: config.rangeSets)
        try ipam.release(attachment)
        if !invocation.netns.isEmpty, let pod = try? kernel.openPodNamespace(invocation.netns) {
            let podNetlink = pod.netlink
            if let link = try kernel(podNetlink, "look up \(invocation.ifname)", { () throws(NetlinkError) in try podNetlink.link(named: invocation.ifname) }) {
                do {
                    try podNetlink.deleteLink(index: link.index)
                } catch where error.errno == 19 {
                    // Already gone.
                } catch {
                    throw CNIError(CNIError.kernelFailure, "delete \(invocation.ifname) in \(invocation.netns)", details: error.description)
                }
            }
        }
        let host = try kernel.hostNetlink()
        let hostVeth = Self.hostVethName(containerID: invocation.containerID, ifname: invocation.ifname)
        if let link = try kernel(host, "look up \(hostVeth)", { () throws(NetlinkError) in try host.link(named: hostVeth) }) {
            do {
                try host.deleteLink(index: link.index)
            } catch where error.errno == 19 {
                // Removed with its peer meanwhile.
            } catch {
                throw CNIError(CNIError.kernelFailure, "delete \(hostVeth)", details: error.description)
            }
        }
    }

    // MARK: CHECK

    /// Verifies that what prevResult lists is in place: the pod interface with its addresses
    /// and routes, the host veth on the bridge, and the IP reservations. Throws code 102.
    public func check(_ invocation: PluginInvocation, config: BridgeNetworkConfig, prevResult: CNIResult) throws(CNIError) {
        func fail(_ what: String) -> CNIError { CNIError(CNIError.checkFailed, "CHECK \(invocation.containerID)/\(invocation.ifname): \(what)") }
        let pod = try kernel.openPodNamespace(invocation.netns)
        let podNetlink = pod.netlink
        guard let podLink = try kernel(podNetlink, "look up \(invocation.ifname)", { () throws(NetlinkError) in try podNetlink.link(named: invocation.ifname) }) else {
            throw fail("interface \(invocation.ifname) is missing in \(invocation.netns)")
        }
        if !podLink.isUp { throw fail("interface \(invocation.ifname) is down") }
        if let expected = prevResult.interfaces.first(where: { $0.sandbox != nil && $0.name == invocation.ifname }), !expected.mac.isEmpty, expected.mac != podLink.macString {
            throw fail("\(invocation.ifname) has MAC \(podLink.macString), prevResult says \(expected.mac)")
        }
        let addresses = try kernel(podNetlink, "list addresses") { () throws(NetlinkError) in try podNetlink.addresses(family: nil) }.filter { $0.index == podLink.index }
        for ip in prevResult.ips where !addresses.contains(where: { $0.prefix == ip.address }) {
            throw fail("address \(ip.address) is missing on \(invocation.ifname)")
        }
        for family: UInt8 in Set(prevResult.routes.map { $0.dst.address.family }) {
            let present = try kernel(podNetlink, "list routes") { () throws(NetlinkError) in try podNetlink.routes(family: family) }
            for route in prevResult.routes where route.dst.address.family == family {
                if !present.contains(where: { $0.destination.network == route.dst.network && (route.gw == nil || $0.gateway == route.gw) }) {
                    throw fail("route \(route.dst) via \(route.gw?.description ?? "-") is missing")
                }
            }
        }
        let host = try kernel.hostNetlink()
        let hostVeth = Self.hostVethName(containerID: invocation.containerID, ifname: invocation.ifname)
        let links = try kernel(host, "list links") { () throws(NetlinkError) in try host.links() }
        guard let bridge = links.first(where: { $0.name == config.bridge }) else { throw fail("bridge \(config.bridge) is missing") }
        guard let veth = links.first(where: { $0.name == hostVeth }) else { throw fail("host veth \(hostVeth) is missing") }
        if veth.masterIndex != bridge.index { throw fail("host veth \(hostVeth) is not attached to \(config.bridge)") }
        let held = try IPAMStore(dataDir: config.dataDir, network: config.name, rangeSets: config.rangeSets).reservations()
        for ip in prevResult.ips where held[ip.address.address] != Attachment(containerID: invocation.containerID, ifname: invocation.ifname) {
            throw fail("IPAM holds no reservation of \(ip.address.address) for this container")
        }
    }

    // MARK: STATUS and GC

    /// Succeeds when ADD can work: the IPAM store is readable and has a free address. Throws
    /// code 50 otherwise.
    public func status(config: BridgeNetworkConfig) throws(CNIError) {
        let free: Int
        do {
            free = try IPAMStore(dataDir: config.dataDir, network: config.name, rangeSets: config.rangeSets).freeCount()
        } catch {
            throw CNIError(CNIError.pluginNotAvailable, "IPAM store of network \(config.name) is unusable", details: error.description)
        }
        if free <= 0 { throw CNIError(CNIError.pluginNotAvailable, "no free IP address left in network \(config.name)") }
    }

    /// Releases IP reservations of attachments not in `valid` (from
    /// `cni.dev/valid-attachments`). Returns the released addresses.
    @discardableResult
    public func gc(config: BridgeNetworkConfig, valid: Set<Attachment>) throws(CNIError) -> [IPAddress] {
        try IPAMStore(dataDir: config.dataDir, network: config.name, rangeSets: config.rangeSets).gc(keeping: valid)
    }

    private func kernel<T>(_ netlink: any RouteNetlinkOperations, _ what: String, _ body: () throws(NetlinkError) -> T) throws(CNIError) -> T {
        do { return try body() } catch {
            throw CNIError(CNIError.kernelFailure, what, details: error.description)
        }
    }
}

import IPTables
import IPVS
import LinuxSystem
import NFTables
import Proxy
import Testing
import TestSupport

/// Batches against the real kernel, in a private network namespace: many IPVS changes and
/// kube-ipvs0 addresses per netlink datagram, and how the kernel answers a refused change in
/// the middle of one (it applies the rest). Needs IPVS, so it runs under `make test-ipvs`.
@Suite(.serialized, .enabled(if: ipvsSkipReason == nil, "\(ipvsSkipReason ?? "")"))
struct IPVSProxyBatchIntegrationTests {
    static func key(_ i: Int) -> VirtualServer.Key {
        VirtualServer.Key(address: NFTables.IPAddress("10.96.\(i / 250).\(i % 250 + 1)")!, protocol: .tcp, port: 80)
    }

    static func destination(_ i: Int, _ j: Int) -> RealServer {
        RealServer(key: .init(address: NFTables.IPAddress("10.128.\(j).\(i % 250 + 1)")!, port: 8080))
    }

    @Test func virtualServersAndAddressesInBatches() throws {
        let netns = try NetnsFixture("ipvsb")
        defer { netns.delete() }
        let namespace = try NetworkNamespace(path: netns.path)
        let ipvs = try NetlinkIPVS(namespace: namespace)
        var changes: [IPVSChange] = []
        for i in 0..<300 {
            changes.append(.addService(VirtualServer(key: Self.key(i))))
            changes += (0..<2).map { .addDestination(Self.destination(i, $0), to: Self.key(i)) }
        }
        try ipvs.apply(changes)
        #expect(try ipvs.services().count == 300)
        #expect(try ipvs.destinations(of: Self.key(299)).map(\.key).sorted() == [Self.destination(299, 0).key, Self.destination(299, 1).key])

        // A refused change in the middle: EEXIST for a virtual server that exists, ESRCH for a
        // real server of one that does not. The kernel applies the changes after them.
        let error = try #require(throws: IPVSError.self) {
            try ipvs.apply([
                .addService(VirtualServer(key: Self.key(5))),
                .addDestination(Self.destination(400, 0), to: Self.key(400)),
                .addService(VirtualServer(key: Self.key(300))),
                .deleteDestination(Self.destination(0, 1).key, from: Self.key(0)),
            ])
        }
        #expect(error.operation == "add service")
        #expect(error.errno == 17)
        #expect(error.detail == "\(Self.key(5)); 2 of 4 changes of the batch failed")
        #expect(try ipvs.services().count == 301)
        #expect(try ipvs.destinations(of: Self.key(0)).map(\.key) == [Self.destination(0, 0).key])

        let device = try NetlinkServiceAddressDevice(namespace: namespace)
        try device.ensure()
        let addresses = (0..<300).map { Self.key($0).address }
        try device.bind(addresses)
        #expect(try device.addresses() == Set(addresses))
        // Bound already: EEXIST from the kernel for each, which is what was asked for.
        try device.bind(addresses)
        try device.unbind(Array(addresses.prefix(100)))
        #expect(try device.addresses() == Set(addresses.dropFirst(100)))
        try device.remove()
        try ipvs.flush()
        #expect(try ipvs.services().isEmpty)
    }

    /// The jumps from the built-in chains are found in real iptables-save output, so a resync
    /// inserts none twice, and one deleted behind the proxy's back comes back.
    @Test(.enabled(if: Host.which("ipset") != nil, "needs ipset"))
    func fullSyncTwiceKeepsOneJumpEach() throws {
        let netns = try NetnsFixture("ipvsj")
        defer { netns.delete() }
        let namespace = try NetworkNamespace(path: netns.path)
        let variant = IPTablesVariant.detect()
        let proxier = IPVSProxier(family: .ip, ipvs: try NetlinkIPVS(namespace: namespace), device: try NetlinkServiceAddressDevice(namespace: namespace),
                                  iptables: ExecIPTables(variant: variant), ipset: ExecIPSet(path: Host.which("ipset")!),
                                  sysctl: NamespaceSysctl(namespace: namespace))
        defer { try? namespace.run { try proxier.cleanup() } }
        var state = ProxyState()
        let web = ServicePortName(namespace: "default", name: "web", port: "http", protocol: .tcp)
        state.services[web] = ServicePortInfo(clusterIPs: [NFTables.IPAddress("10.96.0.10")!], port: 80, protocol: .tcp)
        state.endpoints[web] = [EndpointInfo(ip: NFTables.IPAddress("10.244.1.2")!, port: 8080)]
        func jumps(_ table: String) throws -> [String] {
            try netns.exec([variant.binary(.save, ipv6: false), "-t", table]).stdout.split(separator: "\n")
                .filter { $0.hasPrefix("-A ") && !$0.hasPrefix("-A KUBE-") }.map(String.init)
        }
        try namespace.run { try proxier.sync(state, changed: [], kind: .full) }
        let nat = try jumps("nat")
        let filter = try jumps("filter")
        #expect(nat.count == 3, "\(nat)")
        #expect(filter.count == 5, "\(filter)")
        try namespace.run { try proxier.sync(state, changed: [], kind: .full) }
        #expect(try jumps("nat") == nat)
        #expect(try jumps("filter") == filter)
        try netns.exec([variant.binary(.rules, ipv6: false), "-t", "nat", "-D", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals",
                        "-j", "KUBE-SERVICES"])
        #expect(try jumps("nat").count == 2)
        try namespace.run { try proxier.sync(state, changed: [], kind: .full) }
        #expect(try jumps("nat") == nat)
    }
}

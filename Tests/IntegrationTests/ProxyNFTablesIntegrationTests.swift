import Foundation
import LinuxSystem
import NFTables
import Proxy
import Testing
import TestSupport

/// Real packets through real nftables rules programmed by ``NetlinkNFTables`` in a private
/// network namespace (see ``ProxyNetnsLab``).
@Suite(.serialized, .enabled(if: ProxyNetnsLab.skipReason == nil, "\(ProxyNetnsLab.skipReason ?? "")"))
struct ProxyNFTablesIntegrationTests {
    static let web = ServicePortName(namespace: "default", name: "web", port: "http", protocol: .tcp)
    static let clusterIP = "172.30.0.10"
    static let nodePort = 30080

    func state(_ lab: ProxyNetnsLab, endpoints: [Int], affinity: UInt32? = nil, nodePort: Bool = true) -> ProxyState {
        var s = ProxyState()
        var info = ServicePortInfo(clusterIPs: [IPAddress(Self.clusterIP)!], port: 80, protocol: .tcp, nodePort: nodePort ? UInt16(Self.nodePort) : 0)
        info.affinityTimeoutSeconds = affinity
        s.services[Self.web] = info
        s.endpoints[Self.web] = endpoints.map { EndpointInfo(ip: IPAddress(lab.serverAddress($0))!, port: 8080) }
        let empty = ServicePortName(namespace: "default", name: "empty", port: "", protocol: .tcp)
        s.services[empty] = ServicePortInfo(clusterIPs: [IPAddress("172.30.0.20")!], port: 80, protocol: .tcp, nodePort: 30090)
        return s
    }

    func sync(_ proxier: NFTablesProxier, _ lab: ProxyNetnsLab, _ s: ProxyState, changed: Set<ServicePortName> = [], kind: SyncKind) throws {
        let ns = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        try ns.run { try proxier.sync(s, changed: changed, kind: kind) }
    }

    func replies(_ lab: ProxyNetnsLab, _ address: String, _ port: Int, count: Int) throws -> [String: Int] {
        var seen: [String: Int] = [:]
        for _ in 0..<count { seen[try lab.connect(address, port).reply, default: 0] += 1 }
        return seen
    }

    @Test func clusterIPAndNodePortBalanceAffinityRerouteReject() throws {
        let lab = try ProxyNetnsLab(servers: 3)
        defer { lab.destroy() }
        let proxier = NFTablesProxier(family: .ip, nft: NetlinkNFTables())
        try sync(proxier, lab, state(lab, endpoints: [0, 1, 2]), kind: .full)
        let listing = try lab.inNode(["nft", "list", "table", "ip", NFTablesProxier.defaultTableName]).stdout
        #expect(listing.contains("ip daddr . meta l4proto . th dport vmap @service-ips"))

        // Balanced: 60 connections over 3 endpoints; each gets a fair share (p(<8) is ~1e-4).
        let cluster = try replies(lab, Self.clusterIP, 80, count: 60)
        #expect(Set(cluster.keys) == ["server0", "server1", "server2"], "ClusterIP replies: \(cluster)")
        #expect(cluster.values.allSatisfy { $0 >= 8 }, "ClusterIP replies: \(cluster)")
        let nodePort = try replies(lab, lab.nodeAddress, Self.nodePort, count: 45)
        #expect(Set(nodePort.keys) == ["server0", "server1", "server2"], "NodePort replies: \(nodePort)")

        // Removing an endpoint (partial sync) re-routes every new connection.
        try sync(proxier, lab, state(lab, endpoints: [0, 2]), changed: [Self.web], kind: .partial)
        let rerouted = try replies(lab, Self.clusterIP, 80, count: 30)
        #expect(Set(rerouted.keys) == ["server0", "server2"], "after removing server1: \(rerouted)")

        // No endpoints: rejected at once (TCP reset -> connection refused). Twice in a row, from
        // the same client: ICMP errors would be rate-limited per peer (the lab's node also sends
        // redirects, which share that budget), resets are not.
        for attempt in 0..<2 {
            let rejected = try lab.connect("172.30.0.20", 80)
            #expect(rejected.reply.isEmpty && rejected.error.contains("refused"), "no-endpoint ClusterIP, attempt \(attempt): \(rejected)")
            #expect(rejected.seconds < 1.0, "no-endpoint ClusterIP, attempt \(attempt): \(rejected)")
            let rejectedNodePort = try lab.connect(lab.nodeAddress, 30090)
            #expect(rejectedNodePort.error.contains("refused"), "no-endpoint NodePort, attempt \(attempt): \(rejectedNodePort)")
        }

        // Session affinity: every connection from the client sticks to one endpoint.
        try sync(proxier, lab, state(lab, endpoints: [0, 1, 2], affinity: 600), changed: [Self.web], kind: .partial)
        let sticky = try replies(lab, Self.clusterIP, 80, count: 15)
        #expect(sticky.count == 1 && sticky.keys.first?.hasPrefix("server") == true, "with ClientIP affinity: \(sticky)")

        try NetworkNamespace(path: "/var/run/netns/\(lab.node)").run { try proxier.cleanup() }
        let after = try run("ip", ["netns", "exec", lab.node, "nft", "list", "tables"]).stdout
        #expect(!after.contains(NFTablesProxier.defaultTableName))
    }

    /// Hairpin: an endpoint that connects to its own Service and is sent to itself gets an
    /// answer only because postrouting masquerades it (the `hairpin` set lookup); without
    /// that, the packet arrives with its own address as the source and is dropped. The
    /// Service is ClusterIP-only, so this also runs the shared `dispatch-M` path.
    @Test func hairpinConnectionReachesItself() throws {
        let lab = try ProxyNetnsLab(servers: 2)
        defer { lab.destroy() }
        // This kernel runs bridged IPv4 through netfilter (br_netfilter), so the DNATed packet
        // is bridged back out of the port it came in on: that needs the port's hairpin mode,
        // which a CNI bridge plugin turns on for pods (hairpinMode) and the lab does not.
        for i in 0..<2 { try lab.inNode(["ip", "link", "set", "s\(i)", "type", "bridge_slave", "hairpin", "on"]) }
        let proxier = NFTablesProxier(family: .ip, nft: NetlinkNFTables())
        try sync(proxier, lab, state(lab, endpoints: [0], nodePort: false), kind: .full)
        // nft itself can read back the shared-dispatch layout (maps with data, numgen keys).
        let listing = try lab.inNode(["nft", "list", "table", "ip", NFTablesProxier.defaultTableName]).stdout
        #expect(listing.contains("numgen random mod 1 map @service-endpoints"), "listing:\n\(listing)")
        #expect(listing.contains("\(lab.serverAddress(0)) . \(lab.serverAddress(0))"), "listing:\n\(listing)")
        let json = try lab.inNode(["nft", "-j", "list", "table", "ip", NFTablesProxier.defaultTableName]).stdout
        #expect(json.contains("\"service-endpoints\""))

        func fromServer0() throws -> String {
            try run("ip", ["netns", "exec", lab.servers[0], "busybox", "nc", "-w", "2", Self.clusterIP, "80"], input: Data())
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try fromServer0() == "server0")
        // The endpoint moves to server1 (same count: data-map elements only, the hairpin
        // element of server0 goes): server0 now reaches server1 without hairpin.
        try sync(proxier, lab, state(lab, endpoints: [1], nodePort: false), changed: [Self.web], kind: .partial)
        #expect(try fromServer0() == "server1")
        let set = try lab.inNode(["nft", "list", "set", "ip", NFTablesProxier.defaultTableName, "hairpin"]).stdout
        #expect(!set.contains(lab.serverAddress(0)) && set.contains(lab.serverAddress(1)), "hairpin set:\n\(set)")
        // Back to server0, then take its hairpin element out by hand: the connection fails,
        // which shows the element is what made it work.
        try sync(proxier, lab, state(lab, endpoints: [0], nodePort: false), changed: [Self.web], kind: .partial)
        #expect(try fromServer0() == "server0")
        // Two endpoints (a new dispatch chain): both answer the ClusterIP from the client.
        try sync(proxier, lab, state(lab, endpoints: [0, 1], nodePort: false), changed: [Self.web], kind: .partial)
        let both = try replies(lab, Self.clusterIP, 80, count: 30)
        #expect(Set(both.keys) == ["server0", "server1"], "two endpoints: \(both)")
        try sync(proxier, lab, state(lab, endpoints: [0], nodePort: false), changed: [Self.web], kind: .partial)
        #expect(try fromServer0() == "server0")
        let a = lab.serverAddress(0)
        try lab.inNode(["nft", "delete", "element", "ip", NFTablesProxier.defaultTableName, "hairpin", "{ \(a) . \(a) }"])
        #expect(try fromServer0() == "")
        try NetworkNamespace(path: "/var/run/netns/\(lab.node)").run { try proxier.cleanup() }
    }
}

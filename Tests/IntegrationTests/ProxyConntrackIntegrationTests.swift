import Foundation
import IPTables
import KubeAPI
import LinuxSystem
import NFTables
import Netlink
import Proxy
import Testing
import TestSupport

/// Why the conntrack test cannot run here, or nil.
let conntrackSkipReason: String? = {
    if let reason = ProxyNetnsLab.skipReason { return reason }
    if Host.which("conntrack") == nil { return "needs conntrack (conntrack-tools) to list entries" }
    if Host.which("python3") == nil { return "needs python3 to send UDP (busybox nc has no -u)" }
    return nil
}()

/// UDP conntrack cleanup against the real kernel: the proxier (iptables backend, whose layout
/// is stable) programs a UDP ClusterIP in the lab's node namespace, a datagram from the client
/// creates a DNAT entry, and moving the Service to another endpoint deletes that entry over
/// ctnetlink so the next datagram from the same source port is translated afresh.
@Suite(.serialized, .enabled(if: conntrackSkipReason == nil, "\(conntrackSkipReason ?? "")"))
struct ProxyConntrackIntegrationTests {
    static let clusterIP = "172.30.0.53"

    func service() -> Service {
        var spec = ServiceSpec(ports: [ServicePort(name: "dns", protocol: "UDP", port: 53)], clusterIP: Self.clusterIP)
        spec.clusterIPs = [Self.clusterIP]
        return Service(metadata: ObjectMeta(name: "dns", namespace: "kube-system"), spec: spec)
    }

    func slice(_ address: String) -> EndpointSlice {
        EndpointSlice(metadata: ObjectMeta(name: "dns-1", namespace: "kube-system", labels: [EndpointSlice.serviceNameLabel: "dns"]),
                      endpoints: [Endpoint(addresses: [address], conditions: .init(), nodeName: "node")],
                      ports: [EndpointPort(name: "dns", protocol: "UDP", port: 5353)])
    }

    /// Sends one datagram from the client namespace, from UDP port 40000.
    func send(_ lab: ProxyNetnsLab) throws {
        try runChecked("ip", ["netns", "exec", lab.client, "python3", "-c",
                              "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 40000)); s.sendto(b'q', ('\(Self.clusterIP)', 53))"])
    }

    /// The node's UDP entries to the ClusterIP, as `conntrack -L` prints them.
    func listed(_ lab: ProxyNetnsLab) throws -> [String] {
        try lab.inNode(["conntrack", "-L", "-p", "udp", "-d", Self.clusterIP]).stdout.split(separator: "\n").map(String.init)
    }

    @Test func removedEndpointEntryIsDeletedAndTheNextDatagramGoesToTheNewOne() throws {
        let lab = try ProxyNetnsLab(servers: 2)
        defer { lab.destroy() }
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        let conntrack = try NetlinkConntrack(namespace: namespace)
        let backend = IPTablesProxier(family: .ip, ipt: ExecIPTables(variant: .nft))
        let proxier = Proxier(nodeName: "node", backends: [backend],
                              runner: SyncRunner(minSyncPeriod: .zero, syncPeriod: .seconds(30), clock: SystemProxyClock()),
                              conntrack: ConntrackCleaner(conntrack: conntrack))
        defer { try? namespace.run { try backend.cleanup() } }
        let server0 = lab.serverAddress(0), server1 = lab.serverAddress(1)

        proxier.update(service())
        proxier.update(slice(server0))
        let first = try namespace.run { proxier.syncRules() }
        #expect(first.succeeded, "\(first.error ?? "")")
        try send(lab)
        let before = try listed(lab)
        #expect(before.count == 1 && before[0].contains("sport=40000 dport=53") && before[0].contains("src=\(server0) "), "entries: \(before)")
        // Our own dump parses what the kernel holds.
        let dumped = try conntrack.entries(family: 2).filter { $0.original.destination == NFTables.IPAddress(Self.clusterIP)!.bytes }
        #expect(dumped.map(\.reply.source) == [NFTables.IPAddress(server0)!.bytes] && dumped.first?.reply.sourcePort == 5353, "dump: \(dumped)")

        proxier.update(slice(server1))
        let moved = try namespace.run { proxier.syncRules() }
        #expect(moved.succeeded && moved.conntrackEntriesDeleted == 1, "report: \(moved)")
        #expect(try listed(lab).isEmpty, "the entry DNAT'd to the removed endpoint is gone")

        try send(lab)
        let after = try listed(lab)
        #expect(after.count == 1 && after[0].contains("sport=40000 dport=53") && after[0].contains("src=\(server1) "), "entries: \(after)")
    }
}

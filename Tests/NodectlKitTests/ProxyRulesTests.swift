import Foundation
import IPVS
import NFTables
@testable import NodectlKit
import Testing
import TestSupport

/// `nodectl proxy rules|trace` over captured rule dumps: the iptables golden files (what
/// IPTablesProxier writes, in iptables-save form) and a stateful fake IPVS.
@Suite struct ProxyRulesTests {
    static func golden(_ name: String) throws -> String {
        try String(contentsOf: Host.repositoryRoot.appendingPathComponent("Tests/ProxyTests/Golden/iptables/\(name).rules"), encoding: .utf8)
    }

    @Test func readsClusterIPEndpointsAndAffinity() throws {
        let services = IPTablesRulesReader.read(try Self.golden("session-affinity"))
        #expect(services.map(\.name) == ["ns1/web:http"])
        let web = try #require(services.first)
        #expect(web.proto == "tcp")
        #expect(web.frontends.map(\.description) == ["172.30.0.41:80"])
        #expect(web.endpoints == ["10.180.0.1:8080", "10.180.0.2:8080"])
        #expect(web.affinitySeconds == 10800)
        #expect(!web.rejects && web.localEndpoints == nil)
    }

    @Test func readsExternalIPsLoadBalancerRangesAndNodePort() throws {
        let web = try #require(IPTablesRulesReader.read(try Self.golden("externalips-loadbalancer-source-ranges")).first)
        #expect(Set(web.frontends.map(\.description)) == ["*:30080 (NodePort)", "172.30.0.41:80", "192.168.99.11:80 (externalIP)", "5.6.7.8:80 (LB)"])
        #expect(web.frontends.first { $0.kind == .loadBalancerIP }?.sourceRanges.sorted() == ["198.51.100.7", "203.0.113.0/25"])
        #expect(web.endpoints == ["10.180.0.1:8080"])
    }

    @Test func readsExternalTrafficPolicyLocalAndRejects() throws {
        let local = try #require(IPTablesRulesReader.read(try Self.golden("external-traffic-policy-local")).first)
        #expect(local.endpoints == ["10.180.0.1:8080", "10.180.0.2:8080"])
        #expect(local.localEndpoints == ["10.180.0.1:8080"])
        let sig = try #require(IPTablesRulesReader.read(try Self.golden("sctp-no-endpoints-rejects")).first)
        #expect(sig.name == "ns1/sig" && sig.proto == "sctp" && sig.rejects)
        #expect(Set(sig.frontends.map(\.description)) == ["172.30.0.41:80", "*:30010 (NodePort)"])
    }

    @Test(arguments: [
        ("session-affinity", "172.30.0.41", 80, "tcp", "DNAT", "ns1/web:http", ["10.180.0.1:8080", "10.180.0.2:8080"], "ClientIP session affinity for 10800 s"),
        ("external-traffic-policy-local", "192.168.1.5", 30080, "tcp", "DNAT", "ns1/web:http", ["10.180.0.1:8080"], "externalTrafficPolicy Local"),
        ("external-traffic-policy-local", "172.30.0.41", 80, "tcp", "DNAT", "ns1/web:http", ["10.180.0.1:8080", "10.180.0.2:8080"], "balanced at random"),
        ("externalips-loadbalancer-source-ranges", "5.6.7.8", 80, "tcp", "DNAT", "ns1/web:http", ["10.180.0.1:8080"], "loadBalancerSourceRanges"),
        ("sctp-no-endpoints-rejects", "172.30.0.41", 80, "sctp", "REJECT", "ns1/sig", [], "no endpoints"),
        ("session-affinity", "172.30.0.41", 80, "udp", "none", nil, [], "not proxied"),
        ("session-affinity", "172.30.0.42", 80, "tcp", "none", nil, [], "not proxied"),
    ] as [(String, String, Int, String, String, String?, [String], String)])
    func trace(_ golden: String, _ address: String, _ port: Int, _ proto: String, _ verdict: String, _ service: String?,
               _ endpoints: [String], _ reason: String) throws {
        let t = ProxyTrace.trace(address: address, port: port, proto: proto, services: IPTablesRulesReader.read(try Self.golden(golden)))
        #expect(t.verdict == verdict)
        #expect(t.service == service)
        #expect(t.endpoints == endpoints)
        #expect(t.reasons.contains { $0.contains(reason) }, "reasons: \(t.reasons)")
    }

    @Test func readsIPVSVirtualServers() throws {
        let ipvs = FakeIPVS()
        let key = VirtualServer.Key(address: NFTables.IPAddress("10.96.0.10")!, protocol: .udp, port: 53)
        try ipvs.addService(VirtualServer(key: key, persistenceTimeout: 60))
        try ipvs.addDestination(RealServer(key: .init(address: NFTables.IPAddress("10.1.0.5")!, port: 5353)), to: key)
        try ipvs.addDestination(RealServer(key: .init(address: NFTables.IPAddress("10.1.0.6")!, port: 5353), weight: 0), to: key)
        let empty = VirtualServer.Key(address: NFTables.IPAddress("10.96.0.11")!, protocol: .tcp, port: 80)
        try ipvs.addService(VirtualServer(key: empty))
        let services = try IPVSRulesReader.read(ipvs)
        #expect(services.map(\.name) == ["10.96.0.10:53/udp", "10.96.0.11:80/tcp"])
        #expect(services[0].endpoints == ["10.1.0.5:5353"], "a weight-0 (draining) real server takes no new connections")
        #expect(services[0].affinitySeconds == 60)
        #expect(services[1].rejects)
    }

    @Test(arguments: [
        ("10.96.0.10:53/udp", "10.96.0.10", 53, "udp"),
        ("10.96.0.10:443", "10.96.0.10", 443, "tcp"),
        ("[fd00::1]:80/SCTP", "fd00::1", 80, "sctp"),
    ])
    func parsesDestinations(_ text: String, _ address: String, _ port: Int, _ proto: String) throws {
        let parsed = try #require(ProxyView.parseDestination(text))
        #expect(parsed.0 == address && parsed.1 == port && parsed.2 == proto)
    }

    @Test(arguments: ["10.96.0.10", "10.96.0.10:0", "10.96.0.10:80/icmp", "host name:80"])
    func rejectsBadDestinations(_ text: String) {
        #expect(ProxyView.parseDestination(text) == nil)
    }

    @Test func tableAndJSONViews() throws {
        let services = IPTablesRulesReader.read(try Self.golden("session-affinity"))
        let table = try ProxyView.render(services, format: .table)
        #expect(table.hasPrefix("SERVICE"))
        #expect(table.contains("ns1/web:http   tcp     172.30.0.41:80   10.180.0.1:8080,10.180.0.2:8080   ClientIP 10800s"), "\(table)")
        let json = try ProxyView.render(services, format: .json)
        let decoded = try JSONDecoder().decode([ProgrammedService].self, from: Data(json.utf8))
        #expect(decoded == services)
    }
}

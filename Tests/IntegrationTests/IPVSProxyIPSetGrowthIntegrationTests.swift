import Foundation
import IPTables
import IPVS
import LinuxSystem
import NFTables
import Proxy
import Testing
import TestSupport

/// A set outgrowing ipset's default `maxelem` (65,536) in a live namespace: the IPVS backend
/// replaces it by `ipset swap` in a partial sync, and the iptables rule that matches it by name
/// keeps working (real IPVS, ipset and iptables; `make test-ipvs` runs it in a VM).
///
/// The set grown is KUBE-LOAD-BALANCER-SOURCE-CIDR: one LoadBalancer Service with 65,540
/// loadBalancerSourceRanges puts 65,540 entries in it while programming two virtual servers
/// only, and its rule decides whether a connection passes (sources outside every range are
/// dropped), so a rule that lost its set would show in the traffic.
@Suite(.serialized, .enabled(if: ipvsSkipReason == nil, "\(ipvsSkipReason ?? "")"))
struct IPVSProxyIPSetGrowthIntegrationTests {
    static let lb = ServicePortName(namespace: "default", name: "lb", port: "http", protocol: .tcp)
    static let clusterIP = "172.30.0.30"
    static let lbIP = "172.30.0.60"
    /// A second client address, outside every source range used here.
    static let outsideAddress = "10.78.0.3"
    static let set = "KUBE-LOAD-BALANCER-SOURCE-CIDR"

    /// The LB Service reached from the client's address and `extra` other /32 ranges (10.200.0.0 up).
    func state(_ lab: ProxyNetnsLab, extra: Int) -> ProxyState {
        var s = ProxyState()
        let ranges = ["\(lab.clientAddress)/32"] + (0..<extra).map { "10.\(200 + $0 >> 16).\(($0 >> 8) & 255).\($0 & 255)/32" }
        s.services[Self.lb] = ServicePortInfo(clusterIPs: [NFTables.IPAddress(Self.clusterIP)!], port: 80, protocol: .tcp,
                                              loadBalancerIngressIPs: [NFTables.IPAddress(Self.lbIP)!],
                                              loadBalancerSourceRanges: ranges.map { CIDR($0)! })
        s.endpoints[Self.lb] = [EndpointInfo(ip: NFTables.IPAddress(lab.serverAddress(0))!, port: 8080)]
        return s
    }

    /// The node's sets as `ipset save -t` reports them, by name.
    func headers(_ lab: ProxyNetnsLab) throws -> [String: IPSetHeader] {
        let saved = try lab.inNode(["ipset", "save", "-t"])
        return Dictionary(IPSetHeader.parse(save: saved.stdout).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Whether a connection from `source` (an address on the client's link) to the LB IP is served.
    func served(_ lab: ProxyNetnsLab, from source: String) throws -> Bool {
        try runChecked("ip", ["netns", "exec", lab.client, "ip", "route", "replace", "default", "via", lab.nodeAddress, "src", source])
        return try lab.connect(Self.lbIP, 80, timeout: 2).reply.hasPrefix("server")
    }

    @Test(.enabled(if: Host.which("ipset") != nil, "needs ipset"))
    func setGrowsPastDefaultMaxelemBySwap() throws {
        let lab = try ProxyNetnsLab(servers: 1)
        defer { lab.destroy() }
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        // ipset and iptables run as children of the thread that syncs: sync inside the node's namespace.
        let proxier = IPVSProxier(family: .ip, ipvs: try NetlinkIPVS(namespace: namespace), device: try NetlinkServiceAddressDevice(namespace: namespace),
                                  iptables: ExecIPTables(variant: IPTablesVariant.detect()), ipset: ExecIPSet(path: Host.which("ipset")!),
                                  sysctl: NamespaceSysctl(namespace: namespace), config: .init(nodeIPs: [NFTables.IPAddress(lab.nodeAddress)!]))
        defer { try? namespace.run { try proxier.cleanup() } }
        try runChecked("ip", ["netns", "exec", lab.client, "ip", "addr", "add", "\(Self.outsideAddress)/24", "dev", "eth0"])

        try namespace.run { try proxier.sync(state(lab, extra: 0), changed: [], kind: .full) }
        #expect(try headers(lab)[Self.set]?.maxElements == 65_536, "created as upstream creates it")
        #expect(try served(lab, from: lab.clientAddress))
        #expect(try !served(lab, from: Self.outsideAddress), "outside the ranges: dropped")

        // 65,541 entries: past the default, so the partial sync swaps in a set of 131,072.
        let started = Date()
        try namespace.run { try proxier.sync(state(lab, extra: 65_540), changed: [Self.lb], kind: .partial) }
        let seconds = Date().timeIntervalSince(started)
        let after = try headers(lab)
        #expect(after[Self.set]?.maxElements == 131_072)
        #expect(after["KUBE-GROW-TMP"] == nil, "the old contents were destroyed")
        let listed = try lab.inNode(["ipset", "list", "-t", Self.set]).stdout
        #expect(listed.contains("Number of entries: 65541"), "\(listed)")
        #expect(listed.contains("References: 1"), "the rule still refers to the set: \(listed)")
        let filter = try lab.inNode(["iptables-save", "-t", "filter"]).stdout
        #expect(filter.contains("--match-set \(Self.set) dst,dst,src -j RETURN"))
        // The rule matches the swapped-in set: the client's range is still in it, the outside address is not.
        #expect(try served(lab, from: lab.clientAddress), "after the swap (partial sync took \(seconds) s)")
        #expect(try !served(lab, from: Self.outsideAddress), "outside the ranges: still dropped")

        // One range more: an ordinary delta into the grown set.
        try namespace.run { try proxier.sync(state(lab, extra: 65_541), changed: [Self.lb], kind: .partial) }
        #expect(try headers(lab)[Self.set]?.maxElements == 131_072)
        #expect(try lab.inNode(["ipset", "list", "-t", Self.set]).stdout.contains("Number of entries: 65542"))
        #expect(try served(lab, from: lab.clientAddress))
    }
}

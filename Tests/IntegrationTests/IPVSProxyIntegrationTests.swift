import Foundation
import IPTables
import IPVS
import LinuxSystem
import NFTables
import Proxy
import Testing
import TestSupport

/// Why real IPVS cannot be tested here, or nil: root, the lab's tools, and a kernel with IPVS
/// (this project's build machines have none; `make test-ipvs` runs this suite in a VM).
let ipvsSkipReason: String? = {
    if let reason = ProxyNetnsLab.skipReason { return reason }
    do throws(IPVSError) {
        _ = try NetlinkIPVS()
        return nil
    } catch {
        return error.isUnavailable ? "the kernel has no IPVS; run `make test-ipvs` (a VM with Debian's kernel)" : "IPVS: \(error)"
    }
}()

/// Sets sysctls inside one network namespace.
struct NamespaceSysctl: SysctlWriter {
    let namespace: NetworkNamespace
    func set(_ key: String, _ value: String) throws(IPVSError) {
        do { try namespace.run { try Sysctl.write(key, value) } } catch {
            throw IPVSError(operation: "set sysctl", detail: "\(key)=\(value) in \(namespace.path): \(error)")
        }
    }
}

/// Real packets through real IPVS virtual servers programmed by ``IPVSProxier`` over generic
/// netlink in a private network namespace (see ``ProxyNetnsLab``). The return path runs through
/// the node, so IPVS NAT needs no masquerade: the first test leaves iptables and ipset out; the
/// second adds them for loadBalancerSourceRanges and the health check node port.
@Suite(.serialized, .enabled(if: ipvsSkipReason == nil, "\(ipvsSkipReason ?? "")"))
struct IPVSProxyIntegrationTests {
    static let web = ServicePortName(namespace: "default", name: "web", port: "http", protocol: .tcp)
    static let clusterIP = "172.30.0.10"
    static let nodePort = 30080

    func state(_ lab: ProxyNetnsLab, endpoints: [Int], affinity: UInt32? = nil) -> ProxyState {
        var s = ProxyState()
        s.services[Self.web] = ServicePortInfo(clusterIPs: [NFTables.IPAddress(Self.clusterIP)!], port: 80, protocol: .tcp,
                                               nodePort: UInt16(Self.nodePort), affinityTimeoutSeconds: affinity)
        s.endpoints[Self.web] = endpoints.map { EndpointInfo(ip: NFTables.IPAddress(lab.serverAddress($0))!, port: 8080) }
        return s
    }

    func replies(_ lab: ProxyNetnsLab, _ address: String, _ port: Int, count: Int) throws -> [String: Int] {
        var seen: [String: Int] = [:]
        for _ in 0..<count { seen[try lab.connect(address, port).reply, default: 0] += 1 }
        return seen
    }

    @Test func clusterIPAndNodePortBalanceAffinityDrainReject() throws {
        let lab = try ProxyNetnsLab(servers: 3)
        defer { lab.destroy() }
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        let ipvs = try NetlinkIPVS(namespace: namespace)
        let device = try NetlinkServiceAddressDevice(namespace: namespace)
        let proxier = IPVSProxier(family: .ip, ipvs: ipvs, device: device, iptables: nil, ipset: nil,
                                  sysctl: NamespaceSysctl(namespace: namespace),
                                  config: .init(nodeIPs: [NFTables.IPAddress(lab.nodeAddress)!]))
        defer { try? proxier.cleanup() }
        try proxier.sync(state(lab, endpoints: [0, 1, 2]), changed: [], kind: .full)
        #expect(try device.ensure() == "dummy" || device.ensure() == "bridge")
        #expect(try device.addresses().map(\.description) == [Self.clusterIP])
        #expect(try ipvs.services().map(\.key.description).sorted() == ["\(lab.nodeAddress):\(Self.nodePort)/TCP", "\(Self.clusterIP):80/TCP"])

        // rr: 30 connections over 3 real servers, 10 each.
        let cluster = try replies(lab, Self.clusterIP, 80, count: 30)
        #expect(cluster == ["server0": 10, "server1": 10, "server2": 10], "ClusterIP replies: \(cluster)")
        let nodePort = try replies(lab, lab.nodeAddress, Self.nodePort, count: 15)
        #expect(Set(nodePort.keys) == ["server0", "server1", "server2"], "NodePort replies: \(nodePort)")

        // Session affinity: IPVS persistence keeps one client on one server.
        try proxier.sync(state(lab, endpoints: [0, 1, 2], affinity: 60), changed: [Self.web], kind: .partial)
        let sticky = try replies(lab, Self.clusterIP, 80, count: 10)
        #expect(sticky.count == 1 && sticky.values.first == 10, "with affinity: \(sticky)")

        // Removing an endpoint re-routes new connections; its real server drains at weight 0
        // while the kernel still tracks its (TIME_WAIT) connections.
        try proxier.sync(state(lab, endpoints: [0, 2]), changed: [Self.web], kind: .partial)
        let rerouted = try replies(lab, Self.clusterIP, 80, count: 20)
        #expect(Set(rerouted.keys) == ["server0", "server2"], "after removing server1: \(rerouted)")
        let vip = VirtualServer.Key(address: .init(Self.clusterIP)!, protocol: .tcp, port: 80)
        let dests = try ipvs.destinations(of: vip)
        let drained = dests.first { $0.key.address.description == lab.serverAddress(1) }
        #expect(drained?.weight == 0, "server1 should be draining: \(dests)")
        #expect(drained.map { $0.connections > 0 } == true, "server1 kept connections: \(dests)")

        // No endpoints: IPVS finds no real server and answers ICMP port unreachable at once.
        try proxier.sync(state(lab, endpoints: []), changed: [Self.web], kind: .partial)
        let refused = try lab.connect(Self.clusterIP, 80, timeout: 3)
        #expect(refused.reply.isEmpty)
        #expect(refused.seconds < 2.5, "rejected, not timed out: \(refused)")

        try proxier.cleanup()
        #expect(try ipvs.services().isEmpty)
        #expect(try device.addresses().isEmpty)
    }

    static let lb = ServicePortName(namespace: "default", name: "lb", port: "http", protocol: .tcp)
    static let local = ServicePortName(namespace: "default", name: "local", port: "http", protocol: .tcp)
    static let lbClusterIP = "172.30.0.20"
    static let lbIP = "172.30.0.50"
    static let localClusterIP = "172.30.0.21"
    static let healthCheckNodePort = 32080
    /// A second client address, outside the source ranges used here.
    static let outsideAddress = "10.78.0.3"

    /// A LoadBalancer Service `lb` reached from `ranges` only, and an externalTrafficPolicy Local
    /// Service `local` with a health check node port and the given local endpoints.
    func rangeState(_ lab: ProxyNetnsLab, ranges: [String], localEndpoints: [Int]) -> ProxyState {
        var s = ProxyState()
        s.services[Self.lb] = ServicePortInfo(clusterIPs: [NFTables.IPAddress(Self.lbClusterIP)!], port: 80, protocol: .tcp,
                                              loadBalancerIngressIPs: [NFTables.IPAddress(Self.lbIP)!],
                                              loadBalancerSourceRanges: ranges.map { CIDR($0)! })
        s.endpoints[Self.lb] = [0, 1].map { EndpointInfo(ip: NFTables.IPAddress(lab.serverAddress($0))!, port: 8080) }
        s.services[Self.local] = ServicePortInfo(clusterIPs: [NFTables.IPAddress(Self.localClusterIP)!], port: 80, protocol: .tcp,
                                                 nodePort: 30081, externalPolicyLocal: true, healthCheckNodePort: UInt16(Self.healthCheckNodePort))
        s.endpoints[Self.local] = localEndpoints.map { EndpointInfo(ip: NFTables.IPAddress(lab.serverAddress($0))!, port: 8080, isLocal: true) }
        return s
    }

    /// A connection from the node namespace itself (its source is the LB IP it targets).
    func connectFromNode(_ lab: ProxyNetnsLab, _ address: String, _ port: Int) throws -> String {
        try run("ip", ["netns", "exec", lab.node, "busybox", "nc", "-w", "2", address, String(port)], input: Data())
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes the client's connections leave from `source` (both addresses are on its link).
    func clientSource(_ lab: ProxyNetnsLab, _ source: String) throws {
        try runChecked("ip", ["netns", "exec", lab.client, "ip", "route", "replace", "default", "via", lab.nodeAddress, "src", source])
    }

    /// `GET /` on the health check node port from the client: status and body.
    func healthCheck(_ lab: ProxyNetnsLab) throws -> (status: Int, body: String) {
        let r = try run("ip", ["netns", "exec", lab.client, "curl", "-s", "--max-time", "3", "-w", "\n%{http_code}",
                               "http://\(lab.nodeAddress):\(Self.healthCheckNodePort)/"])
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test(.enabled(if: Host.which("ipset") != nil && Host.which("curl") != nil, "needs ipset and curl"))
    func loadBalancerSourceRangesAndHealthCheckNodePort() throws {
        let lab = try ProxyNetnsLab(servers: 2)
        defer { lab.destroy() }
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        let ipvs = try NetlinkIPVS(namespace: namespace)
        let device = try NetlinkServiceAddressDevice(namespace: namespace)
        // ipset and iptables run as children of the thread that syncs: sync inside the node's namespace.
        let proxier = IPVSProxier(family: .ip, ipvs: ipvs, device: device, iptables: ExecIPTables(variant: IPTablesVariant.detect()),
                                  ipset: ExecIPSet(path: Host.which("ipset")!), sysctl: NamespaceSysctl(namespace: namespace),
                                  config: .init(nodeIPs: [NFTables.IPAddress(lab.nodeAddress)!]))
        let health = ServiceHealthServer(bindAddress: "0.0.0.0")
        defer {
            health.shutdown()
            try? namespace.run { try proxier.cleanup() }
        }
        func sync(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws {
            let bindErrors = try namespace.run {
                try proxier.sync(state, changed: changed, kind: kind)
                // The listener's socket is made in the calling thread, so it lives in the node's namespace.
                return health.sync(state)
            }
            #expect(bindErrors.isEmpty)
        }
        try runChecked("ip", ["netns", "exec", lab.client, "ip", "addr", "add", "\(Self.outsideAddress)/24", "dev", "eth0"])

        try sync(rangeState(lab, ranges: ["\(lab.clientAddress)/32"], localEndpoints: [0]), changed: [], kind: .full)
        // Inside the range: served, over both endpoints.
        let inside = try replies(lab, Self.lbIP, 80, count: 6)
        #expect(inside == ["server0": 3, "server1": 3], "from \(lab.clientAddress): \(inside)")
        // Outside the range: dropped (no reset, no reply) before IPVS sees it; the ClusterIP is not filtered.
        try clientSource(lab, Self.outsideAddress)
        let outside = try lab.connect(Self.lbIP, 80, timeout: 2)
        #expect(outside.reply.isEmpty, "from \(Self.outsideAddress): \(outside)")
        #expect(outside.seconds >= 1.5, "dropped, so the client waits for its timeout: \(outside)")
        #expect(try lab.connect(Self.lbClusterIP, 80).reply.hasPrefix("server"), "the ClusterIP has no source ranges")
        try clientSource(lab, lab.clientAddress)
        // The node's own address is not in the range: its connections are dropped in OUTPUT.
        #expect(try connectFromNode(lab, Self.lbIP, 80).isEmpty)

        // A range holding the node IP lets the node in (KUBE-LOAD-BALANCER-SOURCE-IP), a partial sync.
        try sync(rangeState(lab, ranges: ["\(lab.clientAddress)/32", "\(lab.nodeAddress)/32"], localEndpoints: [0]), changed: [Self.lb], kind: .partial)
        #expect(try connectFromNode(lab, Self.lbIP, 80).hasPrefix("server"))
        #expect(try lab.connect(Self.lbIP, 80).reply.hasPrefix("server"))

        // The health check node port of the Local Service: upstream's JSON, 200 with a local endpoint.
        let healthy = try healthCheck(lab)
        #expect(healthy.status == 200, "\(healthy)")
        #expect(healthy.body == "{\"service\":{\"namespace\":\"default\",\"name\":\"local\"},\"localEndpoints\":1,\"serviceProxyHealthy\":true}")
        // No local endpoints: 503, so a load balancer stops sending to this node.
        try sync(rangeState(lab, ranges: ["\(lab.clientAddress)/32"], localEndpoints: []), changed: [Self.local], kind: .partial)
        let unhealthy = try healthCheck(lab)
        #expect(unhealthy.status == 503, "\(unhealthy)")
        #expect(unhealthy.body.contains("\"localEndpoints\":0"))

        try namespace.run { try proxier.cleanup() }
        let left = try run("ip", ["netns", "exec", lab.node, "ipset", "list", "-n"]).stdout
        #expect(!left.contains("KUBE-"), "ipsets left after cleanup: \(left)")
        let filter = try run("ip", ["netns", "exec", lab.node, IPTablesVariant.detect().binary(.save, ipv6: false), "-t", "filter"]).stdout
        #expect(!filter.contains("KUBE-"), "filter rules left after cleanup: \(filter)")
    }

    /// Adds IPv6 to the lab: fd00:78::/64 between client and node, fd00:77::/64 on the node's
    /// bridge and the servers (whose busybox listeners take both families). `nodad`: no wait
    /// for duplicate address detection.
    func addIPv6(_ lab: ProxyNetnsLab) throws {
        func ip(_ ns: String, _ args: [String]) throws { try runChecked("ip", ["netns", "exec", ns, "ip", "-6"] + args) }
        try runChecked("ip", ["netns", "exec", lab.node, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
        try ip(lab.node, ["addr", "add", "fd00:78::1/64", "dev", "c0", "nodad"])
        try ip(lab.node, ["addr", "add", "fd00:77::1/64", "dev", "br0", "nodad"])
        try ip(lab.node, ["route", "add", "default", "via", "fd00:78::2"])
        try ip(lab.client, ["addr", "add", "fd00:78::2/64", "dev", "eth0", "nodad"])
        try ip(lab.client, ["addr", "add", "fd00:78::3/64", "dev", "eth0", "nodad"])
        // With two addresses in one prefix the kernel may pick either as the source: pin it.
        try ip(lab.client, ["route", "add", "default", "via", "fd00:78::1", "src", "fd00:78::2"])
        for (i, server) in lab.servers.enumerated() {
            try ip(server, ["addr", "add", "fd00:77::\(10 + i)/64", "dev", "eth0", "nodad"])
            try ip(server, ["route", "add", "default", "via", "fd00:77::1"])
        }
    }

    @Test(.enabled(if: Host.which("ipset") != nil, "needs ipset"))
    func dualStackIPv6ClusterIPAndSourceRanges() throws {
        let lab = try ProxyNetnsLab(servers: 2)
        defer { lab.destroy() }
        try addIPv6(lab)
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        let ipvs = try NetlinkIPVS(namespace: namespace)
        let device = try NetlinkServiceAddressDevice(namespace: namespace)
        let variant = IPTablesVariant.detect()
        let config = IPVSProxier.Config(nodeIPs: [NFTables.IPAddress(lab.nodeAddress)!, NFTables.IPAddress("fd00:78::1")!])
        let proxiers = [false, true].map { v6 in
            IPVSProxier(family: v6 ? .ip6 : .ip, ipvs: ipvs, device: device, iptables: ExecIPTables(variant: variant, ipv6: v6),
                        ipset: ExecIPSet(path: Host.which("ipset")!), sysctl: NamespaceSysctl(namespace: namespace), config: config)
        }
        defer { try? namespace.run { for p in proxiers { try p.cleanup() } } }
        let web = ServicePortName(namespace: "default", name: "web6", port: "http", protocol: .tcp)
        var state = ProxyState()
        state.services[web] = ServicePortInfo(clusterIPs: [NFTables.IPAddress("172.30.0.30")!, NFTables.IPAddress("fd00:30::10")!], port: 80,
                                              protocol: .tcp, loadBalancerIngressIPs: [NFTables.IPAddress("fd00:30::50")!],
                                              loadBalancerSourceRanges: [CIDR("fd00:78::2/128")!])
        state.endpoints[web] = [0, 1].flatMap { i in
            [EndpointInfo(ip: NFTables.IPAddress(lab.serverAddress(i))!, port: 8080), EndpointInfo(ip: NFTables.IPAddress("fd00:77::\(10 + i)")!, port: 8080)]
        }
        // IPv4 first, then IPv6, then IPv4 again: each full sync keeps the other family's part.
        try namespace.run { for p in proxiers + [proxiers[0]] { try p.sync(state, changed: [], kind: .full) } }
        #expect(try ipvs.services().map(\.key.description).sorted() == ["172.30.0.30:80/TCP", "[fd00:30::10]:80/TCP", "[fd00:30::50]:80/TCP"])

        let v6 = try replies(lab, "fd00:30::10", 80, count: 6)
        #expect(v6 == ["server0": 3, "server1": 3], "IPv6 ClusterIP: \(v6)")
        let v4 = try replies(lab, "172.30.0.30", 80, count: 2)
        #expect(v4 == ["server0": 1, "server1": 1], "IPv4 ClusterIP beside it: \(v4)")
        #expect(try lab.connect("fd00:30::50", 80).reply.hasPrefix("server"), "IPv6 LB IP from fd00:78::2, inside the range")
        try runChecked("ip", ["netns", "exec", lab.client, "ip", "-6", "route", "replace", "default", "via", "fd00:78::1", "src", "fd00:78::3"])
        let outside = try lab.connect("fd00:30::50", 80, timeout: 2)
        #expect(outside.reply.isEmpty, "IPv6 LB IP from fd00:78::3, outside the range: \(outside)")
        #expect(try lab.connect("fd00:30::10", 80).reply.hasPrefix("server"), "the IPv6 ClusterIP has no source ranges")

        try namespace.run { for p in proxiers { try p.cleanup() } }
        #expect(try ipvs.services().isEmpty)
        let left = try run("ip", ["netns", "exec", lab.node, "ipset", "list", "-n"]).stdout
        #expect(!left.contains("KUBE-"), "ipsets left after cleanup: \(left)")
    }
}

import Foundation
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
/// the node, so IPVS NAT needs no masquerade: iptables and ipset are left out here.
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
}

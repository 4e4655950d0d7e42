import IPTables
import IPVS
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

typealias NFTAddress = NFTables.IPAddress

/// Records iptables restores and the jump rules, as the kernel would keep them.
final class RecordedIPTables: IPTablesInterface {
    private let state = Mutex((restores: [String](), rules: Set<String>()))
    var restores: [String] { state.withLock { $0.restores } }
    var rules: Set<String> { state.withLock { $0.rules } }
    func restore(_ text: String) throws(IPTablesError) { state.withLock { $0.restores.append(text) } }
    func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        _ = state.withLock { $0.rules.insert("\(table) \(chain) \(rule.joined(separator: " "))") }
    }
    func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        _ = state.withLock { $0.rules.remove("\(table) \(chain) \(rule.joined(separator: " "))") }
    }
    func save(table: String) throws(IPTablesError) -> String { "" }
    /// Required by the IPTablesInterface revision before `save`; the proxier does not call it.
    func deleteChains(table: String, _ chains: [String]) throws(IPTablesError) {}
}

/// Records sysctl writes.
final class RecordedSysctl: SysctlWriter {
    private let values = Mutex([String: String]())
    var written: [String: String] { values.withLock { $0 } }
    func set(_ key: String, _ value: String) throws(IPVSError) { values.withLock { $0[key] = value } }
}

/// One proxier over stateful fakes.
struct Rig {
    let ipvs = FakeIPVS()
    let device: FakeServiceAddressDevice
    let ipset = FakeIPSet()
    let iptables = RecordedIPTables()
    let sysctl = RecordedSysctl()
    let proxier: IPVSProxier

    init(dummy: Bool = true, config: IPVSProxier.Config = .init(nodeIPs: [NFTAddress("192.168.1.10")!], clusterCIDR: CIDR("10.244.0.0/16"))) {
        device = FakeServiceAddressDevice(dummySupported: dummy)
        proxier = IPVSProxier(family: .ip, ipvs: ipvs, device: device, iptables: iptables, ipset: ipset, sysctl: sysctl, config: config)
    }
}

func name(_ n: String, _ proto: TransportProtocol = .tcp) -> ServicePortName {
    ServicePortName(namespace: "default", name: n, port: "", protocol: proto)
}

func endpoint(_ ip: String, _ port: UInt16 = 8080, local: Bool = false, ready: Bool = true) -> EndpointInfo {
    EndpointInfo(ip: NFTAddress(ip)!, port: port, ready: ready, serving: ready, isLocal: local)
}

func service(_ ip: String, port: UInt16 = 80, proto: TransportProtocol = .tcp, nodePort: UInt16 = 0, externalIPs: [String] = [],
             affinity: UInt32? = nil, etpLocal: Bool = false) -> ServicePortInfo {
    ServicePortInfo(clusterIPs: [NFTAddress(ip)!], port: port, protocol: proto, nodePort: nodePort,
                    externalIPs: externalIPs.map { NFTAddress($0)! }, affinityTimeoutSeconds: affinity, externalPolicyLocal: etpLocal)
}

@Suite("IPVS proxier over a fake IPVS")
struct IPVSProxierTests {
    /// Service shapes and the virtual/real servers upstream's IPVS mode gives them.
    static let shapes: [(String, ServicePortInfo, [EndpointInfo], [String])] = [
        ("ClusterIP, two endpoints", service("10.96.0.10"), [endpoint("10.244.1.2"), endpoint("10.244.2.3")],
         ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1 10.244.2.3:8080/1"]),
        ("ClientIP affinity", service("10.96.0.11", affinity: 10800), [endpoint("10.244.1.2")],
         ["10.96.0.11:80/TCP rr persistent 10800 -> 10.244.1.2:8080/1"]),
        ("NodePort on the node IP", service("10.96.0.12", nodePort: 30080), [endpoint("10.244.1.2")],
         ["10.96.0.12:80/TCP rr -> 10.244.1.2:8080/1", "192.168.1.10:30080/TCP rr -> 10.244.1.2:8080/1"]),
        ("externalIP, UDP", service("10.96.0.13", port: 53, proto: .udp, externalIPs: ["203.0.113.7"]), [endpoint("10.244.1.2", 53)],
         ["10.96.0.13:53/UDP rr -> 10.244.1.2:53/1", "203.0.113.7:53/UDP rr -> 10.244.1.2:53/1"]),
        ("externalTrafficPolicy Local: NodePort only to local endpoints", service("10.96.0.14", nodePort: 30081, etpLocal: true),
         [endpoint("10.244.1.2", local: true), endpoint("10.244.2.3")],
         ["10.96.0.14:80/TCP rr -> 10.244.1.2:8080/1 10.244.2.3:8080/1", "192.168.1.10:30081/TCP rr -> 10.244.1.2:8080/1"]),
        ("no endpoints: a virtual server without real servers (IPVS answers ICMP unreachable)", service("10.96.0.15"), [],
         ["10.96.0.15:80/TCP rr -> (none)"]),
        ("only terminating endpoints that still serve", service("10.96.0.16"),
         [EndpointInfo(ip: NFTAddress("10.244.1.9")!, port: 8080, ready: false, serving: true, terminating: true)],
         ["10.96.0.16:80/TCP rr -> 10.244.1.9:8080/1"]),
    ]

    @Test("full sync of one Service shape", arguments: 0..<shapes.count)
    func fullSyncShape(_ index: Int) throws {
        let (label, info, endpoints, expected) = Self.shapes[index]
        let rig = Rig()
        var state = ProxyState()
        state.services[name("s")] = info
        state.endpoints[name("s")] = endpoints
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.ipvs.dump() == expected, "\(label)")
        // Every ClusterIP and externalIP is bound to kube-ipvs0; node IPs are not.
        let bound = try rig.device.addresses().map(\.description).sorted()
        #expect(bound == ([info.clusterIPs[0].description] + info.externalIPs.map(\.description)).sorted())
    }

    @Test("full sync: ipsets, masquerade rules, jumps and IPVS sysctls as upstream")
    func fullSyncKernelSide() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("web")] = service("10.96.0.10", nodePort: 30080, externalIPs: ["203.0.113.7"])
        state.endpoints[name("web")] = [endpoint("10.244.1.2")]
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.ipset.members("KUBE-CLUSTER-IP") == ["10.96.0.10,tcp:80"])
        #expect(rig.ipset.members("KUBE-EXTERNAL-IP") == ["203.0.113.7,tcp:80"])
        #expect(rig.ipset.members("KUBE-NODE-PORT-TCP") == ["30080"])
        #expect(rig.ipset.members("KUBE-LOOP-BACK") == ["10.244.1.2,tcp:8080,10.244.1.2"])
        let nat = try #require(rig.iptables.restores.last)
        #expect(nat.contains("-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" ! -s 10.244.0.0/16 -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"))
        #expect(nat.contains("-A KUBE-NODE-PORT -p tcp -m comment --comment \"Kubernetes nodeport TCP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ"))
        #expect(nat.contains("-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000"))
        #expect(rig.iptables.rules.contains("nat PREROUTING -m comment --comment kubernetes service portals -j KUBE-SERVICES"))
        #expect(rig.sysctl.written == ["net.ipv4.vs.conntrack": "1", "net.ipv4.vs.expire_nodest_conn": "1",
                                       "net.ipv4.vs.expire_quiescent_template": "1"])
        #expect(rig.device.kind == "dummy")
    }

    @Test("without the dummy driver kube-ipvs0 is a bridge and the addresses still get bound")
    func bridgeFallback() throws {
        let rig = Rig(dummy: false)
        var state = ProxyState()
        state.services[name("web")] = service("10.96.0.10")
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.device.kind == "bridge")
        #expect(try rig.device.addresses().map(\.description) == ["10.96.0.10"])
    }

    @Test("a removed TCP endpoint drains at weight 0 while it has connections, then is deleted")
    func gracefulTermination() throws {
        let rig = Rig()
        var state = ProxyState()
        let web = name("web")
        state.services[web] = service("10.96.0.10")
        state.endpoints[web] = [endpoint("10.244.1.2"), endpoint("10.244.2.3")]
        try rig.proxier.sync(state, changed: [], kind: .full)
        let vip = VirtualServer.Key(address: .init("10.96.0.10")!, protocol: .tcp, port: 80)
        let gone = RealServer.Key(address: .init("10.244.2.3")!, port: 8080)
        rig.ipvs.setConnections(gone, of: vip, active: 3)

        state.endpoints[web] = [endpoint("10.244.1.2")]
        try rig.proxier.sync(state, changed: [web], kind: .partial)
        #expect(rig.ipvs.dump() == ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1 10.244.2.3:8080/0"])
        #expect(rig.proxier.describeRules().contains("10.244.2.3:8080 (draining)"))

        // Still connected: the next sync (nothing changed) keeps it.
        try rig.proxier.sync(state, changed: [], kind: .partial)
        #expect(rig.ipvs.dump() == ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1 10.244.2.3:8080/0"])

        rig.ipvs.setConnections(gone, of: vip, active: 0, inactive: 0)
        try rig.proxier.sync(state, changed: [], kind: .partial)
        #expect(rig.ipvs.dump() == ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1"])
        #expect(!rig.proxier.describeRules().contains("draining"))
    }

    @Test("an endpoint that returns while draining gets weight 1 back")
    func returningEndpoint() throws {
        let rig = Rig()
        var state = ProxyState()
        let web = name("web")
        state.services[web] = service("10.96.0.10")
        state.endpoints[web] = [endpoint("10.244.1.2"), endpoint("10.244.2.3")]
        try rig.proxier.sync(state, changed: [], kind: .full)
        let vip = VirtualServer.Key(address: .init("10.96.0.10")!, protocol: .tcp, port: 80)
        rig.ipvs.setConnections(RealServer.Key(address: .init("10.244.2.3")!, port: 8080), of: vip, active: 1)
        state.endpoints[web] = [endpoint("10.244.1.2")]
        try rig.proxier.sync(state, changed: [web], kind: .partial)
        state.endpoints[web] = [endpoint("10.244.1.2"), endpoint("10.244.2.3")]
        try rig.proxier.sync(state, changed: [web], kind: .partial)
        #expect(rig.ipvs.dump() == ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1 10.244.2.3:8080/1"])
        #expect(!rig.proxier.describeRules().contains("draining"))
    }

    @Test("a removed UDP endpoint is deleted at once, connections or not")
    func udpNoDrain() throws {
        let rig = Rig()
        var state = ProxyState()
        let dns = name("dns", .udp)
        state.services[dns] = service("10.96.0.53", port: 53, proto: .udp)
        state.endpoints[dns] = [endpoint("10.244.1.2", 53), endpoint("10.244.2.3", 53)]
        try rig.proxier.sync(state, changed: [], kind: .full)
        let vip = VirtualServer.Key(address: .init("10.96.0.53")!, protocol: .udp, port: 53)
        rig.ipvs.setConnections(RealServer.Key(address: .init("10.244.2.3")!, port: 53), of: vip, active: 0, inactive: 4)
        state.endpoints[dns] = [endpoint("10.244.1.2", 53)]
        try rig.proxier.sync(state, changed: [dns], kind: .partial)
        #expect(rig.ipvs.dump() == ["10.96.0.53:53/UDP rr -> 10.244.1.2:53/1"])
    }

    @Test("a partial sync after one Service is added touches only that Service")
    func partialAddsOnlyNew() throws {
        let rig = Rig()
        var state = ProxyState()
        for i in 0..<50 {
            state.services[name("s\(i)")] = service("10.96.1.\(i + 1)")
            state.endpoints[name("s\(i)")] = [endpoint("10.244.1.\(i + 1)"), endpoint("10.244.2.\(i + 1)")]
        }
        try rig.proxier.sync(state, changed: [], kind: .full)
        rig.ipvs.resetCalls()
        state.services[name("new")] = service("10.96.2.1", affinity: 60)
        state.endpoints[name("new")] = [endpoint("10.244.3.1")]
        try rig.proxier.sync(state, changed: [name("new")], kind: .partial)
        #expect(rig.ipvs.calls == ["addService": 1, "addDestination": 1])
        #expect(rig.ipvs.dump().count == 51)
        #expect(try rig.device.addresses().count == 51)
        #expect(rig.ipset.members("KUBE-CLUSTER-IP")?.contains("10.96.2.1,tcp:80") == true)
    }

    @Test("a deleted Service loses its virtual servers, its address and its ipset entries")
    func deleteService() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("a")] = service("10.96.0.10", nodePort: 30080)
        state.endpoints[name("a")] = [endpoint("10.244.1.2")]
        state.services[name("b")] = service("10.96.0.11")
        try rig.proxier.sync(state, changed: [], kind: .full)
        state.services[name("a")] = nil
        state.endpoints[name("a")] = nil
        try rig.proxier.sync(state, changed: [name("a")], kind: .partial)
        #expect(rig.ipvs.dump() == ["10.96.0.11:80/TCP rr -> (none)"])
        #expect(try rig.device.addresses().map(\.description) == ["10.96.0.11"])
        #expect(rig.ipset.members("KUBE-CLUSTER-IP") == ["10.96.0.11,tcp:80"])
        #expect(rig.ipset.members("KUBE-NODE-PORT-TCP") == [])
        #expect(rig.ipset.members("KUBE-LOOP-BACK") == [])
    }

    @Test("a full sync removes stale virtual servers on kube-ipvs0 addresses and leaves foreign ones")
    func fullSyncRemovesStale() throws {
        let rig = Rig()
        // Left by an earlier proxy process: bound address and its virtual server.
        try rig.device.ensure()
        try rig.device.bind(.init("10.96.9.9")!)
        try rig.ipvs.addService(VirtualServer(key: .init(address: .init("10.96.9.9")!, protocol: .tcp, port: 80)))
        // Somebody else's virtual server on an address that is not ours.
        try rig.ipvs.addService(VirtualServer(key: .init(address: .init("192.0.2.1")!, protocol: .tcp, port: 443)))
        // A wanted one with a wrong scheduler and a stray real server.
        let vip = VirtualServer.Key(address: .init("10.96.0.10")!, protocol: .tcp, port: 80)
        try rig.ipvs.addService(VirtualServer(key: vip, scheduler: "lc"))
        try rig.ipvs.addDestination(RealServer(key: .init(address: .init("10.244.9.9")!, port: 8080)), to: vip)
        var state = ProxyState()
        state.services[name("web")] = service("10.96.0.10")
        state.endpoints[name("web")] = [endpoint("10.244.1.2")]
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.ipvs.dump() == ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1", "192.0.2.1:443/TCP rr -> (none)"])
        #expect(try rig.device.addresses().map(\.description) == ["10.96.0.10"])
    }

    @Test("a failed sync makes the next one full, which converges")
    func failureThenFull() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("a")] = service("10.96.0.10")
        state.endpoints[name("a")] = [endpoint("10.244.1.2")]
        try rig.proxier.sync(state, changed: [], kind: .full)
        state.endpoints[name("a")] = [endpoint("10.244.1.2"), endpoint("10.244.1.3")]
        rig.ipvs.failNext(IPVSError(operation: "add destination", errno: 12))
        #expect(throws: IPVSError.self) { try rig.proxier.sync(state, changed: [name("a")], kind: .partial) }
        state.services[name("b")] = service("10.96.0.11")
        // Asked for partial with only b changed; the proxier knows its state is unsure.
        try rig.proxier.sync(state, changed: [name("b")], kind: .partial)
        #expect(rig.ipvs.dump() == ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1 10.244.1.3:8080/1", "10.96.0.11:80/TCP rr -> (none)"])
    }

    @Test("cleanup removes virtual servers, kube-ipvs0, chains, jumps and sets")
    func cleanup() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("a")] = service("10.96.0.10", nodePort: 30080)
        state.endpoints[name("a")] = [endpoint("10.244.1.2")]
        try rig.ipvs.addService(VirtualServer(key: .init(address: .init("192.0.2.1")!, protocol: .tcp, port: 443)))
        try rig.proxier.sync(state, changed: [], kind: .full)
        try rig.proxier.cleanup()
        #expect(rig.ipvs.dump() == ["192.0.2.1:443/TCP rr -> (none)"])
        #expect(rig.device.kind == nil)
        #expect(rig.iptables.rules.isEmpty)
        #expect(rig.iptables.restores.last?.contains("-X KUBE-SERVICES\n") == true)
        #expect(rig.ipset.names.isEmpty)
        try rig.proxier.cleanup()
    }
}

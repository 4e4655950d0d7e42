import IPTables
import IPVS
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

typealias NFTAddress = NFTables.IPAddress

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
    let iptables = FakeIPTables()
    let sysctl = RecordedSysctl()
    let proxier: IPVSProxier

    init(dummy: Bool = true, config: IPVSProxier.Config = .init(nodeIPs: [NFTAddress("192.168.1.10")!], clusterCIDR: CIDR("10.244.0.0/16"))) {
        device = FakeServiceAddressDevice(dummySupported: dummy)
        proxier = IPVSProxier(family: .ip, ipvs: ipvs, device: device, iptables: iptables, ipset: ipset, sysctl: sysctl, config: config)
    }

    /// The rules of `chain` in `table`; nil when the chain does not exist.
    func rules(_ table: String, _ chain: String) -> [String]? { iptables.table(table)?.rules(chain) }
}

func name(_ n: String, _ proto: TransportProtocol = .tcp) -> ServicePortName {
    ServicePortName(namespace: "default", name: n, port: "", protocol: proto)
}

func endpoint(_ ip: String, _ port: UInt16 = 8080, local: Bool = false, ready: Bool = true) -> EndpointInfo {
    EndpointInfo(ip: NFTAddress(ip)!, port: port, ready: ready, serving: ready, isLocal: local)
}

func service(_ ip: String, port: UInt16 = 80, proto: TransportProtocol = .tcp, nodePort: UInt16 = 0, externalIPs: [String] = [],
             loadBalancerIPs: [String] = [], sourceRanges: [String] = [], affinity: UInt32? = nil, etpLocal: Bool = false,
             healthCheckNodePort: UInt16 = 0) -> ServicePortInfo {
    ServicePortInfo(clusterIPs: [NFTAddress(ip)!], port: port, protocol: proto, nodePort: nodePort,
                    externalIPs: externalIPs.map { NFTAddress($0)! }, loadBalancerIngressIPs: loadBalancerIPs.map { NFTAddress($0)! },
                    loadBalancerSourceRanges: sourceRanges.map { CIDR($0)! }, affinityTimeoutSeconds: affinity, externalPolicyLocal: etpLocal,
                    healthCheckNodePort: healthCheckNodePort)
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
        #expect(rig.rules("nat", "KUBE-SERVICES") == [
            "-s 127.0.0.0/8 -j RETURN",
            "-m comment --comment \"Kubernetes service lb portal\" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER",
            "-m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
            "-m comment --comment \"Kubernetes service external ip + port for masquerade and filter purpose\" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ",
            "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
            "-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT",
            "-m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT",
        ])
        #expect(rig.rules("nat", "KUBE-NODE-PORT")?.prefix(2) == [
            "-p tcp -m comment --comment \"Kubernetes nodeport TCP port with externalTrafficPolicy=local\" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN",
            "-p tcp -m comment --comment \"Kubernetes nodeport TCP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ",
        ])
        #expect(rig.rules("nat", "KUBE-NODE-PORT")?.last
                == "-p sctp -m comment --comment \"Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'\" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ")
        #expect(rig.rules("nat", "KUBE-POSTROUTING")?.contains("-j MARK --xor-mark 0x4000") == true)
        #expect(rig.rules("nat", "PREROUTING") == ["-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"])
        #expect(rig.rules("filter", "INPUT") == ["-m comment --comment \"kube-proxy firewall rules\" -j KUBE-PROXY-FIREWALL",
                                                 "-m comment --comment \"kubernetes health check rules\" -j KUBE-NODE-PORT"])
        #expect(rig.rules("filter", "OUTPUT") == ["-m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-OUT-FILTER"])
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

    @Test("cleanup removes virtual servers of its family (upstream flushes IPVS), kube-ipvs0, chains, jumps and sets")
    func cleanup() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("a")] = service("10.96.0.10", nodePort: 30080)
        state.endpoints[name("a")] = [endpoint("10.244.1.2")]
        try rig.ipvs.addService(VirtualServer(key: .init(address: .init("192.0.2.1")!, protocol: .tcp, port: 443)))
        try rig.ipvs.addService(VirtualServer(key: .init(address: .init("2001:db8::1")!, protocol: .tcp, port: 443)))
        try rig.proxier.sync(state, changed: [], kind: .full)
        try rig.proxier.cleanup()
        #expect(rig.ipvs.dump() == ["[2001:db8::1]:443/TCP rr -> (none)"])
        // A cleanup from another process (nothing programmed) finds a NodePort server on a node
        // address that is not on kube-ipvs0, as `nodekit proxy --cleanup` does.
        try rig.ipvs.addService(VirtualServer(key: .init(address: .init("192.168.1.10")!, protocol: .tcp, port: 30080)))
        let other = IPVSProxier(family: .ip, ipvs: rig.ipvs, device: rig.device, iptables: rig.iptables, ipset: rig.ipset,
                                sysctl: rig.sysctl, config: .init(nodeIPs: [], clusterCIDR: nil))
        try other.cleanup()
        #expect(rig.ipvs.dump() == ["[2001:db8::1]:443/TCP rr -> (none)"])
        #expect(rig.device.kind == nil)
        for (table, builtin) in [("nat", ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]), ("filter", ["INPUT", "FORWARD", "OUTPUT"])] {
            let t = try #require(rig.iptables.table(table))
            #expect(t.chains.map(\.name) == builtin, "\(table) keeps only its built-in chains")
            #expect(t.chains.allSatisfy { $0.rules.isEmpty }, "\(table): no jumps left")
        }
        #expect(rig.ipset.names.isEmpty)
        try rig.proxier.cleanup()
    }

    // MARK: loadBalancerSourceRanges and health check node ports

    /// LB source range shapes and the ipset members and KUBE-IPVS-OUT-FILTER rules upstream's
    /// IPVS proxier gives them (node IP 192.168.1.10, LB IP 203.0.113.10, TCP port 80).
    static let rangeShapes: [(label: String, ranges: [String], cidrs: [String], sourceIPs: [String], outFilter: [String])] = [
        ("no ranges: every source reaches the LB IP", [], [], [], []),
        ("ranges without the node: the node's own connections are dropped in OUTPUT",
         ["10.0.0.0/8", "198.51.100.7/32"], ["203.0.113.10,tcp:80,10.0.0.0/8", "203.0.113.10,tcp:80,198.51.100.7/32"], [],
         ["-s 203.0.113.10 -m ipvs --vaddr 203.0.113.10 --vproto tcp --vport 80 -j DROP"]),
        ("a range holding the node IP: the LB IP as source is allowed", ["10.0.0.0/8", "192.168.1.0/24"],
         ["203.0.113.10,tcp:80,10.0.0.0/8", "203.0.113.10,tcp:80,192.168.1.0/24"], ["203.0.113.10,tcp:80,203.0.113.10"], []),
        ("0.0.0.0/0 is written as its two halves (the kernel refuses a /0 net)", ["0.0.0.0/0"],
         ["203.0.113.10,tcp:80,0.0.0.0/1", "203.0.113.10,tcp:80,128.0.0.0/1"], ["203.0.113.10,tcp:80,203.0.113.10"], []),
    ]

    @Test("loadBalancerSourceRanges: ipsets and KUBE-IPVS-OUT-FILTER as upstream", arguments: 0..<rangeShapes.count)
    func sourceRangeShape(_ index: Int) throws {
        let shape = Self.rangeShapes[index]
        let rig = Rig()
        var state = ProxyState()
        state.services[name("lb")] = service("10.96.0.20", nodePort: 30090, loadBalancerIPs: ["203.0.113.10"], sourceRanges: shape.ranges)
        state.endpoints[name("lb")] = [endpoint("10.244.1.2")]
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER") == ["203.0.113.10,tcp:80"], "\(shape.label)")
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-FW") == (shape.ranges.isEmpty ? [] : ["203.0.113.10,tcp:80"]), "\(shape.label)")
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-SOURCE-CIDR") == shape.cidrs, "\(shape.label)")
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-SOURCE-IP") == shape.sourceIPs, "\(shape.label)")
        #expect(rig.rules("filter", "KUBE-IPVS-OUT-FILTER") == shape.outFilter, "\(shape.label)")
        // An LB IP is not an externalIP: it is masqueraded through KUBE-LOAD-BALANCER instead.
        #expect(rig.ipset.members("KUBE-EXTERNAL-IP") == [])
        #expect(rig.ipvs.dump().contains("203.0.113.10:80/TCP rr -> 10.244.1.2:8080/1"))
        #expect(try rig.device.addresses().contains(NFTAddress("203.0.113.10")!))
    }

    @Test("the filter table of a full sync, as upstream writes it")
    func filterTableGolden() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("lb")] = service("10.96.0.20", loadBalancerIPs: ["203.0.113.10"], sourceRanges: ["10.78.0.2/32"])
        try rig.proxier.sync(state, changed: [], kind: .full)
        let expected = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :KUBE-FORWARD - [0:0]
            :KUBE-NODE-PORT - [0:0]
            :KUBE-PROXY-FIREWALL - [0:0]
            :KUBE-SOURCE-RANGES-FIREWALL - [0:0]
            :KUBE-IPVS-OUT-FILTER - [0:0]
            -A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
            -A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT
            -A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
            -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
            -A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER
            -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
            -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
            -A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
            -A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL
            -A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN
            -A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source IP for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN
            -A KUBE-SOURCE-RANGES-FIREWALL -j DROP
            -A KUBE-IPVS-OUT-FILTER -s 203.0.113.10 -m ipvs --vaddr 203.0.113.10 --vproto tcp --vport 80 -j DROP
            COMMIT

            """
        #expect(try rig.iptables.save(table: "filter") == expected)
        #expect(rig.rules("nat", "KUBE-LOAD-BALANCER") == [
            "-m comment --comment \"Kubernetes service load balancer ip + port with externalTrafficPolicy=local\" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN",
            "-j KUBE-MARK-MASQ",
        ])
    }

    @Test("externalTrafficPolicy Local: LB IP, externalIP and NodePort keep the client's address (the -LOCAL sets)")
    func localPolicySets() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("lb")] = service("10.96.0.21", nodePort: 30091, externalIPs: ["203.0.113.8"], loadBalancerIPs: ["203.0.113.11"],
                                             etpLocal: true, healthCheckNodePort: 32001)
        state.services[name("sctp", .sctp)] = service("10.96.0.22", port: 9, proto: .sctp, nodePort: 30092, etpLocal: true)
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER") == ["203.0.113.11,tcp:80"])
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-LOCAL") == ["203.0.113.11,tcp:80"])
        #expect(rig.ipset.members("KUBE-EXTERNAL-IP") == [])
        #expect(rig.ipset.members("KUBE-EXTERNAL-IP-LOCAL") == ["203.0.113.8,tcp:80"])
        #expect(rig.ipset.members("KUBE-NODE-PORT-TCP") == ["30091"])
        #expect(rig.ipset.members("KUBE-NODE-PORT-LOCAL-TCP") == ["30091"])
        #expect(rig.ipset.members("KUBE-NODE-PORT-SCTP-HASH") == ["192.168.1.10,sctp:30092"])
        #expect(rig.ipset.members("KUBE-NODE-PORT-LOCAL-SCTP-HASH") == ["192.168.1.10,sctp:30092"])
        #expect(rig.ipset.members("KUBE-HEALTH-CHECK-NODE-PORT") == ["32001"])
    }

    @Test("partial syncs add and remove source ranges, the OUT filter rule and the health check port")
    func partialSourceRangesAndHealthCheck() throws {
        let rig = Rig()
        var state = ProxyState()
        let lb = name("lb")
        state.services[lb] = service("10.96.0.20", nodePort: 30090, loadBalancerIPs: ["203.0.113.10"], etpLocal: true)
        state.endpoints[lb] = [endpoint("10.244.1.2", local: true)]
        state.services[name("other")] = service("10.96.0.30")
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.rules("filter", "KUBE-IPVS-OUT-FILTER") == [])
        let restoresBefore = rig.iptables.restores.count

        state.services[lb] = service("10.96.0.20", nodePort: 30090, loadBalancerIPs: ["203.0.113.10"], sourceRanges: ["10.78.0.0/24"],
                                     etpLocal: true, healthCheckNodePort: 32000)
        try rig.proxier.sync(state, changed: [lb], kind: .partial)
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-FW") == ["203.0.113.10,tcp:80"])
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-SOURCE-CIDR") == ["203.0.113.10,tcp:80,10.78.0.0/24"])
        #expect(rig.ipset.members("KUBE-HEALTH-CHECK-NODE-PORT") == ["32000"])
        #expect(rig.rules("filter", "KUBE-IPVS-OUT-FILTER") == ["-s 203.0.113.10 -m ipvs --vaddr 203.0.113.10 --vproto tcp --vport 80 -j DROP"])
        // Only the OUT filter chain was rewritten, and the rest of the filter table is intact.
        #expect(rig.iptables.restores.count == restoresBefore + 1)
        #expect(rig.rules("filter", "KUBE-SOURCE-RANGES-FIREWALL")?.last == "-j DROP")

        // The range now holds the node IP: the OUT filter rule goes, the LB IP becomes an allowed source.
        state.services[lb] = service("10.96.0.20", nodePort: 30090, loadBalancerIPs: ["203.0.113.10"], sourceRanges: ["192.168.1.0/24"],
                                     etpLocal: true, healthCheckNodePort: 32000)
        try rig.proxier.sync(state, changed: [lb], kind: .partial)
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-SOURCE-CIDR") == ["203.0.113.10,tcp:80,192.168.1.0/24"])
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-SOURCE-IP") == ["203.0.113.10,tcp:80,203.0.113.10"])
        #expect(rig.rules("filter", "KUBE-IPVS-OUT-FILTER") == [])

        state.services[lb] = nil
        state.endpoints[lb] = nil
        try rig.proxier.sync(state, changed: [lb], kind: .partial)
        for set in ["KUBE-LOAD-BALANCER", "KUBE-LOAD-BALANCER-FW", "KUBE-LOAD-BALANCER-LOCAL", "KUBE-LOAD-BALANCER-SOURCE-CIDR",
                    "KUBE-LOAD-BALANCER-SOURCE-IP", "KUBE-HEALTH-CHECK-NODE-PORT"] {
            #expect(rig.ipset.members(set) == [], "\(set) is empty once the Service is gone")
        }
        #expect(rig.ipvs.dump() == ["10.96.0.30:80/TCP rr -> (none)"])
    }

    @Test("IPv6 set names: KUBE-6- prefix, cut to ipset's 31 characters, as upstream")
    func ipv6SetNames() throws {
        let ipset = FakeIPSet()
        let proxier = IPVSProxier(family: .ip6, ipvs: FakeIPVS(), device: FakeServiceAddressDevice(dummySupported: true),
                                  iptables: nil, ipset: ipset, sysctl: nil)
        try proxier.sync(ProxyState(), changed: [], kind: .full)
        #expect(ipset.names.contains("KUBE-6-LOAD-BALANCER-SOURCE-CID"))
        #expect(ipset.names.contains("KUBE-6-LOAD-BALANCER-FW"))
        #expect(ipset.names.count == 16)
        #expect(ipset.names.allSatisfy { $0.hasPrefix("KUBE-6-") && $0.count <= 31 })
    }

    @Test("dual stack: an IPv4 and an IPv6 backend share kube-ipvs0 and the IPVS table, and each full sync keeps the other's part")
    func dualStack() throws {
        let ipvs = FakeIPVS()
        let device = FakeServiceAddressDevice(dummySupported: true)
        let ipset = FakeIPSet()
        let nodeIPs = [NFTAddress("192.168.1.10")!, NFTAddress("fd00:1::10")!]
        let v4 = IPVSProxier(family: .ip, ipvs: ipvs, device: device, iptables: FakeIPTables(), ipset: ipset, sysctl: nil, config: .init(nodeIPs: nodeIPs))
        let v6 = IPVSProxier(family: .ip6, ipvs: ipvs, device: device, iptables: FakeIPTables(), ipset: ipset, sysctl: nil, config: .init(nodeIPs: nodeIPs))
        var state = ProxyState()
        state.services[name("web")] = ServicePortInfo(clusterIPs: [NFTAddress("10.96.0.10")!, NFTAddress("fd00:96::10")!], port: 80, protocol: .tcp,
                                                      nodePort: 30080, loadBalancerIngressIPs: [NFTAddress("fd00:50::1")!],
                                                      loadBalancerSourceRanges: [CIDR("fd00:78::/64")!])
        state.endpoints[name("web")] = [endpoint("10.244.1.2"), endpoint("fd00:244::2")]
        try v4.sync(state, changed: [], kind: .full)
        try v6.sync(state, changed: [], kind: .full)
        try v4.sync(state, changed: [], kind: .full)
        #expect(ipvs.dump().sorted() == [
            "10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1",
            "192.168.1.10:30080/TCP rr -> 10.244.1.2:8080/1",
            "[fd00:1::10]:30080/TCP rr -> [fd00:244::2]:8080/1",
            "[fd00:50::1]:80/TCP rr -> [fd00:244::2]:8080/1",
            "[fd00:96::10]:80/TCP rr -> [fd00:244::2]:8080/1",
        ])
        #expect(try device.addresses().map(\.description).sorted() == ["10.96.0.10", "fd00:50::1", "fd00:96::10"])
        #expect(ipset.members("KUBE-6-CLUSTER-IP") == ["fd00:96::10,tcp:80"])
        #expect(ipset.members("KUBE-6-LOAD-BALANCER-SOURCE-CID") == ["fd00:50::1,tcp:80,fd00:78::/64"])
        #expect(ipset.members("KUBE-CLUSTER-IP") == ["10.96.0.10,tcp:80"])
        #expect(ipset.members("KUBE-LOAD-BALANCER") == [])

        // Removing the IPv6 Service address in a full IPv6 sync leaves the IPv4 side as it was.
        state.services[name("web")]!.clusterIPs = [NFTAddress("10.96.0.10")!]
        state.services[name("web")]!.loadBalancerIngressIPs = []
        try v6.sync(state, changed: [], kind: .full)
        #expect(ipvs.dump().sorted() == ["10.96.0.10:80/TCP rr -> 10.244.1.2:8080/1", "192.168.1.10:30080/TCP rr -> 10.244.1.2:8080/1"])
        #expect(try device.addresses().map(\.description) == ["10.96.0.10"])
    }
}

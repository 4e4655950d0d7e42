import Foundation
import KubeAPI
import NFTables
import Proxy
import Testing
import TestSupport

/// Service shapes the golden files cover, by name.
enum Shapes {
    static let web = ServicePortName(namespace: "ns1", name: "web", port: "http", protocol: .tcp)
    static func ep(_ ip: String, _ port: UInt16 = 8080, ready: Bool = true, serving: Bool = true, terminating: Bool = false, local: Bool = false) -> EndpointInfo {
        EndpointInfo(ip: IPAddress(ip)!, port: port, ready: ready, serving: serving, terminating: terminating, isLocal: local)
    }
    static func info(_ proto: TransportProtocol = .tcp, nodePort: UInt16 = 0) -> ServicePortInfo {
        ServicePortInfo(clusterIPs: [IPAddress("172.30.0.41")!], port: 80, protocol: proto, nodePort: nodePort)
    }

    static let all: [(String, ServicePortName, ServicePortInfo, [EndpointInfo])] = {
        var out: [(String, ServicePortName, ServicePortInfo, [EndpointInfo])] = []
        out.append(("clusterip", web, info(), [ep("10.180.0.1"), ep("10.180.0.2")]))
        out.append(("clusterip-one-endpoint-udp", ServicePortName(namespace: "ns1", name: "dns", port: "dns", protocol: .udp),
                    info(.udp), [ep("10.180.0.3", 53)]))
        out.append(("sctp-no-endpoints-rejects", ServicePortName(namespace: "ns1", name: "sig", port: "", protocol: .sctp),
                    info(.sctp, nodePort: 30010), []))
        out.append(("nodeport", web, info(nodePort: 30080), [ep("10.180.0.1"), ep("10.180.0.2"), ep("10.180.0.3")]))
        var affinity = info()
        affinity.affinityTimeoutSeconds = 10800
        out.append(("session-affinity", web, affinity, [ep("10.180.0.1"), ep("10.180.0.2")]))
        var external = info(nodePort: 30080)
        external.externalIPs = [IPAddress("192.168.99.11")!]
        external.loadBalancerIngressIPs = [IPAddress("5.6.7.8")!]
        external.loadBalancerSourceRanges = [CIDR("203.0.113.0/25")!, CIDR("198.51.100.7")!]
        out.append(("externalips-loadbalancer-source-ranges", web, external, [ep("10.180.0.1")]))
        var etpLocal = info(nodePort: 30080)
        etpLocal.externalPolicyLocal = true
        etpLocal.healthCheckNodePort = 30000
        out.append(("external-traffic-policy-local", web, etpLocal, [ep("10.180.0.1", local: true), ep("10.180.0.2")]))
        out.append(("external-traffic-policy-local-no-local-endpoints", web, etpLocal, [ep("10.180.0.2")]))
        var itpLocal = info()
        itpLocal.internalPolicyLocal = true
        out.append(("internal-traffic-policy-local", web, itpLocal, [ep("10.180.0.1", local: true), ep("10.180.0.2")]))
        out.append(("terminating-fallback", web, info(), [ep("10.180.0.1", ready: false, serving: true, terminating: true),
                                                         ep("10.180.0.2", ready: false, serving: false, terminating: true)]))
        return out
    }()
}

@Suite struct NFTablesProxierTests {
    static let goldenDirectory = Host.repositoryRoot.appendingPathComponent("Tests/ProxyTests/Golden/nftables")

    func state(_ name: ServicePortName, _ info: ServicePortInfo, _ eps: [EndpointInfo]) -> ProxyState {
        var s = ProxyState()
        s.services[name] = info
        s.endpoints[name] = eps
        return s
    }

    /// Golden dumps: the sorted transaction of a full sync for each shape. Regenerate with
    /// `UPDATE_GOLDEN=1 swift test --filter NFTablesProxierTests` and review the diff.
    @Test(arguments: Shapes.all.map(\.0))
    func golden(_ shape: String) throws {
        let (_, name, info, eps) = Shapes.all.first { $0.0 == shape }!
        let proxier = NFTablesProxier(family: .ip, nft: FakeNFTables(), config: .init(clusterCIDR: CIDR("10.0.0.0/8")))
        let dump = NFTablesProxier.sortedDump(proxier.fullTransaction(state(name, info, eps)))
        let file = Self.goldenDirectory.appendingPathComponent(shape + ".nft")
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] != nil {
            try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
            try dump.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(dump == expected, "golden \(shape) differs; rerun with UPDATE_GOLDEN=1 and review")
    }

    /// Every shape applies to the fake (references resolve) and a full sync equals the fake's state.
    @Test(arguments: Shapes.all.map(\.0))
    func fullSyncAppliesCleanly(_ shape: String) throws {
        let (_, name, info, eps) = Shapes.all.first { $0.0 == shape }!
        let fake = FakeNFTables()
        let proxier = NFTablesProxier(family: .ip, nft: fake)
        try proxier.sync(state(name, info, eps), changed: [], kind: .full)
        #expect(fake.tables["ip nodekit-proxy"] != nil)
        #expect(fake.dump(family: .ip, table: "nodekit-proxy").contains("add map ip nodekit-proxy service-ips"))
    }

    /// A partial sync from any shape to any other ends in exactly the state a full sync makes.
    @Test(arguments: Shapes.all.map(\.0))
    func partialSyncMatchesFullSync(_ from: String) throws {
        for to in Shapes.all {
            let (_, n1, i1, e1) = Shapes.all.first { $0.0 == from }!
            let other = ServicePortName(namespace: "ns2", name: "steady", port: "", protocol: .tcp)
            var s1 = state(n1, i1, e1)
            s1.services[other] = Shapes.info(nodePort: 30500)
            s1.services[other]!.clusterIPs = [IPAddress("172.30.0.99")!]
            s1.endpoints[other] = [Shapes.ep("10.180.9.9")]
            var s2 = s1
            s2.services[n1] = nil
            s2.endpoints[n1] = nil
            s2.services[to.1] = to.2
            s2.endpoints[to.1] = to.3

            let partialFake = FakeNFTables()
            let partial = NFTablesProxier(family: .ip, nft: partialFake)
            try partial.sync(s1, changed: [], kind: .full)
            try partial.sync(s2, changed: [n1, to.1], kind: .partial)

            let fullFake = FakeNFTables()
            try NFTablesProxier(family: .ip, nft: fullFake).sync(s2, changed: [], kind: .full)
            #expect(partialFake.dump(family: .ip, table: "nodekit-proxy") == fullFake.dump(family: .ip, table: "nodekit-proxy"),
                    "partial sync \(from) -> \(to.0) differs from a full sync")
        }
    }

    @Test func partialSyncTouchesOnlyTheChangedService() throws {
        let fake = FakeNFTables()
        let proxier = NFTablesProxier(family: .ip, nft: fake)
        var s = ProxyState()
        for i in 0..<50 {
            let n = ServicePortName(namespace: "ns", name: "svc\(i)", port: "", protocol: .tcp)
            s.services[n] = ServicePortInfo(clusterIPs: [IPAddress("172.30.1.\(i)")!], port: 80, protocol: .tcp)
            s.endpoints[n] = [Shapes.ep("10.1.1.\(i)")]
        }
        try proxier.sync(s, changed: [], kind: .full)
        let changed = ServicePortName(namespace: "ns", name: "svc7", port: "", protocol: .tcp)
        s.endpoints[changed]!.append(Shapes.ep("10.1.2.7"))
        // Capture the partial transaction through a recording interface.
        let recorder = RecordingNFTables(fake)
        let p2 = NFTablesProxier(family: .ip, nft: recorder)
        try p2.sync(s, changed: [], kind: .full)
        s.endpoints[changed]!.append(Shapes.ep("10.1.3.7"))
        try p2.sync(s, changed: [changed], kind: .partial)
        let text = recorder.last?.render() ?? ""
        #expect(!text.contains("172.30.1.6 ") && !text.contains("172.30.1.8 "))
        // Three endpoints: the first Service with three gets the shared chain, and the map
        // element moves to it; the endpoints are data-map elements.
        #expect(text.contains("add chain ip nodekit-proxy dispatch-3"))
        #expect(text.contains("172.30.1.7 . tcp . 80 : goto dispatch-3"))
        #expect(text.contains("172.30.1.7 . tcp . 80 . 2 : 10.1.3.7 . 8080"))
        #expect(text.contains("add element ip nodekit-proxy hairpin { 10.1.3.7 . 10.1.3.7 }"))
        #expect(!text.contains("delete table"))
    }

    /// An endpoint replaced by another keeps the endpoint count: the partial sync changes only
    /// data-map and hairpin elements (no rule, no chain, no verdict: nothing the kernel has to
    /// re-validate).
    @Test func endpointChangeWithTheSameCountTouchesOnlyElements() throws {
        let recorder = RecordingNFTables(FakeNFTables())
        let proxier = NFTablesProxier(family: .ip, nft: recorder)
        var s = state(Shapes.web, Shapes.info(), [Shapes.ep("10.180.0.1"), Shapes.ep("10.180.0.2")])
        try proxier.sync(s, changed: [], kind: .full)
        s.endpoints[Shapes.web] = [Shapes.ep("10.180.0.1"), Shapes.ep("10.180.0.9")]
        try proxier.sync(s, changed: [Shapes.web], kind: .partial)
        let ops = recorder.last?.operations ?? []
        #expect(!ops.isEmpty)
        for op in ops {
            switch op {
            case .addElements(let set, let e), .deleteElements(let set, let e):
                #expect(set == "service-endpoints" || set == "hairpin")
                #expect(e.allSatisfy { $0.verdict == nil })
            default: Issue.record("unexpected operation \(op)")
            }
        }
    }

    /// Global maps are created with a size (room to double, at least 1024) so that the kernel
    /// gives them a fixed hash table; a partial sync that could fill one becomes a full sync,
    /// which sizes them afresh. The fake refuses an element beyond a set's size, as the kernel.
    @Test func mapsAreSizedAndAPartialSyncThatWouldFillOneIsFull() throws {
        #expect(NFTablesProxier.mapSize(0) == 1024)
        #expect(NFTablesProxier.mapSize(512) == 1024)
        #expect(NFTablesProxier.mapSize(513) == 2048)
        #expect(NFTablesProxier.mapSize(100_000) == 262_144)
        let fake = FakeNFTables()
        let recorder = RecordingNFTables(fake)
        let proxier = NFTablesProxier(family: .ip, nft: recorder)
        func name(_ i: Int) -> ServicePortName { ServicePortName(namespace: "ns", name: "svc\(i)", port: "", protocol: .tcp) }
        var s = ProxyState()
        func add(_ i: Int) {
            s.services[name(i)] = ServicePortInfo(clusterIPs: [IPAddress("172.30.\(i / 250).\(i % 250 + 1)")!], port: 80, protocol: .tcp)
            s.endpoints[name(i)] = [Shapes.ep("10.1.\(i / 250).\(i % 250 + 1)"), Shapes.ep("10.2.\(i / 250).\(i % 250 + 1)")]
        }
        for i in 0..<200 { add(i) }
        try proxier.sync(s, changed: [], kind: .full)
        #expect(recorder.last?.render().contains("add map ip nodekit-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; size 1024 ; }") == true)
        // 200 Services hold 400 endpoint elements; 100 more (200 elements) fit in 1024.
        for i in 200..<300 { add(i) }
        try proxier.sync(s, changed: Set((200..<300).map(name)), kind: .partial)
        #expect(recorder.last?.operations.contains(.deleteTable) == false)
        // 300 more would make 1200 endpoint elements: the sync is full, and the map has room
        // for twice that.
        for i in 300..<600 { add(i) }
        try proxier.sync(s, changed: Set((300..<600).map(name)), kind: .partial)
        let text = recorder.last?.render() ?? ""
        #expect(text.contains("delete table ip nodekit-proxy"))
        #expect(text.contains("service-endpoints { type ipv4_addr . inet_proto . inet_service . mark : ipv4_addr . inet_service ; size 4096 ; }"))
        #expect(fake.dump(family: .ip, table: "nodekit-proxy").contains("172.30.2.100 . tcp . 80 . 1 : 10.2.2.100 . 8080"))
    }

    /// Hairpin elements are shared: an endpoint address in two Services stays in the set until
    /// neither DNATs to it.
    @Test func hairpinElementIsReferenceCounted() throws {
        let fake = FakeNFTables()
        let proxier = NFTablesProxier(family: .ip, nft: fake)
        let other = ServicePortName(namespace: "ns1", name: "other", port: "", protocol: .tcp)
        var s = state(Shapes.web, Shapes.info(), [Shapes.ep("10.180.0.1")])
        s.services[other] = ServicePortInfo(clusterIPs: [IPAddress("172.30.0.42")!], port: 81, protocol: .tcp)
        s.endpoints[other] = [Shapes.ep("10.180.0.1", 9090)]
        try proxier.sync(s, changed: [], kind: .full)
        let element = "add element ip nodekit-proxy hairpin { 10.180.0.1 . 10.180.0.1 }"
        #expect(fake.dump(family: .ip, table: "nodekit-proxy").contains(element))
        s.endpoints[Shapes.web] = []
        try proxier.sync(s, changed: [Shapes.web], kind: .partial)
        #expect(fake.dump(family: .ip, table: "nodekit-proxy").contains(element))
        s.endpoints[other] = [Shapes.ep("10.180.0.2", 9090)]
        try proxier.sync(s, changed: [other], kind: .partial)
        let dump = fake.dump(family: .ip, table: "nodekit-proxy")
        #expect(!dump.contains(element))
        #expect(dump.contains("hairpin { 10.180.0.2 . 10.180.0.2 }"))
    }

    @Test func failedSyncForcesFullSyncAndKeepsState() throws {
        let fake = FakeNFTables()
        let proxier = NFTablesProxier(family: .ip, nft: fake)
        let s = state(Shapes.web, Shapes.info(), [Shapes.ep("10.180.0.1")])
        try proxier.sync(s, changed: [], kind: .full)
        let before = fake.dump(family: .ip, table: "nodekit-proxy")
        fake.failNext(NFTablesError(.rejected, "injected"))
        var s2 = s
        s2.endpoints[Shapes.web] = [Shapes.ep("10.180.0.9")]
        #expect(throws: NFTablesError.self) { try proxier.sync(s2, changed: [Shapes.web], kind: .partial) }
        #expect(fake.dump(family: .ip, table: "nodekit-proxy") == before)
        // After a failure the backend rewrites everything even when asked for a partial sync.
        try proxier.sync(s2, changed: [], kind: .partial)
        #expect(fake.dump(family: .ip, table: "nodekit-proxy").contains("10.180.0.9"))
    }

    @Test func cleanupRemovesTheTable() throws {
        let fake = FakeNFTables()
        let proxier = NFTablesProxier(family: .ip, nft: fake)
        try proxier.sync(state(Shapes.web, Shapes.info(), [Shapes.ep("10.180.0.1")]), changed: [], kind: .full)
        try proxier.cleanup()
        try proxier.cleanup()
        #expect(fake.tables.isEmpty)
    }

    @Test func ipv6TableGetsOnlyIPv6() throws {
        let fake = FakeNFTables()
        let proxier = NFTablesProxier(family: .ip6, nft: fake)
        var info = Shapes.info()
        info.clusterIPs = [IPAddress("172.30.0.41")!, IPAddress("fd00::41")!]
        try proxier.sync(state(Shapes.web, info, [Shapes.ep("10.180.0.1"), Shapes.ep("fd00:10::1")]), changed: [], kind: .full)
        let dump = fake.dump(family: .ip6, table: "nodekit-proxy")
        #expect(dump.contains("fd00::41 . tcp . 80 : goto dispatch-1"))
        #expect(dump.contains("fd00::41 . tcp . 80 . 0 : fd00:10::1 . 8080"))
        #expect(dump.contains("dnat ip6 to ip6 daddr . meta l4proto . th dport . numgen random mod 1 map @service-endpoints"))
        #expect(!dump.contains("10.180.0.1"))
    }
}

/// Passes transactions through to another interface, keeping the last one.
final class RecordingNFTables: NFTablesInterface, @unchecked Sendable {
    let inner: any NFTablesInterface
    private(set) var last: Transaction?
    init(_ inner: any NFTablesInterface) { self.inner = inner }
    func apply(_ transaction: Transaction) throws(NFTablesError) {
        last = transaction
        try inner.apply(transaction)
    }
}

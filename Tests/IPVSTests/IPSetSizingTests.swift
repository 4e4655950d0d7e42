import Foundation
import IPVS
import NFTables
import Proxy
import Testing
import TestSupport

/// ipsets sized to their content: created with the default `maxelem` while the entries fit in
/// 80% of it (as upstream's), larger beyond, and replaced through a swap when a later sync
/// outgrows them (upstream stops adding at 65,536, kubernetes/kubernetes#129389).
@Suite("ipset sizing")
struct IPSetSizingTests {
    @Test("maxelem for a count: the default up to 80% of it, then a power of two with 25% headroom",
          arguments: [(0, 65_536), (2, 65_536), (52_428, 65_536), (52_429, 65_536), (52_430, 131_072), (65_536, 131_072),
                      (100_000, 131_072), (104_858, 131_072), (104_859, 262_144), (1_000_000, 2_097_152)])
    func maxElements(_ count: Int, _ expected: Int) {
        #expect(IPSetHeader.maxElements(toHold: count) == expected)
    }

    @Test("ipset save -t: name, type, maxelem of hash sets; bitmaps have none; other lines skipped")
    func parseSave() {
        let output = """
            create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 131072 bucketsize 12 initval 0x60c4b1f6
            create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
            create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
            create OLD hash:ip family inet
            add OLD 10.0.0.1

            """
        #expect(IPSetHeader.parse(save: output) == [
            IPSetHeader(name: "KUBE-LOOP-BACK", type: "hash:ip,port,ip", maxElements: 131_072),
            IPSetHeader(name: "KUBE-NODE-PORT-TCP", type: "bitmap:port", maxElements: nil),
            IPSetHeader(name: "KUBE-6-CLUSTER-IP", type: "hash:ip,port", maxElements: 65_536),
            IPSetHeader(name: "OLD", type: "hash:ip", maxElements: 65_536),
        ])
    }

    @Test("the fake refuses the entry beyond maxelem, as the kernel does, and a set created without one holds the default, so the tests below can fail")
    func fakeHashIsFull() throws {
        let ipset = FakeIPSet()
        try ipset.restore("create D hash:ip,port,ip family inet\n")
        #expect(ipset.maxElements("D") == IPSetHeader.defaultMaxElements)
        let full = "create S hash:ip,port family inet maxelem 4\n" + (1...4).map { "add S 10.0.0.\($0),tcp:80\n" }.joined()
        try ipset.restore(full)
        #expect(ipset.members("S")?.count == 4, "maxelem entries fit")
        #expect(throws: IPSetError.self, "entry maxelem + 1 is refused") {
            try ipset.restore("create T hash:ip family inet\nadd S 10.0.0.1,tcp:80\nadd S 10.0.0.5,tcp:80\n")
        }
        #expect(ipset.members("S")?.count == 4)
        #expect(ipset.names == ["D", "S"], "a failed restore applies nothing in the fake, not even its lines before the failure")
        try ipset.restore("add S 10.0.0.4,tcp:80\n")
        #expect(ipset.members("S")?.count == 4, "adding a member already there is no new element")
        #expect(throws: IPSetError.self, "create -exist with other options fails") { try ipset.restore("create S hash:ip,port family inet\n") }
    }

    static func address(_ i: Int) -> String { "10.\(100 + i >> 16).\((i >> 8) & 255).\(i & 255)" }

    /// One ClusterIP Service with `count` endpoints: `count` KUBE-LOOP-BACK entries.
    static func state(endpoints count: Int) -> ProxyState {
        var s = ProxyState()
        s.services[name("big")] = service("10.96.0.10")
        s.endpoints[name("big")] = (0..<count).map { endpoint(address($0)) }
        return s
    }

    /// LoadBalancer ingress IPs × source ranges of the large tests: 70,000 entries in
    /// KUBE-LOAD-BALANCER-SOURCE-CIDR (one per ingress IP and range) from 530 objects. Built from
    /// 70,000 endpoints, the same set size cost about 20 s of CPU in a debug build, most of it in
    /// 70,000 real servers sorted and compared; the sizing code does not care which set grows.
    static let ingressCount = 280
    static let largeRangeCount = 250
    static let largeSetCount = ingressCount * largeRangeCount
    static let ingressIPs = (0..<ingressCount).map { "198.18.\($0 >> 8).\($0 & 255)" }
    static func range(_ i: Int) -> String { "10.\(i).0.0/16" }

    /// One LoadBalancer Service ("lb") with ``ingressIPs`` and the first `ranges` source ranges.
    static func state(ranges count: Int) -> ProxyState {
        var s = ProxyState()
        s.services[name("lb")] = service("10.96.0.20", loadBalancerIPs: ingressIPs, sourceRanges: (0..<count).map(range))
        s.endpoints[name("lb")] = [endpoint("10.244.1.5")]
        return s
    }

    @Test("a small cluster's first restore text: every set created without maxelem and filled, no swap (golden)")
    func smallText() throws {
        let rig = Rig()
        try rig.proxier.sync(Self.state(endpoints: 2), changed: [], kind: .full)
        let creates = """
            create KUBE-LOOP-BACK hash:ip,port,ip family inet
            create KUBE-CLUSTER-IP hash:ip,port family inet
            create KUBE-EXTERNAL-IP hash:ip,port family inet
            create KUBE-EXTERNAL-IP-LOCAL hash:ip,port family inet
            create KUBE-LOAD-BALANCER hash:ip,port family inet
            create KUBE-LOAD-BALANCER-FW hash:ip,port family inet
            create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet
            create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip family inet
            create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet
            create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
            create KUBE-NODE-PORT-LOCAL-TCP bitmap:port range 0-65535
            create KUBE-NODE-PORT-UDP bitmap:port range 0-65535
            create KUBE-NODE-PORT-LOCAL-UDP bitmap:port range 0-65535
            create KUBE-NODE-PORT-SCTP-HASH hash:ip,port family inet
            create KUBE-NODE-PORT-LOCAL-SCTP-HASH hash:ip,port family inet
            create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535

            """
        let adds = """
            add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
            add KUBE-LOOP-BACK 10.100.0.0,tcp:8080,10.100.0.0
            add KUBE-LOOP-BACK 10.100.0.1,tcp:8080,10.100.0.1

            """
        #expect(rig.ipset.restores == [creates + adds])
        #expect(rig.ipset.maxElements("KUBE-LOOP-BACK") == 65_536)
    }

    @Test("a later full sync never flushes a set that gets entries: it is filled aside and swapped in; an emptied set is flushed")
    func laterFullSyncReplacesBySwap() throws {
        let rig = Rig()
        try rig.proxier.sync(Self.state(endpoints: 2), changed: [], kind: .full)
        try rig.ipset.restore("add KUBE-EXTERNAL-IP 192.0.2.9,tcp:80\n")
        try rig.proxier.sync(Self.state(endpoints: 3), changed: [], kind: .full)
        let text = try #require(rig.ipset.restores.last)
        #expect(!text.contains("flush KUBE-LOOP-BACK"), "a live set with entries is never emptied")
        #expect(!text.contains("flush KUBE-CLUSTER-IP"))
        #expect(!text.contains("add KUBE-LOOP-BACK "), "its entries go into the set swapped in")
        #expect(text.contains("""
            create KUBE-GROW-TMP hash:ip,port,ip family inet
            add KUBE-GROW-TMP 10.100.0.0,tcp:8080,10.100.0.0
            add KUBE-GROW-TMP 10.100.0.1,tcp:8080,10.100.0.1
            add KUBE-GROW-TMP 10.100.0.2,tcp:8080,10.100.0.2
            swap KUBE-GROW-TMP KUBE-LOOP-BACK
            destroy KUBE-GROW-TMP

            """))
        #expect(text.contains("flush KUBE-EXTERNAL-IP\n"), "an existing set with no entries is emptied in one command")
        #expect(rig.ipset.members("KUBE-LOOP-BACK")?.count == 3)
        #expect(rig.ipset.members("KUBE-CLUSTER-IP") == ["10.96.0.10,tcp:80"])
        #expect(rig.ipset.members("KUBE-EXTERNAL-IP")?.isEmpty == true)
        #expect(!rig.ipset.names.contains("KUBE-GROW-TMP"))
        #expect(rig.ipset.maxElements("KUBE-LOOP-BACK") == 65_536)
    }

    @Test("from empty, a set of 70,000 entries is created holding 131,072; the others keep the default")
    func largeFromEmpty() async throws {
        let rig = Rig()
        try await offPool { try rig.proxier.sync(Self.state(ranges: Self.largeRangeCount), changed: [], kind: .full) }
        let text = try #require(rig.ipset.restores.first)
        #expect(text.contains("create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet maxelem 131072\n"))
        #expect(text.contains("create KUBE-LOAD-BALANCER-FW hash:ip,port family inet\n"))
        #expect(!text.contains("swap"))
        #expect(rig.ipset.maxElements("KUBE-LOAD-BALANCER-SOURCE-CIDR") == 131_072)
        #expect(rig.ipset.count("KUBE-LOAD-BALANCER-SOURCE-CIDR") == Self.largeSetCount)
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-FW")?.count == Self.ingressCount)
        #expect(rig.ipset.maxElements("KUBE-LOAD-BALANCER-FW") == 65_536)
    }

    @Test("a partial sync that outgrows a set replaces it by swap (no flush), then later syncs use the new size")
    func growthInPartialSync() async throws {
        let rig = Rig()
        try rig.proxier.sync(Self.state(ranges: 1), changed: [], kind: .full)
        #expect(rig.ipset.maxElements("KUBE-LOAD-BALANCER-SOURCE-CIDR") == 65_536)
        #expect(rig.ipset.count("KUBE-LOAD-BALANCER-SOURCE-CIDR") == Self.ingressCount)

        try await offPool { try rig.proxier.sync(Self.state(ranges: Self.largeRangeCount), changed: [name("lb")], kind: .partial) }
        let grow = try #require(rig.ipset.restores.last)
        #expect(grow.hasPrefix("create KUBE-GROW-TMP hash:ip,port,net family inet maxelem 131072\nadd KUBE-GROW-TMP 198.18.0.0,tcp:80,10.0.0.0/16\n"))
        #expect(grow.hasSuffix("swap KUBE-GROW-TMP KUBE-LOAD-BALANCER-SOURCE-CIDR\ndestroy KUBE-GROW-TMP\n"))
        #expect(!grow.contains("flush"), "the live set is never emptied")
        #expect(!grow.contains("add KUBE-LOAD-BALANCER-SOURCE-CIDR"), "its entries went into the growth set")
        #expect(rig.ipset.maxElements("KUBE-LOAD-BALANCER-SOURCE-CIDR") == 131_072)
        #expect(rig.ipset.count("KUBE-LOAD-BALANCER-SOURCE-CIDR") == Self.largeSetCount)
        #expect(!rig.ipset.names.contains("KUBE-GROW-TMP"))

        // One range fewer: an ordinary delta against the grown set (its size was remembered).
        try await offPool { try rig.proxier.sync(Self.state(ranges: Self.largeRangeCount - 1), changed: [name("lb")], kind: .partial) }
        let last = Self.range(Self.largeRangeCount - 1)
        #expect(rig.ipset.restores.last == Self.ingressIPs.sorted().map { "del KUBE-LOAD-BALANCER-SOURCE-CIDR \($0),tcp:80,\(last)\n" }.joined())
        #expect(rig.ipset.count("KUBE-LOAD-BALANCER-SOURCE-CIDR") == Self.largeSetCount - Self.ingressCount)
    }

    @Test("a full sync over a default-sized set from an earlier run (or upstream) grows it by swap")
    func growthInFullSync() async throws {
        let rig = Rig()
        try rig.ipset.restore("create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet\nadd KUBE-LOAD-BALANCER-SOURCE-CIDR 192.0.2.1,tcp:80,10.1.0.0/16\n")
        try await offPool { try rig.proxier.sync(Self.state(ranges: Self.largeRangeCount), changed: [], kind: .full) }
        let text = try #require(rig.ipset.restores.last)
        #expect(text.contains("create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet\n"), "the existing set's own options")
        #expect(!text.contains("flush KUBE-LOAD-BALANCER-SOURCE-CIDR"))
        #expect(text.contains("swap KUBE-GROW-TMP KUBE-LOAD-BALANCER-SOURCE-CIDR\n"))
        #expect(rig.ipset.maxElements("KUBE-LOAD-BALANCER-SOURCE-CIDR") == 131_072)
        #expect(rig.ipset.count("KUBE-LOAD-BALANCER-SOURCE-CIDR") == Self.largeSetCount)
        #expect(rig.ipset.members("KUBE-LOAD-BALANCER-SOURCE-CIDR")?.contains("192.0.2.1,tcp:80,10.1.0.0/16") == false, "stale entries left with the old set")
    }

    @Test("an existing larger set keeps its maxelem (sets never shrink); a growth set left by a failed restore is destroyed first")
    func existingLargerAndLeftover() throws {
        let rig = Rig()
        try rig.ipset.restore("create KUBE-CLUSTER-IP hash:ip,port family inet maxelem 262144\ncreate KUBE-GROW-TMP hash:ip,port family inet maxelem 131072\n")
        try rig.proxier.sync(Self.state(endpoints: 2), changed: [], kind: .full)
        let text = try #require(rig.ipset.restores.last)
        #expect(text.hasPrefix("destroy KUBE-GROW-TMP\n"))
        #expect(text.contains("create KUBE-CLUSTER-IP hash:ip,port family inet maxelem 262144\n"))
        #expect(rig.ipset.maxElements("KUBE-CLUSTER-IP") == 262_144)
        #expect(rig.ipset.members("KUBE-CLUSTER-IP") == ["10.96.0.10,tcp:80"])
        #expect(!rig.ipset.names.contains("KUBE-GROW-TMP"))
        try rig.proxier.cleanup()
        #expect(rig.ipset.names.isEmpty)
    }

    @Test("IPv6: the growth set is KUBE-6-GROW-TMP (the families' syncs may grow sets at once), destroyed when left over")
    func ipv6GrowthSetName() throws {
        let ipset = FakeIPSet()
        try ipset.restore("create KUBE-GROW-TMP hash:ip,port family inet\ncreate KUBE-6-GROW-TMP hash:ip,port family inet6\n")
        let proxier = IPVSProxier(family: .ip6, ipvs: FakeIPVS(), device: FakeServiceAddressDevice(), iptables: nil, ipset: ipset, sysctl: nil)
        var s = ProxyState()
        s.services[name("v6")] = ServicePortInfo(clusterIPs: [NFTAddress("fd00:96::10")!], port: 80, protocol: .tcp)
        try proxier.sync(s, changed: [], kind: .full)
        #expect(ipset.restores.last?.hasPrefix("destroy KUBE-6-GROW-TMP\n") == true)
        #expect(!ipset.names.contains("KUBE-6-GROW-TMP"))
        #expect(ipset.names.contains("KUBE-GROW-TMP"), "the IPv4 backend's growth set is not the IPv6 backend's to remove")
    }
}

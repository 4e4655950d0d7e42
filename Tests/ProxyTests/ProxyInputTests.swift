import KubeAPI
import KubeClient
import NFTables
import Netlink
import Proxy
import Testing
import TestSupport

/// `--kubeconfig` input: Services and EndpointSlices listed and watched from an API server
/// feed the same proxier updates as `--config-dir`.
@Suite struct APIServerSourceTests {
    static let web = ServicePortName(namespace: "default", name: "web", port: "http", protocol: .tcp)

    func proxier() -> Proxier {
        Proxier(nodeName: "node-a", backends: [], runner: SyncRunner(minSyncPeriod: .zero, syncPeriod: .seconds(30), clock: ManualProxyClock()))
    }

    @Test func listFeedsProxierAndSkipsOtherProxiesAndHeadless() async throws {
        let api = FakeKubeAPI()
        var other = Fixtures.service("other", ip: "10.96.0.11", ports: [(name: "http", port: 80)])
        other.metadata.labels = ["service.kubernetes.io/service-proxy-name": "someone-else"]
        var headlessSlice = Fixtures.slice("other", "other-1", port: 8080, endpoints: [("10.1.0.9", "node-b", .init())])
        headlessSlice.metadata.labels?["service.kubernetes.io/headless"] = ""
        try api.seed([Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)]), other])
        try api.seed([Fixtures.slice("web", "web-1", port: 8080, endpoints: [("10.1.0.1", "node-a", .init()), ("10.1.0.2", "node-b", .init())]),
                      headlessSlice])
        let proxier = proxier()
        let source = APIServerSource(client: api, proxier: proxier)
        #expect(!source.hasSynced)
        _ = try await source.services.relist()
        _ = try await source.endpointSlices.relist()
        #expect(source.hasSynced)
        #expect(proxier.syncRules().succeeded)
        let state = proxier.currentState
        #expect(Array(state.services.keys) == [Self.web], "the Service labelled for another proxy is left out")
        #expect(state.services[Self.web]?.clusterIPs.map(\.description) == ["10.96.0.10"])
        #expect(state.endpoints[Self.web]?.map(\.description) == ["10.1.0.1:8080", "10.1.0.2:8080"])
        #expect(state.endpoints[Self.web]?.map(\.isLocal) == [true, false], "nodeName node-a is this node")
        #expect(source.endpointSlices.cache.keys == ["default/web-1"], "the headless slice is not even cached")
    }

    @Test func deletionsAfterRelistReachTheProxier() async throws {
        let api = FakeKubeAPI()
        try api.seed([Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)])])
        try api.seed([Fixtures.slice("web", "web-1", port: 8080, endpoints: [("10.1.0.1", "node-a", .init())])])
        let proxier = proxier()
        let source = APIServerSource(client: api, proxier: proxier)
        _ = try await source.services.relist()
        _ = try await source.endpointSlices.relist()
        proxier.syncRules()
        #expect(proxier.currentState.endpoints[Self.web]?.count == 1)

        try await api.delete(EndpointSlice.self, namespace: "default", name: "web-1")
        _ = try await source.endpointSlices.relist()
        proxier.syncRules()
        #expect(proxier.currentState.endpoints[Self.web, default: []].isEmpty)

        try await api.delete(Service.self, namespace: "default", name: "web")
        _ = try await source.services.relist()
        proxier.syncRules()
        #expect(proxier.currentState.services.isEmpty)
    }

    @Test func watchEventsReachTheProxier() async throws {
        let api = FakeKubeAPI()
        let proxier = proxier()
        let source = APIServerSource(client: api, proxier: proxier)
        _ = try await source.services.relist()
        let watch = Task { try await source.services.watchOnce() }
        for _ in 0..<100_000 where api.watcherCount == 0 { await Task.yield() }
        try #require(api.watcherCount == 1, "the informer's watch did not start")
        _ = try await api.create(Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)]))
        api.breakWatches()
        _ = await watch.result
        proxier.syncRules()
        #expect(proxier.currentState.services[Self.web]?.port == 80)
    }
}

/// ctnetlink messages against hand-made captures (linux/netfilter/nfnetlink_conntrack.h).
@Suite struct ConntrackMessageTests {
    /// CTA_TUPLE_ORIG of UDP 10.0.0.1:5000 -> 10.96.0.10:53.
    static let originalTuple: [UInt8] = [
        0x34, 0x00, 0x01, 0x80, // CTA_TUPLE_ORIG, nested, 52 bytes
        0x14, 0x00, 0x01, 0x80, //   CTA_TUPLE_IP, nested, 20 bytes
        0x08, 0x00, 0x01, 0x00, 10, 0, 0, 1, //     CTA_IP_V4_SRC 10.0.0.1
        0x08, 0x00, 0x02, 0x00, 10, 96, 0, 10, //   CTA_IP_V4_DST 10.96.0.10
        0x1c, 0x00, 0x02, 0x80, //   CTA_TUPLE_PROTO, nested, 28 bytes
        0x05, 0x00, 0x01, 0x00, 17, 0, 0, 0, //     CTA_PROTO_NUM 17 (UDP), padded
        0x06, 0x00, 0x02, 0x00, 0x13, 0x88, 0, 0, // CTA_PROTO_SRC_PORT 5000 (big-endian), padded
        0x06, 0x00, 0x03, 0x00, 0x00, 0x35, 0, 0, // CTA_PROTO_DST_PORT 53
    ]
    /// CTA_TUPLE_REPLY of the DNAT'd flow: 10.1.0.5:53 -> 10.0.0.1:5000.
    static let replyTuple: [UInt8] = [
        0x34, 0x00, 0x02, 0x80, // CTA_TUPLE_REPLY, nested
        0x14, 0x00, 0x01, 0x80,
        0x08, 0x00, 0x01, 0x00, 10, 1, 0, 5, //     source: the endpoint
        0x08, 0x00, 0x02, 0x00, 10, 0, 0, 1,
        0x1c, 0x00, 0x02, 0x80,
        0x05, 0x00, 0x01, 0x00, 17, 0, 0, 0,
        0x06, 0x00, 0x02, 0x00, 0x00, 0x35, 0, 0,
        0x06, 0x00, 0x03, 0x00, 0x13, 0x88, 0, 0,
    ]
    static let id: [UInt8] = [0x08, 0x00, 0x0c, 0x00, 0, 0, 0, 42] // CTA_ID 42 (big-endian)

    static let entry = ConntrackEntry(
        family: 2,
        original: ConntrackTuple(source: [10, 0, 0, 1], destination: [10, 96, 0, 10], protocolNumber: 17, sourcePort: 5000, destinationPort: 53),
        reply: ConntrackTuple(source: [10, 1, 0, 5], destination: [10, 0, 0, 1], protocolNumber: 17, sourcePort: 53, destinationPort: 5000),
        id: 42)

    @Test func parsesADumpReply() {
        // nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0; then the attributes.
        let payload: [UInt8] = [2, 0, 0, 0] + Self.originalTuple + Self.replyTuple + Self.id
        let message = NetlinkMessage(type: 0x0100, flags: 0x2, sequence: 7, portID: 0, payload: payload) // IPCTNL_MSG_CT_NEW in a dump
        #expect(ConntrackMessages.parse(message) == Self.entry)
        #expect(Self.entry.description == "proto 17 src=10.0.0.1 dst=10.96.0.10 sport=5000 dport=53 reply src=10.1.0.5 dst=10.0.0.1 sport=53 dport=5000")
        #expect(ConntrackMessages.parse(NetlinkMessage(type: 0x0100, flags: 0, sequence: 7, portID: 0, payload: [2, 0, 0, 0] + Self.originalTuple)) == nil,
                "an entry without a reply tuple is skipped")
    }

    @Test func deleteNamesTheOriginalTupleAndID() {
        let bytes = ConntrackMessages.delete(Self.entry, sequence: 9)
        #expect(Array(bytes[4..<6]) == [0x02, 0x01], "type: NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE")
        #expect(Array(bytes[6..<8]) == [0x05, 0x00], "flags: NLM_F_REQUEST | NLM_F_ACK")
        #expect(Array(bytes[16...]) == [2, 0, 0, 0] + Self.originalTuple + Self.id)
        #expect(Int(bytes[0]) | Int(bytes[1]) << 8 == bytes.count)
    }

    @Test func dumpAsksForOneFamily() {
        let bytes = ConntrackMessages.dump(family: 10, sequence: 3)
        #expect(Array(bytes[4..<8]) == [0x01, 0x01, 0x01, 0x03], "IPCTNL_MSG_CT_GET; NLM_F_REQUEST | NLM_F_DUMP")
        #expect(Array(bytes[16...]) == [10, 0, 0, 0])
    }
}

/// Stale UDP conntrack entries, as upstream's cleanup decides them.
@Suite struct ConntrackCleanerTests {
    static let dns = ServicePortName(namespace: "kube-system", name: "dns", port: "dns", protocol: .udp)
    static let web = ServicePortName(namespace: "default", name: "web", port: "", protocol: .tcp)

    static func state(endpoints: [String]) -> ProxyState {
        var s = ProxyState()
        s.services[dns] = ServicePortInfo(clusterIPs: [NFTables.IPAddress("10.96.0.10")!], port: 53, protocol: .udp, nodePort: 30053,
                                          externalIPs: [NFTables.IPAddress("192.0.2.7")!])
        s.endpoints[dns] = endpoints.map { EndpointInfo(ip: NFTables.IPAddress($0)!, port: 5353) }
        s.services[web] = ServicePortInfo(clusterIPs: [NFTables.IPAddress("10.96.0.20")!], port: 80, protocol: .tcp)
        return s
    }

    static func entry(_ proto: UInt8 = 17, to destination: String, _ port: UInt16, replyFrom source: String, _ sourcePort: UInt16,
                      clientPort: UInt16 = 40000) -> ConntrackEntry {
        let client = NFTables.IPAddress("10.0.0.1")!.bytes
        return ConntrackEntry(family: 2,
                              original: ConntrackTuple(source: client, destination: NFTables.IPAddress(destination)!.bytes, protocolNumber: proto, sourcePort: clientPort, destinationPort: port),
                              reply: ConntrackTuple(source: NFTables.IPAddress(source)!.bytes, destination: client, protocolNumber: proto, sourcePort: sourcePort, destinationPort: clientPort))
    }

    @Test(arguments: [
        (ConntrackCleanerTests.entry(to: "10.96.0.10", 53, replyFrom: "10.1.0.5", 5353), false, "to the ClusterIP, DNAT'd to a current endpoint"),
        (ConntrackCleanerTests.entry(to: "10.96.0.10", 53, replyFrom: "10.1.0.6", 5353), true, "DNAT'd to an endpoint that went away"),
        (ConntrackCleanerTests.entry(to: "10.96.0.10", 53, replyFrom: "10.1.0.5", 53), true, "right address, old target port"),
        (ConntrackCleanerTests.entry(to: "10.96.0.10", 53, replyFrom: "10.96.0.10", 53), true, "made while the Service had no endpoints (no DNAT)"),
        (ConntrackCleanerTests.entry(to: "192.0.2.7", 53, replyFrom: "10.1.0.6", 5353), true, "externalIP to a gone endpoint"),
        (ConntrackCleanerTests.entry(to: "192.168.1.2", 30053, replyFrom: "10.1.0.6", 5353), true, "NodePort on any node address to a gone endpoint"),
        (ConntrackCleanerTests.entry(to: "192.168.1.2", 30053, replyFrom: "10.1.0.5", 5353), false, "NodePort to a current endpoint"),
        (ConntrackCleanerTests.entry(6, to: "10.96.0.10", 53, replyFrom: "10.1.0.6", 5353), false, "TCP is never cleaned"),
        (ConntrackCleanerTests.entry(to: "10.96.0.20", 80, replyFrom: "10.1.0.6", 80), false, "a TCP Service's address"),
        (ConntrackCleanerTests.entry(to: "8.8.8.8", 53, replyFrom: "8.8.8.8", 53), false, "not a Service"),
    ])
    func stale(_ entry: ConntrackEntry, _ expected: Bool, _ why: String) throws {
        let fake = FakeConntrack([entry])
        let report = try ConntrackCleaner(conntrack: fake).clean(Self.state(endpoints: ["10.1.0.5"]), changed: [], kind: .full)
        #expect((report.deleted == [entry]) == expected, "\(why)")
        #expect(fake.entries.isEmpty == expected)
    }

    @Test func partialSyncLooksOnlyAtChangedUDPPorts() throws {
        let fake = FakeConntrack([Self.entry(to: "10.96.0.10", 53, replyFrom: "10.1.0.6", 5353)])
        let cleaner = ConntrackCleaner(conntrack: fake)
        let state = Self.state(endpoints: ["10.1.0.5"])
        #expect(try cleaner.clean(state, changed: [Self.web], kind: .partial).deleted.isEmpty)
        #expect(fake.dumpCount == 0, "no UDP port changed: the table is not even dumped")
        #expect(try cleaner.clean(state, changed: [Self.dns], kind: .partial).deleted.count == 1)
        #expect(fake.entries.isEmpty)
    }

    @Test func proxierCleansAfterASuccessfulSync() {
        let fake = FakeConntrack([Self.entry(to: "10.96.0.10", 53, replyFrom: "10.1.0.6", 5353),
                                  Self.entry(to: "10.96.0.10", 53, replyFrom: "10.1.0.5", 5353, clientPort: 40001)])
        let proxier = Proxier(nodeName: "node-a", backends: [], runner: SyncRunner(minSyncPeriod: .zero, syncPeriod: .seconds(30), clock: ManualProxyClock()),
                              conntrack: ConntrackCleaner(conntrack: fake))
        proxier.update(Fixtures.service("dns", ip: "10.96.0.10", ports: [(name: "dns", port: 53)], namespace: "kube-system").udp)
        proxier.update(Fixtures.slice("dns", "dns-1", port: 5353, portName: "dns", endpoints: [("10.1.0.5", "node-a", .init())], namespace: "kube-system").udp)
        let report = proxier.syncRules()
        #expect(report.succeeded && report.conntrackEntriesDeleted == 1)
        #expect(fake.entries.map { $0.reply.source } == [[10, 1, 0, 5]])
    }
}

@Suite struct ProxyBackendFactoryTests {
    @Test(arguments: [
        ([] as [String], ["10.0.0.2", "192.168.1.2", "fd00::2"]),
        (["192.168.0.0/16"], ["192.168.1.2"]),
        (["127.0.0.0/8", "fd00::/64"], ["127.0.0.1", "fd00::2"]),
    ])
    func nodePortAddresses(_ filter: [String], _ expected: [String]) {
        let local = ["127.0.0.1", "192.168.1.2", "10.0.0.2", "::1", "fd00::2"].map { NFTables.IPAddress($0)! }
        #expect(ProxyBackendFactory.nodePortIPs(local, filter: filter.map { CIDR($0)! }).map(\.description) == expected)
    }

    @Test func modesParseFromTheirFlagSpelling() {
        #expect(ProxyMode.allCases.map(\.rawValue) == ["nftables", "iptables", "ipvs"])
    }
}

extension Service {
    /// The same Service with every port UDP.
    var udp: Service {
        var s = self
        s.spec.ports = s.spec.ports?.map { var p = $0; p.protocol = "UDP"; return p }
        return s
    }
}

extension EndpointSlice {
    /// The same slice with every port UDP.
    var udp: EndpointSlice {
        var s = self
        s.ports = s.ports?.map { var p = $0; p.protocol = "UDP"; return p }
        return s
    }
}

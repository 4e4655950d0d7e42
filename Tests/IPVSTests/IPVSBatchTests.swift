import IPTables
import IPVS
import Netlink
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

/// IPVS's generic netlink as the kernel answers it, over a ``FakeIPVS`` that keeps the state:
/// the controller resolves `IPVS`; every message of a datagram is handled in order whatever
/// the earlier ones' outcome (`netlink_rcv_skb`), with one NLMSG_ERROR reply per message that
/// failed or asked for an ACK; service and destination dumps answer multipart messages and
/// NLMSG_DONE. Counts datagrams and messages sent.
final class IPVSKernelSocket: NetlinkSocket {
    static let family: UInt16 = 0x1c
    let ipvs = FakeIPVS()
    private struct State {
        var queue: [[UInt8]] = []
        var datagrams = 0
        var messages = 0
    }
    private let state = Mutex(State())

    var datagrams: Int { state.withLock { $0.datagrams } }
    var messages: Int { state.withLock { $0.messages } }

    func send(_ datagram: [UInt8]) throws(NetlinkError) {
        let messages = try NetlinkMessage.parse(datagram)
        var replies: [[UInt8]] = []
        for m in messages {
            let (errno, parts) = handle(m)
            replies += parts.map(Self.multipart)
            if errno != 0 || (m.flags & 0x4 != 0 && m.flags & 0x300 != 0x300) {
                replies.append(Self.error(errno, sequence: m.sequence))
            } else if m.flags & 0x300 == 0x300 { // NLM_F_DUMP: parts end with NLMSG_DONE
                replies.append(Self.header(type: 3, flags: 2, sequence: m.sequence) + [0, 0, 0, 0])
            }
        }
        state.withLock {
            $0.datagrams += 1
            $0.messages += messages.count
            $0.queue += replies
        }
    }

    func receive() throws(NetlinkError) -> [UInt8] {
        try state.withLock { (s: inout State) throws(NetlinkError) -> [UInt8] in
            guard !s.queue.isEmpty else { throw NetlinkError(operation: "receive", errno: 11, detail: "test socket: nothing queued") }
            return s.queue.removeFirst()
        }
    }

    /// The errno of one request and, for dumps, the reply messages' bytes.
    private func handle(_ m: NetlinkMessage) -> (Int32, [[UInt8]]) {
        if m.type == GenericNetlink.controllerFamily {
            let reply = NetlinkMessageBuilder(type: GenericNetlink.controllerFamily, flags: 0, sequence: m.sequence)
            reply.put(header: GenericNetlinkHeader(command: 1, version: 1))
            reply.put(1, u16: Self.family) // CTRL_ATTR_FAMILY_ID
            return (0, [reply.bytes])
        }
        guard m.type == Self.family, let command = GenericNetlink.command(of: m).flatMap(IPVSMessages.Command.init(rawValue:)) else {
            return (22, [])
        }
        let service = IPVSMessages.parseService(m)
        let destination = service.flatMap { IPVSMessages.parseDestination(m, serviceFamily: $0.key.address.isIPv4 ? 2 : 10) }
        do throws(IPVSError) {
            switch command {
            case .newService: try ipvs.addService(service!)
            case .setService: try ipvs.updateService(service!)
            case .deleteService: try ipvs.deleteService(service!.key)
            case .newDestination: try ipvs.addDestination(destination!, to: service!.key)
            case .setDestination: try ipvs.updateDestination(destination!, in: service!.key)
            case .deleteDestination: try ipvs.deleteDestination(destination!.key, from: service!.key)
            case .getService:
                return (0, try ipvs.services().map { IPVSMessages.newService($0, family: Self.family, sequence: m.sequence) })
            case .getDestination:
                let key = service!.key
                return (0, try ipvs.destinations(of: key).map { IPVSMessages.newDestination($0, service: key, family: Self.family, sequence: m.sequence) })
            case .flush: try ipvs.flush()
            }
        } catch {
            return (error.errno, [])
        }
        return (0, [])
    }

    static func header(type: UInt16, flags: UInt16, sequence: UInt32, length: Int = 20) -> [UInt8] {
        le32(UInt32(length)) + [UInt8(type & 0xff), UInt8(type >> 8), UInt8(flags & 0xff), UInt8(flags >> 8)] + le32(sequence) + le32(0)
    }

    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    /// NLMSG_ERROR carrying `-errno` (0 = ACK) and an echoed header.
    static func error(_ errno: Int32, sequence: UInt32) -> [UInt8] {
        header(type: 2, flags: 0, sequence: sequence, length: 36) + le32(UInt32(bitPattern: -errno)) + [UInt8](repeating: 0, count: 16)
    }

    /// A request-shaped message re-flagged as one part of a reply (NLM_F_MULTI).
    static func multipart(_ message: [UInt8]) -> [UInt8] {
        var m = message
        m[6] = 0x2
        m[7] = 0
        return m
    }
}

extension NFTables.IPAddress {
    var isIPv4: Bool { family == .ip }
}

func vs(_ ip: String, _ port: UInt16 = 80) -> VirtualServer.Key {
    VirtualServer.Key(address: NFTAddress(ip)!, protocol: .tcp, port: port)
}

func rs(_ ip: String, _ port: UInt16 = 8080) -> RealServer { RealServer(key: .init(address: NFTAddress(ip)!, port: port)) }

@Suite("IPVS batches: many changes per datagram")
struct IPVSBatchTests {
    @Test("NetlinkIPVS applies 300 changes in a few datagrams, and the kernel ends with all of them")
    func batched() throws {
        let socket = IPVSKernelSocket()
        let ipvs = try NetlinkIPVS(socket: socket)
        var changes: [IPVSChange] = []
        for i in 1...100 {
            let key = vs("10.96.0.\(i)")
            changes.append(.addService(VirtualServer(key: key)))
            changes += [.addDestination(rs("10.244.1.\(i)"), to: key), .addDestination(rs("10.244.2.\(i)"), to: key)]
        }
        let before = socket.datagrams
        try ipvs.apply(changes)
        #expect(socket.datagrams - before == 5) // 300 changes, 64 per datagram
        #expect(socket.ipvs.dump().count == 100)
        #expect(socket.ipvs.dump().first == "10.96.0.1:80/TCP rr -> 10.244.1.1:8080/1 10.244.2.1:8080/1")
        #expect(try ipvs.destinations(of: vs("10.96.0.100")).map(\.key.description) == ["10.244.1.100:8080", "10.244.2.100:8080"])
    }

    @Test("a refused change in the middle is reported with its object; the kernel applied the changes after it")
    func failureInTheMiddle() throws {
        let socket = IPVSKernelSocket()
        let ipvs = try NetlinkIPVS(socket: socket)
        try ipvs.addService(VirtualServer(key: vs("10.96.0.2")))
        let changes: [IPVSChange] = [
            .addService(VirtualServer(key: vs("10.96.0.1"))),
            .addDestination(rs("10.244.1.1"), to: vs("10.96.0.1")),
            .addService(VirtualServer(key: vs("10.96.0.2"))), // exists: EEXIST
            .addDestination(rs("10.244.9.9"), to: vs("10.96.9.9")), // no such virtual server: ESRCH
            .addService(VirtualServer(key: vs("10.96.0.3"))),
            .addDestination(rs("10.244.1.3"), to: vs("10.96.0.3")),
        ]
        let error = try #require(throws: IPVSError.self) { try ipvs.apply(changes) }
        #expect(error.operation == "add service")
        #expect(error.errno == 17)
        #expect(error.detail == "10.96.0.2:80/TCP; 2 of 6 changes of the batch failed")
        #expect(error.description == "ipvs add service (10.96.0.2:80/TCP; 2 of 6 changes of the batch failed): errno 17")
        #expect(socket.ipvs.dump() == [
            "10.96.0.1:80/TCP rr -> 10.244.1.1:8080/1",
            "10.96.0.2:80/TCP rr -> (none)",
            "10.96.0.3:80/TCP rr -> 10.244.1.3:8080/1",
        ])
    }

    @Test("one refused change alone names only its object")
    func singleFailure() throws {
        let socket = IPVSKernelSocket()
        let ipvs = try NetlinkIPVS(socket: socket)
        let error = try #require(throws: IPVSError.self) {
            try ipvs.apply([.addService(VirtualServer(key: vs("10.96.0.1"))), .deleteDestination(rs("10.244.1.1").key, from: vs("10.96.0.1"))])
        }
        #expect(error.operation == "delete destination")
        #expect(error.detail == "10.244.1.1:8080 from 10.96.0.1:80/TCP")
        #expect(error.errno == 2)
    }

    @Test("the protocol's default (one call per change, as FakeIPVS) tries every change too and reports the first failure")
    func defaultApply() throws {
        let ipvs = FakeIPVS()
        let error = try #require(throws: IPVSError.self) {
            try ipvs.apply([
                .deleteService(vs("10.96.0.9")),
                .addService(VirtualServer(key: vs("10.96.0.1"))),
                .updateDestination(rs("10.244.1.1"), in: vs("10.96.0.1")),
                .addDestination(rs("10.244.1.2"), to: vs("10.96.0.1")),
            ])
        }
        #expect(error.operation == "delete service")
        #expect(error.detail == "10.96.0.9:80/TCP; 2 of 4 changes of the batch failed")
        #expect(error.errno == 3)
        #expect(ipvs.dump() == ["10.96.0.1:80/TCP rr -> 10.244.1.2:8080/1"])
    }

    @Test("a full sync of 200 Services over netlink: one batch of 600 changes in 10 datagrams, not 600 requests")
    func proxierFullSync() throws {
        let socket = IPVSKernelSocket()
        let proxier = IPVSProxier(family: .ip, ipvs: try NetlinkIPVS(socket: socket), device: FakeServiceAddressDevice(),
                                  iptables: nil, ipset: nil, sysctl: nil)
        var state = ProxyState()
        for i in 0..<200 {
            let n = name("s\(i)")
            state.services[n] = service("10.96.\(i / 250).\(i % 250 + 1)")
            state.endpoints[n] = [endpoint("10.244.1.\(i % 250 + 1)"), endpoint("10.244.2.\(i % 250 + 1)")]
        }
        let before = (datagrams: socket.datagrams, messages: socket.messages)
        try proxier.sync(state, changed: [], kind: .full)
        // One service dump, then ceil(600 / 64) batch datagrams.
        #expect(socket.datagrams - before.datagrams == 1 + 10)
        #expect(socket.messages - before.messages == 1 + 600)
        let expected = (0..<200).map { i in
            "10.96.\(i / 250).\(i % 250 + 1):80/TCP rr -> 10.244.1.\(i % 250 + 1):8080/1 10.244.2.\(i % 250 + 1):8080/1"
        }
        #expect(socket.ipvs.dump() == expected) // sorted by address, which is i's order here
        // A resync of the same state sends no changes: a dump of services, and one of each's destinations.
        let resync = socket.datagrams
        try proxier.sync(state, changed: [], kind: .full)
        #expect(socket.datagrams - resync == 1 + 200)
    }
}

/// ``CountingRoute`` whose kernel refuses some addresses with an errno, as EEXIST for one
/// bound already.
final class RefusingRoute: RouteNetlinkOperations {
    let route = CountingRoute()
    let refused: [String: Int32]
    init(refused: [String: Int32]) { self.refused = refused }

    func links() throws(NetlinkError) -> [LinkInfo] { try route.links() }
    func createBridge(name: String, mtu: UInt32?) throws(NetlinkError) { try route.createBridge(name: name, mtu: mtu) }
    func createVeth(name: String, peerName: String, peerNamespaceFD: Int32?, mtu: UInt32?) throws(NetlinkError) {
        try route.createVeth(name: name, peerName: peerName, peerNamespaceFD: peerNamespaceFD, mtu: mtu)
    }
    func setUp(index: Int32) throws(NetlinkError) {}
    func setMTU(index: Int32, mtu: UInt32) throws(NetlinkError) {}
    func setMaster(index: Int32, masterIndex: Int32) throws(NetlinkError) {}
    func setHairpin(index: Int32, enabled: Bool) throws(NetlinkError) {}
    func deleteLink(index: Int32) throws(NetlinkError) { try route.deleteLink(index: index) }
    func addresses(family: UInt8?) throws(NetlinkError) -> [AddressInfo] { try route.addresses(family: family) }
    func addAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError) {
        if let errno = refused["\(prefix)"] { throw NetlinkError(operation: "add address", errno: errno) }
        try route.addAddress(index: index, prefix: prefix)
    }
    func deleteAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError) {
        if let errno = refused["\(prefix)"] { throw NetlinkError(operation: "delete address", errno: errno) }
        try route.deleteAddress(index: index, prefix: prefix)
    }
    func routes(family: UInt8) throws(NetlinkError) -> [RouteInfo] { [] }
    func addRoute(_ route: RouteInfo, replace: Bool) throws(NetlinkError) {}
    func deleteRoute(_ route: RouteInfo) throws(NetlinkError) {}
}

@Suite("kube-ipvs0 batches")
struct ServiceAddressDeviceBatchTests {
    @Test("a list bound already (EEXIST) or not bound (EADDRNOTAVAIL) is no failure; another refusal names its address after all were tried")
    func refusals() throws {
        let route = RefusingRoute(refused: ["10.96.0.2/32": 17, "10.96.0.4/32": 1, "10.96.0.6/32": 99])
        let device = NetlinkServiceAddressDevice(route: route, socket: UnusedSocket())
        try device.bind([NFTAddress("10.96.0.1")!, NFTAddress("10.96.0.2")!])
        let error = try #require(throws: IPVSError.self) { try device.bind((3...5).map { NFTAddress("10.96.0.\($0)")! }) }
        #expect(error.errno == 1)
        #expect(error.operation == "bind address")
        #expect(error.detail == "10.96.0.4 to kube-ipvs0")
        #expect(route.route.addresses == ["7 10.96.0.1/32", "7 10.96.0.3/32", "7 10.96.0.5/32"])
        try device.unbind([NFTAddress("10.96.0.1")!, NFTAddress("10.96.0.6")!])
        #expect(route.route.addresses == ["7 10.96.0.3/32", "7 10.96.0.5/32"])
    }

    @Test("binding a list uses the cached link; unbinding a list removes only those")
    func bindList() throws {
        let route = CountingRoute()
        let device = NetlinkServiceAddressDevice(route: route, socket: UnusedSocket())
        let addresses = (1...5).map { NFTAddress("10.96.0.\($0)")! }
        try device.bind(addresses)
        #expect(route.addresses == addresses.map { "7 \($0)/32" })
        try device.unbind(Array(addresses.prefix(2)) + [NFTAddress("10.96.0.99")!])
        #expect(route.addresses == addresses.dropFirst(2).map { "7 \($0)/32" })
        #expect(route.calls["links"] == 1)
    }

    @Test("a list bound to a link recreated behind the device's back: one new lookup, all go to the new link")
    func staleIndex() throws {
        let route = CountingRoute()
        let device = NetlinkServiceAddressDevice(route: route, socket: UnusedSocket())
        try device.bind([NFTAddress("10.96.0.1")!])
        route.recreate(index: 9)
        try device.bind([NFTAddress("10.96.0.2")!, NFTAddress("10.96.0.3")!])
        #expect(route.addresses == ["9 10.96.0.2/32", "9 10.96.0.3/32"])
        #expect(route.calls["links"] == 2)
    }

    @Test("binding a list with no link is a clear error naming an address and the link")
    func noLink() throws {
        let route = CountingRoute()
        let device = NetlinkServiceAddressDevice(route: route, socket: UnusedSocket())
        try device.remove()
        let error = try #require(throws: IPVSError.self) { try device.bind([NFTAddress("10.96.0.1")!]) }
        #expect(error.errno == 19)
        #expect(error.description.contains("10.96.0.1 to kube-ipvs0"))
        try device.bind([NFTables.IPAddress]())
    }
}

@Suite("IPVS partial syncs batch their changes")
struct IPVSPartialBatchTests {
    @Test("a ClusterIP one Service port leaves and another takes in the same partial sync stays bound")
    func addressChangesHands() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("a")] = service("10.96.0.10")
        state.endpoints[name("a")] = [endpoint("10.244.1.2")]
        try rig.proxier.sync(state, changed: [], kind: .full)
        state.services[name("a")] = nil
        state.endpoints[name("a")] = nil
        state.services[name("b")] = service("10.96.0.10", port: 443)
        state.endpoints[name("b")] = [endpoint("10.244.1.3", 8443)]
        try rig.proxier.sync(state, changed: [name("a"), name("b")], kind: .partial)
        #expect(try rig.device.addresses() == [NFTAddress("10.96.0.10")!])
        #expect(rig.ipvs.dump() == ["10.96.0.10:443/TCP rr -> 10.244.1.3:8443/1"])
    }
}

@Suite("IPVS jumps from the built-in chains")
struct IPVSJumpTests {
    static let portals = "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"

    @Test("inserted once, kept by a resync without duplicates, and put back when deleted behind the proxy's back")
    func jumpsEnsured() throws {
        let rig = Rig()
        var state = ProxyState()
        state.services[name("web")] = service("10.96.0.10")
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.rules("nat", "OUTPUT") == [Self.portals])
        #expect(rig.rules("filter", "FORWARD") == ["-m comment --comment \"kube-proxy firewall rules\" -j KUBE-PROXY-FIREWALL",
                                                   "-m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD"])
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.rules("nat", "OUTPUT") == [Self.portals])
        #expect(rig.rules("filter", "INPUT")?.count == 2)
        try rig.iptables.deleteRule(table: "nat", chain: "OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"])
        try rig.iptables.restore("*nat\n-A OUTPUT -j ACCEPT\nCOMMIT\n")
        try rig.proxier.sync(state, changed: [], kind: .full)
        #expect(rig.rules("nat", "OUTPUT") == [Self.portals, "-j ACCEPT"])
        #expect(rig.rules("nat", "PREROUTING") == [Self.portals])
    }
}

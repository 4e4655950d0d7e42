import IPVS
import Netlink
import NFTables
import Synchronization
import Testing

/// rtnetlink as the kernel keeps it for one link: a link dump lists it, address requests on a
/// wrong index fail with ENODEV, and every call is counted.
final class CountingRoute: RouteNetlinkOperations {
    private struct State {
        var link: LinkInfo? = LinkInfo(index: 7, name: "kube-ipvs0", kind: "dummy")
        var addresses: [AddressInfo] = []
        var calls: [String: Int] = [:]
    }
    private let state = Mutex(State())

    var calls: [String: Int] { state.withLock { $0.calls } }
    var addresses: [String] { state.withLock { $0.addresses.map { "\($0.index) \($0.prefix)" } } }

    /// Deletes and recreates the link with a new index (as another process would), dropping its addresses.
    func recreate(index: Int32) { state.withLock { $0.link?.index = index; $0.addresses = [] } }

    private func count(_ name: String) { state.withLock { $0.calls[name, default: 0] += 1 } }

    private func checkIndex(_ index: Int32, _ operation: String) throws(NetlinkError) {
        guard state.withLock({ $0.link?.index }) == index else { throw NetlinkError(operation: operation, errno: 19) }
    }

    func links() throws(NetlinkError) -> [LinkInfo] {
        count("links")
        return state.withLock { $0.link.map { [$0] } ?? [] }
    }
    func createBridge(name: String, mtu: UInt32?) throws(NetlinkError) { throw NetlinkError(operation: "create bridge", errno: 95) }
    func createVeth(name: String, peerName: String, peerNamespaceFD: Int32?, mtu: UInt32?) throws(NetlinkError) {
        throw NetlinkError(operation: "create veth", errno: 95)
    }
    func setUp(index: Int32) throws(NetlinkError) {}
    func setMTU(index: Int32, mtu: UInt32) throws(NetlinkError) {}
    func setMaster(index: Int32, masterIndex: Int32) throws(NetlinkError) {}
    func setHairpin(index: Int32, enabled: Bool) throws(NetlinkError) {}
    func deleteLink(index: Int32) throws(NetlinkError) {
        count("deleteLink")
        try checkIndex(index, "delete link")
        state.withLock { $0.link = nil; $0.addresses = [] }
    }
    func addresses(family: UInt8?) throws(NetlinkError) -> [AddressInfo] {
        count("addresses")
        return state.withLock { $0.addresses }
    }
    func addAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError) {
        count("addAddress")
        try checkIndex(index, "add address")
        state.withLock { $0.addresses.append(AddressInfo(index: index, prefix: prefix)) }
    }
    func deleteAddress(index: Int32, prefix: IPPrefix) throws(NetlinkError) {
        count("deleteAddress")
        try checkIndex(index, "delete address")
        state.withLock { $0.addresses.removeAll { $0.prefix == prefix } }
    }
    func routes(family: UInt8) throws(NetlinkError) -> [RouteInfo] { [] }
    func addRoute(_ route: RouteInfo, replace: Bool) throws(NetlinkError) {}
    func deleteRoute(_ route: RouteInfo) throws(NetlinkError) {}
}

/// A socket that is never used by these tests (the dummy-link request goes through it).
struct UnusedSocket: NetlinkSocket {
    func send(_ datagram: [UInt8]) throws(NetlinkError) { throw NetlinkError(operation: "send", errno: 95) }
    func receive() throws(NetlinkError) -> [UInt8] { throw NetlinkError(operation: "receive", errno: 95) }
}

@Suite("kube-ipvs0 over rtnetlink")
struct ServiceAddressDeviceTests {
    @Test("binding many addresses looks the link up once")
    func oneLookup() throws {
        let route = CountingRoute()
        let device = NetlinkServiceAddressDevice(route: route, socket: UnusedSocket())
        #expect(try device.ensure() == "dummy")
        for i in 1...50 { try device.bind(NFTables.IPAddress("10.96.0.\(i)")!) }
        try device.unbind(NFTables.IPAddress("10.96.0.1")!)
        #expect(route.calls == ["links": 1, "addAddress": 50, "deleteAddress": 1])
        #expect(route.addresses.count == 49)
    }

    @Test("a link recreated behind the device's back: ENODEV, one new lookup, the bind goes to the new link")
    func staleIndex() throws {
        let route = CountingRoute()
        let device = NetlinkServiceAddressDevice(route: route, socket: UnusedSocket())
        try device.bind(NFTables.IPAddress("10.96.0.1")!)
        route.recreate(index: 9)
        try device.bind(NFTables.IPAddress("10.96.0.2")!)
        #expect(route.addresses == ["9 10.96.0.2/32"])
        #expect(route.calls["links"] == 2)
        try device.remove()
        #expect(try device.addresses().isEmpty)
        #expect(throws: IPVSError.self) { try device.bind(NFTables.IPAddress("10.96.0.3")!) }
    }
}

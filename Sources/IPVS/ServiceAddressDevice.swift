import LinuxSystem
import Netlink
import NFTables
import Synchronization

/// The interface that holds Service IPs so the kernel treats them as local and IPVS (which
/// hooks LOCAL_IN) sees their packets: upstream's `kube-ipvs0`.
///
/// Upstream makes it a `dummy` link. Kernels built without the dummy driver (this project's
/// CI kernel) refuse that kind with EOPNOTSUPP; the device then falls back to a bridge with no
/// ports, kept down. Addresses on a down link still get their `local` routes (the kernel adds
/// the local route before it checks IFF_UP), which is all IPVS needs, and a portless bridge
/// forwards nothing, so the fallback behaves like the dummy for Service traffic.
///
/// Implementations are thread-safe.
public protocol ServiceAddressDevice: Sendable {
    /// The link name, `kube-ipvs0` by default.
    var name: String { get }
    /// Creates the link when missing and returns its kind (`dummy` or `bridge`).
    @discardableResult
    func ensure() throws(IPVSError) -> String
    /// The addresses bound to the link.
    func addresses() throws(IPVSError) -> Set<NFTables.IPAddress>
    /// Binds a host address (/32 or /128); binding one that is bound is not an error.
    func bind(_ address: NFTables.IPAddress) throws(IPVSError)
    /// Unbinds an address; unbinding one that is not bound is not an error.
    func unbind(_ address: NFTables.IPAddress) throws(IPVSError)
    /// Deletes the link (and so every address on it). Idempotent.
    func remove() throws(IPVSError)
    /// Binds every address, as ``bind(_:)-(NFTables.IPAddress)`` each; after every one was
    /// tried, throws the first failure. The default binds one at a time; the netlink device
    /// sends several per datagram.
    func bind(_ addresses: [NFTables.IPAddress]) throws(IPVSError)
    /// Unbinds every address, as ``unbind(_:)-(NFTables.IPAddress)`` each; after every one
    /// was tried, throws the first failure.
    func unbind(_ addresses: [NFTables.IPAddress]) throws(IPVSError)
}

extension ServiceAddressDevice {
    public func bind(_ addresses: [NFTables.IPAddress]) throws(IPVSError) {
        var first: IPVSError?
        for a in addresses {
            do throws(IPVSError) { try bind(a) } catch { first = first ?? error }
        }
        if let first { throw first }
    }

    public func unbind(_ addresses: [NFTables.IPAddress]) throws(IPVSError) {
        var first: IPVSError?
        for a in addresses {
            do throws(IPVSError) { try unbind(a) } catch { first = first ?? error }
        }
        if let first { throw first }
    }
}

/// ``ServiceAddressDevice`` over rtnetlink. The link's index is looked up once (a link dump)
/// and kept until the link is removed, recreated, or a request finds it gone (ENODEV), so a
/// bind is one request.
public final class NetlinkServiceAddressDevice: ServiceAddressDevice {
    public static let defaultName = "kube-ipvs0"
    public let name: String
    private let route: any RouteNetlinkOperations
    private let connection: NetlinkConnection
    private let cachedIndex = Mutex<Int32?>(nil)

    /// `route` does link and address work; `socket` (a second NETLINK_ROUTE socket in the same
    /// namespace) carries the dummy-link request, which ``RouteNetlinkOperations`` lacks.
    public init(name: String = NetlinkServiceAddressDevice.defaultName, route: any RouteNetlinkOperations, socket: any NetlinkSocket) {
        self.name = name
        self.route = route
        connection = NetlinkConnection(socket: socket)
    }

    /// Opens both route sockets in `namespace` (the caller's when nil).
    public convenience init(name: String = NetlinkServiceAddressDevice.defaultName, namespace: NetworkNamespace? = nil) throws(IPVSError) {
        do {
            self.init(name: name, route: RouteNetlink(socket: try MnlSocket(namespace: namespace)), socket: try MnlSocket(namespace: namespace))
        } catch {
            throw IPVSError(error, operation: "open route socket", detail: namespace?.path ?? "")
        }
    }

    private func index() throws(IPVSError) -> Int32? {
        if let index = cachedIndex.withLock({ $0 }) { return index }
        let index: Int32?
        do { index = try route.link(named: name)?.index } catch {
            throw IPVSError(error, operation: "find link", detail: name)
        }
        cachedIndex.withLock { $0 = index }
        return index
    }

    /// Runs `body` with the link's index; when the kernel says the link is gone (ENODEV, it
    /// was deleted or recreated behind our back) looks it up again and retries once.
    private func withIndex(_ body: (Int32) throws(IPVSError) -> Void) throws(IPVSError) -> Bool {
        guard let index = try index() else { return false }
        do { try body(index) } catch where error.errno == 19 {
            cachedIndex.withLock { $0 = nil }
            guard let fresh = try self.index() else { return false }
            try body(fresh)
        }
        return true
    }

    @discardableResult
    public func ensure() throws(IPVSError) -> String {
        cachedIndex.withLock { $0 = nil }
        do {
            if let link = try route.link(named: name) {
                cachedIndex.withLock { $0 = link.index }
                return link.kind ?? ""
            }
        } catch {
            throw IPVSError(error, operation: "find link", detail: name)
        }
        let name = self.name
        do {
            _ = try connection.request("create dummy link", detail: name) { Self.newDummy(name: name, sequence: $0) }
            return "dummy"
        } catch where error.errno == 95 {
            do { try route.createBridge(name: name, mtu: nil) } catch {
                throw IPVSError(error, operation: "create bridge link (no dummy driver)", detail: name)
            }
            return "bridge"
        } catch {
            throw IPVSError(error, operation: "create dummy link", detail: name)
        }
    }

    public func addresses() throws(IPVSError) -> Set<NFTables.IPAddress> {
        guard let index = try index() else { return [] }
        do {
            return Set(try route.addresses(family: nil).filter { $0.index == index }.map { NFTables.IPAddress(bytes: $0.prefix.address.bytes) })
        } catch {
            throw IPVSError(error, operation: "list addresses", detail: name)
        }
    }

    public func bind(_ address: NFTables.IPAddress) throws(IPVSError) {
        let name = self.name
        let bound = try withIndex { (index: Int32) throws(IPVSError) in
            do throws(NetlinkError) { try route.addAddress(index: index, prefix: Self.hostPrefix(address)) } catch where error.errno == 17 {
                return
            } catch {
                throw IPVSError(error, operation: "bind address", detail: "\(address) to \(name)")
            }
        }
        if !bound { throw IPVSError(operation: "bind address", detail: "\(address) to \(name): no such link", errno: 19) }
    }

    public func unbind(_ address: NFTables.IPAddress) throws(IPVSError) {
        let name = self.name
        _ = try withIndex { (index: Int32) throws(IPVSError) in
            do throws(NetlinkError) { try route.deleteAddress(index: index, prefix: Self.hostPrefix(address)) } catch where error.errno == 99 {
                return
            } catch {
                throw IPVSError(error, operation: "unbind address", detail: "\(address) from \(name)")
            }
        }
    }

    /// Several addresses per datagram, over the route socket.
    public func bind(_ addresses: [NFTables.IPAddress]) throws(IPVSError) {
        let bound = try change(addresses, delete: false)
        if !bound && !addresses.isEmpty {
            throw IPVSError(operation: "bind address", detail: "\(addresses[0]) to \(name): no such link", errno: 19)
        }
    }

    public func unbind(_ addresses: [NFTables.IPAddress]) throws(IPVSError) {
        _ = try change(addresses, delete: true)
    }

    /// Adds or deletes `addresses` in batches; false when the link does not exist. An address
    /// bound already (EEXIST) or not bound (EADDRNOTAVAIL) is what was asked for, not a failure.
    private func change(_ addresses: [NFTables.IPAddress], delete: Bool) throws(IPVSError) -> Bool {
        guard !addresses.isEmpty else { return true }
        let name = self.name
        let operation = delete ? "unbind address" : "bind address"
        let prefixes = addresses.map(Self.hostPrefix)
        let done: Int32 = delete ? 99 : 17
        return try withIndex { (index: Int32) throws(IPVSError) in
            let failures: [NetlinkBatchFailure]
            do throws(NetlinkError) { failures = try route.changeAddresses(index: index, prefixes: prefixes, delete: delete) } catch {
                throw IPVSError(error, operation: operation, detail: "\(addresses.count) addresses \(delete ? "from" : "to") \(name)")
            }
            let refused = failures.filter { $0.error.errno != done }
            if let first = refused.first {
                let more = refused.count > 1 ? "; \(refused.count) of \(addresses.count) failed" : ""
                throw IPVSError(operation: operation, detail: "\(addresses[first.index]) \(delete ? "from" : "to") \(name)\(more)", errno: first.error.errno)
            }
        }
    }

    public func remove() throws(IPVSError) {
        defer { cachedIndex.withLock { $0 = nil } }
        // A fresh lookup: removing must not act on a stale index that another link now has.
        cachedIndex.withLock { $0 = nil }
        guard let index = try index() else { return }
        do { try route.deleteLink(index: index) } catch {
            throw IPVSError(error, operation: "delete link", detail: name)
        }
    }

    /// The /32 or /128 of `address` in rtnetlink's type (both hold valid network-order bytes).
    static func hostPrefix(_ address: NFTables.IPAddress) -> IPPrefix {
        IPPrefix(address: Netlink.IPAddress(bytes: address.bytes)!, length: address.bytes.count * 8)
    }

    /// RTM_NEWLINK (create, exclusive) of kind `dummy`, left down as upstream leaves it.
    public static func newDummy(name: String, sequence: UInt32) -> [UInt8] {
        // RTM_NEWLINK; NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE.
        let m = NetlinkMessageBuilder(type: 16, flags: 0x1 | 0x4 | 0x200 | 0x400, sequence: sequence)
        m.put(header: InterfaceInfoHeader())
        m.put(3, string: name) // IFLA_IFNAME
        m.nest(18) { m.put(1, string: "dummy") } // IFLA_LINKINFO { IFLA_INFO_KIND }
        return m.bytes
    }
}

/// `struct ifinfomsg`, zeroed: family AF_UNSPEC, no index, no flag changes.
struct InterfaceInfoHeader {
    var family: UInt8 = 0
    var pad: UInt8 = 0
    var type: UInt16 = 0
    var index: Int32 = 0
    var flags: UInt32 = 0
    var change: UInt32 = 0
}

import Netlink
import NFTables

/// An IPVS error: the operation, what it acted on, and the kernel's errno (0 when the failure
/// is not the kernel's, e.g. a malformed reply or a failed command).
public struct IPVSError: Error, CustomStringConvertible, Equatable, Sendable {
    public var operation: String
    public var detail: String
    public var errno: Int32

    public init(operation: String, detail: String = "", errno: Int32 = 0) {
        self.operation = operation
        self.detail = detail
        self.errno = errno
    }

    init(_ error: NetlinkError, operation: String, detail: String) {
        self.init(operation: operation, detail: error.detail.isEmpty ? detail : "\(detail): \(error.detail)", errno: error.errno)
    }

    /// ENOENT from the generic netlink controller: no `IPVS` family, the ip_vs module is absent.
    public var isUnavailable: Bool { operation == "resolve IPVS family" && errno == 2 }

    public var description: String {
        var text = "ipvs \(operation)"
        if !detail.isEmpty { text += " (\(detail))" }
        if errno != 0 { text += ": errno \(errno)" }
        if isUnavailable { text += " — the kernel has no IPVS (modprobe ip_vs)" }
        return text
    }
}

/// The transport protocol of a virtual server (IPPROTO_* numbers).
public enum IPVSProtocol: UInt16, Sendable, Hashable, Comparable, CustomStringConvertible {
    case tcp = 6
    case udp = 17
    case sctp = 132

    public var description: String {
        switch self {
        case .tcp: "TCP"
        case .udp: "UDP"
        case .sctp: "SCTP"
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// How IPVS forwards to a real server (IP_VS_CONN_F_* forwarding values).
public enum ForwardingMethod: UInt32, Sendable, Hashable {
    /// NAT (`ipvsadm -m`), what kube-proxy uses.
    case masquerade = 0
    case localNode = 1
    case tunnel = 2
    case directRoute = 3
}

/// A virtual server: `address:port/protocol`, its scheduler and persistence.
public struct VirtualServer: Hashable, Sendable, CustomStringConvertible {
    /// What identifies a virtual server in the kernel.
    public struct Key: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var address: NFTables.IPAddress
        public var `protocol`: IPVSProtocol
        public var port: UInt16

        public init(address: NFTables.IPAddress, protocol proto: IPVSProtocol, port: UInt16) {
            self.address = address
            self.protocol = proto
            self.port = port
        }

        public var description: String {
            (address.isV4 ? "\(address):\(port)" : "[\(address)]:\(port)") + "/\(self.protocol)"
        }

        public static func < (a: Self, b: Self) -> Bool { (a.address, a.port, a.protocol) < (b.address, b.port, b.protocol) }
    }

    /// IP_VS_SVC_F_PERSISTENT: connections from one client stick to one real server.
    public static let persistentFlag: UInt32 = 0x1
    /// IP_VS_SVC_F_HASHED: set by the kernel on every listed service; not part of what is asked.
    public static let hashedFlag: UInt32 = 0x2

    public var key: Key
    /// Scheduler name (`rr`, `wrr`, `lc`, ...).
    public var scheduler: String
    /// IP_VS_SVC_F_* flags, without the kernel's HASHED bit.
    public var flags: UInt32
    /// Persistence timeout in seconds (0 without persistence).
    public var timeout: UInt32
    /// Persistence netmask: 0xffffffff for IPv4, a prefix length (128) for IPv6.
    public var netmask: UInt32

    public init(key: Key, scheduler: String = "rr", persistenceTimeout: UInt32? = nil) {
        self.key = key
        self.scheduler = scheduler
        flags = persistenceTimeout == nil ? 0 : Self.persistentFlag
        timeout = persistenceTimeout ?? 0
        netmask = key.address.isV4 ? 0xffff_ffff : 128
    }

    public var isPersistent: Bool { flags & Self.persistentFlag != 0 }

    public var description: String {
        "\(key) \(scheduler)" + (isPersistent ? " persistent \(timeout)" : "")
    }
}

/// A real server (destination) of a virtual server. The connection counters are what the
/// kernel reports; they are ignored when adding or editing.
public struct RealServer: Hashable, Sendable, CustomStringConvertible {
    /// What identifies a real server within its virtual server.
    public struct Key: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var address: NFTables.IPAddress
        public var port: UInt16

        public init(address: NFTables.IPAddress, port: UInt16) {
            self.address = address
            self.port = port
        }

        public var description: String { address.isV4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
        public static func < (a: Self, b: Self) -> Bool { (a.address, a.port) < (b.address, b.port) }
    }

    public var key: Key
    public var weight: UInt32
    public var forwarding: ForwardingMethod
    public var upperThreshold: UInt32 = 0
    public var lowerThreshold: UInt32 = 0
    public var activeConnections: UInt32 = 0
    public var inactiveConnections: UInt32 = 0
    public var persistentConnections: UInt32 = 0

    public init(key: Key, weight: UInt32 = 1, forwarding: ForwardingMethod = .masquerade) {
        self.key = key
        self.weight = weight
        self.forwarding = forwarding
    }

    /// Connections the kernel still tracks through this real server.
    public var connections: UInt32 { activeConnections + inactiveConnections }

    public var description: String { "\(key) weight \(weight) active \(activeConnections) inactive \(inactiveConnections)" }
}

/// The IPVS operations a proxy needs, in one network namespace.
///
/// Errors carry the kernel's errno: EEXIST (17) when adding what exists, ESRCH (3) for a
/// missing virtual server, ENOENT (2) for a missing real server. Implementations are
/// thread-safe. ``NetlinkIPVS`` is the kernel one; TestSupport has a stateful fake.
public protocol IPVSInterface: Sendable {
    func services() throws(IPVSError) -> [VirtualServer]
    func addService(_ service: VirtualServer) throws(IPVSError)
    /// Changes the scheduler or persistence of an existing virtual server.
    func updateService(_ service: VirtualServer) throws(IPVSError)
    /// Deletes a virtual server and its real servers.
    func deleteService(_ key: VirtualServer.Key) throws(IPVSError)
    func destinations(of service: VirtualServer.Key) throws(IPVSError) -> [RealServer]
    func addDestination(_ destination: RealServer, to service: VirtualServer.Key) throws(IPVSError)
    /// Changes the weight (or forwarding) of an existing real server.
    func updateDestination(_ destination: RealServer, in service: VirtualServer.Key) throws(IPVSError)
    func deleteDestination(_ key: RealServer.Key, from service: VirtualServer.Key) throws(IPVSError)
    /// Deletes every virtual server in the namespace.
    func flush() throws(IPVSError)
    /// Applies `changes` in order, as the kernel handles the messages of one netlink datagram:
    /// a change that fails does not stop the ones after it (a real server added to a virtual
    /// server whose add failed then fails too). After every change was tried, throws the first
    /// failure, its detail naming the change and how many failed. The default makes one call
    /// per change; ``NetlinkIPVS`` sends several per datagram.
    func apply(_ changes: [IPVSChange]) throws(IPVSError)
}

/// One change of an ``IPVSInterface/apply(_:)`` batch.
public enum IPVSChange: Hashable, Sendable, CustomStringConvertible {
    case addService(VirtualServer)
    case updateService(VirtualServer)
    case deleteService(VirtualServer.Key)
    case addDestination(RealServer, to: VirtualServer.Key)
    case updateDestination(RealServer, in: VirtualServer.Key)
    case deleteDestination(RealServer.Key, from: VirtualServer.Key)

    /// The operation, as errors name it (`add service`, ...).
    public var operation: String {
        switch self {
        case .addService: "add service"
        case .updateService: "update service"
        case .deleteService: "delete service"
        case .addDestination: "add destination"
        case .updateDestination: "update destination"
        case .deleteDestination: "delete destination"
        }
    }

    /// What the change acts on, as errors name it.
    public var detail: String {
        switch self {
        case .addService(let s), .updateService(let s): "\(s.key)"
        case .deleteService(let key): "\(key)"
        case .addDestination(let d, let key): "\(d.key) to \(key)"
        case .updateDestination(let d, let key): "\(d.key) in \(key)"
        case .deleteDestination(let d, let key): "\(d) from \(key)"
        }
    }

    public var description: String { "\(operation) \(detail)" }
}

extension IPVSInterface {
    public func apply(_ changes: [IPVSChange]) throws(IPVSError) {
        var failures: [(change: IPVSChange, error: IPVSError)] = []
        for change in changes {
            do throws(IPVSError) {
                switch change {
                case .addService(let s): try addService(s)
                case .updateService(let s): try updateService(s)
                case .deleteService(let key): try deleteService(key)
                case .addDestination(let d, let key): try addDestination(d, to: key)
                case .updateDestination(let d, let key): try updateDestination(d, in: key)
                case .deleteDestination(let d, let key): try deleteDestination(d, from: key)
                }
            } catch {
                failures.append((change, error))
            }
        }
        if let first = failures.first {
            throw IPVSError.batch(first: first.change, errno: first.error.errno, failed: failures.count, of: changes.count)
        }
    }
}

extension IPVSError {
    /// The error of a batch whose first failed change is `change`: its operation, its object,
    /// and how many of the batch's changes failed.
    static func batch(first change: IPVSChange, errno: Int32, failed: Int, of total: Int) -> IPVSError {
        IPVSError(operation: change.operation,
                  detail: change.detail + (failed > 1 ? "; \(failed) of \(total) changes of the batch failed" : ""), errno: errno)
    }
}

extension NFTables.IPAddress {
    /// AF_INET (2) or AF_INET6 (10), as IPVS attributes carry it.
    var addressFamily: UInt8 { family == .ip ? 2 : 10 }
    var isV4: Bool { family == .ip }
}

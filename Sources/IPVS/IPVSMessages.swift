import Netlink
import NFTables
import LinuxSystem

/// IPVS generic netlink messages (linux/ip_vs.h UAPI): requests built with libmnl, replies
/// parsed into ``VirtualServer`` and ``RealServer``. Pure functions of their arguments, so the
/// bytes can be checked against hand-decoded captures.
public enum IPVSMessages {
    /// The generic netlink family name the ip_vs module registers.
    public static let familyName = "IPVS"
    /// IPVS_GENL_VERSION.
    public static let version: UInt8 = 1

    /// IPVS_CMD_* values.
    public enum Command: UInt8, Sendable {
        case newService = 1, setService, deleteService, getService
        case newDestination, setDestination, deleteDestination, getDestination
        case flush = 17
    }

    /// IPVS_CMD_ATTR_SERVICE and IPVS_CMD_ATTR_DEST: the two nests every request carries.
    static let attributeService: UInt16 = 1
    static let attributeDestination: UInt16 = 2

    /// IPVS_SVC_ATTR_*.
    enum ServiceAttribute {
        static let family: UInt16 = 1
        static let `protocol`: UInt16 = 2
        static let address: UInt16 = 3
        static let port: UInt16 = 4
        static let scheduler: UInt16 = 6
        static let flags: UInt16 = 7
        static let timeout: UInt16 = 8
        static let netmask: UInt16 = 9
    }

    /// IPVS_DEST_ATTR_*.
    enum DestinationAttribute {
        static let address: UInt16 = 1
        static let port: UInt16 = 2
        static let forwarding: UInt16 = 3
        static let weight: UInt16 = 4
        static let upperThreshold: UInt16 = 5
        static let lowerThreshold: UInt16 = 6
        static let activeConnections: UInt16 = 7
        static let inactiveConnections: UInt16 = 8
        static let persistentConnections: UInt16 = 9
        static let family: UInt16 = 11
    }

    /// The address as `union nf_inet_addr`: 16 bytes, an IPv4 address in the first four.
    static func inetAddress(_ address: NFTables.IPAddress) -> [UInt8] {
        let bytes = address.bytes
        return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
    }

    /// The service nest. `full` adds scheduler, flags, timeout and netmask, which the kernel
    /// requires for NEW_SERVICE and SET_SERVICE and ignores elsewhere.
    static func putService(_ m: NetlinkMessageBuilder, key: VirtualServer.Key, service: VirtualServer?) {
        m.nest(attributeService) {
            m.put(ServiceAttribute.family, u16: UInt16(key.address.addressFamily))
            m.put(ServiceAttribute.protocol, u16: key.protocol.rawValue)
            m.put(ServiceAttribute.address, bytes: inetAddress(key.address))
            m.put(ServiceAttribute.port, be16: key.port)
            if let service {
                m.put(ServiceAttribute.scheduler, string: service.scheduler)
                // struct ip_vs_flags { flags; mask }: the mask says which flags to set.
                m.put(ServiceAttribute.flags, bytes: le32(service.flags) + le32(0xffff_ffff))
                m.put(ServiceAttribute.timeout, u32: service.timeout)
                m.put(ServiceAttribute.netmask, u32: service.netmask)
            }
        }
    }

    static func putDestination(_ m: NetlinkMessageBuilder, key: RealServer.Key, destination: RealServer?) {
        m.nest(attributeDestination) {
            m.put(DestinationAttribute.family, u16: UInt16(key.address.addressFamily))
            m.put(DestinationAttribute.address, bytes: inetAddress(key.address))
            m.put(DestinationAttribute.port, be16: key.port)
            if let destination {
                m.put(DestinationAttribute.forwarding, u32: destination.forwarding.rawValue)
                m.put(DestinationAttribute.weight, u32: destination.weight)
                m.put(DestinationAttribute.upperThreshold, u32: destination.upperThreshold)
                m.put(DestinationAttribute.lowerThreshold, u32: destination.lowerThreshold)
            }
        }
    }

    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    public static func newService(_ service: VirtualServer, family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.newService.rawValue, version: version, sequence: sequence) {
            putService($0, key: service.key, service: service)
        }
    }

    public static func setService(_ service: VirtualServer, family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.setService.rawValue, version: version, sequence: sequence) {
            putService($0, key: service.key, service: service)
        }
    }

    public static func deleteService(_ key: VirtualServer.Key, family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.deleteService.rawValue, version: version, sequence: sequence) {
            putService($0, key: key, service: nil)
        }
    }

    public static func dumpServices(family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.getService.rawValue, version: version, dump: true, sequence: sequence)
    }

    public static func newDestination(_ destination: RealServer, service: VirtualServer.Key, family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.newDestination.rawValue, version: version, sequence: sequence) {
            putService($0, key: service, service: nil)
            putDestination($0, key: destination.key, destination: destination)
        }
    }

    public static func setDestination(_ destination: RealServer, service: VirtualServer.Key, family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.setDestination.rawValue, version: version, sequence: sequence) {
            putService($0, key: service, service: nil)
            putDestination($0, key: destination.key, destination: destination)
        }
    }

    public static func deleteDestination(_ key: RealServer.Key, service: VirtualServer.Key, family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.deleteDestination.rawValue, version: version, sequence: sequence) {
            putService($0, key: service, service: nil)
            putDestination($0, key: key, destination: nil)
        }
    }

    public static func dumpDestinations(service: VirtualServer.Key, family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.getDestination.rawValue, version: version, dump: true, sequence: sequence) {
            putService($0, key: service, service: nil)
        }
    }

    public static func flush(family: UInt16, sequence: UInt32) -> [UInt8] {
        GenericNetlink.request(family: family, command: Command.flush.rawValue, version: version, sequence: sequence)
    }

    /// The request that makes `change`.
    public static func message(for change: IPVSChange, family: UInt16, sequence: UInt32) -> [UInt8] {
        switch change {
        case .addService(let s): newService(s, family: family, sequence: sequence)
        case .updateService(let s): setService(s, family: family, sequence: sequence)
        case .deleteService(let key): deleteService(key, family: family, sequence: sequence)
        case .addDestination(let d, let key): newDestination(d, service: key, family: family, sequence: sequence)
        case .updateDestination(let d, let key): setDestination(d, service: key, family: family, sequence: sequence)
        case .deleteDestination(let d, let key): deleteDestination(d, service: key, family: family, sequence: sequence)
        }
    }

    /// Parses one IPVS_CMD_NEW_SERVICE reply of a service dump; nil for firewall-mark services
    /// (no address) and malformed ones.
    public static func parseService(_ message: NetlinkMessage) -> VirtualServer? {
        guard let nest = GenericNetlink.attributes(of: message).nested(attributeService),
              let af = nest.u16(ServiceAttribute.family),
              let proto = nest.u16(ServiceAttribute.protocol).flatMap(IPVSProtocol.init(rawValue:)),
              let raw = nest[ServiceAttribute.address],
              let address = address(raw, family: af),
              let port = nest.be16(ServiceAttribute.port) else { return nil }
        var service = VirtualServer(key: .init(address: address, protocol: proto, port: port),
                                    scheduler: nest.string(ServiceAttribute.scheduler) ?? "")
        if let flags = nest[ServiceAttribute.flags], flags.count >= 4 {
            service.flags = u32(flags) & ~VirtualServer.hashedFlag
        }
        service.timeout = nest.u32(ServiceAttribute.timeout) ?? 0
        service.netmask = nest.u32(ServiceAttribute.netmask) ?? service.netmask
        return service
    }

    /// Parses one IPVS_CMD_NEW_DEST reply of a destination dump. Kernels before 4.x omit the
    /// destination family; then it is the service's, `serviceFamily`.
    public static func parseDestination(_ message: NetlinkMessage, serviceFamily: UInt8) -> RealServer? {
        guard let nest = GenericNetlink.attributes(of: message).nested(attributeDestination),
              let raw = nest[DestinationAttribute.address],
              let address = address(raw, family: nest.u16(DestinationAttribute.family) ?? UInt16(serviceFamily)),
              let port = nest.be16(DestinationAttribute.port) else { return nil }
        var destination = RealServer(key: .init(address: address, port: port), weight: nest.u32(DestinationAttribute.weight) ?? 0,
                                     forwarding: ForwardingMethod(rawValue: nest.u32(DestinationAttribute.forwarding) ?? 0) ?? .masquerade)
        destination.upperThreshold = nest.u32(DestinationAttribute.upperThreshold) ?? 0
        destination.lowerThreshold = nest.u32(DestinationAttribute.lowerThreshold) ?? 0
        destination.activeConnections = nest.u32(DestinationAttribute.activeConnections) ?? 0
        destination.inactiveConnections = nest.u32(DestinationAttribute.inactiveConnections) ?? 0
        destination.persistentConnections = nest.u32(DestinationAttribute.persistentConnections) ?? 0
        return destination
    }

    static func u32(_ b: [UInt8]) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[$1]) << (8 * $1) } }

    static func address(_ raw: [UInt8], family: UInt16) -> NFTables.IPAddress? {
        switch family {
        case 2 where raw.count >= 4: NFTables.IPAddress(bytes: Array(raw.prefix(4)))
        case 10 where raw.count >= 16: NFTables.IPAddress(bytes: Array(raw.prefix(16)))
        default: nil
        }
    }
}

/// IPVS over generic netlink: one request and one ACK per change, dumps for listings.
/// Thread-safe (the connection serialises requests).
public final class NetlinkIPVS: IPVSInterface {
    private let connection: NetlinkConnection
    /// The id the controller assigned to the `IPVS` family.
    public let familyID: UInt16

    /// Resolves the IPVS family over `socket`. Throws an error whose ``IPVSError/isUnavailable``
    /// is true when the kernel has no IPVS.
    public init(socket: any NetlinkSocket) throws(IPVSError) {
        connection = NetlinkConnection(socket: socket)
        do {
            familyID = try GenericNetlink.resolveFamily(IPVSMessages.familyName, on: connection)
        } catch {
            throw IPVSError(error, operation: "resolve IPVS family", detail: IPVSMessages.familyName)
        }
    }

    /// Opens a generic netlink socket in `namespace` (the caller's when nil) and resolves IPVS.
    public convenience init(namespace: NetworkNamespace? = nil) throws(IPVSError) {
        let socket: MnlSocket
        do { socket = try MnlSocket(namespace: namespace, family: .generic) } catch {
            throw IPVSError(error, operation: "open generic netlink socket", detail: namespace?.path ?? "")
        }
        try self.init(socket: socket)
    }

    private func request(_ operation: String, _ detail: String, _ build: (UInt32) -> [UInt8]) throws(IPVSError) -> [NetlinkMessage] {
        do { return try connection.request(operation, detail: detail, build) } catch {
            throw IPVSError(operation: operation, detail: detail, errno: error.errno)
        }
    }

    public func services() throws(IPVSError) -> [VirtualServer] {
        let family = familyID
        return try request("list services", "") { IPVSMessages.dumpServices(family: family, sequence: $0) }
            .compactMap(IPVSMessages.parseService)
    }

    public func addService(_ service: VirtualServer) throws(IPVSError) {
        let family = familyID
        _ = try request("add service", service.key.description) { IPVSMessages.newService(service, family: family, sequence: $0) }
    }

    public func updateService(_ service: VirtualServer) throws(IPVSError) {
        let family = familyID
        _ = try request("update service", service.key.description) { IPVSMessages.setService(service, family: family, sequence: $0) }
    }

    public func deleteService(_ key: VirtualServer.Key) throws(IPVSError) {
        let family = familyID
        _ = try request("delete service", key.description) { IPVSMessages.deleteService(key, family: family, sequence: $0) }
    }

    public func destinations(of service: VirtualServer.Key) throws(IPVSError) -> [RealServer] {
        let family = familyID
        return try request("list destinations", service.description) { IPVSMessages.dumpDestinations(service: service, family: family, sequence: $0) }
            .compactMap { IPVSMessages.parseDestination($0, serviceFamily: service.address.addressFamily) }
    }

    public func addDestination(_ destination: RealServer, to service: VirtualServer.Key) throws(IPVSError) {
        let family = familyID
        _ = try request("add destination", "\(destination.key) to \(service)") {
            IPVSMessages.newDestination(destination, service: service, family: family, sequence: $0)
        }
    }

    public func updateDestination(_ destination: RealServer, in service: VirtualServer.Key) throws(IPVSError) {
        let family = familyID
        _ = try request("update destination", "\(destination.key) in \(service)") {
            IPVSMessages.setDestination(destination, service: service, family: family, sequence: $0)
        }
    }

    public func deleteDestination(_ key: RealServer.Key, from service: VirtualServer.Key) throws(IPVSError) {
        let family = familyID
        _ = try request("delete destination", "\(key) from \(service)") {
            IPVSMessages.deleteDestination(key, service: service, family: family, sequence: $0)
        }
    }

    public func flush() throws(IPVSError) {
        let family = familyID
        _ = try request("flush", "") { IPVSMessages.flush(family: family, sequence: $0) }
    }

    /// Several changes per datagram (``NetlinkConnection/requestBatch(_:count:perDatagram:detail:_:)``).
    public func apply(_ changes: [IPVSChange]) throws(IPVSError) {
        let family = familyID
        let failures: [NetlinkBatchFailure]
        do throws(NetlinkError) {
            failures = try connection.requestBatch("apply changes", count: changes.count, detail: { changes[$0].description }) { i, sequence in
                IPVSMessages.message(for: changes[i], family: family, sequence: sequence)
            }
        } catch {
            throw IPVSError(operation: "apply changes", detail: "\(changes.count) changes: \(error.detail)", errno: error.errno)
        }
        if let first = failures.first {
            throw IPVSError.batch(first: changes[first.index], errno: first.error.errno, failed: failures.count, of: changes.count)
        }
    }
}

import IPTables
import IPVS
import NFTables
import Synchronization

/// One kind of call the IPVS backend made during a sync: how many, and their summed time.
struct ProgramPhase: Codable, Sendable, Equatable {
    var name: String
    var calls: Int
    var seconds: Double
}

/// Adds up the time of the IPVS backend's calls into the kernel and the tools, by kind, so a
/// worker can report where a full sync went (docs/proxy-bench-ipvs.md). What is not in a
/// phase is the backend's own work: rendering, diffing, bookkeeping. Thread-safe.
final class IPVSPhaseClock: Sendable {
    private let totals = Mutex<[String: (calls: Int, seconds: Double)]>([:])
    private let clock = ContinuousClock()

    func time<T, E: Error>(_ name: String, calls: Int = 1, _ body: () throws(E) -> T) throws(E) -> T {
        let start = clock.now
        defer {
            let elapsed = (clock.now - start).seconds
            totals.withLock {
                $0[name, default: (0, 0)].calls += calls
                $0[name, default: (0, 0)].seconds += elapsed
            }
        }
        return try body()
    }

    /// The phases since the last call, slowest first, and starts counting afresh.
    func take() -> [ProgramPhase] {
        totals.withLock { t in
            defer { t = [:] }
            return t.map { ProgramPhase(name: $0.key, calls: $0.value.calls, seconds: $0.value.seconds) }.sorted { $0.seconds > $1.seconds }
        }
    }
}

/// IPVS through ``IPVSPhaseClock``. With `batched` false, ``apply(_:)`` makes one request per
/// change (the protocol's default), as the backend did before batching, for before/after rows.
final class TimedIPVS: IPVSInterface {
    private let ipvs: any IPVSInterface
    private let clock: IPVSPhaseClock
    private let batched: Bool

    init(_ ipvs: any IPVSInterface, clock: IPVSPhaseClock, batched: Bool) {
        self.ipvs = ipvs
        self.clock = clock
        self.batched = batched
    }

    func services() throws(IPVSError) -> [VirtualServer] { try clock.time("ipvs: list services") { () throws(IPVSError) in try ipvs.services() } }
    func addService(_ service: VirtualServer) throws(IPVSError) {
        try clock.time("ipvs: add service") { () throws(IPVSError) in try ipvs.addService(service) }
    }
    func updateService(_ service: VirtualServer) throws(IPVSError) {
        try clock.time("ipvs: update service") { () throws(IPVSError) in try ipvs.updateService(service) }
    }
    func deleteService(_ key: VirtualServer.Key) throws(IPVSError) {
        try clock.time("ipvs: delete service") { () throws(IPVSError) in try ipvs.deleteService(key) }
    }
    func destinations(of service: VirtualServer.Key) throws(IPVSError) -> [RealServer] {
        try clock.time("ipvs: list destinations") { () throws(IPVSError) in try ipvs.destinations(of: service) }
    }
    func addDestination(_ destination: RealServer, to service: VirtualServer.Key) throws(IPVSError) {
        try clock.time("ipvs: add destination") { () throws(IPVSError) in try ipvs.addDestination(destination, to: service) }
    }
    func updateDestination(_ destination: RealServer, in service: VirtualServer.Key) throws(IPVSError) {
        try clock.time("ipvs: update destination") { () throws(IPVSError) in try ipvs.updateDestination(destination, in: service) }
    }
    func deleteDestination(_ key: RealServer.Key, from service: VirtualServer.Key) throws(IPVSError) {
        try clock.time("ipvs: delete destination") { () throws(IPVSError) in try ipvs.deleteDestination(key, from: service) }
    }
    func flush() throws(IPVSError) { try clock.time("ipvs: flush") { () throws(IPVSError) in try ipvs.flush() } }

    func apply(_ changes: [IPVSChange]) throws(IPVSError) {
        guard batched else {
            // The protocol's default: one call (so one request and ACK) per change.
            var first: IPVSError?
            for change in changes {
                do throws(IPVSError) { try TimedIPVS.applyOne(change, to: self) } catch { first = first ?? error }
            }
            if let first { throw first }
            return
        }
        try clock.time("ipvs: apply batch (changes)", calls: changes.count) { () throws(IPVSError) in try ipvs.apply(changes) }
    }

    private static func applyOne(_ change: IPVSChange, to ipvs: TimedIPVS) throws(IPVSError) {
        switch change {
        case .addService(let s): try ipvs.addService(s)
        case .updateService(let s): try ipvs.updateService(s)
        case .deleteService(let key): try ipvs.deleteService(key)
        case .addDestination(let d, let key): try ipvs.addDestination(d, to: key)
        case .updateDestination(let d, let key): try ipvs.updateDestination(d, in: key)
        case .deleteDestination(let d, let key): try ipvs.deleteDestination(d, from: key)
        }
    }
}

/// kube-ipvs0 through ``IPVSPhaseClock``; with `batched` false, address lists are bound one
/// request at a time.
final class TimedServiceAddressDevice: ServiceAddressDevice {
    private let device: any ServiceAddressDevice
    private let clock: IPVSPhaseClock
    private let batched: Bool

    init(_ device: any ServiceAddressDevice, clock: IPVSPhaseClock, batched: Bool) {
        self.device = device
        self.clock = clock
        self.batched = batched
    }

    var name: String { device.name }
    @discardableResult
    func ensure() throws(IPVSError) -> String { try clock.time("kube-ipvs0: ensure") { () throws(IPVSError) in try device.ensure() } }
    func addresses() throws(IPVSError) -> Set<NFTables.IPAddress> {
        try clock.time("kube-ipvs0: list addresses") { () throws(IPVSError) in try device.addresses() }
    }
    func bind(_ address: NFTables.IPAddress) throws(IPVSError) {
        try clock.time("kube-ipvs0: bind address") { () throws(IPVSError) in try device.bind(address) }
    }
    func unbind(_ address: NFTables.IPAddress) throws(IPVSError) {
        try clock.time("kube-ipvs0: unbind address") { () throws(IPVSError) in try device.unbind(address) }
    }
    func remove() throws(IPVSError) { try clock.time("kube-ipvs0: remove") { () throws(IPVSError) in try device.remove() } }
    func bind(_ addresses: [NFTables.IPAddress]) throws(IPVSError) {
        guard batched else {
            for a in addresses { try bind(a) }
            return
        }
        try clock.time("kube-ipvs0: bind batch (addresses)", calls: addresses.count) { () throws(IPVSError) in try device.bind(addresses) }
    }
    func unbind(_ addresses: [NFTables.IPAddress]) throws(IPVSError) {
        guard batched else {
            for a in addresses { try unbind(a) }
            return
        }
        try clock.time("kube-ipvs0: unbind batch (addresses)", calls: addresses.count) { () throws(IPVSError) in try device.unbind(addresses) }
    }
}

/// ipset through ``IPVSPhaseClock``.
struct TimedIPSet: IPSetInterface {
    let ipset: any IPSetInterface
    let clock: IPVSPhaseClock

    func restore(_ text: String) throws(IPSetError) { try clock.time("ipset restore") { () throws(IPSetError) in try ipset.restore(text) } }
    func destroy(_ names: [String]) throws(IPSetError) { try clock.time("ipset destroy") { () throws(IPSetError) in try ipset.destroy(names) } }
    func headers() throws(IPSetError) -> [IPSetHeader] { try clock.time("ipset save -t") { () throws(IPSetError) in try ipset.headers() } }
}

/// iptables through ``IPVSPhaseClock``.
struct TimedIPTables: IPTablesInterface {
    let iptables: any IPTablesInterface
    let clock: IPVSPhaseClock

    func restore(_ text: String) throws(IPTablesError) {
        try clock.time("iptables-restore") { () throws(IPTablesError) in try iptables.restore(text) }
    }
    func save(table: String) throws(IPTablesError) -> String {
        try clock.time("iptables-save") { () throws(IPTablesError) in try iptables.save(table: table) }
    }
    func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        try clock.time("iptables: ensure jump rule") { () throws(IPTablesError) in try iptables.ensureRule(table: table, chain: chain, rule) }
    }
    func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        try clock.time("iptables: delete rule") { () throws(IPTablesError) in try iptables.deleteRule(table: table, chain: chain, rule) }
    }
}

/// sysctl writes through ``IPVSPhaseClock``.
struct TimedSysctl: SysctlWriter {
    let sysctl: any SysctlWriter
    let clock: IPVSPhaseClock

    func set(_ key: String, _ value: String) throws(IPVSError) {
        try clock.time("sysctl") { () throws(IPVSError) in try sysctl.set(key, value) }
    }
}

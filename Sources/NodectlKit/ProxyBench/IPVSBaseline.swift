import IPTables
import IPVS
import NFTables
import Proxy
import Synchronization

/// The IPVS baseline: what the IPVS backend's full sync programs from empty, written with the
/// tools upstream's IPVS mode drives, one process each, as a `sh` script:
/// `ip link add kube-ipvs0 type dummy`, `ipvsadm --restore` (virtual and real servers),
/// `ip -batch` (every Service IP bound to kube-ipvs0), `ipset restore` (the sets and their
/// entries) and `iptables-restore --noflush` (the nat and filter chains, with the jumps from
/// the built-in chains in the same text, which is cheaper than upstream's one `iptables` run per
/// jump). The content is the backend's own, captured from a full sync over recorders, so both
/// sides program exactly the same objects.
enum IPVSBaseline {
    static let method = "ipvsadm --restore + ip -batch + ipset restore + iptables-restore"

    /// The script for `sh -e -s`, for `state` (which the backend renders in family IPv4).
    static func script(_ state: ProxyState) throws -> String {
        let ipvs = RecordingIPVS()
        let device = RecordingServiceAddressDevice()
        let ipset = RecordingIPSet()
        let iptables = RecordingIPTables()
        let backend = IPVSProxier(family: .ip, ipvs: ipvs, device: device, iptables: iptables, ipset: ipset, sysctl: nil)
        try backend.sync(state, changed: [], kind: .full)
        var ipvsadm = ""
        for change in ipvs.changes {
            switch change {
            case .addService(let s):
                ipvsadm += "-A \(option(s.key.protocol)) \(endpoint(s.key)) -s \(s.scheduler)" + (s.isPersistent ? " -p \(s.timeout)" : "") + "\n"
            case .addDestination(let d, let key):
                ipvsadm += "-a \(option(key.protocol)) \(endpoint(key)) -r \(d.key) -m -w \(d.weight)\n"
            default:
                throw ProxyBenchError("the IPVS baseline expected only additions from empty, got \(change)")
            }
        }
        let addresses = device.bound.map { "address add \($0)/\($0.family == .ip ? 32 : 128) dev \(device.name)\n" }.joined()
        var script = "ip link add \(device.name) type dummy\n"
        script += heredoc("ipvsadm --restore", ipvsadm)
        script += heredoc("ip -batch -", addresses)
        script += heredoc("ipset restore -exist", ipset.text)
        script += heredoc("iptables-restore --noflush", iptables.text)
        return script
    }

    /// `ADDR:PORT` (`[ADDR]:PORT` for IPv6), as ipvsadm takes a virtual server.
    private static func endpoint(_ key: VirtualServer.Key) -> String {
        key.address.family == .ip ? "\(key.address):\(key.port)" : "[\(key.address)]:\(key.port)"
    }

    /// `-t`, `-u` or `--sctp-service`, as ipvsadm names a virtual server's protocol.
    private static func option(_ proto: IPVSProtocol) -> String {
        switch proto {
        case .tcp: "-t"
        case .udp: "-u"
        case .sctp: "--sctp-service"
        }
    }

    private static func heredoc(_ command: String, _ text: String) -> String {
        "\(command) <<'NODEKIT_EOF'\n\(text)NODEKIT_EOF\n"
    }
}

/// Records the changes of an empty IPVS table.
private final class RecordingIPVS: IPVSInterface {
    private let recorded = Mutex<[IPVSChange]>([])
    var changes: [IPVSChange] { recorded.withLock { $0 } }

    func services() throws(IPVSError) -> [VirtualServer] { [] }
    func addService(_ service: VirtualServer) throws(IPVSError) { recorded.withLock { $0.append(.addService(service)) } }
    func updateService(_ service: VirtualServer) throws(IPVSError) { recorded.withLock { $0.append(.updateService(service)) } }
    func deleteService(_ key: VirtualServer.Key) throws(IPVSError) { recorded.withLock { $0.append(.deleteService(key)) } }
    func destinations(of service: VirtualServer.Key) throws(IPVSError) -> [RealServer] { [] }
    func addDestination(_ destination: RealServer, to service: VirtualServer.Key) throws(IPVSError) {
        recorded.withLock { $0.append(.addDestination(destination, to: service)) }
    }
    func updateDestination(_ destination: RealServer, in service: VirtualServer.Key) throws(IPVSError) {
        recorded.withLock { $0.append(.updateDestination(destination, in: service)) }
    }
    func deleteDestination(_ key: RealServer.Key, from service: VirtualServer.Key) throws(IPVSError) {
        recorded.withLock { $0.append(.deleteDestination(key, from: service)) }
    }
    func flush() throws(IPVSError) {}
    func apply(_ changes: [IPVSChange]) throws(IPVSError) { recorded.withLock { $0 += changes } }
}

/// Records the addresses bound to an empty kube-ipvs0.
private final class RecordingServiceAddressDevice: ServiceAddressDevice {
    private let recorded = Mutex<[NFTables.IPAddress]>([])
    let name = NetlinkServiceAddressDevice.defaultName
    var bound: [NFTables.IPAddress] { recorded.withLock { $0 } }

    @discardableResult
    func ensure() throws(IPVSError) -> String { "dummy" }
    func addresses() throws(IPVSError) -> Set<NFTables.IPAddress> { [] }
    func bind(_ address: NFTables.IPAddress) throws(IPVSError) { recorded.withLock { $0.append(address) } }
    func unbind(_ address: NFTables.IPAddress) throws(IPVSError) {}
    func remove() throws(IPVSError) {}
    func bind(_ list: [NFTables.IPAddress]) throws(IPVSError) { recorded.withLock { $0 += list } }
    func unbind(_ list: [NFTables.IPAddress]) throws(IPVSError) {}
}

/// Records `ipset restore` text.
private final class RecordingIPSet: IPSetInterface {
    private let recorded = Mutex("")
    var text: String { recorded.withLock { $0 } }
    func restore(_ text: String) throws(IPSetError) { recorded.withLock { $0 += text } }
    func destroy(_ names: [String]) throws(IPSetError) {}
    /// The kernel of the baseline's empty namespace has no sets, so the backend creates each one
    /// sized to its entries and the baseline replays that text.
    func headers() throws(IPSetError) -> [IPSetHeader] { [] }
}

/// Records `iptables-restore` text, and the jumps the backend ensures as `-A` lines of their
/// table (appended before that table's COMMIT).
private final class RecordingIPTables: IPTablesInterface {
    private let recorded = Mutex<(restore: String, jumps: [String: [String]])>(("", [:]))

    var text: String {
        let (restore, jumps) = recorded.withLock { ($0.restore, $0.jumps) }
        var out = ""
        var table = ""
        var pending = jumps
        for line in restore.split(separator: "\n") {
            if line.hasPrefix("*") { table = String(line.dropFirst()) }
            if line == "COMMIT" {
                out += (pending[table] ?? []).map { $0 + "\n" }.joined()
                pending[table] = nil
            }
            out += line + "\n"
        }
        return out
    }

    func restore(_ text: String) throws(IPTablesError) { recorded.withLock { $0.restore += text } }
    func save(table: String) throws(IPTablesError) -> String { "" }
    func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        let words = rule.map { $0.contains(" ") ? "\"\($0)\"" : $0 }
        recorded.withLock { $0.jumps[table, default: []].append("-A \(chain) " + words.joined(separator: " ")) }
    }
    func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {}
}

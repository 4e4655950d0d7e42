import IPVS
import NFTables
import Synchronization

/// A stateful in-memory IPVS: virtual servers and their real servers, with the kernel's
/// errnos (EEXIST 17 for duplicates, ESRCH 3 for a missing virtual server, ENOENT 2 for a missing
/// real server). Connection counts are set by tests to model traffic that keeps a draining
/// real server alive. Counts every call, so tests can check that partial syncs stay small.
public final class FakeIPVS: IPVSInterface {
    private struct State {
        var services: [VirtualServer.Key: VirtualServer] = [:]
        var destinations: [VirtualServer.Key: [RealServer.Key: RealServer]] = [:]
        var calls: [String: Int] = [:]
        var failNext: IPVSError?
    }
    private let state = Mutex(State())

    public init() {}

    /// Calls made so far, by operation (`addService`, `addDestination`, ...).
    public var calls: [String: Int] { state.withLock { $0.calls } }
    /// The sum of calls that change state.
    public var writes: Int { state.withLock { s in s.calls.filter { !["services", "destinations"].contains($0.key) }.values.reduce(0, +) } }
    public func resetCalls() { state.withLock { $0.calls = [:] } }
    /// Makes the next call of any kind fail with `error`.
    public func failNext(_ error: IPVSError) { state.withLock { $0.failNext = error } }

    /// Every virtual server with its real servers, sorted: `key scheduler [persistent T] -> dest/weight ...`.
    public func dump() -> [String] {
        state.withLock { s in
            s.services.keys.sorted().map { key in
                let service = s.services[key]!
                let dests = (s.destinations[key] ?? [:]).values.sorted { $0.key < $1.key }.map { "\($0.key)/\($0.weight)" }
                return "\(service) -> " + (dests.isEmpty ? "(none)" : dests.joined(separator: " "))
            }
        }
    }

    /// Sets the connection counters of a real server (what the kernel would report).
    public func setConnections(_ key: RealServer.Key, of service: VirtualServer.Key, active: UInt32, inactive: UInt32 = 0) {
        state.withLock { s in
            s.destinations[service]?[key]?.activeConnections = active
            s.destinations[service]?[key]?.inactiveConnections = inactive
        }
    }

    private func call<T>(_ name: String, _ body: (inout State) throws(IPVSError) -> T) throws(IPVSError) -> T {
        try state.withLock { (s: inout State) throws(IPVSError) -> T in
            s.calls[name, default: 0] += 1
            if let error = s.failNext {
                s.failNext = nil
                throw error
            }
            return try body(&s)
        }
    }

    public func services() throws(IPVSError) -> [VirtualServer] {
        try call("services") { $0.services.values.sorted { $0.key < $1.key } }
    }

    public func addService(_ service: VirtualServer) throws(IPVSError) {
        try call("addService") { (s: inout State) throws(IPVSError) in
            guard s.services[service.key] == nil else { throw IPVSError(operation: "add service", detail: "\(service.key)", errno: 17) }
            s.services[service.key] = service
            s.destinations[service.key] = [:]
        }
    }

    public func updateService(_ service: VirtualServer) throws(IPVSError) {
        try call("updateService") { (s: inout State) throws(IPVSError) in
            guard s.services[service.key] != nil else { throw IPVSError(operation: "update service", detail: "\(service.key)", errno: 3) }
            s.services[service.key] = service
        }
    }

    public func deleteService(_ key: VirtualServer.Key) throws(IPVSError) {
        try call("deleteService") { (s: inout State) throws(IPVSError) in
            guard s.services.removeValue(forKey: key) != nil else { throw IPVSError(operation: "delete service", detail: "\(key)", errno: 3) }
            s.destinations[key] = nil
        }
    }

    public func destinations(of service: VirtualServer.Key) throws(IPVSError) -> [RealServer] {
        try call("destinations") { (s: inout State) throws(IPVSError) -> [RealServer] in
            guard let dests = s.destinations[service] else { throw IPVSError(operation: "list destinations", detail: "\(service)", errno: 3) }
            return dests.values.sorted { $0.key < $1.key }
        }
    }

    public func addDestination(_ destination: RealServer, to service: VirtualServer.Key) throws(IPVSError) {
        try call("addDestination") { (s: inout State) throws(IPVSError) in
            guard s.destinations[service] != nil else { throw IPVSError(operation: "add destination", detail: "\(service)", errno: 3) }
            guard s.destinations[service]![destination.key] == nil else {
                throw IPVSError(operation: "add destination", detail: "\(destination.key) to \(service)", errno: 17)
            }
            var stored = destination
            stored.activeConnections = 0
            stored.inactiveConnections = 0
            s.destinations[service]![destination.key] = stored
        }
    }

    public func updateDestination(_ destination: RealServer, in service: VirtualServer.Key) throws(IPVSError) {
        try call("updateDestination") { (s: inout State) throws(IPVSError) in
            guard s.destinations[service] != nil else { throw IPVSError(operation: "update destination", detail: "\(service)", errno: 3) }
            guard var stored = s.destinations[service]![destination.key] else {
                throw IPVSError(operation: "update destination", detail: "\(destination.key) in \(service)", errno: 2)
            }
            stored.weight = destination.weight
            stored.forwarding = destination.forwarding
            s.destinations[service]![destination.key] = stored
        }
    }

    public func deleteDestination(_ key: RealServer.Key, from service: VirtualServer.Key) throws(IPVSError) {
        try call("deleteDestination") { (s: inout State) throws(IPVSError) in
            guard s.destinations[service] != nil else { throw IPVSError(operation: "delete destination", detail: "\(service)", errno: 3) }
            guard s.destinations[service]!.removeValue(forKey: key) != nil else {
                throw IPVSError(operation: "delete destination", detail: "\(key) from \(service)", errno: 2)
            }
        }
    }

    public func flush() throws(IPVSError) {
        try call("flush") { s in
            s.services = [:]
            s.destinations = [:]
        }
    }
}

/// An in-memory kube-ipvs0: whether it exists, its kind, and its addresses. With
/// `dummySupported: false` it falls back to a bridge, as the kernel device does where the
/// dummy driver is missing.
public final class FakeServiceAddressDevice: ServiceAddressDevice {
    public let name: String
    private let dummySupported: Bool
    private struct State {
        var kind: String?
        var addresses: Set<IPAddress> = []
    }
    private let state = Mutex(State())

    public init(name: String = "kube-ipvs0", dummySupported: Bool = true) {
        self.name = name
        self.dummySupported = dummySupported
    }

    /// The link's kind, or nil when it does not exist.
    public var kind: String? { state.withLock { $0.kind } }

    @discardableResult
    public func ensure() throws(IPVSError) -> String {
        state.withLock { s in
            if let kind = s.kind { return kind }
            s.kind = dummySupported ? "dummy" : "bridge"
            return s.kind!
        }
    }

    public func addresses() throws(IPVSError) -> Set<IPAddress> { state.withLock { $0.addresses } }

    public func bind(_ address: IPAddress) throws(IPVSError) {
        try state.withLock { (s: inout State) throws(IPVSError) in
            guard s.kind != nil else { throw IPVSError(operation: "bind address", detail: "\(address) to \(name): no such link", errno: 19) }
            s.addresses.insert(address)
        }
    }

    public func unbind(_ address: IPAddress) throws(IPVSError) { _ = state.withLock { $0.addresses.remove(address) } }

    public func remove() throws(IPVSError) { state.withLock { $0 = State() } }
}

/// An in-memory ipset that interprets `ipset restore` text (create, flush, add, del, destroy)
/// and rejects references to sets that were never created, as ipset does.
public final class FakeIPSet: IPSetInterface {
    private let sets = Mutex<[String: Set<String>]>([:])

    public init() {}

    /// The members of a set, sorted; nil when the set does not exist.
    public func members(_ name: String) -> [String]? { sets.withLock { $0[name].map { $0.sorted() } } }
    public var names: [String] { sets.withLock { $0.keys.sorted() } }

    public func restore(_ text: String) throws(IPSetError) {
        try sets.withLock { (sets: inout [String: Set<String>]) throws(IPSetError) in
            var next = sets
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                guard words.count >= 2 else { throw IPSetError("ipset restore: malformed line \"\(line)\"") }
                let (verb, name) = (words[0], words[1])
                if verb == "create" {
                    if next[name] == nil { next[name] = [] }
                    continue
                }
                guard next[name] != nil else { throw IPSetError("ipset restore: \(verb) \(name): the set does not exist") }
                switch verb {
                case "flush": next[name] = []
                case "add" where words.count >= 3: next[name]!.insert(words[2])
                case "del" where words.count >= 3: next[name]!.remove(words[2])
                case "destroy": next[name] = nil
                default: throw IPSetError("ipset restore: malformed line \"\(line)\"")
                }
            }
            sets = next
        }
    }

    public func destroy(_ names: [String]) throws(IPSetError) {
        sets.withLock { sets in for name in names { sets[name] = nil } }
    }
}

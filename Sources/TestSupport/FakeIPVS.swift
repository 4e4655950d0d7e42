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

/// An in-memory ipset that interprets `ipset restore -exist` text (create, flush, add, del,
/// swap, destroy) as ipset and the kernel do: references to sets never created are refused; a
/// `create` of an existing set succeeds only with the same type and `maxelem` (the kernel's
/// `same_set` check); a hash set refuses a new member beyond its `maxelem` ("Hash is full");
/// `swap` exchanges two sets' contents and options under their names; `destroy` of a missing
/// set is ignored. Unlike ipset, a failing restore applies none of its lines. Records every
/// restore text.
public final class FakeIPSet: IPSetInterface {
    private struct Entry {
        var type: String
        var maxElements: Int?
        var members: Set<String> = []
    }
    private let sets = Mutex<(sets: [String: Entry], restores: [String])>(([:], []))

    public init() {}

    /// The members of a set, sorted; nil when the set does not exist.
    public func members(_ name: String) -> [String]? { sets.withLock { $0.sets[name].map { $0.members.sorted() } } }
    /// The number of members of a set, without sorting them; nil when the set does not exist.
    public func count(_ name: String) -> Int? { sets.withLock { $0.sets[name]?.members.count } }
    public var names: [String] { sets.withLock { $0.sets.keys.sorted() } }
    /// The `maxelem` of a hash set; nil for other types and missing sets.
    public func maxElements(_ name: String) -> Int? { sets.withLock { $0.sets[name]?.maxElements } }
    /// The text of every restore, successful or not, in order.
    public var restores: [String] { sets.withLock { $0.restores } }

    public func restore(_ text: String) throws(IPSetError) {
        try sets.withLock { (state: inout (sets: [String: Entry], restores: [String])) throws(IPSetError) in
            state.restores.append(text)
            var next = state.sets
            for (number, line) in text.split(separator: "\n").enumerated() {
                let words = line.split(separator: " ").map(String.init)
                func fail(_ why: String) -> IPSetError { IPSetError("ipset restore: error in line \(number + 1): \(why)") }
                guard words.count >= 2 else { throw fail("malformed line \"\(line)\"") }
                let (verb, name) = (words[0], words[1])
                switch verb {
                case "create":
                    guard words.count >= 3 else { throw fail("malformed line \"\(line)\"") }
                    var entry = Entry(type: words[2])
                    if entry.type.hasPrefix("hash:") {
                        let i = words.firstIndex(of: "maxelem")
                        entry.maxElements = i.flatMap { $0 + 1 < words.count ? Int(words[$0 + 1]) : nil } ?? IPSetHeader.defaultMaxElements
                    }
                    if let existing = next[name] {
                        guard existing.type == entry.type && existing.maxElements == entry.maxElements else {
                            throw fail("Set cannot be created: set with the same name already exists")
                        }
                    } else {
                        next[name] = entry
                    }
                    continue
                case "destroy":
                    next[name] = nil
                    continue
                default: break
                }
                guard next[name] != nil else { throw fail("\(verb) \(name): The set with the given name does not exist") }
                // Members change in place (next[name]!): a copy of the entry held across the
                // change would make every add copy the whole member set.
                switch verb {
                case "flush": next[name]!.members = []
                case "add" where words.count >= 3:
                    if let max = next[name]!.maxElements, next[name]!.members.count >= max, !next[name]!.members.contains(words[2]) {
                        throw fail("Hash is full, cannot add more elements")
                    }
                    next[name]!.members.insert(words[2])
                case "del" where words.count >= 3: next[name]!.members.remove(words[2])
                case "swap" where words.count >= 3:
                    guard let other = next[words[2]] else { throw fail("swap \(name) \(words[2]): The set with the given name does not exist") }
                    let entry = next[name]!
                    guard other.type == entry.type else { throw fail("swap \(name) \(words[2]): The sets are not of the same type") }
                    next[words[2]] = entry
                    next[name] = other
                default: throw fail("malformed line \"\(line)\"")
                }
            }
            state.sets = next
        }
    }

    public func destroy(_ names: [String]) throws(IPSetError) {
        sets.withLock { state in for name in names { state.sets[name] = nil } }
    }

    public func headers() throws(IPSetError) -> [IPSetHeader] {
        sets.withLock { state in
            state.sets.sorted { $0.key < $1.key }.map { IPSetHeader(name: $0.key, type: $0.value.type, maxElements: $0.value.maxElements) }
        }
    }
}

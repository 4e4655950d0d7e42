import KubeAPI
import Store
import Synchronization

/// Allocates Service ClusterIPs from the service CIDR and NodePorts from their range. Each
/// allocation is one store key (/registry/ranges/serviceips/<ip>,
/// /registry/ranges/servicenodeports/<port>) created with the store's create-if-absent, so two
/// API servers on one etcd can never hand out the same address, and allocations survive restarts.
/// The key's value names the owning service ("namespace/name"), which lets an update keep what it
/// holds and lets ``repair()`` free what no service holds.
struct ServiceAllocator: Sendable {
    let store: any Store
    let network: UInt32
    let prefixLength: Int
    let nodePorts: ClosedRange<Int>
    /// Keys each repair pass found held by no service, with the passes that found them so.
    private let leaks = LeakCounts()

    /// Repair passes that must find a key unheld, one after another, before it is freed
    /// (upstream's numRepairsBeforeLeakCleanup): another API server may have taken it and not
    /// yet written its service.
    static let repairPassesBeforeLeakCleanup = 3

    static let ipPrefix = "/registry/ranges/serviceips/"
    static let portPrefix = "/registry/ranges/servicenodeports/"

    /// What an allocation took and what the object no longer holds (freed once the write lands).
    struct Allocation: Sendable {
        /// Keys this allocation created: a write that fails gives them back. A key the
        /// service's name held already is not among them.
        var added: [String] = []
        var dropped: [String] = []
    }

    /// Parses `a.b.c.d/n` (IPv4 only).
    init(store: any Store, serviceCIDR: String, nodePorts: ClosedRange<Int>) throws(APIError) {
        let parts = serviceCIDR.split(separator: "/")
        guard parts.count == 2, let bits = Int(parts[1]), (8...30).contains(bits), let base = Self.parseIPv4(String(parts[0])) else {
            throw APIError.badRequest("invalid service CIDR \"\(serviceCIDR)\" (want an IPv4 a.b.c.d/n with n in 8...30)")
        }
        self.store = store
        prefixLength = bits
        network = base & ~((1 << (32 - UInt32(bits))) - 1)
        self.nodePorts = nodePorts
    }

    static func parseIPv4(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false).map { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 != nil && $0! <= 255 }) else { return nil }
        return octets.reduce(0) { ($0 << 8) | $1! }
    }

    static func format(_ ip: UInt32) -> String { "\(ip >> 24).\((ip >> 16) & 255).\((ip >> 8) & 255).\(ip & 255)" }

    var size: UInt32 { 1 << (32 - UInt32(prefixLength)) }

    /// The first usable address: what the `kubernetes` service gets.
    var firstAddress: String { Self.format(network + 1) }

    /// Fills `spec.clusterIP(s)` and NodePorts of `service` (an update passes the stored
    /// `old`), taking store keys for anything new. Throws 422 Invalid for an address outside the
    /// range, or one held by another service.
    func allocate(_ service: inout JSONObject, old: JSONObject?) async throws(APIError) -> Allocation {
        var allocation = Allocation()
        let owner = "\(service.namespace)/\(service.name)"
        let type = service[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
        do {
            try await allocateClusterIP(&service, old: old, type: type, owner: owner, into: &allocation)
            try await allocateNodePorts(&service, old: old, type: type, owner: owner, into: &allocation)
        } catch {
            await release(allocation.added)
            throw error
        }
        return allocation
    }

    private func allocateClusterIP(_ service: inout JSONObject, old: JSONObject?, type: String, owner: String, into allocation: inout Allocation) async throws(APIError) {
        let oldIP = old?[path: ["spec", "clusterIP"]]?.stringValue ?? ""
        var ip = service[path: ["spec", "clusterIP"]]?.stringValue ?? ""
        if type == "ExternalName" {
            if !oldIP.isEmpty && oldIP != "None" { allocation.dropped.append(Self.ipPrefix + oldIP) }
            service[path: ["spec", "clusterIP"]] = nil
            service[path: ["spec", "clusterIPs"]] = nil
            return
        }
        if ip.isEmpty { ip = oldIP }
        if ip == "None" {
            service[path: ["spec", "clusterIPs"]] = .array([.string("None")])
            return
        }
        if ip.isEmpty {
            ip = try await allocateAnyIP(owner: owner, service: service, into: &allocation)
        } else if ip != oldIP {
            guard isUsable(ip) else {
                throw invalid(service, "spec.clusterIPs", ip, "failed to allocate IP \(ip): provided IP is not in the valid range. The range of valid IPs is \(Self.format(network))/\(prefixLength)")
            }
            guard try await take(Self.ipPrefix + ip, owner: owner, into: &allocation) else {
                throw invalid(service, "spec.clusterIPs", ip, "failed to allocate IP \(ip): provided IP is already allocated")
            }
        }
        service[path: ["spec", "clusterIP"]] = .string(ip)
        service[path: ["spec", "clusterIPs"]] = .array([.string(ip)])
    }

    private func allocateAnyIP(owner: String, service: JSONObject, into allocation: inout Allocation) async throws(APIError) -> String {
        // Usable addresses exclude the network and broadcast addresses; start at a random one and
        // probe upward so concurrent allocators rarely collide.
        let usable = size - 2
        let start = UInt32.random(in: 0..<usable)
        for step in 0..<usable {
            let ip = Self.format(network + 1 + (start + step) % usable)
            if try await take(Self.ipPrefix + ip, owner: owner, into: &allocation) { return ip }
        }
        throw invalid(service, "spec.clusterIPs", "", "failed to allocate a serviceIP: range is full")
    }

    private func allocateNodePorts(_ service: inout JSONObject, old: JSONObject?, type: String, owner: String, into allocation: inout Allocation) async throws(APIError) {
        let oldPorts = Set((old?[path: ["spec", "ports"]]?.arrayValue ?? []).compactMap { $0["nodePort"]?.intValue })
        let wantsNodePorts = type == "NodePort" || type == "LoadBalancer"
        var ports = service[path: ["spec", "ports"]]?.arrayValue ?? []
        var kept: Set<Int64> = []
        for (index, value) in ports.enumerated() {
            guard var port = value.objectValue else { continue }
            if !wantsNodePorts {
                port["nodePort"] = nil
                ports[index] = .object(port)
                continue
            }
            if let requested = port["nodePort"]?.intValue, requested != 0 {
                if !oldPorts.contains(requested) && !kept.contains(requested) {
                    guard nodePorts.contains(Int(requested)) else {
                        throw invalid(service, "spec.ports[\(index)].nodePort", "\(requested)", "provided port is not in the valid range. The range of valid ports is \(nodePorts.lowerBound)-\(nodePorts.upperBound)")
                    }
                    guard try await take(Self.portPrefix + "\(requested)", owner: owner, into: &allocation) else {
                        throw invalid(service, "spec.ports[\(index)].nodePort", "\(requested)", "provided port is already allocated")
                    }
                }
                kept.insert(requested)
                continue
            }
            // Reuse the node port the old object had for the same port and protocol.
            let match = (old?[path: ["spec", "ports"]]?.arrayValue ?? []).first {
                $0["port"] == port["port"] && ($0["protocol"]?.stringValue ?? "TCP") == (port["protocol"]?.stringValue ?? "TCP")
            }
            if let reused = match?["nodePort"]?.intValue, !kept.contains(reused) {
                port["nodePort"] = .int(reused)
                kept.insert(reused)
            } else {
                let count = nodePorts.count
                let start = Int.random(in: 0..<count)
                var chosen: Int?
                for step in 0..<count {
                    let candidate = nodePorts.lowerBound + (start + step) % count
                    if kept.contains(Int64(candidate)) { continue }
                    if try await take(Self.portPrefix + "\(candidate)", owner: owner, into: &allocation) {
                        chosen = candidate
                        break
                    }
                }
                guard let chosen else { throw invalid(service, "spec.ports[\(index)].nodePort", "", "failed to allocate a nodePort: range is full") }
                port["nodePort"] = .int(chosen)
                kept.insert(Int64(chosen))
            }
            ports[index] = .object(port)
        }
        if !ports.isEmpty { service[path: ["spec", "ports"]] = .array(ports) }
        allocation.dropped += oldPorts.subtracting(kept).map { Self.portPrefix + "\($0)" }
    }

    /// Creates `key` for `owner`; true when it is now held by `owner`, also when it already
    /// was. Only a key created here goes into `allocation.added`, which a failed write gives
    /// back: a key the name held already belongs to the service of that name (or to one that
    /// crashed before writing, which repair frees), so a create answered AlreadyExists must not
    /// free it.
    private func take(_ key: String, owner: String, into allocation: inout Allocation) async throws(APIError) -> Bool {
        do {
            _ = try await store.create(key, value: Array(owner.utf8), ttl: nil)
            allocation.added.append(key)
            return true
        } catch let error {
            if case let .conflict(_, current) = error { return current.map { String(decoding: $0.value, as: UTF8.self) } == owner }
            throw APIError.serviceUnavailable("allocating \(key): \(error)")
        }
    }

    private func invalid(_ service: JSONObject, _ field: String, _ value: String, _ detail: String) -> APIError {
        APIError.invalid(Services.definition, name: service.name, errors: [FieldError(.invalid, field, value: value, detail)])
    }

    /// Frees allocation keys. Best effort: a key that cannot be deleted now is freed by ``repair()``.
    func release(_ keys: [String]) async {
        for key in keys { _ = try? await store.delete(key, expectedModRevision: nil) }
    }

    /// Frees everything a deleted object held (only services hold anything).
    func releaseAll(of object: JSONObject, _ resource: ResourceDefinition) async {
        guard resource.kind == "Service" && resource.group.isEmpty else { return }
        await release(heldKeys(object).map(\.key))
    }

    /// What one repair pass did.
    struct RepairResult: Sendable, Equatable {
        /// Keys deleted: found unheld on this pass and the passes before it.
        var freed: [String] = []
        /// Keys found unheld that are kept until later passes find them unheld too.
        var flagged: [String] = []
        /// Keys a service holds that were missing, taken again for it, with the service
        /// (upstream: "the cluster IP ... for service ... is not allocated; repairing").
        var retaken: [String: String] = [:]
        /// Keys whose recorded owner does not hold them while another service does, given to
        /// that service (upstream's allocator records no owner; here the owner decides what an
        /// update keeps and what a repair frees).
        var reassigned: [String: String] = [:]
        /// Keys that more than one service holds, with the services ("... was assigned to
        /// multiple services; please recreate"). Left as they are: only the operator can choose.
        var duplicates: [String: [String]] = [:]
        /// Services whose address or node port lies outside the configured range ("... is not
        /// within the service CIDR ...; please recreate"), with the key they would have.
        var outOfRange: [String: String] = [:]
    }

    /// Whether `ip` is an IPv4 address of the range other than its network and broadcast ones.
    private func isUsable(_ ip: String) -> Bool {
        guard let value = Self.parseIPv4(ip) else { return false }
        return value > network && value < network + size - 1
    }

    /// The keys `service` holds, in the range or not: its ClusterIP and node ports.
    private func heldKeys(_ service: JSONObject) -> [(key: String, inRange: Bool)] {
        var keys: [(String, Bool)] = []
        if let ip = service[path: ["spec", "clusterIP"]]?.stringValue, !ip.isEmpty, ip != "None" {
            keys.append((Self.ipPrefix + ip, isUsable(ip)))
        }
        for port in service[path: ["spec", "ports"]]?.arrayValue ?? [] {
            guard let nodePort = port["nodePort"]?.intValue, nodePort != 0 else { continue }
            keys.append((Self.portPrefix + "\(nodePort)", nodePorts.contains(Int(nodePort))))
        }
        return keys
    }

    /// One repair pass, as upstream's repair controllers (ClusterIP and NodePort), against one
    /// revision of the store:
    /// - an address or node port a service holds whose key is missing (a release that raced a
    ///   create, or the failed-create bug before 43e8e73) is taken again for it, at once;
    /// - a key whose recorded owner does not hold it, while another service does, is given to
    ///   that service;
    /// - a key no service holds (a crash between allocating and writing the service leaves
    ///   such keys) is freed once ``repairPassesBeforeLeakCleanup`` passes in a row found it
    ///   so; a key held again starts over (a single pass never frees, so a server starting
    ///   beside another does not free an address the other has just taken);
    /// - duplicates and out-of-range values are reported, not changed.
    /// Run at startup and every repair interval. Safe to run concurrently with allocation: a
    /// key is deleted or reassigned only at the revision the pass read, and a key taken again
    /// is given back if its service no longer holds it once it is written.
    func repair() async throws(StoreError) -> RepairResult {
        var result = RepairResult()
        let services = try await store.range(.prefix(Services.definition.storagePrefix(namespace: nil)))
        var holders: [String: [String]] = [:]
        for kv in services.kvs {
            guard let object = (try? JSONCoding.decode(kv.value, what: "service \(kv.key)"))?.objectValue else { continue }
            let owner = "\(object.namespace)/\(object.name)"
            for (key, inRange) in heldKeys(object) {
                if inRange { holders[key, default: []].append(owner) } else { result.outOfRange[key] = owner }
            }
        }
        for (key, owners) in holders where owners.count > 1 { result.duplicates[key] = owners.sorted() }

        var unheld: Set<String> = []
        var present: Set<String> = []
        for prefix in [Self.ipPrefix, Self.portPrefix] {
            for kv in try await store.range(.prefix(prefix, revision: services.revision)).kvs {
                present.insert(kv.key)
                let owner = String(decoding: kv.value, as: UTF8.self)
                let held = holders[kv.key] ?? []
                if held.contains(owner) { continue }
                if let other = held.min() {
                    if (try? await store.update(kv.key, value: Array(other.utf8), expectedModRevision: kv.modRevision, ttl: nil)) != nil {
                        result.reassigned[kv.key] = other
                    }
                    continue
                }
                unheld.insert(kv.key)
                let passes = leaks.counts.withLock { counts in
                    counts[kv.key, default: 0] += 1
                    return counts[kv.key]!
                }
                if passes < Self.repairPassesBeforeLeakCleanup {
                    result.flagged.append(kv.key)
                } else if (try? await store.delete(kv.key, expectedModRevision: kv.modRevision)) != nil {
                    result.freed.append(kv.key)
                }
            }
        }
        for (key, owners) in holders.sorted(by: { $0.key < $1.key }) where !present.contains(key) {
            let owner = owners.min()!
            guard let created = try? await store.create(key, value: Array(owner.utf8), ttl: nil) else { continue }
            // Its service may have been deleted, and its keys released, since the pass read it.
            let parts = owner.split(separator: "/", maxSplits: 1).map(String.init)
            let service = parts.count == 2 ? try await store.get(Services.definition.storageKey(namespace: parts[0], name: parts[1])) : nil
            let object = service.flatMap { (try? JSONCoding.decode($0.value, what: "service \(owner)"))?.objectValue }
            let stillHeld = object.map { heldKeys($0).contains { $0.key == key } } ?? false
            if stillHeld {
                result.retaken[key] = owner
            } else {
                _ = try? await store.delete(key, expectedModRevision: created.modRevision)
            }
        }
        // Keys held again, freed, or gone start over.
        let freed = Set(result.freed)
        leaks.counts.withLock { counts in counts = counts.filter { unheld.contains($0.key) && !freed.contains($0.key) } }
        return result
    }
}

/// The repair passes' leak counts, shared by the copies of one allocator.
private final class LeakCounts: Sendable {
    let counts = Mutex<[String: Int]>([:])
}

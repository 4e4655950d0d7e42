import Foundation
import KubeAPI
import Logging
import Synchronization

/// An IPv4 network, `a.b.c.d/len`.
public struct IPv4Network: Sendable, Hashable, CustomStringConvertible {
    public var address: UInt32
    public var prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let len = Int(parts[1]), (0...32).contains(len) else { return nil }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
        guard octets.count == 4 else { return nil }
        let a = octets.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = len == 0 ? 0 : ~UInt32(0) << (32 - len)
        address = a & mask
        prefixLength = len
    }

    init(address: UInt32, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public var description: String {
        "\(address >> 24).\(address >> 16 & 255).\(address >> 8 & 255).\(address & 255)/\(prefixLength)"
    }
}

/// The node-IPAM step of the control plane: gives every Node without `spec.podCIDR` the
/// lowest free subnet of `nodeMaskSize` bits from the cluster CIDR (upstream's range
/// allocator, IPv4 only). A podCIDR, once set, is never changed.
public struct NodeIPAM: Sendable {
    public let clusterCIDR: IPv4Network
    public let nodeMaskSize: Int
    let client: any KubeAPIClient

    public struct IPAMError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    public init(client: any KubeAPIClient, clusterCIDR: String, nodeMaskSize: Int = 24) throws(IPAMError) {
        guard let net = IPv4Network(clusterCIDR) else { throw IPAMError(message: "cluster CIDR \(clusterCIDR) is not an IPv4 CIDR") }
        guard nodeMaskSize >= net.prefixLength, nodeMaskSize <= 30 else {
            throw IPAMError(message: "node mask /\(nodeMaskSize) does not fit in cluster CIDR \(clusterCIDR)")
        }
        self.client = client
        self.clusterCIDR = net
        self.nodeMaskSize = nodeMaskSize
    }

    /// The podCIDR each node without one should get, given all nodes (pure: no API calls).
    /// Nodes are served in name order; nil values mean the range is exhausted.
    public func plan(_ nodes: [Node]) -> [String: String?] {
        let count = 1 << (nodeMaskSize - clusterCIDR.prefixLength)
        let step = UInt32(1) << (32 - nodeMaskSize)
        var used = Set<UInt32>()
        for n in nodes {
            guard let cidr = n.spec?.podCIDR.flatMap(IPv4Network.init), cidr.prefixLength == nodeMaskSize else { continue }
            used.insert(cidr.address)
        }
        var next = 0
        var out: [String: String?] = [:]
        for n in nodes.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) where (n.spec?.podCIDR ?? "").isEmpty {
            var chosen: String?
            while next < count {
                let candidate = clusterCIDR.address &+ UInt32(next) &* step
                next += 1
                if !used.contains(candidate) {
                    used.insert(candidate)
                    chosen = IPv4Network(address: candidate, prefixLength: nodeMaskSize).description
                    break
                }
            }
            out[n.metadata.name ?? ""] = chosen
        }
        return out
    }

    /// Assigns podCIDRs to the nodes that lack one (a merge patch of `spec.podCIDR` and
    /// `spec.podCIDRs` per node) and returns the assignments made.
    @discardableResult
    public func sync(_ nodes: [Node]) async throws(KubeClientError) -> [String: String] {
        var done: [String: String] = [:]
        for (name, cidr) in plan(nodes).sorted(by: { $0.key < $1.key }) {
            guard let cidr else {
                throw KubeClientError(code: 0, reason: "CIDRExhausted", message: "no free /\(nodeMaskSize) in \(clusterCIDR) for node \(name)")
            }
            let patch: JSONValue = .object(["spec": .object(["podCIDR": .string(cidr), "podCIDRs": .array([.string(cidr)])])])
            _ = try await client.patch(Node.self, namespace: nil, name: name, patch: patch, patchType: .merge, subresource: nil, options: WriteOptions())
            done[name] = cidr
        }
        return done
    }
}

/// The node routes file nodekit-cni reads (`nodeRoutesFile` in its network config): a JSON
/// list of `{"dst": <other node's podCIDR>, "gw": <that node's InternalIP>}`.
public enum NodeRoutesFile {
    public struct Route: Codable, Hashable, Sendable {
        public var dst: String
        public var gw: String

        public init(dst: String, gw: String) {
            self.dst = dst
            self.gw = gw
        }
    }

    /// The routes to every other node that has a podCIDR and an InternalIP, sorted by
    /// destination.
    public static func routes(nodes: [Node], selfName: String) -> [Route] {
        var out: [Route] = []
        for n in nodes where n.metadata.name != selfName {
            guard let gw = n.status?.addresses?.first(where: { $0.type == "InternalIP" })?.address, !gw.isEmpty else { continue }
            let cidrs = n.spec?.podCIDRs ?? n.spec?.podCIDR.map { [$0] } ?? []
            for c in cidrs where !c.isEmpty { out.append(Route(dst: c, gw: gw)) }
        }
        return out.sorted { ($0.dst, $0.gw) < ($1.dst, $1.gw) }
    }

    /// The file's bytes for `routes` (stable: equal routes give equal bytes).
    public static func render(_ routes: [Route]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(routes)) ?? Data("[]".utf8)) + [UInt8(ascii: "\n")]
    }

    /// Writes `routes` to `path` atomically (temporary file and rename) when the content
    /// differs. Returns whether the file changed.
    @discardableResult
    public static func write(_ routes: [Route], to path: String) throws -> Bool {
        let bytes = render(routes)
        if let existing = FileManager.default.contents(atPath: path), Array(existing) == bytes { return false }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        return true
    }
}

/// The kernel routing table as the node agent sees it: routes to other nodes' pod CIDRs via
/// their InternalIPs. The real one is rtnetlink in the agent's network namespace; TestSupport
/// has a stateful fake.
///
/// Implementations are thread-safe. Errors name the route.
public protocol NodeRouteTable: Sendable {
    /// Adds the route to `route.dst` via `route.gw`, replacing any route to the same
    /// destination (a node whose address changed moves its route).
    func replace(_ route: NodeRoutesFile.Route) throws
    /// Removes the route to `route.dst` via `route.gw`; a route that is absent, or that now
    /// goes another way (someone else's), is left alone without error.
    func remove(_ route: NodeRoutesFile.Route) throws
}

/// Keeps this node's routes to the other nodes' pod CIDRs in step with the Nodes: the CNI
/// node routes file (nodekit-cni applies it on each pod ADD) and, when given a
/// ``NodeRouteTable``, the kernel's routes themselves, so a node that joins (or receives its
/// podCIDR, which comes after the Node) is reachable without waiting for a pod to start here.
///
/// Call ``sync(nodes:)`` with the whole Node list (an informer's cache) after every Node add,
/// update and delete, and periodically: it is idempotent. Routes this node programmed are
/// remembered (seeded from the routes file a previous run left), so a deleted Node's route is
/// removed; routes nobody programmed through this type are never touched. Thread-safe: calls
/// are serialised.
public final class NodeRoutesSync: Sendable {
    /// What one ``sync(nodes:)`` did.
    public struct Outcome: Sendable, Equatable {
        /// The routes wanted now (the file's content).
        public var routes: [NodeRoutesFile.Route]
        public var fileChanged: Bool
        /// Routes programmed that were not programmed before.
        public var added: [NodeRoutesFile.Route]
        public var removed: [NodeRoutesFile.Route]
        /// Kernel or file steps that failed (each names the route or the file); they are tried
        /// again on the next sync.
        public var failures: [String]
    }

    private struct State {
        /// Routes the kernel holds because this type (or a previous run) put them there.
        var programmed: Set<NodeRoutesFile.Route>
        /// False until a sync has programmed every wanted route without error.
        var clean = false
    }

    public let selfName: String
    public let routesFile: String
    private let table: (any NodeRouteTable)?
    private let logger: Logger
    private let state: Mutex<State>

    /// `routesFile` is read once here: the routes it lists are taken as programmed by a
    /// previous run (so they are removed when no longer wanted).
    public init(selfName: String, routesFile: String, table: (any NodeRouteTable)?, logger: Logger = Logger(label: "nodekit.node-routes")) {
        self.selfName = selfName
        self.routesFile = routesFile
        self.table = table
        self.logger = logger
        let previous = FileManager.default.contents(atPath: routesFile).flatMap { try? JSONDecoder().decode([NodeRoutesFile.Route].self, from: $0) } ?? []
        state = Mutex(State(programmed: Set(previous)))
    }

    /// Syncs from `informer`'s cache after every Node add, update and delete it delivers.
    public func follow(_ informer: Informer<Node>) {
        informer.addHandler(.key { [self] _ in self.sync(nodes: informer.cache.list()) })
    }

    /// One step: writes the routes file when its content changes, then programs every wanted
    /// route that is new (every one with `full`, on the first sync, and after a failed step) and
    /// removes programmed routes that are no longer wanted. Never throws: failures are logged
    /// and returned. A periodic `full` sync restores routes someone else deleted.
    @discardableResult
    public func sync(nodes: [Node], full: Bool = false) -> Outcome {
        let wanted = NodeRoutesFile.routes(nodes: nodes, selfName: selfName)
        return state.withLock { s in
            var outcome = Outcome(routes: wanted, fileChanged: false, added: [], removed: [], failures: [])
            do { outcome.fileChanged = try NodeRoutesFile.write(wanted, to: routesFile) } catch {
                outcome.failures.append("write \(routesFile): \(error)")
            }
            if let table {
                // A destination whose gateway changed is replaced, not removed: removing the old
                // (dst, gw) afterwards would find the new route and must leave it.
                let wantedDestinations = Set(wanted.map(\.dst))
                for route in wanted where full || !s.clean || !s.programmed.contains(route) {
                    do {
                        try table.replace(route)
                        if s.programmed.insert(route).inserted { outcome.added.append(route) }
                    } catch {
                        outcome.failures.append("route \(route.dst) via \(route.gw): \(error)")
                    }
                }
                for route in s.programmed.subtracting(wanted).sorted(by: { ($0.dst, $0.gw) < ($1.dst, $1.gw) }) {
                    if wantedDestinations.contains(route.dst) {
                        s.programmed.remove(route)
                        continue
                    }
                    do {
                        try table.remove(route)
                        s.programmed.remove(route)
                        outcome.removed.append(route)
                    } catch {
                        outcome.failures.append("remove route \(route.dst) via \(route.gw): \(error)")
                    }
                }
                s.clean = outcome.failures.isEmpty
            }
            if outcome.fileChanged || !outcome.added.isEmpty || !outcome.removed.isEmpty {
                logger.info("node routes updated", metadata: ["routes": "\(wanted.count)", "file": "\(routesFile)",
                                                              "added": "\(outcome.added.count)", "removed": "\(outcome.removed.count)"])
            }
            for failure in outcome.failures {
                logger.error("node routes: step failed; retrying on the next sync", metadata: ["error": "\(failure)"])
            }
            return outcome
        }
    }
}

import NFTables
import Netlink

/// Deletes stale UDP conntrack entries after a sync, as upstream's kube-proxy does. UDP has no
/// connection to end, so without this a client that keeps sending from one port stays on the
/// entry's old translation until it idles out:
/// - an entry to a Service address (ClusterIP, externalIP, LoadBalancer IP, or any address at
///   a NodePort) whose reply source is not one of the Service port's endpoints now is stale:
///   its endpoint went away, or it was made while the Service had no endpoints (no DNAT, the
///   reply source is the Service address itself) and the Service has gained some.
///
/// TCP and SCTP need none of this: their connections to a removed endpoint fail and the
/// client reconnects. Call ``clean(_:changed:kind:)`` only after the new rules are in the
/// kernel, or a deleted entry is re-created with the old translation. Thread-safe.
public final class ConntrackCleaner: Sendable {
    private let conntrack: any ConntrackInterface

    public init(conntrack: any ConntrackInterface) {
        self.conntrack = conntrack
    }

    /// What one cleanup did.
    public struct Report: Sendable, Equatable {
        /// Entries looked at (0 when no UDP Service port was in scope and nothing was dumped).
        public var examined: Int
        public var deleted: [ConntrackEntry]
    }

    /// Deletes the stale entries of the UDP Service ports in scope: all of them after a full
    /// sync, those in `changed` after a partial one. Dumps the table only when some UDP port
    /// is in scope. Throws the first netlink failure (entries deleted before it stay deleted).
    @discardableResult
    public func clean(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws(NetlinkError) -> Report {
        let scope = Self.scope(state, changed: changed, kind: kind)
        let families = Set(scope.flatMap { name in
            state.services[name].map { ($0.clusterIPs + $0.externalIPs + $0.loadBalancerIngressIPs).map(\.family) } ?? []
        }).union(scope.contains { state.services[$0]?.nodePort ?? 0 != 0 } ? [.ip, .ip6] : [])
        var entries: [ConntrackEntry] = []
        for family in families.sorted(by: { $0.rawValue < $1.rawValue }) {
            entries += try conntrack.entries(family: family == .ip ? 2 : 10)
        }
        let stale = Self.staleEntries(entries, state: state, scope: scope)
        for entry in stale { try conntrack.delete(entry) }
        return Report(examined: entries.count, deleted: stale)
    }

    /// The UDP Service ports a cleanup after this sync looks at.
    static func scope(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) -> Set<ServicePortName> {
        let candidates = kind == .full ? Set(state.services.keys) : changed
        return candidates.filter { $0.protocol == .udp && state.services[$0] != nil }
    }

    /// An address and port as conntrack tuples carry them.
    struct Destination: Hashable {
        var address: [UInt8]
        var port: UInt16
    }

    /// The entries among `entries` that are stale for the Service ports in `scope` (pure; the
    /// rule set is documented on the type).
    static func staleEntries(_ entries: [ConntrackEntry], state: ProxyState, scope: Set<ServicePortName>) -> [ConntrackEntry] {
        var byAddress: [Destination: Set<Destination>] = [:]
        var byNodePort: [UInt16: Set<Destination>] = [:]
        for name in scope {
            guard let info = state.services[name] else { continue }
            let selection = EndpointSelection(service: info, endpoints: state.endpoints[name] ?? [])
            let endpoints = Set((selection.cluster + selection.local).map { Destination(address: $0.ip.bytes, port: $0.port) })
            for ip in info.clusterIPs + info.externalIPs + info.loadBalancerIngressIPs {
                byAddress[Destination(address: ip.bytes, port: info.port), default: []].formUnion(endpoints)
            }
            if info.nodePort != 0 { byNodePort[info.nodePort, default: []].formUnion(endpoints) }
        }
        let udp = TransportProtocol.udp.number
        return entries.filter { entry in
            guard entry.original.protocolNumber == udp else { return false }
            let replySource = Destination(address: entry.reply.source, port: entry.reply.sourcePort)
            if let endpoints = byAddress[Destination(address: entry.original.destination, port: entry.original.destinationPort)] {
                return !endpoints.contains(replySource)
            }
            if let endpoints = byNodePort[entry.original.destinationPort] {
                return !endpoints.contains(replySource)
            }
            return false
        }
    }
}

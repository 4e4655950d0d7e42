import KubeClient
import Synchronization

/// A routing table in memory for ``NodeRoutesSync`` tests: one route per destination, as the
/// kernel's main table keeps one unicast route per prefix. `replace` overwrites the gateway;
/// `remove` deletes only a route with that gateway (as the real table leaves a route that now
/// goes elsewhere alone). Routes added by ``addForeign(_:)`` stand for someone else's.
public final class FakeNodeRouteTable: NodeRouteTable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private struct State {
        var routes: [String: String] = [:]
        var failing: Set<String> = []
        var calls = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Destination to gateway, as the table holds them now.
    public var routes: [String: String] { state.withLock { $0.routes } }

    /// How many replace and remove calls were made.
    public var calls: Int { state.withLock { $0.calls } }

    /// Makes every replace or remove of `destination` fail until ``heal(_:)``.
    public func fail(_ destination: String) { state.withLock { _ = $0.failing.insert(destination) } }
    public func heal(_ destination: String) { state.withLock { _ = $0.failing.remove(destination) } }

    /// A route this table's user did not program (another tool's, or an administrator's).
    public func addForeign(_ route: NodeRoutesFile.Route) { state.withLock { $0.routes[route.dst] = route.gw } }

    /// Deletes a route behind the user's back (as `ip route del` would).
    public func dropBehindBack(_ destination: String) { state.withLock { _ = $0.routes.removeValue(forKey: destination) } }

    public func replace(_ route: NodeRoutesFile.Route) throws {
        try state.withLock { s throws(Failure) in
            s.calls += 1
            if s.failing.contains(route.dst) { throw Failure(description: "replace route \(route.dst) via \(route.gw): injected failure") }
            s.routes[route.dst] = route.gw
        }
    }

    public func remove(_ route: NodeRoutesFile.Route) throws {
        try state.withLock { s throws(Failure) in
            s.calls += 1
            if s.failing.contains(route.dst) { throw Failure(description: "remove route \(route.dst) via \(route.gw): injected failure") }
            if s.routes[route.dst] == route.gw { s.routes.removeValue(forKey: route.dst) }
        }
    }
}

import KubeClient
import Netlink

/// ``NodeRouteTable`` over rtnetlink in the process's network namespace (the node's: agents of
/// hack/cluster-up.sh run inside their node's namespace). One netlink socket per call, so the
/// table holds no descriptor between the agent's rare route changes.
struct NodeRouteKernel: NodeRouteTable {
    struct RouteError: Error, CustomStringConvertible {
        var description: String
    }

    func replace(_ route: NodeRoutesFile.Route) throws {
        let (destination, gateway) = try Self.parse(route)
        do {
            let netlink = RouteNetlink(socket: try MnlSocket())
            try netlink.addRoute(RouteInfo(destination: destination, gateway: gateway), replace: true)
        } catch {
            throw RouteError(description: "replace route \(route.dst) via \(route.gw): \(error)")
        }
    }

    func remove(_ route: NodeRoutesFile.Route) throws {
        let (destination, gateway) = try Self.parse(route)
        do {
            let netlink = RouteNetlink(socket: try MnlSocket())
            // Only the route this node programmed: one that now goes another way is someone else's.
            guard let current = try netlink.routes(family: destination.address.family).first(where: { $0.destination == destination && $0.gateway == gateway }) else { return }
            try netlink.deleteRoute(current)
        } catch where error.errno == 3 {
            // ESRCH: removed meanwhile.
        } catch {
            throw RouteError(description: "remove route \(route.dst) via \(route.gw): \(error)")
        }
    }

    static func parse(_ route: NodeRoutesFile.Route) throws(RouteError) -> (IPPrefix, IPAddress) {
        guard let destination = IPPrefix(route.dst)?.network, let gateway = IPAddress(route.gw) else {
            throw RouteError(description: "route \(route.dst) via \(route.gw): not an IP prefix and an IP address")
        }
        return (destination, gateway)
    }
}

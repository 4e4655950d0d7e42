/// Filters out nodes where a host port the pod asks for is taken. A wildcard host IP
/// (0.0.0.0) conflicts with every IP on the same protocol and port.
public struct NodePorts: FilterPlugin {
    public let name = "NodePorts"
    public static let reason = "node(s) didn't have free ports for the requested pod ports"
    public init() {}

    /// A pod without host ports conflicts with nothing.
    public func skipsFilter(_ state: CycleState) -> Bool { state.hostPorts.isEmpty }

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        guard node.hasUsedPorts else { return .success }
        for wanted in state.hostPorts {
            let parts = wanted.split(separator: "/", omittingEmptySubsequences: false)
            let (proto, ip, port) = (parts[0], parts[1], parts[2])
            for used in node.usedPorts {
                let u = used.split(separator: "/", omittingEmptySubsequences: false)
                guard u[0] == proto, u[2] == port else { continue }
                if u[1] == ip || u[1] == "0.0.0.0" || ip == "0.0.0.0" { return .unschedulable(Self.reason) }
            }
        }
        return .success
    }
}

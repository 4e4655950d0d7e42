/// Filters out every node but the one named in `spec.nodeName`, when set.
public struct NodeName: FilterPlugin {
    public let name = "NodeName"
    public static let reason = "node(s) didn't match the requested node name"
    public init() {}

    public func filter(_ state: CycleState, node: NodeInfo) -> PluginStatus {
        guard let wanted = state.pod.spec.nodeName, !wanted.isEmpty else { return .success }
        return wanted == node.name ? .success : .unresolvable(Self.reason)
    }

    public func skipsFilter(_ state: CycleState) -> Bool { (state.pod.spec.nodeName ?? "").isEmpty }
}

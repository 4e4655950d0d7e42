import Foundation
import KubeAPI

/// Registers a Node object for this machine, as the kubelet's `registerWithAPIServer` does:
/// create it with the well-known labels and addresses, or, when it exists (a restart, or a
/// name reused), merge the labels this agent owns. Never touches `spec.podCIDR` (the server's
/// node IPAM owns it) nor conditions and capacity (the node status manager owns them).
public struct NodeRegistration: Sendable {
    public var nodeName: String
    public var internalIP: String?
    public var labels: [String: String]

    public init(nodeName: String, internalIP: String?, extraLabels: [String: String] = [:]) {
        self.nodeName = nodeName
        self.internalIP = internalIP
        var l = ["kubernetes.io/hostname": nodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": Self.architecture]
        for (k, v) in extraLabels { l[k] = v }
        labels = l
    }

    static var architecture: String {
        #if arch(x86_64)
        "amd64"
        #elseif arch(arm64)
        "arm64"
        #else
        "unknown"
        #endif
    }

    /// The Node this agent creates.
    public var node: Node {
        var n = Node(metadata: ObjectMeta(name: nodeName, labels: labels), spec: NodeSpec())
        var addresses = [NodeAddress(type: "Hostname", address: nodeName)]
        if let ip = internalIP { addresses.insert(NodeAddress(type: "InternalIP", address: ip), at: 0) }
        var status = NodeStatus()
        status.addresses = addresses
        n.status = status
        return n
    }

    /// Creates the Node or merges the agent's labels into the existing one, then makes sure
    /// its addresses are reported (status subresource). Returns the Node as stored.
    @discardableResult
    public func register(with client: any KubeAPIClient) async throws(KubeClientError) -> Node {
        do {
            _ = try await client.create(node, options: WriteOptions(fieldManager: "nodekit-agent"))
        } catch where error.isAlreadyExists {
            let patch: JSONValue = .object(["metadata": .object(["labels": .object(labels.mapValues { JSONValue.string($0) })])])
            _ = try await client.patch(Node.self, namespace: nil, name: nodeName, patch: patch, patchType: .merge, subresource: nil, options: WriteOptions())
        }
        let addresses = (node.status?.addresses ?? []).map { JSONValue.object(["type": .string($0.type), "address": .string($0.address)]) }
        return try await client.patch(Node.self, namespace: nil, name: nodeName, patch: .object(["status": .object(["addresses": .array(addresses)])]),
                                      patchType: .merge, subresource: "status", options: WriteOptions())
    }
}

import KubeAPI

/// core/v1 nodes, with status.
enum Nodes {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "Node", plural: "nodes", shortNames: ["no"], namespaced: false,
        subresources: ["status"],
        columns: [
            .name,
            TableColumn("Status", description: "The status of the node") { o, _ in
                let ready = (o[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }
                var text = ready?["status"]?.stringValue == "True" ? "Ready" : ready == nil ? "Unknown" : "NotReady"
                if o[path: ["spec", "unschedulable"]]?.boolValue == true { text += ",SchedulingDisabled" }
                return .string(text)
            },
            TableColumn("Roles", description: "The roles of the node") { o, _ in
                let roles = o.labels.keys.compactMap { key -> String? in
                    guard key.hasPrefix("node-role.kubernetes.io/") else { return nil }
                    return String(key.dropFirst("node-role.kubernetes.io/".count))
                }.sorted()
                return .string(roles.isEmpty ? "<none>" : roles.joined(separator: ","))
            },
            .age,
            TableColumn("Version", description: "Kubelet Version reported by the node.") { o, _ in .string(o[path: ["status", "nodeInfo", "kubeletVersion"]]?.stringValue ?? "") },
            TableColumn("Internal-IP", priority: 1, description: "List of internal IPs.") { o, _ in .string(address(o, "InternalIP")) },
            TableColumn("External-IP", priority: 1, description: "List of external IPs.") { o, _ in .string(address(o, "ExternalIP")) },
            TableColumn("OS-Image", priority: 1, description: "OS image reported by the node.") { o, _ in .string(o[path: ["status", "nodeInfo", "osImage"]]?.stringValue ?? "") },
            TableColumn("Kernel-Version", priority: 1, description: "Kernel version reported by the node.") { o, _ in .string(o[path: ["status", "nodeInfo", "kernelVersion"]]?.stringValue ?? "") },
            TableColumn("Container-Runtime", priority: 1, description: "Container runtime reported by the node.") { o, _ in .string(o[path: ["status", "nodeInfo", "containerRuntimeVersion"]]?.stringValue ?? "") },
        ],
        fieldSelectors: ["spec.unschedulable": { o in o[path: ["spec", "unschedulable"]]?.boolValue == true ? "true" : "false" }]
    )

    static func address(_ o: JSONObject, _ type: String) -> String {
        let list = (o[path: ["status", "addresses"]]?.arrayValue ?? []).filter { $0["type"]?.stringValue == type }.compactMap { $0["address"]?.stringValue }
        return list.isEmpty ? "<none>" : list.joined(separator: ",")
    }
}

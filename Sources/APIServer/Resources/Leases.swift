import KubeAPI

/// coordination.k8s.io/v1 leases (node heartbeats, leader election).
enum Leases {
    static let definition = ResourceDefinition(
        group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases",
        columns: [
            .name,
            TableColumn("Holder", description: "Holder of the lease") { o, _ in .string(o[path: ["spec", "holderIdentity"]]?.stringValue ?? "") },
            .age,
        ]
    )
}

import KubeAPI

/// core/v1 serviceaccounts.
enum ServiceAccounts {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", shortNames: ["sa"],
        subresources: ["token"],
        columns: [
            .name,
            TableColumn("Secrets", type: "integer") { o, _ in .int(o["secrets"]?.arrayValue?.count ?? 0) },
            .age,
        ]
    )
}

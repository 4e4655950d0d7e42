import KubeAPI

/// core/v1 configmaps.
enum ConfigMaps {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", shortNames: ["cm"],
        columns: [
            .name,
            TableColumn("Data", type: "integer") { o, _ in .int((o["data"]?.objectValue?.count ?? 0) + (o["binaryData"]?.objectValue?.count ?? 0)) },
            .age,
        ],
        validate: { o, _ in
            var errors: [FieldError] = []
            for (key, value) in o["data"]?.objectValue ?? [:] where value.stringValue == nil {
                errors.append(FieldError(.invalid, "data[\(key)]", "must be a string"))
            }
            return errors
        }
    )
}

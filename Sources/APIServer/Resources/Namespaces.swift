import KubeAPI

/// core/v1 namespaces. Deletion moves a namespace to Terminating; the namespace controller
/// empties it and clears spec.finalizers through the finalize subresource.
enum Namespaces {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "Namespace", plural: "namespaces", shortNames: ["ns"], namespaced: false,
        verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
        subresources: ["status", "finalize"],
        columns: [
            .name,
            TableColumn("Status", description: "The status of the namespace") { o, _ in .string(o[path: ["status", "phase"]]?.stringValue ?? "") },
            .age,
        ],
        fieldSelectors: ["status.phase": { $0[path: ["status", "phase"]]?.stringValue ?? "" }],
        nameRule: .label,
        defaults: { o in
            if o[path: ["spec", "finalizers"]] == nil { o[path: ["spec", "finalizers"]] = .array([.string("kubernetes")]) }
            if o[path: ["status", "phase"]] == nil { o[path: ["status", "phase"]] = .string("Active") }
            var labels = o.metadata["labels"]?.objectValue ?? [:]
            labels["kubernetes.io/metadata.name"] = .string(o.name)
            o.metadata["labels"] = .object(labels)
        }
    )
}

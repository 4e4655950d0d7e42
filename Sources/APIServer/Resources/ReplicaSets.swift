import KubeAPI

/// apps/v1 replicasets, with scale and status.
enum ReplicaSets {
    static let definition = ResourceDefinition(
        group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", shortNames: ["rs"], categories: ["all"],
        subresources: ["status", "scale"],
        columns: [
            .name,
            TableColumn("Desired", type: "integer", description: "Number of desired pods.") { o, _ in .int(PodSpecRules.int(o[path: ["spec", "replicas"]])) },
            TableColumn("Current", type: "integer", description: "Number of actual replicas.") { o, _ in .int(PodSpecRules.int(o[path: ["status", "replicas"]])) },
            TableColumn("Ready", type: "integer", description: "The number of ready replicas.") { o, _ in .int(PodSpecRules.int(o[path: ["status", "readyReplicas"]])) },
            .age,
            TableColumn("Containers", priority: 1) { o, _ in .string(PodSpecRules.containerNames(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Images", priority: 1) { o, _ in .string(PodSpecRules.images(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Selector", priority: 1) { o, _ in .string(PodSpecRules.selectorText(o[path: ["spec", "selector"]])) },
        ],
        tracksGeneration: true,
        defaults: { o in
            PodSpecRules.defaultReplicas(&o)
            PodSpecRules.defaultTemplate(&o)
        },
        validate: { o, _ in PodSpecRules.validateReplicas(o) + PodSpecRules.validateWorkload(o) }
    )
}

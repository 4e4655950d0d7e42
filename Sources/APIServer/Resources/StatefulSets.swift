import KubeAPI

/// apps/v1 statefulsets, with scale and status.
enum StatefulSets {
    static let definition = ResourceDefinition(
        group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", shortNames: ["sts"], categories: ["all"],
        subresources: ["status", "scale"],
        columns: [
            .name,
            TableColumn("Ready") { o, _ in
                .string("\(PodSpecRules.int(o[path: ["status", "readyReplicas"]]))/\(PodSpecRules.int(o[path: ["spec", "replicas"]]))")
            },
            .age,
            TableColumn("Containers", priority: 1) { o, _ in .string(PodSpecRules.containerNames(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Images", priority: 1) { o, _ in .string(PodSpecRules.images(o[path: ["spec", "template", "spec"]])) },
        ],
        tracksGeneration: true,
        defaults: { o in
            PodSpecRules.defaultReplicas(&o)
            if o[path: ["spec", "podManagementPolicy"]] == nil { o[path: ["spec", "podManagementPolicy"]] = .string("OrderedReady") }
            if o[path: ["spec", "updateStrategy"]] == nil {
                o[path: ["spec", "updateStrategy"]] = .object(["type": .string("RollingUpdate"), "rollingUpdate": .object(["partition": .int(0)])])
            }
            if o[path: ["spec", "revisionHistoryLimit"]] == nil { o[path: ["spec", "revisionHistoryLimit"]] = .int(10) }
            PodSpecRules.defaultTemplate(&o)
        },
        validate: { o, _ in PodSpecRules.validateReplicas(o) + PodSpecRules.validateWorkload(o) }
    )
}

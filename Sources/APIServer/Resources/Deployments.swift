import KubeAPI

/// apps/v1 deployments, with scale and status.
enum Deployments {
    static let definition = ResourceDefinition(
        group: "apps", version: "v1", kind: "Deployment", plural: "deployments", shortNames: ["deploy"], categories: ["all"],
        subresources: ["status", "scale"],
        columns: [
            .name,
            TableColumn("Ready", description: "Number of the pod with ready state") { o, _ in
                .string("\(PodSpecRules.int(o[path: ["status", "readyReplicas"]]))/\(PodSpecRules.int(o[path: ["spec", "replicas"]]))")
            },
            TableColumn("Up-to-date", type: "integer", description: "Total number of non-terminated pods targeted by this deployment that have the desired template spec.") { o, _ in .int(PodSpecRules.int(o[path: ["status", "updatedReplicas"]])) },
            TableColumn("Available", type: "integer", description: "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.") { o, _ in .int(PodSpecRules.int(o[path: ["status", "availableReplicas"]])) },
            .age,
            TableColumn("Containers", priority: 1, description: "Names of each container in the template.") { o, _ in .string(PodSpecRules.containerNames(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Images", priority: 1, description: "Images referenced by each container in the template.") { o, _ in .string(PodSpecRules.images(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Selector", priority: 1, description: "Label selector for pods.") { o, _ in .string(PodSpecRules.selectorText(o[path: ["spec", "selector"]])) },
        ],
        tracksGeneration: true,
        defaults: { o in
            PodSpecRules.defaultReplicas(&o)
            if o[path: ["spec", "strategy"]] == nil {
                o[path: ["spec", "strategy"]] = .object(["type": .string("RollingUpdate"),
                                                         "rollingUpdate": .object(["maxUnavailable": .string("25%"), "maxSurge": .string("25%")])])
            }
            if o[path: ["spec", "revisionHistoryLimit"]] == nil { o[path: ["spec", "revisionHistoryLimit"]] = .int(10) }
            if o[path: ["spec", "progressDeadlineSeconds"]] == nil { o[path: ["spec", "progressDeadlineSeconds"]] = .int(600) }
            PodSpecRules.defaultTemplate(&o)
        },
        validate: { o, _ in PodSpecRules.validateReplicas(o) + PodSpecRules.validateWorkload(o) }
    )
}

import KubeAPI

/// apps/v1 daemonsets, with status.
enum DaemonSets {
    static let definition = ResourceDefinition(
        group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", shortNames: ["ds"], categories: ["all"],
        subresources: ["status"],
        columns: [
            .name,
            TableColumn("Desired", type: "integer") { o, _ in .int(PodSpecRules.int(o[path: ["status", "desiredNumberScheduled"]])) },
            TableColumn("Current", type: "integer") { o, _ in .int(PodSpecRules.int(o[path: ["status", "currentNumberScheduled"]])) },
            TableColumn("Ready", type: "integer") { o, _ in .int(PodSpecRules.int(o[path: ["status", "numberReady"]])) },
            TableColumn("Up-to-date", type: "integer") { o, _ in .int(PodSpecRules.int(o[path: ["status", "updatedNumberScheduled"]])) },
            TableColumn("Available", type: "integer") { o, _ in .int(PodSpecRules.int(o[path: ["status", "numberAvailable"]])) },
            TableColumn("Node Selector") { o, _ in
                let s = o[path: ["spec", "template", "spec", "nodeSelector"]]?.stringMap ?? [:]
                return .string(s.isEmpty ? "<none>" : s.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))
            },
            .age,
            TableColumn("Containers", priority: 1) { o, _ in .string(PodSpecRules.containerNames(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Images", priority: 1) { o, _ in .string(PodSpecRules.images(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Selector", priority: 1) { o, _ in .string(PodSpecRules.selectorText(o[path: ["spec", "selector"]])) },
        ],
        tracksGeneration: true,
        defaults: { o in
            if o[path: ["spec", "updateStrategy"]] == nil {
                o[path: ["spec", "updateStrategy"]] = .object(["type": .string("RollingUpdate"),
                                                               "rollingUpdate": .object(["maxUnavailable": .int(1), "maxSurge": .int(0)])])
            }
            if o[path: ["spec", "revisionHistoryLimit"]] == nil { o[path: ["spec", "revisionHistoryLimit"]] = .int(10) }
            PodSpecRules.defaultTemplate(&o)
        },
        validate: { o, _ in PodSpecRules.validateWorkload(o) }
    )
}

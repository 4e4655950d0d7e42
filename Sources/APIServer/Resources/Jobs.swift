import KubeAPI

/// batch/v1 jobs, with status. The selector and its controller-uid label are generated as
/// upstream does when `manualSelector` is not set.
enum Jobs {
    static let definition = ResourceDefinition(
        group: "batch", version: "v1", kind: "Job", plural: "jobs", categories: ["all"],
        subresources: ["status"],
        columns: [
            .name,
            TableColumn("Status") { o, _ in
                let conditions = o[path: ["status", "conditions"]]?.arrayValue ?? []
                func has(_ type: String) -> Bool { conditions.contains { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" } }
                return .string(has("Complete") ? "Complete" : has("Failed") ? "Failed" : "Running")
            },
            TableColumn("Completions") { o, _ in
                .string("\(PodSpecRules.int(o[path: ["status", "succeeded"]]))/\(o[path: ["spec", "completions"]]?.intValue ?? 1)")
            },
            TableColumn("Duration") { o, now in
                .string(Timestamp.age(o[path: ["status", "startTime"]]?.stringValue, now: now))
            },
            .age,
            TableColumn("Containers", priority: 1) { o, _ in .string(PodSpecRules.containerNames(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Images", priority: 1) { o, _ in .string(PodSpecRules.images(o[path: ["spec", "template", "spec"]])) },
            TableColumn("Selector", priority: 1) { o, _ in .string(PodSpecRules.selectorText(o[path: ["spec", "selector"]])) },
        ],
        tracksGeneration: true,
        defaults: { o in
            if o[path: ["spec", "completions"]] == nil { o[path: ["spec", "completions"]] = .int(1) }
            if o[path: ["spec", "parallelism"]] == nil { o[path: ["spec", "parallelism"]] = .int(1) }
            if o[path: ["spec", "backoffLimit"]] == nil { o[path: ["spec", "backoffLimit"]] = .int(6) }
            if o[path: ["spec", "completionMode"]] == nil { o[path: ["spec", "completionMode"]] = .string("NonIndexed") }
            if o[path: ["spec", "suspend"]] == nil { o[path: ["spec", "suspend"]] = .bool(false) }
            if o[path: ["spec", "template", "spec", "restartPolicy"]] == nil {
                o[path: ["spec", "template", "spec", "restartPolicy"]] = .string("Never")
            }
            if o[path: ["spec", "manualSelector"]]?.boolValue != true, let uid = o.metadata["uid"]?.stringValue {
                o[path: ["spec", "selector"]] = .object(["matchLabels": .object(["batch.kubernetes.io/controller-uid": .string(uid)])])
                var labels = o[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
                labels["batch.kubernetes.io/controller-uid"] = .string(uid)
                labels["batch.kubernetes.io/job-name"] = .string(o.name)
                labels["controller-uid"] = .string(uid)
                labels["job-name"] = .string(o.name)
                o[path: ["spec", "template", "metadata", "labels"]] = .object(labels)
            }
            PodSpecRules.defaultTemplate(&o)
        },
        validate: { o, _ in
            var errors = PodSpecRules.validateWorkload(o, needsSelector: false)
            if let policy = o[path: ["spec", "template", "spec", "restartPolicy"]]?.stringValue, policy == "Always" {
                errors.append(FieldError(.notSupported, "spec.template.spec.restartPolicy", value: policy, "supported values: \"OnFailure\", \"Never\""))
            }
            return errors
        }
    )
}

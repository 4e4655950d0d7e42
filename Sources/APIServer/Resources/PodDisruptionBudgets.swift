import KubeAPI

/// policy/v1 poddisruptionbudgets, with status. Eviction reads them (see ``Eviction``).
enum PodDisruptionBudgets {
    static let definition = ResourceDefinition(
        group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", shortNames: ["pdb"],
        subresources: ["status"],
        columns: [
            .name,
            TableColumn("Min Available") { o, _ in .string(text(o[path: ["spec", "minAvailable"]])) },
            TableColumn("Max Unavailable") { o, _ in .string(text(o[path: ["spec", "maxUnavailable"]])) },
            TableColumn("Allowed Disruptions", type: "integer") { o, _ in .int(PodSpecRules.int(o[path: ["status", "disruptionsAllowed"]])) },
            .age,
        ],
        tracksGeneration: true,
        validate: { o, _ in
            var errors: [FieldError] = []
            if o[path: ["spec", "minAvailable"]] != nil && o[path: ["spec", "maxUnavailable"]] != nil {
                errors.append(FieldError(.invalid, "spec", "minAvailable and maxUnavailable cannot be both set"))
            }
            return errors
        }
    )

    static func text(_ value: JSONValue?) -> String {
        if let s = value?.stringValue { return s }
        if let n = value?.intValue { return String(n) }
        return "N/A"
    }
}

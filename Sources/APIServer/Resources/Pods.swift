import KubeAPI

/// core/v1 pods, with status, binding, eviction, log and exec.
enum Pods {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "Pod", plural: "pods", shortNames: ["po"], categories: ["all"],
        subresources: ["status", "binding", "eviction", "log", "exec", "attach", "portforward"],
        columns: [
            .name,
            TableColumn("Ready", description: "The aggregate readiness state of this pod for accepting traffic.") { o, _ in .string(ready(o)) },
            TableColumn("Status", description: "The aggregate status of the containers in this pod.") { o, _ in .string(statusText(o)) },
            TableColumn("Restarts", description: "The number of times the containers in this pod have been restarted.") { o, _ in .string(String(restarts(o))) },
            .age,
            TableColumn("IP", priority: 1, description: "IP address assigned to the pod") { o, _ in .string(o[path: ["status", "podIP"]]?.stringValue ?? "<none>") },
            TableColumn("Node", priority: 1, description: "Name of the node assigned to this pod") { o, _ in .string(o[path: ["spec", "nodeName"]]?.stringValue ?? "<none>") },
            TableColumn("Nominated Node", priority: 1, description: "Name of the node nominated to run this pod") { o, _ in .string(o[path: ["status", "nominatedNodeName"]]?.stringValue ?? "<none>") },
            TableColumn("Readiness Gates", priority: 1, description: "Readiness gates of the pod") { o, _ in
                let gates = o[path: ["spec", "readinessGates"]]?.arrayValue ?? []
                return .string(gates.isEmpty ? "<none>" : "\(gates.count)")
            },
        ],
        fieldSelectors: [
            "spec.nodeName": { $0[path: ["spec", "nodeName"]]?.stringValue ?? "" },
            "spec.restartPolicy": { $0[path: ["spec", "restartPolicy"]]?.stringValue ?? "" },
            "spec.schedulerName": { $0[path: ["spec", "schedulerName"]]?.stringValue ?? "" },
            "spec.serviceAccountName": { $0[path: ["spec", "serviceAccountName"]]?.stringValue ?? "" },
            "status.phase": { $0[path: ["status", "phase"]]?.stringValue ?? "" },
            "status.podIP": { $0[path: ["status", "podIP"]]?.stringValue ?? "" },
            "status.nominatedNodeName": { $0[path: ["status", "nominatedNodeName"]]?.stringValue ?? "" },
        ],
        tracksGeneration: true,
        defaults: { o in
            var spec = o["spec"]?.objectValue ?? [:]
            PodSpecRules.defaultSpec(&spec)
            o["spec"] = .object(spec)
            if o[path: ["status", "phase"]] == nil { o[path: ["status", "phase"]] = .string("Pending") }
        },
        validate: { o, old in
            var errors = PodSpecRules.validateSpec(o["spec"]?.objectValue, path: "spec")
            if let old, let e = updateChangesFixedFields(o, old) { errors.append(e) }
            return errors
        }
    )

    /// Pod specs are immutable but for container images, activeDeadlineSeconds and additions to
    /// tolerations (upstream's ValidatePodUpdate). nodeName changes only through binding.
    static func updateChangesFixedFields(_ new: JSONObject, _ old: JSONObject) -> FieldError? {
        // A status write keeps the old spec (the same storage: this compares nothing), and two
        // equal specs stay equal with their mutable fields cleared.
        if new["spec"] == old["spec"] { return nil }
        func mutableCleared(_ spec: JSONValue?) -> JSONValue? {
            guard var s = spec?.objectValue else { return spec }
            for field in ["containers", "initContainers"] {
                s[field] = s[field]?.arrayValue.map { list in
                    .array(list.map { c in
                        guard var c = c.objectValue else { return c }
                        c["image"] = nil
                        return .object(c)
                    })
                }
            }
            s["activeDeadlineSeconds"] = nil
            s["tolerations"] = nil
            return .object(s)
        }
        guard mutableCleared(new["spec"]) != mutableCleared(old["spec"]) else { return nil }
        return FieldError(.forbidden, "spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)")
    }

    static func ready(_ o: JSONObject) -> String {
        let total = o[path: ["spec", "containers"]]?.arrayValue?.count ?? 0
        let ready = (o[path: ["status", "containerStatuses"]]?.arrayValue ?? []).filter { $0["ready"]?.boolValue == true }.count
        return "\(ready)/\(total)"
    }

    static func restarts(_ o: JSONObject) -> Int64 {
        (o[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reduce(0) { $0 + ($1["restartCount"]?.intValue ?? 0) }
    }

    /// kubectl's STATUS: Terminating, a waiting/terminated container's reason, else the phase.
    static func statusText(_ o: JSONObject) -> String {
        if o.metadata["deletionTimestamp"] != nil { return "Terminating" }
        var reason = o[path: ["status", "reason"]]?.stringValue ?? o[path: ["status", "phase"]]?.stringValue ?? "Unknown"
        for (i, s) in (o[path: ["status", "initContainerStatuses"]]?.arrayValue ?? []).enumerated() {
            if let r = s[path: ["state", "terminated"]], r["exitCode"]?.intValue != 0 {
                return "Init:" + (r["reason"]?.stringValue ?? "Error")
            }
            if let w = s[path: ["state", "waiting", "reason"]]?.stringValue, w != "PodInitializing" { return "Init:" + w }
            if s["ready"]?.boolValue != true, s[path: ["state", "terminated"]] == nil {
                let total = o[path: ["spec", "initContainers"]]?.arrayValue?.count ?? 0
                return "Init:\(i)/\(total)"
            }
        }
        for s in (o[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reversed() {
            if let w = s[path: ["state", "waiting", "reason"]]?.stringValue {
                reason = w
            } else if let t = s[path: ["state", "terminated"]] {
                reason = t["reason"]?.stringValue ?? "ExitCode:\(t["exitCode"]?.intValue ?? 0)"
            }
        }
        return reason
    }

    /// Ready per the PodReady condition: what eviction budgets count.
    static func isReady(_ o: JSONObject) -> Bool {
        (o[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True" }
    }
}

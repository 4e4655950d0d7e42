import APIMachinery
import KubeAPI

/// Defaulting and validation shared by pods and every pod template (deployments, jobs, ...),
/// following upstream's core/v1 defaults and the parts of ValidatePodSpec clients rely on.
enum PodSpecRules {
    static func defaultSpec(_ spec: inout JSONObject) {
        if spec["restartPolicy"] == nil { spec["restartPolicy"] = .string("Always") }
        if spec["dnsPolicy"] == nil { spec["dnsPolicy"] = .string("ClusterFirst") }
        if spec["terminationGracePeriodSeconds"] == nil { spec["terminationGracePeriodSeconds"] = .int(30) }
        if spec["schedulerName"] == nil { spec["schedulerName"] = .string("default-scheduler") }
        if spec["securityContext"] == nil { spec["securityContext"] = .object([:]) }
        if spec["enableServiceLinks"] == nil { spec["enableServiceLinks"] = .bool(true) }
        for field in ["containers", "initContainers"] {
            guard let list = spec[field]?.arrayValue else { continue }
            spec[field] = .array(list.map { defaultContainer($0) })
        }
    }

    static func defaultContainer(_ value: JSONValue) -> JSONValue {
        guard var c = value.objectValue else { return value }
        if c["terminationMessagePath"] == nil { c["terminationMessagePath"] = .string("/dev/termination-log") }
        if c["terminationMessagePolicy"] == nil { c["terminationMessagePolicy"] = .string("File") }
        if c["resources"] == nil { c["resources"] = .object([:]) }
        if c["imagePullPolicy"] == nil, let image = c["image"]?.stringValue {
            // Upstream: Always for an untagged or :latest image, IfNotPresent otherwise.
            let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
            let tagged = lastComponent.contains(":") && !lastComponent.hasSuffix(":latest")
            c["imagePullPolicy"] = .string(tagged || image.contains("@") ? "IfNotPresent" : "Always")
        }
        if let ports = c["ports"]?.arrayValue {
            c["ports"] = .array(ports.map { port in
                guard var p = port.objectValue else { return port }
                if p["protocol"] == nil { p["protocol"] = .string("TCP") }
                return .object(p)
            })
        }
        return .object(c)
    }

    static func validateSpec(_ spec: JSONObject?, path: String) -> [FieldError] {
        guard let spec else { return [FieldError(.required, path)] }
        var errors: [FieldError] = []
        let containers = spec["containers"]?.arrayValue ?? []
        if containers.isEmpty { errors.append(FieldError(.required, "\(path).containers")) }
        var names: Set<String> = []
        for field in ["initContainers", "containers"] {
            for (i, value) in (spec[field]?.arrayValue ?? []).enumerated() {
                let p = "\(path).\(field)[\(i)]"
                guard let c = value.objectValue else {
                    errors.append(FieldError(.invalid, p, "must be an object"))
                    continue
                }
                let name = c["name"]?.stringValue ?? ""
                if name.isEmpty {
                    errors.append(FieldError(.required, "\(p).name"))
                } else if let e = NameValidation.dns1123Label(name).first {
                    errors.append(FieldError(.invalid, "\(p).name", value: name, e))
                } else if !names.insert(name).inserted {
                    errors.append(FieldError(.duplicate, "\(p).name", value: name))
                }
                if (c["image"]?.stringValue ?? "").isEmpty { errors.append(FieldError(.required, "\(p).image")) }
                for (j, port) in (c["ports"]?.arrayValue ?? []).enumerated() {
                    let number = port["containerPort"]?.intValue ?? 0
                    if !(1...65535).contains(number) {
                        errors.append(FieldError(.invalid, "\(p).ports[\(j)].containerPort", value: "\(number)", "must be between 1 and 65535, inclusive"))
                    }
                }
            }
        }
        if let policy = spec["restartPolicy"]?.stringValue, !["Always", "OnFailure", "Never"].contains(policy) {
            errors.append(FieldError(.notSupported, "\(path).restartPolicy", value: policy, "supported values: \"Always\", \"Never\", \"OnFailure\""))
        }
        return errors
    }

    /// Defaults a workload's `spec.template.spec`.
    static func defaultTemplate(_ object: inout JSONObject) {
        guard var spec = object[path: ["spec", "template", "spec"]]?.objectValue else { return }
        defaultSpec(&spec)
        object[path: ["spec", "template", "spec"]] = .object(spec)
    }

    /// Checks a workload: a selector that matches its template's labels, and a valid pod spec.
    static func validateWorkload(_ object: JSONObject, needsSelector: Bool = true) -> [FieldError] {
        var errors: [FieldError] = []
        let templateLabels = object[path: ["spec", "template", "metadata", "labels"]]?.stringMap ?? [:]
        if needsSelector {
            if let selectorValue = object[path: ["spec", "selector"]], let selector = try? selectorValue.decode(LabelSelector.self),
               !(selector.matchLabels ?? [:]).isEmpty || !(selector.matchExpressions ?? []).isEmpty {
                if !selector.matches(templateLabels) {
                    errors.append(FieldError(.invalid, "spec.template.metadata.labels", value: templateLabels.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","), "`selector` does not match template `labels`"))
                }
            } else {
                errors.append(FieldError(.required, "spec.selector"))
            }
        }
        errors += validateSpec(object[path: ["spec", "template", "spec"]]?.objectValue, path: "spec.template.spec")
        return errors
    }

    /// A comma-separated list of the images of a template's or pod's containers.
    static func images(_ spec: JSONValue?) -> String {
        (spec?["containers"]?.arrayValue ?? []).compactMap { $0["image"]?.stringValue }.joined(separator: ",")
    }

    static func containerNames(_ spec: JSONValue?) -> String {
        (spec?["containers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }.joined(separator: ",")
    }

    /// `a=b,c=d` for a label selector, as kubectl prints it.
    static func selectorText(_ selector: JSONValue?) -> String {
        guard let selector else { return "<none>" }
        var parts = (selector["matchLabels"]?.stringMap ?? [:]).map { "\($0.key)=\($0.value)" }.sorted()
        for e in selector["matchExpressions"]?.arrayValue ?? [] {
            let key = e["key"]?.stringValue ?? ""
            let values = (e["values"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
            switch e["operator"]?.stringValue {
            case "In": parts.append("\(key) in (\(values))")
            case "NotIn": parts.append("\(key) notin (\(values))")
            case "Exists": parts.append(key)
            default: parts.append("!\(key)")
            }
        }
        return parts.isEmpty ? "<none>" : parts.joined(separator: ",")
    }

    /// Defaults `spec.replicas` to 1 and checks it is not negative.
    static func defaultReplicas(_ object: inout JSONObject) {
        if object[path: ["spec", "replicas"]] == nil { object[path: ["spec", "replicas"]] = .int(1) }
    }

    static func validateReplicas(_ object: JSONObject) -> [FieldError] {
        guard let replicas = object[path: ["spec", "replicas"]] else { return [] }
        guard let n = replicas.intValue, n >= 0 else {
            return [FieldError(.invalid, "spec.replicas", value: "\(replicas)", "must be greater than or equal to 0")]
        }
        return []
    }

    static func int(_ value: JSONValue?) -> Int64 { value?.intValue ?? 0 }
}

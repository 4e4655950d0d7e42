import Foundation
import KubeAPI
import Store

/// The autoscaling/v1 Scale view of a workload: spec.replicas, status.replicas and the selector
/// as a string.
enum Scale {
    static func from(_ object: JSONObject, _ resource: ResourceDefinition) -> JSONObject {
        var metadata: JSONObject = [:]
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] { metadata[field] = object.metadata[field] }
        return [
            "kind": .string("Scale"), "apiVersion": .string("autoscaling/v1"), "metadata": .object(metadata),
            "spec": .object(["replicas": object[path: ["spec", "replicas"]] ?? .int(0)]),
            "status": .object([
                "replicas": object[path: ["status", "replicas"]] ?? .int(0),
                "selector": .string(PodSpecRules.selectorText(object[path: ["spec", "selector"]]).replacingOccurrences(of: "<none>", with: "")),
            ]),
        ]
    }

    /// The workload with the Scale's spec.replicas; a resourceVersion in the Scale is kept as
    /// the update's precondition.
    static func apply(_ scale: JSONObject, to current: JSONObject) throws(APIError) -> JSONObject {
        if let kind = scale["kind"]?.stringValue, kind != "Scale" {
            throw APIError.badRequest("the kind in the data (\(kind)) does not match the expected kind (Scale)")
        }
        guard let replicas = scale[path: ["spec", "replicas"]]?.intValue, replicas >= 0 else {
            throw APIError(code: 422, reason: "Invalid", message: "Scale.autoscaling \"\(current.name)\" is invalid: spec.replicas: Invalid value: must be greater than or equal to 0",
                           details: StatusDetails(name: current.name, group: "autoscaling", kind: "Scale", causes: [StatusCause(reason: "FieldValueInvalid", message: "must be greater than or equal to 0", field: "spec.replicas")]))
        }
        var object = current
        object[path: ["spec", "replicas"]] = .int(replicas)
        object.metadata["resourceVersion"] = scale.metadata["resourceVersion"] ?? current.metadata["resourceVersion"]
        return object
    }
}

extension RESTStorage {
    /// Changes a stored object with `mutate`, bypassing update validation (for subresources whose
    /// rules differ from a PUT's, like binding). Retries on concurrent writes.
    func modify(_ resource: ResourceDefinition, namespace: String?, name: String, dryRun: Bool,
                mutate: (inout JSONObject) throws(APIError) -> Void) async throws(APIError) -> JSONObject {
        for _ in 0..<32 {
            let kv = try await getKV(resource, namespace: namespace, name: name)
            let old = try decode(kv, resource)
            var object = old
            try mutate(&object)
            if dryRun { return object }
            do {
                return try await write(object, kv: kv, old: old, resource)
            } catch let error where error.reason == "Conflict" {
                continue
            }
        }
        throw APIError.conflict(resource, name: name, why: "too many concurrent updates")
    }
}

/// pods/binding: assigns a pod to a node, once.
struct PodBinding: Sendable {
    let storage: RESTStorage

    func bind(namespace: String, name: String, body: JSONValue, dryRun: Bool) async throws(APIError) -> JSONObject {
        guard let binding = body.objectValue, binding["kind"]?.stringValue ?? "Binding" == "Binding" else {
            throw APIError.badRequest("the body of a binding must be a Binding object")
        }
        if let bindingName = binding.metadata["name"]?.stringValue, !bindingName.isEmpty, bindingName != name {
            throw APIError.badRequest("the name of the object (\(bindingName)) does not match the name on the URL (\(name))")
        }
        guard let node = binding[path: ["target", "name"]]?.stringValue, !node.isEmpty else {
            throw APIError.invalid(Pods.definition, name: name, errors: [FieldError(.required, "target.name")])
        }
        let pods = Pods.definition
        _ = try await storage.modify(pods, namespace: namespace, name: name, dryRun: dryRun) { pod throws(APIError) in
            if pod.metadata["deletionTimestamp"] != nil {
                throw APIError.conflict(pods, name: name, why: "pod \(name) is being deleted, cannot be assigned to a host")
            }
            if let current = pod[path: ["spec", "nodeName"]]?.stringValue, !current.isEmpty {
                throw APIError.conflict(pods, name: name, why: "pod \(name) is already assigned to node \"\(current)\"")
            }
            pod[path: ["spec", "nodeName"]] = .string(node)
            var conditions = (pod[path: ["status", "conditions"]]?.arrayValue ?? []).filter { $0["type"]?.stringValue != "PodScheduled" }
            conditions.append(.object(["type": .string("PodScheduled"), "status": .string("True"),
                                       "lastTransitionTime": .string(Timestamp.format(storage.now())), "lastProbeTime": .null]))
            pod[path: ["status", "conditions"]] = .array(conditions)
        }
        return Self.success
    }

    /// What a binding answers (upstream's Status of a successful create), built once.
    private static let success = JSONValue.objectFromStatus(Status(status: "Success", code: 201))
}

/// pods/eviction: deletes a pod unless a PodDisruptionBudget forbids it (429, naming the budget).
struct Eviction: Sendable {
    let storage: RESTStorage

    func evict(namespace: String, name: String, body: JSONValue, dryRun: Bool) async throws(APIError) -> JSONObject {
        guard let eviction = body.objectValue, eviction["kind"]?.stringValue ?? "Eviction" == "Eviction" else {
            throw APIError.badRequest("the body of an eviction must be an Eviction object")
        }
        if let evictionName = eviction.metadata["name"]?.stringValue, !evictionName.isEmpty, evictionName != name {
            throw APIError.badRequest("name in URL does not match name in Eviction object")
        }
        let pods = Pods.definition
        let pod = try await storage.get(pods, namespace: namespace, name: name)
        var options = WriteOptions()
        options.dryRun = dryRun
        if let deleteOptions = eviction["deleteOptions"]?.objectValue {
            options.gracePeriodSeconds = deleteOptions["gracePeriodSeconds"]?.intValue
            options.propagationPolicy = deleteOptions["propagationPolicy"]?.stringValue
            options.preconditionUID = deleteOptions[path: ["preconditions", "uid"]]?.stringValue
            options.preconditionResourceVersion = deleteOptions[path: ["preconditions", "resourceVersion"]]?.stringValue
            // kubectl drain and nodectl evict --dry-run ask in the body, not in the query.
            if let values = deleteOptions["dryRun"]?.arrayValue {
                let asked = values.compactMap(\.stringValue)
                guard asked.allSatisfy({ $0 == "All" }) else {
                    throw APIError.badRequest("deleteOptions.dryRun: Unsupported value: \(asked): supported values: \"All\"")
                }
                if !asked.isEmpty { options.dryRun = true }
            }
        }
        let phase = pod[path: ["status", "phase"]]?.stringValue ?? ""
        // Terminal, being-deleted and unready pods do not count against a budget.
        if !["Succeeded", "Failed"].contains(phase) && pod.metadata["deletionTimestamp"] == nil && Pods.isReady(pod) {
            try await checkBudgets(for: pod, namespace: namespace)
        }
        _ = try await storage.delete(pods, namespace: namespace, name: name, options: options)
        return JSONValue.objectFromStatus(Status(status: "Success", code: 201))
    }

    private func checkBudgets(for pod: JSONObject, namespace: String) async throws(APIError) {
        let budgets = try await storage.list(PodDisruptionBudgets.definition, namespace: namespace, options: ListOptions()).items.filter { pdb in
            guard let selector = try? pdb[path: ["spec", "selector"]]?.decode(LabelSelector.self) else { return false }
            // A budget with an empty selector selects no pods in policy/v1? It selects all; upstream matches everything.
            return selector.matches(pod.labels)
        }
        guard !budgets.isEmpty else { return }
        if budgets.count > 1 {
            throw APIError.internalError("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
        }
        let pdb = budgets[0]
        guard let selector = try? pdb[path: ["spec", "selector"]]?.decode(LabelSelector.self) else { return }
        let matching = try await storage.list(Pods.definition, namespace: namespace, options: ListOptions()).items.filter {
            selector.matches($0.labels) && !["Succeeded", "Failed"].contains($0[path: ["status", "phase"]]?.stringValue ?? "")
        }
        let expected = Int64(matching.count)
        let healthy = Int64(matching.filter { Pods.isReady($0) && $0.metadata["deletionTimestamp"] == nil }.count)
        let desiredHealthy: Int64
        if let minAvailable = pdb[path: ["spec", "minAvailable"]] {
            desiredHealthy = Self.scaled(minAvailable, of: expected, roundUp: true)
        } else if let maxUnavailable = pdb[path: ["spec", "maxUnavailable"]] {
            desiredHealthy = max(0, expected - Self.scaled(maxUnavailable, of: expected, roundUp: true))
        } else {
            desiredHealthy = 0
        }
        let allowed = healthy - desiredHealthy
        guard allowed > 0 else {
            let message = "The disruption budget \(pdb.name) needs \(desiredHealthy) healthy pods and has \(healthy) currently"
            throw APIError(code: 429, reason: "TooManyRequests", message: "Cannot evict pod as it would violate the pod's disruption budget.",
                           details: StatusDetails(causes: [StatusCause(reason: "DisruptionBudget", message: message)]))
        }
    }

    /// An IntOrString budget value: a count, or a percentage of `total`.
    static func scaled(_ value: JSONValue, of total: Int64, roundUp: Bool) -> Int64 {
        if let n = value.intValue { return n }
        guard let text = value.stringValue, text.hasSuffix("%"), let percent = Double(text.dropLast()) else { return 0 }
        let exact = Double(total) * percent / 100
        return Int64(roundUp ? exact.rounded(.up) : exact.rounded(.down))
    }
}

/// pods/log: proxied to the kubelet of the pod's node (`/containerLogs/<ns>/<pod>/<container>`
/// at its ``KubeletAddress``).
struct PodLogs: Sendable {
    let storage: RESTStorage
    let kubelet: KubeletConnector

    func serve(namespace: String, name: String, query: [String: String]) async throws(APIError) -> APIResponse {
        let pod = try await storage.get(Pods.definition, namespace: namespace, name: name)
        let containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let initContainers = (pod[path: ["spec", "initContainers"]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        var container = query["container"] ?? ""
        if container.isEmpty {
            guard containers.count == 1 else {
                throw APIError.badRequest("a container name must be specified for pod \(name), choose one of: [\(containers.joined(separator: " "))]")
            }
            container = containers[0]
        }
        guard containers.contains(container) || initContainers.contains(container) else {
            throw APIError.badRequest("container \(container) is not valid for pod \(name)")
        }
        let address = try await KubeletAddress.of(pod: pod, storage: storage)
        var path = "/containerLogs/\(namespace)/\(name)/\(container)"
        let passed = ["previous", "follow", "tailLines", "sinceSeconds", "timestamps", "limitBytes"].compactMap { key in query[key].map { "\(key)=\($0)" } }
        if !passed.isEmpty { path += "?" + passed.joined(separator: "&") }
        return try await kubelet.get(host: address.host, port: address.port, path: path)
    }
}

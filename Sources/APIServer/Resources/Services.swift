import KubeAPI

/// core/v1 services. ClusterIPs and NodePorts are allocated by ``ServiceAllocator``.
enum Services {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "Service", plural: "services", shortNames: ["svc"], categories: ["all"],
        subresources: ["status"],
        columns: [
            .name,
            TableColumn("Type", description: "The type of the service") { o, _ in .string(o[path: ["spec", "type"]]?.stringValue ?? "") },
            TableColumn("Cluster-IP", description: "The cluster IP address of the service") { o, _ in .string(o[path: ["spec", "clusterIP"]]?.stringValue ?? "<none>") },
            TableColumn("External-IP", description: "The external IP addresses of the service") { o, _ in .string(externalIPs(o)) },
            TableColumn("Port(s)", description: "The ports of the service") { o, _ in .string(ports(o)) },
            .age,
            TableColumn("Selector", priority: 1, description: "The label selector of the service") { o, _ in
                let s = o[path: ["spec", "selector"]]?.stringMap ?? [:]
                return .string(s.isEmpty ? "<none>" : s.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))
            },
        ],
        fieldSelectors: [
            "spec.clusterIP": { $0[path: ["spec", "clusterIP"]]?.stringValue ?? "" },
            "spec.type": { $0[path: ["spec", "type"]]?.stringValue ?? "" },
        ],
        nameRule: .label,
        defaults: { o in
            var spec = o["spec"]?.objectValue ?? [:]
            if spec["type"] == nil { spec["type"] = .string("ClusterIP") }
            if spec["sessionAffinity"] == nil { spec["sessionAffinity"] = .string("None") }
            if spec["type"]?.stringValue != "ExternalName" {
                if spec["internalTrafficPolicy"] == nil { spec["internalTrafficPolicy"] = .string("Cluster") }
                if spec["ipFamilies"] == nil { spec["ipFamilies"] = .array([.string("IPv4")]) }
                if spec["ipFamilyPolicy"] == nil { spec["ipFamilyPolicy"] = .string("SingleStack") }
            }
            if let type = spec["type"]?.stringValue, type == "NodePort" || type == "LoadBalancer", spec["externalTrafficPolicy"] == nil {
                spec["externalTrafficPolicy"] = .string("Cluster")
            }
            if let ports = spec["ports"]?.arrayValue {
                spec["ports"] = .array(ports.map { port in
                    guard var p = port.objectValue else { return port }
                    if p["protocol"] == nil { p["protocol"] = .string("TCP") }
                    if p["targetPort"] == nil, let number = p["port"] { p["targetPort"] = number }
                    return .object(p)
                })
            }
            o["spec"] = .object(spec)
            if o["status"] == nil { o["status"] = .object(["loadBalancer": .object([:])]) }
        },
        validate: { o, old in
            var errors: [FieldError] = []
            let type = o[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
            if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(type) {
                errors.append(FieldError(.notSupported, "spec.type", value: type, "supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""))
            }
            let ports = o[path: ["spec", "ports"]]?.arrayValue ?? []
            let headless = o[path: ["spec", "clusterIP"]]?.stringValue == "None"
            if ports.isEmpty && type != "ExternalName" && !headless { errors.append(FieldError(.required, "spec.ports")) }
            var names: Set<String> = []
            for (i, p) in ports.enumerated() {
                let number = p["port"]?.intValue ?? 0
                if !(1...65535).contains(number) {
                    errors.append(FieldError(.invalid, "spec.ports[\(i)].port", value: "\(number)", "must be between 1 and 65535, inclusive"))
                }
                let name = p["name"]?.stringValue ?? ""
                if ports.count > 1 && name.isEmpty { errors.append(FieldError(.required, "spec.ports[\(i)].name")) }
                if !name.isEmpty && !names.insert(name).inserted { errors.append(FieldError(.duplicate, "spec.ports[\(i)].name", value: name)) }
                if let proto = p["protocol"]?.stringValue, !["TCP", "UDP", "SCTP"].contains(proto) {
                    errors.append(FieldError(.notSupported, "spec.ports[\(i)].protocol", value: proto, "supported values: \"SCTP\", \"TCP\", \"UDP\""))
                }
            }
            if let old, let was = old[path: ["spec", "clusterIP"]]?.stringValue, !was.isEmpty,
               let now = o[path: ["spec", "clusterIP"]]?.stringValue, !now.isEmpty, now != was, type != "ExternalName" {
                errors.append(FieldError(.invalid, "spec.clusterIPs[0]", value: now, "may not change once set"))
            }
            return errors
        }
    )

    static func externalIPs(_ o: JSONObject) -> String {
        var ips = (o[path: ["spec", "externalIPs"]]?.arrayValue ?? []).compactMap(\.stringValue)
        ips += (o[path: ["status", "loadBalancer", "ingress"]]?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue ?? $0["hostname"]?.stringValue }
        if let name = o[path: ["spec", "externalName"]]?.stringValue { return name }
        if ips.isEmpty { return o[path: ["spec", "type"]]?.stringValue == "LoadBalancer" ? "<pending>" : "<none>" }
        return ips.joined(separator: ",")
    }

    static func ports(_ o: JSONObject) -> String {
        let ports = o[path: ["spec", "ports"]]?.arrayValue ?? []
        if ports.isEmpty { return "<none>" }
        return ports.map { p in
            let port = p["port"]?.intValue ?? 0
            let proto = p["protocol"]?.stringValue ?? "TCP"
            if let nodePort = p["nodePort"]?.intValue { return "\(port):\(nodePort)/\(proto)" }
            return "\(port)/\(proto)"
        }.joined(separator: ",")
    }
}

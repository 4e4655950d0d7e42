import KubeAPI

/// Upstream's service environment variables (kubelet getServiceEnvVarMap and envvars.FromServices):
/// for the `kubernetes` Service of namespace default always, and for every Service of the pod's
/// namespace unless `enableServiceLinks` is false, when it has a cluster IP (not "" or "None"):
///
/// - `<NAME>_SERVICE_HOST` = cluster IP, `<NAME>_SERVICE_PORT` = the first port, and
///   `<NAME>_SERVICE_PORT_<PORTNAME>` for every named port;
/// - Docker link variables: `<NAME>_PORT` = `tcp://IP:PORT` of the first port, and per port
///   `<NAME>_PORT_<PORT>_<PROTO>` (and its `_PROTO`, `_PORT`, `_ADDR`).
///
/// NAME is the Service name upper-cased with `-` as `_`. A Service of the pod's namespace
/// wins over the default namespace's of the same name. Containers see these after their own
/// variables, which win, and `$(VAR)` may refer to them.
public enum ServiceEnvironment {
    /// The Services every pod gets variables for (upstream's masterServices), in namespace default.
    static let masterServices: Set<String> = ["kubernetes"]

    /// The variables for a pod of `namespace` from the Services known (any namespace).
    public static func variables(namespace: String, enableServiceLinks: Bool, services: [Service]) -> [String: String] {
        var chosen: [String: Service] = [:]
        for service in services where hasClusterIP(service) {
            let name = service.metadata.name ?? ""
            if service.metadata.namespace == "default" && masterServices.contains(name) {
                if chosen[name] == nil { chosen[name] = service }
            } else if service.metadata.namespace == namespace && enableServiceLinks {
                chosen[name] = service
            }
        }
        var result: [String: String] = [:]
        for service in chosen.values {
            for (key, value) in variables(of: service) { result[key] = value }
        }
        return result
    }

    /// The variables of one Service, in upstream's order.
    public static func variables(of service: Service) -> [(String, String)] {
        guard hasClusterIP(service), let ports = service.spec.ports, let first = ports.first else { return [] }
        let prefix = variableName(service.metadata.name ?? "")
        let ip = service.spec.clusterIP ?? ""
        var result: [(String, String)] = [
            (prefix + "_SERVICE_HOST", ip),
            (prefix + "_SERVICE_PORT", String(first.port)),
        ]
        for port in ports {
            if let name = port.name, !name.isEmpty { result.append((prefix + "_SERVICE_PORT_" + variableName(name), String(port.port))) }
        }
        for (index, port) in ports.enumerated() {
            let proto = (port.protocol ?? "").isEmpty ? "TCP" : port.protocol ?? "TCP"
            let address = ip.contains(":") ? "[\(ip)]:\(port.port)" : "\(ip):\(port.port)"
            let url = "\(proto.lowercased())://\(address)"
            if index == 0 { result.append((prefix + "_PORT", url)) }
            let portPrefix = "\(prefix)_PORT_\(port.port)_\(proto.uppercased())"
            result += [(portPrefix, url), (portPrefix + "_PROTO", proto.lowercased()), (portPrefix + "_PORT", String(port.port)), (portPrefix + "_ADDR", ip)]
        }
        return result
    }

    /// Upstream's makeEnvVariableName: upper case, `-` as `_`.
    static func variableName(_ name: String) -> String {
        name.replacingOccurrences(of: "-", with: "_").uppercased()
    }

    static func hasClusterIP(_ service: Service) -> Bool {
        let ip = service.spec.clusterIP ?? ""
        return !ip.isEmpty && ip != "None"
    }

    /// The variables for `pod`'s containers, reading Services through `reader` (none standalone).
    static func variables(for pod: Pod, from reader: any PodObjectReader) async throws(KubeletError) -> [String: String] {
        let namespace = pod.metadata.namespace ?? "default"
        let links = pod.spec.enableServiceLinks ?? true
        guard let services = try await reader.services(namespace: namespace, serviceLinks: links) else { return [:] }
        return variables(namespace: namespace, enableServiceLinks: links, services: services)
    }
}

import KubeAPI

/// Pod resource arithmetic as upstream's scheduler computes it.
public enum Resources {
    /// Upstream's scoring defaults for containers that request nothing.
    public static let defaultMilliCPU: Int64 = 100
    public static let defaultMemory: Int64 = 200 * 1024 * 1024 * 1000

    /// The pod's effective requests in milli-units: the larger of the sum over app containers
    /// (plus sidecar init containers) and the largest plain init container, plus overhead.
    /// With `nonZero`, cpu and memory that are not requested count as upstream's defaults.
    public static func podRequests(_ pod: Pod, nonZero: Bool = false) -> [String: Int64] {
        var sum: [String: Int64] = [:]
        func requests(_ c: Container) -> [String: Int64] {
            var r: [String: Int64] = [:]
            for (k, v) in c.resources?.requests ?? [:] { r[k] = v.milliValue }
            // A limit with no request means the request equals the limit (API defaulting).
            for (k, v) in c.resources?.limits ?? [:] where r[k] == nil { r[k] = v.milliValue }
            if nonZero {
                if r["cpu"] == nil { r["cpu"] = defaultMilliCPU }
                if r["memory"] == nil { r["memory"] = defaultMemory }
            }
            return r
        }
        for c in pod.spec.containers { for (k, v) in requests(c) { sum[k, default: 0] += v } }
        var sidecars: [String: Int64] = [:]
        var initMax: [String: Int64] = [:]
        for c in pod.spec.initContainers ?? [] {
            let r = requests(c)
            if c.restartPolicy == "Always" {
                for (k, v) in r { sidecars[k, default: 0] += v }
            } else {
                // A plain init container runs beside the sidecars started before it.
                for (k, v) in r { initMax[k] = max(initMax[k] ?? 0, v + (sidecars[k] ?? 0)) }
            }
        }
        for (k, v) in sidecars { sum[k, default: 0] += v }
        for (k, v) in initMax { sum[k] = max(sum[k] ?? 0, v) }
        for (k, v) in pod.spec.overhead ?? [:] { sum[k, default: 0] += v.milliValue }
        return sum
    }

    /// The pod's host ports as "protocol/hostIP/port" (hostIP 0.0.0.0 when unset).
    public static func hostPorts(_ pod: Pod) -> [String] {
        (pod.spec.containers + (pod.spec.initContainers ?? [])).flatMap { c in
            (c.ports ?? []).compactMap { p in
                guard let hp = p.hostPort, hp > 0 else { return nil }
                let ip = (p.hostIP?.isEmpty ?? true) ? "0.0.0.0" : p.hostIP!
                return "\(p.protocol ?? "TCP")/\(ip)/\(hp)"
            }
        }
    }
}

import KubeAPI

/// Which probe of a container: they differ in initial result and in what a failure does.
public enum ProbeKind: String, Sendable, CaseIterable, Codable {
    case startup, liveness, readiness

    /// The result a probe has before it first runs (upstream's worker.go): readiness starts
    /// failed, liveness starts succeeded, startup starts unknown.
    public var initialResult: ProbeResult {
        switch self {
        case .readiness: return .failure
        case .liveness: return .success
        case .startup: return .unknown
        }
    }
}

/// What a probe checks, with every default applied and named ports resolved.
public enum ProbeTarget: Hashable, Sendable, CustomStringConvertible {
    case exec(command: [String])
    case http(scheme: String, host: String, port: Int, path: String, headers: [(String, String)])
    case tcp(host: String, port: Int)
    case grpc(host: String, port: Int, service: String)

    public static func == (a: ProbeTarget, b: ProbeTarget) -> Bool { a.description == b.description }
    public func hash(into h: inout Hasher) { h.combine(description) }

    public var description: String {
        switch self {
        case .exec(let command): return "exec \(command.joined(separator: " "))"
        case .http(let scheme, let host, let port, let path, _): return "\(scheme.lowercased())://\(Self.hostPort(host, port))\(path)"
        case .tcp(let host, let port): return "tcp \(Self.hostPort(host, port))"
        case .grpc(let host, let port, let service): return "grpc \(Self.hostPort(host, port))" + (service.isEmpty ? "" : " service \(service)")
        }
    }

    static func hostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A probe's timing, with upstream's defaults for unset fields.
public struct ProbeTiming: Hashable, Sendable {
    public var initialDelay: Duration
    public var timeout: Duration
    public var period: Duration
    public var successThreshold: Int
    public var failureThreshold: Int

    public init(_ probe: Probe, kind: ProbeKind) {
        initialDelay = .seconds(Int(max(probe.initialDelaySeconds ?? 0, 0)))
        timeout = .seconds(Int(max(probe.timeoutSeconds ?? 1, 1)))
        period = .seconds(Int(max(probe.periodSeconds ?? 10, 1)))
        // Liveness and startup probes must have successThreshold 1 (API validation); be lenient.
        let success = Int(max(probe.successThreshold ?? 1, 1))
        successThreshold = kind == .readiness ? success : 1
        failureThreshold = Int(max(probe.failureThreshold ?? 3, 1))
    }
}

/// Why a probe could not be resolved into a target.
public struct ProbeResolutionError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension ProbeTarget {
    /// Resolves a probe handler of `container` in a pod with IP `podIP`. Named ports are looked
    /// up among the container's ports; an HTTP probe's host defaults to the pod IP, its path to
    /// `/`, and its scheme to HTTP; `User-Agent: kube-probe/<version>` and `Accept: */*` are set
    /// unless the probe's headers set them.
    public static func resolve(_ probe: Probe, container: Container, podIP: String, kubeVersion: String = "1.32") throws(ProbeResolutionError) -> ProbeTarget {
        if let exec = probe.exec {
            guard let command = exec.command, !command.isEmpty else { throw ProbeResolutionError(message: "exec probe has no command") }
            return .exec(command: command)
        }
        if let http = probe.httpGet {
            let port = try resolvePort(http.port, container: container)
            let host = (http.host?.isEmpty == false ? http.host! : podIP)
            var path = http.path ?? "/"
            if !path.hasPrefix("/") { path = "/" + path }
            var headers: [(String, String)] = (http.httpHeaders ?? []).map { ($0.name, $0.value) }
            if !headers.contains(where: { $0.0.lowercased() == "user-agent" }) { headers.append(("User-Agent", "kube-probe/\(kubeVersion)")) }
            if !headers.contains(where: { $0.0.lowercased() == "accept" }) { headers.append(("Accept", "*/*")) }
            let scheme = (http.scheme ?? "HTTP").uppercased()
            guard scheme == "HTTP" || scheme == "HTTPS" else { throw ProbeResolutionError(message: "unsupported HTTP probe scheme \(scheme)") }
            return .http(scheme: scheme, host: host, port: port, path: path, headers: headers)
        }
        if let tcp = probe.tcpSocket {
            let port = try resolvePort(tcp.port, container: container)
            return .tcp(host: tcp.host?.isEmpty == false ? tcp.host! : podIP, port: port)
        }
        if let grpc = probe.grpc {
            guard (1...65535).contains(grpc.port) else { throw ProbeResolutionError(message: "invalid grpc probe port \(grpc.port)") }
            return .grpc(host: podIP, port: Int(grpc.port), service: grpc.service ?? "")
        }
        throw ProbeResolutionError(message: "probe has no handler (exec, httpGet, tcpSocket or grpc)")
    }

    static func resolvePort(_ port: IntOrString, container: Container) throws(ProbeResolutionError) -> Int {
        switch port {
        case .int(let n):
            guard (1...65535).contains(n) else { throw ProbeResolutionError(message: "invalid port number: \(n)") }
            return Int(n)
        case .string(let name):
            if let n = Int(name), (1...65535).contains(n) { return n }
            guard let p = container.ports?.first(where: { $0.name == name }) else {
                throw ProbeResolutionError(message: "couldn't find port \(name) in container \(container.name)")
            }
            return Int(p.containerPort)
        }
    }
}

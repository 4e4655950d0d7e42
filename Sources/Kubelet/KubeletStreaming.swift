import CRI
import Foundation
import NIOCore
import NIOHTTP1
import UpgradeProxy

/// One exec, attach or port-forward request to the kubelet, as upstream's kubelet serves them:
/// `/exec/<namespace>/<pod>/<container>?command=..&stdin=1&stdout=1&stderr=1&tty=1`,
/// `/attach/<namespace>/<pod>/<container>?...` and `/portForward/<namespace>/<pod>`.
/// Flags are true when "1" or "true" (the API server sends "1", kubectl against a kubelet "true");
/// stderr is dropped under a tty.
public struct StreamRequest: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case exec, attach, portForward }

    public var kind: Kind
    public var namespace: String
    public var pod: String
    /// Empty for port-forward.
    public var container: String
    public var command: [String]
    public var stdin: Bool
    public var stdout: Bool
    public var stderr: Bool
    public var tty: Bool
    /// The query as received, passed on to the runtime's stream server (WebSocket port-forward
    /// reads its ports there).
    public var query: String

    /// Parses a request URI; nil when it is not a streaming path, throws when it is one but malformed.
    public init?(uri: String) throws(KubeletError) {
        let components = URLComponents(string: uri)
        let parts = (components?.path ?? uri).split(separator: "/").map(String.init)
        guard let first = parts.first, let kind = Kind(rawValue: first) else { return nil }
        let expected = kind == .portForward ? 3 : 4
        guard parts.count == expected else {
            throw KubeletError(.badRequest, "\(kind.rawValue) path must be /\(kind.rawValue)/<namespace>/<pod>\(kind == .portForward ? "" : "/<container>"), got \(components?.path ?? uri)")
        }
        let items = components?.queryItems ?? []
        func flag(_ name: String) -> Bool {
            items.contains { $0.name == name && ["1", "true"].contains(($0.value ?? "").lowercased()) }
        }
        self.kind = kind
        namespace = parts[1]
        pod = parts[2]
        container = kind == .portForward ? "" : parts[3]
        // Form-encoded ("+" for a space), as kubectl and the API server send it.
        command = (components?.percentEncodedQuery ?? "").split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0] == "command" else { return nil }
            return parts.count > 1 ? (parts[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
        }
        stdin = flag("stdin")
        stdout = flag("stdout")
        tty = flag("tty")
        // As upstream: a terminal merges stderr into stdout, so stderr is dropped, not refused.
        stderr = flag("stderr") && !tty
        query = components?.percentEncodedQuery ?? ""
        if kind == .exec && command.isEmpty {
            throw KubeletError(.badRequest, "exec in \(namespace)/\(pod)/\(container): no command given (query parameter command)")
        }
        if kind != .portForward && !stdin && !stdout && !stderr {
            throw KubeletError(.badRequest, "\(kind.rawValue) in \(namespace)/\(pod)/\(container): at least one of stdin, stdout and stderr must be set")
        }
    }
}

extension KubeletServer {
    /// What the server does with an upgrade request: streaming paths are resolved through CRI
    /// (Exec, Attach, PortForward) and relayed to the URL the runtime returns — the kubelet proxies
    /// the stream as upstream's does by default, so the runtime's stream server can stay on
    /// loopback. Anything else is served as an ordinary request.
    func streamDecision(_ head: HTTPRequestHead) async -> UpgradeDecision {
        let request: StreamRequest
        do {
            guard let parsed = try StreamRequest(uri: head.uri) else { return .pass }
            request = parsed
        } catch {
            return .respond(.badRequest, contentType: "text/plain; charset=utf-8", body: Array("\(error)\n".utf8))
        }
        do {
            return .relay(try await streamTarget(request))
        } catch {
            let status: HTTPResponseStatus = switch error.code {
            case .notFound: .notFound
            case .badRequest: .badRequest
            default: .internalServerError
            }
            return .respond(status, contentType: "text/plain; charset=utf-8", body: Array("\(error)\n".utf8))
        }
    }

    /// Asks the runtime for a stream URL for `request` and returns it as a relay target, with the
    /// request's own query appended.
    public func streamTarget(_ request: StreamRequest) async throws(KubeletError) -> UpgradeTarget {
        let what = "\(request.kind.rawValue) \(request.namespace)/\(request.pod)\(request.container.isEmpty ? "" : "/" + request.container)"
        guard let worker = await kubelet.worker(namespace: request.namespace, name: request.pod) else {
            throw KubeletError(.notFound, "\(what): pod \(request.namespace)/\(request.pod) not found on this node")
        }
        let runtimePod = await worker.runtimePod
        let url: String
        do {
            switch request.kind {
            case .exec, .attach:
                guard let container = runtimePod.latest(request.container) else {
                    throw KubeletError(.notFound, "\(what): container \(request.container) not found")
                }
                guard container.state == .running else {
                    throw KubeletError(.badRequest, "\(what): container \(request.container) is not running (\(container.state.rawValue))")
                }
                if request.kind == .exec {
                    var exec = Runtime_V1_ExecRequest()
                    exec.containerID = container.id
                    exec.cmd = request.command
                    exec.stdin = request.stdin
                    exec.stdout = request.stdout
                    exec.stderr = request.stderr
                    exec.tty = request.tty
                    url = try await kubelet.runtime.exec(exec, timeout: .seconds(10)).url
                } else {
                    var attach = Runtime_V1_AttachRequest()
                    attach.containerID = container.id
                    attach.stdin = request.stdin
                    attach.stdout = request.stdout
                    attach.stderr = request.stderr
                    attach.tty = request.tty
                    url = try await kubelet.runtime.attach(attach, timeout: .seconds(10)).url
                }
            case .portForward:
                guard let sandbox = runtimePod.readySandbox else {
                    throw KubeletError(.badRequest, "\(what): the pod has no ready sandbox")
                }
                var forward = Runtime_V1_PortForwardRequest()
                forward.podSandboxID = sandbox.id
                url = try await kubelet.runtime.portForward(forward, timeout: .seconds(10)).url
            }
        } catch let error as KubeletError {
            throw error
        } catch let error as CRIError {
            throw KubeletError(.runtime, "\(what): the runtime refused the stream", cause: error)
        } catch {
            throw KubeletError(.runtime, what, cause: error)
        }
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host, let port = components.port else {
            throw KubeletError(.runtime, "\(what): the runtime returned a stream URL this kubelet cannot relay to: \(url)")
        }
        var uri = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let query = [components.percentEncodedQuery ?? "", request.query].filter { !$0.isEmpty }.joined(separator: "&")
        if !query.isEmpty { uri += "?" + query }
        return UpgradeTarget(host: host, port: port, uri: uri)
    }
}

import Foundation
import KubeAPI
import NIOCore
import NIOHTTP1
import UpgradeProxy

/// Where the kubelet of a pod's node listens: the node's InternalIP (then ExternalIP, Hostname,
/// its name) and the port it reports in status.daemonEndpoints.kubeletEndpoint.
struct KubeletAddress: Sendable, Hashable {
    var host: String
    var port: Int

    static func of(pod: JSONObject, storage: RESTStorage) async throws(APIError) -> KubeletAddress {
        guard let nodeName = pod[path: ["spec", "nodeName"]]?.stringValue, !nodeName.isEmpty else {
            throw APIError.badRequest("pod \(pod.name) is not scheduled to a node yet")
        }
        let node = try await storage.get(Nodes.definition, namespace: nil, name: nodeName)
        guard let port = node[path: ["status", "daemonEndpoints", "kubeletEndpoint", "Port"]]?.intValue, port > 0 else {
            throw APIError.badRequest("node \(nodeName) does not report a kubelet endpoint")
        }
        let addresses = node[path: ["status", "addresses"]]?.arrayValue ?? []
        let host = ["InternalIP", "ExternalIP", "Hostname"].lazy.compactMap { type in
            addresses.first { $0["type"]?.stringValue == type }?["address"]?.stringValue
        }.first ?? nodeName
        return KubeletAddress(host: host, port: Int(port))
    }
}

/// pods/exec, pods/attach and pods/portforward: upgrade requests relayed to the kubelet of the
/// pod's node (`/exec/<ns>/<pod>/<container>`, `/attach/...`, `/portForward/<ns>/<pod>`), with
/// the query translated as upstream's API server does (flags as "1", the container in the path).
/// The bytes are relayed unchanged, so WebSocket (v5.channel.k8s.io and older) and SPDY both work
/// as far as the kubelet's runtime supports them, and a refused WebSocket upgrade reaches the
/// client as the refusal it needs to fall back to SPDY.
struct PodStreams: Sendable {
    static let subresources: Set<String> = ["exec", "attach", "portforward"]

    let storage: RESTStorage

    /// The relay target for one streaming request; the caller checked the subresource.
    func target(subresource: String, namespace: String, name: String, request: APIRequest) async throws(APIError) -> UpgradeTarget {
        guard UpgradeInterceptor.isUpgrade(HTTPRequestHead(version: .http1_1, method: request.method, uri: "/", headers: request.headers)) else {
            throw APIError.badRequest("Upgrade request required")
        }
        let pod = try await storage.get(Pods.definition, namespace: namespace, name: name)
        let phase = pod[path: ["status", "phase"]]?.stringValue ?? ""
        if phase == "Succeeded" || phase == "Failed" {
            throw APIError.badRequest("cannot \(subresource) into a container in a completed pod; current phase is \(phase)")
        }
        let address = try await KubeletAddress.of(pod: pod, storage: storage)
        var query: [URLQueryItem] = []
        let path: String
        if subresource == "portforward" {
            path = "/portForward/\(Self.escape(namespace))/\(Self.escape(name))"
            for port in Self.values(of: "ports", in: request) { query.append(URLQueryItem(name: "ports", value: port)) }
        } else {
            let container = try Self.container(in: pod, requested: request.query["container"] ?? "", name: name)
            path = "/\(subresource)/\(Self.escape(namespace))/\(Self.escape(name))/\(Self.escape(container))"
            if subresource == "exec" {
                let command = Self.values(of: "command", in: request)
                guard !command.isEmpty else { throw APIError.badRequest("you must specify at least one command for the container") }
                for argument in command { query.append(URLQueryItem(name: "command", value: argument)) }
            }
            for flag in ["stdin", "stdout", "stderr", "tty"] where ["1", "true"].contains((request.query[flag] ?? "").lowercased()) {
                query.append(URLQueryItem(name: flag, value: "1"))
            }
        }
        var components = URLComponents()
        components.queryItems = query
        let encoded = components.percentEncodedQuery ?? ""
        return UpgradeTarget(host: address.host, port: address.port, uri: path + (encoded.isEmpty ? "" : "?" + encoded))
    }

    /// The named container, or the only one; init and ephemeral containers count too.
    static func container(in pod: JSONObject, requested: String, name: String) throws(APIError) -> String {
        let containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        let others = ["initContainers", "ephemeralContainers"].flatMap { (pod[path: ["spec", $0]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } }
        if requested.isEmpty {
            if let annotated = pod.metadata["annotations"]?.objectValue?["kubectl.kubernetes.io/default-container"]?.stringValue, containers.contains(annotated) {
                return annotated
            }
            guard containers.count == 1 else {
                throw APIError.badRequest("a container name must be specified for pod \(name), choose one of: [\(containers.joined(separator: " "))]")
            }
            return containers[0]
        }
        guard containers.contains(requested) || others.contains(requested) else {
            throw APIError.badRequest("container \(requested) is not valid for pod \(name)")
        }
        return requested
    }

    /// Every value of a repeated query parameter, in order (APIRequest keeps only the first).
    /// Form-encoded: kubectl sends a space as "+".
    static func values(of name: String, in request: APIRequest) -> [String] {
        guard let query = URLComponents(string: request.uri)?.percentEncodedQuery else { return [] }
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text) }
            guard decode(parts[0]) == name else { return nil }
            return parts.count > 1 ? decode(parts[1]) : ""
        }
    }

    static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }
}

extension HTTPServer {
    /// The upgrade decision for the API server: streaming subresources of pods go through the
    /// ordinary handler (authentication, lookup, errors as Status) and, when it names a kubelet,
    /// are relayed there; other upgrade requests are served as ordinary requests.
    func upgradeDecision(_ head: HTTPRequestHead, channel: any Channel) async -> UpgradeDecision {
        let path = URLComponents(string: head.uri)?.path ?? head.uri
        guard let last = path.split(separator: "/").last, PodStreams.subresources.contains(String(last)) else { return .pass }
        let user = tls != nil ? await certificateUser(channel) : nil
        let response = await handler.handle(APIRequest(method: head.method, uri: head.uri, headers: head.headers, body: [], user: user))
        if let target = response.upgrade { return .relay(target) }
        guard case .bytes(let body) = response.body else { return .respond(response.status, contentType: response.contentType, body: []) }
        return .respond(response.status, contentType: response.contentType, body: body)
    }
}

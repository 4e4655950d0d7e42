import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import APIServer
import KubeAPI
import Store
import TestSupport

/// An in-process API server on an in-memory (or given) store with a temporary data directory,
/// reached over real HTTP: plain HTTP on loopback for most calls (as the admin), HTTPS with curl
/// for authentication checks. `stop()` cancels serving and removes the directory.
final class TestServer: @unchecked Sendable {
    let server: APIServer
    let store: any Store
    let directory: String
    let securePort: Int
    let insecurePort: Int
    private let serving: Task<Void, any Error>

    static func start(store: (any Store)? = nil, bookmarkInterval: Duration = .seconds(60)) async throws -> TestServer {
        let directory = NSTemporaryDirectory() + "nk-apiserver-\(Host.runSuffix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = APIServerConfiguration(dataDirectory: directory)
        configuration.bindAddress = "127.0.0.1"
        configuration.securePort = 0
        configuration.insecurePort = 0
        configuration.watch = WatchSettings(bookmarkInterval: bookmarkInterval, defaultTimeout: .seconds(30))
        configuration.maxBodyBytes = 3 << 20
        let backend = store ?? LocalStore.inMemory()
        let server = try APIServer(store: backend, configuration: configuration)
        try await server.bootstrap()
        let (ports, continuation) = AsyncStream<APIServerEndpoints>.makeStream()
        let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        guard let endpoints = await iterator.next() else { throw CommandError(command: ["apiserver"], result: CommandResult(status: 1, stdout: "", stderr: "server did not start")) }
        return TestServer(server: server, store: backend, directory: directory, securePort: endpoints.securePort, insecurePort: endpoints.insecurePort ?? 0, serving: serving)
    }

    private init(server: APIServer, store: any Store, directory: String, securePort: Int, insecurePort: Int, serving: Task<Void, any Error>) {
        self.server = server
        self.store = store
        self.directory = directory
        self.securePort = securePort
        self.insecurePort = insecurePort
        self.serving = serving
    }

    func stop() async {
        serving.cancel()
        _ = try? await serving.value
        await store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct Response {
        var code: Int
        var body: Data
        var contentType: String
        /// Response headers by lower-cased name; repeated headers are joined with ", ".
        var headers: [String: String] = [:]
        var json: JSONValue { (try? JSONDecoder().decode(JSONValue.self, from: body)) ?? .null }
        var text: String { String(decoding: body, as: UTF8.self) }
        /// Newline-delimited watch events.
        var events: [JSONValue] {
            text.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        }
    }

    /// One request over plain HTTP on loopback.
    func call(_ method: String, _ path: String, json: JSONValue? = nil, body: Data? = nil, contentType: String = "application/json",
              accept: String? = nil, headers: [String: String] = [:]) async throws -> Response {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(insecurePort)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 60
        if let json { request.httpBody = try JSONEncoder().encode(json) } else if let body { request.httpBody = body }
        if request.httpBody != nil { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let accept { request.setValue(accept, forHTTPHeaderField: "Accept") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var received: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { received[name.lowercased()] = value }
        }
        return Response(code: http.statusCode, body: data, contentType: http.value(forHTTPHeaderField: "Content-Type") ?? "", headers: received)
    }

    var kubeconfig: String { directory + "/kubeconfig" }
    var pki: String { directory + "/pki" }
}

/// Object builders for tests.
enum Objects {
    static func configMap(_ name: String, namespace: String = "default", labels: [String: String] = [:], data: [String: String] = ["k": "v"], finalizers: [String] = []) -> JSONValue {
        var meta: [String: JSONValue] = ["name": .string(name), "namespace": .string(namespace)]
        if !labels.isEmpty { meta["labels"] = .object(labels.mapValues { .string($0) }) }
        if !finalizers.isEmpty { meta["finalizers"] = .array(finalizers.map { .string($0) }) }
        return .object(["apiVersion": .string("v1"), "kind": .string("ConfigMap"), "metadata": .object(meta), "data": .object(data.mapValues { .string($0) })])
    }

    static func pod(_ name: String, namespace: String = "default", labels: [String: String] = [:], nodeName: String? = nil) -> JSONValue {
        var spec: [String: JSONValue] = ["containers": .array([.object(["name": .string("c"), "image": .string("busybox:1.36")])])]
        if let nodeName { spec["nodeName"] = .string(nodeName) }
        return .object(["apiVersion": .string("v1"), "kind": .string("Pod"),
                        "metadata": .object(["name": .string(name), "namespace": .string(namespace), "labels": .object(labels.mapValues { .string($0) })]),
                        "spec": .object(spec)])
    }

    static func deployment(_ name: String, replicas: Int = 1, image: String = "busybox:1.36") -> JSONValue {
        let labels: JSONValue = .object(["app": .string(name)])
        return .object([
            "apiVersion": .string("apps/v1"), "kind": .string("Deployment"),
            "metadata": .object(["name": .string(name), "namespace": .string("default")]),
            "spec": .object([
                "replicas": .number(Double(replicas)),
                "selector": .object(["matchLabels": labels]),
                "template": .object(["metadata": .object(["labels": labels]),
                                     "spec": .object(["containers": .array([.object(["name": .string("c"), "image": .string(image)])])])]),
            ]),
        ])
    }

    static func service(_ name: String, type: String = "ClusterIP", clusterIP: String? = nil) -> JSONValue {
        var spec: [String: JSONValue] = ["type": .string(type), "selector": .object(["app": .string(name)]),
                                         "ports": .array([.object(["port": .number(80)])])]
        if let clusterIP { spec["clusterIP"] = .string(clusterIP) }
        return .object(["apiVersion": .string("v1"), "kind": .string("Service"),
                        "metadata": .object(["name": .string(name), "namespace": .string("default")]), "spec": .object(spec)])
    }
}

extension JSONValue {
    subscript(p path: String) -> JSONValue? {
        var current: JSONValue? = self
        for key in path.split(separator: ".") {
            if let index = Int(key), case .array(let a)? = current { current = index < a.count ? a[index] : nil } else { current = current?[String(key)] }
        }
        return current
    }
}

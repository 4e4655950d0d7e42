import Foundation
import KubeAPI
import Store
import TestSupport
import Testing
@testable import APIServer

/// Watch, discovery, tables, authentication and bad input, over real HTTP.
@Suite(.serialized) struct APIServerProtocolTests {
    @Test func watchFromResourceVersionWithBookmarks() async throws {
        let s = try await TestServer.start(bookmarkInterval: .milliseconds(200))
        defer { Task { await s.stop() } }
        let list = try await s.call("GET", "/api/v1/namespaces/default/configmaps")
        let rv = try #require(list.json[p: "metadata.resourceVersion"]?.stringValue)
        _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("w1", labels: ["w": "yes"]))
        _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("w2", labels: ["w": "no"]))
        let got = try await s.call("GET", "/api/v1/namespaces/default/configmaps/w1")
        var w1 = got.json.objectValue!
        w1["data"] = .object(["k": .string("changed")])
        _ = try await s.call("PUT", "/api/v1/namespaces/default/configmaps/w1", json: .object(w1))
        _ = try await s.call("DELETE", "/api/v1/namespaces/default/configmaps/w1")
        // The server ends the watch after timeoutSeconds; everything after rv is delivered first.
        let watch = try await s.call("GET", "/api/v1/namespaces/default/configmaps?watch=true&labelSelector=w%3Dyes&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=\(rv)")
        #expect(watch.code == 200)
        let events = watch.events
        let typed = events.filter { $0["type"]?.stringValue != "BOOKMARK" }.map { "\($0["type"]!.stringValue!):\($0[p: "object.metadata.name"]?.stringValue ?? "")" }
        #expect(typed == ["ADDED:w1", "MODIFIED:w1", "DELETED:w1"])
        let bookmark = try #require(events.first { $0["type"]?.stringValue == "BOOKMARK" })
        #expect(bookmark[p: "object.kind"]?.stringValue == "ConfigMap")
        let bookmarkRV = Int(bookmark[p: "object.metadata.resourceVersion"]?.stringValue ?? "") ?? 0
        #expect(bookmarkRV >= Int(events.first!["object"]![p: "metadata.resourceVersion"]!.stringValue!)!)
    }

    @Test func watchWithoutResourceVersionStartsWithTheList() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("existing"))
        let watch = try await s.call("GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1")
        #expect(watch.events.map { $0["type"]?.stringValue } == ["ADDED"])
        #expect(watch.events.first?[p: "object.metadata.name"]?.stringValue == "existing")
    }

    @Test func watchBelowCompactionIsExpired() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        for i in 0..<3 { _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("c\(i)")) }
        let current = try await s.store.currentRevision()
        try await s.store.compact(to: current)
        let watch = try await s.call("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2&timeoutSeconds=5")
        #expect(watch.code == 200)
        #expect(watch.events.count == 1)
        #expect(watch.events.first?["type"]?.stringValue == "ERROR")
        #expect(watch.events.first?[p: "object.code"]?.intValue == 410)
        #expect(watch.events.first?[p: "object.reason"]?.stringValue == "Expired")
        let list = try await s.call("GET", "/api/v1/namespaces/default/configmaps?resourceVersion=2&resourceVersionMatch=Exact")
        #expect(list.code == 410)
        #expect(list.json["reason"]?.stringValue == "Expired")
    }

    @Test func discovery() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let version = try await s.call("GET", "/version")
        #expect(version.json["minor"]?.stringValue == "32")
        #expect(version.json["gitVersion"]?.stringValue == "v1.32.0-nodekit")
        let core = try await s.call("GET", "/api/v1")
        let pods = core.json["resources"]?.arrayValue?.first { $0["name"]?.stringValue == "pods" }
        #expect(pods?["shortNames"]?.arrayValue == [.string("po")])
        #expect(pods?["categories"]?.arrayValue == [.string("all")])
        #expect(pods?["namespaced"]?.boolValue == true)
        #expect(core.json["resources"]?.arrayValue?.contains { $0["name"]?.stringValue == "pods/eviction" && $0["group"]?.stringValue == "policy" } == true)
        let groups = try await s.call("GET", "/apis")
        let names = (groups.json["groups"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(Set(names) == ["apps", "batch", "coordination.k8s.io", "discovery.k8s.io", "policy"])
        let aggregated = try await s.call("GET", "/apis", accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
        #expect(aggregated.contentType.contains("as=APIGroupDiscoveryList"))
        #expect(aggregated.json["kind"]?.stringValue == "APIGroupDiscoveryList")
        let apps = aggregated.json["items"]?.arrayValue?.first { $0[p: "metadata.name"]?.stringValue == "apps" }
        #expect(apps?[p: "versions.0.resources"]?.arrayValue?.contains { $0["resource"]?.stringValue == "deployments" && $0["scope"]?.stringValue == "Namespaced" } == true)
        #expect(try await s.call("GET", "/healthz").text == "ok")
        #expect(try await s.call("GET", "/readyz").code == 200)
        #expect(try await s.call("GET", "/openapi/v3").json[p: "paths"]?["apis/apps/v1"] != nil)
    }

    @Test func tables() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Objects.pod("t", nodeName: "n1"))
        let table = try await s.call("GET", "/api/v1/namespaces/default/pods", accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        #expect(table.json["kind"]?.stringValue == "Table")
        let columns = (table.json["columnDefinitions"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(columns == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"])
        #expect(table.json[p: "rows.0.cells.0"]?.stringValue == "t")
        #expect(table.json[p: "rows.0.cells.1"]?.stringValue == "0/1")
        #expect(table.json[p: "rows.0.cells.2"]?.stringValue == "Pending")
        #expect(table.json[p: "rows.0.cells.6"]?.stringValue == "n1")
        #expect(table.json[p: "rows.0.object.kind"]?.stringValue == "PartialObjectMetadata")
        // A resource without columns of its own gets Name and Age.
        let leases = try await s.call("GET", "/apis/coordination.k8s.io/v1/leases", accept: "application/json;as=Table;v=v1;g=meta.k8s.io")
        #expect((leases.json["columnDefinitions"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue } == ["Name", "Holder", "Age"])
    }

    /// Bad input: every case gets its 4xx Status, and the server keeps serving.
    struct BadInput: Sendable, CustomTestStringConvertible {
        var name: String
        var method: String
        var path: String
        var body: String
        var contentType: String = "application/json"
        var code: Int
        var reason: String
        var field: String? = nil
        var testDescription: String { name }
    }

    static let badInputs: [BadInput] = [
        BadInput(name: "malformed JSON", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: #"{"kind": "ConfigMap", "#, code: 400, reason: "BadRequest"),
        BadInput(name: "not an object", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: "[1,2]", code: 400, reason: "BadRequest"),
        BadInput(name: "malformed YAML", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: "a: [b\n  c: :", contentType: "application/yaml", code: 400, reason: "BadRequest"),
        BadInput(name: "wrong kind", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: #"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#, code: 400, reason: "BadRequest"),
        BadInput(name: "wrong apiVersion", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: #"{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}"#, code: 400, reason: "BadRequest"),
        BadInput(name: "invalid name", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#, code: 422, reason: "Invalid", field: "metadata.name"),
        BadInput(name: "missing name", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#, code: 422, reason: "Invalid", field: "metadata.name"),
        BadInput(name: "invalid label", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a":"-bad-"}}}"#, code: 422, reason: "Invalid", field: "metadata.labels"),
        BadInput(name: "pod without containers", method: "POST", path: "/api/v1/namespaces/default/pods", body: #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{}}"#, code: 422, reason: "Invalid", field: "spec.containers"),
        BadInput(name: "namespace name not a label", method: "POST", path: "/api/v1/namespaces", body: #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}}"#, code: 422, reason: "Invalid", field: "metadata.name"),
        BadInput(name: "unsupported media type", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: "x", contentType: "text/csv", code: 415, reason: "UnsupportedMediaType"),
        BadInput(name: "unknown resource", method: "GET", path: "/api/v1/namespaces/default/widgets", body: "", code: 404, reason: "NotFound"),
        BadInput(name: "unknown group", method: "GET", path: "/apis/example.com/v1/things", body: "", code: 404, reason: "NotFound"),
        BadInput(name: "bad label selector", method: "GET", path: "/api/v1/pods?labelSelector=a%20in%20(b", body: "", code: 400, reason: "BadRequest"),
        BadInput(name: "bad limit", method: "GET", path: "/api/v1/pods?limit=-3", body: "", code: 400, reason: "BadRequest"),
        BadInput(name: "bad dryRun", method: "POST", path: "/api/v1/namespaces/default/configmaps?dryRun=Some", body: #"{"metadata":{"name":"x"}}"#, code: 400, reason: "BadRequest"),
        BadInput(name: "method not allowed", method: "PUT", path: "/api/v1/namespaces/default/configmaps", body: "{}", code: 405, reason: "MethodNotAllowed"),
        BadInput(name: "namespace mismatch", method: "POST", path: "/api/v1/namespaces/default/configmaps", body: #"{"metadata":{"name":"x","namespace":"kube-system"}}"#, code: 400, reason: "BadRequest"),
        BadInput(name: "bad patch type", method: "PATCH", path: "/api/v1/namespaces/default/services/kubernetes", body: "{}", contentType: "application/xml", code: 415, reason: "UnsupportedMediaType"),
    ]

    @Test(arguments: badInputs) func badInputGetsStatus(_ input: BadInput) async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let r = try await s.call(input.method, input.path, body: input.body.isEmpty ? nil : Data(input.body.utf8), contentType: input.contentType)
        #expect(r.code == input.code)
        #expect(r.json["kind"]?.stringValue == "Status")
        #expect(r.json["status"]?.stringValue == "Failure")
        #expect(r.json["reason"]?.stringValue == input.reason)
        #expect(r.json["code"]?.intValue == Int64(input.code))
        if let field = input.field {
            #expect(r.json[p: "details.causes"]?.arrayValue?.contains { $0["field"]?.stringValue == field } == true)
        }
        #expect(try await s.call("GET", "/healthz").code == 200)
    }

    @Test func oversizedBodyIs413() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let big = Objects.configMap("big", data: ["blob": String(repeating: "x", count: 3 << 20)])
        let r = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: big)
        #expect(r.code == 413)
        #expect(r.json["reason"]?.stringValue == "RequestEntityTooLarge")
        #expect(try await s.call("GET", "/api/v1/namespaces/default/configmaps/big").code == 404)
    }

    @Test func yamlBody() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: \"1\"\n"
        let r = try await s.call("POST", "/api/v1/namespaces/default/configmaps", body: Data(yaml.utf8), contentType: "application/yaml")
        #expect(r.code == 201)
        #expect(r.json[p: "data.a"]?.stringValue == "1")
    }

    /// HTTPS: no credentials 401; the admin client certificate and the token both work; the
    /// kubeconfig is private. Uses curl, skipped when absent.
    @Test(.enabled(if: Host.which("curl") != nil, "needs curl for TLS client-certificate requests"))
    func authentication() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let url = "https://127.0.0.1:\(s.securePort)/api/v1/namespaces"
        let ca = s.pki + "/ca.crt"
        let anonymous = try await runOffPool("curl", ["-sS", "--cacert", ca, "-w", "\n%{http_code}", url])
        #expect(anonymous.stdout.hasSuffix("\n401"))
        #expect(anonymous.stdout.contains("\"reason\":\"Unauthorized\""))
        let withCert = try await runOffPool("curl", ["-sS", "--cacert", ca, "--cert", s.pki + "/admin.crt", "--key", s.pki + "/admin.key", "-w", "\n%{http_code}", url])
        #expect(withCert.stdout.hasSuffix("\n200"))
        #expect(withCert.stdout.contains("NamespaceList"))
        let token = try String(contentsOfFile: s.pki + "/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let withToken = try await runOffPool("curl", ["-sS", "--cacert", ca, "-H", "Authorization: Bearer \(token)", "-w", "\n%{http_code}", url])
        #expect(withToken.stdout.hasSuffix("\n200"))
        let wrongToken = try await runOffPool("curl", ["-sS", "--cacert", ca, "-H", "Authorization: Bearer nope", "-w", "\n%{http_code}", url])
        #expect(wrongToken.stdout.hasSuffix("\n401"))
        let health = try await runOffPool("curl", ["-sS", "--cacert", ca, "https://127.0.0.1:\(s.securePort)/healthz"])
        #expect(health.stdout == "ok")
        let attributes = try FileManager.default.attributesOfItem(atPath: s.kubeconfig)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let kubeconfig = try String(contentsOfFile: s.kubeconfig, encoding: .utf8)
        #expect(kubeconfig.contains("client-certificate-data:") && kubeconfig.contains("server: https://127.0.0.1:\(s.securePort)"))
    }
}

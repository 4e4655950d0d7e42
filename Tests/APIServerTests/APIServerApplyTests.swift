import Foundation
import KubeAPI
import Testing
@testable import APIServer

/// Server-side apply, managedFields on ordinary writes, fieldValidation and the OpenAPI
/// documents, over real HTTP against an in-process server.
@Suite(.serialized) struct APIServerApplyTests {
    static let applyType = "application/apply-patch+yaml"
    static let deployments = "/apis/apps/v1/namespaces/default/deployments"

    static func deploymentYAML(_ name: String, replicas: Int, image: String = "busybox:1.36") -> Data {
        Data("""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: \(name)
        spec:
          replicas: \(replicas)
          selector:
            matchLabels: {app: \(name)}
          template:
            metadata:
              labels: {app: \(name)}
            spec:
              containers:
              - name: c
                image: \(image)
        """.utf8)
    }

    static func entries(_ object: JSONValue) -> [JSONValue] { object[p: "metadata.managedFields"]?.arrayValue ?? [] }

    static func entry(_ object: JSONValue, manager: String) -> JSONValue? {
        entries(object).first { $0["manager"]?.stringValue == manager }
    }

    @Test func applyCreatesThenReappliesAChange() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let created = try await s.call("PATCH", Self.deployments + "/web?fieldManager=alice", body: Self.deploymentYAML("web", replicas: 2), contentType: Self.applyType)
        #expect(created.code == 201, "\(created.text)")
        #expect(created.json[p: "spec.replicas"]?.intValue == 2)
        // Defaults are filled but belong to nobody: the applier owns what it applied.
        #expect(created.json[p: "spec.strategy.type"]?.stringValue == "RollingUpdate")
        let mine = try #require(Self.entry(created.json, manager: "alice"))
        #expect(mine["operation"]?.stringValue == "Apply")
        #expect(mine["apiVersion"]?.stringValue == "apps/v1")
        #expect(mine[p: "fieldsV1.f:spec.f:replicas"] != nil)
        #expect(mine[p: "fieldsV1.f:spec.f:strategy"] == nil)
        #expect(Self.entries(created.json).count == 1)

        let changed = try await s.call("PATCH", Self.deployments + "/web?fieldManager=alice", body: Self.deploymentYAML("web", replicas: 3, image: "busybox:1.37"), contentType: Self.applyType)
        #expect(changed.code == 200, "\(changed.text)")
        #expect(changed.json[p: "spec.replicas"]?.intValue == 3)
        #expect(changed.json[p: "spec.template.spec.containers.0.image"]?.stringValue == "busybox:1.37")
        #expect(changed.json[p: "metadata.generation"]?.intValue == 2)

        // The same intent again changes nothing, so nothing is written.
        let same = try await s.call("PATCH", Self.deployments + "/web?fieldManager=alice", body: Self.deploymentYAML("web", replicas: 3, image: "busybox:1.37"), contentType: Self.applyType)
        #expect(same.code == 200)
        #expect(same.json[p: "metadata.resourceVersion"] == changed.json[p: "metadata.resourceVersion"])

        // JSON is YAML: kubectl sends JSON bodies with the apply content type.
        let viaJSON = try await s.call("PATCH", Self.deployments + "/web?fieldManager=alice", json: Objects.deployment("web", replicas: 4), contentType: Self.applyType)
        #expect(viaJSON.code == 200, "\(viaJSON.text)")
        #expect(viaJSON.json[p: "spec.replicas"]?.intValue == 4)
    }

    @Test func applyConflictsWithAnotherManagerUnlessForced() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        // No fieldManager: the User-Agent's product name is the manager, as upstream's default.
        let created = try await s.call("POST", Self.deployments, json: Objects.deployment("api", replicas: 1), headers: ["User-Agent": "bob/1.2 (linux/amd64)"])
        #expect(created.code == 201)
        let bob = try #require(Self.entry(created.json, manager: "bob"))
        #expect(bob["operation"]?.stringValue == "Update")
        #expect(bob[p: "fieldsV1.f:spec.f:replicas"] != nil)

        let conflict = try await s.call("PATCH", Self.deployments + "/api?fieldManager=alice", body: Self.deploymentYAML("api", replicas: 5), contentType: Self.applyType)
        #expect(conflict.code == 409)
        #expect(conflict.json["reason"]?.stringValue == "Conflict")
        let message = conflict.json["message"]?.stringValue ?? ""
        #expect(message.hasPrefix("Apply failed with 1 conflict: conflict with \"bob\" using apps/v1"), "\(message)")
        #expect(message.hasSuffix(": .spec.replicas"), "\(message)")
        #expect(conflict.json[p: "details.causes.0.reason"]?.stringValue == "FieldManagerConflict")
        #expect(conflict.json[p: "details.causes.0.field"]?.stringValue == ".spec.replicas")
        #expect(try await s.call("GET", Self.deployments + "/api").json[p: "spec.replicas"]?.intValue == 1)

        let forced = try await s.call("PATCH", Self.deployments + "/api?fieldManager=alice&force=true", body: Self.deploymentYAML("api", replicas: 5), contentType: Self.applyType)
        #expect(forced.code == 200, "\(forced.text)")
        #expect(forced.json[p: "spec.replicas"]?.intValue == 5)
        #expect(Self.entry(forced.json, manager: "alice")?[p: "fieldsV1.f:spec.f:replicas"] != nil)
        #expect(Self.entry(forced.json, manager: "bob")?[p: "fieldsV1.f:spec.f:replicas"] == nil)

        // An ordinary write takes the fields it changes from the applier (updates always force).
        let patched = try await s.call("PATCH", Self.deployments + "/api?fieldManager=scaler", body: Data(#"{"spec":{"replicas":7}}"#.utf8), contentType: "application/merge-patch+json")
        #expect(patched.code == 200)
        #expect(Self.entry(patched.json, manager: "scaler")?[p: "fieldsV1.f:spec.f:replicas"] != nil)
        #expect(Self.entry(patched.json, manager: "alice")?[p: "fieldsV1.f:spec.f:replicas"] == nil)
    }

    @Test func applyOptionsAndResetFields() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let noManager = try await s.call("PATCH", Self.deployments + "/x", body: Self.deploymentYAML("x", replicas: 1), contentType: Self.applyType)
        #expect(noManager.code == 422)
        #expect(noManager.json["message"]?.stringValue == "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")

        let wrongVersion = try await s.call("PATCH", Self.deployments + "/x?fieldManager=a", body: Data("apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: x}\n".utf8), contentType: Self.applyType)
        #expect(wrongVersion.code == 400)
        #expect(wrongVersion.json["message"]?.stringValue == "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1")

        let badYAML = try await s.call("PATCH", Self.deployments + "/x?fieldManager=a", body: Data("a: [b\n".utf8), contentType: Self.applyType)
        #expect(badYAML.code == 400)

        let managedFieldsSent = try await s.call("PATCH", Self.deployments + "/x?fieldManager=a",
                                                 body: Data("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, managedFields: [{manager: z}]}\n".utf8), contentType: Self.applyType)
        #expect(managedFieldsSent.code == 400)
        #expect(managedFieldsSent.json["message"]?.stringValue == "metadata.managedFields must be nil")

        #expect(try await s.call("POST", Self.deployments, json: Objects.deployment("x")).code == 201)
        let forceOnMerge = try await s.call("PATCH", Self.deployments + "/x?force=true", body: Data(#"{"spec":{"replicas":2}}"#.utf8), contentType: "application/merge-patch+json")
        #expect(forceOnMerge.code == 422)
        #expect(forceOnMerge.json["message"]?.stringValue?.contains("force: Forbidden: may not be specified for non-apply patch") == true)

        // The main resource cannot write status, the status subresource cannot write spec.
        let statusOnMain = try await s.call("PATCH", Self.deployments + "/x?fieldManager=a",
                                            body: Data("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nstatus: {replicas: 9}\n".utf8), contentType: Self.applyType)
        #expect(statusOnMain.code == 200, "\(statusOnMain.text)")
        #expect(statusOnMain.json[p: "status.replicas"] == nil)
        #expect(Self.entry(statusOnMain.json, manager: "a")?[p: "fieldsV1.f:status"] == nil)
        let viaStatus = try await s.call("PATCH", Self.deployments + "/x/status?fieldManager=ctrl",
                                         body: Data("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 8}\nstatus: {replicas: 1}\n".utf8), contentType: Self.applyType)
        #expect(viaStatus.code == 200, "\(viaStatus.text)")
        #expect(viaStatus.json[p: "status.replicas"]?.intValue == 1)
        #expect(viaStatus.json[p: "spec.replicas"]?.intValue == 1)
        let ctrl = try #require(Self.entry(viaStatus.json, manager: "ctrl"))
        #expect(ctrl["subresource"]?.stringValue == "status")
        #expect(ctrl[p: "fieldsV1.f:status.f:replicas"] != nil)
        #expect(ctrl[p: "fieldsV1.f:spec"] == nil)

        // An ordinary status write is recorded under its subresource too.
        var object = try #require(viaStatus.json.objectValue)
        object[path: ["status", "readyReplicas"]] = .number(1)
        let put = try await s.call("PUT", Self.deployments + "/x/status", json: .object(object), headers: ["User-Agent": "kubelet/v1.32"])
        #expect(put.code == 200)
        #expect(Self.entry(put.json, manager: "kubelet")?["subresource"]?.stringValue == "status")
    }

    struct ValidationCase: Sendable, CustomStringConvertible {
        var directive: String
        var code: Int
        var warning: String?
        var description: String { directive.isEmpty ? "default" : directive }
    }

    static let unknownField: [ValidationCase] = [
        ValidationCase(directive: "Strict", code: 400, warning: nil),
        ValidationCase(directive: "Warn", code: 201, warning: #"299 - "unknown field \"spec.foo\"""#),
        ValidationCase(directive: "", code: 201, warning: #"299 - "unknown field \"spec.foo\"""#),
        ValidationCase(directive: "Ignore", code: 201, warning: nil),
    ]

    @Test(arguments: unknownField) func fieldValidationOfUnknownFields(_ c: ValidationCase) async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        var body = try #require(Objects.deployment("v").objectValue)
        body[path: ["spec", "foo"]] = .string("bar")
        let query = c.directive.isEmpty ? "" : "?fieldValidation=\(c.directive)"
        let created = try await s.call("POST", Self.deployments + query, json: .object(body))
        #expect(created.code == c.code, "\(created.text)")
        #expect(created.headers["warning"] == c.warning)
        if c.code == 400 {
            #expect(created.json["reason"]?.stringValue == "BadRequest")
            #expect(created.json["message"]?.stringValue == #"strict decoding error: unknown field "spec.foo""#)
            #expect(try await s.call("GET", Self.deployments + "/v").code == 404)
        } else {
            #expect(created.json[p: "spec.foo"] == nil)
            #expect(try await s.call("GET", Self.deployments + "/v").json[p: "spec.foo"] == nil)
        }
    }

    @Test func fieldValidationOnUpdatePatchApplyAndDuplicates() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let duplicate = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,"replicas":2,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"i","image":"j"}]}}}}"#
        let strict = try await s.call("POST", Self.deployments + "?fieldValidation=Strict", body: Data(duplicate.utf8))
        #expect(strict.code == 400)
        #expect(strict.json["message"]?.stringValue == #"strict decoding error: duplicate field "replicas", duplicate field "image""#)
        let warned = try await s.call("POST", Self.deployments + "?fieldValidation=Warn", body: Data(duplicate.utf8))
        #expect(warned.code == 201)
        #expect(warned.headers["warning"]?.contains(#"299 - "duplicate field \"replicas\"""#) == true)

        let merge = try await s.call("PATCH", Self.deployments + "/d?fieldValidation=Strict", body: Data(#"{"spec":{"template":{"spec":{"containers":[{"name":"c","imagee":"x"}]}}}}"#.utf8),
                                     contentType: "application/merge-patch+json")
        #expect(merge.code == 400)
        #expect(merge.json["message"]?.stringValue == #"strict decoding error: unknown field "spec.template.spec.containers[0].imagee""#)

        var object = try #require(warned.json.objectValue)
        object[path: ["metadata", "labelz"]] = .object(["a": .string("b")])
        let put = try await s.call("PUT", Self.deployments + "/d?fieldValidation=Strict", json: .object(object))
        #expect(put.code == 400)
        #expect(put.json["message"]?.stringValue == #"strict decoding error: unknown field "metadata.labelz""#)

        let apply = try await s.call("PATCH", Self.deployments + "/d?fieldManager=a&fieldValidation=Strict",
                                     body: Data("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicaz: 3}\n".utf8), contentType: Self.applyType)
        #expect(apply.code == 400)
        #expect(apply.json["message"]?.stringValue == #"strict decoding error: unknown field "spec.replicaz""#)

        let bad = try await s.call("POST", Self.deployments + "?fieldValidation=Loose", json: Objects.deployment("e"))
        #expect(bad.code == 400)
    }

    @Test func openAPIDocumentsCarrySchemas() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let v2 = try await s.call("GET", "/openapi/v2")
        #expect(v2.code == 200)
        #expect(v2.json[p: "definitions"]?["io.k8s.api.apps.v1.Deployment"]?["properties"]?["spec"] != nil)
        #expect(v2.json[p: "definitions"]?["io.k8s.api.core.v1.Container"]?["properties"]?["image"] != nil)

        // kubectl 1.27/1.28 ask for gnostic protobuf; its first field is swagger = "2.0".
        let proto = try await s.call("GET", "/openapi/v2", accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
        #expect(proto.code == 200)
        #expect(proto.contentType == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        #expect(Array(proto.body.prefix(5)) == [0x0a, 0x03] + Array("2.0".utf8))

        let index = try await s.call("GET", "/openapi/v3")
        let url = try #require(index.json[p: "paths"]?["apis/apps/v1"]?["serverRelativeURL"]?.stringValue)
        #expect(url.hasPrefix("/openapi/v3/apis/apps/v1?hash="))
        let apps = try await s.call("GET", url)
        #expect(apps.code == 200)
        #expect(apps.json[p: "components.schemas"]?["io.k8s.api.apps.v1.Deployment"] != nil)
        #expect(apps.json[p: "paths"]?["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]?["patch"] != nil)
        let core = try await s.call("GET", "/openapi/v3/api/v1")
        #expect(core.json[p: "components.schemas"]?["io.k8s.api.core.v1.Pod"] != nil)
        #expect(try await s.call("GET", "/openapi/v3/apis/nope/v1").code == 404)
    }
}

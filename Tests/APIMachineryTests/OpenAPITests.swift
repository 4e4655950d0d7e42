import Testing
import KubeAPI
@testable import APIMachinery

@Suite struct OpenAPITests {
    static let resources = [
        ResourceDescriptor(group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, subresources: ["status", "binding", "eviction", "log", "exec"]),
        ResourceDescriptor(group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false, subresources: ["status"]),
        ResourceDescriptor(group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false,
                           verbs: ["create", "delete", "get", "list", "patch", "update", "watch"], subresources: ["status"]),
        ResourceDescriptor(group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true, subresources: ["status", "scale"]),
        ResourceDescriptor(group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true),
    ]
    static let registry = SchemaRegistry.builtin

    /// Every "$ref" in `value`.
    static func refs(in value: JSONValue) -> [String] {
        switch value {
        case .object(let members):
            var found = members["$ref"]?.stringValue.map { [$0] } ?? []
            for (_, child) in members { found += refs(in: child) }
            return found
        case .array(let items): return items.flatMap(refs)
        default: return []
        }
    }

    @Test func v2HasDefinitionsPathsAndExtensions() throws {
        let doc = OpenAPI.v2(registry: Self.registry, resources: Self.resources)
        #expect(doc["swagger"] == .string("2.0"))
        let definitions = try #require(doc["definitions"]?.objectValue)
        let pod = try #require(definitions["io.k8s.api.core.v1.Pod"])
        #expect(pod["x-kubernetes-group-version-kind"] == json(#"[{"group":"","kind":"Pod","version":"v1"}]"#))
        let containers = try #require(definitions["io.k8s.api.core.v1.PodSpec"]?["properties"]?["containers"])
        #expect(containers["type"] == .string("array"))
        #expect(containers["items"] == json(##"{"$ref":"#/definitions/io.k8s.api.core.v1.Container"}"##))
        #expect(containers["x-kubernetes-patch-merge-key"] == .string("name"))
        #expect(containers["x-kubernetes-patch-strategy"] == .string("merge"))
        #expect(containers["x-kubernetes-list-type"] == .string("map"))
        #expect(containers["x-kubernetes-list-map-keys"] == json(#"["name"]"#))
        #expect(definitions["io.k8s.api.core.v1.PodList"]?["x-kubernetes-group-version-kind"] == json(#"[{"group":"","kind":"PodList","version":"v1"}]"#))
        #expect(definitions["io.k8s.api.apps.v1.Deployment"]?["x-kubernetes-group-version-kind"] == json(#"[{"group":"apps","kind":"Deployment","version":"v1"}]"#))
        #expect(definitions["io.k8s.api.core.v1.ContainerPort"]?["properties"]?["protocol"]?["default"] == .string("TCP"))
        #expect(definitions["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]?["x-kubernetes-map-type"] == .string("atomic"))
        for ref in Self.refs(in: doc) {
            #expect(ref.hasPrefix("#/definitions/") && definitions[String(ref.dropFirst("#/definitions/".count))] != nil, "dangling \(ref)")
        }
    }

    static let expectedPaths: [(String, [String])] = [
        ("/api/v1/namespaces/{namespace}/pods", ["delete", "get", "parameters", "post"]),
        ("/api/v1/namespaces/{namespace}/pods/{name}", ["delete", "get", "parameters", "patch", "put"]),
        ("/api/v1/pods", ["get", "parameters"]),
        ("/api/v1/namespaces/{namespace}/pods/{name}/status", ["get", "parameters", "patch", "put"]),
        ("/api/v1/namespaces/{namespace}/pods/{name}/eviction", ["parameters", "post"]),
        ("/api/v1/namespaces/{namespace}/pods/{name}/binding", ["parameters", "post"]),
        ("/api/v1/namespaces/{namespace}/pods/{name}/log", ["get", "parameters"]),
        ("/api/v1/nodes", ["delete", "get", "parameters", "post"]),
        ("/api/v1/nodes/{name}", ["delete", "get", "parameters", "patch", "put"]),
        ("/api/v1/namespaces", ["get", "parameters", "post"]),
        ("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", ["get", "parameters", "patch", "put"]),
        ("/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}", ["delete", "get", "parameters", "patch", "put"]),
    ]

    @Test(arguments: expectedPaths)
    func v2Paths(path: String, methods: [String]) throws {
        let doc = OpenAPI.v2(registry: Self.registry, resources: Self.resources)
        let item = try #require(doc["paths"]?[path]?.objectValue, "missing \(path)")
        #expect(item.keys.sorted() == methods)
    }

    @Test func v2PatchOperationShape() throws {
        let doc = OpenAPI.v2(registry: Self.registry, resources: Self.resources)
        let patch = try #require(doc["paths"]?["/api/v1/namespaces/{namespace}/pods/{name}"]?["patch"])
        #expect(patch["operationId"] == .string("patchCoreV1NamespacedPod"))
        #expect(patch["x-kubernetes-action"] == .string("patch"))
        #expect(patch["x-kubernetes-group-version-kind"] == json(#"{"group":"","kind":"Pod","version":"v1"}"#))
        #expect(patch["consumes"] == json(#"["application/json-patch+json","application/merge-patch+json","application/strategic-merge-patch+json","application/apply-patch+yaml"]"#))
        guard case .array(let parameters)? = patch["parameters"] else { Issue.record("no parameters"); return }
        let names = parameters.compactMap { $0["name"]?.stringValue }
        #expect(names == ["body", "dryRun", "fieldManager", "fieldValidation", "force"])
        let scale = doc["paths"]?["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]?["get"]
        #expect(scale?["x-kubernetes-group-version-kind"] == json(#"{"group":"autoscaling","kind":"Scale","version":"v1"}"#))
        #expect(scale?["operationId"] == .string("readAppsV1NamespacedDeploymentScale"))
        #expect(doc["paths"]?["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"]?["get"]?["operationId"] == .string("listCoordinationV1NamespacedLease"))
    }

    @Test func v3IndexNamesEveryGroupVersionWithAStableHash() throws {
        let index = OpenAPI.v3Index(registry: Self.registry, resources: Self.resources)
        let paths = try #require(index["paths"]?.objectValue)
        #expect(paths.keys.sorted() == ["api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1"])
        let url = try #require(paths["api/v1"]?["serverRelativeURL"]?.stringValue)
        let doc = try #require(OpenAPI.v3(groupVersion: "api/v1", registry: Self.registry, resources: Self.resources))
        #expect(url == "/openapi/v3/api/v1?hash=" + OpenAPI.hash(doc))
        #expect(OpenAPI.hash(doc).count == 16)
        #expect(OpenAPI.v3Index(registry: Self.registry, resources: Self.resources) == index)
        let fewer = OpenAPI.v3Index(registry: Self.registry, resources: Array(Self.resources.prefix(1)))
        #expect(fewer["paths"]?["api/v1"] != paths["api/v1"], "a different document has a different hash")
    }

    @Test func v3DocumentHasSchemasAndResolvableReferences() throws {
        let doc = try #require(OpenAPI.v3(groupVersion: "apis/apps/v1", registry: Self.registry, resources: Self.resources))
        #expect(doc["openapi"] == .string("3.0.0"))
        let schemas = try #require(doc["components"]?["schemas"]?.objectValue)
        #expect(schemas["io.k8s.api.apps.v1.Deployment"]?["x-kubernetes-group-version-kind"] == json(#"[{"group":"apps","kind":"Deployment","version":"v1"}]"#))
        #expect(schemas["io.k8s.api.core.v1.Pod"] == nil, "only kinds of this group-version and what they reach")
        #expect(schemas["io.k8s.api.core.v1.PodSpec"] != nil)
        #expect(schemas["io.k8s.api.apps.v1.DeploymentSpec"]?["properties"]?["template"] == json(##"{"allOf":[{"$ref":"#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec"}],"description":"Template of the pods."}"##))
        for ref in Self.refs(in: doc) {
            #expect(ref.hasPrefix("#/components/schemas/") && schemas[String(ref.dropFirst("#/components/schemas/".count))] != nil, "dangling \(ref)")
        }
        #expect(OpenAPI.v3(groupVersion: "apis/batch/v1", registry: Self.registry, resources: Self.resources) == nil)
    }

    /// kubectl's check for server-side field validation: a PATCH operation whose
    /// x-kubernetes-group-version-kind is the kind, with a `fieldValidation` query parameter.
    static func kubectlSeesFieldValidation(_ doc: JSONValue, _ gvk: JSONValue) -> Bool {
        guard case .object(let paths)? = doc["paths"] else { return false }
        for (_, item) in paths {
            guard let patch = item["patch"], patch["x-kubernetes-group-version-kind"] == gvk else { continue }
            guard case .array(let parameters)? = patch["parameters"] else { return false }
            return parameters.contains { $0["name"] == .string("fieldValidation") && $0["in"] == .string("query") }
        }
        return false
    }

    @Test(arguments: [("api/v1", #"{"group":"","kind":"Pod","version":"v1"}"#), ("api/v1", #"{"group":"","kind":"Namespace","version":"v1"}"#),
                      ("apis/apps/v1", #"{"group":"apps","kind":"Deployment","version":"v1"}"#)])
    func v3PatchCarriesFieldValidation(groupVersion: String, gvk: String) throws {
        let doc = try #require(OpenAPI.v3(groupVersion: groupVersion, registry: Self.registry, resources: Self.resources))
        #expect(Self.kubectlSeesFieldValidation(doc, json(gvk)))
        let patch = doc["paths"]?["/api/v1/namespaces/{namespace}/pods/{name}"]?["patch"]
        if groupVersion == "api/v1" {
            #expect(patch?["requestBody"]?["content"]?.objectValue?.keys.sorted() == PatchType.allCases.map(\.rawValue).sorted())
        }
    }
}

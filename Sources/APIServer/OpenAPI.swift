import KubeAPI

/// /openapi/v2 and /openapi/v3: the operations served per group-version, each tagged with its
/// x-kubernetes-group-version-kind and listing the `fieldValidation` and `dryRun` parameters,
/// which is what kubectl reads to decide that the server validates fields itself.
enum OpenAPI {
    static func operations(_ r: ResourceDefinition) -> [String: JSONValue] {
        let gvk: JSONValue = .object(["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)])
        let parameters: JSONValue = .array(["fieldValidation", "dryRun", "fieldManager"].map { name in
            .object(["name": .string(name), "in": .string("query"), "schema": .object(["type": .string("string"), "uniqueItems": .bool(true)]),
                     "type": .string("string"), "uniqueItems": .bool(true)])
        })
        func op(_ action: String, _ verb: String) -> JSONValue {
            .object([
                "operationId": .string("\(verb)\(r.kind)"), "x-kubernetes-action": .string(action),
                "x-kubernetes-group-version-kind": gvk, "parameters": parameters,
                "responses": .object(["200": .object(["description": .string("OK")])]),
            ])
        }
        let base = (r.group.isEmpty ? "/api/\(r.version)" : "/apis/\(r.group)/\(r.version)") + (r.namespaced ? "/namespaces/{namespace}" : "")
        return [
            "\(base)/\(r.plural)": .object(["post": op("post", "create"), "get": op("list", "list")]),
            "\(base)/\(r.plural)/{name}": .object(["get": op("get", "read"), "put": op("put", "replace"), "patch": op("patch", "patch"), "delete": op("delete", "delete")]),
        ]
    }

    static func v2(registry: ResourceRegistry) -> APIResponse {
        var paths: [String: JSONValue] = [:]
        for r in registry.resources { paths.merge(operations(r)) { a, _ in a } }
        return .json(JSONCoding.encode(JSONValue.object([
            "swagger": .string("2.0"), "info": .object(["title": .string("Kubernetes"), "version": .string("v1.32.0")]),
            "paths": .object(paths), "definitions": .object([:]),
        ])))
    }

    static func groupVersionPath(_ r: ResourceDefinition) -> String { r.group.isEmpty ? "api/\(r.version)" : "apis/\(r.group)/\(r.version)" }

    static func v3Index(registry: ResourceRegistry) -> APIResponse {
        var paths: [String: JSONValue] = [:]
        for r in registry.resources {
            let path = groupVersionPath(r)
            paths[path] = .object(["serverRelativeURL": .string("/openapi/v3/\(path)?hash=nodekit")])
        }
        return .json(JSONCoding.encode(JSONValue.object(["paths": .object(paths)])))
    }

    static func v3(path: String, registry: ResourceRegistry) throws(APIError) -> APIResponse {
        let resources = registry.resources.filter { groupVersionPath($0) == path }
        guard !resources.isEmpty else { throw APIError.pathNotFound("/openapi/v3/\(path)") }
        var paths: [String: JSONValue] = [:]
        for r in resources { paths.merge(operations(r)) { a, _ in a } }
        return .json(JSONCoding.encode(JSONValue.object([
            "openapi": .string("3.0.0"), "info": .object(["title": .string("Kubernetes"), "version": .string("v1.32.0")]),
            "paths": .object(paths), "components": .object(["schemas": .object([:])]),
        ])))
    }
}

import KubeAPI

/// /version, /api, /apis and the resource lists: legacy discovery, and aggregated discovery
/// (apidiscovery.k8s.io/v2) when the client's Accept asks for it, as kubectl 1.30+ does.
struct Discovery: Sendable {
    let registry: ResourceRegistry

    /// The version kubectl's dispatcher reads to pick its client: 1.32.
    static let version: JSONValue = .object([
        "major": .string("1"), "minor": .string("32"), "gitVersion": .string("v1.32.0-nodekit"),
        "gitCommit": .string("nodekit"), "gitTreeState": .string("clean"), "buildDate": .string("2026-11-25T00:00:00Z"),
        "goVersion": .string("swift6"), "compiler": .string("swift"), "platform": .string("linux/amd64"),
    ])

    var rootPaths: JSONValue {
        var paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]
        for group in registry.groups where !group.isEmpty {
            paths.append("/apis/\(group)")
            paths += registry.versions(of: group).map { "/apis/\(group)/\($0)" }
        }
        return .object(["paths": .array(paths.sorted().map { .string($0) })])
    }

    static func wantsAggregated(_ accept: String) -> String? {
        for option in accept.split(separator: ",") where option.contains("as=APIGroupDiscoveryList") {
            if option.contains("v=v2beta1") { return "v2beta1" }
            if option.contains("v=v2") { return "v2" }
        }
        return nil
    }

    func apiVersions(accept: String) -> APIResponse {
        if let version = Self.wantsAggregated(accept) { return aggregated(core: true, version: version) }
        return .json(JSONCoding.encode(JSONValue.object([
            "kind": .string("APIVersions"), "versions": .array([.string("v1")]),
            "serverAddressByClientCIDRs": .array([.object(["clientCIDR": .string("0.0.0.0/0"), "serverAddress": .string("")])]),
        ])))
    }

    func apiGroups(accept: String) -> APIResponse {
        if let version = Self.wantsAggregated(accept) { return aggregated(core: false, version: version) }
        let groups = registry.groups.filter { !$0.isEmpty }.map { groupObject($0) }
        return .json(JSONCoding.encode(JSONValue.object(["kind": .string("APIGroupList"), "apiVersion": .string("v1"), "groups": .array(groups)])))
    }

    func group(_ name: String) throws(APIError) -> APIResponse {
        guard !name.isEmpty, registry.groups.contains(name) else { throw APIError.pathNotFound("/apis/\(name)") }
        var object = groupObject(name).objectValue ?? [:]
        object["kind"] = .string("APIGroup")
        object["apiVersion"] = .string("v1")
        return .json(JSONCoding.encode(object))
    }

    private func groupObject(_ name: String) -> JSONValue {
        let versions = registry.versions(of: name).map { JSONValue.object(["groupVersion": .string("\(name)/\($0)"), "version": .string($0)]) }
        return .object(["name": .string(name), "versions": .array(versions), "preferredVersion": versions.first ?? .null])
    }

    /// The kind, group and version a subresource serves (upstream's responseKind).
    static func subresourceKind(_ sub: String, of resource: ResourceDefinition) -> (group: String, version: String, kind: String) {
        switch sub {
        case "scale": ("autoscaling", "v1", "Scale")
        case "binding": ("", "v1", "Binding")
        case "eviction": ("policy", "v1", "Eviction")
        case "exec": ("", "v1", "PodExecOptions")
        default: (resource.group, resource.version, resource.kind)
        }
    }

    static func subresourceVerbs(_ sub: String) -> [String] {
        switch sub {
        case "status", "scale": ["get", "patch", "update"]
        case "binding", "eviction": ["create"]
        case "log": ["get"]
        case "exec": ["create", "get"]
        case "finalize": ["update"]
        default: ["get"]
        }
    }

    func resourceList(group: String, version: String) throws(APIError) -> APIResponse {
        let resources = registry.resources.filter { $0.group == group && $0.version == version }
        guard !resources.isEmpty else { throw APIError.pathNotFound(group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)") }
        var entries: [JSONValue] = []
        for r in resources {
            var entry: JSONObject = [
                "name": .string(r.plural), "singularName": .string(r.singular), "namespaced": .bool(r.namespaced),
                "kind": .string(r.kind), "verbs": .array(r.verbs.map { .string($0) }),
            ]
            if !r.shortNames.isEmpty { entry["shortNames"] = .array(r.shortNames.map { .string($0) }) }
            if !r.categories.isEmpty { entry["categories"] = .array(r.categories.map { .string($0) }) }
            entries.append(.object(entry))
            for sub in r.subresources {
                let kind = Self.subresourceKind(sub, of: r)
                var subEntry: JSONObject = [
                    "name": .string("\(r.plural)/\(sub)"), "singularName": .string(""), "namespaced": .bool(r.namespaced),
                    "kind": .string(kind.kind), "verbs": .array(Self.subresourceVerbs(sub).map { .string($0) }),
                ]
                if kind.group != r.group || kind.version != r.version {
                    subEntry["group"] = .string(kind.group)
                    subEntry["version"] = .string(kind.version)
                }
                entries.append(.object(subEntry))
            }
        }
        return .json(JSONCoding.encode(JSONValue.object([
            "kind": .string("APIResourceList"), "apiVersion": .string("v1"),
            "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(entries),
        ])))
    }

    private func aggregated(core: Bool, version: String) -> APIResponse {
        let groups = registry.groups.filter { core ? $0.isEmpty : !$0.isEmpty }
        let items: [JSONValue] = groups.map { group in
            let versions: [JSONValue] = registry.versions(of: group).map { v in
                let resources: [JSONValue] = registry.resources.filter { $0.group == group && $0.version == v }.map { r in
                    var entry: JSONObject = [
                        "resource": .string(r.plural), "singularResource": .string(r.singular),
                        "scope": .string(r.namespaced ? "Namespaced" : "Cluster"),
                        "responseKind": .object(["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]),
                        "verbs": .array(r.verbs.map { .string($0) }),
                    ]
                    if !r.shortNames.isEmpty { entry["shortNames"] = .array(r.shortNames.map { .string($0) }) }
                    if !r.categories.isEmpty { entry["categories"] = .array(r.categories.map { .string($0) }) }
                    if !r.subresources.isEmpty {
                        entry["subresources"] = .array(r.subresources.map { sub in
                            let kind = Self.subresourceKind(sub, of: r)
                            return .object([
                                "subresource": .string(sub),
                                "responseKind": .object(["group": .string(kind.group), "version": .string(kind.version), "kind": .string(kind.kind)]),
                                "verbs": .array(Self.subresourceVerbs(sub).map { .string($0) }),
                            ])
                        })
                    }
                    return .object(entry)
                }
                return .object(["version": .string(v), "resources": .array(resources), "freshness": .string("Current")])
            }
            return .object(["metadata": .object(group.isEmpty ? [:] : ["name": .string(group)]), "versions": .array(versions)])
        }
        let body: JSONValue = .object([
            "kind": .string("APIGroupDiscoveryList"), "apiVersion": .string("apidiscovery.k8s.io/\(version)"),
            "metadata": .object([:]), "items": .array(items),
        ])
        return APIResponse(status: .ok, contentType: "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList", body: .bytes(JSONCoding.encode(body)))
    }
}

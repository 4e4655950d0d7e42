import KubeAPI

/// The OpenAPI documents of the served resources, generated from the type schemas:
/// `/openapi/v2` (Swagger 2.0) and `/openapi/v3` (an index plus one OpenAPI 3.0 document per
/// group-version), shaped as upstream's so that kubectl's explain, its server-side field
/// validation check (the `fieldValidation` parameter on PATCH operations) and client libraries
/// read them. All functions are pure; callers cache the results.
public enum OpenAPI {
    /// The Swagger 2.0 document of every resource in `resources`, with `definitions` for every
    /// structure their kinds reach.
    public static func v2(registry: SchemaRegistry, resources: [ResourceDescriptor], serverVersion: String = "v1.32.0") -> JSONValue {
        let style = Style.v2
        var paths: [String: JSONValue] = [:]
        for resource in resources { paths.merge(self.paths(for: resource, registry: registry, style: style)) { a, _ in a } }
        return .object([
            "swagger": .string("2.0"),
            "info": .object(["title": .string("Kubernetes"), "version": .string(serverVersion)]),
            "paths": .object(paths),
            "definitions": .object(definitions(registry: registry, resources: resources, style: style)),
        ])
    }

    /// The `/openapi/v3` index: one entry per served group-version, whose URL carries a hash of
    /// its document so clients can cache it.
    public static func v3Index(registry: SchemaRegistry, resources: [ResourceDescriptor], serverVersion: String = "v1.32.0") -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for groupVersion in Set(resources.map(\.groupVersionPath)) {
            guard let document = v3(groupVersion: groupVersion, registry: registry, resources: resources, serverVersion: serverVersion) else { continue }
            paths[groupVersion] = .object(["serverRelativeURL": .string("/openapi/v3/\(groupVersion)?hash=\(hash(document))")])
        }
        return .object(["paths": .object(paths)])
    }

    /// The OpenAPI 3.0 document of one group-version (`api/v1`, `apis/apps/v1`), or nil when no
    /// served resource belongs to it.
    public static func v3(groupVersion: String, registry: SchemaRegistry, resources: [ResourceDescriptor], serverVersion: String = "v1.32.0") -> JSONValue? {
        let served = resources.filter { $0.groupVersionPath == groupVersion }
        guard !served.isEmpty else { return nil }
        let style = Style.v3
        var paths: [String: JSONValue] = [:]
        for resource in served { paths.merge(self.paths(for: resource, registry: registry, style: style)) { a, _ in a } }
        return .object([
            "openapi": .string("3.0.0"),
            "info": .object(["title": .string("Kubernetes"), "version": .string(serverVersion)]),
            "paths": .object(paths),
            "components": .object(["schemas": .object(definitions(registry: registry, resources: served, style: style))]),
        ])
    }

    /// A content hash of a document: FNV-1a over its canonical JSON (sorted keys), as 16
    /// uppercase hex digits. Stable across runs and processes.
    public static func hash(_ document: JSONValue) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in describe(document).utf8 {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01b3
        }
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: Definitions

    enum Style {
        case v2, v3
        var refPrefix: String { self == .v2 ? "#/definitions/" : "#/components/schemas/" }
    }

    static let intOrStringName = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    static let quantityName = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    static let patchName = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
    static let metaPrefix = "io.k8s.apimachinery.pkg.apis.meta.v1."

    /// The kinds served under several group-versions (DeleteOptions, Status): upstream lists
    /// one group-version-kind per group-version.
    static let sharedKinds: Set<String> = ["DeleteOptions", "Status"]

    static func definitions(registry: SchemaRegistry, resources: [ResourceDescriptor], style: Style) -> [String: JSONValue] {
        var roots: [TypeSchema] = []
        var listKinds: [(TypeSchema, GroupVersionKind)] = []
        for resource in resources {
            guard let schema = registry.schema(for: resource.groupVersionKind) else { continue }
            roots.append(schema)
            listKinds.append((schema, GroupVersionKind(group: resource.group, version: resource.version, kind: resource.kind + "List")))
            for sub in resource.subresources {
                if let kind = subresourceKind(sub), let schema = registry.schema(for: kind) { roots.append(schema) }
            }
        }
        for name in ["Status", "DeleteOptions"] {
            if let schema = registry.schema(apiVersion: "v1", kind: name) { roots.append(schema) }
        }
        let reachable = SchemaRegistry(kinds: roots).definitions
        let groupVersions = Set(resources.map { GroupVersionKind(group: $0.group, version: $0.version, kind: "") })
        var result: [String: JSONValue] = [:]
        for (name, schema) in reachable {
            var gvks: [GroupVersionKind] = []
            if let gvk = schema.groupVersionKind {
                gvks = sharedKinds.contains(gvk.kind)
                    ? groupVersions.map { GroupVersionKind(group: $0.group, version: $0.version, kind: gvk.kind) }
                    : [gvk]
            }
            result[name] = definition(schema, gvks: gvks, style: style)
        }
        for (item, gvk) in listKinds {
            let name = item.name + "List"
            result[name] = .object([
                "description": .string("A list of \(item.shortName) objects."),
                "type": .string("object"),
                "required": .array([.string("items")]),
                "properties": .object([
                    "apiVersion": property(str("apiVersion", "The versioned schema of this representation of the object."), style: style),
                    "kind": property(str("kind", "The REST resource this object represents."), style: style),
                    "metadata": property(object("metadata", MetaSchemas.listMeta, "Standard list metadata."), style: style),
                    "items": property(list("items", item, "The objects in the list."), style: style),
                ]),
                "x-kubernetes-group-version-kind": gvkList([gvk]),
            ])
        }
        result[intOrStringName] = .object(["description": .string("An integer or a string."), "type": .string("string"), "format": .string("int-or-string")])
        result[quantityName] = .object(["description": .string("A fixed-point number with an optional suffix, e.g. 500m or 2Gi."), "type": .string("string")])
        result[patchName] = .object(["description": .string("A patch document; its format is given by the request's Content-Type."), "type": .string("object")])
        return result
    }

    static func definition(_ schema: TypeSchema, gvks: [GroupVersionKind], style: Style) -> JSONValue {
        var properties: [String: JSONValue] = [:]
        for field in schema.fields { properties[field.name] = property(field, style: style) }
        var object: [String: JSONValue] = [
            "description": .string(schema.description),
            "type": .string("object"),
            "properties": .object(properties),
        ]
        if !gvks.isEmpty { object["x-kubernetes-group-version-kind"] = gvkList(gvks) }
        if schema.isAtomic { object["x-kubernetes-map-type"] = .string("atomic") }
        return .object(object)
    }

    static func gvkList(_ gvks: [GroupVersionKind]) -> JSONValue {
        .array(gvks.sorted { ($0.group, $0.version) < ($1.group, $1.version) }.map(gvkObject))
    }

    static func gvkObject(_ gvk: GroupVersionKind) -> JSONValue {
        .object(["group": .string(gvk.group), "version": .string(gvk.version), "kind": .string(gvk.kind)])
    }

    /// One property: its type (a reference for structures), description and list/map extensions.
    static func property(_ field: FieldSchema, style: Style) -> JSONValue {
        var object = typeSchema(field.type, format: field.format, style: style, wrapRef: true)
        object["description"] = .string(field.description)
        if let value = field.defaultValue { object["default"] = value }
        if case .array = field.type {
            object["x-kubernetes-list-type"] = .string(field.effectiveListType.rawValue)
            if field.effectiveListType == .map { object["x-kubernetes-list-map-keys"] = .array(field.effectiveMapKeys.map(JSONValue.string)) }
        }
        if let key = field.patchMergeKey { object["x-kubernetes-patch-merge-key"] = .string(key) }
        if let strategy = field.patchStrategy { object["x-kubernetes-patch-strategy"] = .string(strategy) }
        if field.isAtomic, case .map = field.type { object["x-kubernetes-map-type"] = .string("atomic") }
        return .object(object)
    }

    /// The schema of a value of `type`. In v3, references that sit beside other keywords are
    /// wrapped in allOf, as upstream's v3 documents do.
    static func typeSchema(_ type: FieldType, format: String?, style: Style, wrapRef: Bool) -> [String: JSONValue] {
        func ref(_ name: String) -> [String: JSONValue] {
            let target: JSONValue = .object(["$ref": .string(style.refPrefix + name)])
            if style == .v3 && wrapRef { return ["allOf": .array([target])] }
            return ["$ref": .string(style.refPrefix + name)]
        }
        switch type {
        case .string: return format.map { ["type": .string("string"), "format": .string($0)] } ?? ["type": .string("string")]
        case .integer: return ["type": .string("integer"), "format": .string(format ?? "int64")]
        case .number: return ["type": .string("number"), "format": .string("double")]
        case .boolean: return ["type": .string("boolean")]
        case .intOrString: return ref(intOrStringName)
        case .quantity: return ref(quantityName)
        case .any: return ["type": .string("object"), "x-kubernetes-preserve-unknown-fields": .bool(true)]
        case .object(let schema): return ref(schema.name)
        case .array(let items):
            return ["type": .string("array"), "items": .object(typeSchema(items, format: format, style: style, wrapRef: false))]
        case .map(let values):
            return ["type": .string("object"), "additionalProperties": .object(typeSchema(values, format: format, style: style, wrapRef: false))]
        }
    }

    static func subresourceKind(_ name: String) -> GroupVersionKind? {
        switch name {
        case "scale": return GroupVersionKind(group: "autoscaling", version: "v1", kind: "Scale")
        case "eviction": return GroupVersionKind(group: "policy", version: "v1", kind: "Eviction")
        case "binding": return GroupVersionKind(group: "", version: "v1", kind: "Binding")
        default: return nil
        }
    }

    // MARK: Paths

    /// `CoreV1`, `AppsV1`, `CoordinationV1`: the operation ID infix upstream uses.
    static func operationGroup(_ resource: ResourceDescriptor) -> String {
        let group = resource.group.isEmpty ? "core" : String(resource.group.split(separator: ".").first ?? "")
        return group.prefix(1).uppercased() + group.dropFirst() + resource.version.prefix(1).uppercased() + resource.version.dropFirst()
    }

    static func tag(_ resource: ResourceDescriptor) -> String {
        let group = resource.group.isEmpty ? "core" : String(resource.group.split(separator: ".").first ?? "")
        return "\(group)_\(resource.version)"
    }

    static func paths(for resource: ResourceDescriptor, registry: SchemaRegistry, style: Style) -> [String: JSONValue] {
        let base = "/" + resource.groupVersionPath
        let scope = resource.namespaced ? "Namespaced" : ""
        let collection = resource.namespaced ? "\(base)/namespaces/{namespace}/\(resource.plural)" : "\(base)/\(resource.plural)"
        let item = collection + "/{name}"
        let group = operationGroup(resource)
        let kind = resource.kind
        let gvk = resource.groupVersionKind
        let typeName = registry.schema(for: gvk)?.name ?? "\(definitionPrefix(group: resource.group, version: resource.version)).\(kind)"
        let verbs = Set(resource.verbs)
        let b = OperationBuilder(style: style, tag: tag(resource))
        var result: [String: JSONValue] = [:]

        var collectionOps: [String: JSONValue] = [:]
        if verbs.contains("list") {
            collectionOps["get"] = b.operation("list or watch objects of kind \(kind)", id: "list\(group)\(scope)\(kind)", action: "list", gvk: gvk,
                                               query: Param.list, response: typeName + "List", consumes: nil)
        }
        if verbs.contains("create") {
            collectionOps["post"] = b.operation("create a \(kind)", id: "create\(group)\(scope)\(kind)", action: "post", gvk: gvk,
                                                query: Param.write, body: typeName, response: typeName, created: true)
        }
        if verbs.contains("deletecollection") {
            collectionOps["delete"] = b.operation("delete collection of \(kind)", id: "delete\(group)Collection\(scope)\(kind)", action: "deletecollection", gvk: gvk,
                                                  query: Param.list + Param.delete, body: metaPrefix + "DeleteOptions", response: metaPrefix + "Status")
        }
        if !collectionOps.isEmpty {
            collectionOps["parameters"] = .array((resource.namespaced ? [b.path("namespace")] : []) + [b.query(Param.pretty)])
            result[collection] = .object(collectionOps)
        }
        if resource.namespaced && verbs.contains("list") {
            result["\(base)/\(resource.plural)"] = .object([
                "get": b.operation("list or watch objects of kind \(kind)", id: "list\(group)\(kind)ForAllNamespaces", action: "list", gvk: gvk,
                                   query: Param.list, response: typeName + "List", consumes: nil),
                "parameters": .array([b.query(Param.pretty)]),
            ])
        }

        var itemOps: [String: JSONValue] = [:]
        if verbs.contains("get") {
            itemOps["get"] = b.operation("read the specified \(kind)", id: "read\(group)\(scope)\(kind)", action: "get", gvk: gvk, query: [], response: typeName, consumes: nil)
        }
        if verbs.contains("update") {
            itemOps["put"] = b.operation("replace the specified \(kind)", id: "replace\(group)\(scope)\(kind)", action: "put", gvk: gvk,
                                         query: Param.write, body: typeName, response: typeName, created: true)
        }
        if verbs.contains("patch") {
            itemOps["patch"] = b.patchOperation("partially update the specified \(kind)", id: "patch\(group)\(scope)\(kind)", gvk: gvk, response: typeName)
        }
        if verbs.contains("delete") {
            itemOps["delete"] = b.operation("delete a \(kind)", id: "delete\(group)\(scope)\(kind)", action: "delete", gvk: gvk,
                                            query: Param.delete, body: metaPrefix + "DeleteOptions", response: metaPrefix + "Status", accepted: true)
        }
        if !itemOps.isEmpty {
            itemOps["parameters"] = .array([b.path("name")] + (resource.namespaced ? [b.path("namespace")] : []) + [b.query(Param.pretty)])
            result[item] = .object(itemOps)
        }

        for sub in resource.subresources {
            let suffix = sub.prefix(1).uppercased() + sub.dropFirst()
            var ops: [String: JSONValue] = [:]
            switch sub {
            case "status", "scale":
                let subGVK = subresourceKind(sub) ?? gvk
                let subType = registry.schema(for: subGVK)?.name ?? typeName
                ops["get"] = b.operation("read \(sub) of the specified \(kind)", id: "read\(group)\(scope)\(kind)\(suffix)", action: "get", gvk: subGVK, query: [], response: subType, consumes: nil)
                ops["put"] = b.operation("replace \(sub) of the specified \(kind)", id: "replace\(group)\(scope)\(kind)\(suffix)", action: "put", gvk: subGVK,
                                         query: Param.write, body: subType, response: subType, created: true)
                ops["patch"] = b.patchOperation("partially update \(sub) of the specified \(kind)", id: "patch\(group)\(scope)\(kind)\(suffix)", gvk: subGVK, response: subType)
            case "eviction", "binding":
                guard let subGVK = subresourceKind(sub), let subType = registry.schema(for: subGVK)?.name else { continue }
                ops["post"] = b.operation("create \(sub) of a \(kind)", id: "create\(group)\(scope)\(kind)\(suffix)", action: "post", gvk: subGVK,
                                          query: Param.write, body: subType, response: subType, created: true, accepted: true)
            case "log":
                ops["get"] = b.operation("read log of the specified \(kind)", id: "read\(group)\(scope)\(kind)Log", action: "get", gvk: gvk,
                                         query: Param.log, response: nil, consumes: nil, produces: ["text/plain", "application/json", "application/yaml"])
            default:
                continue
            }
            ops["parameters"] = .array([b.path("name")] + (resource.namespaced ? [b.path("namespace")] : []) + [b.query(Param.pretty)])
            result["\(item)/\(sub)"] = .object(ops)
        }
        return result
    }

    // MARK: Parameters

    /// A query parameter: name, JSON type and a one-line description.
    struct Param {
        var name: String
        var type: String
        var description: String

        static let pretty = Param(name: "pretty", type: "string", description: "If 'true', the output is indented.")
        static let dryRun = Param(name: "dryRun", type: "string", description: "When All, the request is processed but nothing is persisted.")
        static let fieldManager = Param(name: "fieldManager", type: "string", description: "Name of the actor making the change, recorded in managedFields.")
        static let fieldValidation = Param(name: "fieldValidation", type: "string",
                                           description: "How unknown or duplicate fields are treated: Ignore, Warn (the default) or Strict.")
        static let force = Param(name: "force", type: "boolean", description: "Apply requests take the fields other managers own.")
        static let write = [dryRun, fieldManager, fieldValidation]
        static let list = [
            Param(name: "allowWatchBookmarks", type: "boolean", description: "Ask for BOOKMARK events on a watch."),
            Param(name: "continue", type: "string", description: "Token from a previous page of the list."),
            Param(name: "fieldSelector", type: "string", description: "Select objects by fields."),
            Param(name: "labelSelector", type: "string", description: "Select objects by labels."),
            Param(name: "limit", type: "integer", description: "Most objects to return in one page."),
            Param(name: "resourceVersion", type: "string", description: "Version of the store to read at or watch from."),
            Param(name: "resourceVersionMatch", type: "string", description: "How resourceVersion applies to a list."),
            Param(name: "sendInitialEvents", type: "boolean", description: "Start a watch with the current objects."),
            Param(name: "timeoutSeconds", type: "integer", description: "Time limit of the call."),
            Param(name: "watch", type: "boolean", description: "Stream changes instead of listing."),
        ]
        static let delete = [
            dryRun,
            Param(name: "gracePeriodSeconds", type: "integer", description: "Seconds before the object is deleted."),
            Param(name: "orphanDependents", type: "boolean", description: "Deprecated; use propagationPolicy."),
            Param(name: "propagationPolicy", type: "string", description: "Orphan, Background or Foreground garbage collection."),
        ]
        static let log = [
            Param(name: "container", type: "string", description: "Container to read; needed when the pod has several."),
            Param(name: "follow", type: "boolean", description: "Stream the log."),
            Param(name: "previous", type: "boolean", description: "Read the log of the previous instance."),
            Param(name: "sinceSeconds", type: "integer", description: "Only lines newer than this many seconds."),
            Param(name: "tailLines", type: "integer", description: "Only the last lines."),
            Param(name: "timestamps", type: "boolean", description: "Prefix each line with its timestamp."),
        ]
    }

    struct OperationBuilder {
        var style: Style
        var tag: String

        func query(_ p: Param) -> JSONValue {
            switch style {
            case .v2:
                return .object(["name": .string(p.name), "in": .string("query"), "type": .string(p.type), "uniqueItems": .bool(true), "description": .string(p.description)])
            case .v3:
                return .object(["name": .string(p.name), "in": .string("query"), "schema": .object(["type": .string(p.type), "uniqueItems": .bool(true)]), "description": .string(p.description)])
            }
        }

        func path(_ name: String) -> JSONValue {
            let description = name == "namespace" ? "Object name and auth scope, such as for teams and projects." : "Name of the object."
            switch style {
            case .v2:
                return .object(["name": .string(name), "in": .string("path"), "required": .bool(true), "type": .string("string"), "uniqueItems": .bool(true), "description": .string(description)])
            case .v3:
                return .object(["name": .string(name), "in": .string("path"), "required": .bool(true), "schema": .object(["type": .string("string"), "uniqueItems": .bool(true)]), "description": .string(description)])
            }
        }

        private func ref(_ name: String) -> JSONValue { .object(["$ref": .string(style.refPrefix + name)]) }

        private func responses(_ type: String?, created: Bool, accepted: Bool, produces: [String]) -> JSONValue {
            var codes = ["200"]
            if created { codes.append("201") }
            if accepted { codes.append("202") }
            var result: [String: JSONValue] = ["401": .object(["description": .string("Unauthorized")])]
            for code in codes {
                let description: JSONValue = .string(code == "200" ? "OK" : (code == "201" ? "Created" : "Accepted"))
                let schema: JSONValue = type.map(ref) ?? .object(["type": .string("string")])
                switch style {
                case .v2:
                    result[code] = .object(["description": description, "schema": schema])
                case .v3:
                    var content: [String: JSONValue] = [:]
                    for media in produces { content[media] = .object(["schema": schema]) }
                    result[code] = .object(["description": description, "content": .object(content)])
                }
            }
            return .object(result)
        }

        func operation(_ summary: String, id: String, action: String, gvk: GroupVersionKind, query params: [Param], body: String? = nil,
                       response: String?, consumes: [String]? = ["*/*"], produces: [String] = ["application/json", "application/yaml"],
                       created: Bool = false, accepted: Bool = false) -> JSONValue {
            var object: [String: JSONValue] = [
                "description": .string(summary),
                "operationId": .string(id),
                "tags": .array([.string(tag)]),
                "x-kubernetes-action": .string(action),
                "x-kubernetes-group-version-kind": gvkObject(gvk),
                "responses": responses(response, created: created, accepted: accepted, produces: produces),
            ]
            var parameters = params.map(query)
            switch style {
            case .v2:
                if let body { parameters.insert(.object(["name": .string("body"), "in": .string("body"), "required": .bool(true), "schema": ref(body)]), at: 0) }
                if let consumes { object["consumes"] = .array(consumes.map(JSONValue.string)) }
                object["produces"] = .array(produces.map(JSONValue.string))
                object["schemes"] = .array([.string("https")])
            case .v3:
                if let body {
                    object["requestBody"] = .object(["required": .bool(true), "content": .object([
                        "*/*": .object(["schema": ref(body)]),
                    ])])
                }
            }
            if !parameters.isEmpty { object["parameters"] = .array(parameters) }
            return .object(object)
        }

        /// A PATCH operation: the four patch media types and the dryRun, fieldManager,
        /// fieldValidation and force parameters (kubectl looks for fieldValidation here).
        func patchOperation(_ summary: String, id: String, gvk: GroupVersionKind, response: String) -> JSONValue {
            guard case .object(var object) = operation(summary, id: id, action: "patch", gvk: gvk, query: Param.write + [Param.force],
                                                       response: response, consumes: PatchType.allCases.map(\.rawValue), created: true) else {
                return .null
            }
            switch style {
            case .v2:
                if case .array(var parameters)? = object["parameters"] {
                    parameters.insert(.object(["name": .string("body"), "in": .string("body"), "required": .bool(true), "schema": ref(patchName)]), at: 0)
                    object["parameters"] = .array(parameters)
                }
            case .v3:
                var content: [String: JSONValue] = [:]
                for type in PatchType.allCases { content[type.rawValue] = .object(["schema": ref(patchName)]) }
                object["requestBody"] = .object(["required": .bool(true), "content": .object(content)])
            }
            return .object(object)
        }
    }
}

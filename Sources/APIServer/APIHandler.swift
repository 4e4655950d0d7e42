import APIMachinery
import Foundation
import KubeAPI
import NIOHTTP1
import Store

/// Routes one authenticated request to discovery, health or a resource, and turns every failure
/// into a meta/v1 Status. Never throws and never traps on client input.
struct APIHandler: Sendable {
    let storage: RESTStorage
    let registry: ResourceRegistry
    let tokens: Set<String>
    let watchSettings: WatchSettings
    let kubelet: KubeletConnector
    let ready: @Sendable () -> Bool
    /// Who a request without credentials is: nil (401) except on the loopback plain-HTTP port.
    var anonymousUser: UserInfo? = nil
    /// Signs and checks bound service-account tokens; without it they are not accepted.
    var serviceAccountTokens: ServiceAccountTokens? = nil

    func handle(_ request: APIRequest) async -> APIResponse {
        var request = request
        if request.user == nil { request.user = anonymousUser }
        if request.user == nil, let auth = request.headers.first(name: "Authorization"), auth.hasPrefix("Bearer ") {
            var token = String(auth.dropFirst("Bearer ".count))
            // Tokens are printable ASCII; only another form needs Foundation's trimming.
            if !token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) { token = token.trimmingCharacters(in: .whitespaces) }
            if tokens.contains(token) { request.user = UserInfo(name: ClusterPKI.adminUser, groups: [ClusterPKI.adminGroup, "system:authenticated"]) }
            if request.user == nil, let serviceAccountTokens { request.user = await serviceAccountTokens.authenticate(token, storage: storage) }
        }
        // A mutating request will probably write: the embedded store may hold its next fsync
        // open for it while the request is on its way (group commit).
        if request.method == .POST || request.method == .PUT || request.method == .PATCH || request.method == .DELETE,
           let store = storage.store as? LocalStore {
            let request = request
            return await store.expectingWrite { await respond(request) }
        }
        return await respond(request)
    }

    private func respond(_ request: APIRequest) async -> APIResponse {
        do throws(APIError) {
            if let response = publicEndpoint(request) { return response }
            guard request.user != nil else { throw APIError.unauthorized() }
            return try await route(request).negotiatingProtobuf(accept: request.accept)
        } catch {
            return APIResponse.error(error).negotiatingProtobuf(accept: request.accept)
        }
    }

    /// Health and version are readable without credentials (upstream's system:public-info-viewer).
    private func publicEndpoint(_ request: APIRequest) -> APIResponse? {
        guard request.method == .GET || request.method == .HEAD else { return nil }
        switch request.path {
        case "/healthz", "/livez", "/healthz/ping", "/livez/ping": return .text("ok")
        case "/readyz": return ready() ? .text("ok") : .text("[-]store not ready\nreadyz check failed", status: .internalServerError)
        case "/version", "/version/": return .json(JSONCoding.encode(Discovery.version))
        default: return nil
        }
    }

    private func route(_ request: APIRequest) async throws(APIError) -> APIResponse {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let discovery = Discovery(registry: registry)
        if request.method == .GET || request.method == .HEAD {
            switch parts.count {
            case 0: return .json(JSONCoding.encode(discovery.rootPaths))
            case 1 where parts[0] == "api": return discovery.apiVersions(accept: request.accept)
            case 1 where parts[0] == "apis": return discovery.apiGroups(accept: request.accept)
            case 2 where parts[0] == "apis": return try discovery.group(parts[1])
            case 2 where parts[0] == "openapi" && parts[1] == "v2": return OpenAPIDocuments.v2(registry: registry, accept: request.accept)
            case 2 where parts[0] == "openapi" && parts[1] == "v3": return OpenAPIDocuments.v3Index(registry: registry)
            default:
                if parts.count >= 3 && parts[0] == "openapi" && parts[1] == "v3" {
                    return try OpenAPIDocuments.v3(path: parts.dropFirst(2).joined(separator: "/"), registry: registry)
                }
            }
        }
        guard var target = try ResourceTarget(parts: parts, registry: registry) else {
            throw APIError.pathNotFound(request.path)
        }
        if target.resource == nil {
            guard request.method == .GET || request.method == .HEAD else { throw APIError.methodNotAllowed("the server does not allow this method on the requested resource") }
            return try discovery.resourceList(group: target.group, version: target.version)
        }
        if request.flag("watch") { target.watch = true }
        var resourceHandler = ResourceHandler(storage: storage, target: target, request: request, watchSettings: watchSettings, kubelet: kubelet)
        resourceHandler.serviceAccountTokens = serviceAccountTokens
        return try await resourceHandler.serve()
    }
}

/// What a resource path names: /api/v1/[namespaces/NS/]PLURAL[/NAME[/SUBRESOURCE]] and
/// /apis/GROUP/VERSION/..., also the legacy /watch/ prefix.
struct ResourceTarget: Sendable {
    var group: String
    var version: String
    var resource: ResourceDefinition?
    var namespace: String?
    var name: String?
    var subresource: String?
    var watch = false

    /// nil when the path is not an API path at all; throws 404 for an unknown resource.
    init?(parts: [String], registry: ResourceRegistry) throws(APIError) {
        var rest: ArraySlice<String>
        if parts.first == "api", parts.count >= 2 {
            group = ""
            version = parts[1]
            rest = parts.dropFirst(2)
        } else if parts.first == "apis", parts.count >= 3 {
            group = parts[1]
            version = parts[2]
            rest = parts.dropFirst(3)
        } else {
            return nil
        }
        // The path is spelled out for 404s only.
        var path: String { "/" + parts.joined(separator: "/") }
        guard registry.resources.contains(where: { $0.group == group && $0.version == version }) else {
            throw APIError.pathNotFound(path)
        }
        if rest.isEmpty {
            resource = nil
            return
        }
        if rest.first == "watch" {
            watch = true
            rest = rest.dropFirst()
        }
        let items = Array(rest)
        let plural: String
        // namespaces/NAME/{status,finalize} is the namespace's own subresource, not a namespace scope.
        if items.count >= 3 && items[0] == "namespaces" && !(items.count == 3 && ["status", "finalize"].contains(items[2])) {
            namespace = items[1]
            plural = items[2]
            name = items.count > 3 ? items[3] : nil
            subresource = items.count > 4 ? items[4] : nil
            if items.count > 5 { throw APIError.pathNotFound(path) }
        } else {
            plural = items[0]
            name = items.count > 1 ? items[1] : nil
            subresource = items.count > 2 ? items[2] : nil
            if items.count > 3 { throw APIError.pathNotFound(path) }
        }
        guard let resource = registry.lookup(group: group, version: version, plural: plural) else {
            throw APIError.pathNotFound(path)
        }
        if namespace != nil && !resource.namespaced { throw APIError.pathNotFound(path) }
        if let subresource, !resource.subresources.contains(subresource) { throw APIError.pathNotFound(path) }
        if resource.namespaced && namespace == nil && name != nil { throw APIError.pathNotFound(path) }
        self.resource = resource
    }
}

/// Serves one request on one resource.
struct ResourceHandler: Sendable {
    let storage: RESTStorage
    let target: ResourceTarget
    let request: APIRequest
    let watchSettings: WatchSettings
    let kubelet: KubeletConnector
    var serviceAccountTokens: ServiceAccountTokens? = nil

    var resource: ResourceDefinition { target.resource! }
    var query: [String: String] { request.query }

    func serve() async throws(APIError) -> APIResponse {
        let method = request.method
        switch (method, target.name, target.subresource) {
        case (.GET, nil, _), (.HEAD, nil, _):
            return target.watch ? try await watch() : try await list()
        case (.GET, let name?, nil), (.HEAD, let name?, nil):
            if target.watch { return try await watch(pinnedName: name) }
            return respond(object: try await storage.get(resource, namespace: target.namespace, name: name))
        case (.GET, let name?, "status"):
            return respond(object: try await storage.get(resource, namespace: target.namespace, name: name))
        case (.GET, let name?, "scale"):
            return respond(object: Scale.from(try await storage.get(resource, namespace: target.namespace, name: name), resource))
        case (.GET, let name?, "log"):
            return try await PodLogs(storage: storage, kubelet: kubelet).serve(namespace: target.namespace ?? "", name: name, query: query)
        case (.POST, let name?, "token"):
            guard let serviceAccountTokens else { throw APIError.methodNotAllowed("this server does not issue service-account tokens") }
            return respond(object: try await serviceAccountTokens.tokenRequest(namespace: target.namespace ?? "", name: name, body: try decodeBody(), storage: storage), status: .created)
        case (.GET, let name?, let sub?) where PodStreams.subresources.contains(sub), (.POST, let name?, let sub?) where PodStreams.subresources.contains(sub):
            let stream = try await PodStreams(storage: storage).target(subresource: sub, namespace: target.namespace ?? "", name: name, request: request)
            return APIResponse(status: .switchingProtocols, contentType: "", body: .bytes([]), upgrade: stream)
        case (.POST, nil, nil):
            let warnings = RequestWarnings()
            let body = try validatedBody(warnings: warnings)
            let created = try await storage.create(resource, namespace: target.namespace, body: body, options: try writeOptions(body: nil))
            return respond(object: created, status: .created).adding(warnings)
        case (.POST, let name?, "binding"):
            return respond(object: try await PodBinding(storage: storage).bind(namespace: target.namespace ?? "", name: name, body: try decodeBody(), dryRun: dryRun()), status: .created)
        case (.POST, let name?, "eviction"):
            return respond(object: try await Eviction(storage: storage).evict(namespace: target.namespace ?? "", name: name, body: try decodeBody(), dryRun: dryRun()), status: .created)
        case (.PUT, let name?, let sub):
            let warnings = RequestWarnings()
            let body = try validatedBody(warnings: warnings)
            return try await put(name: name, subresource: sub, body: body).adding(warnings)
        case (.PATCH, let name?, let sub):
            return try await patch(name: name, subresource: sub)
        case (.DELETE, let name?, nil):
            let options = try writeOptions(body: try decodeDeleteOptions())
            let (object, gone) = try await storage.delete(resource, namespace: target.namespace, name: name, options: options)
            return respond(object: object, status: gone ? .ok : .ok)
        case (.DELETE, nil, nil):
            return try await deleteCollection()
        default:
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    // MARK: Bodies and options

    /// The request body as JSON: JSON or YAML (one document), at most the server's body limit.
    func decodeBody() throws(APIError) -> JSONValue {
        let type = request.mediaType
        return try BodyDecoder.decode(request.body, contentType: type)
    }

    func decodeDeleteOptions() throws(APIError) -> JSONObject? {
        guard !request.body.isEmpty else { return nil }
        guard let object = try decodeBody().objectValue else { throw APIError.badRequest("DeleteOptions must be a JSON object") }
        return object
    }

    func dryRun() throws(APIError) -> Bool {
        guard let value = query["dryRun"], !value.isEmpty else { return false }
        guard value == "All" else { throw APIError.badRequest("Invalid dry run value \"\(value)\": supported values: \"All\"") }
        return true
    }

    func writeOptions(body: JSONObject?) throws(APIError) -> WriteOptions {
        var options = WriteOptions()
        options.dryRun = try dryRun()
        if let body {
            if let values = body["dryRun"]?.arrayValue, values.contains(.string("All")) { options.dryRun = true }
            options.gracePeriodSeconds = body["gracePeriodSeconds"]?.intValue
            options.propagationPolicy = body["propagationPolicy"]?.stringValue
            if body["orphanDependents"]?.boolValue == true && options.propagationPolicy == nil { options.propagationPolicy = "Orphan" }
            options.preconditionUID = body[path: ["preconditions", "uid"]]?.stringValue
            options.preconditionResourceVersion = body[path: ["preconditions", "resourceVersion"]]?.stringValue
        }
        if let grace = query["gracePeriodSeconds"] {
            guard let value = Int64(grace) else { throw APIError.badRequest("invalid gracePeriodSeconds \"\(grace)\"") }
            options.gracePeriodSeconds = value
        }
        if let policy = query["propagationPolicy"], !policy.isEmpty { options.propagationPolicy = policy }
        if request.flag("orphanDependents") && options.propagationPolicy == nil { options.propagationPolicy = "Orphan" }
        _ = try FieldValidationDirective(query: query)
        if request.method != .DELETE { options.fieldManager = try fieldManager() }
        options.subresource = target.subresource
        return options
    }

    func listOptions() throws(APIError) -> ListOptions {
        var options = ListOptions()
        if let text = query["labelSelector"], !text.isEmpty { options.labelSelector = try LabelSelectorQuery(parsing: text) }
        if let text = query["fieldSelector"], !text.isEmpty { options.fieldSelector = try FieldSelectorQuery(parsing: text, resource: resource) }
        if let text = query["limit"], !text.isEmpty {
            guard let limit = Int(text), limit >= 0 else { throw APIError.badRequest("invalid limit \"\(text)\"") }
            options.limit = limit
        }
        options.continueToken = query["continue"]
        options.resourceVersion = query["resourceVersion"] ?? ""
        options.resourceVersionMatch = query["resourceVersionMatch"] ?? ""
        if !["", "Exact", "NotOlderThan"].contains(options.resourceVersionMatch) {
            throw APIError.badRequest("resourceVersionMatch: Unsupported value: \"\(options.resourceVersionMatch)\": supported values: \"Exact\", \"NotOlderThan\", \"\"")
        }
        if !options.resourceVersionMatch.isEmpty && options.resourceVersion.isEmpty {
            throw APIError.badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
        }
        if options.continueToken?.isEmpty == false && !options.resourceVersion.isEmpty && options.resourceVersion != "0" {
            throw APIError.badRequest("specifying resource version is not allowed when using continue")
        }
        return options
    }

    // MARK: Verbs

    func list() async throws(APIError) -> APIResponse {
        if Table.wanted(request.accept) {
            let page = try await storage.listForTable(resource, namespace: target.namespace, options: try listOptions())
            return .json(Table.encodeList(page.items, resource: resource, includeObject: query["includeObject"] ?? "Metadata",
                                          resourceVersion: page.resourceVersion, continueToken: page.continueToken),
                         contentTypeTable: true)
        }
        let page = try await storage.listServed(resource, namespace: target.namespace, options: try listOptions())
        return .json(Self.encodeList(page, resource))
    }

    /// The list object of `page`, byte for byte what `JSONCoding.encode` gives for the decoded
    /// list (members in sorted order: apiVersion, items, kind, metadata), around items that are
    /// already encoded.
    static func encodeList(_ page: ListPage<[UInt8]>, _ resource: ResourceDefinition) -> [UInt8] {
        var metadata: JSONObject = ["resourceVersion": .string(String(page.resourceVersion))]
        if let token = page.continueToken { metadata["continue"] = .string(token) }
        if let remaining = page.remainingItemCount { metadata["remainingItemCount"] = .int(remaining) }
        var out: [UInt8] = []
        out.reserveCapacity(page.items.reduce(128) { $0 + $1.count + 1 })
        out.append(contentsOf: #"{"apiVersion":"#.utf8)
        out.append(contentsOf: JSONCoding.encode(JSONValue.string(resource.apiVersion)))
        out.append(contentsOf: #","items":["#.utf8)
        for (index, item) in page.items.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: item)
        }
        out.append(contentsOf: #"],"kind":"#.utf8)
        out.append(contentsOf: JSONCoding.encode(JSONValue.string(resource.listKind)))
        out.append(contentsOf: #","metadata":"#.utf8)
        out.append(contentsOf: JSONCoding.encode(metadata))
        out.append(UInt8(ascii: "}"))
        return out
    }

    func watch(pinnedName: String? = nil) async throws(APIError) -> APIResponse {
        var options = try listOptions()
        if let pinnedName {
            options.fieldSelector.requirements.append((field: "metadata.name", value: pinnedName, negated: false))
        }
        var timeout = watchSettings.defaultTimeout
        if let text = query["timeoutSeconds"], !text.isEmpty {
            guard let seconds = Int64(text), seconds >= 0 else { throw APIError.badRequest("invalid timeoutSeconds \"\(text)\"") }
            if seconds > 0 { timeout = .seconds(seconds) }
        }
        let stream = try await WatchStream(storage: storage, resource: resource, namespace: target.namespace, options: options,
                                           bookmarks: request.flag("allowWatchBookmarks"), sendInitialEvents: request.flag("sendInitialEvents"),
                                           table: Table.wanted(request.accept) ? (query["includeObject"] ?? "Metadata") : nil,
                                           timeout: timeout, settings: watchSettings).start()
        return APIResponse(status: .ok, contentType: Table.wanted(request.accept) ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json",
                           body: .stream(stream))
    }

    func put(name: String, subresource: String?, body: JSONValue) async throws(APIError) -> APIResponse {
        let options = try writeOptions(body: nil)
        guard let object = body.objectValue else { throw APIError.badRequest("the body of the request is not a JSON object") }
        switch subresource {
        case nil, "status", "finalize":
            let scope: RESTStorage.UpdateScope = subresource == "status" ? .status : subresource == "finalize" ? .finalize : .main
            let updated = try await storage.update(resource, namespace: target.namespace, name: name, scope: scope, options: options) { _ throws(APIError) in object }
            return respond(object: updated)
        case "scale":
            let updated = try await storage.update(resource, namespace: target.namespace, name: name, scope: .main, options: options) { current throws(APIError) in
                try Scale.apply(object, to: current)
            }
            return respond(object: Scale.from(updated, resource))
        default:
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    func patch(name: String, subresource: String?) async throws(APIError) -> APIResponse {
        let options = try writeOptions(body: nil)
        let type = request.mediaType
        guard let patchType = PatchType(rawValue: type) else { throw APIError.unsupportedMediaType(type) }
        let warnings = RequestWarnings()
        let directive = try FieldValidationDirective(query: query)
        if patchType == .apply {
            let (object, created) = try await apply(name: name, subresource: subresource, options: options, directive: directive, warnings: warnings)
            return respond(object: object, status: created ? .created : .ok).adding(warnings)
        }
        try checkNoForce()
        let rawJSON = rawJSONBody
        let patchBody: JSONValue
        do {
            patchBody = try JSONValue.parse(request.body)
        } catch {
            throw APIError.badRequest("error decoding patch: invalid JSON: \(error)")
        }
        let resource = self.resource
        let schema = SchemaRegistry.builtin.schema(apiVersion: resource.apiVersion, kind: resource.kind)
        let scale = subresource == "scale"
        let scope: RESTStorage.UpdateScope = subresource == "status" ? .status : .main
        let updated = try await storage.update(resource, namespace: target.namespace, name: name, scope: scope, options: options) { current throws(APIError) in
            let original: JSONValue = .object(scale ? Scale.from(current, resource) : current)
            let patched: JSONValue
            do throws(PatchError) {
                switch patchType {
                case .merge: patched = JSONMergePatch.apply(patchBody, to: original)
                case .json: patched = try JSONPatch.apply(patchBody, to: original)
                case .strategic: patched = try StrategicMergePatch.apply(patchBody, to: original, schema: scale ? nil : schema)
                case .apply: patched = original
                }
            } catch {
                throw APIError.from(error, resource, name: name)
            }
            guard var object = try checkingFields(patched, apiVersion: scale ? "autoscaling/v1" : resource.apiVersion, kind: scale ? "Scale" : resource.kind,
                                                  rawJSON: rawJSON, directive: directive, warnings: warnings, unchangedFrom: original).objectValue else {
                throw APIError.badRequest("the patched object is not a JSON object")
            }
            if scale { return try Scale.apply(object, to: current) }
            // A patch that does not name a resourceVersion applies to whatever is current: no
            // precondition, so a concurrent write makes the update read and patch again (as
            // upstream's patcher retries) instead of answering 409.
            if patchBody[path: ["metadata", "resourceVersion"]] == nil {
                object.metadata["resourceVersion"] = nil
            }
            return object
        }
        return respond(object: scale ? Scale.from(updated, resource) : updated).adding(warnings)
    }

    func deleteCollection() async throws(APIError) -> APIResponse {
        let options = try writeOptions(body: try decodeDeleteOptions())
        var listOptions = try listOptions()
        listOptions.limit = 0
        let page = try await storage.list(resource, namespace: target.namespace, options: listOptions)
        var deleted: [JSONValue] = []
        for item in page.items {
            do {
                let (object, _) = try await storage.delete(resource, namespace: item.namespace.isEmpty ? nil : item.namespace, name: item.name, options: options)
                deleted.append(.object(object))
            } catch let error where error.code == 404 {
                continue
            }
        }
        let list: JSONObject = [
            "kind": .string(resource.listKind), "apiVersion": .string(resource.apiVersion),
            "metadata": .object(["resourceVersion": .string(String(page.resourceVersion))]), "items": .array(deleted),
        ]
        return .json(JSONCoding.encode(list))
    }

    func respond(object: JSONObject, status: HTTPResponseStatus = .ok) -> APIResponse {
        if Table.wanted(request.accept), object["kind"]?.stringValue == resource.kind {
            let rv = Int64(object.metadata["resourceVersion"]?.stringValue ?? "") ?? 0
            return .json(JSONCoding.encode(Table.render([object], resource: resource, includeObject: query["includeObject"] ?? "Metadata", resourceVersion: rv, continueToken: nil)),
                         status: status, contentTypeTable: true)
        }
        // A write's result and a read's object are usually cached with their encoding (the
        // stored bytes with the resourceVersion spliced in); a dry run's result is not stored.
        if (try? dryRun()) != true, object["kind"]?.stringValue == resource.kind, let encoded = storage.cachedEncoding(of: object, resource) {
            return .json(encoded, status: status)
        }
        return .json(JSONCoding.encode(object), status: status)
    }
}

extension APIResponse {
    static func json(_ bytes: [UInt8], status: HTTPResponseStatus = .ok, contentTypeTable: Bool) -> APIResponse {
        APIResponse(status: status, contentType: contentTypeTable ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json", body: .bytes(bytes))
    }
}

extension APIError {
    static func from(_ error: PatchError, _ resource: ResourceDefinition, name: String) -> APIError {
        if error.isBadRequest { return .badRequest(error.message) }
        if error.isConflict { return .conflict(resource, name: name, why: error.message) }
        let causes = error.causes.map { StatusCause(reason: $0.reason, message: $0.message, field: $0.field) }
        return APIError(code: 422, reason: "Invalid", message: "\(resource.kind) \"\(name)\" is invalid: \(error.message)",
                        details: StatusDetails(name: name, group: resource.group, kind: resource.kind, causes: causes.isEmpty ? nil : causes))
    }
}

/// Request bodies: JSON, YAML with exactly one document, or Kubernetes protobuf.
enum BodyDecoder {
    static func decode(_ body: [UInt8], contentType: String) throws(APIError) -> JSONValue {
        guard !body.isEmpty else { throw APIError.badRequest("the request body is empty") }
        switch contentType {
        case "", "application/json", "*/*":
            return try JSONCoding.decode(body, what: "the request body")
        case "application/yaml", "application/x-yaml", "text/yaml":
            let documents: [JSONValue]
            do { documents = try Manifest.documents(String(decoding: body, as: UTF8.self), source: "the request body") } catch {
                throw APIError.badRequest("error decoding YAML: \(error)")
            }
            guard documents.count == 1 else { throw APIError.badRequest("the request body must hold exactly one YAML document, found \(documents.count)") }
            return documents[0]
        case ProtobufCodec.mediaType:
            // kubectl's typed clients (create namespace, configmap, secret; scale; DeleteOptions)
            // send protobuf; it becomes the JSON the rest of the server works on.
            do { return try ProtobufCodec().decodeObject(body) } catch {
                throw APIError.badRequest("error decoding protobuf request body: \(error.message)")
            }
        default:
            throw APIError.unsupportedMediaType(contentType)
        }
    }
}

import APIMachinery
import KubeAPI
import Synchronization

/// The `fieldValidation` query parameter: what the server does with fields of a request body
/// that the kind's schema does not declare, and with keys a JSON object repeats.
enum FieldValidationDirective: String, Sendable {
    /// Drop them silently.
    case ignore = "Ignore"
    /// Drop them and name each in a `Warning: 299` response header (upstream's default).
    case warn = "Warn"
    /// Refuse the request: 400 BadRequest `strict decoding error: unknown field "spec.foo"`.
    case strict = "Strict"

    /// Reads the query parameter; absent or empty is `warn`, as upstream's default.
    init(query: [String: String]) throws(APIError) {
        let value = query["fieldValidation"] ?? ""
        if value.isEmpty {
            self = .warn
            return
        }
        guard let directive = FieldValidationDirective(rawValue: value) else {
            throw APIError.badRequest("fieldValidation must be one of Ignore, Warn, Strict (got \"\(value)\")")
        }
        self = directive
    }
}

/// Warnings gathered while a request is served (also from inside store transforms, which may
/// run more than once: a repeated warning is kept once). Thread-safe.
final class RequestWarnings: Sendable {
    private let texts = Mutex<[String]>([])

    func add(_ new: [String]) {
        texts.withLock { texts in
            for text in new where !texts.contains(text) { texts.append(text) }
        }
    }

    /// Upstream's header form: `299 - "<text>"`, the text quoted as Go's strconv.Quote does.
    var headers: [(String, String)] {
        texts.withLock { $0.map { ("Warning", "299 - " + Self.quote($0)) } }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension ResourceHandler {
    // MARK: Field validation

    /// Checks `object` (a decoded request body, or a patched object) against the schema of
    /// `kind` under the request's `fieldValidation` directive and returns it without the
    /// fields the schema does not declare. `rawJSON` is the body as sent when it was JSON, for
    /// the duplicate-key check. Strict throws 400 naming every problem in upstream's words;
    /// Warn adds one warning per problem; Ignore drops silently. Kinds without a schema pass
    /// unchanged. With `unchangedFrom` (a patch's object before patching), top-level members
    /// the patch left equal are not walked: what is stored was checked when it was written
    /// (unknown fields never reach the store), as upstream never reports fields of the stored
    /// object (a kubelet's status patch used to walk the whole pod's spec and metadata).
    func checkingFields(_ object: JSONValue, apiVersion: String, kind: String, rawJSON: [UInt8]?,
                        directive: FieldValidationDirective, warnings: RequestWarnings,
                        unchangedFrom base: JSONValue? = nil) throws(APIError) -> JSONValue {
        var checked = object
        if case .object(var members) = object, case .object(let before)? = base {
            for (key, value) in before where members[key] == value { members[key] = nil }
            checked = .object(members)
        }
        let unknown = SchemaRegistry.builtin.schema(apiVersion: apiVersion, kind: kind).map { FieldValidation.unknownFields(in: checked, schema: $0) } ?? []
        if directive != .ignore {
            var problems = unknown.map { FieldValidation.strictMessage([$0]) }
            if let rawJSON { problems += FieldValidation.duplicateFields(inJSON: rawJSON).map(FieldValidation.duplicateMessage) }
            if !problems.isEmpty {
                if directive == .strict { throw APIError.badRequest("strict decoding error: " + problems.joined(separator: ", ")) }
                warnings.add(problems)
            }
        }
        guard !unknown.isEmpty, let members = object.objectValue else { return object }
        return .object(Self.dropping(unknown, from: members))
    }

    /// The request body, decoded and checked by `checkingFields` against the kind the target
    /// takes (autoscaling/v1 Scale on the scale subresource).
    func validatedBody(warnings: RequestWarnings) throws(APIError) -> JSONValue {
        let scale = target.subresource == "scale"
        return try checkingFields(try decodeBody(), apiVersion: scale ? "autoscaling/v1" : resource.apiVersion, kind: scale ? "Scale" : resource.kind,
                                  rawJSON: rawJSONBody, directive: try FieldValidationDirective(query: query), warnings: warnings)
    }

    /// The request body when it is JSON (the duplicate-key check reads the text itself).
    var rawJSONBody: [UInt8]? {
        let type = request.mediaType
        return ["", "application/json", "*/*", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/json-patch+json"]
            .contains(type) ? request.body : nil
    }

    // MARK: Field managers

    /// The manager a write is recorded under: the `fieldManager` query parameter, else the
    /// User-Agent up to its first "/" (upstream's default, e.g. `kubectl`), at most 128
    /// characters. An invalid one is 422 on the verb's options kind (CreateOptions, ...).
    func fieldManager() throws(APIError) -> String {
        let optionsKind = request.method == .POST ? "CreateOptions" : request.method == .PUT ? "UpdateOptions" : "PatchOptions"
        if let manager = query["fieldManager"], !manager.isEmpty {
            var problems: [String] = []
            if manager.unicodeScalars.count > 128 { problems.append("fieldManager: Too long: may not be more than 128 bytes") }
            if manager.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                problems.append("fieldManager: Invalid value: \(RequestWarnings.quote(manager)): must only contain printable characters")
            }
            if !problems.isEmpty {
                throw APIError(code: 422, reason: "Invalid",
                               message: "\(optionsKind).meta.k8s.io \"\" is invalid: " + (problems.count == 1 ? problems[0] : "[" + problems.joined(separator: ", ") + "]"),
                               details: StatusDetails(group: "meta.k8s.io", kind: optionsKind,
                                                      causes: problems.map { StatusCause(reason: "FieldValueInvalid", message: $0, field: "fieldManager") }))
            }
            return manager
        }
        let agent = request.headers.first(name: "User-Agent") ?? ""
        let prefix = agent.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return String(prefix.unicodeScalars.prefix(128))
    }

    /// `force` belongs to apply patches only (upstream's ValidatePatchOptions).
    func checkNoForce() throws(APIError) {
        guard query["force"] != nil else { return }
        throw APIError(code: 422, reason: "Invalid", message: "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
                       details: StatusDetails(group: "meta.k8s.io", kind: "PatchOptions",
                                              causes: [StatusCause(reason: "FieldValueForbidden", message: "Forbidden: may not be specified for non-apply patch", field: "force")]))
    }

    /// Fields a write through `subresource` may not change, which nobody gains or loses
    /// through it (upstream's reset fields): the main resource cannot write status, the status
    /// subresource cannot write spec.
    static func resetFields(_ resource: ResourceDefinition, subresource: String?) -> [FieldPath] {
        switch subresource {
        case nil: return resource.hasStatus ? [["f:status"]] : []
        case "status": return [["f:spec"]]
        default: return []
        }
    }

    // MARK: Server-side apply

    /// PATCH with `application/apply-patch+yaml`: merges the body (YAML or JSON) into the live
    /// object as `fieldManager` (required), refusing with 409 to change fields other managers
    /// own unless `force=true`; creates the object when it does not exist (`created`, served
    /// as 201 like upstream). Served on the object and its status subresource.
    func apply(name: String, subresource: String?, options: WriteOptions, directive: FieldValidationDirective,
               warnings: RequestWarnings) async throws(APIError) -> (object: JSONObject, created: Bool) {
        guard subresource == nil || subresource == "status" else {
            throw APIError.methodNotAllowed("server-side apply is served on the object and its status subresource, not on \(subresource ?? "")")
        }
        guard let manager = query["fieldManager"], !manager.isEmpty else {
            throw APIError(code: 422, reason: "Invalid", message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                           details: StatusDetails(group: "meta.k8s.io", kind: "PatchOptions",
                                                  causes: [StatusCause(reason: "FieldValueRequired", message: "Required value: is required for apply patch", field: "fieldManager")]))
        }
        let force = request.flag("force")
        if let value = query["force"], !force, !["", "0", "f", "F", "FALSE", "false", "False"].contains(value) {
            throw APIError.badRequest("invalid force \"\(value)\": must be true or false")
        }
        let body = try BodyDecoder.decode(request.body, contentType: "application/yaml")
        guard var applied = body.objectValue else { throw APIError.badRequest("apply patch must be a JSON or YAML object") }
        let resource = self.resource
        let version = applied["apiVersion"]?.stringValue ?? ""
        guard version == resource.apiVersion else {
            throw APIError.badRequest("Incorrect version specified in apply patch. Specified patch version: \(version), expected: \(resource.apiVersion)")
        }
        guard applied["kind"]?.stringValue == resource.kind else {
            throw APIError.badRequest("the kind in the data (\(applied["kind"]?.stringValue ?? "")) does not match the expected kind (\(resource.kind)) for \(resource.qualifiedPlural)")
        }
        if applied.metadata["name"] == nil { applied.metadata["name"] = .string(name) }
        applied = try checkingFields(.object(applied), apiVersion: resource.apiVersion, kind: resource.kind, rawJSON: nil,
                                     directive: directive, warnings: warnings).objectValue ?? applied

        let schema = SchemaRegistry.builtin.schema(apiVersion: resource.apiVersion, kind: resource.kind)
        let resetFields = Self.resetFields(resource, subresource: subresource)
        let scope: RESTStorage.UpdateScope = subresource == "status" ? .status : .main
        var options = options
        options.fieldManager = manager
        options.fieldsApplied = true
        options.subresource = subresource
        let now = Timestamp.format(storage.now())
        let intent = JSONValue.object(applied)
        for _ in 0..<3 {
            do {
                let updated = try await storage.update(resource, namespace: target.namespace, name: name, scope: scope, options: options) { current throws(APIError) in
                    let merged: JSONValue
                    do throws(PatchError) {
                        merged = try ServerSideApply.apply(intent, to: .object(current), manager: manager, subresource: subresource, force: force,
                                                           schema: schema, now: now, resetFields: resetFields)
                    } catch {
                        throw APIError.fromApply(error, resource, name: name)
                    }
                    guard let object = merged.objectValue else { throw APIError.badRequest("the applied object is not a JSON object") }
                    return object
                }
                return (updated, false)
            } catch let error where error.code == 404 && error.status.details?.name == name && subresource == nil {
                // Apply creates what does not exist yet (upstream's create-on-update for apply).
                let merged: JSONValue
                do throws(PatchError) {
                    merged = try ServerSideApply.apply(intent, to: nil, manager: manager, subresource: nil, force: force,
                                                       schema: schema, now: now, resetFields: resetFields)
                } catch {
                    throw APIError.fromApply(error, resource, name: name)
                }
                guard var object = merged.objectValue else { throw APIError.badRequest("the applied object is not a JSON object") }
                // As upstream's strategies reset status on create.
                if resource.hasStatus { object["status"] = nil }
                do {
                    return (try await storage.create(resource, namespace: target.namespace, body: .object(object), options: options), true)
                } catch let error where error.reason == "AlreadyExists" {
                    continue
                }
            }
        }
        throw APIError.conflict(resource, name: name, why: "the object was created and deleted concurrently; retry the apply")
    }

    /// `object` without the fields at `paths` (unknown-field paths as FieldValidation spells
    /// them: `spec.foo`, `spec.containers[0].bar`), as Warn and Ignore drop them.
    static func dropping(_ paths: [String], from object: JSONObject) -> JSONObject {
        var value = JSONValue.object(object)
        for path in paths { value = removing(steps(path)[...], from: value) }
        return value.objectValue ?? object
    }

    private enum Step { case key(String), index(Int) }

    private static func steps(_ path: String) -> [Step] {
        var out: [Step] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var name = Substring(part)
            var indices: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "["), let i = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) {
                indices.insert(i, at: 0)
                name = name[..<open]
            }
            out.append(.key(String(name)))
            out += indices.map { .index($0) }
        }
        return out
    }

    private static func removing(_ steps: ArraySlice<Step>, from value: JSONValue) -> JSONValue {
        guard let step = steps.first else { return value }
        let rest = steps.dropFirst()
        switch (step, value) {
        case (.key(let key), .object(var members)):
            guard let child = members[key] else { return value }
            members[key] = rest.isEmpty ? nil : removing(rest, from: child)
            return .object(members)
        case (.index(let i), .array(var items)) where items.indices.contains(i):
            if rest.isEmpty { items.remove(at: i) } else { items[i] = removing(rest, from: items[i]) }
            return .array(items)
        default:
            return value
        }
    }
}

extension APIError {
    /// An apply failure as upstream serves it: conflicts are 409 Conflict with one
    /// `FieldManagerConflict` cause per field and the message alone (no object details).
    static func fromApply(_ error: PatchError, _ resource: ResourceDefinition, name: String) -> APIError {
        guard error.isConflict, !error.causes.isEmpty else { return from(error, resource, name: name) }
        return APIError(code: 409, reason: "Conflict", message: error.message,
                        details: StatusDetails(causes: error.causes.map { StatusCause(reason: $0.reason, message: $0.message, field: $0.field) }))
    }
}

extension APIResponse {
    /// The response with the request's warnings as `Warning` headers.
    func adding(_ warnings: RequestWarnings) -> APIResponse {
        var response = self
        response.headers += warnings.headers
        return response
    }
}

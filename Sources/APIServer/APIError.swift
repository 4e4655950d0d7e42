import KubeAPI
import Store

/// An API error: the `Status` body and the HTTP code it is served with. Every failure the server
/// returns goes through this type, so clients always see a meta/v1 Status with reason and code.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: Status

    public init(code: Int, reason: String, message: String, details: StatusDetails? = nil) {
        status = Status(status: "Failure", message: message, reason: reason, details: details, code: Int32(code))
    }

    public var code: Int { Int(status.code ?? 500) }
    public var reason: String { status.reason ?? "" }
    public var description: String { "\(code) \(reason): \(status.message ?? "")" }

    static func notFound(_ resource: ResourceDefinition, name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(resource.qualifiedPlural) \"\(name)\" not found",
                 details: StatusDetails(name: name, group: resource.group, kind: resource.plural))
    }

    static func alreadyExists(_ resource: ResourceDefinition, name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(resource.qualifiedPlural) \"\(name)\" already exists",
                 details: StatusDetails(name: name, group: resource.group, kind: resource.plural))
    }

    static func conflict(_ resource: ResourceDefinition, name: String, why: String = "the object has been modified; please apply your changes to the latest version and try again") -> APIError {
        APIError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on \(resource.qualifiedPlural) \"\(name)\": \(why)",
                 details: StatusDetails(name: name, group: resource.group, kind: resource.plural))
    }

    /// 422 Invalid with one cause per field error, as upstream's `NewInvalid`.
    static func invalid(_ resource: ResourceDefinition, name: String, errors: [FieldError]) -> APIError {
        let summary = errors.map(\.summary).joined(separator: ", ")
        let causes = errors.map { StatusCause(reason: $0.type.rawValue, message: $0.summary, field: $0.field) }
        // Upstream names the kind with its group (`Deployment.apps "web" is invalid`).
        let kind = resource.group.isEmpty ? resource.kind : "\(resource.kind).\(resource.group)"
        let message = "\(kind) \"\(name)\" is invalid: " + (errors.count == 1 ? summary : "[\(summary)]")
        return APIError(code: 422, reason: "Invalid", message: message,
                        details: StatusDetails(name: name, group: resource.group, kind: resource.kind, causes: causes))
    }

    static func badRequest(_ message: String) -> APIError { APIError(code: 400, reason: "BadRequest", message: message) }
    static func forbidden(_ message: String) -> APIError { APIError(code: 403, reason: "Forbidden", message: message) }
    static func methodNotAllowed(_ message: String) -> APIError { APIError(code: 405, reason: "MethodNotAllowed", message: message) }
    static func gone(_ message: String) -> APIError { APIError(code: 410, reason: "Expired", message: message) }
    static func internalError(_ message: String) -> APIError { APIError(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)") }
    static func unauthorized() -> APIError { APIError(code: 401, reason: "Unauthorized", message: "Unauthorized") }
    static func pathNotFound(_ path: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (path \(path))")
    }
    static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json, application/apply-patch+yaml (got \(type))")
    }
    static func tooLarge(limit: Int) -> APIError {
        APIError(code: 413, reason: "RequestEntityTooLarge", message: "Request entity too large: limit is \(limit) bytes")
    }
    static func tooManyRequests(_ message: String, retryAfter: Int32? = nil) -> APIError {
        var details = StatusDetails()
        details.retryAfterSeconds = retryAfter
        return APIError(code: 429, reason: "TooManyRequests", message: message, details: retryAfter == nil ? nil : details)
    }
    static func serviceUnavailable(_ message: String) -> APIError { APIError(code: 503, reason: "ServiceUnavailable", message: message) }

    /// Maps a store failure for `resource`/`name` to the status kube-apiserver serves for it.
    static func from(_ error: StoreError, _ resource: ResourceDefinition, name: String) -> APIError {
        switch error {
        case let .compacted(requested, compactRevision):
            gone("too old resource version: \(requested) (\(compactRevision))")
        case let .futureRevision(requested, current):
            APIError(code: 504, reason: "Timeout", message: "Too large resource version: \(requested), current resource version: \(current)",
                     details: StatusDetails(causes: [StatusCause(reason: "ResourceVersionTooLarge", message: "Too large resource version")]))
        case .conflict: conflict(resource, name: name)
        case .notFound: notFound(resource, name: name)
        case let .invalidArgument(message): badRequest(message)
        case let .unavailable(message): serviceUnavailable("storage unavailable: \(message)")
        case let .corrupted(message): internalError("storage corrupted: \(message)")
        }
    }
}

/// One validation failure at a field path (upstream's `field.Error`).
struct FieldError: Sendable, Hashable {
    enum ErrorType: String, Sendable {
        case required = "FieldValueRequired"
        case invalid = "FieldValueInvalid"
        case notSupported = "FieldValueNotSupported"
        case duplicate = "FieldValueDuplicate"
        case forbidden = "FieldValueForbidden"
        case tooLong = "FieldValueTooLong"
        case tooMany = "FieldValueTooMany"
    }

    var type: ErrorType
    var field: String
    var value: String?
    var detail: String

    init(_ type: ErrorType, _ field: String, value: String? = nil, _ detail: String = "") {
        self.type = type
        self.field = field
        self.value = value
        self.detail = detail
    }

    /// Upstream's field.TooMany: the count, unquoted, and the limit.
    static func tooMany(_ field: String, count: Int, max: Int) -> FieldError {
        FieldError(.tooMany, field, value: String(count), "must have at most \(max) items")
    }

    /// Upstream's rendering: `field: Invalid value: "v": detail`.
    var summary: String {
        switch type {
        case .required: "\(field): Required value" + (detail.isEmpty ? "" : ": \(detail)")
        case .forbidden: "\(field): Forbidden: \(detail)"
        case .duplicate: "\(field): Duplicate value: \"\(value ?? "")\""
        case .notSupported: "\(field): Unsupported value: \"\(value ?? "")\"" + (detail.isEmpty ? "" : ": \(detail)")
        case .tooLong: "\(field): Too long: \(detail)"
        case .tooMany: "\(field): Too many: \(value ?? ""): \(detail)"
        case .invalid: "\(field): Invalid value: \"\(value ?? "")\"" + (detail.isEmpty ? "" : ": \(detail)")
        }
    }
}

import KubeAPI

/// The content types a PATCH request may carry; the raw value is the media type.
public enum PatchType: String, Sendable, CaseIterable {
    case json = "application/json-patch+json"
    case merge = "application/merge-patch+json"
    case strategic = "application/strategic-merge-patch+json"
    case apply = "application/apply-patch+yaml"
}

/// One field-level reason a patch, an apply or a validation was refused, shaped like
/// metav1.StatusCause so the API server can copy it into a `Status`.
public struct FieldCause: Sendable, Hashable, CustomStringConvertible {
    /// The field path, e.g. `spec.containers[0].image` or `.spec.replicas` (SSA conflicts).
    public var field: String
    public var message: String
    /// A metav1.CauseType, e.g. `FieldValueInvalid`, `FieldValueRequired`, `FieldValueDuplicate`,
    /// `FieldValueNotSupported`, `FieldManagerConflict`.
    public var reason: String

    public init(field: String, message: String, reason: String) {
        self.field = field
        self.message = message
        self.reason = reason
    }

    public var description: String { "\(field): \(message)" }
}

/// A patch, apply or validation that cannot be carried out.
///
/// `isConflict` marks server-side apply conflicts (HTTP 409). `isBadRequest` marks a patch
/// document that is malformed in itself (HTTP 400); anything else is a patch that is well formed
/// but cannot be applied to this object (HTTP 422), as upstream answers.
public struct PatchError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var isConflict: Bool
    public var isBadRequest: Bool
    public var causes: [FieldCause]

    public init(message: String, isConflict: Bool = false, isBadRequest: Bool = false, causes: [FieldCause] = []) {
        self.message = message
        self.isConflict = isConflict
        self.isBadRequest = isBadRequest
        self.causes = causes
    }

    /// The HTTP status code upstream answers with for this error.
    public var httpStatus: Int { isConflict ? 409 : (isBadRequest ? 400 : 422) }

    public var description: String { message }

    static func badRequest(_ message: String) -> PatchError { PatchError(message: message, isBadRequest: true) }
    static func invalid(_ message: String) -> PatchError { PatchError(message: message) }
}

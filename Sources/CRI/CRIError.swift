/// The one error type of the CRI module: every failure of a CRI call, whatever its cause.
///
/// The description names the call, then what went wrong, e.g.
/// `CRI StartContainer: notFound: container "abc" not found` for an error status from the
/// runtime, or `CRI Version: cannot reach the container runtime at /run/x.sock: no such file`
/// when nothing listens there.
public struct CRIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; callers branch on it (the kubelet treats
    /// `.runtime(.notFound)` on a remove as success, nodectl prints connection failures alone).
    public enum Kind: Sendable, Equatable {
        /// The endpoint string is not a unix socket address this client can dial.
        case invalidEndpoint
        /// No file exists at the socket path: the runtime is not started, or the path is wrong.
        case socketMissing
        /// The socket exists but no CRI runtime answered on it: the connection was refused or
        /// closed, the peer does not speak HTTP/2 gRPC, or it serves no `runtime.v1` service.
        case unreachable
        /// The call did not finish within its timeout.
        case deadlineExceeded
        /// The runtime answered the call with an error status.
        case runtime(StatusCode)
    }

    /// gRPC status codes, spelled as gRPC Swift spells them, so that callers need not import
    /// GRPCCore to branch on one.
    public enum StatusCode: String, Sendable, CaseIterable {
        case cancelled, unknown, invalidArgument, deadlineExceeded, notFound, alreadyExists
        case permissionDenied, resourceExhausted, failedPrecondition, aborted, outOfRange
        case unimplemented, internalError, unavailable, dataLoss, unauthenticated
    }

    /// The call that failed, or nil when the failure precedes any call (a bad endpoint).
    public var call: CRICall?
    public var kind: Kind
    /// The runtime's status message or the transport's explanation, without the call prefix.
    public var message: String
    /// The socket path the client dialled (or the endpoint text, for `.invalidEndpoint`).
    public var endpoint: String

    public init(call: CRICall?, kind: Kind, message: String, endpoint: String) {
        self.call = call
        self.kind = kind
        self.message = message
        self.endpoint = endpoint
    }

    /// Shorthand for the error a runtime (or a fake of one) returns as a gRPC status.
    public static func runtime(_ call: CRICall, _ code: StatusCode, _ message: String, endpoint: String = "") -> CRIError {
        CRIError(call: call, kind: .runtime(code), message: message, endpoint: endpoint)
    }

    /// True for a `notFound` status: the sandbox, container or image does not exist.
    public var isNotFound: Bool { kind == .runtime(.notFound) }

    /// The failure without the call prefix, e.g. `cannot reach the container runtime at /x.sock:
    /// no such file` or `notFound: container "abc" not found`.
    public var reason: String {
        switch kind {
        case .invalidEndpoint:
            return "invalid runtime endpoint \"\(endpoint)\": \(message)"
        case .socketMissing:
            return "cannot reach the container runtime at \(endpoint): no such file"
        case .unreachable:
            return "cannot reach the container runtime at \(endpoint): \(message)"
        case .deadlineExceeded:
            return "deadlineExceeded: \(message)"
        case .runtime(let code):
            return "\(code.rawValue): \(message)"
        }
    }

    public var description: String {
        if let call { return "CRI \(call.rawValue): \(reason)" }
        return "CRI: \(reason)"
    }
}

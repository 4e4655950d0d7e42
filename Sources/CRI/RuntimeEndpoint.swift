import Foundation

/// The unix socket a CRI runtime listens on.
public struct RuntimeEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The absolute path of the socket.
    public let path: String

    /// Longest path a `sockaddr_un` holds on Linux (108 bytes including the terminating NUL).
    static let maxPathBytes = 107

    /// Parses `unix:///path/to/sock` or `/path/to/sock`, the two spellings crictl and the
    /// kubelet accept for a local runtime. Throws ``CRIError`` (`.invalidEndpoint`) for any
    /// other scheme, a relative path, or a path too long for a unix socket address.
    public init(parsing text: String) throws(CRIError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func invalid(_ why: String) -> CRIError {
            CRIError(call: nil, kind: .invalidEndpoint, message: why, endpoint: text)
        }
        var path: Substring
        if trimmed.hasPrefix("unix://") {
            path = trimmed.dropFirst("unix://".count)
        } else if trimmed.hasPrefix("/") {
            path = Substring(trimmed)
        } else if let scheme = trimmed.range(of: "://") {
            throw invalid("scheme \"\(trimmed[..<scheme.lowerBound])\" is not supported; use unix:///path or /path")
        } else if trimmed.isEmpty {
            throw invalid("empty endpoint; use unix:///path or /path")
        } else {
            throw invalid("not an absolute socket path; use unix:///path or /path")
        }
        guard path.hasPrefix("/") else {
            throw invalid("the socket path must be absolute (unix:///path, three slashes)")
        }
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        guard path.utf8.count <= Self.maxPathBytes else {
            throw invalid("socket path is \(path.utf8.count) bytes, longer than the \(Self.maxPathBytes) a unix socket address holds")
        }
        self.path = String(path)
    }

    /// The socket of Nodekit's own containerd (`hack/containerd.sh`):
    /// `$NODEKIT_STATE_DIR/containerd/containerd.sock`, with the state dir defaulting to
    /// `/run/nodekit` when the variable is unset or empty. Throws like ``init(parsing:)`` when
    /// the state dir makes the path relative or too long.
    public static func nodekitDefault(environment: [String: String] = ProcessInfo.processInfo.environment) throws(CRIError) -> RuntimeEndpoint {
        let state = environment["NODEKIT_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/nodekit"
        let base = state.hasSuffix("/") ? String(state.dropLast()) : state
        return try RuntimeEndpoint(parsing: base + "/containerd/containerd.sock")
    }

    /// `unix://` followed by the path.
    public var url: String { "unix://" + path }

    public var description: String { url }
}

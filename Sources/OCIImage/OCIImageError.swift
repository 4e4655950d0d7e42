/// The one error type of the OCIImage module: a code to branch on, a message naming the
/// operation and the values involved, and the underlying cause when there is one.
public struct OCIImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for callers that branch on it.
    public enum Code: String, Sendable {
        /// An image reference (name) that does not follow the Docker reference grammar.
        case badReference
        /// A path inside the image that is not absolute, or has `.`/`..`/empty components.
        case badPath
        /// Two entries claim the same path in the image.
        case duplicatePath
        /// An entry lies below a path that is not a directory in the image.
        case pathConflict
        /// A source file or directory on the host is missing or unreadable.
        case missingSource
        /// A host file type the layer cannot hold (socket, device, fifo).
        case unsupportedFileType
        /// A value the tar format cannot carry (NUL bytes, an empty symlink target).
        case unencodable
        /// Reading a source or writing the output failed.
        case io
    }

    public var code: Code
    public var message: String
    /// The lower-level error's description, if this error wraps one.
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }
}

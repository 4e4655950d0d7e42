/// The kernel boundary of the nftables backend: applies transactions atomically.
///
/// Implementations are thread-safe. ``apply(_:)`` either commits every operation of the
/// transaction or none (the kernel aborts the whole batch on the first error).
public protocol NFTablesInterface: Sendable {
    /// Applies `transaction` as one atomic batch. Throws ``NFTablesError`` naming the failing
    /// operation when the kernel rejects any part of it.
    func apply(_ transaction: Transaction) throws(NFTablesError)
}

/// An error applying an nftables transaction.
public struct NFTablesError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The kernel (or the fake) rejected an operation.
        case rejected
        /// The netlink socket could not be opened, configured, written or read.
        case socket
        /// The transaction is malformed (a key of the wrong shape, an empty map key).
        case invalid
    }

    public var code: Code
    /// What failed, naming the operation and the object.
    public var message: String
    /// The errno the kernel returned, when there is one.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { errno.map { "\(message) (errno \($0))" } ?? message }
}

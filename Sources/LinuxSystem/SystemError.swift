#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An error from a system call: the call's name, the errno it returned, and what it acted on.
///
/// Every libc call in Nodekit goes through ``retryingEINTR(_:_:_:)`` or ``check(_:_:_:)`` in this
/// module, so errno is read at once, EINTR is retried, and the error names the operation.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The libc function that failed, e.g. `"open"`.
    public var call: String
    /// The errno value.
    public var errno: Int32
    /// What the call acted on (a path, an interface name, a pid); may be empty.
    public var subject: String

    public init(call: String, errno: Int32, subject: String = "") {
        self.call = call
        self.errno = errno
        self.subject = subject
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return subject.isEmpty ? "\(call): \(reason) (errno \(errno))" : "\(call) \(subject): \(reason) (errno \(errno))"
    }
}

/// Runs a libc call that returns -1 and sets errno on failure, retrying on EINTR.
@discardableResult
public func retryingEINTR<T: FixedWidthInteger>(_ call: String, _ subject: String = "", _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw SystemError(call: call, errno: err, subject: subject)
    }
}

/// Runs a libc call that returns -1 and sets errno on failure, without retrying.
@discardableResult
public func check<T: FixedWidthInteger>(_ call: String, _ subject: String = "", _ body: () -> T) throws(SystemError) -> T {
    let result = body()
    if result == -1 { throw SystemError(call: call, errno: Glibc.errno, subject: subject) }
    return result
}

#if canImport(Glibc)
import Glibc
#endif
import CNodekitShim

/// Runs an executable to completion with the given environment and stdin, capturing stdout and
/// stderr. Used by the CNI runtime to invoke plugins.
///
/// The child inherits the calling thread's namespaces, so calling this inside
/// ``NetworkNamespace/run(_:)`` starts the child in that network namespace.
public enum ChildProcess {
    /// What a finished child produced.
    public struct Output: Sendable {
        /// Exit status (0-255), or 128 + signal number when killed by a signal.
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]
    }

    /// Spawns `path` with `arguments` (argv[0] included) and `environment` (the whole
    /// environment, `KEY=VALUE`), writes `input` to its stdin and waits for it to exit.
    ///
    /// A ``StreamingChildProcess`` given the whole input at once: stdout and stderr are drained
    /// while stdin is written, so a child that writes a lot before reading cannot deadlock, and a
    /// child that exits without reading its stdin gives its exit status, not SIGPIPE in this
    /// process. Throws only for failures of this process's side, never for the child's status.
    public static func run(_ path: String, arguments: [String], environment: [String], input: [UInt8]) throws(SystemError) -> Output {
        let child = try StreamingChildProcess(path, arguments: arguments, environment: environment)
        if !input.isEmpty { child.write(input) }
        return try child.finish()
    }

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

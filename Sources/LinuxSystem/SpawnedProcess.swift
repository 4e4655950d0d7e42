#if canImport(Glibc)
import Glibc
#endif
import CNodekitShim

/// A child process that runs in the background: started with posix_spawn (no inherited
/// descriptors beyond 0-2, clean signal mask), its stdin from /dev/null and its stdout and
/// stderr appended to a file (or /dev/null). Nothing reads its output, so it can never block on
/// a full pipe.
///
/// The owner must end it: ``kill(_:)`` then ``wait()``, or ``wait()`` alone for a child that
/// exits by itself. A child that was never waited for stays a zombie until this process exits.
public final class SpawnedProcess: Sendable {
    public let pid: Int32
    public let path: String

    /// Spawns `path` with `arguments` (argv[0] included) and `environment` (`KEY=VALUE`).
    public init(_ path: String, arguments: [String], environment: [String], outputPath: String? = nil) throws(SystemError) {
        let nullFD = try check("open", "/dev/null") { open("/dev/null", O_RDWR | O_CLOEXEC) }
        defer { close(nullFD) }
        var outFD = nullFD
        if let outputPath {
            outFD = try check("open", outputPath) { open(outputPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
        }
        defer { if outFD != nullFD { close(outFD) } }
        var pid: pid_t = 0
        let rc = ChildProcess.withCStrings(arguments) { argv in
            ChildProcess.withCStrings(environment) { envp in
                nk_spawn(&pid, path, argv, envp, nullFD, outFD, outFD)
            }
        }
        if rc != 0 { throw SystemError(call: "posix_spawn", errno: rc, subject: path) }
        self.pid = pid
        self.path = path
    }

    /// Sends `signal`; a child that already exited is not an error.
    public func kill(_ signal: Int32 = SIGKILL) {
        _ = Glibc.kill(pid, signal)
    }

    /// Waits for the child to exit and returns its status (exit code, or 128 + signal).
    @discardableResult
    public func wait() throws(SystemError) -> Int32 {
        var status: Int32 = 0
        try retryingEINTR("waitpid", path) { waitpid(pid, &status, 0) }
        return Self.exitStatus(status)
    }

    /// The exit status if the child has exited (reaping it), or nil while it runs.
    public func exitStatusIfExited() throws(SystemError) -> Int32? {
        var status: Int32 = 0
        let rc = try retryingEINTR("waitpid", path) { waitpid(pid, &status, WNOHANG) }
        return rc == 0 ? nil : Self.exitStatus(status)
    }

    static func exitStatus(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

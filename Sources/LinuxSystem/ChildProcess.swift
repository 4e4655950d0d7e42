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
    public static func run(_ path: String, arguments: [String], environment: [String], input: [UInt8]) throws(SystemError) -> Output {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        try check("pipe2", path) { nk_pipe_cloexec(&inPipe) }
        try check("pipe2", path) { nk_pipe_cloexec(&outPipe) }
        try check("pipe2", path) { nk_pipe_cloexec(&errPipe) }
        var parentFDs: Set<Int32> = [inPipe[1], outPipe[0], errPipe[0]]
        defer { for fd in parentFDs { close(fd) } }

        var pid: pid_t = 0
        let rc = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                nk_spawn(&pid, path, argv, envp, inPipe[0], outPipe[1], errPipe[1])
            }
        }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        if rc != 0 { throw SystemError(call: "posix_spawn", errno: rc, subject: path) }

        // poll all three pipes so a child that writes a lot before reading stdin cannot deadlock.
        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var written = 0
        if input.isEmpty { close(inPipe[1]); parentFDs.remove(inPipe[1]) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while parentFDs.contains(outPipe[0]) || parentFDs.contains(errPipe[0]) {
            var fds: [pollfd] = []
            if parentFDs.contains(inPipe[1]) { fds.append(pollfd(fd: inPipe[1], events: Int16(POLLOUT), revents: 0)) }
            if parentFDs.contains(outPipe[0]) { fds.append(pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0)) }
            if parentFDs.contains(errPipe[0]) { fds.append(pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)) }
            try retryingEINTR("poll", path) { poll(&fds, nfds_t(fds.count), -1) }
            for entry in fds where entry.revents != 0 {
                if entry.fd == inPipe[1] {
                    let n = input.withUnsafeBytes { Glibc.write(entry.fd, $0.baseAddress! + written, $0.count - written) }
                    if n > 0 { written += n }
                    if n < 0 && Glibc.errno == EINTR { continue }
                    if n < 0 || written == input.count { close(entry.fd); parentFDs.remove(entry.fd) }
                } else {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                    if n < 0 && Glibc.errno == EINTR { continue }
                    if n <= 0 {
                        close(entry.fd); parentFDs.remove(entry.fd)
                    } else if entry.fd == outPipe[0] {
                        stdout.append(contentsOf: buffer[0..<n])
                    } else {
                        stderr.append(contentsOf: buffer[0..<n])
                    }
                }
            }
        }
        var status: Int32 = 0
        try retryingEINTR("waitpid", path) { waitpid(pid, &status, 0) }
        return Output(status: SpawnedProcess.exitStatus(status), stdout: stdout, stderr: stderr)
    }

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

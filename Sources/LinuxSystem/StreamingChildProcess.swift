#if canImport(Glibc)
import Glibc
#endif
import CNodekitShim

/// A child process whose stdin the caller writes in pieces while it runs, so that producing the
/// input and the child's consuming it overlap (a generated `iptables-restore` file is parsed
/// while later parts are still being generated). stdout and stderr are captured.
///
/// stdin is a pipe of 1 MiB (Linux's default limit for an unprivileged resize; 64 KiB if the
/// resize fails), so the writer rarely waits for the reader. Writes block SIGPIPE in the
/// writing thread and take back one they raised, so a child that exits without reading gives
/// EPIPE instead of killing this process. Every write also drains stdout and stderr, so a
/// child that writes a lot before it reads (or instead of reading) cannot deadlock with the
/// writer.
///
/// Use from one thread: ``write(_:)`` any number of times, then ``finish()`` once. A process
/// dropped without ``finish()`` is killed (SIGKILL) and reaped. Like ``ChildProcess``, the
/// child starts in the calling thread's namespaces.
public final class StreamingChildProcess {
    public let path: String
    private let pid: pid_t
    private var input: Int32
    private var stdoutFD: Int32
    private var stderrFD: Int32
    private var stdout: [UInt8] = []
    private var stderr: [UInt8] = []
    private var finished = false
    /// F_SETPIPE_SZ from linux/fcntl.h (Glibc's module does not export it).
    private static let setPipeSize: Int32 = 1031
    /// Bytes of input the child did not take because it had closed its stdin.
    public private(set) var unreadInputBytes = 0
    /// The first failure of the parent's side of stdin other than EPIPE; ``finish()`` throws it.
    private var inputError: SystemError?
    private var chunk = [UInt8](repeating: 0, count: 65536)

    /// Spawns `path` with `arguments` (argv[0] included) and `environment` (the whole
    /// environment, `KEY=VALUE`).
    public init(_ path: String, arguments: [String], environment: [String]) throws(SystemError) {
        self.path = path
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        try check("pipe2", path) { nk_pipe_cloexec(&inPipe) }
        do {
            try check("pipe2", path) { nk_pipe_cloexec(&outPipe) }
        } catch {
            close(inPipe[0]); close(inPipe[1])
            throw error
        }
        do {
            try check("pipe2", path) { nk_pipe_cloexec(&errPipe) }
        } catch {
            for fd in inPipe + outPipe { close(fd) }
            throw error
        }
        var pid: pid_t = 0
        let rc = ChildProcess.withCStrings(arguments) { argv in
            ChildProcess.withCStrings(environment) { envp in
                nk_spawn(&pid, path, argv, envp, inPipe[0], outPipe[1], errPipe[1])
            }
        }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        if rc != 0 {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw SystemError(call: "posix_spawn", errno: rc, subject: path)
        }
        // A larger pipe means fewer round trips between writer and reader; the default
        // 64 KiB is kept if the kernel refuses. Non-blocking on our end only (the child's read
        // end is its own file description): a full pipe must not block us while the child
        // blocks on a full stderr pipe.
        _ = fcntl(inPipe[1], Self.setPipeSize, Int32(1 << 20))
        let flags = fcntl(inPipe[1], F_GETFL)
        _ = fcntl(inPipe[1], F_SETFL, flags | O_NONBLOCK)
        self.pid = pid
        input = inPipe[1]
        stdoutFD = outPipe[0]
        stderrFD = errPipe[0]
    }

    deinit {
        if !finished {
            _ = kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = try? retryingEINTR("waitpid", path) { waitpid(pid, &status, 0) }
        }
        for fd in [input, stdoutFD, stderrFD] where fd >= 0 { close(fd) }
    }

    /// Writes all of `bytes` to the child's stdin, reading its stdout and stderr while it waits.
    /// Once the child has closed its stdin (or exited), the rest is counted in
    /// ``unreadInputBytes`` and dropped: the child's exit status from ``finish()`` tells what
    /// happened. A failure of the parent's side is kept and thrown by ``finish()``.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        var pipeSignal = sigset_t(), previous = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var offset = 0
        while offset < bytes.count {
            guard input >= 0, inputError == nil else {
                unreadInputBytes += bytes.count - offset
                return
            }
            let n = Glibc.write(input, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
                continue
            }
            let err = Glibc.errno
            switch err {
            case EINTR:
                continue
            case EAGAIN:
                do { try waitForInputSpace() } catch { inputError = error }
            case EPIPE:
                // The write raised SIGPIPE for this thread, where it is blocked: take it, so
                // it is not delivered when the mask is restored. (Nothing is pending when the
                // process ignores SIGPIPE; the zero timeout returns at once.)
                if sigismember(&previous, SIGPIPE) == 0 {
                    var now = timespec(tv_sec: 0, tv_nsec: 0)
                    _ = sigtimedwait(&pipeSignal, nil, &now)
                }
                closeInput()
            default:
                inputError = SystemError(call: "write", errno: err, subject: path)
            }
        }
    }

    /// Writes all of `bytes` (see ``write(_:)-(UnsafeRawBufferPointer)``).
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Closes the child's stdin, reads the rest of its output and waits for it to exit. Throws
    /// only for failures of this process's side (a failed poll, read or write), never for the
    /// child's own exit status, which is in the result.
    public func finish() throws(SystemError) -> ChildProcess.Output {
        precondition(!finished, "StreamingChildProcess.finish() called twice")
        closeInput()
        while stdoutFD >= 0 || stderrFD >= 0 {
            try pollOutput(extra: nil)
        }
        var status: Int32 = 0
        try retryingEINTR("waitpid", path) { waitpid(pid, &status, 0) }
        finished = true
        if let inputError { throw inputError }
        return ChildProcess.Output(status: SpawnedProcess.exitStatus(status), stdout: stdout, stderr: stderr)
    }

    private func closeInput() {
        if input >= 0 {
            close(input)
            input = -1
        }
    }

    /// Waits until stdin can take more, draining stdout and stderr meanwhile.
    private func waitForInputSpace() throws(SystemError) {
        var writable = false
        while !writable && input >= 0 {
            writable = try pollOutput(extra: input)
        }
    }

    /// One poll over stdout, stderr and, when given, the stdin pipe for writing; reads what
    /// is ready. Returns whether `extra` became writable (or failed: the next write says how).
    @discardableResult
    private func pollOutput(extra: Int32?) throws(SystemError) -> Bool {
        var fds: [pollfd] = []
        if let extra { fds.append(pollfd(fd: extra, events: Int16(POLLOUT), revents: 0)) }
        if stdoutFD >= 0 { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
        if stderrFD >= 0 { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
        if fds.isEmpty { return true }
        try retryingEINTR("poll", path) { poll(&fds, nfds_t(fds.count), -1) }
        var writable = false
        for entry in fds where entry.revents != 0 {
            if entry.fd == extra {
                writable = true
                continue
            }
            let n = try retryingEINTR("read", path) { chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) } }
            if n == 0 {
                close(entry.fd)
                if entry.fd == stdoutFD { stdoutFD = -1 } else { stderrFD = -1 }
            } else if entry.fd == stdoutFD {
                stdout.append(contentsOf: chunk[0..<n])
            } else {
                stderr.append(contentsOf: chunk[0..<n])
            }
        }
        return writable
    }
}

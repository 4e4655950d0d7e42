#if canImport(Glibc)
import Glibc
#endif
import CNodekitShim

/// An open network namespace (a file descriptor on an nsfs file such as /var/run/netns/X or
/// /proc/PID/ns/net).
///
/// `setns` moves only the calling thread, so ``run(_:)`` runs its closure on a fresh thread that
/// enters the namespace and then ends; no pool thread is ever left in another namespace.
/// Sockets opened inside keep belonging to the namespace after the closure returns, which is how
/// netlink sockets for a pod's netns are made. Thread-safe; the descriptor is closed on deinit.
public final class NetworkNamespace: @unchecked Sendable {
    /// The path it was opened from (for messages).
    public let path: String
    /// The open descriptor, valid until this object is released.
    public let fd: Int32

    /// Opens the namespace at `path`. Throws ENOENT when it does not exist, EINVAL-like errors
    /// from ``run(_:)`` when the file is not a network namespace.
    public init(path: String) throws(SystemError) {
        self.path = path
        fd = try retryingEINTR("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
    }

    /// The namespace of the calling thread.
    public static func current() throws(SystemError) -> NetworkNamespace {
        try NetworkNamespace(path: "/proc/self/task/\(nk_gettid())/ns/net")
    }

    deinit { close(fd) }

    /// Runs `body` on a dedicated thread inside this namespace and returns its result; the caller
    /// blocks until it finishes. Processes spawned from `body` start in this namespace too.
    public func run<T>(_ body: () throws -> T) throws -> T {
        let namespaceFD = fd
        let namespacePath = path
        var result: Result<T, any Error>?
        try withoutActuallyEscaping(body) { escapable in
            try runOnNewThread {
                result = Result {
                    try check("setns", namespacePath) { nk_setns(namespaceFD, NK_CLONE_NEWNET) }
                    return try escapable()
                }
            }
        }
        return try result!.get()
    }
}

/// Holds a closure for a new pthread to run.
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Runs `body` on a new pthread and waits for it to finish.
private func runOnNewThread(_ body: @escaping () -> Void) throws(SystemError) {
    var thread = pthread_t()
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    let rc = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, context)
    if rc != 0 {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        throw SystemError(call: "pthread_create", errno: rc)
    }
    pthread_join(thread, nil)
}

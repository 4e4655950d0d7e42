#if canImport(Glibc)
import Glibc
#endif
import CNodekitShim

/// File operations the networking code needs, as thin wrappers over libc that throw
/// ``SystemError`` naming the call and the path.
///
/// All functions are synchronous and thread-safe (they share no state).
public enum FileOps {
    /// Reads a whole file. Throws `open`/`read` errors (ENOENT when it does not exist).
    public static func read(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try retryingEINTR("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = try retryingEINTR("read", path) { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads a whole file, or returns nil when it does not exist.
    public static func readIfExists(_ path: String) throws(SystemError) -> [UInt8]? {
        do { return try read(path) } catch where error.errno == ENOENT { return nil }
    }

    /// Writes all of `bytes` to an open descriptor, continuing after short writes.
    public static func writeAll(fd: Int32, _ bytes: [UInt8], subject: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = try retryingEINTR("write", subject) {
                bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            }
            offset += n
        }
    }

    /// Replaces `path` atomically: writes a temporary file beside it, fsyncs it, renames it over
    /// `path` and fsyncs the directory, so a crash leaves either the old or the new content.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SystemError) {
        let temp = path + ".tmp.\(getpid()).\(nk_gettid())"
        let fd = try retryingEINTR("open", temp) { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try writeAll(fd: fd, bytes, subject: temp)
            try retryingEINTR("fsync", temp) { fsync(fd) }
            close(fd)
            try check("rename", path) { rename(temp, path) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        try syncDirectory(of: path)
    }

    /// Creates `path` exclusively (O_EXCL) with `bytes` and fsyncs it. Returns false, writing
    /// nothing, when the file already exists.
    public static func createExclusive(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SystemError) -> Bool {
        let fd: Int32
        do {
            fd = try retryingEINTR("open", path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        } catch where error.errno == EEXIST {
            return false
        }
        defer { close(fd) }
        do {
            try writeAll(fd: fd, bytes, subject: path)
            try retryingEINTR("fsync", path) { fsync(fd) }
        } catch {
            unlink(path)
            throw error
        }
        try syncDirectory(of: path)
        return true
    }

    /// Removes a file; a missing file is not an error (returns false).
    @discardableResult
    public static func remove(_ path: String) throws(SystemError) -> Bool {
        do {
            try check("unlink", path) { unlink(path) }
            return true
        } catch where error.errno == ENOENT {
            return false
        }
    }

    /// Creates a directory and its missing parents; existing directories are fine.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            do {
                try check("mkdir", current) { mkdir(current, mode) }
            } catch where error.errno == EEXIST {
                continue
            }
        }
    }

    /// The names in a directory, without "." and "..". A missing directory gives an empty list.
    public static func list(_ path: String) throws(SystemError) -> [String] {
        do { return try SystemFile.listDirectory(path) } catch where error.errno == ENOENT { return [] }
    }

    /// True when something exists at `path` (following symlinks).
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// True when `path` is an executable regular file.
    public static func isExecutable(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    private static func syncDirectory(of path: String) throws(SystemError) {
        let slash = path.lastIndex(of: "/")
        let dirPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        try SystemFile.syncDirectory(dirPath)
    }
}

/// An exclusive advisory lock (flock) on a lock file, held until ``unlock()`` or deinit.
///
/// Locks are per open file description, so two `LockedFile`s in one process also exclude each
/// other, as do separate processes: this is what makes concurrent CNI ADDs safe.
public final class LockedFile: @unchecked Sendable {
    private var fd: Int32
    /// The lock file's path.
    public let path: String

    /// Opens (creating if needed) `path` and blocks until the exclusive lock is held.
    public init(path: String) throws(SystemError) {
        self.path = path
        fd = try retryingEINTR("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        do {
            try retryingEINTR("flock", path) { flock(fd, LOCK_EX) }
        } catch {
            close(fd)
            throw error
        }
    }

    /// Releases the lock and closes the file. Calling it twice is harmless.
    public func unlock() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    deinit { unlock() }
}


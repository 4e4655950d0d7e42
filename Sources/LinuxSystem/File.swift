#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An open file descriptor with the file syscalls a durable store needs.
///
/// A `SystemFile` is a plain value around the descriptor: it does not close itself, so the owner
/// calls ``close()`` exactly once. Positioned reads and writes (`pread`/`pwrite`) do not move a
/// shared offset, so one descriptor may be read from several threads; writes to overlapping
/// ranges from several threads are the caller's business.
public struct SystemFile: Sendable {
    /// The raw descriptor.
    public let descriptor: Int32
    /// The path the file was opened with, for error messages.
    public let path: String

    /// How to open a file.
    public struct Options: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readOnly = Options([])
        public static let readWrite = Options(rawValue: O_RDWR)
        public static let create = Options(rawValue: O_CREAT)
        public static let exclusive = Options(rawValue: O_EXCL)
        public static let truncate = Options(rawValue: O_TRUNC)
        public static let directory = Options(rawValue: O_DIRECTORY)
    }

    /// Opens `path` with close-on-exec set, so child processes never inherit store files.
    public static func open(_ path: String, _ options: Options, mode: UInt32 = 0o600) throws(SystemError) -> SystemFile {
        let fd = try retryingEINTR("open", path) { Glibc.open(path, options.rawValue | O_CLOEXEC, mode) }
        return SystemFile(descriptor: fd, path: path)
    }

    /// Closes the descriptor. EINTR is not retried: on Linux the descriptor is released anyway.
    public func close() throws(SystemError) {
        try check("close", path) { Glibc.close(descriptor) }
    }

    /// Writes all of `bytes` at `offset`, looping over short writes.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = try retryingEINTR("pwrite", path) {
                pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: Int64) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = try retryingEINTR("pwrite", path) {
                bytes.withUnsafeBytes { buffer in
                    pwrite(descriptor, buffer.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                }
            }
            done += n
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    public func read(count: Int, at offset: Int64) throws(SystemError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try retryingEINTR("pread", path) {
                result.withUnsafeMutableBytes { buffer in
                    pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                }
            }
            if n == 0 { break }
            done += n
        }
        result.removeLast(count - done)
        return result
    }

    /// Reads the whole file from offset 0.
    public func readAll() throws(SystemError) -> [UInt8] {
        try read(count: Int(size()), at: 0)
    }

    /// The file's size in bytes (`fstat`).
    public func size() throws(SystemError) -> Int64 {
        var info = stat()
        try check("fstat", path) { fstat(descriptor, &info) }
        return Int64(info.st_size)
    }

    /// Flushes data and the metadata needed to read it back (`fdatasync`).
    public func dataSync() throws(SystemError) {
        try retryingEINTR("fdatasync", path) { fdatasync(descriptor) }
    }

    /// Flushes data and all metadata (`fsync`); on a directory descriptor this makes renames,
    /// creations and unlinks inside it durable.
    public func sync() throws(SystemError) {
        try retryingEINTR("fsync", path) { fsync(descriptor) }
    }

    /// Sets the file's size (`ftruncate`).
    public func truncate(to size: Int64) throws(SystemError) {
        try retryingEINTR("ftruncate", path) { ftruncate(descriptor, off_t(size)) }
    }

    /// Takes an exclusive advisory lock without waiting (`flock(LOCK_EX|LOCK_NB)`). The kernel
    /// drops the lock when the descriptor is closed or the process dies.
    /// Returns false when another open file description holds the lock.
    public func lockExclusive() throws(SystemError) -> Bool {
        do {
            try retryingEINTR("flock", path) { flock(descriptor, LOCK_EX | LOCK_NB) }
            return true
        } catch where error.errno == EWOULDBLOCK {
            return false
        }
    }

    /// Renames `from` to `to`, atomically replacing `to`. Call ``syncDirectory(_:)`` on the parent
    /// to make the rename durable.
    public static func rename(_ from: String, to: String) throws(SystemError) {
        try check("rename", "\(from) -> \(to)") { Glibc.rename(from, to) }
    }

    /// Removes a file.
    public static func unlink(_ path: String) throws(SystemError) {
        try check("unlink", path) { Glibc.unlink(path) }
    }

    /// Creates a directory; an existing directory is not an error.
    public static func makeDirectory(_ path: String, mode: UInt32 = 0o700) throws(SystemError) {
        if Glibc.mkdir(path, mode) == -1 {
            let err = Glibc.errno
            if err != EEXIST { throw SystemError(call: "mkdir", errno: err, subject: path) }
        }
    }

    /// fsyncs a directory, making entries created, renamed or removed in it durable.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let dir = try open(path, [.directory])
        defer { try? dir.close() }
        try dir.sync()
    }

    /// The names in a directory, without "." and "..".
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError(call: "opendir", errno: Glibc.errno, subject: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// The real-time clock (`clock_gettime(CLOCK_REALTIME)`) in milliseconds since the Unix epoch:
/// what file timestamps and persisted expiry times are measured in.
public func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Mounts the kubelet makes on the host for pod volumes: tmpfs for Memory-medium emptyDirs,
/// secrets and configMaps (so secret bytes never reach a disk), and their unmounts.
///
/// Thread-safety: each call is one or two system calls on the given path; callers serialise
/// calls on the same path (the kubelet's pod worker does).
public enum Mount {
    /// Mounts a fresh tmpfs on `path` (an existing directory) with `mode` for its root and, when
    /// given, a size limit in bytes (rounded up by the kernel to whole pages). Without a limit
    /// the kernel's default applies (half of RAM). Idempotent: a path that already is a tmpfs
    /// mount point is left as it is. `nosuid,nodev` as upstream's emptyDir mounts.
    public static func tmpfs(at path: String, sizeBytes: Int64? = nil, mode: UInt32 = 0o777) throws(SystemError) {
        if try filesystemType(at: path) == "tmpfs" { return }
        var options = "mode=" + String(mode, radix: 8)
        if let sizeBytes {
            guard sizeBytes > 0 else { throw SystemError(call: "mount", errno: EINVAL, subject: "\(path) (tmpfs size \(sizeBytes))") }
            options += ",size=\(sizeBytes)"
        }
        let flags = UInt(MS_NOSUID) | UInt(MS_NODEV)
        try retryingEINTR("mount", "tmpfs on \(path) (\(options))") { mount("tmpfs", path, "tmpfs", flags, options) }
    }

    /// Unmounts whatever is mounted on `path`, lazily (MNT_DETACH) so a mount still held open by
    /// an exiting container does not fail the pod's teardown. A path that is not a mount point
    /// is not an error (EINVAL); a missing path is not either (ENOENT).
    public static func unmount(_ path: String) throws(SystemError) {
        do {
            try retryingEINTR("umount2", path) { umount2(path, Int32(MNT_DETACH)) }
        } catch where error.errno == EINVAL || error.errno == ENOENT {
            return
        }
    }

    /// The filesystem type mounted on `path` itself (`tmpfs`, `overlay`), nil when `path` is
    /// not a mount point. Read from /proc/self/mountinfo; the last mount on a point wins.
    public static func filesystemType(at path: String) throws(SystemError) -> String? {
        var type: String?
        for entry in try mountInfo() where entry.point == path { type = entry.type }
        return type
    }

    /// Mount points at or below `directory`, deepest first, from /proc/self/mountinfo (octal
    /// escapes in paths decoded), so a pod's teardown can unmount its volumes before removing
    /// the directory.
    public static func mountPoints(under directory: String) throws(SystemError) -> [String] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let points = try mountInfo().map(\.point).filter { $0 == directory || $0.hasPrefix(prefix) }
        return Array(Set(points)).sorted { $0.count > $1.count }
    }

    /// Mount point and filesystem type of every line of /proc/self/mountinfo, in order. The
    /// type is the first field after the ` - ` separator (optional fields come before it).
    static func mountInfo() throws(SystemError) -> [(point: String, type: String)] {
        let text = String(decoding: try FileOps.read("/proc/self/mountinfo"), as: UTF8.self)
        var entries: [(point: String, type: String)] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            entries.append((decodeMountInfoPath(String(fields[4])), String(fields[dash + 1])))
        }
        return entries
    }

    /// Decodes mountinfo's `\040`-style octal escapes (space, tab, newline, backslash).
    static func decodeMountInfoPath(_ field: String) -> String {
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.count,
               let value = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The host mounts pod volumes need, as a protocol so that unit tests use a stateful fake
/// (TestSupport's `FakeMounts`) and only integration tests touch the real mount table.
///
/// Contract: `mountTmpfs` is idempotent for a path that already is a tmpfs mount point;
/// `unmount` of a path that is not mounted succeeds; `mountPoints(under:)` lists the mount
/// points at or below a directory, deepest first. Implementations are thread-safe.
public protocol Mounting: Sendable {
    func mountTmpfs(at path: String, sizeBytes: Int64?, mode: UInt32) throws(SystemError)
    func unmount(_ path: String) throws(SystemError)
    func mountPoints(under directory: String) throws(SystemError) -> [String]
}

/// The real mount table, through ``Mount``.
public struct HostMounts: Mounting {
    public init() {}
    public func mountTmpfs(at path: String, sizeBytes: Int64?, mode: UInt32) throws(SystemError) {
        try Mount.tmpfs(at: path, sizeBytes: sizeBytes, mode: mode)
    }
    public func unmount(_ path: String) throws(SystemError) { try Mount.unmount(path) }
    public func mountPoints(under directory: String) throws(SystemError) -> [String] {
        try Mount.mountPoints(under: directory)
    }
}

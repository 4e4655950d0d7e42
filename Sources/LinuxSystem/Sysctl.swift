#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes kernel parameters through /proc/sys.
///
/// Network sysctls (`net.*`) belong to the network namespace of the calling *thread* at the time
/// the file is opened, so call these inside ``NetworkNamespace/run(_:)`` to reach another netns.
public enum Sysctl {
    /// The /proc/sys path of a dotted key, e.g. `net.ipv4.ip_forward`.
    public static func path(for key: String) -> String {
        "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
    }

    /// The current value, without the trailing newline.
    public static func read(_ key: String) throws(SystemError) -> String {
        let bytes = try FileOps.read(path(for: key))
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        return text
    }

    /// Writes a value. Writing the value already set is a harmless no-op for the kernel.
    public static func write(_ key: String, _ value: String) throws(SystemError) {
        let p = path(for: key)
        let fd = try retryingEINTR("open", p) { open(p, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        try FileOps.writeAll(fd: fd, Array(value.utf8), subject: p)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

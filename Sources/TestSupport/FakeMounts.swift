#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSystem
import Synchronization

/// An in-memory mount table for the kubelet's unit tests: tmpfs mounts are recorded with their
/// size and mode, on directories that must exist (as the kernel requires), and unmounts remove
/// them. It does not hide the directory's content as a real mount would; tests check what was
/// mounted where, and that teardown unmounted it before removing the directory.
public final class FakeMounts: Mounting {
    public struct Entry: Sendable, Hashable {
        public var sizeBytes: Int64?
        public var mode: UInt32
    }

    private let table = Mutex<[String: Entry]>([:])
    private let unmounted = Mutex<[String]>([])

    public init() {}

    /// What is mounted, by mount point.
    public var mounts: [String: Entry] { table.withLock { $0 } }
    /// Every path unmounted so far, in order.
    public var unmounts: [String] { unmounted.withLock { $0 } }

    public func mountTmpfs(at path: String, sizeBytes: Int64?, mode: UInt32) throws(SystemError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SystemError(call: "mount", errno: ENOENT, subject: "tmpfs on \(path)")
        }
        if let sizeBytes, sizeBytes <= 0 { throw SystemError(call: "mount", errno: EINVAL, subject: "tmpfs on \(path) (size \(sizeBytes))") }
        table.withLock { table in
            if table[path] == nil { table[path] = Entry(sizeBytes: sizeBytes, mode: mode) }
        }
    }

    public func unmount(_ path: String) throws(SystemError) {
        let removed = table.withLock { $0.removeValue(forKey: path) != nil }
        if removed { unmounted.withLock { $0.append(path) } }
    }

    public func mountPoints(under directory: String) throws(SystemError) -> [String] {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return table.withLock { table in
            table.keys.filter { $0 == directory || $0.hasPrefix(prefix) }.sorted { $0.count > $1.count }
        }
    }
}

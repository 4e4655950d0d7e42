#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Space and inode counts of one mounted filesystem, as `statvfs(3)` reports them.
///
/// The eviction manager's `nodefs.*` and `imagefs.*` signals and the node's
/// `ephemeral-storage` capacity come from here. "Available" is what an unprivileged writer can
/// use (`f_bavail`), as cAdvisor reports it, not the root-reserved `f_bfree`.
public struct FilesystemStats: Sendable, Hashable {
    /// Total size in bytes.
    public var capacityBytes: Int64
    /// Bytes an unprivileged process can still write.
    public var availableBytes: Int64
    /// Total inodes (0 on filesystems without a fixed inode table, such as btrfs).
    public var inodes: Int64
    /// Inodes still free.
    public var inodesFree: Int64

    public init(capacityBytes: Int64, availableBytes: Int64, inodes: Int64, inodesFree: Int64) {
        self.capacityBytes = capacityBytes
        self.availableBytes = availableBytes
        self.inodes = inodes
        self.inodesFree = inodesFree
    }

    /// Bytes in use: capacity less the free blocks a writer can reach.
    public var usedBytes: Int64 { max(0, capacityBytes - availableBytes) }

    /// Reads the filesystem holding `path`. Throws `statvfs` errors naming the path.
    public static func of(_ path: String) throws(SystemError) -> FilesystemStats {
        var info = statvfs()
        try retryingEINTR("statvfs", path) { statvfs(path, &info) }
        // f_frsize is the unit of the block counts; f_bsize is only the preferred I/O size.
        let unit = Int64(info.f_frsize == 0 ? info.f_bsize : info.f_frsize)
        func clamp(_ v: UInt) -> Int64 { Int64(clamping: v) }
        return FilesystemStats(
            capacityBytes: clamp(info.f_blocks).multipliedReportingOverflow(by: unit).partialValue,
            availableBytes: clamp(info.f_bavail).multipliedReportingOverflow(by: unit).partialValue,
            inodes: clamp(info.f_files),
            inodesFree: clamp(info.f_ffree))
    }
}

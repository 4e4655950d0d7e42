#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a host mounts cgroups: v1 controllers only, the v2 unified hierarchy only, or v1
/// controllers with the unified hierarchy beside them at `<root>/unified` (hybrid).
public enum CgroupMode: String, Sendable, Hashable, CaseIterable {
    case v1, v2, hybrid
}

/// Memory use of one cgroup, in the shape cAdvisor reports it.
public struct CgroupMemory: Sendable, Hashable {
    /// Charged memory: `memory.usage_in_bytes` (v1), `memory.current` (v2), or for the v2 root,
    /// which has no such file, MemTotal − MemFree from /proc/meminfo (as runc does).
    public var usageBytes: Int64
    /// Page cache that the kernel can drop first: `total_inactive_file` (v1) or `inactive_file` (v2).
    public var inactiveFileBytes: Int64

    public init(usageBytes: Int64, inactiveFileBytes: Int64) {
        self.usageBytes = usageBytes
        self.inactiveFileBytes = inactiveFileBytes
    }

    /// usage − inactive_file, never negative: the kubelet's `memory.available` is capacity
    /// minus this, so reclaimable page cache does not count as pressure.
    public var workingSetBytes: Int64 { max(0, usageBytes - inactiveFileBytes) }
}

/// Reads cgroup facts from cgroupfs. Stateless; every call reads the files afresh.
///
/// Paths passed in are cgroup paths relative to the hierarchy root ("/" or "" for the root,
/// "/kubepods/besteffort/pod<uid>" for a pod), as the kubelet's cgroupfs driver names them.
public struct Cgroups: Sendable {
    /// Where cgroupfs is mounted, normally /sys/fs/cgroup.
    public var mountRoot: String
    /// Where /proc/meminfo is read from (the v2 root has no usage file).
    public var meminfoPath: String

    public init(mountRoot: String = "/sys/fs/cgroup", meminfoPath: String = "/proc/meminfo") {
        self.mountRoot = mountRoot
        self.meminfoPath = meminfoPath
    }

    /// The host's layout: `cgroup.controllers` at the root means v2; a `unified` directory
    /// beside v1 controllers means hybrid; otherwise v1.
    public func mode() -> CgroupMode {
        if FileOps.exists(mountRoot + "/cgroup.controllers") { return .v2 }
        if FileOps.exists(mountRoot + "/unified/cgroup.controllers") { return .hybrid }
        return .v1
    }

    /// The controllers the kernel has enabled: from `cgroup.controllers` on v2, otherwise from
    /// /proc/cgroups (the `enabled` column) for v1 and hybrid hosts.
    public func enabledControllers(procCgroupsPath: String = "/proc/cgroups") throws(SystemError) -> [String] {
        if mode() == .v2 {
            let text = String(decoding: try FileOps.read(mountRoot + "/cgroup.controllers"), as: UTF8.self)
            return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init).sorted()
        }
        return Self.parseProcCgroups(String(decoding: try FileOps.read(procCgroupsPath), as: UTF8.self))
    }

    /// The enabled controller names of a /proc/cgroups text (`#subsys_name hierarchy num_cgroups enabled`).
    public static func parseProcCgroups(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            guard !line.hasPrefix("#") else { return nil }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 4, fields[3] == "1" else { return nil }
            return String(fields[0])
        }.sorted()
    }

    /// Memory use of the cgroup at `path`. On v1 and hybrid hosts it reads the v1 memory
    /// controller (that is where the kubelet's cgroupfs driver charges pods).
    public func memory(_ path: String = "/") throws(SystemError) -> CgroupMemory {
        let relative = path.split(separator: "/").joined(separator: "/")
        let isRoot = relative.isEmpty
        switch mode() {
        case .v1, .hybrid:
            let dir = mountRoot + "/memory" + (isRoot ? "" : "/" + relative)
            let usage = try Self.parseInteger(try FileOps.read(dir + "/memory.usage_in_bytes"), file: dir + "/memory.usage_in_bytes")
            let stat = Self.parseKeyValues(String(decoding: try FileOps.read(dir + "/memory.stat"), as: UTF8.self))
            return CgroupMemory(usageBytes: usage, inactiveFileBytes: stat["total_inactive_file"] ?? stat["inactive_file"] ?? 0)
        case .v2:
            let dir = mountRoot + (isRoot ? "" : "/" + relative)
            let stat = Self.parseKeyValues(String(decoding: try FileOps.read(dir + "/memory.stat"), as: UTF8.self))
            let usage: Int64
            if isRoot {
                let info = Self.parseMeminfo(String(decoding: try FileOps.read(meminfoPath), as: UTF8.self))
                usage = max(0, (info["MemTotal"] ?? 0) - (info["MemFree"] ?? 0))
            } else {
                usage = try Self.parseInteger(try FileOps.read(dir + "/memory.current"), file: dir + "/memory.current")
            }
            return CgroupMemory(usageBytes: usage, inactiveFileBytes: stat["inactive_file"] ?? 0)
        }
    }

    /// The number of tasks in the cgroup at `path` (`pids.current`), from the pids controller;
    /// nil when the cgroup or the controller's file does not exist.
    public func processCount(_ path: String) throws(SystemError) -> Int64? {
        let relative = path.split(separator: "/").joined(separator: "/")
        let dir = mode() == .v2 ? mountRoot + "/" + relative : mountRoot + "/pids/" + relative
        guard let bytes = try FileOps.readIfExists(dir + "/pids.current") else { return nil }
        return try Self.parseInteger(bytes, file: dir + "/pids.current")
    }

    /// `key value` lines (memory.stat) as a dictionary; lines that are not two fields with an
    /// integer value are skipped.
    public static func parseKeyValues(_ text: String) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = Int64(fields[1]) { out[String(fields[0])] = value }
        }
        return out
    }

    /// /proc/meminfo as bytes per key (`MemTotal:  24683656 kB` → 25276063744).
    public static func parseMeminfo(_ text: String) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ")
            guard let value = fields.first.flatMap({ Int64($0) }) else { continue }
            out[String(line[..<colon])] = fields.count > 1 && fields[1] == "kB" ? value * 1024 : value
        }
        return out
    }

    static func parseInteger(_ bytes: [UInt8], file: String) throws(SystemError) -> Int64 {
        let text = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        // "max" appears in v2 limit files; a usage file never holds it, so it is malformed here.
        guard let value = Int64(text) else { throw SystemError(call: "read", errno: EINVAL, subject: "\(file) (not an integer: \"\(text)\")") }
        return value
    }
}

/// Process-ID facts for the `pid.available` signal, read as upstream's kubelet reads them.
public enum ProcessTable {
    /// The most tasks the kernel allows: the smaller of `kernel.pid_max` and `kernel.threads-max`.
    public static func maxTasks() throws(SystemError) -> Int64 {
        let pidMax = try Cgroups.parseInteger(try FileOps.read("/proc/sys/kernel/pid_max"), file: "/proc/sys/kernel/pid_max")
        let threadsMax = try Cgroups.parseInteger(try FileOps.read("/proc/sys/kernel/threads-max"), file: "/proc/sys/kernel/threads-max")
        return min(pidMax, threadsMax)
    }

    /// The number of tasks (threads) that exist now: the total after the slash in the fourth
    /// field of /proc/loadavg. sysinfo(2) would truncate counts above 65535, hence the file.
    public static func runningTasks(loadavgPath: String = "/proc/loadavg") throws(SystemError) -> Int64 {
        let text = String(decoding: try FileOps.read(loadavgPath), as: UTF8.self)
        guard let count = parseLoadavgTasks(text) else {
            throw SystemError(call: "read", errno: EINVAL, subject: "\(loadavgPath) (no task count in \"\(text)\")")
        }
        return count
    }

    /// The total task count of a /proc/loadavg line (`0.00 0.01 0.05 1/123 4567` → 123).
    public static func parseLoadavgTasks(_ text: String) -> Int64? {
        let fields = text.split(separator: " ")
        guard fields.count >= 4, let slash = fields[3].firstIndex(of: "/") else { return nil }
        return Int64(fields[3][fields[3].index(after: slash)...])
    }
}

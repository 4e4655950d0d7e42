import CRI
import Foundation
import KubeAPI
import LinuxSystem

/// Measures this host for eviction and `/stats/summary`:
/// - node memory from the root memory cgroup (working set = usage − inactive file; v1 and v2)
///   against MemTotal;
/// - nodefs from statvfs of the kubelet's root directory; imagefs from statvfs of the runtime's
///   image filesystem mount point (CRI ImageFsInfo), or nodefs when the runtime does not say;
/// - pids from kernel.pid_max/threads-max and the task count;
/// - per pod: container working sets and writable layers from CRI ListContainerStats, log
///   file sizes, emptyDir usage, and the pod cgroup's working set and task count.
///
/// Every call measures afresh. Only the node-level reads can fail the call; a pod whose numbers
/// cannot be read is reported without them.
public struct HostStatsProvider: StatsProvider {
    public let node: NodeInfo
    public let runtime: any ContainerRuntime
    public let cgroups: Cgroups
    let pods: @Sendable () async -> [Pod]

    /// `pods` returns the pods the kubelet runs (their QoS class names their cgroup).
    public init(node: NodeInfo, runtime: any ContainerRuntime, cgroups: Cgroups = Cgroups(), pods: @escaping @Sendable () async -> [Pod]) {
        self.node = node
        self.runtime = runtime
        self.cgroups = cgroups
        self.pods = pods
    }

    public func summary() async throws(KubeletError) -> StatsSummary {
        var nodeStats = StatsSummary.NodeStats(nodeName: node.nodeName)
        do {
            let meminfo = Cgroups.parseMeminfo(String(decoding: try FileOps.read(cgroups.meminfoPath), as: UTF8.self))
            let capacity = meminfo["MemTotal"] ?? 0
            let root = try cgroups.memory("/")
            nodeStats.memory = StatsSummary.MemoryStats(availableBytes: max(0, capacity - root.workingSetBytes),
                                                        usageBytes: root.usageBytes, workingSetBytes: root.workingSetBytes)
            nodeStats.fs = Self.fsStats(try FilesystemStats.of(Self.existingAncestor(node.rootDirectory)))
            nodeStats.rlimit = StatsSummary.RlimitStats(maxpid: try ProcessTable.maxTasks(), curproc: try ProcessTable.runningTasks())
        } catch {
            throw KubeletError(.configuration, "reading node resource usage", cause: error)
        }
        if let info = try? await runtime.imageFsInfo(Runtime_V1_ImageFsInfoRequest(), timeout: .seconds(5)),
           let first = info.imageFilesystems.first, !first.fsID.mountpoint.isEmpty,
           let fs = try? FilesystemStats.of(first.fsID.mountpoint) {
            var imageFs = Self.fsStats(fs)
            if first.hasUsedBytes { imageFs.usedBytes = Int64(clamping: first.usedBytes.value) }
            nodeStats.runtime = StatsSummary.RuntimeStats(imageFs: imageFs)
        }
        return StatsSummary(node: nodeStats, pods: await podStats())
    }

    func podStats() async -> [StatsSummary.PodStats] {
        let stats = (try? await runtime.listContainerStats(Runtime_V1_ListContainerStatsRequest(), timeout: .seconds(10)))?.stats ?? []
        var out: [StatsSummary.PodStats] = []
        for pod in await pods() {
            let uid = pod.metadata.uid ?? ""
            let namespace = pod.metadata.namespace ?? "default", name = pod.metadata.name ?? ""
            let logDirectory = node.podLogDirectory(namespace: namespace, name: name, uid: uid)
            var containers: [StatsSummary.ContainerStats] = []
            for stat in stats where stat.attributes.labels[KubeletLabels.podUID] == uid {
                let containerName = stat.attributes.metadata.name
                var c = StatsSummary.ContainerStats(name: containerName)
                if stat.hasMemory, stat.memory.hasWorkingSetBytes {
                    c.memory = StatsSummary.MemoryStats(workingSetBytes: Int64(clamping: stat.memory.workingSetBytes.value))
                }
                if stat.hasWritableLayer {
                    c.rootfs = StatsSummary.FsStats(usedBytes: stat.writableLayer.hasUsedBytes ? Int64(clamping: stat.writableLayer.usedBytes.value) : nil,
                                                    inodesUsed: stat.writableLayer.hasInodesUsed ? Int64(clamping: stat.writableLayer.inodesUsed.value) : nil)
                }
                let logs = Self.treeUsage(logDirectory + "/" + containerName)
                c.logs = StatsSummary.FsStats(usedBytes: logs.bytes, inodesUsed: logs.inodes)
                // A restarted container has several stats entries (one per instance): keep the newest, which is listed last.
                containers.removeAll { $0.name == containerName }
                containers.append(c)
            }
            let emptyDirRoot = node.podDirectory(uid: uid) + "/volumes/kubernetes.io~empty-dir"
            let volumes = (pod.spec.volumes ?? []).filter { $0.emptyDir != nil }.map { volume -> StatsSummary.VolumeStats in
                let usage = Self.treeUsage(emptyDirRoot + "/" + volume.name)
                return StatsSummary.VolumeStats(name: volume.name, usedBytes: usage.bytes, inodesUsed: usage.inodes)
            }
            let cgroup = QOSClass(pod.spec).cgroupParent(podUID: uid)
            var podStats = StatsSummary.PodStats(podRef: .init(name: name, namespace: namespace, uid: uid), containers: containers,
                                                 volume: volumes.isEmpty ? nil : volumes,
                                                 processCount: (try? cgroups.processCount(cgroup)) ?? nil)
            if let memory = try? cgroups.memory(cgroup) {
                podStats.memory = StatsSummary.MemoryStats(usageBytes: memory.usageBytes, workingSetBytes: memory.workingSetBytes)
            }
            out.append(podStats)
        }
        return out
    }

    static func fsStats(_ fs: FilesystemStats) -> StatsSummary.FsStats {
        StatsSummary.FsStats(availableBytes: fs.availableBytes, capacityBytes: fs.capacityBytes, usedBytes: fs.usedBytes,
                             inodesFree: fs.inodesFree, inodes: fs.inodes, inodesUsed: max(0, fs.inodes - fs.inodesFree))
    }

    /// The path itself when it exists, else its nearest existing parent: a fresh node has no
    /// /var/lib/kubelet yet, but its filesystem is the one that will hold it.
    static func existingAncestor(_ path: String) -> String {
        var current = path
        while !current.isEmpty && current != "/" && !FileOps.exists(current) {
            current = String(current[..<(current.lastIndex(of: "/") ?? current.startIndex)])
        }
        return current.isEmpty ? "/" : current
    }

    /// Bytes of regular files and the number of entries under `path` (0, 0 when absent).
    static func treeUsage(_ path: String) -> (bytes: Int64, inodes: Int64) {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return (0, 0) }
        var bytes: Int64 = 0, inodes: Int64 = 0
        while walker.nextObject() != nil {
            inodes += 1
            if let attributes = walker.fileAttributes, attributes[.type] as? FileAttributeType == .typeRegular {
                bytes += (attributes[.size] as? NSNumber)?.int64Value ?? 0
            }
        }
        return (bytes, inodes)
    }
}

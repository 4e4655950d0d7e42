import Foundation

/// The kubelet's resource summary, in the JSON shape of upstream's `/stats/summary`
/// (stats/v1alpha1) restricted to the fields eviction and `nodectl evict --node-pressure` use.
/// Absent numbers mean "not measured", never zero.
public struct StatsSummary: Codable, Sendable, Hashable {
    public var node: NodeStats
    public var pods: [PodStats]

    public init(node: NodeStats, pods: [PodStats]) {
        self.node = node
        self.pods = pods
    }

    public struct NodeStats: Codable, Sendable, Hashable {
        public var nodeName: String
        public var memory: MemoryStats?
        /// The filesystem of the kubelet's root directory (nodefs).
        public var fs: FsStats?
        public var runtime: RuntimeStats?
        public var rlimit: RlimitStats?
        public init(nodeName: String, memory: MemoryStats? = nil, fs: FsStats? = nil, runtime: RuntimeStats? = nil, rlimit: RlimitStats? = nil) {
            self.nodeName = nodeName
            self.memory = memory
            self.fs = fs
            self.runtime = runtime
            self.rlimit = rlimit
        }
    }

    public struct RuntimeStats: Codable, Sendable, Hashable {
        /// The filesystem holding the runtime's images (imagefs).
        public var imageFs: FsStats?
        public init(imageFs: FsStats?) { self.imageFs = imageFs }
    }

    public struct MemoryStats: Codable, Sendable, Hashable {
        public var availableBytes: Int64?
        public var usageBytes: Int64?
        public var workingSetBytes: Int64?
        public init(availableBytes: Int64? = nil, usageBytes: Int64? = nil, workingSetBytes: Int64? = nil) {
            self.availableBytes = availableBytes
            self.usageBytes = usageBytes
            self.workingSetBytes = workingSetBytes
        }
    }

    public struct FsStats: Codable, Sendable, Hashable {
        public var availableBytes: Int64?
        public var capacityBytes: Int64?
        public var usedBytes: Int64?
        public var inodesFree: Int64?
        public var inodes: Int64?
        public var inodesUsed: Int64?
        public init(availableBytes: Int64? = nil, capacityBytes: Int64? = nil, usedBytes: Int64? = nil,
                    inodesFree: Int64? = nil, inodes: Int64? = nil, inodesUsed: Int64? = nil) {
            self.availableBytes = availableBytes
            self.capacityBytes = capacityBytes
            self.usedBytes = usedBytes
            self.inodesFree = inodesFree
            self.inodes = inodes
            self.inodesUsed = inodesUsed
        }
    }

    public struct RlimitStats: Codable, Sendable, Hashable {
        public var maxpid: Int64?
        public var curproc: Int64?
        public init(maxpid: Int64?, curproc: Int64?) {
            self.maxpid = maxpid
            self.curproc = curproc
        }
    }

    public struct PodReference: Codable, Sendable, Hashable {
        public var name: String
        public var namespace: String
        public var uid: String
        public init(name: String, namespace: String, uid: String) {
            self.name = name
            self.namespace = namespace
            self.uid = uid
        }
    }

    public struct ContainerStats: Codable, Sendable, Hashable {
        public var name: String
        public var memory: MemoryStats?
        /// The writable layer.
        public var rootfs: FsStats?
        /// The container's log files.
        public var logs: FsStats?
        public init(name: String, memory: MemoryStats? = nil, rootfs: FsStats? = nil, logs: FsStats? = nil) {
            self.name = name
            self.memory = memory
            self.rootfs = rootfs
            self.logs = logs
        }
    }

    public struct VolumeStats: Codable, Sendable, Hashable {
        public var name: String
        public var usedBytes: Int64?
        public var inodesUsed: Int64?
        public init(name: String, usedBytes: Int64?, inodesUsed: Int64?) {
            self.name = name
            self.usedBytes = usedBytes
            self.inodesUsed = inodesUsed
        }
    }

    public struct ProcessStats: Codable, Sendable, Hashable {
        public var process_count: Int64?
        public init(processCount: Int64?) { self.process_count = processCount }
    }

    public struct PodStats: Codable, Sendable, Hashable {
        public var podRef: PodReference
        public var containers: [ContainerStats]
        public var memory: MemoryStats?
        /// Local ephemeral volumes (emptyDir on disk).
        public var volume: [VolumeStats]?
        public var process_stats: ProcessStats?

        public init(podRef: PodReference, containers: [ContainerStats], memory: MemoryStats? = nil,
                    volume: [VolumeStats]? = nil, processCount: Int64? = nil) {
            self.podRef = podRef
            self.containers = containers
            self.memory = memory
            self.volume = volume
            self.process_stats = processCount.map { ProcessStats(processCount: $0) }
        }

        /// The pod's memory working set: the pod cgroup's when measured, else the sum of its
        /// containers'.
        public var memoryWorkingSetBytes: Int64? {
            if let ws = memory?.workingSetBytes { return ws }
            let values = containers.compactMap { $0.memory?.workingSetBytes }
            return values.isEmpty ? nil : values.reduce(0, +)
        }

        /// Bytes of local ephemeral storage: writable layers, logs and local volumes.
        public var ephemeralStorageBytes: Int64 {
            containers.map { ($0.rootfs?.usedBytes ?? 0) + ($0.logs?.usedBytes ?? 0) }.reduce(0, +)
                + (volume ?? []).map { $0.usedBytes ?? 0 }.reduce(0, +)
        }

        /// Inodes used by writable layers, logs and local volumes.
        public var inodesUsed: Int64 {
            containers.map { ($0.rootfs?.inodesUsed ?? 0) + ($0.logs?.inodesUsed ?? 0) }.reduce(0, +)
                + (volume ?? []).map { $0.inodesUsed ?? 0 }.reduce(0, +)
        }

        public var processCount: Int64 { process_stats?.process_count ?? 0 }
    }
}

/// One signal as observed: what is available, out of what capacity.
public struct SignalObservation: Sendable, Hashable, Codable {
    public var available: Int64
    public var capacity: Int64
    public init(available: Int64, capacity: Int64) {
        self.available = available
        self.capacity = capacity
    }
}

extension StatsSummary {
    /// The eviction signals this summary measures, derived as upstream's makeSignalObservations:
    /// memory capacity is available + working set; pid.available is max pids − running tasks.
    /// Without a separate image filesystem, imagefs signals repeat the nodefs ones.
    public var observations: [EvictionSignal: SignalObservation] {
        var out: [EvictionSignal: SignalObservation] = [:]
        if let m = node.memory, let available = m.availableBytes, let ws = m.workingSetBytes {
            out[.memoryAvailable] = SignalObservation(available: available, capacity: available + ws)
        }
        func addFs(_ fs: FsStats?, bytes: EvictionSignal, inodes: EvictionSignal) {
            guard let fs else { return }
            if let a = fs.availableBytes, let c = fs.capacityBytes { out[bytes] = SignalObservation(available: a, capacity: c) }
            if let a = fs.inodesFree, let c = fs.inodes, c > 0 { out[inodes] = SignalObservation(available: a, capacity: c) }
        }
        addFs(node.fs, bytes: .nodeFsAvailable, inodes: .nodeFsInodesFree)
        addFs(node.runtime?.imageFs ?? node.fs, bytes: .imageFsAvailable, inodes: .imageFsInodesFree)
        if let r = node.rlimit, let max = r.maxpid, let cur = r.curproc {
            out[.pidAvailable] = SignalObservation(available: max - cur, capacity: max)
        }
        return out
    }
}

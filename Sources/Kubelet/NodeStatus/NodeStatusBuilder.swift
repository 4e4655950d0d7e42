import Foundation
import KubeAPI

/// What the node has, measured once per status sync.
public struct NodeCapacity: Sendable, Hashable {
    public var cpuMilli: Int64
    /// MemTotal from /proc/meminfo.
    public var memoryBytes: Int64
    /// Size of the filesystem holding the kubelet's root directory.
    public var ephemeralStorageBytes: Int64
    public var pods: Int64

    public init(cpuMilli: Int64, memoryBytes: Int64, ephemeralStorageBytes: Int64, pods: Int64 = 110) {
        self.cpuMilli = cpuMilli
        self.memoryBytes = memoryBytes
        self.ephemeralStorageBytes = ephemeralStorageBytes
        self.pods = pods
    }
}

/// Facts about the machine for `status.nodeInfo` and `status.addresses`.
public struct NodeSystemFacts: Sendable, Hashable {
    public var machineID: String
    public var systemUUID: String
    public var bootID: String
    public var kernelVersion: String
    /// PRETTY_NAME of /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)".
    public var osImage: String
    public var architecture: String
    public var internalIP: String
    public var hostname: String

    public init(machineID: String = "", systemUUID: String = "", bootID: String = "", kernelVersion: String, osImage: String,
                architecture: String = "amd64", internalIP: String, hostname: String) {
        self.machineID = machineID
        self.systemUUID = systemUUID
        self.bootID = bootID
        self.kernelVersion = kernelVersion
        self.osImage = osImage
        self.architecture = architecture
        self.internalIP = internalIP
        self.hostname = hostname
    }

    /// Reads this host: /etc/machine-id, the DMI product UUID (when readable), the boot id,
    /// /proc/sys/kernel/osrelease and /etc/os-release.
    public static func host(internalIP: String, hostname: String) -> NodeSystemFacts {
        func read(_ path: String) -> String {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return NodeSystemFacts(machineID: read("/etc/machine-id"), systemUUID: read("/sys/class/dmi/id/product_uuid"),
                               bootID: read("/proc/sys/kernel/random/boot_id"), kernelVersion: read("/proc/sys/kernel/osrelease"),
                               osImage: osImage(fromOSRelease: read("/etc/os-release")), internalIP: internalIP, hostname: hostname)
    }

    /// PRETTY_NAME from an os-release text (quotes removed), "Linux" when it has none.
    public static func osImage(fromOSRelease text: String) -> String {
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            var value = line.dropFirst("PRETTY_NAME=".count)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            return String(value)
        }
        return "Linux"
    }
}

/// The kubelet's settings that shape the Node's status.
public struct NodeStatusConfig: Sendable, Hashable {
    public var kubeReserved: ResourceList
    public var systemReserved: ResourceList
    /// Hard eviction thresholds: memory.available and nodefs.available come off allocatable.
    public var hardEviction: [EvictionThreshold]
    public var kubeletPort: Int32
    public var kubeletVersion: String

    public init(kubeReserved: ResourceList = [:], systemReserved: ResourceList = [:],
                hardEviction: [EvictionThreshold] = EvictionConfig.defaultHardThresholds,
                kubeletPort: Int32 = 10250, kubeletVersion: String = "v1.32.0") {
        self.kubeReserved = kubeReserved
        self.systemReserved = systemReserved
        self.hardEviction = hardEviction.filter(\.isHard)
        self.kubeletPort = kubeletPort
        self.kubeletVersion = kubeletVersion
    }
}

/// The runtime's side of the status: its version, its readiness and its images.
public struct RuntimeFacts: Sendable, Hashable {
    /// `containerd://1.6.20`.
    public var runtimeVersion: String
    /// Why the runtime is not ready (RuntimeReady/NetworkReady false), empty when it is.
    public var notReadyReasons: [String]
    public var images: [ContainerImage]

    public init(runtimeVersion: String, notReadyReasons: [String] = [], images: [ContainerImage] = []) {
        self.runtimeVersion = runtimeVersion
        self.notReadyReasons = notReadyReasons
        self.images = images
    }
}

/// Builds `Node.status` as upstream's node status setters do. A pure function: the same inputs
/// give the same status; transition times carry over from `previous` while a condition's
/// status does not change.
public enum NodeStatusBuilder {
    /// Upstream reports at most this many images, largest first.
    public static let maxImages = 50

    public static func capacity(_ c: NodeCapacity) -> ResourceList {
        ["cpu": Quantity(milliValue: c.cpuMilli), "memory": Quantity(value: c.memoryBytes),
         "ephemeral-storage": Quantity(value: c.ephemeralStorageBytes), "pods": Quantity(value: c.pods)]
    }

    /// capacity − kube-reserved − system-reserved − the hard eviction threshold (memory and
    /// ephemeral-storage), never below zero (upstream's GetNodeAllocatableReservation).
    public static func allocatable(_ c: NodeCapacity, config: NodeStatusConfig) -> ResourceList {
        var out: ResourceList = [:]
        for (name, quantity) in capacity(c) {
            var milli = quantity.milliValue
            milli -= config.kubeReserved[name]?.milliValue ?? 0
            milli -= config.systemReserved[name]?.milliValue ?? 0
            let signal: EvictionSignal? = name == "memory" ? .memoryAvailable : name == "ephemeral-storage" ? .nodeFsAvailable : nil
            if let signal, let threshold = config.hardEviction.first(where: { $0.signal == signal }) {
                milli -= threshold.value.amount(capacity: quantity.value) * 1000
            }
            milli = max(0, milli)
            out[name] = name == "cpu" ? Quantity(milliValue: milli) : Quantity(value: milli / 1000)
        }
        return out
    }

    /// The four conditions, each with upstream's reason and message.
    public static func conditions(pressure: Set<NodePressureCondition>, notReadyReasons: [String], now: Date,
                                  previous: [NodeCondition]?) -> [NodeCondition] {
        let stamp = now.rfc3339
        func make(_ type: String, _ isTrue: Bool, _ yes: (String, String), _ no: (String, String)) -> NodeCondition {
            let (reason, message) = isTrue ? yes : no
            var condition = NodeCondition(type: type, status: isTrue ? "True" : "False", reason: reason, message: message)
            condition.lastHeartbeatTime = stamp
            let old = previous?.first { $0.type == type }
            condition.lastTransitionTime = old?.status == condition.status ? (old?.lastTransitionTime ?? stamp) : stamp
            return condition
        }
        return [
            make("MemoryPressure", pressure.contains(.memoryPressure),
                 ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
                 ("KubeletHasSufficientMemory", "kubelet has sufficient memory available")),
            make("DiskPressure", pressure.contains(.diskPressure),
                 ("KubeletHasDiskPressure", "kubelet has disk pressure"),
                 ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")),
            make("PIDPressure", pressure.contains(.pidPressure),
                 ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
                 ("KubeletHasSufficientPID", "kubelet has sufficient PID available")),
            make("Ready", notReadyReasons.isEmpty,
                 ("KubeletReady", "kubelet is posting ready status"),
                 ("KubeletNotReady", notReadyReasons.joined(separator: ", "))),
        ]
    }

    /// The whole status.
    public static func build(capacity c: NodeCapacity, config: NodeStatusConfig, facts: NodeSystemFacts, runtime: RuntimeFacts,
                             pressure: Set<NodePressureCondition>, now: Date, previous: NodeStatus?) -> NodeStatus {
        var status = NodeStatus(capacity: capacity(c), allocatable: allocatable(c, config: config),
                                conditions: conditions(pressure: pressure, notReadyReasons: runtime.notReadyReasons, now: now,
                                                       previous: previous?.conditions),
                                images: Array(runtime.images.sorted { ($0.sizeBytes ?? 0) > ($1.sizeBytes ?? 0) }.prefix(maxImages)))
        status.addresses = [NodeAddress(type: "InternalIP", address: facts.internalIP), NodeAddress(type: "Hostname", address: facts.hostname)]
            .filter { !$0.address.isEmpty }
        status.daemonEndpoints = NodeDaemonEndpoints(kubeletPort: config.kubeletPort)
        // KubeAPI's NodeSystemInfo has only its Codable initializer; build it from its JSON fields.
        let info: [String: String] = [
            "machineID": facts.machineID, "systemUUID": facts.systemUUID, "bootID": facts.bootID,
            "kernelVersion": facts.kernelVersion, "osImage": facts.osImage, "containerRuntimeVersion": runtime.runtimeVersion,
            "kubeletVersion": config.kubeletVersion, "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": facts.architecture,
        ]
        status.nodeInfo = (try? JSONEncoder().encode(info)).flatMap { try? JSONDecoder().decode(NodeSystemInfo.self, from: $0) }
        return status
    }
}

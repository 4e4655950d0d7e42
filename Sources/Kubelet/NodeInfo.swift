import Foundation

/// What the kubelet knows about its node and where it keeps things. Built once at start-up.
public struct NodeInfo: Sendable, Hashable {
    public var nodeName: String
    /// The node's IP for `status.hostIP` (empty when unknown).
    public var hostIP: String
    /// `--root-dir`: pods/<uid>/volumes/... live under it (default /var/lib/kubelet).
    public var rootDirectory: String
    /// Where pod log directories go: /var/log/pods, or <root-dir>/logs/pods with --root-dir.
    public var podLogsDirectory: String
    /// The host's resolv.conf text, the base of pod DNS for dnsPolicy Default.
    public var resolvConf: String
    /// Cluster DNS servers; empty in standalone mode, when ClusterFirst falls back to Default.
    public var clusterDNS: [String]
    public var clusterDomain: String
    /// Node capacity, for resourceFieldRef of unset limits (upstream uses allocatable).
    public var cpuMilli: Int64
    public var memoryBytes: Int64
    /// The prefix of `containerID` in statuses: `containerd://`.
    public var runtimeName: String

    public init(nodeName: String, hostIP: String = "", rootDirectory: String = "/var/lib/kubelet",
                podLogsDirectory: String = "/var/log/pods", resolvConf: String = "", clusterDNS: [String] = [],
                clusterDomain: String = "cluster.local", cpuMilli: Int64 = 1000, memoryBytes: Int64 = 1 << 30,
                runtimeName: String = "containerd") {
        self.nodeName = nodeName
        self.hostIP = hostIP
        self.rootDirectory = rootDirectory
        self.podLogsDirectory = podLogsDirectory
        self.resolvConf = resolvConf
        self.clusterDNS = clusterDNS
        self.clusterDomain = clusterDomain
        self.cpuMilli = cpuMilli
        self.memoryBytes = memoryBytes
        self.runtimeName = runtimeName
    }

    /// Reads this host's facts: /etc/resolv.conf, CPU count, physical memory. A custom root
    /// directory moves the pod logs under it, as the brief of `--root-dir` asks.
    public static func host(nodeName: String, rootDirectory: String?, hostIP: String = "") -> NodeInfo {
        let root = rootDirectory ?? "/var/lib/kubelet"
        return NodeInfo(
            nodeName: nodeName, hostIP: hostIP, rootDirectory: root,
            podLogsDirectory: rootDirectory.map { $0 + "/logs/pods" } ?? "/var/log/pods",
            resolvConf: (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "",
            cpuMilli: Int64(ProcessInfo.processInfo.activeProcessorCount) * 1000,
            memoryBytes: Int64(clamping: ProcessInfo.processInfo.physicalMemory))
    }

    /// `/var/log/pods/<ns>_<name>_<uid>`.
    public func podLogDirectory(namespace: String, name: String, uid: String) -> String {
        "\(podLogsDirectory)/\(namespace)_\(name)_\(uid)"
    }

    /// `<root>/pods/<uid>`.
    public func podDirectory(uid: String) -> String { "\(rootDirectory)/pods/\(uid)" }
}

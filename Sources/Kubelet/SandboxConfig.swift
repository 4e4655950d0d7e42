import CRI
import Foundation
import KubeAPI

/// A pod's quality-of-service class, as upstream's `GetPodQOS`.
public enum QOSClass: String, Sendable, Hashable {
    case guaranteed = "Guaranteed", burstable = "Burstable", bestEffort = "BestEffort"

    /// Guaranteed when every container sets cpu and memory limits and its requests equal them
    /// (a missing request defaults to the limit); BestEffort when no container sets any cpu or
    /// memory request or limit; Burstable otherwise.
    public init(_ spec: PodSpec) {
        let containers = (spec.initContainers ?? []) + spec.containers
        var anySet = false
        var guaranteed = true
        for container in containers {
            let limits = container.resources?.limits ?? [:]
            let requests = container.resources?.requests ?? [:]
            for resource in ["cpu", "memory"] {
                let limit = limits[resource].map(\.milliValue).flatMap { $0 > 0 ? $0 : nil }
                let request = (requests[resource].map(\.milliValue).flatMap { $0 > 0 ? $0 : nil }) ?? limit
                if limit != nil || request != nil { anySet = true }
                if limit == nil || request != limit { guaranteed = false }
            }
        }
        if !anySet { self = .bestEffort } else if guaranteed { self = .guaranteed } else { self = .burstable }
    }

    /// The pod's cgroup parent with the cgroupfs driver: `/kubepods/pod<uid>` for Guaranteed,
    /// `/kubepods/burstable/pod<uid>` and `/kubepods/besteffort/pod<uid>` for the others.
    public func cgroupParent(podUID: String) -> String {
        switch self {
        case .guaranteed: return "/kubepods/pod\(podUID)"
        case .burstable: return "/kubepods/burstable/pod\(podUID)"
        case .bestEffort: return "/kubepods/besteffort/pod\(podUID)"
        }
    }
}

/// Pod DNS, as upstream's DNS configurer: the host's resolv.conf for `Default` (and for
/// `ClusterFirst` when no cluster DNS is configured, or with host networking), cluster DNS for
/// `ClusterFirst`, nothing for `None`; then the pod's `dnsConfig` is merged in. Upstream's
/// limits apply: 3 nameservers, 32 search domains.
public enum PodDNS {
    public static let maxNameservers = 3
    public static let maxSearches = 32

    public static func config(for pod: Pod, node: NodeInfo) throws(KubeletError) -> Runtime_V1_DNSConfig {
        let policy = pod.spec.dnsPolicy ?? "ClusterFirst"
        let host = parseResolvConf(node.resolvConf)
        var servers: [String] = [], searches: [String] = [], options: [String] = []
        switch policy {
        case "Default":
            (servers, searches, options) = host
        case "ClusterFirst", "ClusterFirstWithHostNet":
            let useHost = node.clusterDNS.isEmpty || (policy == "ClusterFirst" && pod.spec.hostNetwork == true)
            if useHost {
                (servers, searches, options) = host
            } else {
                let namespace = pod.metadata.namespace ?? "default"
                servers = node.clusterDNS
                searches = ["\(namespace).svc.\(node.clusterDomain)", "svc.\(node.clusterDomain)", node.clusterDomain] + host.1
                options = ["ndots:5"]
            }
        case "None":
            guard pod.spec.dnsConfig != nil else {
                throw KubeletError(.configuration, "pod \(pod.key): dnsPolicy None needs dnsConfig")
            }
        default:
            throw KubeletError(.configuration, "pod \(pod.key): unknown dnsPolicy \(policy)")
        }
        if let extra = pod.spec.dnsConfig {
            servers += extra.nameservers ?? []
            searches += extra.searches ?? []
            for option in extra.options ?? [] {
                guard let name = option.name, !name.isEmpty else { continue }
                options.removeAll { $0 == name || $0.hasPrefix(name + ":") }
                options.append(option.value.map { "\(name):\($0)" } ?? name)
            }
        }
        var config = Runtime_V1_DNSConfig()
        config.servers = Array(unique(servers).prefix(maxNameservers))
        config.searches = Array(unique(searches).prefix(maxSearches))
        config.options = unique(options)
        return config
    }

    /// Nameservers, search domains and options from resolv.conf text.
    public static func parseResolvConf(_ text: String) -> ([String], [String], [String]) {
        var servers: [String] = [], searches: [String] = [], options: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = fields.first, !keyword.hasPrefix("#"), !keyword.hasPrefix(";") else { continue }
            switch keyword {
            case "nameserver": if fields.count > 1 { servers.append(fields[1]) }
            // The last search or domain line wins, as in resolv.conf(5).
            case "search", "domain": searches = Array(fields.dropFirst())
            case "options": options += fields.dropFirst()
            default: break
            }
        }
        return (servers, searches, options)
    }

    static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}

/// Builds the CRI sandbox config of a pod.
public enum SandboxConfigBuilder {
    public static func make(pod: Pod, attempt: UInt32, node: NodeInfo) throws(KubeletError) -> Runtime_V1_PodSandboxConfig {
        let name = pod.metadata.name ?? ""
        let namespace = pod.metadata.namespace ?? "default"
        let uid = pod.metadata.uid ?? ""
        var config = Runtime_V1_PodSandboxConfig()
        config.metadata.name = name
        config.metadata.namespace = namespace
        config.metadata.uid = uid
        config.metadata.attempt = attempt
        if pod.spec.hostNetwork == true {
            config.hostname = node.nodeName
        } else {
            // Upstream truncates the hostname to 63 bytes and trims trailing '-' and '.'.
            var hostname = String((pod.spec.hostname ?? name).prefix(63))
            while hostname.hasSuffix("-") || hostname.hasSuffix(".") { hostname.removeLast() }
            config.hostname = hostname
        }
        config.logDirectory = node.podLogDirectory(namespace: namespace, name: name, uid: uid)
        config.dnsConfig = try PodDNS.config(for: pod, node: node)
        for container in pod.spec.containers {
            for port in container.ports ?? [] where (port.hostPort ?? 0) > 0 {
                var mapping = Runtime_V1_PortMapping()
                mapping.containerPort = port.containerPort
                mapping.hostPort = port.hostPort ?? 0
                mapping.hostIp = port.hostIP ?? ""
                switch (port.protocol ?? "TCP").uppercased() {
                case "UDP": mapping.protocol = .udp
                case "SCTP": mapping.protocol = .sctp
                default: mapping.protocol = .tcp
                }
                config.portMappings.append(mapping)
            }
        }
        var labels = pod.metadata.labels ?? [:]
        labels[KubeletLabels.podName] = name
        labels[KubeletLabels.podNamespace] = namespace
        labels[KubeletLabels.podUID] = uid
        labels[KubeletLabels.containerType] = "podsandbox"
        config.labels = labels
        config.annotations = pod.metadata.annotations ?? [:]
        config.linux.cgroupParent = QOSClass(pod.spec).cgroupParent(podUID: uid)
        for sysctl in pod.spec.securityContext?.sysctls ?? [] {
            config.linux.sysctls[sysctl.name] = sysctl.value
        }
        var security = Runtime_V1_LinuxSandboxSecurityContext()
        security.namespaceOptions.network = pod.spec.hostNetwork == true ? .node : .pod
        security.namespaceOptions.pid = pod.spec.hostPID == true ? .node : .container
        security.namespaceOptions.ipc = pod.spec.hostIPC == true ? .node : .pod
        if pod.spec.shareProcessNamespace == true && pod.spec.hostPID != true { security.namespaceOptions.pid = .pod }
        if let user = pod.spec.securityContext?.runAsUser { security.runAsUser.value = user }
        if let group = pod.spec.securityContext?.runAsGroup { security.runAsGroup.value = group }
        security.supplementalGroups = pod.spec.securityContext?.supplementalGroups ?? []
        security.seccomp = ContainerConfigBuilder.seccomp(pod.spec.securityContext?.seccompProfile, node: node)
        config.linux.securityContext = security
        return config
    }
}

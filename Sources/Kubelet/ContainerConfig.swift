import CRI
import Foundation
import KubeAPI

/// Builds the CRI container config of one container of a pod: command, args and env with
/// `$(VAR)` expansion, resources, security context, labels and annotations, log path.
///
/// Errors are `containerConfig` errors: the container waits with reason
/// CreateContainerConfigError, as upstream when a referenced object is missing.
public enum ContainerConfigBuilder {
    /// The pod-level values env `fieldRef`s can read that are not in the spec.
    public struct Runtime: Sendable, Hashable {
        public var podIP: String
        public var podIPs: [String]
        public init(podIP: String = "", podIPs: [String] = []) {
            self.podIP = podIP
            self.podIPs = podIPs
        }
    }

    /// Upstream's default masked and read-only /proc and /sys paths for an unprivileged container.
    public static let maskedPaths = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                     "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                     "/sys/firmware", "/sys/devices/virtual/powercap"]
    public static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    public static func make(pod: Pod, container: Container, restartCount: Int, mounts: [Runtime_V1_Mount],
                            runtime: Runtime, node: NodeInfo, objects: PodObjects = PodObjects()) throws(KubeletError) -> Runtime_V1_ContainerConfig {
        guard let image = container.image, !image.isEmpty else {
            throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key) has no image")
        }
        var config = Runtime_V1_ContainerConfig()
        config.metadata.name = container.name
        config.metadata.attempt = UInt32(clamping: restartCount)
        config.image.image = image
        config.image.userSpecifiedImage = image
        let env = try environment(pod: pod, container: container, runtime: runtime, node: node, objects: objects)
        let lookup = Dictionary(env, uniquingKeysWith: { _, last in last })
        config.command = (container.command ?? []).map { expand($0, lookup) }
        config.args = (container.args ?? []).map { expand($0, lookup) }
        config.workingDir = container.workingDir ?? ""
        config.envs = env.map { name, value in
            var kv = Runtime_V1_KeyValue()
            kv.key = name
            kv.value = Data(value.utf8)
            return kv
        }
        config.mounts = mounts
        config.labels = [
            KubeletLabels.podName: pod.metadata.name ?? "",
            KubeletLabels.podNamespace: pod.metadata.namespace ?? "default",
            KubeletLabels.podUID: pod.metadata.uid ?? "",
            KubeletLabels.containerName: container.name,
        ]
        config.annotations = [
            KubeletLabels.containerHash: hash(container),
            KubeletLabels.restartCount: String(restartCount),
            KubeletLabels.terminationMessagePath: container.terminationMessagePath ?? "/dev/termination-log",
            KubeletLabels.terminationMessagePolicy: container.terminationMessagePolicy ?? "File",
            KubeletLabels.terminationGracePeriod: String(pod.spec.terminationGracePeriodSeconds ?? 30),
        ]
        config.logPath = "\(container.name)/\(restartCount).log"
        config.stdin = container.stdin ?? false
        config.stdinOnce = container.stdinOnce ?? false
        config.tty = container.tty ?? false
        config.linux.resources = resources(container)
        config.linux.resources.oomScoreAdj = oomScoreAdj(pod: pod, container: container, node: node)
        config.linux.securityContext = try securityContext(pod: pod, container: container, node: node)
        return config
    }

    /// Upstream's CPU and memory mapping: shares = max(2, requestMilli × 1024 / 1000) (a missing
    /// request defaults to the limit), quota = limitMilli × 100000 / 1000 over a 100 ms period
    /// (at least 1 ms), memory limit in bytes.
    public static func resources(_ container: Container) -> Runtime_V1_LinuxContainerResources {
        var resources = Runtime_V1_LinuxContainerResources()
        let limits = container.resources?.limits ?? [:]
        let requests = container.resources?.requests ?? [:]
        let cpuLimit = limits["cpu"]?.milliValue ?? 0
        let cpuRequest = requests["cpu"]?.milliValue ?? cpuLimit
        resources.cpuShares = max(2, cpuRequest * 1024 / 1000)
        if cpuLimit > 0 {
            resources.cpuPeriod = 100_000
            resources.cpuQuota = max(1000, cpuLimit * 100_000 / 1000)
        }
        if let memory = limits["memory"], memory.milliValue > 0 {
            resources.memoryLimitInBytes = memory.value
        }
        return resources
    }

    /// Upstream's OOM score adjustment: -997 for critical pods (static and mirror pods, or
    /// priority ≥ 2000000000) and Guaranteed pods, 1000 for BestEffort, and for Burstable
    /// `1000 − 1000 × memoryRequest / nodeMemory` kept within 3...999, so a container asking for
    /// more memory is killed later. A runtime set to restrict it (containerd's
    /// `restrict_oom_score_adj`) raises it to its own score.
    public static func oomScoreAdj(pod: Pod, container: Container, node: NodeInfo) -> Int64 {
        let critical = pod.metadata.annotations?[KubeletLabels.configSource].map { $0 != "api" } ?? false
            || pod.metadata.annotations?[KubeletLabels.configMirror] != nil
            || (pod.spec.priority ?? 0) >= 2_000_000_000
        switch QOSClass(pod.spec) {
        case _ where critical, .guaranteed: return -997
        case .bestEffort: return 1000
        case .burstable:
            let request = container.resources?.requests?["memory"]?.value ?? container.resources?.limits?["memory"]?.value ?? 0
            let capacity = max(1, node.memoryBytes)
            let score = 1000 - (1000 * Double(request) / Double(capacity)).rounded(.down)
            if score < 3 { return 3 }
            return Int64(score) == 1000 ? 999 : Int64(score)
        }
    }

    /// Seccomp as upstream maps it: RuntimeDefault, Localhost (a file under
    /// `<root-dir>/seccomp`), and Unconfined, which is also what an unset profile means.
    static func seccomp(_ profile: SeccompProfile?, node: NodeInfo) -> Runtime_V1_SecurityProfile {
        var result = Runtime_V1_SecurityProfile()
        switch profile?.type {
        case "RuntimeDefault": result.profileType = .runtimeDefault
        case "Localhost":
            result.profileType = .localhost
            result.localhostRef = node.rootDirectory + "/seccomp/" + (profile?.localhostProfile ?? "")
        default: result.profileType = .unconfined
        }
        return result
    }

    static func securityContext(pod: Pod, container: Container, node: NodeInfo) throws(KubeletError) -> Runtime_V1_LinuxContainerSecurityContext {
        let podContext = pod.spec.securityContext
        let context = container.securityContext
        var result = Runtime_V1_LinuxContainerSecurityContext()
        if let user = context?.runAsUser ?? podContext?.runAsUser { result.runAsUser.value = user }
        if let group = context?.runAsGroup ?? podContext?.runAsGroup { result.runAsGroup.value = group }
        if (context?.runAsNonRoot ?? podContext?.runAsNonRoot) == true, let user = context?.runAsUser ?? podContext?.runAsUser, user == 0 {
            throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key): container's runAsUser breaks non-root policy")
        }
        result.supplementalGroups = podContext?.supplementalGroups ?? []
        if let fsGroup = podContext?.fsGroup { result.supplementalGroups.append(fsGroup) }
        result.privileged = context?.privileged ?? false
        result.readonlyRootfs = context?.readOnlyRootFilesystem ?? false
        result.noNewPrivs = context?.allowPrivilegeEscalation == false
        if result.privileged && result.noNewPrivs {
            throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key): cannot set allowPrivilegeEscalation to false and privileged to true")
        }
        result.capabilities.addCapabilities = context?.capabilities?.add ?? []
        result.capabilities.dropCapabilities = context?.capabilities?.drop ?? []
        result.seccomp = seccomp(context?.seccompProfile ?? podContext?.seccompProfile, node: node)
        result.namespaceOptions.network = pod.spec.hostNetwork == true ? .node : .pod
        result.namespaceOptions.pid = pod.spec.hostPID == true ? .node : (pod.spec.shareProcessNamespace == true ? .pod : .container)
        result.namespaceOptions.ipc = pod.spec.hostIPC == true ? .node : .pod
        if !result.privileged {
            result.maskedPaths = maskedPaths
            result.readonlyPaths = readonlyPaths
        }
        return result
    }

    /// The container's environment in order: `envFrom` sources (keys with their prefix; keys
    /// that are not valid variable names are skipped, as upstream), then `env` entries with
    /// their `$(VAR)` references to earlier entries (or service variables) expanded and
    /// `valueFrom` resolved, then the service variables (``ServiceEnvironment``, sorted) the
    /// container does not define itself. A later entry of the same name wins. ConfigMap and
    /// Secret values and service variables come from `objects`.
    public static func environment(pod: Pod, container: Container, runtime: Runtime, node: NodeInfo,
                                   objects: PodObjects = PodObjects()) throws(KubeletError) -> [(String, String)] {
        var result: [(String, String)] = []
        var lookup: [String: String] = objects.serviceEnvironment
        func set(_ name: String, _ value: String) {
            lookup[name] = value
            result.removeAll { $0.0 == name }
            result.append((name, value))
        }
        let what = "container \(container.name) of pod \(pod.key)"
        for source in container.envFrom ?? [] {
            let prefix = source.prefix ?? ""
            var values: [(String, [UInt8])] = []
            if let ref = source.configMapRef {
                let name = ref.name ?? ""
                guard let map = objects.configMaps[name] else {
                    if ref.optional == true { continue }
                    throw KubeletError(.containerConfig, "\(what): \(objects.notFound("configmap", name))")
                }
                let keys = Set((map.data ?? [:]).keys).union((map.binaryData ?? [:]).keys)
                values = keys.sorted().compactMap { key in map.bytes(forKey: key).map { (key, $0) } }
            } else if let ref = source.secretRef {
                let name = ref.name ?? ""
                guard let secret = objects.secrets[name] else {
                    if ref.optional == true { continue }
                    throw KubeletError(.containerConfig, "\(what): \(objects.notFound("secret", name))")
                }
                let keys = Set((secret.data ?? [:]).keys).union((secret.stringData ?? [:]).keys)
                values = keys.sorted().compactMap { key in secret.bytes(forKey: key).map { (key, $0) } }
            }
            for (key, bytes) in values where isEnvVarName(prefix + key) {
                set(prefix + key, String(decoding: bytes, as: UTF8.self))
            }
        }
        for variable in container.env ?? [] {
            let value: String
            if let from = variable.valueFrom {
                if let field = from.fieldRef {
                    value = try fieldValue(field.fieldPath, pod: pod, runtime: runtime, node: node, container: container)
                } else if let resource = from.resourceFieldRef {
                    value = try resourceValue(resource, pod: pod, container: container, node: node)
                } else if let ref = from.configMapKeyRef {
                    guard let found = try objects.configMapValue(ref.name ?? "", key: ref.key, optional: ref.optional == true, what: what) else { continue }
                    value = found
                } else if let ref = from.secretKeyRef {
                    guard let found = try objects.secretValue(ref.name ?? "", key: ref.key, optional: ref.optional == true, what: what) else { continue }
                    value = found
                } else {
                    throw KubeletError(.containerConfig, "\(what): env \(variable.name) has an empty valueFrom")
                }
            } else {
                value = expand(variable.value ?? "", lookup)
            }
            set(variable.name, value)
        }
        let declared = Set(result.map(\.0))
        for (name, value) in objects.serviceEnvironment.sorted(by: { $0.key < $1.key }) where !declared.contains(name) {
            result.append((name, value))
        }
        return result
    }

    /// Upstream's check for envFrom keys: a C identifier-like name of letters, digits, `_`, `-`
    /// and `.`, not starting with a digit.
    static func isEnvVarName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
    }

    /// A downward API field: metadata.name, namespace, uid, labels['k'], annotations['k'],
    /// spec.nodeName, spec.serviceAccountName, status.hostIP(s), status.podIP(s).
    public static func fieldValue(_ path: String, pod: Pod, runtime: Runtime, node: NodeInfo, container: Container) throws(KubeletError) -> String {
        func subscripted(_ prefix: String, _ map: [String: String]?) -> String? {
            guard path.hasPrefix(prefix + "['"), path.hasSuffix("']") else { return nil }
            let key = String(path.dropFirst(prefix.count + 2).dropLast(2))
            return map?[key] ?? ""
        }
        switch path {
        case "metadata.name": return pod.metadata.name ?? ""
        case "metadata.namespace": return pod.metadata.namespace ?? "default"
        case "metadata.uid": return pod.metadata.uid ?? ""
        case "spec.nodeName": return pod.spec.nodeName ?? node.nodeName
        case "spec.serviceAccountName": return pod.spec.serviceAccountName ?? ""
        case "status.hostIP", "status.hostIPs": return node.hostIP
        case "status.podIP": return runtime.podIP
        case "status.podIPs": return (runtime.podIPs.isEmpty ? [runtime.podIP] : runtime.podIPs).joined(separator: ",")
        default:
            if let value = subscripted("metadata.labels", pod.metadata.labels) { return value }
            if let value = subscripted("metadata.annotations", pod.metadata.annotations) { return value }
            throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key): unsupported fieldRef \(path)")
        }
    }

    /// A resource field: requests/limits of cpu, memory or ephemeral-storage divided by the
    /// divisor (rounded up). An unset limit reads as the node's capacity, as upstream.
    public static func resourceValue(_ selector: ResourceFieldSelector, pod: Pod, container: Container, node: NodeInfo) throws(KubeletError) -> String {
        let target: Container
        if let name = selector.containerName, !name.isEmpty {
            guard let found = ((pod.spec.initContainers ?? []) + pod.spec.containers).first(where: { $0.name == name }) else {
                throw KubeletError(.containerConfig, "pod \(pod.key): resourceFieldRef names unknown container \(name)")
            }
            target = found
        } else {
            target = container
        }
        let parts = selector.resource.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["limits", "requests"].contains(parts[0]), ["cpu", "memory", "ephemeral-storage"].contains(parts[1]) else {
            throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key): unsupported resource \(selector.resource)")
        }
        let list = parts[0] == "limits" ? target.resources?.limits : target.resources?.requests
        var milli = list?[parts[1]]?.milliValue ?? 0
        if milli == 0 && parts[0] == "limits" {
            milli = parts[1] == "cpu" ? node.cpuMilli : node.memoryBytes * 1000
        }
        let divisor = selector.divisor?.milliValue ?? 1000
        guard divisor > 0 else {
            throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key): resourceFieldRef divisor must be positive")
        }
        return String((milli + divisor - 1) / divisor)
    }

    /// Upstream's `$(VAR)` expansion: a defined reference is replaced, an undefined one is kept
    /// as written, `$$` is an escaped `$`.
    public static func expand(_ input: String, _ lookup: [String: String]) -> String {
        var output = ""
        var chars = Substring(input)
        while let dollar = chars.firstIndex(of: "$") {
            output += chars[..<dollar]
            let rest = chars[chars.index(after: dollar)...]
            if rest.first == "$" {
                output += "$"
                chars = rest.dropFirst()
            } else if rest.first == "(", let close = rest.firstIndex(of: ")") {
                let name = String(rest[rest.index(after: rest.startIndex)..<close])
                output += lookup[name] ?? "$(\(name))"
                chars = rest[rest.index(after: close)...]
            } else {
                output += "$"
                chars = rest
            }
        }
        return output + chars
    }

    /// The container-spec hash kept in an annotation: FNV-1a (32 bit) over the container's JSON
    /// with sorted keys, hex. A container whose spec changed has a different hash and is
    /// restarted; one adopted after a kubelet restart keeps its hash and is left alone.
    public static func hash(_ container: Container) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(container)) ?? Data(container.name.utf8)
        var hash: UInt32 = 2_166_136_261
        for byte in bytes {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return String(hash, radix: 16)
    }
}

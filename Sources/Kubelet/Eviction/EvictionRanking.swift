import Foundation
import KubeAPI

/// One pod in eviction order, with the numbers that placed it there.
public struct RankedPod: Sendable, Hashable {
    public var pod: Pod
    /// Usage of the starved resource (bytes, inodes or processes); nil when the pod has no stats.
    public var usage: Int64?
    /// The pod's request of the starved resource (0 when unset; inodes and pids have none).
    public var request: Int64
    public var priority: Int32
    /// Static, mirror and system-critical pods are ranked but never evicted.
    public var critical: Bool

    /// Usage above the request: the last ranking key.
    public var usageOverRequest: Int64? { usage.map { $0 - request } }
    public var exceedsRequest: Bool { usage.map { $0 > request } ?? false }
}

/// Upstream's pod ranking for each starved resource, its eviction message and its rule for
/// critical pods. Pure functions: the eviction manager and `nodectl evict --node-pressure` share them.
public enum EvictionRanking {
    /// `kubernetes.io/config.mirror`: the API server's copy of a static pod.
    public static let mirrorAnnotation = "kubernetes.io/config.mirror"
    /// Priorities at or above this (system-cluster-critical is 2000000000) are never evicted.
    public static let systemCriticalPriority: Int32 = 2_000_000_000

    /// Upstream's IsCriticalPod: static pods (a config source other than the API server), mirror
    /// pods and pods whose priority is system-critical or higher.
    public static func isCritical(_ pod: Pod) -> Bool {
        let annotations = pod.metadata.annotations ?? [:]
        if let source = annotations[KubeletLabels.configSource], source != "api" { return true }
        if annotations[mirrorAnnotation] != nil { return true }
        return (pod.spec.priority ?? 0) >= systemCriticalPriority
    }

    /// The pod's effective request of `resource` as upstream computes it: the larger of the
    /// sum over app containers and the largest init container, plus the pod overhead.
    public static func request(of resource: String, _ pod: Pod) -> Int64 {
        func value(_ c: Container) -> Int64 { c.resources?.requests?[resource]?.value ?? 0 }
        let apps = pod.spec.containers.map(value).reduce(0, +)
        let inits = (pod.spec.initContainers ?? []).map(value).max() ?? 0
        return max(apps, inits) + (pod.spec.overhead?[resource]?.value ?? 0)
    }

    /// The usage of `signal`'s resource by one pod, from its stats.
    public static func usage(for signal: EvictionSignal, _ stats: StatsSummary.PodStats) -> Int64? {
        switch signal.resource {
        case "memory": return stats.memoryWorkingSetBytes
        case "ephemeral-storage": return stats.ephemeralStorageBytes
        case "inodes": return stats.inodesUsed
        default: return stats.processCount
        }
    }

    /// Orders `pods` for eviction under pressure on `signal`, first to evict first:
    /// - memory: usage above requests first, then lower priority, then larger usage − request;
    /// - disk (bytes or inodes): the same keys on local ephemeral storage;
    /// - pids: lower priority first, then more processes.
    /// Pods without stats go first, as upstream ("prioritize evicting the pod for which no stats
    /// were found"). Ties keep namespace/name order so the result is deterministic.
    public static func rank(_ pods: [Pod], signal: EvictionSignal, stats: [StatsSummary.PodStats]) -> [RankedPod] {
        let byUID = Dictionary(stats.map { ($0.podRef.uid, $0) }, uniquingKeysWith: { a, _ in a })
        let ranked = pods.map { pod -> RankedPod in
            let s = byUID[pod.metadata.uid ?? ""]
            let resource = signal.resource
            let request = resource == "memory" || resource == "ephemeral-storage" ? request(of: resource, pod) : 0
            return RankedPod(pod: pod, usage: s.flatMap { usage(for: signal, $0) }, request: request,
                             priority: pod.spec.priority ?? 0, critical: isCritical(pod))
        }
        return ranked.sorted { a, b in
            // Pods without stats first.
            if (a.usage == nil) != (b.usage == nil) { return a.usage == nil }
            if signal != .pidAvailable, a.exceedsRequest != b.exceedsRequest { return a.exceedsRequest }
            if a.priority != b.priority { return a.priority < b.priority }
            let ua = signal == .pidAvailable ? a.usage : a.usageOverRequest
            let ub = signal == .pidAvailable ? b.usage : b.usageOverRequest
            if let ua, let ub, ua != ub { return ua > ub }
            return a.pod.key < b.pod.key
        }
    }

    /// Why `ranked` sits where it does, in one line for people.
    public static func explain(_ ranked: RankedPod, signal: EvictionSignal) -> String {
        if ranked.critical { return "critical pod (static, mirror or priority >= \(systemCriticalPriority)): never evicted" }
        guard let usage = ranked.usage else { return "no usage statistics: ranked first, as upstream does" }
        let amount = QuantityText.amount(usage, signal: signal)
        if signal == .pidAvailable { return "priority \(ranked.priority), \(usage) processes" }
        let request = QuantityText.amount(ranked.request, signal: signal)
        let over = ranked.exceedsRequest ? "exceeds its request" : "within its request"
        return "\(signal.resource) \(amount) \(over) of \(request); priority \(ranked.priority); usage - request \(QuantityText.amount(usage - ranked.request, signal: signal))"
    }

    /// Upstream's eviction message and event annotations: "The node was low on resource: memory.
    /// Threshold quantity: 100Mi, available: 90Mi. Container x was using 200Mi, request is 0, has
    /// larger consumption of memory. " (each sentence ends with a space, as upstream's do).
    public static func message(signal: EvictionSignal, thresholdAmount: Int64?, available: Int64?,
                               pod: Pod, stats: StatsSummary.PodStats?) -> (message: String, annotations: [String: String]) {
        let resource = signal.resource
        var message = "The node was low on resource: \(resource). "
        if let thresholdAmount, let available {
            message += "Threshold quantity: \(QuantityText.amount(thresholdAmount, signal: signal)), available: \(QuantityText.amount(available, signal: signal)). "
        }
        var names: [String] = [], usages: [String] = []
        if let stats, resource == "memory" || resource == "ephemeral-storage" {
            for containerStats in stats.containers {
                guard let container = pod.spec.containers.first(where: { $0.name == containerStats.name }) else { continue }
                let requestQuantity = container.resources?.requests?[resource]
                let request = requestQuantity?.value ?? 0
                let usage: Int64?
                if resource == "memory" {
                    usage = containerStats.memory?.workingSetBytes
                } else if let rootfs = containerStats.rootfs?.usedBytes, let logs = containerStats.logs?.usedBytes {
                    usage = rootfs + logs
                } else {
                    usage = nil
                }
                guard let usage, usage > request else { continue }
                let usageText = QuantityText.binary(usage)
                message += "Container \(container.name) was using \(usageText), request is \(requestQuantity?.text ?? "0"), has larger consumption of \(resource). "
                names.append(container.name)
                usages.append(usageText)
            }
        }
        return (message, ["offending_containers": names.joined(separator: ","),
                          "offending_containers_usage": usages.joined(separator: ","),
                          "starved_resource": resource])
    }
}

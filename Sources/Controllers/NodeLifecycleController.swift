import Foundation
import KubeAPI
import KubeClient
import Logging
import Scheduler

/// The node lifecycle controller's decisions as pure functions of a node, its Lease, its pods
/// and the time.
public enum NodeLifecycleLogic {
    /// Upstream's `--node-monitor-grace-period` default: 50 s since 1.32 (the version the API
    /// server reports; 40 s before).
    public static let defaultGracePeriod: TimeInterval = 50
    /// What the DefaultTolerationSeconds admission plugin gives pods for the two taints below;
    /// applied here to pods that carry no toleration for them.
    public static let defaultTolerationSeconds: Int64 = 300
    public static let notReadyTaint = "node.kubernetes.io/not-ready"
    public static let unreachableTaint = "node.kubernetes.io/unreachable"
    public static let leaseNamespace = "kube-node-lease"
    static let watchedConditions = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"]

    /// The newest sign of life: the Lease's renewTime or the Ready condition's heartbeat.
    public static func lastHeartbeat(node: Node, lease: Lease?) -> Date? {
        let renew = lease?.spec?.renewTime.flatMap(Date.init(kubeTimestamp:))
        let heartbeat = node.status?.conditions?.first { $0.type == "Ready" }?.lastHeartbeatTime.flatMap(Date.init(kubeTimestamp:))
        switch (renew, heartbeat) {
        case let (r?, h?): return max(r, h)
        case let (r, h): return r ?? h
        }
    }

    /// The node's conditions with Ready, MemoryPressure, DiskPressure and PIDPressure set to
    /// `Unknown` (reason `NodeStatusUnknown`) when no heartbeat came within `gracePeriod`;
    /// nil when nothing changes. A node never heard from counts from its creation time.
    public static func conditions(node: Node, lease: Lease?, now: Date, gracePeriod: TimeInterval = defaultGracePeriod) -> [NodeCondition]? {
        let since = lastHeartbeat(node: node, lease: lease) ?? node.metadata.creationTimestamp.flatMap(Date.init(kubeTimestamp:)) ?? now
        guard now.timeIntervalSince(since) > gracePeriod else { return nil }
        var conditions = node.status?.conditions ?? []
        var changed = false
        let stamp = now.kubeTimestamp
        for type in watchedConditions {
            if let i = conditions.firstIndex(where: { $0.type == type }) {
                guard conditions[i].status != "Unknown" else { continue }
                conditions[i].status = "Unknown"
                conditions[i].reason = "NodeStatusUnknown"
                conditions[i].message = "Kubelet stopped posting node status."
                conditions[i].lastTransitionTime = stamp
            } else {
                var c = NodeCondition(type: type, status: "Unknown", reason: "NodeStatusNeverUpdated", message: "Kubelet never posted node status.")
                c.lastHeartbeatTime = node.metadata.creationTimestamp
                c.lastTransitionTime = stamp
                conditions.append(c)
            }
            changed = true
        }
        return changed ? conditions : nil
    }

    /// The node's taints with `not-ready:NoExecute` while Ready is False and
    /// `unreachable:NoExecute` while it is Unknown (or missing), neither while True; nil when
    /// nothing changes. `timeAdded` is stamped when a taint appears.
    public static func taints(node: Node, conditions: [NodeCondition], now: Date) -> [Taint]? {
        let ready = conditions.first { $0.type == "Ready" }?.status ?? "Unknown"
        let current = node.spec?.taints ?? []
        var wanted = current.filter { !($0.effect == "NoExecute" && ($0.key == notReadyTaint || $0.key == unreachableTaint)) }
        let key: String? = ready == "False" ? notReadyTaint : (ready == "True" ? nil : unreachableTaint)
        if let key {
            if let existing = current.first(where: { $0.key == key && $0.effect == "NoExecute" }) {
                wanted.append(existing)
            } else {
                var t = Taint(key: key, effect: "NoExecute")
                t.timeAdded = now.kubeTimestamp
                wanted.append(t)
            }
        }
        return wanted == current ? nil : wanted
    }

    /// Which pods on a node with NoExecute taints must go now, and when the next one will:
    /// a pod that does not tolerate every NoExecute taint goes at once; otherwise it goes when
    /// the shortest `tolerationSeconds` among the matching tolerations has passed since the
    /// taint's `timeAdded` (no seconds: it stays).
    public static func evictions(taints: [Taint], pods: [Pod], now: Date) -> (evict: [Pod], next: Date?) {
        let noExecute = taints.filter { $0.effect == "NoExecute" }
        guard !noExecute.isEmpty else { return ([], nil) }
        var evict: [Pod] = []
        var next: Date?
        for pod in pods where pod.metadata.deletionTimestamp == nil && !PodFacts.isFinished(pod) {
            var deadline: Date?
            var tolerated = true
            for taint in noExecute {
                var tolerations = (pod.spec.tolerations ?? []).filter { TaintToleration.tolerates($0, taint) }
                if tolerations.isEmpty, taint.key == notReadyTaint || taint.key == unreachableTaint {
                    tolerations = [Toleration(key: taint.key, operator: "Exists", effect: "NoExecute", tolerationSeconds: defaultTolerationSeconds)]
                }
                guard !tolerations.isEmpty else { tolerated = false; break }
                // The shortest limit wins (upstream's getMinTolerationTime); when no matching
                // toleration has a limit, the taint is tolerated forever.
                guard let seconds = tolerations.compactMap(\.tolerationSeconds).min() else { continue }
                let added = taint.timeAdded.flatMap(Date.init(kubeTimestamp:)) ?? now
                let at = added.addingTimeInterval(Double(max(seconds, 0)))
                deadline = min(deadline ?? at, at)
            }
            if !tolerated { evict.append(pod); continue }
            guard let deadline else { continue }
            if deadline <= now { evict.append(pod) } else { next = min(next ?? deadline, deadline) }
        }
        return (evict, next)
    }
}

extension PodFacts {
    /// Succeeded or Failed.
    public static func isFinished(_ pod: Pod) -> Bool { pod.status?.phase == "Succeeded" || pod.status?.phase == "Failed" }
}

/// Watches node heartbeats (the Lease in `kube-node-lease` and the Ready condition): a node
/// silent for longer than the grace period gets Unknown conditions and the `unreachable`
/// NoExecute taint (`not-ready` when the kubelet reports Ready=False), and its pods are
/// deleted once their toleration of the taint runs out.
///
/// `sync(key:)` handles one node at the injected clock's time; it must be called for every
/// node periodically (upstream's monitor period is 5 s), since silence is not an event.
public struct NodeLifecycleController: Sendable {
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger
    /// How long a node may stay silent before it is marked Unknown (upstream's
    /// `--node-monitor-grace-period`).
    public let gracePeriod: TimeInterval

    public init(client: any KubeAPIClient, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.nodelifecycle"),
                gracePeriod: TimeInterval = NodeLifecycleLogic.defaultGracePeriod) {
        self.client = client
        self.clock = clock
        self.logger = logger
        self.gracePeriod = gracePeriod
    }

    /// Reconciles node `key` (its name). Returns when the next eviction is due, if any.
    @discardableResult
    public func sync(key: String) async throws(ControllerError) -> Date? {
        let now = clock.now()
        var node: Node
        do { node = try await client.get(Node.self, namespace: nil, name: key) } catch {
            if error.isNotFound { return nil }
            throw ControllerError("get Node \(key)", "read failed", cause: error)
        }
        var lease: Lease?
        do { lease = try await client.get(Lease.self, namespace: NodeLifecycleLogic.leaseNamespace, name: key) } catch {
            if !error.isNotFound { throw ControllerError("get Lease \(NodeLifecycleLogic.leaseNamespace)/\(key)", "read failed", cause: error) }
        }
        if let conditions = NodeLifecycleLogic.conditions(node: node, lease: lease, now: now, gracePeriod: gracePeriod) {
            // The whole list, guarded by resourceVersion: the kubelet's concurrent heartbeat wins.
            let body: JSONValue = .object([
                "metadata": .object(["resourceVersion": node.metadata.resourceVersion.map(JSONValue.string) ?? .null]),
                "status": .object(["conditions": (try? JSONValue.encode(conditions)) ?? .array([])]),
            ])
            do { node = try await client.mergePatch(Node.self, namespace: nil, name: key, body, subresource: "status") } catch {
                if error.isNotFound || error.isConflict { return nil }
                throw ControllerError("mark Node \(key) Unknown", "status patch failed", cause: error)
            }
            logger.info("node stopped posting status", metadata: ["node": "\(key)"])
        }
        if let taints = NodeLifecycleLogic.taints(node: node, conditions: node.status?.conditions ?? [], now: now) {
            let body: JSONValue = .object([
                "metadata": .object(["resourceVersion": node.metadata.resourceVersion.map(JSONValue.string) ?? .null]),
                "spec": .object(["taints": (try? JSONValue.encode(taints)) ?? .array([])]),
            ])
            do { node = try await client.mergePatch(Node.self, namespace: nil, name: key, body) } catch {
                if error.isNotFound || error.isConflict { return nil }
                throw ControllerError("set taints of Node \(key)", "patch failed", cause: error)
            }
        }
        let taints = node.spec?.taints ?? []
        guard taints.contains(where: { $0.effect == "NoExecute" }) else { return nil }
        let pods: [Pod]
        do { pods = try await client.list(Pod.self, namespace: nil, options: ListOptions(fieldSelector: "spec.nodeName=\(key)")).items.filter { $0.spec.nodeName == key } } catch {
            throw ControllerError("list pods on Node \(key)", "list failed", cause: error)
        }
        let (evict, next) = NodeLifecycleLogic.evictions(taints: taints, pods: pods, now: now)
        for pod in evict {
            do { try await client.delete(Pod.self, namespace: pod.metadata.namespace, name: pod.metadata.name ?? "") } catch {
                if !error.isNotFound { throw ControllerError("evict pod \(pod.key) from Node \(key)", "delete failed", cause: error) }
            }
            logger.info("evicted pod from tainted node", metadata: ["node": "\(key)", "pod": "\(pod.key)"])
        }
        return next
    }
}

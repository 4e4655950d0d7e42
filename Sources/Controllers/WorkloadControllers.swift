import Foundation
import KubeAPI
import KubeClient
import Logging
import Scheduler

/// The DaemonSet controller's decisions as pure functions.
public enum DaemonSetLogic {
    /// Tolerations the DaemonSet controller adds to its pods (upstream's
    /// `AddOrUpdateDaemonPodTolerations`): daemons keep running through node conditions.
    public static let daemonTolerations: [Toleration] = [
        Toleration(key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute"),
        Toleration(key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute"),
        Toleration(key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node.kubernetes.io/pid-pressure", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule"),
    ]

    /// The pod template with the daemon tolerations merged in.
    static func podSpec(_ ds: DaemonSet) -> PodSpec {
        var spec = ds.spec?.template.spec ?? PodSpec(containers: [])
        var tolerations = spec.tolerations ?? []
        for t in daemonTolerations where !tolerations.contains(t) { tolerations.append(t) }
        spec.tolerations = tolerations
        return spec
    }

    /// Whether a daemon pod belongs on `node`: its nodeSelector and required node affinity
    /// match, and it tolerates the node's NoSchedule and NoExecute taints.
    public static func shouldRun(_ ds: DaemonSet, on node: Node) -> Bool {
        let pod = Pod(metadata: ObjectMeta(name: "daemon-check"), spec: podSpec(ds))
        let snapshot = Snapshot(nodes: [node])
        guard let info = snapshot.nodes.first else { return false }
        let state = CycleState(pod: pod, allNodes: snapshot.nodes)
        return NodeAffinityPlugin().filter(state, node: info).isSuccess && TaintToleration().filter(state, node: info).isSuccess
    }

    public struct Plan: Equatable, Sendable {
        /// Node names that need a daemon pod.
        public var createOn: [String]
        public var delete: [Pod]
        public var status: DaemonSetStatus
    }

    /// One pod per node where it should run; extra pods on a node and pods on nodes where it
    /// should not run are deleted. A pod is "on" a node when bound to it, or pinned to it by
    /// the node-name affinity this controller sets before the scheduler binds it.
    public static func plan(_ ds: DaemonSet, nodes: [Node], pods: [Pod], now: Date) -> Plan {
        let active = pods.filter(PodFacts.isActive)
        var byNode: [String: [Pod]] = [:]
        for pod in active { if let n = targetNode(pod) { byNode[n, default: []].append(pod) } }
        var plan = Plan(createOn: [], delete: [], status: DaemonSetStatus())
        var desired: Int32 = 0, current: Int32 = 0, misscheduled: Int32 = 0, ready: Int32 = 0, available: Int32 = 0
        let minReady = ds.spec?.minReadySeconds ?? 0
        for node in nodes.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            let name = node.metadata.name ?? ""
            let here = (byNode[name] ?? []).sorted { ($0.metadata.creationTimestamp ?? "", $0.metadata.name ?? "") < ($1.metadata.creationTimestamp ?? "", $1.metadata.name ?? "") }
            if shouldRun(ds, on: node) {
                desired += 1
                if here.isEmpty { plan.createOn.append(name); continue }
                current += 1
                plan.delete += here.dropFirst()
                if PodFacts.isReady(here[0]) { ready += 1 }
                if PodFacts.isAvailable(here[0], minReadySeconds: minReady, now: now) { available += 1 }
            } else if !here.isEmpty {
                misscheduled += 1
                plan.delete += here
            }
        }
        plan.status = DaemonSetStatus(currentNumberScheduled: current, numberMisscheduled: misscheduled, desiredNumberScheduled: desired, numberReady: ready)
        plan.status.observedGeneration = ds.metadata.generation
        plan.status.updatedNumberScheduled = current
        plan.status.numberAvailable = available
        plan.status.numberUnavailable = desired - available
        return plan
    }

    /// The node a daemon pod is bound or pinned to.
    static func targetNode(_ pod: Pod) -> String? {
        if let n = pod.spec.nodeName, !n.isEmpty { return n }
        let terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []
        return terms.lazy.compactMap { $0.matchFields?.first { $0.key == "metadata.name" && $0.operator == "In" }?.values?.first }.first
    }

    /// A daemon pod pinned to `node` through required node affinity on `metadata.name`, so the
    /// scheduler places it (upstream's approach since 1.12).
    static func pod(_ ds: DaemonSet, node: String) -> Pod {
        let owner = Build.controllerRef(apiVersion: DaemonSet.apiVersion, kind: DaemonSet.kind, meta: ds.metadata)
        var pod = Build.pod(from: ds.spec?.template, namespace: ds.metadata.namespace ?? "", generateName: "\(ds.metadata.name ?? "")-", owner: owner)
        pod.spec = podSpec(ds)
        let pin = NodeSelectorTerm(matchFields: [NodeSelectorRequirement(key: "metadata.name", operator: "In", values: [node])])
        var affinity = pod.spec.affinity ?? Affinity()
        var nodeAffinity = affinity.nodeAffinity ?? NodeAffinity()
        nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = NodeSelector(nodeSelectorTerms: [pin])
        affinity.nodeAffinity = nodeAffinity
        pod.spec.affinity = affinity
        return pod
    }
}

/// Runs one pod of each DaemonSet on every node where it should run (nodeSelector, node
/// affinity, taints and tolerations). `sync(key:)` is one idempotent reconcile.
public struct DaemonSetController: Sendable {
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger

    public init(client: any KubeAPIClient, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.daemonset")) {
        self.client = client
        self.clock = clock
        self.logger = logger
    }

    public func sync(key: String) async throws(ControllerError) {
        let (namespace, name) = splitKey(key)
        guard let namespace else { throw ControllerError("sync DaemonSet \(key)", "key must be namespace/name") }
        let ds: DaemonSet
        do { ds = try await client.get(DaemonSet.self, namespace: namespace, name: name) } catch {
            if error.isNotFound { return }
            throw ControllerError("get DaemonSet \(key)", "read failed", cause: error)
        }
        guard ds.metadata.deletionTimestamp == nil else { return }
        let nodes: [Node]
        do { nodes = try await client.list(Node.self, namespace: nil).items } catch {
            throw ControllerError("list nodes for DaemonSet \(key)", "list failed", cause: error)
        }
        let pods = try await ownedPods(of: ds, kind: DaemonSet.kind, apiVersion: DaemonSet.apiVersion, selector: ds.spec?.selector, client: client)
        let plan = DaemonSetLogic.plan(ds, nodes: nodes, pods: pods, now: clock.now())
        for node in plan.createOn {
            do { _ = try await client.create(DaemonSetLogic.pod(ds, node: node)) } catch {
                throw ControllerError("create daemon pod of \(key) for node \(node)", "create failed", cause: error)
            }
        }
        for pod in plan.delete {
            do { try await client.delete(Pod.self, namespace: namespace, name: pod.metadata.name ?? "") } catch {
                if !error.isNotFound { throw ControllerError("delete daemon pod \(pod.key) of \(key)", "delete failed", cause: error) }
            }
        }
        guard plan.status != ds.status else { return }
        let body = try Build.statusPatch(plan.status, operation: "patch status of DaemonSet \(key)")
        do { _ = try await client.mergePatch(DaemonSet.self, namespace: namespace, name: name, body, subresource: "status") } catch {
            if error.isNotFound { return }
            throw ControllerError("patch status of DaemonSet \(key)", "patch failed", cause: error)
        }
    }
}

/// The StatefulSet controller's decisions as pure functions.
public enum StatefulSetLogic {
    public static let podNameLabel = "statefulset.kubernetes.io/pod-name"
    public static let podIndexLabel = "apps.kubernetes.io/pod-index"

    public enum Step: Equatable, Sendable {
        case create(ordinal: Int32)
        case delete(name: String)
        /// OrderedReady: a lower ordinal is not yet Running and Ready.
        case wait
    }

    /// The ordinal of a pod named `<set>-<n>`.
    public static func ordinal(of pod: Pod, set: String) -> Int32? {
        guard let name = pod.metadata.name, name.hasPrefix("\(set)-") else { return nil }
        return Int32(name.dropFirst(set.count + 1))
    }

    /// What to do next, as upstream: with OrderedReady, create the lowest missing ordinal only
    /// when every lower one is Running and Ready, and delete the highest extra ordinal only
    /// when the others are; one step at a time. With Parallel, every step at once.
    public static func steps(_ set: StatefulSet, pods: [Pod]) -> [Step] {
        let name = set.metadata.name ?? ""
        let replicas = set.spec?.replicas ?? 1
        let start = set.spec?.ordinals?.start ?? 0
        let parallel = set.spec?.podManagementPolicy == "Parallel"
        var byOrdinal: [Int32: Pod] = [:]
        for p in pods { if let o = ordinal(of: p, set: name) { byOrdinal[o] = p } }
        var steps: [Step] = []
        func healthy(_ p: Pod) -> Bool { p.metadata.deletionTimestamp == nil && p.status?.phase == "Running" && PodFacts.isReady(p) }
        for o in start..<(start + max(replicas, 0)) {
            guard let p = byOrdinal[o] else {
                steps.append(.create(ordinal: o))
                if !parallel { return steps }
                continue
            }
            // A failed pod is replaced: deleted now, recreated by a later step.
            if PodFacts.isFinished(p), p.metadata.deletionTimestamp == nil { steps.append(.delete(name: p.metadata.name ?? "")); if !parallel { return steps } }
            if !parallel && !healthy(p) { return steps.isEmpty ? [.wait] : steps }
        }
        let extra = byOrdinal.keys.filter { $0 < start || $0 >= start + replicas }.sorted(by: >)
        for o in extra {
            guard let p = byOrdinal[o], p.metadata.deletionTimestamp == nil else {
                if !parallel { return steps.isEmpty ? [.wait] : steps }
                continue
            }
            steps.append(.delete(name: p.metadata.name ?? ""))
            if !parallel { return steps }
        }
        return steps
    }

    /// The pod for `ordinal`: stable name, hostname and subdomain, identity labels.
    static func pod(_ set: StatefulSet, ordinal: Int32) -> Pod {
        let name = "\(set.metadata.name ?? "")-\(ordinal)"
        let owner = Build.controllerRef(apiVersion: StatefulSet.apiVersion, kind: StatefulSet.kind, meta: set.metadata)
        var pod = Build.pod(from: set.spec?.template, namespace: set.metadata.namespace ?? "", generateName: nil, name: name, owner: owner)
        var labels = pod.metadata.labels ?? [:]
        labels[podNameLabel] = name
        labels[podIndexLabel] = String(ordinal)
        pod.metadata.labels = labels
        pod.spec.hostname = name
        pod.spec.subdomain = set.spec?.serviceName
        return pod
    }
}

/// Creates and deletes a StatefulSet's pods `<name>-<ordinal>` in order. `sync(key:)` takes
/// the next allowed step(s) and writes status; pod changes trigger the following sync.
public struct StatefulSetController: Sendable {
    let client: any KubeAPIClient
    let logger: Logger

    public init(client: any KubeAPIClient, logger: Logger = Logger(label: "nodekit.statefulset")) {
        self.client = client
        self.logger = logger
    }

    public func sync(key: String) async throws(ControllerError) {
        let (namespace, name) = splitKey(key)
        guard let namespace else { throw ControllerError("sync StatefulSet \(key)", "key must be namespace/name") }
        let set: StatefulSet
        do { set = try await client.get(StatefulSet.self, namespace: namespace, name: name) } catch {
            if error.isNotFound { return }
            throw ControllerError("get StatefulSet \(key)", "read failed", cause: error)
        }
        guard set.metadata.deletionTimestamp == nil else { return }
        let pods = try await ownedPods(of: set, kind: StatefulSet.kind, apiVersion: StatefulSet.apiVersion, selector: set.spec?.selector, client: client)
        for step in StatefulSetLogic.steps(set, pods: pods) {
            switch step {
            case .create(let ordinal):
                do { _ = try await client.create(StatefulSetLogic.pod(set, ordinal: ordinal)) } catch {
                    // The previous pod of this ordinal may still be terminating.
                    if !error.isAlreadyExists { throw ControllerError("create pod \(name)-\(ordinal) of StatefulSet \(key)", "create failed", cause: error) }
                }
            case .delete(let pod):
                do { try await client.delete(Pod.self, namespace: namespace, name: pod) } catch {
                    if !error.isNotFound { throw ControllerError("delete pod \(namespace)/\(pod) of StatefulSet \(key)", "delete failed", cause: error) }
                }
            case .wait:
                break
            }
        }
        let active = pods.filter(PodFacts.isActive)
        var status = set.status ?? StatefulSetStatus()
        status.observedGeneration = set.metadata.generation
        status.replicas = Int32(active.count)
        status.readyReplicas = Int32(active.filter(PodFacts.isReady).count)
        status.availableReplicas = status.readyReplicas
        status.currentReplicas = Int32(active.count)
        status.updatedReplicas = Int32(active.count)
        guard status != set.status else { return }
        let body = try Build.statusPatch(status, operation: "patch status of StatefulSet \(key)")
        do { _ = try await client.mergePatch(StatefulSet.self, namespace: namespace, name: name, body, subresource: "status") } catch {
            if error.isNotFound { return }
            throw ControllerError("patch status of StatefulSet \(key)", "patch failed", cause: error)
        }
    }
}

/// Ensures every active namespace has a `default` ServiceAccount.
public struct ServiceAccountController: Sendable {
    let client: any KubeAPIClient

    public init(client: any KubeAPIClient) { self.client = client }

    /// Creates `default` in namespace `key` unless it exists or the namespace is terminating.
    public func sync(key: String) async throws(ControllerError) {
        do {
            let ns = try await client.get(Namespace.self, namespace: nil, name: key)
            guard ns.metadata.deletionTimestamp == nil, ns.status?.phase != "Terminating" else { return }
        } catch {
            if error.isNotFound { return }
            throw ControllerError("get Namespace \(key)", "read failed", cause: error)
        }
        do { _ = try await client.get(ServiceAccount.self, namespace: key, name: "default"); return } catch {
            if !error.isNotFound { throw ControllerError("get ServiceAccount \(key)/default", "read failed", cause: error) }
        }
        do { _ = try await client.create(ServiceAccount(metadata: ObjectMeta(name: "default", namespace: key))) } catch {
            if !error.isAlreadyExists { throw ControllerError("create ServiceAccount \(key)/default", "create failed", cause: error) }
        }
    }
}

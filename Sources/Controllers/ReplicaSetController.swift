import Foundation
import KubeAPI
import KubeClient
import Logging

/// The ReplicaSet controller's decisions as pure functions of the current state.
public enum ReplicaSetLogic {
    /// Upstream's `burstReplicas`: at most this many creations or deletions per sync.
    public static let burstReplicas = 500

    /// What a sync must do: create `create` pods, delete `delete` (most expendable first).
    public struct Diff: Equatable, Sendable {
        public var create: Int
        public var delete: [Pod]
    }

    /// Compares the active pods the ReplicaSet owns with `spec.replicas` (default 1).
    public static func diff(_ rs: ReplicaSet, pods: [Pod]) -> Diff {
        let want = Int(rs.spec?.replicas ?? 1)
        let active = pods.filter(PodFacts.isActive)
        if active.count < want { return Diff(create: min(want - active.count, burstReplicas), delete: []) }
        let excess = min(active.count - want, burstReplicas)
        return Diff(create: 0, delete: Array(rankForDeletion(active).prefix(excess)))
    }

    /// Pods ordered most expendable first, as upstream's `ActivePods` ordering: unassigned
    /// before assigned; Pending, Unknown, then Running; not ready before ready; ready for less
    /// time first; more restarts first; newer first.
    public static func rankForDeletion(_ pods: [Pod]) -> [Pod] {
        func phaseRank(_ p: Pod) -> Int {
            switch p.status?.phase { case "Pending": return 0; case "Running": return 2; default: return 1 }
        }
        func readySince(_ p: Pod) -> String { p.status?.conditions?.first { $0.type == "Ready" && $0.status == "True" }?.lastTransitionTime ?? "" }
        func restarts(_ p: Pod) -> Int32 { (p.status?.containerStatuses ?? []).map(\.restartCount).max() ?? 0 }
        return pods.sorted { a, b in
            let aAssigned = !(a.spec.nodeName ?? "").isEmpty, bAssigned = !(b.spec.nodeName ?? "").isEmpty
            if aAssigned != bAssigned { return !aAssigned }
            if phaseRank(a) != phaseRank(b) { return phaseRank(a) < phaseRank(b) }
            let aReady = PodFacts.isReady(a), bReady = PodFacts.isReady(b)
            if aReady != bReady { return !aReady }
            // RFC 3339 UTC timestamps of one precision order as strings.
            if aReady, readySince(a) != readySince(b) { return readySince(a) > readySince(b) }
            if restarts(a) != restarts(b) { return restarts(a) > restarts(b) }
            let aCreated = a.metadata.creationTimestamp ?? "", bCreated = b.metadata.creationTimestamp ?? ""
            if aCreated != bCreated { return aCreated > bCreated }
            return (a.metadata.name ?? "") > (b.metadata.name ?? "")
        }
    }

    /// The status a sync reports: counts over the active pods it owns, and the generation seen.
    public static func status(_ rs: ReplicaSet, pods: [Pod], now: Date) -> ReplicaSetStatus {
        let active = pods.filter(PodFacts.isActive)
        let templateLabels = rs.spec?.template?.metadata?.labels ?? [:]
        let minReady = rs.spec?.minReadySeconds ?? 0
        let fullyLabeled = active.filter { pod in templateLabels.allSatisfy { pod.metadata.labels?[$0.key] == $0.value } }.count
        return ReplicaSetStatus(
            replicas: Int32(active.count),
            fullyLabeledReplicas: Int32(fullyLabeled),
            readyReplicas: Int32(active.filter(PodFacts.isReady).count),
            availableReplicas: Int32(active.filter { PodFacts.isAvailable($0, minReadySeconds: minReady, now: now) }.count),
            observedGeneration: rs.metadata.generation)
    }
}

/// Keeps each ReplicaSet's pod count at `spec.replicas`: creates pods from the template with a
/// controller owner reference, deletes the most expendable extras, adopts matching orphans,
/// and writes `status` through a merge patch of the status subresource.
///
/// `sync(key:)` is one idempotent reconcile of one ReplicaSet; it reads current state from the
/// API (not a cache), so repeating it never double-creates. Safe to call concurrently for
/// different keys.
public struct ReplicaSetController: Sendable {
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger

    public init(client: any KubeAPIClient, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.replicaset")) {
        self.client = client
        self.clock = clock
        self.logger = logger
    }

    /// Reconciles the ReplicaSet `namespace/name`. A missing ReplicaSet is not an error (its
    /// pods are the garbage collector's).
    public func sync(key: String) async throws(ControllerError) {
        let (namespace, name) = splitKey(key)
        guard let namespace else { throw ControllerError("sync ReplicaSet \(key)", "key must be namespace/name") }
        let rs: ReplicaSet
        do { rs = try await client.get(ReplicaSet.self, namespace: namespace, name: name) } catch {
            if error.isNotFound { return }
            throw ControllerError("get ReplicaSet \(key)", "read failed", cause: error)
        }
        var pods = try await ownedPods(of: rs, kind: ReplicaSet.kind, apiVersion: ReplicaSet.apiVersion, selector: rs.spec?.selector, client: client)
        if rs.metadata.deletionTimestamp == nil {
            let diff = ReplicaSetLogic.diff(rs, pods: pods)
            let owner = Build.controllerRef(apiVersion: ReplicaSet.apiVersion, kind: ReplicaSet.kind, meta: rs.metadata)
            for _ in 0..<diff.create {
                let pod = Build.pod(from: rs.spec?.template, namespace: namespace, generateName: "\(name)-", owner: owner)
                do { pods.append(try await client.create(pod)) } catch {
                    throw ControllerError("create pod for ReplicaSet \(key)", "create failed", cause: error)
                }
            }
            for pod in diff.delete {
                do { try await client.delete(Pod.self, namespace: namespace, name: pod.metadata.name ?? "") } catch {
                    if !error.isNotFound {
                        throw ControllerError("delete pod \(namespace)/\(pod.metadata.name ?? "") of ReplicaSet \(key)", "delete failed", cause: error)
                    }
                }
                pods.removeAll { $0.metadata.name == pod.metadata.name }
            }
            if diff.create > 0 || !diff.delete.isEmpty {
                logger.debug("scaled ReplicaSet", metadata: ["replicaset": "\(key)", "created": "\(diff.create)", "deleted": "\(diff.delete.count)"])
            }
        }
        let status = ReplicaSetLogic.status(rs, pods: pods, now: clock.now())
        guard status != rs.status.map(Self.comparable) else { return }
        let body = try Build.statusPatch(status, operation: "patch status of ReplicaSet \(key)")
        do {
            _ = try await client.mergePatch(ReplicaSet.self, namespace: namespace, name: name, body, subresource: "status")
        } catch {
            if error.isNotFound { return }
            throw ControllerError("patch status of ReplicaSet \(key)", "patch failed", cause: error)
        }
    }

    /// The fields `ReplicaSetLogic.status` computes, to tell whether a patch would change anything.
    static func comparable(_ s: ReplicaSetStatus) -> ReplicaSetStatus {
        ReplicaSetStatus(replicas: s.replicas ?? 0, fullyLabeledReplicas: s.fullyLabeledReplicas ?? 0, readyReplicas: s.readyReplicas ?? 0,
                         availableReplicas: s.availableReplicas ?? 0, observedGeneration: s.observedGeneration)
    }
}

/// The pods in the owner's namespace that it controls, after adopting orphans its selector
/// matches (as upstream's `ClaimPods`: an orphan gets a controller reference through a patch
/// that fails if someone else adopted it first). Pods being deleted are left out of adoption.
func ownedPods(of owner: some KubeObject, kind: String, apiVersion: String, selector: LabelSelector?, client: any KubeAPIClient) async throws(ControllerError) -> [Pod] {
    let namespace = owner.metadata.namespace ?? ""
    let all: [Pod]
    do { all = try await client.list(Pod.self, namespace: namespace).items } catch {
        throw ControllerError("list pods for \(kind) \(owner.key)", "list failed", cause: error)
    }
    var owned: [Pod] = []
    // A nil or empty selector selects nothing for a workload controller (validation forbids it).
    let usable = selector.map { ($0.matchLabels ?? [:]).isEmpty == false || ($0.matchExpressions ?? []).isEmpty == false } ?? false
    for pod in all {
        if isControlled(pod.metadata, by: owner.metadata.uid) { owned.append(pod); continue }
        guard usable, let selector, owner.metadata.deletionTimestamp == nil, pod.metadata.deletionTimestamp == nil,
              PodFacts.controllerRef(pod.metadata) == nil, selector.matches(pod.metadata.labels ?? [:]) else { continue }
        var refs = (pod.metadata.ownerReferences ?? []).map { try? JSONValue.encode($0) }.compactMap { $0 }
        guard let ref = try? JSONValue.encode(Build.controllerRef(apiVersion: apiVersion, kind: kind, meta: owner.metadata)) else { continue }
        refs.append(ref)
        // The resourceVersion makes the adoption fail with a conflict if the pod changed.
        let patch: JSONValue = .object(["metadata": .object(["ownerReferences": .array(refs), "resourceVersion": pod.metadata.resourceVersion.map(JSONValue.string) ?? .null])])
        do {
            owned.append(try await client.mergePatch(Pod.self, namespace: namespace, name: pod.metadata.name ?? "", patch))
        } catch where error.isNotFound || error.isConflict {
            continue
        } catch {
            throw ControllerError("adopt pod \(namespace)/\(pod.metadata.name ?? "") by \(kind) \(owner.key)", "patch failed", cause: error)
        }
    }
    return owned
}

import Foundation
import KubeAPI
import KubeClient
import Logging

/// Rolls Deployments out through ReplicaSets: one ReplicaSet per template (named
/// `<deployment>-<pod-template-hash>`), scaled by the RollingUpdate or Recreate strategy,
/// revision annotations on both, old ReplicaSets pruned to `revisionHistoryLimit`, and the
/// status and conditions `kubectl rollout status` reads. A paused Deployment only scales.
///
/// `sync(key:)` is one idempotent reconcile of one Deployment from the API's current state.
/// It takes one step of a rollout; the ReplicaSet and pod changes it causes trigger the next.
public struct DeploymentController: Sendable {
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger

    public init(client: any KubeAPIClient, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.deployment")) {
        self.client = client
        self.clock = clock
        self.logger = logger
    }

    public func sync(key: String) async throws(ControllerError) {
        let (namespace, name) = splitKey(key)
        guard let namespace else { throw ControllerError("sync Deployment \(key)", "key must be namespace/name") }
        var d: Deployment
        do { d = try await client.get(Deployment.self, namespace: namespace, name: name) } catch {
            if error.isNotFound { return }
            throw ControllerError("get Deployment \(key)", "read failed", cause: error)
        }
        guard let spec = d.spec else { throw ControllerError("sync Deployment \(key)", "spec is missing") }
        let owned: [ReplicaSet]
        do {
            owned = try await client.list(ReplicaSet.self, namespace: namespace).items.filter { isControlled($0.metadata, by: d.metadata.uid) }
        } catch {
            throw ControllerError("list ReplicaSets of Deployment \(key)", "list failed", cause: error)
        }
        var newRS = owned.filter { DeploymentLogic.templateMatches($0.spec?.template, spec.template) }
            .min { ($0.metadata.creationTimestamp ?? "") < ($1.metadata.creationTimestamp ?? "") }
        var old = owned.filter { $0.metadata.uid != newRS?.metadata.uid }
        var created = false

        if d.metadata.deletionTimestamp == nil {
            if spec.paused == true {
                // Paused: no new ReplicaSet, no rollout step; only the active one follows replicas.
                let active = owned.filter { DeploymentLogic.specReplicas($0) > 0 }
                if active.count <= 1, let target = active.first ?? newRS, DeploymentLogic.specReplicas(target) != (spec.replicas ?? 1) {
                    let scaled = try await scale(target, to: spec.replicas ?? 1, d)
                    if scaled.metadata.uid == newRS?.metadata.uid { newRS = scaled } else { old = old.map { $0.metadata.uid == scaled.metadata.uid ? scaled : $0 } }
                }
            } else {
                if newRS == nil {
                    newRS = try await createNewReplicaSet(&d, old: old)
                    created = true
                } else if let rs = newRS {
                    newRS = try await ensureRevision(rs, old: old, d)
                }
                if let rs = newRS {
                    (newRS, old) = try await rollout(d, newRS: rs, old: old)
                }
                for rs in DeploymentLogic.historyToDelete(d, old: old) {
                    do { try await client.delete(ReplicaSet.self, namespace: namespace, name: rs.metadata.name ?? "") } catch {
                        if !error.isNotFound { throw ControllerError("delete old ReplicaSet \(namespace)/\(rs.metadata.name ?? "") of Deployment \(key)", "delete failed", cause: error) }
                    }
                    old.removeAll { $0.metadata.uid == rs.metadata.uid }
                }
            }
            if let rs = newRS {
                let revision = String(DeploymentLogic.revision(rs))
                if d.metadata.annotations?[DeploymentLogic.revisionAnnotation] != revision {
                    let patch: JSONValue = .object(["metadata": .object(["annotations": .object([DeploymentLogic.revisionAnnotation: .string(revision)])])])
                    do { d = try await client.mergePatch(Deployment.self, namespace: namespace, name: name, patch) } catch {
                        if error.isNotFound { return }
                        throw ControllerError("annotate revision of Deployment \(key)", "patch failed", cause: error)
                    }
                }
            }
        }
        let status = DeploymentLogic.status(d, newRS: newRS, old: old, createdNewRS: created, now: clock.now())
        guard status != d.status else { return }
        let body = try Build.statusPatch(status, operation: "patch status of Deployment \(key)")
        do { _ = try await client.mergePatch(Deployment.self, namespace: namespace, name: name, body, subresource: "status") } catch {
            if error.isNotFound { return }
            throw ControllerError("patch status of Deployment \(key)", "patch failed", cause: error)
        }
    }

    /// One step of the strategy: returns the ReplicaSets as scaled.
    func rollout(_ d: Deployment, newRS: ReplicaSet, old: [ReplicaSet]) async throws(ControllerError) -> (ReplicaSet, [ReplicaSet]) {
        var newRS = newRS, old = old
        let replicas = d.spec?.replicas ?? 1
        if DeploymentLogic.isRecreate(d) {
            var scaledDown = false
            for (i, rs) in old.enumerated() where DeploymentLogic.specReplicas(rs) > 0 {
                old[i] = try await scale(rs, to: 0, d)
                scaledDown = true
            }
            if scaledDown { return (newRS, old) }
            // New pods start only when no old pod runs (Recreate's guarantee).
            if try await oldPodsRunning(d, old: old) { return (newRS, old) }
            if DeploymentLogic.specReplicas(newRS) != replicas { newRS = try await scale(newRS, to: replicas, d) }
            return (newRS, old)
        }
        let target = try DeploymentLogic.newReplicaSetReplicas(d, newRS: newRS, all: old + [newRS])
        let before = DeploymentLogic.specReplicas(newRS)
        if target != before {
            newRS = try await scale(newRS, to: target, d)
            // Upstream scales up and down in separate syncs; the scale-up's events bring the next.
            if target > before { return (newRS, old) }
        }
        let sizes = try DeploymentLogic.oldReplicaSetSizes(d, newRS: newRS, old: old)
        for (i, rs) in old.enumerated() {
            if let size = sizes[rs.metadata.name ?? ""], size != DeploymentLogic.specReplicas(rs) { old[i] = try await scale(rs, to: size, d) }
        }
        return (newRS, old)
    }

    /// Whether a pod of an old ReplicaSet still runs (not Succeeded or Failed), terminating or not.
    func oldPodsRunning(_ d: Deployment, old: [ReplicaSet]) async throws(ControllerError) -> Bool {
        let uids = Set(old.compactMap(\.metadata.uid))
        guard !uids.isEmpty else { return false }
        do {
            let pods = try await client.list(Pod.self, namespace: d.metadata.namespace).items
            return pods.contains { pod in
                guard let ref = PodFacts.controllerRef(pod.metadata), uids.contains(ref.uid) else { return false }
                return pod.status?.phase != "Succeeded" && pod.status?.phase != "Failed"
            }
        } catch {
            throw ControllerError("list pods of Deployment \(d.key)", "list failed", cause: error)
        }
    }

    /// Sets a ReplicaSet's replicas with the desired/max replicas annotations, by merge patch.
    func scale(_ rs: ReplicaSet, to replicas: Int32, _ d: Deployment) async throws(ControllerError) -> ReplicaSet {
        let surge = DeploymentLogic.isRecreate(d) ? 0 : ((try? DeploymentLogic.fenceposts(d))?.surge ?? 0)
        let annotations: JSONValue = .object([
            DeploymentLogic.desiredReplicasAnnotation: .string(String(d.spec?.replicas ?? 1)),
            DeploymentLogic.maxReplicasAnnotation: .string(String((d.spec?.replicas ?? 1) + surge)),
        ])
        let patch: JSONValue = .object(["metadata": .object(["annotations": annotations]), "spec": .object(["replicas": .number(Double(replicas))])])
        do {
            let scaled = try await client.mergePatch(ReplicaSet.self, namespace: rs.metadata.namespace, name: rs.metadata.name ?? "", patch)
            logger.debug("scaled ReplicaSet", metadata: ["replicaset": "\(rs.key)", "replicas": "\(replicas)"])
            return scaled
        } catch {
            throw ControllerError("scale ReplicaSet \(rs.key) to \(replicas) for Deployment \(d.key)", "patch failed", cause: error)
        }
    }

    /// The new revision is one above every old one; a template rolled back to becomes newest.
    func ensureRevision(_ rs: ReplicaSet, old: [ReplicaSet], _ d: Deployment) async throws(ControllerError) -> ReplicaSet {
        let maxOld = old.map(DeploymentLogic.revision).max() ?? 0
        guard DeploymentLogic.revision(rs) <= maxOld else { return rs }
        let patch: JSONValue = .object(["metadata": .object(["annotations": .object([DeploymentLogic.revisionAnnotation: .string(String(maxOld + 1))])])])
        do { return try await client.mergePatch(ReplicaSet.self, namespace: rs.metadata.namespace, name: rs.metadata.name ?? "", patch) } catch {
            throw ControllerError("set revision of ReplicaSet \(rs.key) for Deployment \(d.key)", "patch failed", cause: error)
        }
    }

    /// Creates `<name>-<hash>` with the hash in its selector, template and labels. On a name
    /// collision with a different template, bumps `status.collisionCount` so the next sync
    /// hashes differently (upstream's behaviour) and reports the conflict.
    func createNewReplicaSet(_ d: inout Deployment, old: [ReplicaSet]) async throws(ControllerError) -> ReplicaSet {
        let spec = d.spec!
        let namespace = d.metadata.namespace ?? ""
        let hash = DeploymentLogic.templateHash(spec.template, collisionCount: d.status?.collisionCount)
        var template = spec.template
        var meta = template.metadata ?? ObjectMeta()
        meta.labels = (meta.labels ?? [:]).merging([DeploymentLogic.templateHashLabel: hash]) { _, new in new }
        template.metadata = meta
        var selector = spec.selector
        selector.matchLabels = (selector.matchLabels ?? [:]).merging([DeploymentLogic.templateHashLabel: hash]) { _, new in new }
        let replicas = DeploymentLogic.isRecreate(d) ? 0 : try DeploymentLogic.newReplicaSetReplicas(d, newRS: ReplicaSet(metadata: ObjectMeta(), spec: ReplicaSetSpec(replicas: 0, selector: selector)), all: old)
        let surge = DeploymentLogic.isRecreate(d) ? 0 : try DeploymentLogic.fenceposts(d).surge
        let revision = (old.map(DeploymentLogic.revision).max() ?? 0) + 1
        var rsMeta = ObjectMeta(name: "\(d.metadata.name ?? "")-\(hash)", namespace: namespace, labels: meta.labels, annotations: [
            DeploymentLogic.revisionAnnotation: String(revision),
            DeploymentLogic.desiredReplicasAnnotation: String(spec.replicas ?? 1),
            DeploymentLogic.maxReplicasAnnotation: String((spec.replicas ?? 1) + surge),
        ])
        rsMeta.ownerReferences = [Build.controllerRef(apiVersion: Deployment.apiVersion, kind: Deployment.kind, meta: d.metadata)]
        let rs = ReplicaSet(metadata: rsMeta, spec: ReplicaSetSpec(replicas: replicas, minReadySeconds: spec.minReadySeconds, selector: selector, template: template))
        do {
            let created = try await client.create(rs)
            logger.info("created ReplicaSet", metadata: ["deployment": "\(d.key)", "replicaset": "\(created.metadata.name ?? "")", "replicas": "\(replicas)"])
            return created
        } catch {
            guard error.isAlreadyExists else { throw ControllerError("create ReplicaSet \(namespace)/\(rsMeta.name ?? "") for Deployment \(d.key)", "create failed", cause: error) }
            if let existing = try? await client.get(ReplicaSet.self, namespace: namespace, name: rsMeta.name ?? ""),
               isControlled(existing.metadata, by: d.metadata.uid), DeploymentLogic.templateMatches(existing.spec?.template, spec.template) {
                return existing
            }
            let count = (d.status?.collisionCount ?? 0) + 1
            let patch: JSONValue = .object(["status": .object(["collisionCount": .number(Double(count))])])
            _ = try? await client.mergePatch(Deployment.self, namespace: namespace, name: d.metadata.name ?? "", patch, subresource: "status")
            throw ControllerError("create ReplicaSet \(namespace)/\(rsMeta.name ?? "") for Deployment \(d.key)", "name taken by another template; collisionCount is now \(count)", cause: error)
        }
    }
}

import Foundation
import KubeAPI

/// The Deployment controller's decisions as pure functions (upstream's
/// pkg/controller/deployment/util and rolling.go arithmetic).
public enum DeploymentLogic {
    public static let templateHashLabel = "pod-template-hash"
    public static let revisionAnnotation = "deployment.kubernetes.io/revision"
    public static let desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
    public static let maxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
    public static let defaultRevisionHistoryLimit: Int32 = 10
    public static let defaultProgressDeadlineSeconds: Int32 = 600

    /// The `pod-template-hash` of a template: FNV-1a (32 bit) over its canonical JSON and the
    /// collision count, printed in decimal and mapped onto upstream's safe alphabet (no vowels,
    /// no digits that look like letters), as `rand.SafeEncodeString` does.
    public static func templateHash(_ template: PodTemplateSpec, collisionCount: Int32?) -> String {
        var clean = template
        clean.metadata?.labels?[templateHashLabel] = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var bytes = Array((try? encoder.encode(clean)) ?? Data())
        if let collisionCount { bytes += Array(String(collisionCount).utf8) }
        var hash: UInt32 = 2_166_136_261
        for b in bytes { hash = (hash ^ UInt32(b)) &* 16_777_619 }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(hash).unicodeScalars.map { alphabet[Int($0.value) % alphabet.count] })
    }

    /// Whether a ReplicaSet's template is the Deployment's, ignoring `pod-template-hash`
    /// (upstream's `EqualIgnoreHash`).
    public static func templateMatches(_ rsTemplate: PodTemplateSpec?, _ template: PodTemplateSpec) -> Bool {
        guard var a = rsTemplate else { return false }
        var b = template
        a.metadata?.labels?[templateHashLabel] = nil
        b.metadata?.labels?[templateHashLabel] = nil
        if a.metadata?.labels?.isEmpty == true { a.metadata?.labels = nil }
        if b.metadata?.labels?.isEmpty == true { b.metadata?.labels = nil }
        return a == b
    }

    /// `maxSurge` and `maxUnavailable` as numbers (defaults 25% each; surge rounds up,
    /// unavailable down; both zero would deadlock, so unavailable becomes 1).
    public static func fenceposts(_ d: Deployment) throws(ControllerError) -> (surge: Int32, unavailable: Int32) {
        let replicas = d.spec?.replicas ?? 1
        let rolling = d.spec?.strategy?.rollingUpdate
        let surge = try (rolling?.maxSurge ?? .string("25%")).scaled(total: replicas, roundUp: true, field: "spec.strategy.rollingUpdate.maxSurge")
        let unavailable = try (rolling?.maxUnavailable ?? .string("25%")).scaled(total: replicas, roundUp: false, field: "spec.strategy.rollingUpdate.maxUnavailable")
        if surge == 0 && unavailable == 0 { return (0, 1) }
        return (surge, unavailable)
    }

    public static func isRecreate(_ d: Deployment) -> Bool { d.spec?.strategy?.type == "Recreate" }

    public static func revision(_ rs: ReplicaSet) -> Int64 {
        rs.metadata.annotations?[revisionAnnotation].flatMap { Int64($0) } ?? 0
    }

    static func specReplicas(_ rs: ReplicaSet) -> Int32 { rs.spec?.replicas ?? 0 }

    /// The new ReplicaSet's target size in a rolling update (upstream's `NewRSNewReplicas`):
    /// grow toward `replicas` without the total exceeding `replicas + maxSurge`.
    public static func newReplicaSetReplicas(_ d: Deployment, newRS: ReplicaSet, all: [ReplicaSet]) throws(ControllerError) -> Int32 {
        let replicas = d.spec?.replicas ?? 1
        let current = specReplicas(newRS)
        if isRecreate(d) { return replicas }
        if current >= replicas { return replicas }
        let (surge, _) = try fenceposts(d)
        let total = all.reduce(Int32(0)) { $0 + specReplicas($1) }
        let maxTotal = replicas + surge
        if total >= maxTotal { return current }
        return current + min(maxTotal - total, replicas - current)
    }

    /// New sizes for the old ReplicaSets in a rolling update (upstream's
    /// `reconcileOldReplicaSets`): first shrink their unavailable replicas, then scale down
    /// available ones while keeping `replicas - maxUnavailable` available in total.
    /// Returns name → new size for the ReplicaSets that change; oldest are scaled down first.
    public static func oldReplicaSetSizes(_ d: Deployment, newRS: ReplicaSet, old: [ReplicaSet]) throws(ControllerError) -> [String: Int32] {
        let replicas = d.spec?.replicas ?? 1
        let (_, maxUnavailable) = try fenceposts(d)
        var sizes = Dictionary(uniqueKeysWithValues: old.map { ($0.metadata.name ?? "", specReplicas($0)) })
        let ordered = old.sorted { ($0.metadata.creationTimestamp ?? "", $0.metadata.name ?? "") < ($1.metadata.creationTimestamp ?? "", $1.metadata.name ?? "") }
        let oldTotal = sizes.values.reduce(0, +)
        if oldTotal == 0 { return [:] }
        let allPods = oldTotal + specReplicas(newRS)
        let minAvailable = replicas - maxUnavailable
        let newUnavailable = specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0)
        let maxScaledDown = allPods - minAvailable - newUnavailable
        var changed: [String: Int32] = [:]
        guard maxScaledDown > 0 else { return [:] }
        var cleaned: Int32 = 0
        for rs in ordered where cleaned < maxScaledDown {
            let name = rs.metadata.name ?? ""
            let size = sizes[name] ?? 0
            let available = rs.status?.availableReplicas ?? 0
            guard size > 0, size > available else { continue }
            let down = min(maxScaledDown - cleaned, size - available)
            sizes[name] = size - down
            changed[name] = size - down
            cleaned += down
        }
        let availableTotal = (old + [newRS]).reduce(Int32(0)) { $0 + ($1.status?.availableReplicas ?? 0) }
        var toScaleDown = availableTotal - minAvailable
        for rs in ordered where toScaleDown > 0 {
            let name = rs.metadata.name ?? ""
            let size = sizes[name] ?? 0
            guard size > 0 else { continue }
            let down = min(size, toScaleDown)
            sizes[name] = size - down
            changed[name] = size - down
            toScaleDown -= down
        }
        return changed
    }

    /// Old ReplicaSets to delete beyond `revisionHistoryLimit`: those with no replicas (spec
    /// and status), lowest revision first.
    public static func historyToDelete(_ d: Deployment, old: [ReplicaSet]) -> [ReplicaSet] {
        let limit = Int(d.spec?.revisionHistoryLimit ?? defaultRevisionHistoryLimit)
        let idle = old.filter { specReplicas($0) == 0 && ($0.status?.replicas ?? 0) == 0 && $0.metadata.deletionTimestamp == nil }
        guard idle.count > limit else { return [] }
        return Array(idle.sorted { revision($0) < revision($1) }.prefix(idle.count - limit))
    }

    /// The Deployment's status from its ReplicaSets, with the `Available` and `Progressing`
    /// conditions that `kubectl rollout status` reads. `createdNewRS` says this sync created
    /// the new ReplicaSet; `now` stamps transitions and progress.
    public static func status(_ d: Deployment, newRS: ReplicaSet?, old: [ReplicaSet], createdNewRS: Bool, now: Date) -> DeploymentStatus {
        let all = (newRS.map { [$0] } ?? []) + old
        let replicas = d.spec?.replicas ?? 1
        let total = all.reduce(Int32(0)) { $0 + ($1.status?.replicas ?? 0) }
        let specTotal = all.reduce(Int32(0)) { $0 + specReplicas($1) }
        let ready = all.reduce(Int32(0)) { $0 + ($1.status?.readyReplicas ?? 0) }
        let available = all.reduce(Int32(0)) { $0 + ($1.status?.availableReplicas ?? 0) }
        let updated = newRS?.status?.replicas ?? 0
        var status = DeploymentStatus()
        status.observedGeneration = d.metadata.generation
        status.replicas = total
        status.updatedReplicas = updated
        status.readyReplicas = ready
        status.availableReplicas = available
        status.unavailableReplicas = max(specTotal - available, 0)
        status.collisionCount = d.status?.collisionCount
        let previous = d.status?.conditions ?? []
        let stamp = now.kubeTimestamp

        func condition(_ type: String, _ value: String, _ reason: String, _ message: String, progressed: Bool) -> DeploymentCondition {
            let old = previous.first { $0.type == type }
            var c = DeploymentCondition(type: type, status: value, lastUpdateTime: stamp, lastTransitionTime: stamp, reason: reason, message: message)
            if let old, old.status == value {
                c.lastTransitionTime = old.lastTransitionTime ?? stamp
                // Without progress the update time stays, so the progress deadline can pass.
                if !progressed, old.reason == reason { c.lastUpdateTime = old.lastUpdateTime ?? stamp }
            }
            return c
        }

        let minAvailable = replicas - ((try? fenceposts(d))?.unavailable ?? 0)
        let availableCondition = isRecreate(d) || available >= minAvailable
            ? condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", progressed: false)
            : condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", progressed: false)
        let rsName = newRS?.metadata.name ?? ""
        let before = d.status
        let progressed = updated > (before?.updatedReplicas ?? 0) || ready > (before?.readyReplicas ?? 0)
            || available > (before?.availableReplicas ?? 0) || (total - updated) < ((before?.replicas ?? 0) - (before?.updatedReplicas ?? 0))
        let progressing: DeploymentCondition
        if d.spec?.paused == true {
            progressing = condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", progressed: false)
        } else if newRS != nil, updated == replicas, available == replicas, total == replicas {
            progressing = condition("Progressing", "True", "NewReplicaSetAvailable", "ReplicaSet \"\(rsName)\" has successfully progressed.", progressed: true)
        } else if createdNewRS {
            progressing = condition("Progressing", "True", "NewReplicaSetCreated", "Created new replica set \"\(rsName)\"", progressed: true)
        } else if let old = previous.first(where: { $0.type == "Progressing" }), old.reason == "ProgressDeadlineExceeded", !progressed {
            // Upstream keeps a timed-out rollout marked until it makes progress again.
            progressing = old
        } else {
            var c = condition("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"\(rsName)\" is progressing.", progressed: progressed)
            let deadline = Double(d.spec?.progressDeadlineSeconds ?? defaultProgressDeadlineSeconds)
            if let last = c.lastUpdateTime.flatMap(Date.init(kubeTimestamp:)), now.timeIntervalSince(last) > deadline {
                c = condition("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"\(rsName)\" has timed out progressing.", progressed: false)
            }
            progressing = c
        }
        status.conditions = [availableCondition, progressing]
        return status
    }
}

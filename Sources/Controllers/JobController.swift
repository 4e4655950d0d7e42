import Foundation
import KubeAPI
import KubeClient
import Logging

/// The Job controller's decisions as pure functions.
public enum JobLogic {
    public static let defaultBackoffLimit: Int32 = 6
    public static let jobNameLabel = "batch.kubernetes.io/job-name"
    public static let controllerUIDLabel = "batch.kubernetes.io/controller-uid"

    public struct Plan: Equatable, Sendable {
        /// Pods to create now.
        public var create: Int
        /// Active pods to delete (too many, or the Job finished or failed).
        public var delete: [Pod]
        public var status: JobStatus
    }

    /// Counts the Job's pods and decides: keep `min(parallelism, completions - succeeded)`
    /// pods active (with no `completions`: `parallelism` until one succeeds, then no new
    /// ones); the Job is
    /// `Complete` once `completions` pods succeeded (without `completions`: one succeeded and
    /// none is active), and `Failed` (reason `BackoffLimitExceeded`) once more than
    /// `backoffLimit` failed. Counts never go below the previous status (deleted pods keep
    /// counting).
    public static func plan(_ job: Job, pods: [Pod], now: Date) -> Plan {
        var status = job.status ?? JobStatus()
        let finishedAlready = (status.conditions ?? []).contains { ($0.type == "Complete" || $0.type == "Failed") && $0.status == "True" }
        let active = pods.filter(PodFacts.isActive)
        let succeeded = max(Int32(pods.filter { $0.status?.phase == "Succeeded" }.count), status.succeeded ?? 0)
        let failed = max(Int32(pods.filter { $0.status?.phase == "Failed" }.count), status.failed ?? 0)
        let stamp = now.kubeTimestamp
        if status.startTime == nil { status.startTime = stamp }
        status.succeeded = succeeded
        status.failed = failed
        status.ready = Int32(active.filter(PodFacts.isReady).count)
        if finishedAlready {
            status.active = Int32(active.count)
            return Plan(create: 0, delete: active, status: status)
        }
        let parallelism = max(job.spec?.parallelism ?? 1, 0)
        let completions = job.spec?.completions
        let backoffLimit = job.spec?.backoffLimit ?? defaultBackoffLimit
        if failed > backoffLimit {
            status.conditions = (status.conditions ?? []) + [JobCondition(type: "Failed", status: "True", lastProbeTime: stamp, lastTransitionTime: stamp,
                                                                         reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit")]
            status.active = 0
            return Plan(create: 0, delete: active, status: status)
        }
        let complete = completions.map { succeeded >= $0 } ?? (succeeded > 0 && active.isEmpty)
        if complete {
            status.conditions = (status.conditions ?? []) + [JobCondition(type: "Complete", status: "True", lastProbeTime: stamp, lastTransitionTime: stamp)]
            status.completionTime = stamp
            status.active = 0
            return Plan(create: 0, delete: active, status: status)
        }
        let want: Int32
        // Without completions, once one pod succeeded no new pod starts, but the running ones
        // may finish (upstream's work-queue semantics).
        if let completions { want = min(parallelism, max(completions - succeeded, 0)) } else { want = succeeded > 0 ? Int32(active.count) : parallelism }
        status.active = Int32(active.count)
        if Int32(active.count) < want {
            let n = Int(want) - active.count
            status.active = want
            return Plan(create: n, delete: [], status: status)
        }
        let extra = Array(ReplicaSetLogic.rankForDeletion(active).prefix(active.count - Int(want)))
        status.active = want
        return Plan(create: 0, delete: extra, status: status)
    }
}

/// Runs a Job's pods to completion: `parallelism` at a time toward `completions`, replacing
/// failed pods until `backoffLimit` is exceeded, then marks the Job `Complete` or `Failed`.
/// `sync(key:)` is one idempotent reconcile from the API's current state.
public struct JobController: Sendable {
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger

    public init(client: any KubeAPIClient, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.job")) {
        self.client = client
        self.clock = clock
        self.logger = logger
    }

    public func sync(key: String) async throws(ControllerError) {
        let (namespace, name) = splitKey(key)
        guard let namespace else { throw ControllerError("sync Job \(key)", "key must be namespace/name") }
        let job: Job
        do { job = try await client.get(Job.self, namespace: namespace, name: name) } catch {
            if error.isNotFound { return }
            throw ControllerError("get Job \(key)", "read failed", cause: error)
        }
        guard job.metadata.deletionTimestamp == nil, job.spec?.suspend != true else { return }
        let pods = try await ownedPods(of: job, kind: Job.kind, apiVersion: Job.apiVersion, selector: job.spec?.selector, client: client)
        let plan = JobLogic.plan(job, pods: pods, now: clock.now())
        let owner = Build.controllerRef(apiVersion: Job.apiVersion, kind: Job.kind, meta: job.metadata)
        var template = job.spec?.template
        var labels = template?.metadata?.labels ?? [:]
        labels[JobLogic.jobNameLabel] = name
        labels["job-name"] = name
        labels[JobLogic.controllerUIDLabel] = job.metadata.uid
        labels["controller-uid"] = job.metadata.uid
        if template?.metadata == nil { template?.metadata = ObjectMeta() }
        template?.metadata?.labels = labels
        for _ in 0..<plan.create {
            do { _ = try await client.create(Build.pod(from: template, namespace: namespace, generateName: "\(name)-", owner: owner)) } catch {
                throw ControllerError("create pod for Job \(key)", "create failed", cause: error)
            }
        }
        for pod in plan.delete {
            do { try await client.delete(Pod.self, namespace: namespace, name: pod.metadata.name ?? "") } catch {
                if !error.isNotFound { throw ControllerError("delete pod \(pod.key) of Job \(key)", "delete failed", cause: error) }
            }
        }
        guard plan.status != job.status else { return }
        let body = try Build.statusPatch(plan.status, operation: "patch status of Job \(key)")
        do { _ = try await client.mergePatch(Job.self, namespace: namespace, name: name, body, subresource: "status") } catch {
            if error.isNotFound { return }
            throw ControllerError("patch status of Job \(key)", "patch failed", cause: error)
        }
    }
}

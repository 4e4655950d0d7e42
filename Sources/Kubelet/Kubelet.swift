import CRI
import Foundation
import KubeAPI
import LinuxSystem
import Logging
import Probe

/// The kubelet: reads pod sources, keeps one ``PodWorker`` per desired pod, relists the
/// runtime through the ``PLEG`` and wakes workers on their pods' events, and cleans up what
/// belongs to pods that no longer exist.
///
/// Single steps for tests: ``syncSources()``, ``syncAll()``, ``relist()``, ``housekeeping()``.
/// ``run()`` drives them with real time until its task is cancelled; then each worker runs in
/// its own task, woken by source changes, PLEG events and its own timers.
///
/// Restart safety: static pod UIDs are content hashes, so a restarted kubelet gets the same
/// UIDs, finds their containers by label and leaves healthy ones running (a container is
/// restarted only when its spec hash annotation differs). Nothing is deleted as an orphan until
/// every source has delivered one snapshot.
public actor Kubelet {
    public nonisolated let node: NodeInfo
    public nonisolated let metrics: KubeletMetrics
    let runtime: any ContainerRuntime
    let sources: [any PodSource]
    let clock: any KubeletClock
    let logger: Logger
    let pleg: PLEG
    let prober: Prober
    let objects: (any PodObjectReader)?
    let mounter: any Mounting
    let logRotator: ContainerLogRotator
    /// Writes statuses, mirror pods and final deletes to the API server (nil: standalone).
    let statusManager: PodStatusManager?
    /// Graceful terminations of pods the API server is deleting, by UID.
    var deleting: [String: Task<Void, Never>] = [:]
    /// Eviction and garbage collection, when attached.
    var nodeHousekeeping = NodeHousekeeping()
    var workers: [String: PodWorker] = [:]
    var sourcePods: [String: [Pod]] = [:]
    var triggers: [String: AsyncStream<Void>.Continuation] = [:]
    var workerTasks: [String: Task<Void, Never>] = [:]
    var removing: [String: Task<Void, Never>] = [:]
    var recordedStart: Set<String> = []
    var loopsRunning = false
    /// Errors of the last source sync (bad manifests), for logs and `/healthz` detail.
    public private(set) var sourceErrors: [KubeletError] = []

    /// `objects` reads ConfigMaps and Secrets for pods (nil: standalone); `mounter` makes the
    /// tmpfs mounts of volumes (unit tests pass a fake).
    public init(node: NodeInfo, runtime: any ContainerRuntime, sources: [any PodSource], clock: any KubeletClock = SystemClock(),
                metrics: KubeletMetrics = KubeletMetrics(), objects: (any PodObjectReader)? = nil, mounter: any Mounting = HostMounts(),
                logPolicy: ContainerLogPolicy = ContainerLogPolicy(), statusManager: PodStatusManager? = nil,
                logger: Logger = Logger(label: "nodekit.kubelet")) {
        self.statusManager = statusManager
        self.logRotator = ContainerLogRotator(runtime: runtime, policy: logPolicy, clock: clock, logger: logger)
        self.node = node
        self.objects = objects
        self.mounter = mounter
        self.runtime = runtime
        self.sources = sources
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.pleg = PLEG(runtime: runtime, clock: clock)
        self.prober = Prober(executor: CRIProbeExecutor(runtime: runtime))
    }

    /// The worker of the pod with `uid`.
    public func worker(uid: String) -> PodWorker? { workers[uid] }

    /// The worker of the pod `namespace/name`.
    public func worker(namespace: String, name: String) async -> PodWorker? {
        for worker in workers.values {
            let pod = await worker.pod
            if pod.metadata.namespace == namespace && pod.metadata.name == name { return worker }
        }
        return nil
    }

    /// Every desired pod with its current status, sorted by namespace/name.
    public func pods() async -> [Pod] {
        var pods: [Pod] = []
        for worker in workers.values { pods.append(await worker.podWithStatus) }
        return pods.sorted { $0.key < $1.key }
    }

    /// Reads every source once and reconciles workers: new pods get a worker (woken at once
    /// when the loops run), pods gone from their source are terminated and removed. A source
    /// that fails keeps its previous pods. Returns the UIDs added and removed.
    @discardableResult
    public func syncSources() async -> (added: [String], removed: [String]) {
        var errors: [KubeletError] = []
        for source in sources {
            do {
                let snapshot = try await source.snapshot()
                sourcePods[source.name] = snapshot.pods
                errors += snapshot.errors
            } catch {
                errors.append(error)
            }
        }
        if errors != sourceErrors {
            for error in errors { logger.warning("pod source error", metadata: ["error": "\(error)"]) }
        }
        sourceErrors = errors
        let desired = Dictionary(sourcePods.values.joined().map { ($0.metadata.uid ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        for (uid, pod) in desired {
            guard let worker = workers[uid] else { continue }
            await worker.update(pod)
            if pod.metadata.deletionTimestamp != nil && deleting[uid] == nil { await beginDeletion(pod, worker: worker) }
        }
        var added: [String] = []
        for (uid, pod) in desired where workers[uid] == nil {
            let worker = makeWorker(pod)
            workers[uid] = worker
            added.append(uid)
            logger.info("pod added", metadata: ["pod": "\(pod.key)", "uid": "\(uid)"])
            if loopsRunning { startLoop(worker) }
            if pod.metadata.deletionTimestamp != nil { await beginDeletion(pod, worker: worker) }
        }
        var removed: [String] = []
        for (uid, worker) in workers where desired[uid] == nil {
            workers[uid] = nil
            triggers.removeValue(forKey: uid)?.finish()
            workerTasks.removeValue(forKey: uid)?.cancel()
            deleting.removeValue(forKey: uid)
            removed.append(uid)
            logger.info("pod removed", metadata: ["uid": "\(uid)"])
            let termination = Task {
                do { try await worker.terminate(remove: true) } catch {
                    self.logger.warning("terminating pod failed", metadata: ["uid": "\(uid)", "error": "\(error)"])
                }
            }
            if loopsRunning {
                removing[uid] = termination
                Task { await termination.value; self.finishedRemoving(uid) }
            } else {
                await termination.value
            }
        }
        return (added.sorted(), removed.sorted())
    }

    func finishedRemoving(_ uid: String) { removing[uid] = nil }

    /// Upstream's graceful deletion: a pod with a deletionTimestamp stops starting containers,
    /// is terminated with its deletion grace period (preStop, SIGTERM, SIGKILL), and is then
    /// deleted from the API server with grace 0; the watch's DELETED event removes it. A
    /// failed attempt is retried on a later source sync.
    func beginDeletion(_ pod: Pod, worker: PodWorker) async {
        let uid = worker.uid
        let grace = max(0, pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30)
        logger.info("pod deleted in the API server, terminating", metadata: ["pod": "\(pod.key)", "uid": "\(uid)", "grace": "\(grace)"])
        await worker.markTerminating()
        let statusManager = self.statusManager
        let task = Task {
            do {
                try await worker.terminate(gracePeriod: grace, remove: false)
                try await statusManager?.deletePod(pod)
            } catch {
                self.logger.warning("graceful deletion failed", metadata: ["pod": "\(pod.key)", "error": "\(error)"])
                self.deletionFailed(uid)
            }
        }
        deleting[uid] = task
        if !loopsRunning { await task.value }
    }

    func deletionFailed(_ uid: String) { deleting[uid] = nil }

    /// Writes statuses and mirror pods through the status manager; returns the API writes made
    /// (0 without an API server).
    @discardableResult
    public func syncStatuses() async -> Int {
        guard let statusManager else { return 0 }
        return await statusManager.sync(pods: await pods())
    }

    func makeWorker(_ pod: Pod) -> PodWorker {
        PodWorker(pod: pod, runtime: runtime, node: node, clock: clock, prober: prober, objects: objects, mounter: mounter, logger: logger)
    }

    /// One `syncPod` of every worker, in parallel.
    public func syncAll() async {
        let all = Array(workers.values)
        await withTaskGroup(of: Void.self) { group in
            for worker in all { group.addTask { await worker.syncPod() } }
        }
        for worker in all { await recordStart(worker) }
    }

    /// One PLEG relist: wakes the workers of pods with events and updates the gauges.
    @discardableResult
    public func relist() async throws(KubeletError) -> [PodLifecycleEvent] {
        let events = try await pleg.relist()
        if let duration = await pleg.lastRelistDuration { metrics.observeRelist(duration) }
        let pods = await pleg.pods
        metrics.setRunning(pods: pods.values.filter { $0.readySandbox != nil }.count,
                           containers: pods.values.map { $0.runningContainers.count }.reduce(0, +))
        for uid in Set(events.map(\.podUID)) { triggers[uid]?.yield() }
        return events
    }

    /// Removes sandboxes and containers of pods that are not desired (deleted while the
    /// kubelet was down, or made by an earlier manifest version). Runs only once every source
    /// has answered, so a starting kubelet never deletes what it is about to adopt.
    @discardableResult
    public func housekeeping() async -> [String] {
        guard sourcePods.count == sources.count else { return [] }
        let pods = await pleg.pods
        var cleaned: [String] = []
        for (uid, runtimePod) in pods where workers[uid] == nil && removing[uid] == nil {
            var orphan = Pod(metadata: ObjectMeta(name: runtimePod.name, namespace: runtimePod.namespace), spec: PodSpec(containers: []))
            orphan.metadata.uid = uid
            let grace = runtimePod.containers.compactMap { Int64($0.annotations[KubeletLabels.terminationGracePeriod] ?? "") }.max()
            let worker = makeWorker(orphan)
            do {
                try await worker.terminate(gracePeriod: grace ?? 30, remove: true)
                cleaned.append(uid)
                logger.info("removed orphaned pod", metadata: ["pod": "\(runtimePod.namespace)/\(runtimePod.name)", "uid": "\(uid)"])
            } catch {
                logger.warning("removing orphaned pod failed", metadata: ["uid": "\(uid)", "error": "\(error)"])
            }
        }
        return cleaned
    }

    /// One pass of container log rotation (see ``ContainerLogRotator``); returns the ids of the
    /// containers whose logs were rotated.
    @discardableResult
    public func rotateLogs() async throws(KubeletError) -> [String] {
        try await logRotator.rotateAll()
    }

    func recordStart(_ worker: PodWorker) async {
        guard !recordedStart.contains(worker.uid), let at = await worker.allRunningAt else { return }
        recordedStart.insert(worker.uid)
        metrics.observePodStart(.milliseconds(Int64(at.timeIntervalSince(worker.firstSeen) * 1000)))
    }

    func startLoop(_ worker: PodWorker) {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        triggers[worker.uid] = continuation
        continuation.yield()
        workerTasks[worker.uid] = Task {
            var timer: Task<Void, Never>?
            for await _ in stream {
                timer?.cancel()
                let wake = await worker.syncPod()
                await self.recordStart(worker)
                timer = Task {
                    try? await Task.sleep(for: max(wake, .milliseconds(100)))
                    if !Task.isCancelled { continuation.yield() }
                }
            }
            timer?.cancel()
        }
    }

    /// Runs the kubelet until the calling task is cancelled: sources every `sourcePeriod`,
    /// PLEG relist every second, housekeeping every 2 s, log rotation and eviction every 10 s,
    /// container GC every minute and image GC every 5 minutes (when attached), workers in
    /// their own tasks. A runtime that goes away (containerd restarting) only makes these
    /// steps fail and log until it is back; nothing is torn down because of it. On
    /// cancellation the worker loops stop; pods keep running (a restart adopts them).
    public func run(sourcePeriod: Duration = .seconds(1)) async {
        loopsRunning = true
        for worker in workers.values where workerTasks[worker.uid] == nil { startLoop(worker) }
        var lastSources = ContinuousClock.now - sourcePeriod
        var lastHousekeeping = ContinuousClock.now
        var lastRotation = ContinuousClock.now
        var lastEviction = ContinuousClock.now
        var lastContainerGC = ContinuousClock.now
        var lastImageGC = ContinuousClock.now
        while !Task.isCancelled {
            if ContinuousClock.now - lastSources >= sourcePeriod {
                await syncSources()
                lastSources = ContinuousClock.now
            }
            do { try await relist() } catch {
                logger.warning("PLEG relist failed", metadata: ["error": "\(error)"])
            }
            await syncStatuses()
            if ContinuousClock.now - lastHousekeeping >= .seconds(2) {
                await housekeeping()
                lastHousekeeping = ContinuousClock.now
            }
            if ContinuousClock.now - lastRotation >= .seconds(10) {
                do { try await rotateLogs() } catch {
                    logger.warning("log rotation pass failed", metadata: ["error": "\(error)"])
                }
                lastRotation = ContinuousClock.now
            }
            if ContinuousClock.now - lastEviction >= .seconds(10) {
                await evictionStep()
                lastEviction = ContinuousClock.now
            }
            if ContinuousClock.now - lastContainerGC >= .seconds(60) {
                await containerGCStep()
                lastContainerGC = ContinuousClock.now
            }
            if ContinuousClock.now - lastImageGC >= .seconds(300) {
                await imageGCStep()
                lastImageGC = ContinuousClock.now
            }
            try? await Task.sleep(for: .seconds(1))
        }
        loopsRunning = false
        for task in workerTasks.values { task.cancel() }
        for continuation in triggers.values { continuation.finish() }
        workerTasks = [:]
        triggers = [:]
    }
}

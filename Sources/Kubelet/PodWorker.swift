import CRI
import Foundation
import KubeAPI
import LinuxSystem
import Logging
import Probe

/// The serialized worker of one pod: each `syncPod()` reads the pod's state from the runtime
/// and takes the next steps towards its spec (sandbox, init containers one at a time, app
/// containers, restarts with back-off, probe-driven restarts), then computes its status.
///
/// Concurrency: an actor, so steps of one pod never overlap; different pods' workers run in
/// parallel. `syncPod()` is idempotent: with nothing to do it only refreshes the status.
/// Runtime errors do not throw out of a step; they are recorded (``lastError``) and retried on
/// the next one.
public actor PodWorker {
    public nonisolated let uid: String
    public private(set) var pod: Pod
    public private(set) var status: PodStatus
    public private(set) var runtimePod: RuntimePod
    /// The last error a step hit (runtime, volume, sandbox), nil after a clean step.
    public private(set) var lastError: KubeletError?
    /// When the worker first saw the pod, and when all its containers first ran.
    public nonisolated let firstSeen: Date
    public private(set) var allRunningAt: Date?

    let runtime: any ContainerRuntime
    let inspector: RuntimeInspector
    let node: NodeInfo
    let clock: any KubeletClock
    let volumes: VolumeManager
    let objectReader: (any PodObjectReader)?
    let prober: Prober
    let hooks: HookRunner
    let logger: Logger
    var crashBackOff = BackOff()
    var imageBackOff = BackOff()
    var imageFailures: [String: Date] = [:]
    var waiting: [String: ContainerStateWaiting] = [:]
    var probes: [String: ContainerProbes] = [:]
    /// When this worker first saw each exited container (by id), on its own clock. Crash-loop
    /// back-off counts from here, not from the runtime's finishedAt: that timestamp is on the
    /// runtime's clock, and comparing it with an injected clock (or a wall clock NTP stepped)
    /// makes the delays meaningless. Seeing an exit lags it by at most one PLEG period.
    var exitSeen: [String: Date] = [:]
    /// Termination messages of exited containers, by container id.
    var terminationMessages: [String: String] = [:]
    var volumePaths: [String: String]?
    /// When the object volumes were last compared with the API's objects (see
    /// ``refreshObjectVolumes(sandboxIP:now:)``); nil until the first running step.
    var lastVolumeRefresh: Date?

    /// `objects` reads the ConfigMaps and Secrets the pod refers to (nil: standalone, none
    /// exist); `mounter` makes the tmpfs mounts of its volumes.
    public init(pod: Pod, runtime: any ContainerRuntime, node: NodeInfo, clock: any KubeletClock,
                prober: Prober? = nil, objects: (any PodObjectReader)? = nil, mounter: any Mounting = HostMounts(),
                logger: Logger = Logger(label: "nodekit.kubelet")) {
        self.uid = pod.metadata.uid ?? ""
        self.pod = pod
        self.runtime = runtime
        self.inspector = RuntimeInspector(runtime: runtime)
        self.node = node
        self.clock = clock
        self.volumes = VolumeManager(node: node, mounter: mounter)
        self.objectReader = objects
        let prober = prober ?? Prober(executor: CRIProbeExecutor(runtime: runtime))
        self.prober = prober
        self.hooks = HookRunner(prober: prober)
        self.logger = logger
        self.firstSeen = clock.now()
        self.status = PodStatus(phase: "Pending")
        self.runtimePod = RuntimePod(uid: pod.metadata.uid ?? "")
    }

    /// Replaces the desired pod (same UID): a container whose spec changed is restarted on the
    /// next step, the others are left alone. A pod with another UID needs its own worker.
    public func update(_ newPod: Pod) {
        guard newPod.metadata.uid == uid else { return }
        pod = newPod
    }

    /// True once the pod is being deleted: steps stop starting or restarting anything and only
    /// refresh the status, while ``terminate(gracePeriod:remove:)`` stops it.
    public private(set) var terminating = false

    /// Stops all further starts (graceful deletion or eviction began).
    public func markTerminating() { terminating = true }

    /// A status set from outside that replaces the computed one from now on (an evicted pod:
    /// Failed, reason Evicted).
    var finalStatus: PodStatus?

    /// Fixes the pod's status to `status` (see ``finalStatus``).
    public func setFinalStatus(_ status: PodStatus) {
        finalStatus = status
        self.status = status
    }

    /// The probe state and history of `container`, nil when it has no running container.
    public func probes(of container: String) -> ContainerProbes? { probes[container] }

    /// The pod as the kubelet reports it: spec plus the last computed status.
    public var podWithStatus: Pod {
        var pod = self.pod
        pod.status = status
        return pod
    }

    /// One step. Returns how soon the worker wants its next step (a back-off ending, a probe
    /// due); the caller also runs it on PLEG events for the pod.
    @discardableResult
    public func syncPod() async -> Duration {
        let now = clock.now()
        lastError = nil
        do {
            var state = try await inspector.pod(uid: uid)
            noteExits(state, now: now)
            if terminating {
                // The termination task stops the containers; a step only observes.
            } else if isTerminal(status) {
                try await stopFinishedPod(state)
            } else {
                if state.readySandbox == nil {
                    try await createSandbox(state)
                    state = try await inspector.pod(uid: uid)
                }
                if let sandbox = state.readySandbox {
                    await runProbes(state, sandbox: sandbox, now: now)
                    try await syncContainers(state, sandbox: sandbox, now: now)
                    await refreshServiceAccountTokens(sandboxIP: sandbox.ip)
                    await refreshObjectVolumes(sandboxIP: sandbox.ip, now: now)
                    state = try await inspector.pod(uid: uid)
                }
            }
            noteExits(state, now: now)
            runtimePod = state
        } catch {
            lastError = error
            logger.warning("sync pod failed", metadata: ["pod": "\(pod.key)", "error": "\(error)"])
        }
        refreshStatus(now: clock.now())
        return nextWake(now: clock.now())
    }

    /// The termination message of an exited container: its message file, or with
    /// FallbackToLogsOnError and a failure, the tail of its log (upstream: the last 80 lines,
    /// at most 2048 bytes).
    func terminationMessage(_ c: RuntimeContainer) -> String {
        let text = volumes.terminationMessage(podUID: uid, container: c.name, restartCount: c.restartCount)
        guard text.isEmpty, c.exitCode != 0,
              c.annotations[KubeletLabels.terminationMessagePolicy] == "FallbackToLogsOnError", !c.logPath.isEmpty else { return text }
        return ContainerLogFiles.tail(path: c.logPath, lines: 80, maxBytes: 2048)
    }

    /// Records the first sighting of every exited container and forgets containers that are gone.
    func noteExits(_ state: RuntimePod, now: Date) {
        let exited = Set(state.containers.filter { $0.state == .exited }.map(\.id))
        exitSeen = exitSeen.filter { exited.contains($0.key) }
        for id in exited where exitSeen[id] == nil { exitSeen[id] = now }
    }

    /// When the worker first saw `container` exited (now, if it has not recorded it yet).
    func exitTime(_ container: RuntimeContainer, now: Date) -> Date { exitSeen[container.id] ?? now }

    /// Recomputes the status from the last runtime view (no runtime calls).
    func refreshStatus(now: Date) {
        var info: [String: PodStatusBuilder.ContainerInfo] = [:]
        for container in allContainers {
            // A container whose probes have not run yet has their initial results: not ready
            // while it has a readiness probe, not started while it has a startup probe.
            let p = probes[container.name] ?? ContainerProbes(containerID: "", container: container)
            info[container.name] = .init(waiting: waiting[container.name], started: p.started, ready: p.ready)
        }
        var messages: [String: String] = [:]
        let exited = runtimePod.containers.filter { $0.state == .exited }
        terminationMessages = terminationMessages.filter { id, _ in exited.contains { $0.id == id } }
        for c in exited {
            // An exited container's message is final: read its file (or log) once.
            let text = terminationMessages[c.id] ?? terminationMessage(c)
            terminationMessages[c.id] = text
            if !text.isEmpty { messages[c.id] = text }
        }
        if let finalStatus {
            status = finalStatus
            return
        }
        status = PodStatusBuilder.make(pod: pod, runtime: runtimePod, info: info, node: node, now: now, previous: status, terminationMessages: messages)
        if let error = lastError, runtimePod.readySandbox == nil {
            status.message = error.description
        }
        if allRunningAt == nil, let statuses = status.containerStatuses, statuses.allSatisfy({ $0.state?.running != nil }) {
            allRunningAt = now
        }
    }

    var allContainers: [Container] { (pod.spec.initContainers ?? []) + pod.spec.containers }

    func isTerminal(_ status: PodStatus) -> Bool { status.phase == "Succeeded" || status.phase == "Failed" }

    /// When to step again: the earliest back-off end or probe due, at most 10 s away.
    func nextWake(now: Date) -> Duration {
        var wake = now.addingTimeInterval(10)
        for c in runtimePod.containers where c.state == .exited {
            if let left = crashBackOff.remaining(c.name, since: exitTime(c, now: now), now: now) {
                wake = min(wake, now.addingTimeInterval(left.seconds))
            }
        }
        for (image, failed) in imageFailures {
            if let left = imageBackOff.remaining(image, since: failed, now: now) { wake = min(wake, now.addingTimeInterval(left.seconds)) }
        }
        for c in runtimePod.runningContainers {
            if let started = c.startedAt, let due = probes[c.name]?.nextDue(startedAt: started) { wake = min(wake, due) }
        }
        return .milliseconds(max(0, Int64(wake.timeIntervalSince(now) * 1000)))
    }

    /// How often a running pod's configMap, secret, downwardAPI and projected volumes are
    /// compared with the objects: upstream's kubelet does it on its periodic pod sync (1 min).
    static let volumeRefreshInterval: TimeInterval = 60

    /// Rewrites the pod's object volumes whose contents changed (``Volumes/refresh(pod:runtime:objects:)``),
    /// at most once per ``volumeRefreshInterval``; only with an API server (a static pod's
    /// manifest change replaces the pod).
    func refreshObjectVolumes(sandboxIP: String, now: Date) async {
        guard objectReader != nil, volumePaths != nil else { return }
        guard let last = lastVolumeRefresh else { lastVolumeRefresh = now; return }
        guard now.timeIntervalSince(last) >= Self.volumeRefreshInterval else { return }
        lastVolumeRefresh = now
        do {
            let objects = try await podObjects()
            let result = volumes.refresh(pod: pod, runtime: ContainerConfigBuilder.Runtime(podIP: sandboxIP, podIPs: [sandboxIP]), objects: objects)
            if !result.rewritten.isEmpty {
                logger.info("volumes updated from their objects", metadata: ["pod": "\(pod.key)", "volumes": "\(result.rewritten.joined(separator: ","))"])
            }
            for failure in result.failures { logger.warning("volume refresh failed", metadata: ["pod": "\(pod.key)", "error": "\(failure)"]) }
        } catch {
            logger.warning("volume refresh failed", metadata: ["pod": "\(pod.key)", "error": "\(error)"])
        }
    }

    /// The ConfigMaps and Secrets the pod refers to, read now (none without an API server).
    func podObjects() async throws(KubeletError) -> PodObjects {
        guard let objectReader else { return PodObjects() }
        return try await PodObjects.fetch(for: pod, from: objectReader, hasAPIServer: true)
    }

    // MARK: Sandbox

    func createSandbox(_ state: RuntimePod) async throws(KubeletError) {
        // Containers of a dead sandbox are stopped with it; it is kept until the pod goes, as upstream.
        for old in state.sandboxes {
            var request = Runtime_V1_StopPodSandboxRequest()
            request.podSandboxID = old.id
            do { _ = try await runtime.stopPodSandbox(request) } catch {
                throw KubeletError(.runtime, "stop old sandbox \(old.id) of pod \(pod.key)", cause: error)
            }
        }
        let attempt = state.sandboxes.first.map { $0.attempt + 1 } ?? 0
        let runtimeInfo = ContainerConfigBuilder.Runtime()
        volumePaths = try volumes.setUp(pod: pod, runtime: runtimeInfo, objects: try await podObjects())
        let config = try SandboxConfigBuilder.make(pod: pod, attempt: attempt, node: node)
        do {
            try FileManager.default.createDirectory(atPath: config.logDirectory, withIntermediateDirectories: true)
        } catch {
            throw KubeletError(.runtime, "create log directory \(config.logDirectory) of pod \(pod.key)", cause: error)
        }
        var request = Runtime_V1_RunPodSandboxRequest()
        request.config = config
        do {
            let id = try await runtime.runPodSandbox(request).podSandboxID
            logger.info("started pod sandbox", metadata: ["pod": "\(pod.key)", "sandbox": "\(id)", "attempt": "\(attempt)"])
        } catch {
            throw KubeletError(.runtime, "run sandbox of pod \(pod.key) (attempt \(attempt))", cause: error)
        }
    }

    // MARK: Containers

    func syncContainers(_ state: RuntimePod, sandbox: RuntimeSandbox, now: Date) async throws(KubeletError) {
        let policy = pod.spec.restartPolicy ?? "Always"
        func current(_ name: String) -> RuntimeContainer? {
            state.containers.first { $0.name == name && $0.sandboxID == sandbox.id }
        }
        // Init containers run one at a time; a sidecar (restartPolicy Always) starts and stays.
        for container in pod.spec.initContainers ?? [] {
            let latest = current(container.name)
            if container.restartPolicy == "Always" {
                if latest?.state == .running {
                    try await killIfUnhealthy(container, latest!)
                    if probes[container.name]?.started == false { return }
                    continue
                }
                try await startOrBackOff(container, state: state, sandbox: sandbox, now: now)
                return
            }
            switch latest?.state {
            case .exited? where latest!.exitCode == 0:
                continue
            case .running?, .created?, .unknown?:
                return
            case .exited?:
                if policy == "Never" { return }
                try await startOrBackOff(container, state: state, sandbox: sandbox, now: now)
                return
            case nil:
                try await startOrBackOff(container, state: state, sandbox: sandbox, now: now)
                return
            }
        }
        for container in pod.spec.containers {
            let latest = current(container.name)
            switch latest?.state {
            case .running?:
                if latest!.hash != ContainerConfigBuilder.hash(container) {
                    logger.info("container spec changed, restarting", metadata: ["pod": "\(pod.key)", "container": "\(container.name)"])
                    try await kill(latest!, container: container, grace: gracePeriod)
                } else {
                    try await killIfUnhealthy(container, latest!)
                }
            case .exited?:
                let failed = latest!.exitCode != 0
                guard policy == "Always" || (policy == "OnFailure" && failed) else { continue }
                try await startOrBackOff(container, state: state, sandbox: sandbox, now: now)
            case .created?, .unknown?:
                // Left over from an interrupted start: remove it and start afresh.
                try await remove(latest!)
                try await startOrBackOff(container, state: state, sandbox: sandbox, now: now)
            case nil:
                try await startOrBackOff(container, state: state, sandbox: sandbox, now: now)
            }
        }
    }

    var gracePeriod: Int64 { max(0, pod.spec.terminationGracePeriodSeconds ?? 30) }

    func killIfUnhealthy(_ container: Container, _ running: RuntimeContainer) async throws(KubeletError) {
        guard let reason = probes[container.name]?.restartReason, probes[container.name]?.containerID == running.id else { return }
        logger.info("\(reason), restarting", metadata: ["pod": "\(pod.key)", "container": "\(container.name)"])
        let probeGrace = container.livenessProbe?.terminationGracePeriodSeconds
        try await kill(running, container: container, grace: probeGrace ?? gracePeriod)
    }

    /// Starts `container` unless its last run ended less than the crash-loop back-off ago.
    func startOrBackOff(_ container: Container, state: RuntimePod, sandbox: RuntimeSandbox, now: Date) async throws(KubeletError) {
        let previous = state.latest(container.name)
        if let previous, previous.state == .exited {
            let finished = exitTime(previous, now: now)
            if let left = crashBackOff.remaining(container.name, since: finished, now: now) {
                let delay = crashBackOff.delay(container.name) ?? left
                waiting[container.name] = ContainerStateWaiting(
                    reason: "CrashLoopBackOff",
                    message: "back-off \(Int(delay.seconds))s restarting failed container=\(container.name) pod=\(pod.metadata.name ?? "")_\(pod.metadata.namespace ?? "")(\(uid))")
                return
            }
            crashBackOff.next(container.name, eventTime: finished)
        }
        let restartCount = previous.map { $0.restartCount + 1 } ?? 0
        guard let imageRef = await ensureImage(container, now: now) else { return }
        _ = imageRef
        let runtimeInfo = ContainerConfigBuilder.Runtime(podIP: sandbox.ip, podIPs: [sandbox.ip] + sandbox.additionalIPs)
        let config: Runtime_V1_ContainerConfig
        let sandboxConfig: Runtime_V1_PodSandboxConfig
        do {
            let objects = try await podObjects()
            if volumePaths == nil { volumePaths = try volumes.setUp(pod: pod, runtime: runtimeInfo, objects: objects) }
            let mounts = try volumes.mounts(pod: pod, container: container, restartCount: restartCount, volumePaths: volumePaths ?? [:])
            config = try ContainerConfigBuilder.make(pod: pod, container: container, restartCount: restartCount, mounts: mounts,
                                                     runtime: runtimeInfo, node: node, objects: objects)
            sandboxConfig = try SandboxConfigBuilder.make(pod: pod, attempt: sandbox.attempt, node: node)
        } catch {
            waiting[container.name] = ContainerStateWaiting(reason: "CreateContainerConfigError", message: error.description)
            return
        }
        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandbox.id
        create.config = config
        create.sandboxConfig = sandboxConfig
        let id: String
        do { id = try await runtime.createContainer(create).containerID } catch {
            waiting[container.name] = ContainerStateWaiting(reason: "CreateContainerError", message: "\(error)")
            return
        }
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = id
        do { _ = try await runtime.startContainer(start) } catch {
            waiting[container.name] = ContainerStateWaiting(reason: "RunContainerError", message: "\(error)")
            return
        }
        waiting[container.name] = nil
        probes[container.name] = nil
        logger.info("started container", metadata: ["pod": "\(pod.key)", "container": "\(container.name)", "id": "\(id)", "restartCount": "\(restartCount)"])
        if let postStart = container.lifecycle?.postStart {
            do {
                try await hooks.run(postStart, name: "PostStart", container: container, containerID: id, podIP: sandbox.ip, timeout: .seconds(gracePeriod))
            } catch {
                // Upstream kills a container whose postStart hook failed; it is then restarted per policy.
                waiting[container.name] = ContainerStateWaiting(reason: "PostStartHookError", message: error.description)
                var stop = Runtime_V1_StopContainerRequest()
                stop.containerID = id
                stop.timeout = gracePeriod
                _ = try? await runtime.stopContainer(stop)
            }
        }
        // Keep one exited instance per container (for lastState), as upstream's container GC.
        for old in state.containers where old.name == container.name && old.state == .exited && old.id != previous?.id {
            try await remove(old)
        }
    }

    /// Makes sure the image is present per the pull policy. Returns nil, with the reason
    /// recorded, when the container cannot start.
    func ensureImage(_ container: Container, now: Date) async -> String? {
        let image = container.image ?? ""
        let policy = container.imagePullPolicy ?? Self.defaultPullPolicy(image)
        var statusRequest = Runtime_V1_ImageStatusRequest()
        statusRequest.image.image = image
        let present: String?
        do {
            let found = try await runtime.imageStatus(statusRequest).image
            present = found.id.isEmpty ? nil : found.id
        } catch {
            waiting[container.name] = ContainerStateWaiting(reason: "ErrImageInspect", message: "\(error)")
            return nil
        }
        switch policy {
        case "Never":
            guard let present else {
                waiting[container.name] = ContainerStateWaiting(reason: "ErrImageNeverPull", message: "Container image \"\(image)\" is not present with pull policy of Never")
                return nil
            }
            return present
        case "IfNotPresent" where present != nil:
            return present
        default:
            if let failed = imageFailures[image], imageBackOff.remaining(image, since: failed, now: now) != nil {
                waiting[container.name] = ContainerStateWaiting(reason: "ImagePullBackOff", message: "Back-off pulling image \"\(image)\"")
                return nil
            }
            var pull = Runtime_V1_PullImageRequest()
            pull.image.image = image
            do {
                let ref = try await runtime.pullImage(pull).imageRef
                imageFailures[image] = nil
                imageBackOff.reset(image)
                return ref
            } catch {
                imageFailures[image] = now
                imageBackOff.next(image, eventTime: now)
                waiting[container.name] = ContainerStateWaiting(reason: "ErrImagePull", message: "\(error)")
                return nil
            }
        }
    }

    /// Upstream's default: Always for `:latest` or an untagged image, IfNotPresent otherwise.
    public static func defaultPullPolicy(_ image: String) -> String {
        if image.contains("@") { return "IfNotPresent" }
        let last = image.split(separator: "/").last.map(String.init) ?? image
        guard let colon = last.lastIndex(of: ":") else { return "Always" }
        return last[last.index(after: colon)...] == "latest" ? "Always" : "IfNotPresent"
    }

    func remove(_ container: RuntimeContainer) async throws(KubeletError) {
        var request = Runtime_V1_RemoveContainerRequest()
        request.containerID = container.id
        do { _ = try await runtime.removeContainer(request) } catch {
            throw KubeletError(.runtime, "remove container \(container.id) (\(container.name)) of pod \(pod.key)", cause: error)
        }
    }

    /// Stops one container: its preStop hook within the grace period, then StopContainer with
    /// what is left of it (SIGTERM, SIGKILL when it runs out).
    func kill(_ running: RuntimeContainer, container: Container?, grace: Int64) async throws(KubeletError) {
        let start = ContinuousClock.now
        if let container, let preStop = container.lifecycle?.preStop, running.state == .running, grace > 0 {
            do {
                try await hooks.run(preStop, name: "PreStop", container: container, containerID: running.id,
                                    podIP: runtimePod.readySandbox?.ip ?? "", timeout: .seconds(grace))
            } catch {
                logger.warning("preStop hook failed", metadata: ["pod": "\(pod.key)", "container": "\(running.name)", "error": "\(error)"])
            }
        }
        let left = max(0, grace - Int64((ContinuousClock.now - start).seconds))
        var request = Runtime_V1_StopContainerRequest()
        request.containerID = running.id
        // Upstream gives at least 2 seconds after preStop for SIGTERM to take effect.
        request.timeout = grace == 0 ? 0 : max(2, left)
        do { _ = try await runtime.stopContainer(request, timeout: .seconds(request.timeout + 30)) } catch {
            throw KubeletError(.runtime, "stop container \(running.id) (\(running.name)) of pod \(pod.key)", cause: error)
        }
    }

    // MARK: Probes

    func runProbes(_ state: RuntimePod, sandbox: RuntimeSandbox, now: Date) async {
        for container in allContainers {
            guard let running = state.containers.first(where: { $0.name == container.name && $0.state == .running && $0.sandboxID == sandbox.id }),
                  let startedAt = running.startedAt else {
                probes[container.name] = nil
                continue
            }
            if probes[container.name]?.containerID != running.id {
                probes[container.name] = ContainerProbes(containerID: running.id, container: container)
            }
            guard var current = probes[container.name] else { continue }
            for kind in current.due(now: now, startedAt: startedAt) {
                let spec: KubeAPI.Probe? = kind == .startup ? container.startupProbe : kind == .liveness ? container.livenessProbe : container.readinessProbe
                guard let spec, let timing = current.states[kind]?.timing else { continue }
                let outcome: ProbeOutcome
                do {
                    let target = try ProbeTarget.resolve(spec, container: container, podIP: sandbox.ip)
                    outcome = await prober.run(target, containerID: running.id, timeout: timing.timeout)
                } catch {
                    outcome = ProbeOutcome(result: .failure, message: error.description)
                }
                current.record(kind, outcome: outcome, at: now)
                if outcome.result != .success {
                    logger.debug("probe failed", metadata: ["pod": "\(pod.key)", "container": "\(container.name)", "probe": "\(kind)", "message": "\(outcome.message)"])
                }
            }
            probes[container.name] = current
        }
    }

    // MARK: Termination

    /// Stops the pod: every running container is killed at once (preStop, SIGTERM, SIGKILL
    /// after `gracePeriod` seconds, the pod's own when nil), then its sandboxes stop. With
    /// `remove`, containers, sandboxes and the pod's directories are removed afterwards.
    public func terminate(gracePeriod override: Int64? = nil, remove: Bool) async throws(KubeletError) {
        let grace = override ?? gracePeriod
        let state = try await inspector.pod(uid: uid)
        runtimePod = state
        let specs = Dictionary(allContainers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let errors = await withTaskGroup(of: KubeletError?.self) { group in
            for running in state.containers where running.state == .running || running.state == .created {
                let spec = specs[running.name]
                group.addTask {
                    do throws(KubeletError) { try await self.kill(running, container: spec, grace: grace) } catch { return error }
                    return nil
                }
            }
            var errors: [KubeletError] = []
            for await case let error? in group { errors.append(error) }
            return errors
        }
        if let first = errors.first { throw first }
        for sandbox in state.sandboxes {
            var request = Runtime_V1_StopPodSandboxRequest()
            request.podSandboxID = sandbox.id
            do { _ = try await runtime.stopPodSandbox(request) } catch {
                throw KubeletError(.runtime, "stop sandbox \(sandbox.id) of pod \(pod.key)", cause: error)
            }
        }
        if remove {
            for container in state.containers { try await self.remove(container) }
            for sandbox in state.sandboxes {
                var request = Runtime_V1_RemovePodSandboxRequest()
                request.podSandboxID = sandbox.id
                do { _ = try await runtime.removePodSandbox(request) } catch {
                    throw KubeletError(.runtime, "remove sandbox \(sandbox.id) of pod \(pod.key)", cause: error)
                }
            }
            try volumes.tearDown(podUID: uid)
            await objectReader?.podRemoved(uid: uid)
        }
        runtimePod = (try? await inspector.pod(uid: uid)) ?? RuntimePod(uid: uid)
    }

    /// A pod that has finished (Succeeded or Failed) keeps no running containers or sandbox.
    func stopFinishedPod(_ state: RuntimePod) async throws(KubeletError) {
        guard !state.runningContainers.isEmpty || state.readySandbox != nil else { return }
        try await terminate(remove: false)
    }
}

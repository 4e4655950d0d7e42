import Foundation
import KubeAPI

/// Computes a pod's status from its spec, what the runtime holds, probe results and the
/// reasons the worker recorded for containers it could not start. A pure function: no I/O, the
/// time is passed in; table-tested.
public enum PodStatusBuilder {
    /// What the worker knows about a container beyond the runtime's view.
    public struct ContainerInfo: Sendable, Hashable {
        /// Why it is waiting (ErrImagePull, CrashLoopBackOff, CreateContainerConfigError...).
        public var waiting: ContainerStateWaiting?
        public var started: Bool
        public var ready: Bool
        public init(waiting: ContainerStateWaiting? = nil, started: Bool = true, ready: Bool = true) {
            self.waiting = waiting
            self.started = started
            self.ready = ready
        }
    }

    public static func make(pod: Pod, runtime: RuntimePod, info: [String: ContainerInfo], node: NodeInfo,
                            now: Date, previous: PodStatus?, terminationMessages: [String: String] = [:]) -> PodStatus {
        var status = PodStatus()
        let sandbox = runtime.readySandbox
        let currentSandboxID = sandbox?.id ?? runtime.sandboxes.first?.id ?? ""
        let inits = pod.spec.initContainers ?? []
        status.initContainerStatuses = inits.isEmpty ? nil : inits.map {
            containerStatus($0, runtime: runtime, info: info[$0.name], node: node, sandboxID: currentSandboxID, pendingReason: "PodInitializing", messages: terminationMessages)
        }
        let initDone = initialized(inits, statuses: status.initContainerStatuses ?? [])
        status.containerStatuses = pod.spec.containers.map {
            containerStatus($0, runtime: runtime, info: info[$0.name], node: node, sandboxID: currentSandboxID,
                            pendingReason: initDone ? "ContainerCreating" : "PodInitializing", messages: terminationMessages)
        }
        status.phase = phase(pod: pod, initDone: initDone, statuses: status)
        status.qosClass = QOSClass(pod.spec).rawValue
        status.hostIP = node.hostIP.isEmpty ? nil : node.hostIP
        status.hostIPs = node.hostIP.isEmpty ? nil : [PodIP(ip: node.hostIP)]
        if let sandbox, !sandbox.ip.isEmpty {
            status.podIP = sandbox.ip
            status.podIPs = ([sandbox.ip] + sandbox.additionalIPs).map(PodIP.init(ip:))
        } else if pod.spec.hostNetwork == true, sandbox != nil, !node.hostIP.isEmpty {
            status.podIP = node.hostIP
            status.podIPs = [PodIP(ip: node.hostIP)]
        }
        status.startTime = previous?.startTime ?? now.rfc3339

        let terminal = status.phase == "Succeeded" || status.phase == "Failed"
        let unready = pod.spec.containers.filter { c in !(status.containerStatuses?.first { $0.name == c.name }?.ready ?? false) }.map(\.name)
        let incomplete = inits.filter { c in
            guard let s = status.initContainerStatuses?.first(where: { $0.name == c.name }) else { return true }
            if c.restartPolicy == "Always" { return s.started != true }
            return s.state?.terminated?.exitCode != 0 || s.state?.terminated == nil
        }.map(\.name)
        var conditions: [PodCondition] = []
        conditions.append(condition("PodReadyToStartContainers", sandbox != nil))
        conditions.append(initDone
            ? condition("Initialized", true)
            : condition("Initialized", false, reason: "ContainersNotInitialized", message: "containers with incomplete status: [\(incomplete.joined(separator: " "))]"))
        let ready = unready.isEmpty && !terminal
        let readyReason = terminal ? "PodCompleted" : "ContainersNotReady"
        let readyMessage = terminal ? nil : "containers with unready status: [\(unready.joined(separator: " "))]"
        conditions.append(ready ? condition("Ready", true) : condition("Ready", false, reason: readyReason, message: readyMessage))
        conditions.append(ready ? condition("ContainersReady", true) : condition("ContainersReady", false, reason: readyReason, message: readyMessage))
        conditions.append(condition("PodScheduled", true))
        // A condition keeps its transition time until its status changes.
        for i in conditions.indices {
            let old = previous?.conditions?.first { $0.type == conditions[i].type }
            conditions[i].lastTransitionTime = (old?.status == conditions[i].status ? old?.lastTransitionTime : nil) ?? now.rfc3339
        }
        status.conditions = conditions
        return status
    }

    static func condition(_ type: String, _ value: Bool, reason: String? = nil, message: String? = nil) -> PodCondition {
        PodCondition(type: type, status: value ? "True" : "False", reason: reason, message: message)
    }

    /// Whether every init container has completed (or, for sidecars, started).
    static func initialized(_ inits: [Container], statuses: [ContainerStatus]) -> Bool {
        inits.allSatisfy { c in
            guard let s = statuses.first(where: { $0.name == c.name }) else { return false }
            if c.restartPolicy == "Always" { return s.started == true }
            return s.state?.terminated?.exitCode == 0
        }
    }

    static func containerStatus(_ container: Container, runtime: RuntimePod, info: ContainerInfo?, node: NodeInfo,
                                sandboxID: String, pendingReason: String, messages: [String: String]) -> ContainerStatus {
        var status = ContainerStatus(name: container.name, image: container.image ?? "")
        let all = runtime.containers.filter { $0.name == container.name }
        let latest = all.first
        let previous = all.dropFirst().first
        status.restartCount = Int32(clamping: latest?.restartCount ?? 0)
        if let latest {
            status.imageID = latest.imageRef
            status.containerID = "\(node.runtimeName)://\(latest.id)"
        }
        let waiting = info?.waiting
        switch latest?.state {
        case .running? where latest?.sandboxID == sandboxID || sandboxID.isEmpty:
            status.state = ContainerState(running: ContainerStateRunning(startedAt: latest?.startedAt?.rfc3339))
            status.lastState = previous.flatMap { terminated($0, node: node, message: messages[$0.id]) }.map { ContainerState(terminated: $0) }
            status.started = info?.started ?? true
            status.ready = info?.ready ?? true
        case .exited?, .running?:
            let last = latest.flatMap { terminated($0, node: node, message: messages[$0.id]) }
            if let waiting {
                status.state = ContainerState(waiting: waiting)
                status.lastState = last.map { ContainerState(terminated: $0) }
            } else {
                status.state = last.map { ContainerState(terminated: $0) }
                status.lastState = previous.flatMap { terminated($0, node: node, message: messages[$0.id]) }.map { ContainerState(terminated: $0) }
            }
            status.started = false
        default:
            status.state = ContainerState(waiting: waiting ?? ContainerStateWaiting(reason: pendingReason))
            status.lastState = previous.flatMap { terminated($0, node: node, message: messages[$0.id]) }.map { ContainerState(terminated: $0) }
            status.started = false
        }
        if status.lastState == nil { status.lastState = ContainerState() }
        return status
    }

    static func terminated(_ container: RuntimeContainer, node: NodeInfo, message: String?) -> ContainerStateTerminated? {
        guard container.state == .exited || container.state == .running else { return nil }
        // A container seen running in an old sandbox is reported as terminated by the sandbox's end.
        let exitCode = container.state == .exited ? container.exitCode : 137
        var state = ContainerStateTerminated(exitCode: exitCode)
        state.reason = container.reason.isEmpty ? (exitCode == 0 ? "Completed" : "Error") : container.reason
        state.message = (message?.isEmpty == false ? message : (container.message.isEmpty ? nil : container.message))
        state.startedAt = container.startedAt?.rfc3339
        state.finishedAt = container.finishedAt?.rfc3339
        state.containerID = "\(node.runtimeName)://\(container.id)"
        return state
    }

    /// Upstream's phase rules: Pending until initialized or while a container waits without
    /// having run; Running while any runs; when all have stopped, Succeeded if all exited 0,
    /// Failed under restartPolicy Never with a failure, Running while they will be restarted.
    static func phase(pod: Pod, initDone: Bool, statuses: PodStatus) -> String {
        let policy = pod.spec.restartPolicy ?? "Always"
        for (c, s) in zip(pod.spec.initContainers ?? [], statuses.initContainerStatuses ?? []) where c.restartPolicy != "Always" {
            if policy == "Never", let t = s.state?.terminated, t.exitCode != 0 { return "Failed" }
        }
        if !initDone { return "Pending" }
        var running = 0, waiting = 0, stopped = 0, succeeded = 0
        for s in statuses.containerStatuses ?? [] {
            if s.state?.running != nil {
                running += 1
            } else if let t = s.state?.terminated {
                stopped += 1
                if t.exitCode == 0 { succeeded += 1 }
            } else if s.lastState?.terminated != nil {
                stopped += 1
            } else {
                waiting += 1
            }
        }
        if waiting > 0 { return "Pending" }
        if running > 0 { return "Running" }
        if stopped > 0 {
            if policy == "Always" { return "Running" }
            if stopped == succeeded { return "Succeeded" }
            if policy == "Never" { return "Failed" }
            return "Running"
        }
        return "Pending"
    }
}

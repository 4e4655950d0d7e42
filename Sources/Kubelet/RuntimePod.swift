import CRI
import Foundation

/// One sandbox of a pod as the runtime reports it.
public struct RuntimeSandbox: Sendable, Hashable {
    public var id: String
    public var attempt: UInt32
    public var ready: Bool
    public var createdAt: Date
    /// The pod IP (empty for a sandbox that is not ready or was not asked for yet).
    public var ip: String
    public var additionalIPs: [String]

    public init(id: String, attempt: UInt32, ready: Bool, createdAt: Date, ip: String = "", additionalIPs: [String] = []) {
        self.id = id
        self.attempt = attempt
        self.ready = ready
        self.createdAt = createdAt
        self.ip = ip
        self.additionalIPs = additionalIPs
    }
}

/// One container of a pod as the runtime reports it (ListContainers plus ContainerStatus).
public struct RuntimeContainer: Sendable, Hashable {
    public enum State: String, Sendable, Hashable { case created, running, exited, unknown }
    public var id: String
    public var sandboxID: String
    public var name: String
    public var state: State
    /// The kubelet's restart count when it created this container (annotation).
    public var restartCount: Int
    /// The hash of the container spec it was created from (annotation).
    public var hash: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var exitCode: Int32
    /// The runtime's reason for an exit: `Completed`, `Error`, `OOMKilled`.
    public var reason: String
    public var message: String
    public var image: String
    public var imageRef: String
    public var logPath: String
    public var annotations: [String: String]

    public init(id: String, sandboxID: String = "", name: String, state: State, restartCount: Int = 0, hash: String = "",
                createdAt: Date, startedAt: Date? = nil, finishedAt: Date? = nil, exitCode: Int32 = 0,
                reason: String = "", message: String = "", image: String = "", imageRef: String = "", logPath: String = "",
                annotations: [String: String] = [:]) {
        self.id = id
        self.sandboxID = sandboxID
        self.name = name
        self.state = state
        self.restartCount = restartCount
        self.hash = hash
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.reason = reason
        self.message = message
        self.image = image
        self.imageRef = imageRef
        self.logPath = logPath
        self.annotations = annotations
    }
}

/// Everything the runtime holds for one pod UID: sandboxes newest first, containers newest first.
public struct RuntimePod: Sendable, Hashable {
    public var uid: String
    public var name: String
    public var namespace: String
    public var sandboxes: [RuntimeSandbox]
    public var containers: [RuntimeContainer]

    public init(uid: String, name: String = "", namespace: String = "", sandboxes: [RuntimeSandbox] = [], containers: [RuntimeContainer] = []) {
        self.uid = uid
        self.name = name
        self.namespace = namespace
        self.sandboxes = sandboxes.sorted { ($0.createdAt, $0.attempt) > ($1.createdAt, $1.attempt) }
        self.containers = containers.sorted { ($0.createdAt, $0.restartCount) > ($1.createdAt, $1.restartCount) }
    }

    /// The newest sandbox, if it is ready.
    public var readySandbox: RuntimeSandbox? {
        sandboxes.first.flatMap { $0.ready ? $0 : nil }
    }

    /// The newest container named `name`.
    public func latest(_ name: String) -> RuntimeContainer? {
        containers.first { $0.name == name }
    }

    /// The container named `name` before the newest one (for `lastState`).
    public func previous(_ name: String) -> RuntimeContainer? {
        containers.filter { $0.name == name }.dropFirst().first
    }

    public var runningContainers: [RuntimeContainer] { containers.filter { $0.state == .running } }
}

/// Reads pods from the runtime: sandboxes and containers carrying the kubelet's pod-UID label.
/// Objects without it (made by other CRI clients) are not the kubelet's and are ignored.
public struct RuntimeInspector: Sendable {
    public let runtime: any ContainerRuntime

    public init(runtime: any ContainerRuntime) { self.runtime = runtime }

    /// One pod, read fresh: ListPodSandbox and ListContainers filtered by its UID label, then
    /// ContainerStatus of each container (exit codes and times are only there).
    public func pod(uid: String) async throws(KubeletError) -> RuntimePod {
        var sandboxFilter = Runtime_V1_PodSandboxFilter()
        sandboxFilter.labelSelector = [KubeletLabels.podUID: uid]
        var containerFilter = Runtime_V1_ContainerFilter()
        containerFilter.labelSelector = [KubeletLabels.podUID: uid]
        return try await pods(sandboxFilter: sandboxFilter, containerFilter: containerFilter)[uid] ?? RuntimePod(uid: uid)
    }

    /// Every pod the kubelet made, keyed by UID.
    public func allPods() async throws(KubeletError) -> [String: RuntimePod] {
        try await pods(sandboxFilter: Runtime_V1_PodSandboxFilter(), containerFilter: Runtime_V1_ContainerFilter())
    }

    func pods(sandboxFilter: Runtime_V1_PodSandboxFilter, containerFilter: Runtime_V1_ContainerFilter) async throws(KubeletError) -> [String: RuntimePod] {
        var sandboxRequest = Runtime_V1_ListPodSandboxRequest()
        sandboxRequest.filter = sandboxFilter
        var containerRequest = Runtime_V1_ListContainersRequest()
        containerRequest.filter = containerFilter
        let sandboxItems: [Runtime_V1_PodSandbox]
        let containerItems: [Runtime_V1_Container]
        do {
            sandboxItems = try await runtime.listPodSandbox(sandboxRequest).items
            containerItems = try await runtime.listContainers(containerRequest).containers
        } catch {
            throw KubeletError(.runtime, "list pod sandboxes and containers", cause: error)
        }
        var sandboxes: [String: [RuntimeSandbox]] = [:]
        var names: [String: (String, String)] = [:]
        for item in sandboxItems {
            guard let uid = item.labels[KubeletLabels.podUID] else { continue }
            var sandbox = RuntimeSandbox(id: item.id, attempt: item.metadata.attempt, ready: item.state == .sandboxReady,
                                         createdAt: Date(nanoseconds: item.createdAt))
            if sandbox.ready {
                var request = Runtime_V1_PodSandboxStatusRequest()
                request.podSandboxID = item.id
                // A sandbox removed between the list and this call is simply gone.
                if let status = try? await runtime.podSandboxStatus(request).status {
                    sandbox.ip = status.network.ip
                    sandbox.additionalIPs = status.network.additionalIps.map(\.ip)
                }
            }
            sandboxes[uid, default: []].append(sandbox)
            names[uid] = (item.metadata.name, item.metadata.namespace)
        }
        var containers: [String: [RuntimeContainer]] = [:]
        for item in containerItems {
            guard let uid = item.labels[KubeletLabels.podUID] else { continue }
            var request = Runtime_V1_ContainerStatusRequest()
            request.containerID = item.id
            guard let status = try? await runtime.containerStatus(request).status else { continue }
            containers[uid, default: []].append(Self.container(item, status))
        }
        var result: [String: RuntimePod] = [:]
        for uid in Set(sandboxes.keys).union(containers.keys) {
            let (name, namespace) = names[uid] ?? ("", "")
            result[uid] = RuntimePod(uid: uid, name: name, namespace: namespace, sandboxes: sandboxes[uid] ?? [], containers: containers[uid] ?? [])
        }
        return result
    }

    static func container(_ item: Runtime_V1_Container, _ status: Runtime_V1_ContainerStatus) -> RuntimeContainer {
        let state: RuntimeContainer.State
        switch status.state {
        case .containerCreated: state = .created
        case .containerRunning: state = .running
        case .containerExited: state = .exited
        default: state = .unknown
        }
        return RuntimeContainer(
            id: item.id, sandboxID: item.podSandboxID,
            name: item.labels[KubeletLabels.containerName] ?? item.metadata.name,
            state: state,
            restartCount: Int(item.annotations[KubeletLabels.restartCount] ?? "") ?? Int(item.metadata.attempt),
            hash: item.annotations[KubeletLabels.containerHash] ?? "",
            createdAt: Date(nanoseconds: status.createdAt),
            startedAt: status.startedAt > 0 ? Date(nanoseconds: status.startedAt) : nil,
            finishedAt: status.finishedAt > 0 ? Date(nanoseconds: status.finishedAt) : nil,
            exitCode: status.exitCode, reason: status.reason, message: status.message,
            image: status.image.image, imageRef: status.imageRef, logPath: status.logPath,
            annotations: item.annotations)
    }
}

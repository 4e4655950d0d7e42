import CRI
import Foundation

/// A stateful in-memory ``ContainerRuntime`` for unit tests of CRI callers (kubelet, nodectl).
///
/// It simulates what containerd's CRI plugin keeps: pod sandboxes (ready → not ready → removed),
/// containers (created → running → exited → removed), local images and a pretend registry to
/// pull from. Errors match a runtime's: `notFound` for unknown ids, `failedPrecondition` for a
/// call in the wrong state, `alreadyExists` for a reused sandbox or container name; stop and
/// remove calls are idempotent. Ids are 64 hex digits, and like containerd the fake accepts any
/// unique prefix of one.
///
/// Time comes from ``now`` (nanoseconds since the epoch), moved only by ``advance(by:)``, so
/// tests never sleep. Test hooks (`add…`, `exit…`, `inject…`) change state the way the world
/// outside the CRI would: an image appears, a container's process exits, a call fails.
public actor FakeRuntime: ContainerRuntime {
    public struct Sandbox: Sendable {
        public var id: String
        public var config: Runtime_V1_PodSandboxConfig
        public var state: Runtime_V1_PodSandboxState
        public var createdAt: Int64
        public var ip: String
        public var runtimeHandler: String
    }

    public struct Container: Sendable {
        public var id: String
        public var sandboxID: String
        public var config: Runtime_V1_ContainerConfig
        public var imageID: String
        public var state: Runtime_V1_ContainerState
        public var createdAt: Int64
        public var startedAt: Int64 = 0
        public var finishedAt: Int64 = 0
        public var exitCode: Int32 = 0
        public var reason = ""
        public var logPath: String
        public var resources: Runtime_V1_LinuxContainerResources
        public var cpuUsageNanos: UInt64 = 0
        public var memoryWorkingSetBytes: UInt64 = 0
    }

    public let runtimeName: String
    public let runtimeVersion: String
    /// The fake clock, nanoseconds since the Unix epoch.
    public private(set) var now: Int64
    public private(set) var sandboxes: [String: Sandbox] = [:]
    public private(set) var containers: [String: Container] = [:]
    /// Local images by id (`sha256:…`).
    public private(set) var images: [String: Runtime_V1_Image] = [:]
    /// Every call received, in order, including failed ones.
    public private(set) var calls: [CRICall] = []
    /// The pod CIDR last set through UpdateRuntimeConfig.
    public private(set) var podCIDR = ""

    private var registry: [String: UInt64] = [:]
    private var execResults: [String: [[String]: Runtime_V1_ExecSyncResponse]] = [:]
    private var injected: [CRICall: [CRIError]] = [:]
    private var networkReady = (ready: true, reason: "", message: "")
    private var counter: UInt64 = 0

    public init(runtimeName: String = "fake-runtime", runtimeVersion: String = "0.1.0",
                now: Int64 = 1_700_000_000_000_000_000) {
        self.runtimeName = runtimeName
        self.runtimeVersion = runtimeVersion
        self.now = now
    }

    // MARK: Test hooks

    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        now += seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Makes `reference` a local image (as `ctr images import` would) and returns its id.
    @discardableResult
    public func addImage(_ reference: String, size: UInt64 = 1 << 20) -> String {
        let name = Self.normalize(reference)
        let id = "sha256:" + Self.hex(of: name)
        var image = images[id] ?? Runtime_V1_Image()
        image.id = id
        if !image.repoTags.contains(name) { image.repoTags.append(name) }
        image.size = size
        image.spec.image = id
        images[id] = image
        return id
    }

    /// Makes `reference` pullable: PullImage of it succeeds and adds it locally.
    public func addToRegistry(_ reference: String, size: UInt64 = 1 << 20) {
        registry[Self.normalize(reference)] = size
    }

    /// What ExecSync of `command` in `containerID` returns. Without one, the fake runs the
    /// built-ins `echo`, `true` and `false`, and fails any other command like a runtime whose
    /// OCI exec cannot find the executable.
    public func setExecResult(containerID: String, command: [String], stdout: String = "", stderr: String = "", exitCode: Int32 = 0) {
        var response = Runtime_V1_ExecSyncResponse()
        response.stdout = Data(stdout.utf8)
        response.stderr = Data(stderr.utf8)
        response.exitCode = exitCode
        execResults[containerID, default: [:]][command] = response
    }

    /// The container's process exits by itself with `exitCode`.
    public func exitContainer(_ id: String, exitCode: Int32, reason: String? = nil) throws(CRIError) {
        let id = try resolveContainer(id, for: .containerStatus)
        guard containers[id]?.state == .containerRunning else {
            throw .runtime(.containerStatus, .failedPrecondition, "container \(id) is not running")
        }
        finish(id, exitCode: exitCode, reason: reason ?? (exitCode == 0 ? "Completed" : "Error"))
    }

    /// Sets what ContainerStats reports for a container.
    public func setUsage(containerID: String, cpuNanos: UInt64, memoryWorkingSetBytes: UInt64) throws(CRIError) {
        let id = try resolveContainer(containerID, for: .containerStats)
        containers[id]?.cpuUsageNanos = cpuNanos
        containers[id]?.memoryWorkingSetBytes = memoryWorkingSetBytes
    }

    /// Reports the pod network as not ready in Status (as before a CNI config exists).
    public func setNetworkReady(_ ready: Bool, reason: String = "", message: String = "") {
        networkReady = (ready, reason, message)
    }

    /// The next call of kind `call` fails with `error` (once per injected error, in order).
    public func inject(_ error: CRIError, into call: CRICall) {
        injected[call, default: []].append(error)
    }

    // MARK: Version and status

    public func version(_ request: Runtime_V1_VersionRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_VersionResponse {
        try begin(.version)
        var response = Runtime_V1_VersionResponse()
        response.version = "0.1.0"
        response.runtimeName = runtimeName
        response.runtimeVersion = runtimeVersion
        response.runtimeApiVersion = "v1"
        return response
    }

    public func status(_ request: Runtime_V1_StatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StatusResponse {
        try begin(.status)
        var runtimeReady = Runtime_V1_RuntimeCondition()
        runtimeReady.type = "RuntimeReady"
        runtimeReady.status = true
        var network = Runtime_V1_RuntimeCondition()
        network.type = "NetworkReady"
        network.status = networkReady.ready
        network.reason = networkReady.reason
        network.message = networkReady.message
        var response = Runtime_V1_StatusResponse()
        response.status.conditions = [runtimeReady, network]
        var handler = Runtime_V1_RuntimeHandler()
        handler.name = "runc"
        response.runtimeHandlers = [handler]
        return response
    }

    public func updateRuntimeConfig(_ request: Runtime_V1_UpdateRuntimeConfigRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateRuntimeConfigResponse {
        try begin(.updateRuntimeConfig)
        podCIDR = request.runtimeConfig.networkConfig.podCidr
        return Runtime_V1_UpdateRuntimeConfigResponse()
    }

    // MARK: Sandboxes

    public func runPodSandbox(_ request: Runtime_V1_RunPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RunPodSandboxResponse {
        try begin(.runPodSandbox)
        let meta = request.config.metadata
        guard !meta.name.isEmpty, !meta.namespace.isEmpty, !meta.uid.isEmpty else {
            throw .runtime(.runPodSandbox, .invalidArgument, "sandbox config must include metadata name, namespace and uid")
        }
        if let other = sandboxes.values.first(where: { Self.sandboxName($0.config.metadata) == Self.sandboxName(meta) }) {
            throw .runtime(.runPodSandbox, .alreadyExists,
                           "failed to reserve sandbox name \"\(Self.sandboxName(meta))\": name is reserved for \"\(other.id)\"")
        }
        let id = newID()
        counter += 1
        sandboxes[id] = Sandbox(id: id, config: request.config, state: .sandboxReady, createdAt: now,
                                ip: "10.88.\(counter / 250).\(counter % 250 + 2)", runtimeHandler: request.runtimeHandler)
        var response = Runtime_V1_RunPodSandboxResponse()
        response.podSandboxID = id
        return response
    }

    public func stopPodSandbox(_ request: Runtime_V1_StopPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopPodSandboxResponse {
        try begin(.stopPodSandbox)
        let id = try resolveSandbox(request.podSandboxID, for: .stopPodSandbox)
        for container in containers.values where container.sandboxID == id && container.state != .containerExited {
            finish(container.id, exitCode: 137, reason: "Error")
        }
        sandboxes[id]?.state = .sandboxNotready
        return Runtime_V1_StopPodSandboxResponse()
    }

    public func removePodSandbox(_ request: Runtime_V1_RemovePodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemovePodSandboxResponse {
        try begin(.removePodSandbox)
        guard let id = try? resolveSandbox(request.podSandboxID, for: .removePodSandbox) else {
            return Runtime_V1_RemovePodSandboxResponse()
        }
        for container in containers.values where container.sandboxID == id {
            containers[container.id] = nil
        }
        sandboxes[id] = nil
        return Runtime_V1_RemovePodSandboxResponse()
    }

    public func podSandboxStatus(_ request: Runtime_V1_PodSandboxStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatusResponse {
        try begin(.podSandboxStatus)
        let id = try resolveSandbox(request.podSandboxID, for: .podSandboxStatus)
        let sandbox = sandboxes[id]!
        var status = Runtime_V1_PodSandboxStatus()
        status.id = id
        status.metadata = sandbox.config.metadata
        status.state = sandbox.state
        status.createdAt = sandbox.createdAt
        status.network.ip = sandbox.state == .sandboxReady ? sandbox.ip : ""
        status.labels = sandbox.config.labels
        status.annotations = sandbox.config.annotations
        status.runtimeHandler = sandbox.runtimeHandler
        status.linux.namespaces.options = sandbox.config.linux.securityContext.namespaceOptions
        var response = Runtime_V1_PodSandboxStatusResponse()
        response.status = status
        response.timestamp = now
        return response
    }

    public func listPodSandbox(_ request: Runtime_V1_ListPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListPodSandboxResponse {
        try begin(.listPodSandbox)
        let filter = request.filter
        var response = Runtime_V1_ListPodSandboxResponse()
        response.items = sandboxes.values
            .filter { sandbox in
                (filter.id.isEmpty || sandbox.id.hasPrefix(filter.id))
                    && (!filter.hasState || filter.state.state == sandbox.state)
                    && filter.labelSelector.allSatisfy { sandbox.config.labels[$0.key] == $0.value }
            }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            .map { sandbox in
                var item = Runtime_V1_PodSandbox()
                item.id = sandbox.id
                item.metadata = sandbox.config.metadata
                item.state = sandbox.state
                item.createdAt = sandbox.createdAt
                item.labels = sandbox.config.labels
                item.annotations = sandbox.config.annotations
                item.runtimeHandler = sandbox.runtimeHandler
                return item
            }
        return response
    }

    public func podSandboxStats(_ request: Runtime_V1_PodSandboxStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatsResponse {
        try begin(.podSandboxStats)
        let id = try resolveSandbox(request.podSandboxID, for: .podSandboxStats)
        let sandbox = sandboxes[id]!
        var stats = Runtime_V1_PodSandboxStats()
        stats.attributes.id = id
        stats.attributes.metadata = sandbox.config.metadata
        stats.attributes.labels = sandbox.config.labels
        stats.attributes.annotations = sandbox.config.annotations
        let members = containers.values.filter { $0.sandboxID == id }.sorted { $0.id < $1.id }
        stats.linux.containers = members.map(containerStats)
        stats.linux.cpu.timestamp = now
        stats.linux.cpu.usageCoreNanoSeconds.value = members.reduce(0) { $0 + $1.cpuUsageNanos }
        stats.linux.memory.timestamp = now
        stats.linux.memory.workingSetBytes.value = members.reduce(0) { $0 + $1.memoryWorkingSetBytes }
        var response = Runtime_V1_PodSandboxStatsResponse()
        response.stats = stats
        return response
    }

    // MARK: Containers

    public func createContainer(_ request: Runtime_V1_CreateContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_CreateContainerResponse {
        try begin(.createContainer)
        let sandboxID = try resolveSandbox(request.podSandboxID, for: .createContainer)
        let sandbox = sandboxes[sandboxID]!
        guard sandbox.state == .sandboxReady else {
            throw .runtime(.createContainer, .failedPrecondition, "sandbox \(sandboxID) is not ready")
        }
        let meta = request.config.metadata
        guard !meta.name.isEmpty else {
            throw .runtime(.createContainer, .invalidArgument, "container config must include metadata name")
        }
        if let other = containers.values.first(where: {
            $0.sandboxID == sandboxID && $0.config.metadata.name == meta.name && $0.config.metadata.attempt == meta.attempt
        }) {
            throw .runtime(.createContainer, .alreadyExists,
                           "failed to reserve container name \"\(meta.name)_\(meta.attempt)\": name is reserved for \"\(other.id)\"")
        }
        guard let imageID = lookupImage(request.config.image.image) else {
            throw .runtime(.createContainer, .notFound, "failed to resolve image \"\(request.config.image.image)\": not found")
        }
        let id = newID()
        var logPath = ""
        if !sandbox.config.logDirectory.isEmpty && !request.config.logPath.isEmpty {
            logPath = sandbox.config.logDirectory + "/" + request.config.logPath
        }
        containers[id] = Container(id: id, sandboxID: sandboxID, config: request.config, imageID: imageID,
                                   state: .containerCreated, createdAt: now, logPath: logPath,
                                   resources: request.config.linux.resources)
        var response = Runtime_V1_CreateContainerResponse()
        response.containerID = id
        return response
    }

    public func startContainer(_ request: Runtime_V1_StartContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StartContainerResponse {
        try begin(.startContainer)
        let id = try resolveContainer(request.containerID, for: .startContainer)
        guard let container = containers[id], container.state == .containerCreated else {
            throw .runtime(.startContainer, .failedPrecondition,
                           "container \(id) is in \(Self.name(containers[id]!.state)) state, not CONTAINER_CREATED")
        }
        containers[id]?.state = .containerRunning
        containers[id]?.startedAt = now
        return Runtime_V1_StartContainerResponse()
    }

    public func stopContainer(_ request: Runtime_V1_StopContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopContainerResponse {
        try begin(.stopContainer)
        guard let id = try? resolveContainer(request.containerID, for: .stopContainer) else {
            return Runtime_V1_StopContainerResponse()
        }
        if containers[id]?.state != .containerExited {
            // A graceful stop ends with SIGTERM's status, a forced one (timeout 0) with SIGKILL's.
            finish(id, exitCode: request.timeout > 0 ? 143 : 137, reason: "Error")
        }
        return Runtime_V1_StopContainerResponse()
    }

    public func removeContainer(_ request: Runtime_V1_RemoveContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveContainerResponse {
        try begin(.removeContainer)
        if let id = try? resolveContainer(request.containerID, for: .removeContainer) {
            containers[id] = nil
        }
        return Runtime_V1_RemoveContainerResponse()
    }

    public func listContainers(_ request: Runtime_V1_ListContainersRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainersResponse {
        try begin(.listContainers)
        let filter = request.filter
        var response = Runtime_V1_ListContainersResponse()
        response.containers = containers.values
            .filter { container in
                (filter.id.isEmpty || container.id.hasPrefix(filter.id))
                    && (filter.podSandboxID.isEmpty || container.sandboxID.hasPrefix(filter.podSandboxID))
                    && (!filter.hasState || filter.state.state == container.state)
                    && filter.labelSelector.allSatisfy { container.config.labels[$0.key] == $0.value }
            }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            .map { container in
                var item = Runtime_V1_Container()
                item.id = container.id
                item.podSandboxID = container.sandboxID
                item.metadata = container.config.metadata
                item.image = container.config.image
                item.imageRef = container.imageID
                item.imageID = container.imageID
                item.state = container.state
                item.createdAt = container.createdAt
                item.labels = container.config.labels
                item.annotations = container.config.annotations
                return item
            }
        return response
    }

    public func containerStatus(_ request: Runtime_V1_ContainerStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatusResponse {
        try begin(.containerStatus)
        let id = try resolveContainer(request.containerID, for: .containerStatus)
        let container = containers[id]!
        var status = Runtime_V1_ContainerStatus()
        status.id = id
        status.metadata = container.config.metadata
        status.state = container.state
        status.createdAt = container.createdAt
        status.startedAt = container.startedAt
        status.finishedAt = container.finishedAt
        status.exitCode = container.exitCode
        status.image = container.config.image
        status.imageRef = container.imageID
        status.imageID = container.imageID
        status.reason = container.reason
        status.labels = container.config.labels
        status.annotations = container.config.annotations
        status.mounts = container.config.mounts
        status.logPath = container.logPath
        status.resources.linux = container.resources
        var response = Runtime_V1_ContainerStatusResponse()
        response.status = status
        if request.verbose {
            response.info["info"] = "{\"sandboxID\":\"\(container.sandboxID)\"}"
        }
        return response
    }

    public func updateContainerResources(_ request: Runtime_V1_UpdateContainerResourcesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateContainerResourcesResponse {
        try begin(.updateContainerResources)
        let id = try resolveContainer(request.containerID, for: .updateContainerResources)
        guard containers[id]?.state != .containerExited else {
            throw .runtime(.updateContainerResources, .failedPrecondition, "container \(id) has exited")
        }
        containers[id]?.resources = request.linux
        return Runtime_V1_UpdateContainerResourcesResponse()
    }

    public func reopenContainerLog(_ request: Runtime_V1_ReopenContainerLogRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ReopenContainerLogResponse {
        try begin(.reopenContainerLog)
        let id = try resolveContainer(request.containerID, for: .reopenContainerLog)
        guard containers[id]?.state == .containerRunning else {
            throw .runtime(.reopenContainerLog, .failedPrecondition, "container \(id) is not running")
        }
        return Runtime_V1_ReopenContainerLogResponse()
    }

    // MARK: Exec, attach, port forward

    public func execSync(_ request: Runtime_V1_ExecSyncRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecSyncResponse {
        try begin(.execSync)
        let id = try requireRunning(request.containerID, for: .execSync)
        guard let executable = request.cmd.first else {
            throw .runtime(.execSync, .invalidArgument, "cmd must not be empty")
        }
        if let result = execResults[id]?[request.cmd] { return result }
        var response = Runtime_V1_ExecSyncResponse()
        switch executable {
        case "echo": response.stdout = Data((request.cmd.dropFirst().joined(separator: " ") + "\n").utf8)
        case "true": response.exitCode = 0
        case "false": response.exitCode = 1
        default:
            throw .runtime(.execSync, .unknown,
                           "failed to exec in container: OCI runtime exec failed: exec: \"\(executable)\": executable file not found in $PATH")
        }
        return response
    }

    public func exec(_ request: Runtime_V1_ExecRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecResponse {
        try begin(.exec)
        let id = try requireRunning(request.containerID, for: .exec)
        guard !request.cmd.isEmpty else { throw .runtime(.exec, .invalidArgument, "cmd must not be empty") }
        guard request.stdin || request.stdout || request.stderr else {
            throw .runtime(.exec, .invalidArgument, "one of stdin, stdout, or stderr must be set")
        }
        var response = Runtime_V1_ExecResponse()
        response.url = "http://127.0.0.1:0/exec/" + String(id.prefix(8)) + String(newID().prefix(8))
        return response
    }

    public func attach(_ request: Runtime_V1_AttachRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_AttachResponse {
        try begin(.attach)
        let id = try requireRunning(request.containerID, for: .attach)
        var response = Runtime_V1_AttachResponse()
        response.url = "http://127.0.0.1:0/attach/" + String(id.prefix(8)) + String(newID().prefix(8))
        return response
    }

    public func portForward(_ request: Runtime_V1_PortForwardRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PortForwardResponse {
        try begin(.portForward)
        let id = try resolveSandbox(request.podSandboxID, for: .portForward)
        guard sandboxes[id]?.state == .sandboxReady else {
            throw .runtime(.portForward, .failedPrecondition, "sandbox \(id) is not ready")
        }
        var response = Runtime_V1_PortForwardResponse()
        response.url = "http://127.0.0.1:0/portforward/" + String(id.prefix(8)) + String(newID().prefix(8))
        return response
    }

    // MARK: Stats

    public func containerStats(_ request: Runtime_V1_ContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatsResponse {
        try begin(.containerStats)
        let id = try resolveContainer(request.containerID, for: .containerStats)
        var response = Runtime_V1_ContainerStatsResponse()
        response.stats = containerStats(containers[id]!)
        return response
    }

    public func listContainerStats(_ request: Runtime_V1_ListContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainerStatsResponse {
        try begin(.listContainerStats)
        let filter = request.filter
        var response = Runtime_V1_ListContainerStatsResponse()
        response.stats = containers.values
            .filter { container in
                (filter.id.isEmpty || container.id.hasPrefix(filter.id))
                    && (filter.podSandboxID.isEmpty || container.sandboxID.hasPrefix(filter.podSandboxID))
                    && filter.labelSelector.allSatisfy { container.config.labels[$0.key] == $0.value }
            }
            .sorted { $0.id < $1.id }
            .map(containerStats)
        return response
    }

    // MARK: Images

    public func listImages(_ request: Runtime_V1_ListImagesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListImagesResponse {
        try begin(.listImages)
        let wanted = request.filter.image.image
        var response = Runtime_V1_ListImagesResponse()
        response.images = images.values
            .filter { wanted.isEmpty || lookupImage(wanted) == $0.id }
            .sorted { $0.id < $1.id }
        return response
    }

    public func imageStatus(_ request: Runtime_V1_ImageStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageStatusResponse {
        try begin(.imageStatus)
        var response = Runtime_V1_ImageStatusResponse()
        // CRI reports a missing image as a response without one, not as an error.
        if let id = lookupImage(request.image.image) { response.image = images[id]! }
        return response
    }

    public func pullImage(_ request: Runtime_V1_PullImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PullImageResponse {
        try begin(.pullImage)
        let name = Self.normalize(request.image.image)
        var response = Runtime_V1_PullImageResponse()
        if let id = lookupImage(name) {
            response.imageRef = id
        } else if let size = registry[name] {
            response.imageRef = addImage(name, size: size)
        } else {
            // containerd reports a failed pull as `unknown`, whatever the registry said.
            throw .runtime(.pullImage, .unknown,
                           "failed to pull and unpack image \"\(name)\": failed to resolve reference \"\(name)\": not found")
        }
        return response
    }

    public func removeImage(_ request: Runtime_V1_RemoveImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveImageResponse {
        try begin(.removeImage)
        if let id = lookupImage(request.image.image) { images[id] = nil }
        return Runtime_V1_RemoveImageResponse()
    }

    public func imageFsInfo(_ request: Runtime_V1_ImageFsInfoRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageFsInfoResponse {
        try begin(.imageFsInfo)
        var usage = Runtime_V1_FilesystemUsage()
        usage.timestamp = now
        usage.fsID.mountpoint = "/var/lib/fake-runtime/snapshots"
        usage.usedBytes.value = images.values.reduce(0) { $0 + $1.size }
        usage.inodesUsed.value = UInt64(images.count)
        var response = Runtime_V1_ImageFsInfoResponse()
        response.imageFilesystems = [usage]
        return response
    }

    // MARK: Helpers

    private func begin(_ call: CRICall) throws(CRIError) {
        calls.append(call)
        if var errors = injected[call], !errors.isEmpty {
            let error = errors.removeFirst()
            injected[call] = errors
            throw error
        }
    }

    private func finish(_ id: String, exitCode: Int32, reason: String) {
        containers[id]?.state = .containerExited
        containers[id]?.exitCode = exitCode
        containers[id]?.reason = reason
        containers[id]?.finishedAt = now
    }

    private func containerStats(_ container: Container) -> Runtime_V1_ContainerStats {
        var stats = Runtime_V1_ContainerStats()
        stats.attributes.id = container.id
        stats.attributes.metadata = container.config.metadata
        stats.attributes.labels = container.config.labels
        stats.attributes.annotations = container.config.annotations
        stats.cpu.timestamp = now
        stats.cpu.usageCoreNanoSeconds.value = container.cpuUsageNanos
        stats.memory.timestamp = now
        stats.memory.workingSetBytes.value = container.memoryWorkingSetBytes
        stats.writableLayer.timestamp = now
        stats.writableLayer.fsID.mountpoint = "/var/lib/fake-runtime/snapshots"
        return stats
    }

    /// Resolves a full id or unique prefix, as containerd's CRI plugin does.
    private func resolve(_ id: String, in ids: some Collection<String>, kind: String, for call: CRICall) throws(CRIError) -> String {
        guard !id.isEmpty else { throw .runtime(call, .invalidArgument, "\(kind) id must not be empty") }
        let matches = ids.filter { $0.hasPrefix(id) }
        if matches.count > 1 {
            throw .runtime(call, .invalidArgument, "\(kind) id prefix \"\(id)\" is ambiguous")
        }
        guard let match = matches.first else {
            throw .runtime(call, .notFound, "an error occurred when try to find \(kind) \"\(id)\": not found")
        }
        return match
    }

    private func resolveSandbox(_ id: String, for call: CRICall) throws(CRIError) -> String {
        try resolve(id, in: sandboxes.keys, kind: "sandbox", for: call)
    }

    private func resolveContainer(_ id: String, for call: CRICall) throws(CRIError) -> String {
        try resolve(id, in: containers.keys, kind: "container", for: call)
    }

    private func requireRunning(_ id: String, for call: CRICall) throws(CRIError) -> String {
        let id = try resolveContainer(id, for: call)
        guard containers[id]?.state == .containerRunning else {
            throw .runtime(call, .failedPrecondition, "container \(id) is in \(Self.name(containers[id]!.state)) state, not running")
        }
        return id
    }

    private func lookupImage(_ reference: String) -> String? {
        if images[reference] != nil { return reference }
        let name = Self.normalize(reference)
        return images.values.first { $0.repoTags.contains(name) }?.id
    }

    private func newID() -> String {
        counter += 1
        // splitmix64 over a counter: distinct, reproducible, and with distinct short prefixes.
        var state = counter &* 0x9E37_79B9_7F4A_7C15
        var out = ""
        for _ in 0..<4 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let chunk = String(z, radix: 16)
            out += String(repeating: "0", count: 16 - chunk.count) + chunk
        }
        return out
    }

    /// Docker-style normalization as containerd applies it: `busybox` is
    /// `docker.io/library/busybox:latest`.
    static func normalize(_ reference: String) -> String {
        var name = reference
        let firstComponent = name.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let hasDomain = name.contains("/") && (firstComponent.contains(".") || firstComponent.contains(":") || firstComponent == "localhost")
        if !hasDomain {
            name = (name.contains("/") ? "docker.io/" : "docker.io/library/") + name
        }
        let lastComponent = name.split(separator: "/").last ?? ""
        if !lastComponent.contains(":") && !name.contains("@") { name += ":latest" }
        return name
    }

    /// 64 hex digits derived from `text` (FNV-1a, four rounds): a stable fake digest.
    static func hex(of text: String) -> String {
        var out = ""
        for round in 0..<4 as Range<UInt64> {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ round
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            let chunk = String(hash, radix: 16)
            out += String(repeating: "0", count: 16 - chunk.count) + chunk
        }
        return out
    }

    static func sandboxName(_ meta: Runtime_V1_PodSandboxMetadata) -> String {
        "\(meta.name)_\(meta.namespace)_\(meta.uid)_\(meta.attempt)"
    }

    static func name(_ state: Runtime_V1_ContainerState) -> String {
        switch state {
        case .containerCreated: "CONTAINER_CREATED"
        case .containerRunning: "CONTAINER_RUNNING"
        case .containerExited: "CONTAINER_EXITED"
        case .containerUnknown: "CONTAINER_UNKNOWN"
        case .UNRECOGNIZED(let value): "state \(value)"
        }
    }
}

import CRI
import Foundation

/// What `nodectl cri …` shows, computed from a ``CRI/ContainerRuntime``: the commands print
/// these strings; tests run them against a fake runtime. `now` (nanoseconds since the epoch)
/// is the reference for the CREATED column.
public struct CRIViews: Sendable {
    public var runtime: any ContainerRuntime
    public var now: Int64

    public init(runtime: any ContainerRuntime, now: Int64 = Int64(Date().timeIntervalSince1970 * 1e9)) {
        self.runtime = runtime
        self.now = now
    }

    /// The runtime's name and version (crictl's `version`).
    public func version(format: OutputFormat) async throws -> String {
        var request = Runtime_V1_VersionRequest()
        request.version = "v1"
        let response = try await runtime.version(request)
        guard format == .table else { return try MessageRenderer.render(response, as: format) }
        return """
            Version:  \(response.version)
            RuntimeName:  \(response.runtimeName)
            RuntimeVersion:  \(response.runtimeVersion)
            RuntimeApiVersion:  \(response.runtimeApiVersion)

            """
    }

    /// Runtime conditions (RuntimeReady, NetworkReady) and handlers; `-o json|yaml` adds the
    /// runtime's verbose info (its config).
    public func info(format: OutputFormat) async throws -> String {
        var request = Runtime_V1_StatusRequest()
        request.verbose = format != .table
        let response = try await runtime.status(request)
        guard format == .table else { return try MessageRenderer.render(response, as: format) }
        var table = Table("CONDITION", "STATUS", "REASON", "MESSAGE")
        for condition in response.status.conditions {
            table.append([condition.type, condition.status ? "True" : "False", condition.reason, condition.message])
        }
        let handlers: [String] = response.runtimeHandlers.map { handler in handler.name.isEmpty ? "(default)" : handler.name }
        var text = table.render()
        if !handlers.isEmpty { text += "\nRuntime handlers: \(handlers.joined(separator: ", "))\n" }
        return text
    }

    /// Local images, one row per tag (crictl's `images`).
    public func images(format: OutputFormat, quiet: Bool = false) async throws -> String {
        let response = try await runtime.listImages(Runtime_V1_ListImagesRequest())
        if quiet { return response.images.map { image in "\(image.id)\n" }.joined() }
        guard format == .table else { return try MessageRenderer.render(response, as: format) }
        var table = Table("IMAGE", "TAG", "IMAGE ID", "SIZE")
        let rows = response.images.flatMap { image -> [[String]] in
            let tags = image.repoTags.isEmpty ? ["<none>:<none>"] : image.repoTags
            return tags.map { tag in
                let (repository, version) = Self.splitTag(tag)
                return [repository, version, Format.shortID(image.id), Format.size(image.size)]
            }
        }
        for row in rows.sorted(by: { ($0[0], $0[1]) < ($1[0], $1[1]) }) { table.append(row) }
        return table.render()
    }

    /// Pod sandboxes, newest first (crictl's `pods`).
    public func pods(format: OutputFormat, quiet: Bool = false) async throws -> String {
        var response = try await runtime.listPodSandbox(Runtime_V1_ListPodSandboxRequest())
        response.items.sort { $0.createdAt > $1.createdAt }
        if quiet { return response.items.map { pod in "\(pod.id)\n" }.joined() }
        guard format == .table else { return try MessageRenderer.render(response, as: format) }
        var table = Table("POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME")
        for pod in response.items {
            let state: String = pod.state == .sandboxReady ? "Ready" : "NotReady"
            let handler: String = pod.runtimeHandler.isEmpty ? "(default)" : pod.runtimeHandler
            let row: [String] = [Format.shortID(pod.id), Format.age(createdAt: pod.createdAt, now: now), state,
                                 pod.metadata.name, pod.metadata.namespace, String(pod.metadata.attempt), handler]
            table.append(row)
        }
        return table.render()
    }

    /// Containers, newest first (crictl's `ps`): running ones unless `all`, optionally of one pod.
    public func containers(format: OutputFormat, all: Bool = false, podID: String? = nil, quiet: Bool = false) async throws -> String {
        var request = Runtime_V1_ListContainersRequest()
        if !all { request.filter.state.state = .containerRunning }
        if let podID { request.filter.podSandboxID = podID }
        var response = try await runtime.listContainers(request)
        response.containers.sort { $0.createdAt > $1.createdAt }
        if quiet { return response.containers.map { container in "\(container.id)\n" }.joined() }
        guard format == .table else { return try MessageRenderer.render(response, as: format) }
        let pods = try await runtime.listPodSandbox(Runtime_V1_ListPodSandboxRequest())
        let podNames = Dictionary(pods.items.map { ($0.id, $0.metadata.name) }, uniquingKeysWith: { first, _ in first })
        var table = Table("CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD")
        for container in response.containers {
            let image: String = container.image.image.hasPrefix("sha256:") ? Format.shortID(container.image.image) : container.image.image
            let podName: String = podNames[container.podSandboxID] ?? ""
            let row: [String] = [Format.shortID(container.id), image, Format.age(createdAt: container.createdAt, now: now),
                                 Self.stateName(container.state), container.metadata.name, String(container.metadata.attempt),
                                 Format.shortID(container.podSandboxID), podName]
            table.append(row)
        }
        return table.render()
    }

    /// The full status of a container, or of a pod sandbox when no container has that id (or
    /// unique id prefix). JSON unless `format` says YAML; a table shows a short summary.
    public func inspect(id: String, format: OutputFormat) async throws -> String {
        if let response = try await containerStatus(id: id) {
            guard format == .table else { return try MessageRenderer.render(response, as: format) }
            let status = response.status
            var pairs: [(String, String)] = []
            pairs.append(("ID", status.id))
            pairs.append(("Name", status.metadata.name))
            pairs.append(("State", Self.stateName(status.state)))
            pairs.append(("Image", status.image.image))
            pairs.append(("ImageRef", status.imageRef))
            pairs.append(("Created", Format.age(createdAt: status.createdAt, now: now)))
            pairs.append(("ExitCode", String(status.exitCode)))
            pairs.append(("Reason", status.reason))
            pairs.append(("LogPath", status.logPath))
            return Self.keyValues(pairs)
        }
        guard let response = try await podSandboxStatus(id: id) else {
            throw NodectlError("no container or pod sandbox with id \"\(id)\"")
        }
        guard format == .table else { return try MessageRenderer.render(response, as: format) }
        let status = response.status
        let state: String = status.state == .sandboxReady ? "Ready" : "NotReady"
        var pairs: [(String, String)] = []
        pairs.append(("ID", status.id))
        pairs.append(("Name", status.metadata.name))
        pairs.append(("Namespace", status.metadata.namespace))
        pairs.append(("State", state))
        pairs.append(("IP", status.network.ip))
        pairs.append(("Created", Format.age(createdAt: status.createdAt, now: now)))
        return Self.keyValues(pairs)
    }

    /// The verbose status of a container, or nil when the runtime has no such container.
    private func containerStatus(id: String) async throws(CRIError) -> Runtime_V1_ContainerStatusResponse? {
        var request = Runtime_V1_ContainerStatusRequest()
        request.containerID = id
        request.verbose = true
        do {
            return try await runtime.containerStatus(request)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// The verbose status of a pod sandbox, or nil when the runtime has no such sandbox.
    private func podSandboxStatus(id: String) async throws(CRIError) -> Runtime_V1_PodSandboxStatusResponse? {
        var request = Runtime_V1_PodSandboxStatusRequest()
        request.podSandboxID = id
        request.verbose = true
        do {
            return try await runtime.podSandboxStatus(request)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// Runs `command` in a running container and returns its output and exit code.
    public func exec(id: String, command: [String], timeoutSeconds: Int64) async throws -> Runtime_V1_ExecSyncResponse {
        guard !command.isEmpty else { throw NodectlError("exec needs a command after the container id, e.g. -- sh -c 'ls /'") }
        var request = Runtime_V1_ExecSyncRequest()
        request.containerID = id
        request.cmd = command
        request.timeout = timeoutSeconds
        return try await runtime.execSync(request)
    }

    /// The container's log entries (partial lines joined), the last `tail` of them when given.
    public func logs(id: String, tail: Int?) async throws -> [ContainerLogEntry] {
        var request = Runtime_V1_ContainerStatusRequest()
        request.containerID = id
        let status = try await runtime.containerStatus(request).status
        guard !status.logPath.isEmpty else {
            throw NodectlError("container \(Format.shortID(status.id)) has no log file (its pod sets no log directory)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: status.logPath, encoding: .utf8)
        } catch {
            // A container that has not written anything yet may have no file at all.
            if !FileManager.default.fileExists(atPath: status.logPath) { return [] }
            throw NodectlError("cannot read log file \(status.logPath): \(error.localizedDescription)")
        }
        let entries = try ContainerLogEntry.parse(text)
        if let tail { return Array(entries.suffix(max(0, tail))) }
        return entries
    }

    static func splitTag(_ reference: String) -> (String, String) {
        if let at = reference.lastIndex(of: "@") {
            return (String(reference[..<at]), "<none>")
        }
        if let colon = reference.lastIndex(of: ":"), !reference[colon...].contains("/") {
            return (String(reference[..<colon]), String(reference[reference.index(after: colon)...]))
        }
        return (reference, "<none>")
    }

    static func stateName(_ state: Runtime_V1_ContainerState) -> String {
        switch state {
        case .containerCreated: "Created"
        case .containerRunning: "Running"
        case .containerExited: "Exited"
        case .containerUnknown, .UNRECOGNIZED: "Unknown"
        }
    }

    private static func keyValues(_ pairs: [(String, String)]) -> String {
        let width: Int = pairs.map { pair in pair.0.count }.max() ?? 0
        var text = ""
        for (key, value) in pairs {
            let padding = String(repeating: " ", count: width - key.count + 2)
            text += "\(key):\(padding)\(value)\n"
        }
        return text
    }
}

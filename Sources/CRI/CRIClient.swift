import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Synchronization

/// A ``ContainerRuntime`` reached over gRPC on a unix socket (containerd's CRI plugin, CRI-O).
///
/// Lifecycle: `init` starts the client's connection task; the first call dials the socket, later
/// calls reuse the HTTP/2 connection, which is re-dialled after it drops. Call ``close()`` when
/// done: it stops taking calls, lets calls in flight finish, and returns once the connection is
/// closed. A client dropped without `close()` begins the same shutdown without waiting for it.
///
/// Calls never wait for a connection: when the socket is missing or refuses, the call fails at
/// once (`.socketMissing` / `.unreachable`) instead of retrying until its deadline.
///
/// Thread-safety: all methods may be called concurrently from any task.
public final class CRIClient: ContainerRuntime {
    public let endpoint: RuntimeEndpoint
    public let timeouts: CRITimeouts

    /// Largest response accepted; the kubelet allows 16 MiB, as lists on busy nodes exceed gRPC's
    /// 4 MiB default.
    public static let maxResponseBytes = 16 * 1024 * 1024

    private let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    private let runtime: Runtime_V1_RuntimeService.Client<HTTP2ClientTransport.Posix>
    private let image: Runtime_V1_ImageService.Client<HTTP2ClientTransport.Posix>
    private let connections: Task<Void, Never>

    /// Creates a client for `endpoint`. Does not dial yet, so it succeeds whether or not a
    /// runtime is listening; the first call reports that.
    public init(endpoint: RuntimeEndpoint, timeouts: CRITimeouts = CRITimeouts()) throws(CRIError) {
        self.endpoint = endpoint
        self.timeouts = timeouts
        let transport: HTTP2ClientTransport.Posix
        do {
            // The authority is sent as :authority; containerd ignores it but HTTP/2 needs one.
            transport = try HTTP2ClientTransport.Posix(
                target: .unixDomainSocket(path: endpoint.path, authority: "localhost"),
                transportSecurity: .plaintext)
        } catch {
            throw CRIError(call: nil, kind: .invalidEndpoint, message: "cannot make a transport: \(error)", endpoint: endpoint.path)
        }
        let grpc = GRPCClient(transport: transport)
        self.grpc = grpc
        self.runtime = Runtime_V1_RuntimeService.Client(wrapping: grpc)
        self.image = Runtime_V1_ImageService.Client(wrapping: grpc)
        // runConnections throws only when the transport fails for good; each call then reports
        // its own error, so there is nothing more to do with this one.
        self.connections = Task { try? await grpc.runConnections() }
    }

    /// Convenience: parses `endpoint` (`unix:///path` or `/path`) and creates a client.
    public convenience init(endpoint: String, timeouts: CRITimeouts = CRITimeouts()) throws(CRIError) {
        try self.init(endpoint: RuntimeEndpoint(parsing: endpoint), timeouts: timeouts)
    }

    deinit {
        grpc.beginGracefulShutdown()
    }

    /// Stops accepting calls, waits for calls in flight (at most `grace`), and closes the
    /// connection; after `grace` it cancels what is left. Idempotent.
    public func close(grace: Duration = .seconds(5)) async {
        grpc.beginGracefulShutdown()
        let connections = self.connections
        if await Self.race(deadline: grace, { await connections.value }) == nil {
            // A call stuck on a peer that never answers keeps a graceful shutdown waiting.
            connections.cancel()
            await connections.value
        }
    }

    /// Runs `body` with a client for `endpoint` and closes the client afterwards, also when
    /// `body` throws. Calls still running then were abandoned by `body` (a deadline passed), so
    /// closing gives them only a second.
    public static func with<Result: Sendable>(
        endpoint: RuntimeEndpoint, timeouts: CRITimeouts = CRITimeouts(),
        _ body: (CRIClient) async throws -> Result
    ) async throws -> Result {
        let client = try CRIClient(endpoint: endpoint, timeouts: timeouts)
        do {
            let result = try await body(client)
            await client.close(grace: .seconds(1))
            return result
        } catch {
            await client.close(grace: .seconds(1))
            throw error
        }
    }

    // MARK: Calls

    public func version(_ request: Runtime_V1_VersionRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_VersionResponse {
        try await perform(.version, timeout: timeout) { [runtime = self.runtime] in try await runtime.version(request, options: $0) }
    }

    public func status(_ request: Runtime_V1_StatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StatusResponse {
        try await perform(.status, timeout: timeout) { [runtime = self.runtime] in try await runtime.status(request, options: $0) }
    }

    public func updateRuntimeConfig(_ request: Runtime_V1_UpdateRuntimeConfigRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateRuntimeConfigResponse {
        try await perform(.updateRuntimeConfig, timeout: timeout) { [runtime = self.runtime] in try await runtime.updateRuntimeConfig(request, options: $0) }
    }

    public func runPodSandbox(_ request: Runtime_V1_RunPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RunPodSandboxResponse {
        try await perform(.runPodSandbox, timeout: timeout) { [runtime = self.runtime] in try await runtime.runPodSandbox(request, options: $0) }
    }

    public func stopPodSandbox(_ request: Runtime_V1_StopPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopPodSandboxResponse {
        try await perform(.stopPodSandbox, timeout: timeout) { [runtime = self.runtime] in try await runtime.stopPodSandbox(request, options: $0) }
    }

    public func removePodSandbox(_ request: Runtime_V1_RemovePodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemovePodSandboxResponse {
        try await perform(.removePodSandbox, timeout: timeout) { [runtime = self.runtime] in try await runtime.removePodSandbox(request, options: $0) }
    }

    public func podSandboxStatus(_ request: Runtime_V1_PodSandboxStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatusResponse {
        try await perform(.podSandboxStatus, timeout: timeout) { [runtime = self.runtime] in try await runtime.podSandboxStatus(request, options: $0) }
    }

    public func listPodSandbox(_ request: Runtime_V1_ListPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListPodSandboxResponse {
        try await perform(.listPodSandbox, timeout: timeout) { [runtime = self.runtime] in try await runtime.listPodSandbox(request, options: $0) }
    }

    public func podSandboxStats(_ request: Runtime_V1_PodSandboxStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatsResponse {
        try await perform(.podSandboxStats, timeout: timeout) { [runtime = self.runtime] in try await runtime.podSandboxStats(request, options: $0) }
    }

    public func createContainer(_ request: Runtime_V1_CreateContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_CreateContainerResponse {
        try await perform(.createContainer, timeout: timeout) { [runtime = self.runtime] in try await runtime.createContainer(request, options: $0) }
    }

    public func startContainer(_ request: Runtime_V1_StartContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StartContainerResponse {
        try await perform(.startContainer, timeout: timeout) { [runtime = self.runtime] in try await runtime.startContainer(request, options: $0) }
    }

    public func stopContainer(_ request: Runtime_V1_StopContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopContainerResponse {
        try await perform(.stopContainer, timeout: timeout ?? stopContainerDeadline(request.timeout)) { [runtime = self.runtime] in try await runtime.stopContainer(request, options: $0) }
    }

    public func removeContainer(_ request: Runtime_V1_RemoveContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveContainerResponse {
        try await perform(.removeContainer, timeout: timeout) { [runtime = self.runtime] in try await runtime.removeContainer(request, options: $0) }
    }

    public func listContainers(_ request: Runtime_V1_ListContainersRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainersResponse {
        try await perform(.listContainers, timeout: timeout) { [runtime = self.runtime] in try await runtime.listContainers(request, options: $0) }
    }

    public func containerStatus(_ request: Runtime_V1_ContainerStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatusResponse {
        try await perform(.containerStatus, timeout: timeout) { [runtime = self.runtime] in try await runtime.containerStatus(request, options: $0) }
    }

    public func updateContainerResources(_ request: Runtime_V1_UpdateContainerResourcesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateContainerResourcesResponse {
        try await perform(.updateContainerResources, timeout: timeout) { [runtime = self.runtime] in try await runtime.updateContainerResources(request, options: $0) }
    }

    public func reopenContainerLog(_ request: Runtime_V1_ReopenContainerLogRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ReopenContainerLogResponse {
        try await perform(.reopenContainerLog, timeout: timeout) { [runtime = self.runtime] in try await runtime.reopenContainerLog(request, options: $0) }
    }

    public func execSync(_ request: Runtime_V1_ExecSyncRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecSyncResponse {
        try await perform(.execSync, timeout: timeout ?? execSyncDeadline(request.timeout)) { [runtime = self.runtime] in try await runtime.execSync(request, options: $0) }
    }

    public func exec(_ request: Runtime_V1_ExecRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecResponse {
        try await perform(.exec, timeout: timeout) { [runtime = self.runtime] in try await runtime.exec(request, options: $0) }
    }

    public func attach(_ request: Runtime_V1_AttachRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_AttachResponse {
        try await perform(.attach, timeout: timeout) { [runtime = self.runtime] in try await runtime.attach(request, options: $0) }
    }

    public func portForward(_ request: Runtime_V1_PortForwardRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PortForwardResponse {
        try await perform(.portForward, timeout: timeout) { [runtime = self.runtime] in try await runtime.portForward(request, options: $0) }
    }

    public func containerStats(_ request: Runtime_V1_ContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatsResponse {
        try await perform(.containerStats, timeout: timeout) { [runtime = self.runtime] in try await runtime.containerStats(request, options: $0) }
    }

    public func listContainerStats(_ request: Runtime_V1_ListContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainerStatsResponse {
        try await perform(.listContainerStats, timeout: timeout) { [runtime = self.runtime] in try await runtime.listContainerStats(request, options: $0) }
    }

    public func listImages(_ request: Runtime_V1_ListImagesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListImagesResponse {
        try await perform(.listImages, timeout: timeout) { [image = self.image] in try await image.listImages(request, options: $0) }
    }

    public func imageStatus(_ request: Runtime_V1_ImageStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageStatusResponse {
        try await perform(.imageStatus, timeout: timeout) { [image = self.image] in try await image.imageStatus(request, options: $0) }
    }

    public func pullImage(_ request: Runtime_V1_PullImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PullImageResponse {
        try await perform(.pullImage, timeout: timeout) { [image = self.image] in try await image.pullImage(request, options: $0) }
    }

    public func removeImage(_ request: Runtime_V1_RemoveImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveImageResponse {
        try await perform(.removeImage, timeout: timeout) { [image = self.image] in try await image.removeImage(request, options: $0) }
    }

    public func imageFsInfo(_ request: Runtime_V1_ImageFsInfoRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageFsInfoResponse {
        try await perform(.imageFsInfo, timeout: timeout) { [image = self.image] in try await image.imageFsInfo(request, options: $0) }
    }

    // MARK: Deadlines and errors

    /// ExecSync carries its own timeout (seconds, 0 = none); the call must outlive it so the
    /// runtime, not the transport, reports a command that overran.
    private func execSyncDeadline(_ seconds: Int64) -> Duration? {
        seconds > 0 ? .seconds(seconds) + .seconds(10) : nil
    }

    /// StopContainer waits up to its grace period before killing; the call gets that on top.
    private func stopContainerDeadline(_ seconds: Int64) -> Duration? {
        seconds > 0 ? .seconds(seconds) + timeouts[.stopContainer] : nil
    }

    private func perform<Response: Sendable>(
        _ call: CRICall, timeout: Duration?,
        _ body: @Sendable @escaping (CallOptions) async throws -> Response
    ) async throws(CRIError) -> Response {
        var options = CallOptions.defaults
        let deadline = timeout ?? timeouts[call]
        options.timeout = deadline
        options.waitForReady = false
        options.maxResponseMessageBytes = Self.maxResponseBytes
        let immutableOptions = options
        // gRPC enforces the deadline too, but waits for the call's task to wind down, and against
        // a peer that accepts and then closes or stalls the stream setup that never happens. The
        // race returns at the deadline (plus a little, so gRPC's own error wins when it can).
        var outcome = await Self.race(deadline: deadline + .milliseconds(200)) { try await body(immutableOptions) }
        // When the HTTP/2 connection closes under a call (grpc-swift: "Stream unexpectedly
        // closed", seen under pod churn, docs/kubelet.md), a call that CRI defines as idempotent
        // is sent once more on the re-dialled connection.
        if call.isIdempotent, case .some(.failure(let error as RPCError)) = outcome, error.code == .unavailable,
           error.message.hasPrefix("Stream unexpectedly closed"), !Task.isCancelled {
            outcome = await Self.race(deadline: deadline + .milliseconds(200)) { try await body(immutableOptions) }
        }
        switch outcome {
        case .some(.success(let response)):
            return response
        case .none:
            throw deadlineError(call, deadline)
        case .some(.failure(let error as RPCError)):
            throw translate(error, call: call, deadline: deadline)
        case .some(.failure(let error as CancellationError)):
            throw CRIError(call: call, kind: .runtime(.cancelled), message: "cancelled by the caller (\(error))", endpoint: endpoint.path)
        case .some(.failure(let error)):
            throw CRIError(call: call, kind: .unreachable, message: "\(error)", endpoint: endpoint.path)
        }
    }

    private func deadlineError(_ call: CRICall, _ deadline: Duration) -> CRIError {
        CRIError(call: call, kind: .deadlineExceeded,
                 message: "no answer from the runtime at \(endpoint.path) within \(deadline.formattedSeconds)", endpoint: endpoint.path)
    }

    /// Runs `work` in a new task and returns its result, or nil once `deadline` has passed
    /// (cancelling the task, but not waiting for it). Cancelling the caller cancels the work.
    static func race<Value: Sendable>(
        deadline: Duration, _ work: @Sendable @escaping () async throws -> Value
    ) async -> Result<Value, any Error>? {
        let state = RaceState<Value>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, any Error>?, Never>) in
                state.start(continuation)
                let worker = Task {
                    do {
                        state.finish(.success(try await work()))
                    } catch {
                        state.finish(.failure(error))
                    }
                }
                state.setWorker(worker)
                Task {
                    try? await Task.sleep(for: deadline)
                    if state.finish(nil) { worker.cancel() }
                }
            }
        } onCancel: {
            state.cancelWorker()
        }
    }

    private func translate(_ error: RPCError, call: CRICall, deadline: Duration) -> CRIError {
        let path = endpoint.path
        switch error.code {
        case .deadlineExceeded:
            return deadlineError(call, deadline)
        case .unavailable:
            if !FileManager.default.fileExists(atPath: path) {
                return CRIError(call: call, kind: .socketMissing, message: "no such file", endpoint: path)
            }
            return CRIError(call: call, kind: .unreachable, message: Self.detail(error), endpoint: path)
        case .unimplemented where error.message.hasPrefix("unknown service"):
            // A gRPC server, but not a CRI runtime (or one speaking only the removed v1alpha2).
            return CRIError(call: call, kind: .unreachable, message: "the peer is not a CRI v1 runtime (\(error.message))", endpoint: path)
        default:
            let code = CRIError.StatusCode(rawValue: error.code.description) ?? .unknown
            return CRIError(call: call, kind: .runtime(code), message: error.message, endpoint: path)
        }
    }

    /// The transport's explanation, including the underlying cause (ECONNREFUSED, a protocol
    /// error) that gRPC keeps apart from its own message.
    private static func detail(_ error: RPCError) -> String {
        if let cause = error.cause { return "\(error.message) (\(cause))" }
        return error.message
    }
}

/// The shared state of one ``CRIClient/race(deadline:_:)``: resumes its continuation exactly once.
private final class RaceState<Value: Sendable>: Sendable {
    private struct Fields {
        var continuation: CheckedContinuation<Result<Value, any Error>?, Never>?
        var worker: Task<Void, Never>?
        var cancelled = false
    }

    private let fields = Mutex(Fields())

    func start(_ continuation: CheckedContinuation<Result<Value, any Error>?, Never>) {
        fields.withLock { $0.continuation = continuation }
    }

    func setWorker(_ worker: Task<Void, Never>) {
        let cancelNow = fields.withLock { fields in
            fields.worker = worker
            return fields.cancelled
        }
        if cancelNow { worker.cancel() }
    }

    func cancelWorker() {
        let worker = fields.withLock { fields in
            fields.cancelled = true
            return fields.worker
        }
        worker?.cancel()
    }

    /// Resumes the continuation with `outcome` if nothing did before; returns whether it did.
    @discardableResult
    func finish(_ outcome: Result<Value, any Error>?) -> Bool {
        guard let continuation = fields.withLock({ fields in
            defer { fields.continuation = nil }
            return fields.continuation
        }) else { return false }
        continuation.resume(returning: outcome)
        return true
    }
}

extension Duration {
    /// `2 s`, `0.5 s`: for messages.
    var formattedSeconds: String {
        let (seconds, attoseconds) = components
        if attoseconds == 0 { return "\(seconds) s" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18) s"
    }
}

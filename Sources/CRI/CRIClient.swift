import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Synchronization

/// A ``ContainerRuntime`` reached over gRPC on a unix socket (containerd's CRI plugin, CRI-O).
///
/// Lifecycle: `init` starts the client's connection task; the first call dials the socket, later
/// calls reuse the HTTP/2 connection, which is re-dialled after it drops. Call ``close()`` when
/// done: it stops taking calls, lets calls in flight finish, and returns once the connections
/// are closed. A client dropped without `close()` begins the same shutdown without waiting.
///
/// Connections: at most ``CRIConnectionBudget/callsPerWindow`` calls start on one connection
/// within the budget's window; the next call opens a fresh connection and the old one closes
/// once its calls in flight are done. This keeps containerd's per-call PINGs under
/// swift-nio-http2's control-frame limit, which otherwise closed the connection under pod churn
/// (``CRIConnectionBudget``). A call that fails because its connection closed moves later calls
/// to a fresh connection too; it is sent again only when CRI defines it as idempotent
/// (``CRICall/isIdempotent``), so RunPodSandbox, CreateContainer and StartContainer are reported
/// as failed (`.unreachable`), never doubled.
///
/// Calls never wait for a connection: when the socket is missing or refuses, the call fails at
/// once (`.socketMissing` / `.unreachable`) instead of retrying until its deadline.
///
/// Thread-safety: all methods may be called concurrently from any task.
public final class CRIClient: ContainerRuntime {
    public let endpoint: RuntimeEndpoint
    public let timeouts: CRITimeouts
    public let budget: CRIConnectionBudget

    /// Largest response accepted; the kubelet allows 16 MiB, as lists on busy nodes exceed gRPC's
    /// 4 MiB default.
    public static let maxResponseBytes = 16 * 1024 * 1024

    private let pool: ConnectionPool

    /// Creates a client for `endpoint`. Does not dial yet, so it succeeds whether or not a
    /// runtime is listening; the first call reports that. `events`, when given, hears about
    /// every connection (opened, GOAWAY, errors, closed, rotated); it is called on NIO's event
    /// loop or the calling task and must not block.
    public init(
        endpoint: RuntimeEndpoint, timeouts: CRITimeouts = CRITimeouts(), budget: CRIConnectionBudget = .containerd,
        events: (@Sendable (CRIConnectionEvent) -> Void)? = nil
    ) throws(CRIError) {
        self.endpoint = endpoint
        self.timeouts = timeouts
        self.budget = budget
        do {
            pool = try ConnectionPool(path: endpoint.path, budget: budget, events: events)
        } catch {
            throw CRIError(call: nil, kind: .invalidEndpoint, message: "cannot make a transport: \(error)", endpoint: endpoint.path)
        }
    }

    /// Convenience: parses `endpoint` (`unix:///path` or `/path`) and creates a client.
    public convenience init(endpoint: String, timeouts: CRITimeouts = CRITimeouts()) throws(CRIError) {
        try self.init(endpoint: RuntimeEndpoint(parsing: endpoint), timeouts: timeouts)
    }

    deinit {
        for connection in pool.shutDown() {
            connection.grpc.beginGracefulShutdown()
        }
    }

    /// Stops accepting calls, waits for calls in flight (at most `grace`), and closes the
    /// connections; after `grace` it cancels what is left. Idempotent.
    public func close(grace: Duration = .seconds(5)) async {
        let connections = pool.shutDown()
        for connection in connections {
            connection.grpc.beginGracefulShutdown()
        }
        let tasks = connections.map(\.connections)
        if await Self.race(deadline: grace, { for task in tasks { await task.value } }) == nil {
            // A call stuck on a peer that never answers keeps a graceful shutdown waiting.
            for task in tasks {
                task.cancel()
                await task.value
            }
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
        try await perform(.version, timeout: timeout) { try await $0.runtime.version(request, options: $1) }
    }

    public func status(_ request: Runtime_V1_StatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StatusResponse {
        try await perform(.status, timeout: timeout) { try await $0.runtime.status(request, options: $1) }
    }

    public func updateRuntimeConfig(_ request: Runtime_V1_UpdateRuntimeConfigRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateRuntimeConfigResponse {
        try await perform(.updateRuntimeConfig, timeout: timeout) { try await $0.runtime.updateRuntimeConfig(request, options: $1) }
    }

    public func runPodSandbox(_ request: Runtime_V1_RunPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RunPodSandboxResponse {
        try await perform(.runPodSandbox, timeout: timeout) { try await $0.runtime.runPodSandbox(request, options: $1) }
    }

    public func stopPodSandbox(_ request: Runtime_V1_StopPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopPodSandboxResponse {
        try await perform(.stopPodSandbox, timeout: timeout) { try await $0.runtime.stopPodSandbox(request, options: $1) }
    }

    public func removePodSandbox(_ request: Runtime_V1_RemovePodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemovePodSandboxResponse {
        try await perform(.removePodSandbox, timeout: timeout) { try await $0.runtime.removePodSandbox(request, options: $1) }
    }

    public func podSandboxStatus(_ request: Runtime_V1_PodSandboxStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatusResponse {
        try await perform(.podSandboxStatus, timeout: timeout) { try await $0.runtime.podSandboxStatus(request, options: $1) }
    }

    public func listPodSandbox(_ request: Runtime_V1_ListPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListPodSandboxResponse {
        try await perform(.listPodSandbox, timeout: timeout) { try await $0.runtime.listPodSandbox(request, options: $1) }
    }

    public func podSandboxStats(_ request: Runtime_V1_PodSandboxStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatsResponse {
        try await perform(.podSandboxStats, timeout: timeout) { try await $0.runtime.podSandboxStats(request, options: $1) }
    }

    public func createContainer(_ request: Runtime_V1_CreateContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_CreateContainerResponse {
        try await perform(.createContainer, timeout: timeout) { try await $0.runtime.createContainer(request, options: $1) }
    }

    public func startContainer(_ request: Runtime_V1_StartContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StartContainerResponse {
        try await perform(.startContainer, timeout: timeout) { try await $0.runtime.startContainer(request, options: $1) }
    }

    public func stopContainer(_ request: Runtime_V1_StopContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopContainerResponse {
        try await perform(.stopContainer, timeout: timeout ?? stopContainerDeadline(request.timeout)) { try await $0.runtime.stopContainer(request, options: $1) }
    }

    public func removeContainer(_ request: Runtime_V1_RemoveContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveContainerResponse {
        try await perform(.removeContainer, timeout: timeout) { try await $0.runtime.removeContainer(request, options: $1) }
    }

    public func listContainers(_ request: Runtime_V1_ListContainersRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainersResponse {
        try await perform(.listContainers, timeout: timeout) { try await $0.runtime.listContainers(request, options: $1) }
    }

    public func containerStatus(_ request: Runtime_V1_ContainerStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatusResponse {
        try await perform(.containerStatus, timeout: timeout) { try await $0.runtime.containerStatus(request, options: $1) }
    }

    public func updateContainerResources(_ request: Runtime_V1_UpdateContainerResourcesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateContainerResourcesResponse {
        try await perform(.updateContainerResources, timeout: timeout) { try await $0.runtime.updateContainerResources(request, options: $1) }
    }

    public func reopenContainerLog(_ request: Runtime_V1_ReopenContainerLogRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ReopenContainerLogResponse {
        try await perform(.reopenContainerLog, timeout: timeout) { try await $0.runtime.reopenContainerLog(request, options: $1) }
    }

    public func execSync(_ request: Runtime_V1_ExecSyncRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecSyncResponse {
        try await perform(.execSync, timeout: timeout ?? execSyncDeadline(request.timeout)) { try await $0.runtime.execSync(request, options: $1) }
    }

    public func exec(_ request: Runtime_V1_ExecRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecResponse {
        try await perform(.exec, timeout: timeout) { try await $0.runtime.exec(request, options: $1) }
    }

    public func attach(_ request: Runtime_V1_AttachRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_AttachResponse {
        try await perform(.attach, timeout: timeout) { try await $0.runtime.attach(request, options: $1) }
    }

    public func portForward(_ request: Runtime_V1_PortForwardRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PortForwardResponse {
        try await perform(.portForward, timeout: timeout) { try await $0.runtime.portForward(request, options: $1) }
    }

    public func containerStats(_ request: Runtime_V1_ContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatsResponse {
        try await perform(.containerStats, timeout: timeout) { try await $0.runtime.containerStats(request, options: $1) }
    }

    public func listContainerStats(_ request: Runtime_V1_ListContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainerStatsResponse {
        try await perform(.listContainerStats, timeout: timeout) { try await $0.runtime.listContainerStats(request, options: $1) }
    }

    public func listImages(_ request: Runtime_V1_ListImagesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListImagesResponse {
        try await perform(.listImages, timeout: timeout) { try await $0.image.listImages(request, options: $1) }
    }

    public func imageStatus(_ request: Runtime_V1_ImageStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageStatusResponse {
        try await perform(.imageStatus, timeout: timeout) { try await $0.image.imageStatus(request, options: $1) }
    }

    public func pullImage(_ request: Runtime_V1_PullImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PullImageResponse {
        try await perform(.pullImage, timeout: timeout) { try await $0.image.pullImage(request, options: $1) }
    }

    public func removeImage(_ request: Runtime_V1_RemoveImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveImageResponse {
        try await perform(.removeImage, timeout: timeout) { try await $0.image.removeImage(request, options: $1) }
    }

    public func imageFsInfo(_ request: Runtime_V1_ImageFsInfoRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageFsInfoResponse {
        try await perform(.imageFsInfo, timeout: timeout) { try await $0.image.imageFsInfo(request, options: $1) }
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
        _ body: @Sendable @escaping (RuntimeConnection, CallOptions) async throws -> Response
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
        var connection = pool.lease()
        var outcome = await Self.race(deadline: deadline + .milliseconds(200)) { [connection] in try await body(connection, immutableOptions) }
        // A concurrent call can rotate the leased connection and stop its gRPC client before
        // this call starts on it; gRPC then refuses the call without sending it, so any call
        // may go to the current connection instead.
        for _ in 0..<3 {
            guard case .some(.failure(let error)) = outcome, Self.refusedUnsent(error),
                  !pool.isShutDown, !Task.isCancelled else { break }
            connection = pool.lease()
            outcome = await Self.race(deadline: deadline + .milliseconds(200)) { [connection] in try await body(connection, immutableOptions) }
        }
        if case .some(.failure(let error as RPCError)) = outcome, Self.connectionClosed(error) {
            // The connection is gone; grpc-swift may not have noticed yet, so later calls (and
            // the retry) go to a fresh one.
            pool.retire(connection, reason: error.message)
            if call.isIdempotent, !Task.isCancelled {
                connection = pool.lease()
                outcome = await Self.race(deadline: deadline + .milliseconds(200)) { [connection] in try await body(connection, immutableOptions) }
            }
        }
        switch outcome {
        case .some(.success(let response)):
            return response
        case .none:
            throw deadlineError(call, deadline)
        case .some(.failure(let error as RPCError)) where Self.connectionClosed(error) && !call.isIdempotent:
            throw CRIError(call: call, kind: .unreachable,
                           message: "the connection closed during the call (\(error.message)); the runtime may have carried it out, so it was not sent again",
                           endpoint: endpoint.path)
        case .some(.failure(let error as RPCError)):
            throw translate(error, call: call, deadline: deadline)
        case .some(.failure(let error as CancellationError)):
            throw CRIError(call: call, kind: .runtime(.cancelled), message: "cancelled by the caller (\(error))", endpoint: endpoint.path)
        case .some(.failure(let error)):
            throw CRIError(call: call, kind: .unreachable, message: "\(error)", endpoint: endpoint.path)
        }
    }

    /// grpc-swift's errors for a call refused before any of it was sent: the client was
    /// stopped, or its channel was shutting down.
    private static func refusedUnsent(_ error: any Error) -> Bool {
        if let error = error as? RuntimeError { return error.code == .clientIsStopped }
        if let error = error as? RPCError { return error.code == .unavailable && error.message == "Channel is shutting down." }
        return false
    }

    /// grpc-swift's errors for a stream whose HTTP/2 connection closed under it.
    private static func connectionClosed(_ error: RPCError) -> Bool {
        // "...: received RST_STREAM" ends one stream only and is not matched.
        error.code == .unavailable
            && (error.message == "Stream unexpectedly closed." || error.message == "Stream unexpectedly closed with error.")
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

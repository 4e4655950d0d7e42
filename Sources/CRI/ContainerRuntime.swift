/// A container runtime reached over CRI: `runtime.v1.RuntimeService` plus `ImageService`.
///
/// ``CRIClient`` talks to a real runtime over its unix socket; `FakeRuntime` (TestSupport)
/// simulates one in memory. Each method sends one request message and returns the runtime's
/// response message unchanged. `timeout` bounds the call (nil: the implementation's per-call
/// default). Every failure is a ``CRIError`` naming the call. Implementations are safe to call
/// from many tasks at once; cancelling the calling task cancels the call.
///
/// Semantics follow the CRI spec: stop and remove calls are idempotent (no error for a sandbox or
/// container that is already gone), a container is created in a ready sandbox, and an unknown id
/// elsewhere is a `notFound` status.
public protocol ContainerRuntime: Sendable {
    func version(_ request: Runtime_V1_VersionRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_VersionResponse
    func status(_ request: Runtime_V1_StatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StatusResponse
    func updateRuntimeConfig(_ request: Runtime_V1_UpdateRuntimeConfigRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateRuntimeConfigResponse
    func runPodSandbox(_ request: Runtime_V1_RunPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RunPodSandboxResponse
    func stopPodSandbox(_ request: Runtime_V1_StopPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopPodSandboxResponse
    func removePodSandbox(_ request: Runtime_V1_RemovePodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemovePodSandboxResponse
    func podSandboxStatus(_ request: Runtime_V1_PodSandboxStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatusResponse
    func listPodSandbox(_ request: Runtime_V1_ListPodSandboxRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListPodSandboxResponse
    func podSandboxStats(_ request: Runtime_V1_PodSandboxStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PodSandboxStatsResponse
    func createContainer(_ request: Runtime_V1_CreateContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_CreateContainerResponse
    func startContainer(_ request: Runtime_V1_StartContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StartContainerResponse
    func stopContainer(_ request: Runtime_V1_StopContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_StopContainerResponse
    func removeContainer(_ request: Runtime_V1_RemoveContainerRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveContainerResponse
    func listContainers(_ request: Runtime_V1_ListContainersRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainersResponse
    func containerStatus(_ request: Runtime_V1_ContainerStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatusResponse
    func updateContainerResources(_ request: Runtime_V1_UpdateContainerResourcesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_UpdateContainerResourcesResponse
    func reopenContainerLog(_ request: Runtime_V1_ReopenContainerLogRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ReopenContainerLogResponse
    func execSync(_ request: Runtime_V1_ExecSyncRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecSyncResponse
    func exec(_ request: Runtime_V1_ExecRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ExecResponse
    func attach(_ request: Runtime_V1_AttachRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_AttachResponse
    func portForward(_ request: Runtime_V1_PortForwardRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PortForwardResponse
    func containerStats(_ request: Runtime_V1_ContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ContainerStatsResponse
    func listContainerStats(_ request: Runtime_V1_ListContainerStatsRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListContainerStatsResponse
    func listImages(_ request: Runtime_V1_ListImagesRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ListImagesResponse
    func imageStatus(_ request: Runtime_V1_ImageStatusRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageStatusResponse
    func pullImage(_ request: Runtime_V1_PullImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_PullImageResponse
    func removeImage(_ request: Runtime_V1_RemoveImageRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_RemoveImageResponse
    func imageFsInfo(_ request: Runtime_V1_ImageFsInfoRequest, timeout: Duration?) async throws(CRIError) -> Runtime_V1_ImageFsInfoResponse
}

extension ContainerRuntime {
    public func version(_ request: Runtime_V1_VersionRequest) async throws(CRIError) -> Runtime_V1_VersionResponse {
        try await version(request, timeout: nil)
    }

    public func status(_ request: Runtime_V1_StatusRequest) async throws(CRIError) -> Runtime_V1_StatusResponse {
        try await status(request, timeout: nil)
    }

    public func updateRuntimeConfig(_ request: Runtime_V1_UpdateRuntimeConfigRequest) async throws(CRIError) -> Runtime_V1_UpdateRuntimeConfigResponse {
        try await updateRuntimeConfig(request, timeout: nil)
    }

    public func runPodSandbox(_ request: Runtime_V1_RunPodSandboxRequest) async throws(CRIError) -> Runtime_V1_RunPodSandboxResponse {
        try await runPodSandbox(request, timeout: nil)
    }

    public func stopPodSandbox(_ request: Runtime_V1_StopPodSandboxRequest) async throws(CRIError) -> Runtime_V1_StopPodSandboxResponse {
        try await stopPodSandbox(request, timeout: nil)
    }

    public func removePodSandbox(_ request: Runtime_V1_RemovePodSandboxRequest) async throws(CRIError) -> Runtime_V1_RemovePodSandboxResponse {
        try await removePodSandbox(request, timeout: nil)
    }

    public func podSandboxStatus(_ request: Runtime_V1_PodSandboxStatusRequest) async throws(CRIError) -> Runtime_V1_PodSandboxStatusResponse {
        try await podSandboxStatus(request, timeout: nil)
    }

    public func listPodSandbox(_ request: Runtime_V1_ListPodSandboxRequest) async throws(CRIError) -> Runtime_V1_ListPodSandboxResponse {
        try await listPodSandbox(request, timeout: nil)
    }

    public func podSandboxStats(_ request: Runtime_V1_PodSandboxStatsRequest) async throws(CRIError) -> Runtime_V1_PodSandboxStatsResponse {
        try await podSandboxStats(request, timeout: nil)
    }

    public func createContainer(_ request: Runtime_V1_CreateContainerRequest) async throws(CRIError) -> Runtime_V1_CreateContainerResponse {
        try await createContainer(request, timeout: nil)
    }

    public func startContainer(_ request: Runtime_V1_StartContainerRequest) async throws(CRIError) -> Runtime_V1_StartContainerResponse {
        try await startContainer(request, timeout: nil)
    }

    public func stopContainer(_ request: Runtime_V1_StopContainerRequest) async throws(CRIError) -> Runtime_V1_StopContainerResponse {
        try await stopContainer(request, timeout: nil)
    }

    public func removeContainer(_ request: Runtime_V1_RemoveContainerRequest) async throws(CRIError) -> Runtime_V1_RemoveContainerResponse {
        try await removeContainer(request, timeout: nil)
    }

    public func listContainers(_ request: Runtime_V1_ListContainersRequest) async throws(CRIError) -> Runtime_V1_ListContainersResponse {
        try await listContainers(request, timeout: nil)
    }

    public func containerStatus(_ request: Runtime_V1_ContainerStatusRequest) async throws(CRIError) -> Runtime_V1_ContainerStatusResponse {
        try await containerStatus(request, timeout: nil)
    }

    public func updateContainerResources(_ request: Runtime_V1_UpdateContainerResourcesRequest) async throws(CRIError) -> Runtime_V1_UpdateContainerResourcesResponse {
        try await updateContainerResources(request, timeout: nil)
    }

    public func reopenContainerLog(_ request: Runtime_V1_ReopenContainerLogRequest) async throws(CRIError) -> Runtime_V1_ReopenContainerLogResponse {
        try await reopenContainerLog(request, timeout: nil)
    }

    public func execSync(_ request: Runtime_V1_ExecSyncRequest) async throws(CRIError) -> Runtime_V1_ExecSyncResponse {
        try await execSync(request, timeout: nil)
    }

    public func exec(_ request: Runtime_V1_ExecRequest) async throws(CRIError) -> Runtime_V1_ExecResponse {
        try await exec(request, timeout: nil)
    }

    public func attach(_ request: Runtime_V1_AttachRequest) async throws(CRIError) -> Runtime_V1_AttachResponse {
        try await attach(request, timeout: nil)
    }

    public func portForward(_ request: Runtime_V1_PortForwardRequest) async throws(CRIError) -> Runtime_V1_PortForwardResponse {
        try await portForward(request, timeout: nil)
    }

    public func containerStats(_ request: Runtime_V1_ContainerStatsRequest) async throws(CRIError) -> Runtime_V1_ContainerStatsResponse {
        try await containerStats(request, timeout: nil)
    }

    public func listContainerStats(_ request: Runtime_V1_ListContainerStatsRequest) async throws(CRIError) -> Runtime_V1_ListContainerStatsResponse {
        try await listContainerStats(request, timeout: nil)
    }

    public func listImages(_ request: Runtime_V1_ListImagesRequest) async throws(CRIError) -> Runtime_V1_ListImagesResponse {
        try await listImages(request, timeout: nil)
    }

    public func imageStatus(_ request: Runtime_V1_ImageStatusRequest) async throws(CRIError) -> Runtime_V1_ImageStatusResponse {
        try await imageStatus(request, timeout: nil)
    }

    public func pullImage(_ request: Runtime_V1_PullImageRequest) async throws(CRIError) -> Runtime_V1_PullImageResponse {
        try await pullImage(request, timeout: nil)
    }

    public func removeImage(_ request: Runtime_V1_RemoveImageRequest) async throws(CRIError) -> Runtime_V1_RemoveImageResponse {
        try await removeImage(request, timeout: nil)
    }

    public func imageFsInfo(_ request: Runtime_V1_ImageFsInfoRequest) async throws(CRIError) -> Runtime_V1_ImageFsInfoResponse {
        try await imageFsInfo(request, timeout: nil)
    }

}

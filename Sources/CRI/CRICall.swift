/// The CRI calls Nodekit makes, named by their gRPC method names (`RunPodSandbox`).
public enum CRICall: String, Sendable, Hashable, CaseIterable {
    case version = "Version"
    case status = "Status"
    case updateRuntimeConfig = "UpdateRuntimeConfig"
    case runPodSandbox = "RunPodSandbox"
    case stopPodSandbox = "StopPodSandbox"
    case removePodSandbox = "RemovePodSandbox"
    case podSandboxStatus = "PodSandboxStatus"
    case listPodSandbox = "ListPodSandbox"
    case podSandboxStats = "PodSandboxStats"
    case createContainer = "CreateContainer"
    case startContainer = "StartContainer"
    case stopContainer = "StopContainer"
    case removeContainer = "RemoveContainer"
    case listContainers = "ListContainers"
    case containerStatus = "ContainerStatus"
    case updateContainerResources = "UpdateContainerResources"
    case reopenContainerLog = "ReopenContainerLog"
    case execSync = "ExecSync"
    case exec = "Exec"
    case attach = "Attach"
    case portForward = "PortForward"
    case containerStats = "ContainerStats"
    case listContainerStats = "ListContainerStats"
    case listImages = "ListImages"
    case imageStatus = "ImageStatus"
    case pullImage = "PullImage"
    case removeImage = "RemoveImage"
    case imageFsInfo = "ImageFsInfo"

    /// The deadline a call gets when neither the client's ``CRITimeouts`` nor the caller
    /// overrides it. Calls that start or stop processes, or set up a pod network, get the
    /// kubelet's default runtime request timeout (2 minutes); pulls get 10 minutes; reads 10 s.
    /// Calls that CRI defines as safe to repeat: reads, and the stop/remove calls (idempotent
    /// by the CRI contract). RunPodSandbox, CreateContainer, StartContainer, ExecSync and the
    /// streaming calls are not repeated by the client.
    public var isIdempotent: Bool {
        switch self {
        case .version, .status, .stopPodSandbox, .removePodSandbox, .podSandboxStatus, .listPodSandbox, .podSandboxStats,
             .stopContainer, .removeContainer, .listContainers, .containerStatus, .containerStats, .listContainerStats,
             .listImages, .imageStatus, .removeImage, .imageFsInfo:
            true
        default:
            false
        }
    }

    public var defaultTimeout: Duration {
        switch self {
        case .runPodSandbox, .stopPodSandbox, .removePodSandbox, .createContainer, .startContainer,
             .stopContainer, .removeContainer, .updateContainerResources, .execSync, .updateRuntimeConfig:
            return .seconds(120)
        case .pullImage:
            return .seconds(600)
        case .version, .status, .podSandboxStatus, .listPodSandbox, .podSandboxStats, .listContainers,
             .containerStatus, .reopenContainerLog, .exec, .attach, .portForward, .containerStats,
             .listContainerStats, .listImages, .imageStatus, .removeImage, .imageFsInfo:
            return .seconds(10)
        }
    }
}

/// Per-call deadlines of a ``CRIClient``: each call's ``CRICall/defaultTimeout`` unless
/// overridden here; a timeout passed to a single call wins over both.
public struct CRITimeouts: Sendable, Equatable {
    public var overrides: [CRICall: Duration]

    public init(overrides: [CRICall: Duration] = [:]) {
        self.overrides = overrides
    }

    /// The same deadline for every call, e.g. a CLI's `--timeout`.
    public static func uniform(_ timeout: Duration) -> CRITimeouts {
        CRITimeouts(overrides: Dictionary(uniqueKeysWithValues: CRICall.allCases.map { ($0, timeout) }))
    }

    public subscript(call: CRICall) -> Duration {
        get { overrides[call] ?? call.defaultTimeout }
        set { overrides[call] = newValue }
    }
}

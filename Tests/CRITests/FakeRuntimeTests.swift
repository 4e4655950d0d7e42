import CRI
import Testing
import TestSupport

/// Builders for CRI requests used across these tests.
enum Requests {
    static func sandbox(_ name: String, namespace: String = "default", uid: String? = nil, logDirectory: String = "") -> Runtime_V1_RunPodSandboxRequest {
        var request = Runtime_V1_RunPodSandboxRequest()
        request.config.metadata.name = name
        request.config.metadata.namespace = namespace
        request.config.metadata.uid = uid ?? "uid-" + name
        request.config.logDirectory = logDirectory
        request.config.labels = ["app": name]
        return request
    }

    static func container(_ name: String, in sandboxID: String, image: String = "docker.io/nodekit/busybox:latest") -> Runtime_V1_CreateContainerRequest {
        var request = Runtime_V1_CreateContainerRequest()
        request.podSandboxID = sandboxID
        request.config.metadata.name = name
        request.config.image.image = image
        request.config.command = ["sh", "-c", "echo hello; sleep 1000"]
        request.config.logPath = name + "/0.log"
        return request
    }

    static func id(_ containerID: String) -> Runtime_V1_StartContainerRequest {
        var request = Runtime_V1_StartContainerRequest()
        request.containerID = containerID
        return request
    }

    static func status(_ containerID: String) -> Runtime_V1_ContainerStatusRequest {
        var request = Runtime_V1_ContainerStatusRequest()
        request.containerID = containerID
        return request
    }
}

@Suite struct FakeRuntimeTests {
    private func runtimeWithPod() async throws -> (FakeRuntime, sandbox: String, container: String) {
        let runtime = FakeRuntime()
        await runtime.addImage("docker.io/nodekit/busybox:latest")
        let sandbox = try await runtime.runPodSandbox(Requests.sandbox("web", logDirectory: "/var/log/pods/web")).podSandboxID
        let container = try await runtime.createContainer(Requests.container("app", in: sandbox)).containerID
        return (runtime, sandbox, container)
    }

    @Test func containerLifecycleTransitions() async throws {
        let (runtime, sandbox, id) = try await runtimeWithPod()
        #expect(try await runtime.containerStatus(Requests.status(id)).status.state == .containerCreated)
        await runtime.advance(by: .seconds(2))
        _ = try await runtime.startContainer(Requests.id(id))
        let running = try await runtime.containerStatus(Requests.status(id)).status
        #expect(running.state == .containerRunning)
        #expect(running.startedAt - running.createdAt == 2_000_000_000)
        #expect(running.logPath == "/var/log/pods/web/app/0.log")

        var stop = Runtime_V1_StopContainerRequest()
        stop.containerID = id
        stop.timeout = 10
        _ = try await runtime.stopContainer(stop)
        let exited = try await runtime.containerStatus(Requests.status(id)).status
        #expect(exited.state == .containerExited)
        #expect(exited.exitCode == 143)

        var remove = Runtime_V1_RemoveContainerRequest()
        remove.containerID = id
        _ = try await runtime.removeContainer(remove)
        _ = try await runtime.removeContainer(remove) // idempotent, like CRI's
        #expect(try await runtime.listContainers(Runtime_V1_ListContainersRequest()).containers.isEmpty)
        #expect(try await runtime.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items.map(\.id) == [sandbox])
    }

    @Test func startTwiceIsAStateError() async throws {
        let (runtime, _, id) = try await runtimeWithPod()
        _ = try await runtime.startContainer(Requests.id(id))
        await #expect(throws: CRIError.runtime(.startContainer, .failedPrecondition,
                                               "container \(id) is in CONTAINER_RUNNING state, not CONTAINER_CREATED")) {
            _ = try await runtime.startContainer(Requests.id(id))
        }
    }

    @Test func unknownIDsAreNotFound() async throws {
        let runtime = FakeRuntime()
        await #expect {
            _ = try await runtime.startContainer(Requests.id("deadbeef"))
        } throws: { error in
            (error as? CRIError)?.description == "CRI StartContainer: notFound: an error occurred when try to find container \"deadbeef\": not found"
        }
        var status = Runtime_V1_PodSandboxStatusRequest()
        status.podSandboxID = "nope"
        await #expect { _ = try await runtime.podSandboxStatus(status) } throws: { ($0 as? CRIError)?.isNotFound ?? false }
    }

    @Test func idPrefixesResolve() async throws {
        let (runtime, sandbox, id) = try await runtimeWithPod()
        _ = try await runtime.startContainer(Requests.id(String(id.prefix(12))))
        #expect(try await runtime.containerStatus(Requests.status(String(id.prefix(5)))).status.id == id)
        var status = Runtime_V1_PodSandboxStatusRequest()
        status.podSandboxID = String(sandbox.prefix(6))
        #expect(try await runtime.podSandboxStatus(status).status.id == sandbox)
    }

    @Test func createNeedsImageReadySandboxAndUniqueName() async throws {
        let (runtime, sandbox, _) = try await runtimeWithPod()
        await #expect(throws: CRIError.runtime(.createContainer, .notFound, "failed to resolve image \"docker.io/nodekit/missing:1\": not found")) {
            _ = try await runtime.createContainer(Requests.container("other", in: sandbox, image: "docker.io/nodekit/missing:1"))
        }
        await #expect { _ = try await runtime.createContainer(Requests.container("app", in: sandbox)) } throws: {
            ($0 as? CRIError)?.kind == .runtime(.alreadyExists)
        }
        var stop = Runtime_V1_StopPodSandboxRequest()
        stop.podSandboxID = sandbox
        _ = try await runtime.stopPodSandbox(stop)
        await #expect { _ = try await runtime.createContainer(Requests.container("late", in: sandbox)) } throws: {
            ($0 as? CRIError)?.kind == .runtime(.failedPrecondition)
        }
    }

    @Test func stoppingASandboxStopsItsContainersAndRemovingRemovesThem() async throws {
        let (runtime, sandbox, id) = try await runtimeWithPod()
        _ = try await runtime.startContainer(Requests.id(id))
        var stop = Runtime_V1_StopPodSandboxRequest()
        stop.podSandboxID = sandbox
        _ = try await runtime.stopPodSandbox(stop)
        var status = Runtime_V1_PodSandboxStatusRequest()
        status.podSandboxID = sandbox
        let pod = try await runtime.podSandboxStatus(status).status
        #expect(pod.state == .sandboxNotready)
        #expect(pod.network.ip.isEmpty)
        #expect(try await runtime.containerStatus(Requests.status(id)).status.state == .containerExited)

        var remove = Runtime_V1_RemovePodSandboxRequest()
        remove.podSandboxID = sandbox
        _ = try await runtime.removePodSandbox(remove)
        _ = try await runtime.removePodSandbox(remove)
        #expect(await runtime.sandboxes.isEmpty)
        #expect(await runtime.containers.isEmpty)
    }

    @Test func sandboxNamesAreReserved() async throws {
        let runtime = FakeRuntime()
        _ = try await runtime.runPodSandbox(Requests.sandbox("web"))
        await #expect { _ = try await runtime.runPodSandbox(Requests.sandbox("web")) } throws: {
            ($0 as? CRIError)?.kind == .runtime(.alreadyExists)
        }
        var next = Requests.sandbox("web")
        next.config.metadata.attempt = 1
        _ = try await runtime.runPodSandbox(next)
        #expect(try await runtime.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items.count == 2)
    }

    @Test func listFiltersByStateLabelAndSandbox() async throws {
        let (runtime, sandbox, first) = try await runtimeWithPod()
        var second = Requests.container("sidecar", in: sandbox)
        second.config.labels = ["role": "sidecar"]
        let secondID = try await runtime.createContainer(second).containerID
        _ = try await runtime.startContainer(Requests.id(first))

        var running = Runtime_V1_ListContainersRequest()
        running.filter.state.state = .containerRunning
        #expect(try await runtime.listContainers(running).containers.map(\.id) == [first])
        var labelled = Runtime_V1_ListContainersRequest()
        labelled.filter.labelSelector = ["role": "sidecar"]
        #expect(try await runtime.listContainers(labelled).containers.map(\.id) == [secondID])
        var otherPod = Runtime_V1_ListContainersRequest()
        otherPod.filter.podSandboxID = "ffff"
        #expect(try await runtime.listContainers(otherPod).containers.isEmpty)
        var readyPods = Runtime_V1_ListPodSandboxRequest()
        readyPods.filter.state.state = .sandboxNotready
        #expect(try await runtime.listPodSandbox(readyPods).items.isEmpty)
    }

    @Test func execNeedsARunningContainer() async throws {
        let (runtime, _, id) = try await runtimeWithPod()
        var request = Runtime_V1_ExecSyncRequest()
        request.containerID = id
        request.cmd = ["echo", "hi", "there"]
        await #expect { _ = try await runtime.execSync(request) } throws: { ($0 as? CRIError)?.kind == .runtime(.failedPrecondition) }
        _ = try await runtime.startContainer(Requests.id(id))
        let echoed = try await runtime.execSync(request)
        #expect(String(decoding: echoed.stdout, as: UTF8.self) == "hi there\n")
        #expect(echoed.exitCode == 0)

        await runtime.setExecResult(containerID: id, command: ["cat", "/etc/hostname"], stdout: "web\n")
        request.cmd = ["cat", "/etc/hostname"]
        #expect(String(decoding: try await runtime.execSync(request).stdout, as: UTF8.self) == "web\n")
        request.cmd = ["false"]
        #expect(try await runtime.execSync(request).exitCode == 1)
        request.cmd = ["nosuchbinary"]
        await #expect { _ = try await runtime.execSync(request) } throws: {
            ($0 as? CRIError)?.description.contains("executable file not found") ?? false
        }

        var exec = Runtime_V1_ExecRequest()
        exec.containerID = id
        exec.cmd = ["sh"]
        exec.stdout = true
        #expect(try await runtime.exec(exec).url.hasPrefix("http://"))
    }

    @Test func processExitIsVisibleInStatus() async throws {
        let (runtime, _, id) = try await runtimeWithPod()
        _ = try await runtime.startContainer(Requests.id(id))
        await runtime.advance(by: .seconds(30))
        try await runtime.exitContainer(id, exitCode: 3)
        let status = try await runtime.containerStatus(Requests.status(id)).status
        #expect(status.state == .containerExited)
        #expect(status.exitCode == 3)
        #expect(status.reason == "Error")
        #expect(status.finishedAt - status.startedAt == 30_000_000_000)
    }

    @Test func imagesPullListStatusRemove() async throws {
        let runtime = FakeRuntime()
        await runtime.addToRegistry("busybox", size: 4_270_000)
        var pull = Runtime_V1_PullImageRequest()
        pull.image.image = "busybox"
        let ref = try await runtime.pullImage(pull).imageRef
        #expect(ref.hasPrefix("sha256:") && ref.count == 71)

        let listed = try await runtime.listImages(Runtime_V1_ListImagesRequest()).images
        #expect(listed.map(\.repoTags) == [["docker.io/library/busybox:latest"]])
        #expect(listed.first?.size == 4_270_000)

        var status = Runtime_V1_ImageStatusRequest()
        status.image.image = "docker.io/library/busybox:latest"
        #expect(try await runtime.imageStatus(status).image.id == ref)
        status.image.image = "missing"
        #expect(try await runtime.imageStatus(status).hasImage == false)

        pull.image.image = "docker.io/nodekit/nonexistent:1"
        await #expect { _ = try await runtime.pullImage(pull) } throws: {
            ($0 as? CRIError)?.kind == .runtime(.unknown) && "\($0)".contains("failed to pull and unpack image \"docker.io/nodekit/nonexistent:1\"")
        }

        var remove = Runtime_V1_RemoveImageRequest()
        remove.image.image = ref
        _ = try await runtime.removeImage(remove)
        _ = try await runtime.removeImage(remove)
        #expect(try await runtime.listImages(Runtime_V1_ListImagesRequest()).images.isEmpty)
    }

    @Test func statsReportUsage() async throws {
        let (runtime, sandbox, id) = try await runtimeWithPod()
        _ = try await runtime.startContainer(Requests.id(id))
        try await runtime.setUsage(containerID: id, cpuNanos: 5_000, memoryWorkingSetBytes: 1 << 20)
        var request = Runtime_V1_ContainerStatsRequest()
        request.containerID = id
        let stats = try await runtime.containerStats(request).stats
        #expect(stats.attributes.id == id)
        #expect(stats.cpu.usageCoreNanoSeconds.value == 5_000)
        #expect(stats.memory.workingSetBytes.value == 1 << 20)
        var pod = Runtime_V1_PodSandboxStatsRequest()
        pod.podSandboxID = sandbox
        let podStats = try await runtime.podSandboxStats(pod).stats
        #expect(podStats.linux.containers.map(\.attributes.id) == [id])
        #expect(podStats.linux.memory.workingSetBytes.value == 1 << 20)
        #expect(try await runtime.listContainerStats(Runtime_V1_ListContainerStatsRequest()).stats.count == 1)
    }

    @Test func injectedErrorsFailTheNextCallOnce() async throws {
        let runtime = FakeRuntime()
        await runtime.inject(.runtime(.version, .unavailable, "restarting"), into: .version)
        await #expect(throws: CRIError.runtime(.version, .unavailable, "restarting")) {
            _ = try await runtime.version(Runtime_V1_VersionRequest())
        }
        #expect(try await runtime.version(Runtime_V1_VersionRequest()).runtimeName == "fake-runtime")
        #expect(await runtime.calls == [.version, .version])
    }

    @Test func statusReportsNetworkReadiness() async throws {
        let runtime = FakeRuntime()
        await runtime.setNetworkReady(false, reason: "NetworkPluginNotReady", message: "cni config uninitialized")
        let conditions = try await runtime.status(Runtime_V1_StatusRequest()).status.conditions
        #expect(conditions.map(\.type) == ["RuntimeReady", "NetworkReady"])
        #expect(conditions.map(\.status) == [true, false])
        #expect(conditions[1].reason == "NetworkPluginNotReady")
    }
}

import CRI
import Foundation
import LinuxSystem
import Testing
import TestSupport

/// The CRI client against a real containerd (private state dir, socket, bridge and pod CIDR).
@Suite(.serialized, .enabled(if: ContainerdFixture.skipReason == nil,
                             Comment(rawValue: ContainerdFixture.skipReason ?? "")))
struct CRIIntegrationTests {
    @Test func versionNamesContainerd() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: fixture.socketPath)) { client in
            var request = Runtime_V1_VersionRequest()
            request.version = "v1"
            let version = try await client.version(request)
            #expect(version.runtimeName == "containerd")
            #expect(!version.runtimeVersion.isEmpty)
            #expect(version.runtimeApiVersion == "v1")
            let conditions = try await client.status(Runtime_V1_StatusRequest()).status.conditions
            #expect(conditions.first { $0.type == "RuntimeReady" }?.status == true)
            #expect(conditions.first { $0.type == "NetworkReady" }?.status == true)
            let images = try await client.listImages(Runtime_V1_ListImagesRequest()).images.flatMap(\.repoTags)
            #expect(images.contains(ContainerdFixture.busyboxImage))
            #expect(images.contains(ContainerdFixture.pauseImage))
        }
    }

    @Test func podLifecycleExecLogsStatsAndCleanup() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath))
        do {
            try await runPod(client, fixture)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    private func runPod(_ client: CRIClient, _ fixture: ContainerdFixture) async throws {
        let sandboxConfig = fixture.sandboxConfig(name: "cri-lifecycle")
        var run = Runtime_V1_RunPodSandboxRequest()
        run.config = sandboxConfig
        let sandboxID = try await client.runPodSandbox(run).podSandboxID
        var podStatus = Runtime_V1_PodSandboxStatusRequest()
        podStatus.podSandboxID = sandboxID
        let pod = try await client.podSandboxStatus(podStatus).status
        #expect(pod.state == .sandboxReady)
        // The pod got an address from the CNI network containerd.sh installed.
        let podPrefix = fixture.podCIDR.split(separator: ".").prefix(3).joined(separator: ".") + "."
        #expect(pod.network.ip.hasPrefix(podPrefix), "pod IP \(pod.network.ip) not in \(fixture.podCIDR)")

        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandboxID
        create.config = ContainerdFixture.busyboxContainer(name: "busybox", command: ["sh", "-c", "echo hello; sleep 1000"])
        create.sandboxConfig = sandboxConfig
        let containerID = try await client.createContainer(create).containerID
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = containerID
        _ = try await client.startContainer(start)

        var statusRequest = Runtime_V1_ContainerStatusRequest()
        statusRequest.containerID = containerID
        let status = try await client.containerStatus(statusRequest).status
        #expect(status.state == .containerRunning)
        #expect(status.logPath == sandboxConfig.logDirectory + "/busybox/0.log")

        var execSync = Runtime_V1_ExecSyncRequest()
        execSync.containerID = containerID
        execSync.cmd = ["sh", "-c", "echo exec-ok; echo oops >&2; exit 3"]
        execSync.timeout = 10
        let exec = try await client.execSync(execSync)
        #expect(String(decoding: exec.stdout, as: UTF8.self) == "exec-ok\n")
        #expect(String(decoding: exec.stderr, as: UTF8.self) == "oops\n")
        #expect(exec.exitCode == 3)

        // The runtime writes the log asynchronously; poll it briefly.
        var log = ""
        for _ in 0..<50 {
            log = (try? String(contentsOfFile: status.logPath, encoding: .utf8)) ?? ""
            if log.contains("hello") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let entries = try ContainerLogEntry.parse(log)
        #expect(entries.map(\.message) == ["hello"])
        #expect(entries.first?.stream == .stdout)

        var streaming = Runtime_V1_ExecRequest()
        streaming.containerID = containerID
        streaming.cmd = ["sh"]
        streaming.stdout = true
        let url = try await client.exec(streaming).url
        #expect(url.hasPrefix("http://127.0.0.1:"), "exec URL \(url)")

        var statsRequest = Runtime_V1_ContainerStatsRequest()
        statsRequest.containerID = containerID
        let stats = try await client.containerStats(statsRequest).stats
        #expect(stats.attributes.id == containerID)
        #expect(stats.attributes.metadata.name == "busybox")
        #expect(stats.cpu.timestamp > 0)
        let listed = try await client.listContainerStats(Runtime_V1_ListContainerStatsRequest()).stats
        #expect(listed.map(\.attributes.id) == [containerID])

        var stop = Runtime_V1_StopContainerRequest()
        stop.containerID = containerID
        stop.timeout = 1
        _ = try await client.stopContainer(stop)
        let stopped = try await client.containerStatus(statusRequest).status
        #expect(stopped.state == .containerExited)
        var remove = Runtime_V1_RemoveContainerRequest()
        remove.containerID = containerID
        _ = try await client.removeContainer(remove)
        var stopPod = Runtime_V1_StopPodSandboxRequest()
        stopPod.podSandboxID = sandboxID
        _ = try await client.stopPodSandbox(stopPod)
        var removePod = Runtime_V1_RemovePodSandboxRequest()
        removePod.podSandboxID = sandboxID
        _ = try await client.removePodSandbox(removePod)

        #expect(try await client.listContainers(Runtime_V1_ListContainersRequest()).containers.isEmpty)
        #expect(try await client.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items.isEmpty)
        let tasks = try fixture.ctr("tasks", "ls", "-q").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(tasks.isEmpty, "tasks left: \(tasks)")
    }

    @Test func runtimeErrorsNameTheCallAndStatus() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: fixture.socketPath)) { client in
            var start = Runtime_V1_StartContainerRequest()
            start.containerID = "0123456789abcdef-nonexistent"
            await #expect {
                _ = try await client.startContainer(start)
            } throws: { error in
                guard let error = error as? CRIError else { return false }
                return error.kind == .runtime(.notFound) && error.description.hasPrefix("CRI StartContainer: notFound: ")
            }

            // Nothing listens on port 1: the pull fails at once, without waiting for a registry.
            var pull = Runtime_V1_PullImageRequest()
            pull.image.image = "127.0.0.1:1/nodekit/nonexistent:latest"
            await #expect {
                _ = try await client.pullImage(pull, timeout: .seconds(30))
            } throws: { error in
                guard let error = error as? CRIError, case .runtime = error.kind else { return false }
                return error.description.hasPrefix("CRI PullImage: ") && error.message.contains("127.0.0.1:1/nodekit/nonexistent")
            }

            var run = Runtime_V1_RunPodSandboxRequest()
            run.config = fixture.sandboxConfig(name: "cri-errors")
            let sandboxID = try await client.runPodSandbox(run).podSandboxID
            var create = Runtime_V1_CreateContainerRequest()
            create.podSandboxID = sandboxID
            create.config = ContainerdFixture.busyboxContainer(name: "missing", command: ["true"])
            create.config.image.image = "docker.io/nodekit/missing:latest"
            create.sandboxConfig = run.config
            await #expect {
                _ = try await client.createContainer(create)
            } throws: { error in
                guard let error = error as? CRIError, case .runtime = error.kind else { return false }
                return error.description.hasPrefix("CRI CreateContainer: ") && error.message.contains("docker.io/nodekit/missing:latest")
            }
            var removePod = Runtime_V1_RemovePodSandboxRequest()
            removePod.podSandboxID = sandboxID
            var stopPod = Runtime_V1_StopPodSandboxRequest()
            stopPod.podSandboxID = sandboxID
            _ = try await client.stopPodSandbox(stopPod)
            _ = try await client.removePodSandbox(removePod)
        }
    }

    /// Prints first-call and later unary latency, and median RunPodSandbox and
    /// CreateContainer+StartContainer times over 10 pods, for the report.
    @Test func measuresCallLatencies() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let clock = ContinuousClock()
        let client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath))
        var first = Duration.zero
        var later: [Duration] = []
        var sandboxTimes: [Duration] = []
        var containerTimes: [Duration] = []
        do {
            first = try await clock.measure { _ = try await client.version(Runtime_V1_VersionRequest()) }
            for _ in 0..<20 {
                later.append(try await clock.measure { _ = try await client.version(Runtime_V1_VersionRequest()) })
            }
            for index in 0..<10 {
                var run = Runtime_V1_RunPodSandboxRequest()
                run.config = fixture.sandboxConfig(name: "cri-bench-\(index)")
                var sandboxID = ""
                sandboxTimes.append(try await clock.measure { sandboxID = try await client.runPodSandbox(run).podSandboxID })
                var create = Runtime_V1_CreateContainerRequest()
                create.podSandboxID = sandboxID
                create.config = ContainerdFixture.busyboxContainer(name: "sleep", command: ["sleep", "1000"])
                create.sandboxConfig = run.config
                containerTimes.append(try await clock.measure {
                    var start = Runtime_V1_StartContainerRequest()
                    start.containerID = try await client.createContainer(create).containerID
                    _ = try await client.startContainer(start)
                })
                var stopPod = Runtime_V1_StopPodSandboxRequest()
                stopPod.podSandboxID = sandboxID
                _ = try await client.stopPodSandbox(stopPod)
                var removePod = Runtime_V1_RemovePodSandboxRequest()
                removePod.podSandboxID = sandboxID
                _ = try await client.removePodSandbox(removePod)
            }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
        func median(_ values: [Duration]) -> String {
            let sorted = values.sorted()
            let ms = Double(sorted[sorted.count / 2].components.attoseconds) / 1e15 + Double(sorted[sorted.count / 2].components.seconds) * 1000
            let range = sorted.map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000 }
            return String(format: "median %.1f ms (min %.1f, max %.1f)", ms, range.first!, range.last!)
        }
        print("CRI latency: first call \(first); later unary Version \(median(later))")
        print("CRI latency: RunPodSandbox \(median(sandboxTimes)); CreateContainer+StartContainer \(median(containerTimes))")
        #expect(sandboxTimes.count == 10 && containerTimes.count == 10)
        #expect(try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: fixture.socketPath)) { client in
            try await client.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items.count
        } == 0)
    }
}

/// Failures without a runtime: a missing socket and peers that are not CRI runtimes.
@Suite(.serialized) struct CRIBadEndpointTests {
    @Test func missingSocketIsReportedQuickly() async throws {
        let path = "/tmp/nk-it-\(Host.runSuffix)-missing.sock"
        let started = ContinuousClock.now
        await #expect {
            try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: path)) { client in
                _ = try await client.version(Runtime_V1_VersionRequest())
            }
        } throws: { error in
            (error as? CRIError)?.description == "CRI Version: cannot reach the container runtime at \(path): no such file"
        }
        // Bounded by the call's 10 s deadline (plus slack for a loaded machine): never a hang.
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test(.enabled(if: Host.which("python3") != nil, "needs python3 to run a non-CRI unix listener"),
          arguments: ["garbage", "close", "silent"])
    func nonRuntimePeerGivesAClearErrorWithinTheTimeout(behaviour: String) async throws {
        let path = "/tmp/nk-it-\(Host.runSuffix)-\(behaviour).sock"
        let peer = try UnixPeer(path: path, behaviour: behaviour)
        defer { peer.stop() }
        let timeout = Duration.seconds(2)
        let started = ContinuousClock.now
        await #expect {
            try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: path), timeouts: .uniform(timeout)) { client in
                _ = try await client.version(Runtime_V1_VersionRequest())
            }
        } throws: { error in
            guard let error = error as? CRIError else { return false }
            switch error.kind {
            case .unreachable:
                return error.description.hasPrefix("CRI Version: cannot reach the container runtime at \(path): ")
            case .deadlineExceeded:
                return error.description == "CRI Version: deadlineExceeded: no answer from the runtime at \(path) within 2 s"
            default:
                return false
            }
        }
        // The deadline, plus the one second `with` gives an abandoned call when closing.
        // Bounded by the deadline plus slack for a loaded machine: never a hang.
        #expect(ContinuousClock.now - started < timeout + .seconds(10))
    }
}

/// A unix socket listener that is not a CRI runtime: it answers with HTTP/1 garbage, closes each
/// connection at once, or accepts and stays silent.
private final class UnixPeer {
    let path: String
    private let process: SpawnedProcess

    init(path: String, behaviour: String) throws {
        self.path = path
        try? FileManager.default.removeItem(atPath: path)
        let script = """
            import os, socket, sys
            path, mode = sys.argv[1], sys.argv[2]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path); s.listen(8)
            held = []
            while True:
                c, _ = s.accept()
                if mode == "garbage":
                    c.sendall(b"HTTP/1.1 400 Bad Request\\r\\nContent-Length: 7\\r\\n\\r\\ngarbage"); c.close()
                elif mode == "close":
                    c.close()
                else:
                    held.append(c)
            """
        process = try spawn("python3", ["-c", script, path, behaviour])
        // The interpreter can take a few seconds to start on a busy machine.
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: path) {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    func stop() {
        process.kill()
        _ = try? process.wait()
        try? FileManager.default.removeItem(atPath: path)
    }
}

import CRI
import Foundation
import Testing
import TestSupport

/// The built `nodectl` binary against a real containerd: output, exit codes, one-line errors.
@Suite(.serialized, .enabled(if: NodectlBinary.path != nil, "needs the nodectl executable (swift build --product nodectl)"))
struct NodectlCRIIntegrationTests {
    @Test(.enabled(if: ContainerdFixture.skipReason == nil, Comment(rawValue: ContainerdFixture.skipReason ?? "")))
    func criViewsAgainstContainerd() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let endpoint = ["--runtime-endpoint", "unix://" + fixture.socketPath]

        let version = try NodectlBinary.run(["cri", "version"] + endpoint)
        #expect(version.status == 0)
        #expect(version.stdout.contains("RuntimeName:  containerd\n"))
        #expect(version.stdout.contains("RuntimeApiVersion:  v1\n"))
        #expect(version.stderr.isEmpty)

        // NODEKIT_STATE_DIR picks the socket when no endpoint is given.
        let byState = try NodectlBinary.run(["cri", "version", "-o", "json"], environment: ["NODEKIT_STATE_DIR": fixture.stateDir])
        #expect(byState.status == 0)
        #expect(byState.stdout.contains("\"runtimeName\" : \"containerd\""))

        let (containerID, sandboxID) = try await startPod(fixture)
        let ps = try NodectlBinary.run(["cri", "ps", "-o", "json"] + endpoint)
        #expect(ps.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(ps.stdout.utf8)) as? [String: Any]
        let containers = object?["containers"] as? [[String: Any]] ?? []
        #expect(containers.map { $0["id"] as? String } == [containerID])
        #expect(containers.first?["podSandboxId"] as? String == sandboxID)

        let table = try NodectlBinary.run(["cri", "ps"] + endpoint)
        #expect(table.stdout.hasPrefix("CONTAINER "))
        #expect(table.stdout.contains(String(containerID.prefix(13))) && table.stdout.contains("Running"))
        let pods = try NodectlBinary.run(["cri", "pods"] + endpoint)
        #expect(pods.stdout.contains(String(sandboxID.prefix(13))) && pods.stdout.contains("Ready"))
        let images = try NodectlBinary.run(["cri", "images"] + endpoint)
        #expect(images.stdout.contains("docker.io/nodekit/busybox   latest"))

        let exec = try NodectlBinary.run(["cri", "exec"] + endpoint + [String(containerID.prefix(12)), "--", "sh", "-c", "echo in-container; exit 3"])
        #expect(exec.stdout == "in-container\n")
        #expect(exec.status == 3)

        var logs = CommandResult(status: -1, stdout: "", stderr: "")
        for _ in 0..<50 {
            logs = try NodectlBinary.run(["cri", "logs", "--tail", "1"] + endpoint + [containerID])
            if logs.stdout == "hello\n" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(logs.status == 0)
        #expect(logs.stdout == "hello\n")

        let inspect = try NodectlBinary.run(["cri", "inspect", "-o", "yaml"] + endpoint + [containerID])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("state: CONTAINER_RUNNING"))

        let unknown = try NodectlBinary.run(["cri", "logs"] + endpoint + ["0000000000000nonexistent"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.hasPrefix("nodectl: CRI ContainerStatus: notFound: "))
        #expect(unknown.stderr.split(separator: "\n").count == 1)
    }

    @Test func missingSocketIsOneLineAndExitOne() throws {
        let path = "/tmp/nk-it-\(Host.runSuffix)-nodectl-missing.sock"
        let started = ContinuousClock.now
        let result = try NodectlBinary.run(["cri", "ps", "--runtime-endpoint", path])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "nodectl: cannot reach the container runtime at \(path): no such file\n")
        #expect(ContinuousClock.now - started < .seconds(15))  // a one-line error, never a hang (slack for a loaded machine)

        let state = try NodectlBinary.run(["cri", "version"], environment: ["NODEKIT_STATE_DIR": "/tmp/nk-it-\(Host.runSuffix)-none"])
        #expect(state.status == 1)
        #expect(state.stderr == "nodectl: cannot reach the container runtime at /tmp/nk-it-\(Host.runSuffix)-none/containerd/containerd.sock: no such file\n")

        let bad = try NodectlBinary.run(["cri", "ps", "--runtime-endpoint", "tcp://127.0.0.1:1"])
        #expect(bad.status == 1)
        #expect(bad.stderr.hasPrefix("nodectl: invalid runtime endpoint \"tcp://127.0.0.1:1\": "))
        #expect(bad.stderr.split(separator: "\n").count == 1)
    }

    private func startPod(_ fixture: ContainerdFixture) async throws -> (container: String, sandbox: String) {
        try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: fixture.socketPath)) { client in
            var run = Runtime_V1_RunPodSandboxRequest()
            run.config = fixture.sandboxConfig(name: "nodectl-it")
            let sandboxID = try await client.runPodSandbox(run).podSandboxID
            var create = Runtime_V1_CreateContainerRequest()
            create.podSandboxID = sandboxID
            create.config = ContainerdFixture.busyboxContainer(name: "busybox", command: ["sh", "-c", "echo hello; sleep 1000"])
            create.sandboxConfig = run.config
            let containerID = try await client.createContainer(create).containerID
            var start = Runtime_V1_StartContainerRequest()
            start.containerID = containerID
            _ = try await client.startContainer(start)
            return (containerID, sandboxID)
        }
    }
}

/// The nodectl executable of the debug build, run as a child process.
enum NodectlBinary {
    static var path: String? {
        let candidate = Host.repositoryRoot.appendingPathComponent(".build/debug/nodectl").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        guard let path else { throw NodectlError(description: "nodectl is not built") }
        return try TestSupport.run(path, arguments, environment: environment)
    }

    struct NodectlError: Error, CustomStringConvertible {
        var description: String
    }
}

import CRI
import Foundation
@testable import NodectlKit
import Testing
import TestSupport

@Suite struct CRIViewsTests {
    /// A fake node: two images, pod "web" (one running and one exited container) and pod "db"
    /// (stopped), created at known times so the CREATED column is exact.
    private func node(logDirectory: String = "/var/log/pods/web") async throws -> (FakeRuntime, web: String, app: String, job: String) {
        let runtime = FakeRuntime(runtimeName: "containerd", runtimeVersion: "1.6.20~ds1")
        await runtime.addImage("docker.io/nodekit/busybox:latest", size: 1_234_567)
        await runtime.addImage("docker.io/nodekit/pause:latest", size: 755)
        var webRequest = Runtime_V1_RunPodSandboxRequest()
        webRequest.config.metadata.name = "web"
        webRequest.config.metadata.namespace = "default"
        webRequest.config.metadata.uid = "u1"
        webRequest.config.logDirectory = logDirectory
        let web = try await runtime.runPodSandbox(webRequest).podSandboxID
        await runtime.advance(by: .seconds(30))
        let app = try await runtime.createContainer(container("app", in: web)).containerID
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = app
        _ = try await runtime.startContainer(start)
        await runtime.advance(by: .seconds(60))
        let job = try await runtime.createContainer(container("job", in: web)).containerID
        start.containerID = job
        _ = try await runtime.startContainer(start)
        try await runtime.exitContainer(job, exitCode: 0)
        var dbRequest = webRequest
        dbRequest.config.metadata.name = "db"
        dbRequest.config.metadata.uid = "u2"
        dbRequest.config.metadata.attempt = 2
        let db = try await runtime.runPodSandbox(dbRequest).podSandboxID
        var stop = Runtime_V1_StopPodSandboxRequest()
        stop.podSandboxID = db
        _ = try await runtime.stopPodSandbox(stop)
        await runtime.advance(by: .seconds(7200))
        return (runtime, web, app, job)
    }

    private func container(_ name: String, in sandbox: String) -> Runtime_V1_CreateContainerRequest {
        var request = Runtime_V1_CreateContainerRequest()
        request.podSandboxID = sandbox
        request.config.metadata.name = name
        request.config.image.image = "docker.io/nodekit/busybox:latest"
        request.config.logPath = name + "/0.log"
        return request
    }

    private func views(_ runtime: FakeRuntime) async -> CRIViews {
        CRIViews(runtime: runtime, now: await runtime.now)
    }

    @Test func versionPrintsRuntimeNameAndVersion() async throws {
        let (runtime, _, _, _) = try await node()
        let text = try await views(runtime).version(format: .table)
        #expect(text == "Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  1.6.20~ds1\nRuntimeApiVersion:  v1\n")
        let json = try await views(runtime).version(format: .json)
        #expect(json.contains("\"runtimeName\" : \"containerd\""))
        let yaml = try await views(runtime).version(format: .yaml)
        #expect(yaml.contains("runtimeName: containerd\n"))
        #expect(yaml.contains("runtimeVersion: 1.6.20~ds1\n"))
    }

    @Test func podsTableIsNewestFirst() async throws {
        let (runtime, web, _, _) = try await node()
        let lines = try await views(runtime).pods(format: .table).split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("POD ID          CREATED"))
        #expect(lines[0].hasSuffix("NAMESPACE   ATTEMPT   RUNTIME"))
        #expect(lines[1].contains("   2 hours ago   NotReady   db     default     2         (default)"))
        #expect(lines[2].hasPrefix(String(web.prefix(13)) + "   2 hours ago"))
        #expect(lines[2].hasSuffix("   Ready      web    default     0         (default)"))
        let quiet = try await views(runtime).pods(format: .table, quiet: true)
        #expect(quiet.split(separator: "\n").last.map(String.init) == web)
    }

    @Test func psShowsRunningContainersUnlessAll() async throws {
        let (runtime, web, app, job) = try await node()
        let running = try await views(runtime).containers(format: .table).split(separator: "\n").map(String.init)
        #expect(running.count == 2)
        #expect(running[0].split(separator: " ", omittingEmptySubsequences: true)
                    == ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD", "ID", "POD"])
        #expect(running[1].hasPrefix(String(app.prefix(13)) + "   docker.io/nodekit/busybox:latest   2 hours ago   Running   app    0 "))
        #expect(running[1].hasSuffix(String(web.prefix(13)) + "   web"))
        let all = try await views(runtime).containers(format: .table, all: true)
        #expect(all.split(separator: "\n").count == 3)
        #expect(all.contains(String(job.prefix(13))) && all.contains("Exited"))
        let none = try await views(runtime).containers(format: .table, podID: "ffffffff")
        #expect(none.split(separator: "\n").count == 1)
    }

    @Test func psJSONIsTheCRIMessage() async throws {
        let (runtime, web, app, _) = try await node()
        let json = try await views(runtime).containers(format: .json)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let containers = object?["containers"] as? [[String: Any]]
        #expect(containers?.count == 1)
        #expect(containers?.first?["id"] as? String == app)
        #expect(containers?.first?["podSandboxId"] as? String == web)
        #expect(containers?.first?["state"] as? String == "CONTAINER_RUNNING")
    }

    @Test func imagesTableSplitsTagsAndSizes() async throws {
        let (runtime, _, _, _) = try await node()
        let lines = try await views(runtime).images(format: .table).split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].split(separator: " ", omittingEmptySubsequences: true) == ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"])
        #expect(lines[1].hasPrefix("docker.io/nodekit/busybox   latest   "))
        #expect(lines[1].hasSuffix("1.23MB"))
        #expect(lines[2].hasSuffix("755B"))
        let yaml = try await views(runtime).images(format: .yaml)
        #expect(yaml.contains("- docker.io/nodekit/pause:latest"))
        // uint64 sizes are strings in proto3 JSON; YAML keeps them strings, quoted.
        #expect(yaml.contains("size: '755'"))
    }

    @Test func inspectFindsContainersThenSandboxes() async throws {
        let (runtime, web, app, _) = try await node()
        let container = try await views(runtime).inspect(id: String(app.prefix(8)), format: .json)
        #expect(container.contains("\"logPath\" : \"/var/log/pods/web/app/0.log\""))
        // proto3 JSON (and so the YAML) leaves out fields at their default, like SANDBOX_READY (0).
        let sandbox = try await views(runtime).inspect(id: web, format: .yaml)
        #expect(sandbox.contains("  id: \(web)\n"))
        #expect(sandbox.contains("  metadata:\n    name: web\n"))
        let summary = try await views(runtime).inspect(id: app, format: .table)
        #expect(summary.contains("State:     Running\n"))
        await #expect {
            _ = try await views(runtime).inspect(id: "zzzz", format: .json)
        } throws: { error in
            "\(error)" == "no container or pod sandbox with id \"zzzz\""
        }
    }

    @Test func execReturnsOutputAndStatus() async throws {
        let (runtime, _, app, job) = try await node()
        let response = try await views(runtime).exec(id: app, command: ["echo", "hello"], timeoutSeconds: 5)
        #expect(String(decoding: response.stdout, as: UTF8.self) == "hello\n")
        await #expect { _ = try await views(runtime).exec(id: job, command: ["true"], timeoutSeconds: 0) } throws: { error in
            (error as? CRIError)?.kind == .runtime(.failedPrecondition)
        }
        await #expect(throws: NodectlError.self) { _ = try await views(runtime).exec(id: app, command: [], timeoutSeconds: 0) }
    }

    @Test func logsJoinPartialLinesAndTail() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nk-logs-\(Host.runSuffix)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("app"), withIntermediateDirectories: true)
        let (runtime, _, app, job) = try await node(logDirectory: directory.path)
        let log = """
            2026-11-25T10:00:00.000000001Z stdout F hello
            2026-11-25T10:00:01.000000001Z stdout P long 
            2026-11-25T10:00:01.000000002Z stdout F line
            2026-11-25T10:00:02.000000001Z stderr F warning
            2026-11-25T10:00:03.000000001Z stdout F bye

            """
        try log.write(to: directory.appendingPathComponent("app/0.log"), atomically: true, encoding: .utf8)
        let all = try await views(runtime).logs(id: app, tail: nil)
        #expect(all.map(\.message) == ["hello", "long line", "warning", "bye"])
        #expect(all.map(\.stream) == [.stdout, .stdout, .stderr, .stdout])
        let last = try await views(runtime).logs(id: app, tail: 2)
        #expect(last.map(\.message) == ["warning", "bye"])
        // A container that has not written anything has no file yet: an empty log, not an error.
        #expect(try await views(runtime).logs(id: job, tail: nil).isEmpty)
    }

    @Test func logsWithoutLogDirectoryExplain() async throws {
        let (runtime, _, app, _) = try await node(logDirectory: "")
        await #expect {
            _ = try await views(runtime).logs(id: app, tail: nil)
        } throws: { error in
            "\(error)".contains("has no log file")
        }
    }

    @Test func infoShowsConditions() async throws {
        let runtime = FakeRuntime()
        await runtime.setNetworkReady(false, reason: "NetworkPluginNotReady", message: "cni config uninitialized")
        let text = try await CRIViews(runtime: runtime).info(format: .table)
        #expect(text.contains("RuntimeReady   True"))
        #expect(text.contains("NetworkReady   False    NetworkPluginNotReady   cni config uninitialized"))
        #expect(text.contains("Runtime handlers: runc"))
    }

    @Test func runtimeErrorsPropagateWithCallName() async throws {
        let runtime = FakeRuntime()
        await runtime.inject(.runtime(.listPodSandbox, .unavailable, "shutting down"), into: .listPodSandbox)
        await #expect {
            _ = try await CRIViews(runtime: runtime).pods(format: .table)
        } throws: { error in
            "\(error)" == "CRI ListPodSandbox: unavailable: shutting down"
        }
    }
}

import APIServer
import CRI
import Foundation
import Kubelet
import LinuxSystem
import Store
import Testing
import TestSupport

/// kubectl exec, logs -f and port-forward, unchanged, through an in-process API server to the
/// kubelet and on to containerd's stream server. The kubelet runs a static pod; the API server
/// holds a Node (InternalIP 127.0.0.1, the kubelet's port) and the pod bound to it, written over
/// the loopback plain-HTTP port as the kubelet's status manager would.
@Suite(.serialized,
       .enabled(if: ContainerdFixture.skipReason == nil, Comment(rawValue: ContainerdFixture.skipReason ?? "")),
       .enabled(if: Host.which("kubectl") != nil && Host.which("curl") != nil, "kubectl or curl is not installed; the streaming scenario is skipped"))
struct KubeletStreamingTests {
    static let podManifest = """
        apiVersion: v1
        kind: Pod
        metadata: {name: stream}
        spec:
          containers:
          - name: main
            image: docker.io/nodekit/busybox:latest
            imagePullPolicy: IfNotPresent
            command: [sh, -c, "mkdir -p /www; echo hello-pf > /www/index.html; httpd -p 8080 -h /www; echo ready; while true; do if [ -f /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi; sleep 1; done"]
        """

    /// POSTs or PATCHes JSON on the API server's plain-HTTP loopback port; fails the test on a non-2xx answer.
    static func call(_ port: Int, _ method: String, _ path: String, _ body: String) async throws {
        let type = method == "PATCH" ? "application/merge-patch+json" : "application/json"
        let r = try await runOffPool("curl", ["-sS", "-o", "/dev/stderr", "-w", "%{http_code}", "-X", method, "-H", "Content-Type: \(type)",
                                              "--data-binary", body, "http://127.0.0.1:\(port)\(path)"])
        #expect(r.stdout.hasPrefix("2"), "\(method) \(path): \(r.stdout) \(r.stderr)")
    }

    /// Polls `file` until it contains `text`, at most `timeout`; returns its contents.
    static func waitFor(_ text: String, in file: String, timeout: Duration = .seconds(20)) async -> String {
        let deadline = ContinuousClock.now + timeout
        var contents = ""
        while ContinuousClock.now < deadline {
            contents = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            if contents.contains(text) { return contents }
            try? await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for \"\(text)\" in \(file): \(contents)")
        return contents
    }

    @Test func kubectlExecLogsFollowAndPortForward() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath))
        let manifests = fixture.stateDir + "/manifests"
        let root = fixture.stateDir + "/kubelet"
        try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        try Self.podManifest.write(toFile: manifests + "/stream.yaml", atomically: true, encoding: .utf8)
        let node = NodeInfo(nodeName: "st-\(Host.runSuffix)", rootDirectory: root, podLogsDirectory: root + "/logs/pods", resolvConf: "nameserver 127.0.0.53\n")
        let kubelet = Kubelet(node: node, runtime: client, sources: [StaticPodSource(directory: manifests, nodeName: node.nodeName)])
        let podName = "stream-\(node.nodeName)"

        let directory = NSTemporaryDirectory() + "nk-streaming-\(Host.runSuffix)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = LocalStore.inMemory()
        var configuration = APIServerConfiguration(dataDirectory: directory)
        configuration.bindAddress = "127.0.0.1"
        configuration.securePort = 0
        configuration.insecurePort = 0
        let server = try APIServer(store: store, configuration: configuration)
        try await server.bootstrap()

        let (kubeletPorts, kubeletPort) = AsyncStream<Int>.makeStream()
        let (apiPorts, apiPort) = AsyncStream<APIServerEndpoints>.makeStream()
        let tasks = [
            Task { await kubelet.run() },
            Task { try await KubeletServer(kubelet: kubelet, host: "127.0.0.1", port: 0).run { kubeletPort.yield($0); kubeletPort.finish() } },
            Task { try await server.run { apiPort.yield($0); apiPort.finish() } },
        ]
        var background: [SpawnedProcess] = []
        defer {
            // kubectl processes left by a failed step, then the servers, the pod and the data dir.
            for process in background { process.kill(); _ = try? process.wait() }
            for task in tasks { task.cancel() }
            try? FileManager.default.removeItem(atPath: directory)
        }
        var kubeletIterator = kubeletPorts.makeAsyncIterator()
        var apiIterator = apiPorts.makeAsyncIterator()
        let kubeletPortNumber = try #require(await kubeletIterator.next())
        let endpoints = try #require(await apiIterator.next())
        let plain = try #require(endpoints.insecurePort)

        try await Self.call(plain, "POST", "/api/v1/nodes", #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"\#(node.nodeName)"}}"#)
        try await Self.call(plain, "PATCH", "/api/v1/nodes/\(node.nodeName)/status",
                            #"{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":\#(kubeletPortNumber)}}}}"#)
        try await Self.call(plain, "POST", "/api/v1/namespaces/default/pods",
                            #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(podName)","namespace":"default"},"spec":{"nodeName":"\#(node.nodeName)","containers":[{"name":"main","image":"docker.io/nodekit/busybox:latest"}]}}"#)
        try await Self.call(plain, "PATCH", "/api/v1/namespaces/default/pods/\(podName)/status", #"{"status":{"phase":"Running"}}"#)

        // The static pod runs.
        let deadline = ContinuousClock.now + .seconds(60)
        var running = false
        while ContinuousClock.now < deadline && !running {
            if let worker = await kubelet.worker(namespace: "default", name: podName) {
                running = await worker.runtimePod.latest("main")?.state == .running
            }
            if !running { try await Task.sleep(for: .milliseconds(200)) }
        }
        try #require(running, "the pod did not start")

        let kubeconfig = configuration.kubeconfigPath
        let environment = ["HOME": directory]
        func kubectl(_ args: [String], input: String? = nil) async throws -> CommandResult {
            try await runOffPool("kubectl", ["--kubeconfig", kubeconfig] + args, input: input.map { Data($0.utf8) }, environment: environment)
        }

        // exec: output, exit code, stdin.
        let hi = try await kubectl(["exec", podName, "--", "echo", "hi"])
        #expect(hi.status == 0, "kubectl exec: \(hi.stderr)")
        #expect(hi.stdout == "hi\n")
        let three = try await kubectl(["exec", podName, "--", "sh", "-c", "exit 3"])
        #expect(three.status == 3, "exit code: \(three.status) \(three.stderr)")
        #expect(three.stderr.contains("exit code 3"))
        let echoed = try await kubectl(["exec", "-i", podName, "--", "sh", "-c", "tr a-z A-Z"], input: "from stdin\n")
        #expect(echoed.status == 0, "kubectl exec -i: \(echoed.stderr)")
        #expect(echoed.stdout == "FROM STDIN\n")
        let missing = try await kubectl(["exec", podName, "-c", "nope", "--", "true"])
        #expect(missing.status != 0 && missing.stderr.contains("nope"), "\(missing.stderr)")

        // logs -f: a line written after the follow started arrives.
        let logFile = directory + "/logs-f.out"
        let follow = try spawn("kubectl", ["--kubeconfig", kubeconfig, "logs", "-f", podName], outputPath: logFile, environment: environment)
        background.append(follow)
        _ = await Self.waitFor("ready", in: logFile)
        let said = try await kubectl(["exec", podName, "--", "sh", "-c", "echo after-follow > /tmp/say"])
        #expect(said.status == 0, "\(said.stderr)")
        let followed = await Self.waitFor("after-follow", in: logFile)
        #expect(followed.contains("ready\n") && followed.contains("after-follow\n"))
        #expect(try follow.exitStatusIfExited() == nil, "kubectl logs -f ended early: \(followed)")

        // port-forward: a curl on loopback reaches httpd in the pod.
        let forwardFile = directory + "/port-forward.out"
        let forward = try spawn("kubectl", ["--kubeconfig", kubeconfig, "port-forward", "--address", "127.0.0.1", "pod/\(podName)", ":8080"],
                                outputPath: forwardFile, environment: environment)
        background.append(forward)
        let banner = await Self.waitFor("Forwarding from", in: forwardFile)
        let localPort = try #require(banner.firstMatch(of: /127\.0\.0\.1:(\d+) -> 8080/).map { String($0.1) }, "no port in: \(banner)")
        let page = try await runOffPool("curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(localPort)/"])
        #expect(page.stdout == "hello-pf\n", "curl: \(page.stderr) kubectl: \((try? String(contentsOfFile: forwardFile, encoding: .utf8)) ?? "")")
        let again = try await runOffPool("curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(localPort)/index.html"])
        #expect(again.stdout == "hello-pf\n")

        // Remove the pod before containerd goes.
        try FileManager.default.removeItem(atPath: manifests + "/stream.yaml")
        let gone = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < gone, await kubelet.worker(namespace: "default", name: podName) != nil {
            try await Task.sleep(for: .milliseconds(200))
        }
        await client.close()
        await store.close()
    }
}

/// Bound service-account tokens from an in-process API server: issued through
/// serviceaccounts/<name>/token, accepted as bearer tokens over HTTPS, refused once the account or
/// the bound pod is gone, and refused when tampered with.
@Suite(.serialized, .enabled(if: Host.which("curl") != nil, "curl is not installed; the token scenario is skipped"))
struct ServiceAccountTokenRequestTests {
    @Test func tokenRequestIssuesTokensThatAuthenticateUntilTheirObjectsGo() async throws {
        let directory = NSTemporaryDirectory() + "nk-satoken-\(Host.runSuffix)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = LocalStore.inMemory()
        var configuration = APIServerConfiguration(dataDirectory: directory)
        configuration.bindAddress = "127.0.0.1"
        configuration.securePort = 0
        configuration.insecurePort = 0
        let server = try APIServer(store: store, configuration: configuration)
        try await server.bootstrap()
        let (ports, continuation) = AsyncStream<APIServerEndpoints>.makeStream()
        let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        let endpoints = try #require(await iterator.next())
        let plain = try #require(endpoints.insecurePort)

        func plainCall(_ method: String, _ path: String, _ body: String? = nil) async throws -> (code: String, body: String) {
            let out = directory + "/out"
            var args = ["-sS", "-o", out, "-w", "%{http_code}", "-X", method, "-H", "Content-Type: application/json"]
            if let body { args += ["--data-binary", body] }
            let r = try await runOffPool("curl", args + ["http://127.0.0.1:\(plain)\(path)"])
            return (r.stdout, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        }
        /// The HTTP status of a GET over HTTPS with `token` as the bearer token.
        func secureStatus(_ token: String) async throws -> String {
            try await runOffPool("curl", ["-sS", "-k", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)",
                                          "https://127.0.0.1:\(endpoints.securePort)/api/v1/namespaces/default/configmaps"]).stdout
        }

        #expect(try await plainCall("POST", "/api/v1/namespaces/default/serviceaccounts", #"{"metadata":{"name":"robot"}}"#).code == "201")
        #expect(try await plainCall("POST", "/api/v1/namespaces/default/pods",
                                    #"{"metadata":{"name":"holder"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#).code == "201")
        let issued = try await plainCall("POST", "/api/v1/namespaces/default/serviceaccounts/robot/token",
                                         #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"holder"}}}"#)
        #expect(issued.code == "201", "\(issued.body)")
        let response = try #require(try JSONSerialization.jsonObject(with: Data(issued.body.utf8)) as? [String: Any])
        let status = try #require(response["status"] as? [String: Any])
        let token = try #require(status["token"] as? String)
        #expect(status["expirationTimestamp"] is String)
        #expect(response["kind"] as? String == "TokenRequest")
        // The claims name the account and the pod.
        let payload = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let padded = payload + String(repeating: "=", count: (4 - payload.count % 4) % 4)
        let payloadData = try #require(Data(base64Encoded: padded))
        let claims = try #require(try JSONSerialization.jsonObject(with: payloadData) as? [String: Any])
        #expect(claims["sub"] as? String == "system:serviceaccount:default:robot")
        #expect(((claims["kubernetes.io"] as? [String: Any])?["pod"] as? [String: Any])?["name"] as? String == "holder")

        #expect(try await secureStatus(token) == "200")
        #expect(try await secureStatus("not-a-token") == "401")
        var tampered = Array(token)
        tampered[tampered.count - 5] = tampered[tampered.count - 5] == "A" ? "B" : "A"
        #expect(try await secureStatus(String(tampered)) == "401")
        let short = try await plainCall("POST", "/api/v1/namespaces/default/serviceaccounts/robot/token", #"{"spec":{"expirationSeconds":60}}"#)
        #expect(short.code == "422", "\(short.body)")
        #expect(try await plainCall("POST", "/api/v1/namespaces/default/serviceaccounts/ghost/token", #"{"spec":{}}"#).code == "404")
        // Deleting the bound pod revokes the token.
        #expect(try await plainCall("DELETE", "/api/v1/namespaces/default/pods/holder?gracePeriodSeconds=0").code == "200")
        #expect(try await secureStatus(token) == "401")
        serving.cancel()
        _ = try? await serving.value
        await store.close()
    }
}

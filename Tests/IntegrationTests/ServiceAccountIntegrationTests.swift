import APIServer
import CRI
import Foundation
import KubeClient
import KubeAPI
import Kubelet
import Store
import Testing
import TestSupport

/// In-cluster credentials end to end on real containerd: an in-process API server admits a pod
/// (ServiceAccount admission adds kube-api-access-*), kube-root-ca.crt holds the cluster CA,
/// and a kubelet connected to the server runs the pod with the projected
/// token, ca.crt and namespace. The token read inside the container authenticates to the API
/// server over HTTPS verified with the pod's own ca.crt, and stops working once the pod is deleted.
@Suite(.serialized,
       .enabled(if: ContainerdFixture.skipReason == nil, Comment(rawValue: ContainerdFixture.skipReason ?? "")),
       .enabled(if: Host.which("curl") != nil, "curl is not installed; the service-account scenario is skipped"))
struct ServiceAccountIntegrationTests {
    /// Runs `command` in the container with CRI ExecSync; returns stdout, fails the test on a non-zero exit.
    static func exec(_ client: CRIClient, _ containerID: String, _ command: [String]) async throws -> String {
        var request = Runtime_V1_ExecSyncRequest()
        request.containerID = containerID
        request.cmd = command
        request.timeout = 10
        let response = try await client.execSync(request, timeout: .seconds(20))
        #expect(response.exitCode == 0, "\(command): \(String(decoding: response.stderr, as: UTF8.self))")
        return String(decoding: response.stdout, as: UTF8.self)
    }

    @Test func aPodsMountedTokenAuthenticatesUntilThePodIsDeleted() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let runtime = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath))
        let directory = NSTemporaryDirectory() + "nk-sa-\(Host.runSuffix)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = LocalStore.inMemory()
        var configuration = APIServerConfiguration(dataDirectory: directory)
        configuration.bindAddress = "127.0.0.1"
        configuration.securePort = 0
        configuration.insecurePort = 0
        let server = try APIServer(store: store, configuration: configuration)
        try await server.bootstrap()
        let (apiPorts, apiPort) = AsyncStream<APIServerEndpoints>.makeStream()
        let serving = Task { try await server.run { apiPort.yield($0); apiPort.finish() } }
        var apiIterator = apiPorts.makeAsyncIterator()
        let endpoints = try #require(await apiIterator.next())

        let root = fixture.stateDir + "/kubelet"
        let node = NodeInfo(nodeName: "sa-\(Host.runSuffix)", rootDirectory: root, podLogsDirectory: root + "/logs/pods", resolvConf: "nameserver 127.0.0.53\n")
        // The kubelet's API parts over a client of the server's kubeconfig, as `nodekit agent` makes them.
        let client = try HTTPKubeClient(kubeconfigPath: configuration.kubeconfigPath)
        let source = APIServerPodSource(client: client, nodeName: node.nodeName)
        let kubelet = Kubelet(node: node, runtime: runtime, sources: [source], objects: APIPodObjects(client: client),
                              statusManager: PodStatusManager(client: client, nodeName: node.nodeName))
        let tasks = [Task { await kubelet.run() }, Task { await source.run() }]
        let podName = "sa-pod"
        defer {
            for task in tasks { task.cancel() }
            serving.cancel()
            try? FileManager.default.removeItem(atPath: directory)
        }

        // kube-root-ca.crt as the root CA publisher writes it (ControllersTests cover the
        // controller; this target does not link the controllers), with the CA the kubeconfig trusts.
        let ca = try #require(client.config.tls.caPEM.map { String(decoding: $0, as: UTF8.self) })
        _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "kube-root-ca.crt", namespace: "default"), data: ["ca.crt": ca]))

        var main = Container(name: "main", image: ContainerdFixture.busyboxImage, command: ["sh", "-c", "sleep 3600"])
        main.imagePullPolicy = "IfNotPresent"
        var spec = PodSpec(containers: [main])
        spec.nodeName = node.nodeName
        spec.terminationGracePeriodSeconds = 1
        let pod = Pod(metadata: ObjectMeta(name: podName, namespace: "default"), spec: spec)
        let created = try await client.create(pod)
        let volume = try #require(created.spec.volumes?.first { $0.name.hasPrefix("kube-api-access-") })
        #expect(created.spec.serviceAccountName == "default")
        #expect(created.spec.containers[0].volumeMounts?.contains { $0.name == volume.name && $0.readOnly == true && $0.mountPath == "/var/run/secrets/kubernetes.io/serviceaccount" } == true)
        print("admitted volume: \(String(decoding: try JSONEncoder().encode(volume), as: UTF8.self))")
        print("admitted mounts: \(String(decoding: try JSONEncoder().encode(created.spec.containers[0].volumeMounts), as: UTF8.self))")

        // The kubelet runs it.
        let deadline = ContinuousClock.now + .seconds(60)
        var containerID: String?
        while ContinuousClock.now < deadline && containerID == nil {
            if let worker = await kubelet.worker(namespace: "default", name: podName), let main = await worker.runtimePod.latest("main"), main.state == .running {
                containerID = main.id
            } else {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let lastError = await kubelet.worker(namespace: "default", name: podName)?.lastError?.description ?? "no worker"
        let id = try #require(containerID, "the pod did not start: \(lastError)")

        let dir = "/var/run/secrets/kubernetes.io/serviceaccount"
        let listing = try await Self.exec(runtime, id, ["ls", "-la", dir, dir + "/..data/"])
        print("token dir in the container:\n\(listing)")
        let token = try await Self.exec(runtime, id, ["cat", dir + "/token"])
        let podCA = try await Self.exec(runtime, id, ["cat", dir + "/ca.crt"])
        #expect(try await Self.exec(runtime, id, ["cat", dir + "/namespace"]) == "default")
        #expect(podCA == ca)
        #expect(token.split(separator: ".").count == 3)
        let hostEnv = try await Self.exec(runtime, id, ["sh", "-c", "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $KUBERNETES_PORT"])
        #expect(hostEnv == "10.96.0.1:443 tcp://10.96.0.1:443\n")
        var readOnly = Runtime_V1_ExecSyncRequest()
        readOnly.containerID = id
        readOnly.cmd = ["sh", "-c", "echo x > \(dir)/written"]
        readOnly.timeout = 10
        #expect(try await runtime.execSync(readOnly, timeout: .seconds(20)).exitCode != 0, "the mount is read-only")

        // From the host: HTTPS verified with the pod's ca.crt, the pod's token as bearer.
        let caFile = directory + "/pod-ca.crt"
        try podCA.write(toFile: caFile, atomically: true, encoding: .utf8)
        func status(_ path: String) async throws -> String {
            try await runOffPool("curl", ["-sS", "--cacert", caFile, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)",
                                          "https://localhost:\(endpoints.securePort)\(path)"]).stdout
        }
        #expect(try await status("/api/v1/namespaces/default") == "200")
        #expect(try await status("/api/v1/namespaces/default/pods/\(podName)") == "200")

        // Deleting the pod revokes its token; the kubelet stops and removes the pod.
        try await client.delete(Pod.self, namespace: "default", name: podName, options: DeleteOptions(gracePeriodSeconds: 0))
        #expect(try await status("/api/v1/namespaces/default") == "401")
        let gone = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < gone, await kubelet.worker(namespace: "default", name: podName) != nil {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(await kubelet.worker(namespace: "default", name: podName) == nil, "the kubelet removed the pod")
        // The sandbox goes before the kubelet and its runtime connection stop.
        while ContinuousClock.now < gone, !((try? await runtime.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items) ?? []).isEmpty {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await runtime.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items.isEmpty, "the pod's sandbox is removed")
        for task in tasks { task.cancel() }
        await client.shutdown()
        await runtime.close()
        await store.close()
    }
}

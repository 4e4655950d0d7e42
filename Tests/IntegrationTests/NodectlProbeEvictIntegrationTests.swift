import CRI
import Foundation
import KubeAPI
import KubeClient
import Kubelet
import Logging
import Store
import Testing
import TestSupport

/// `nodectl probe` and `nodectl evict` (the built binary, run off the cooperative pool) against
/// an in-process API server and a kubelet on a private containerd running real pods.
@Suite(.serialized, .enabled(if: ContainerdFixture.skipReason == nil && NodectlBinary.path != nil,
                             Comment(rawValue: ContainerdFixture.skipReason ?? "needs the nodectl executable (swift build --product nodectl)")))
struct NodectlProbeEvictIntegrationTests {
    static func pod(_ name: String, node: String, labels: [String: String]? = nil, command: String,
                    readiness: KubeAPI.Probe? = nil, liveness: KubeAPI.Probe? = nil) -> Pod {
        var container = Container(name: "web", image: ContainerdFixture.busyboxImage)
        container.imagePullPolicy = "IfNotPresent"
        container.command = ["sh", "-c", command]
        container.readinessProbe = readiness
        container.livenessProbe = liveness
        var spec = PodSpec(containers: [container])
        spec.nodeName = node
        spec.terminationGracePeriodSeconds = 1
        return Pod(metadata: ObjectMeta(name: name, namespace: "default", labels: labels), spec: spec)
    }

    static func nodectl(_ arguments: [String]) async throws -> CommandResult {
        try await runOffPool(NodectlBinary.path ?? "nodectl", arguments, environment: ["HOME": NSTemporaryDirectory() + "nk-nodectl-home-\(Host.runSuffix)"])
    }

    @Test func probeAndEvictRealPods() async throws {
        let env = try KubeletIntegrationTests.Environment()
        do {
            try await scenario(env)
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }

    func scenario(_ env: KubeletIntegrationTests.Environment) async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        try await APIServerKubectlTests.withServer(store: store) { kubeconfig in
            let logger = Logger(label: "nodectl-it")
            let node = env.node.nodeName
            let connection = try KubeletAPIConnection(kubeconfigPath: kubeconfig, nodeName: node, logger: logger)
            let kubelet = Kubelet(node: env.node, runtime: env.client, sources: [connection.source], objects: connection.objects,
                                  statusManager: connection.statusManager, logger: logger)
            let stats = HostStatsProvider(node: env.node, runtime: env.client, pods: { await kubelet.pods() })
            let server = KubeletServer(kubelet: kubelet, host: "127.0.0.1", port: 0, stats: stats)
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let tasks: [Task<Void, Never>] = [
                Task { await connection.source.run() },
                Task { await kubelet.run() },
                Task { _ = try? await server.run { continuation.yield($0); continuation.finish() } },
            ]
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                for task in tasks { task.cancel() }
                Issue.record("the kubelet server did not start")
                return
            }
            let kubeletURL = "http://127.0.0.1:\(port)"
            let api = try HTTPKubeClient(kubeconfigPath: kubeconfig)
            do {
                // No controller manager runs here, so no root-CA publisher: write kube-root-ca.crt
                // as it would, for the kube-api-access volume ServiceAccount admission adds.
                let ca = String(decoding: api.config.tls.caPEM ?? [], as: UTF8.self)
                _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "kube-root-ca.crt", namespace: "default"), data: ["ca.crt": ca]))
                var readiness = KubeAPI.Probe()
                readiness.httpGet = HTTPGetAction(path: "/healthz", port: .int(8080))
                readiness.periodSeconds = 1
                var liveness = KubeAPI.Probe()
                liveness.exec = ExecAction(command: ["sh", "-c", "echo unhealthy; exit 3"])
                liveness.periodSeconds = 1
                // High enough that the kubelet does not restart the container during the test.
                liveness.failureThreshold = 1000
                let serve = "mkdir -p /www && echo ok > /www/healthz && httpd -f -p 8080 -h /www"
                _ = try await api.create(Self.pod("probed", node: node, command: serve, readiness: readiness, liveness: liveness))
                _ = try await api.create(Self.pod("guarded", node: node, labels: ["app": "guarded"], command: "sleep 3600"))
                _ = try await api.create(Self.pod("free", node: node, command: "sleep 3600"))
                var budget = PodDisruptionBudget(metadata: ObjectMeta(name: "guarded-pdb", namespace: "default"))
                budget.spec = PodDisruptionBudgetSpec(minAvailable: .int(1), selector: LabelSelector(matchLabels: ["app": "guarded"]))
                _ = try await api.create(budget)

                let ready = try await NodePressureIntegrationTests.until("three pods ready in the API", timeout: .seconds(60)) {
                    let pods = try await api.list(Pod.self, namespace: "default").items
                    return pods.filter { $0.status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } == true }.count == 3
                }
                try #require(ready)

                // A passing httpGet readiness probe: exit 0, each step printed, the kubelet's history.
                let pass = try await Self.nodectl(["probe", "probed", "--type", "readiness", "--kubelet", kubeletURL])
                #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
                #expect(pass.stdout.contains("web readiness probe: http://"), "\(pass.stdout)")
                #expect(pass.stdout.contains("  status:  HTTP 200\n  output:  ok\n  result:  success: HTTP probe succeeded with statuscode: 200 ("))
                #expect(pass.stdout.contains("  effect:  mark the container ready after 1 consecutive successes (successThreshold)\n"))
                #expect(pass.stdout.contains("kubelet history of web: started=true ready=true\n"))
                #expect(pass.stdout.contains("readiness   success   HTTP probe succeeded with statuscode: 200"))

                // A failing exec liveness probe through CRI ExecSync: exit 1, exit code and output shown.
                let fail = try await Self.nodectl(["probe", "probed", "-c", "web", "--type", "liveness", "--kubelet", kubeletURL,
                                                   "--runtime-endpoint", env.fixture.socketPath])
                #expect(fail.status == 1, "\(fail.stdout)\(fail.stderr)")
                #expect(fail.stdout.contains("web liveness probe: exec sh -c echo unhealthy; exit 3\n"))
                #expect(fail.stdout.contains("  exit:    3\n  output:  unhealthy\n  result:  failure: command [sh -c echo unhealthy; exit 3] exited with 3 ("))
                #expect(fail.stdout.contains("  effect:  restart the container after 1000 consecutive failures (failureThreshold)\n"))
                #expect(fail.stdout.contains("liveness    failure   command [sh -c echo unhealthy; exit 3] exited with 3"))

                // The same pod found through the API server (kubeconfig), as JSON.
                let viaAPI = try await Self.nodectl(["probe", "probed", "--kubeconfig", kubeconfig, "--runtime-endpoint", env.fixture.socketPath, "-o", "json"])
                #expect(viaAPI.status == 1)
                let document = try JSONSerialization.jsonObject(with: Data(viaAPI.stdout.utf8)) as? [String: Any]
                let results = (document?["probes"] as? [[String: Any]])?.compactMap { "\($0["type"] ?? "")=\($0["result"] ?? "")" }
                #expect(results == ["liveness=failure", "readiness=success"], "\(viaAPI.stdout)\(viaAPI.stderr)")
                #expect(document?["source"] as? String == "API server")

                let missing = try await Self.nodectl(["probe", "nosuchpod", "--kubeconfig", kubeconfig])
                #expect(missing.status == 1 && missing.stderr == "nodectl: pod default/nosuchpod not found\n")

                // A PodDisruptionBudget with minAvailable 1 and one ready pod blocks the eviction.
                let blocked = try await Self.nodectl(["evict", "guarded", "--kubeconfig", kubeconfig])
                #expect(blocked.status == 1)
                #expect(blocked.stderr == "nodectl: cannot evict pod default/guarded: blocked by PodDisruptionBudget guarded-pdb: The disruption budget guarded-pdb needs 1 healthy pods and has 1 currently\n")
                #expect(try await api.get(Pod.self, namespace: "default", name: "guarded").metadata.deletionTimestamp == nil)

                // A pod without a budget is evicted.
                let evicted = try await Self.nodectl(["evict", "free", "--kubeconfig", kubeconfig, "--grace-period", "0"])
                #expect(evicted.status == 0, "\(evicted.stderr)")
                #expect(evicted.stdout == "NAMESPACE   POD    RESULT\ndefault     free   evicted\n")
                do {
                    let after = try await api.get(Pod.self, namespace: "default", name: "free")
                    #expect(after.metadata.deletionTimestamp != nil)
                } catch let error as KubeClientError where error.isNotFound {}

                // Node pressure from the kubelet's /stats/summary, with memory pressure simulated.
                let pressure = try await Self.nodectl(["evict", "--node-pressure", "--kubelet", kubeletURL, "--simulate", "memory.available=50Mi"])
                #expect(pressure.status == 0, "\(pressure.stderr)")
                #expect(pressure.stdout.hasPrefix("signals: kubelet \(kubeletURL)\n"))
                #expect(pressure.stdout.contains("memory.available is below its threshold"), "\(pressure.stdout)")
                #expect(pressure.stdout.contains("default/probed") && pressure.stdout.contains("default/guarded"))
                #expect(pressure.stdout.contains("first eviction: default/"))
            } catch {
                for task in tasks { task.cancel() }
                await Self.cleanUp(kubelet)
                await api.shutdown()
                await connection.shutdown()
                throw error
            }
            for task in tasks { task.cancel() }
            await Self.cleanUp(kubelet)
            await api.shutdown()
            await connection.shutdown()
        }
    }

    static func cleanUp(_ kubelet: Kubelet) async {
        let pods = await kubelet.pods()
        for pod in pods {
            if let uid = pod.metadata.uid { try? await kubelet.worker(uid: uid)?.terminate(gracePeriod: 0, remove: true) }
        }
        NodePressureIntegrationTests.removePodCgroups(uids: pods.compactMap(\.metadata.uid))
    }
}

import CRI
import Foundation
import KubeAPI
import Kubelet
import Probe
import Synchronization
import Testing
import TestSupport

/// Wall time plus an offset a test moves forward, so back-off can be skipped without sleeping
/// while containerd's own timestamps stay real.
final class OffsetClock: KubeletClock {
    private let offset = Mutex<TimeInterval>(0)
    func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
    func advance(by seconds: TimeInterval) { offset.withLock { $0 += seconds } }
}


/// The kubelet against a real containerd: every test starts its own containerd, manifest
/// directory and kubelet root, and removes them (and the pods) at the end.
@Suite(.serialized, .enabled(if: ContainerdFixture.skipReason == nil,
                             Comment(rawValue: ContainerdFixture.skipReason ?? "")))
struct KubeletIntegrationTests {
    /// One containerd, one manifest directory, one kubelet root; torn down by `close()`.
    final class Environment: Sendable {
        let fixture: ContainerdFixture
        let client: CRIClient
        let manifests: String
        let node: NodeInfo

        init() throws {
            fixture = try ContainerdFixture.start()
            do {
                client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath))
            } catch {
                try? fixture.shutdown()
                throw error
            }
            manifests = fixture.stateDir + "/manifests"
            let root = fixture.stateDir + "/kubelet"
            try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
            node = NodeInfo(nodeName: "it-\(Host.runSuffix)", rootDirectory: root, podLogsDirectory: root + "/logs/pods",
                            resolvConf: "nameserver 127.0.0.53\n")
        }

        func kubelet(clock: any KubeletClock = SystemClock()) -> Kubelet {
            Kubelet(node: node, runtime: client, sources: [StaticPodSource(directory: manifests, nodeName: node.nodeName)], clock: clock)
        }

        func write(_ name: String, _ manifest: String) throws {
            try manifest.write(toFile: manifests + "/" + name, atomically: true, encoding: .utf8)
        }

        func close() async {
            await client.close()
            try? fixture.shutdown()
        }
    }

    /// Steps `kubelet` (sync every worker) until `done` holds, at most `timeout` of real time.
    func step(_ kubelet: Kubelet, _ what: String, timeout: Duration = .seconds(30), each: () async -> Void = {},
              until done: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            await kubelet.syncAll()
            if await done() { return true }
            await each()
            try? await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for \(what)")
        return false
    }

    func status(_ kubelet: Kubelet, _ uid: String) async -> PodStatus {
        await kubelet.worker(uid: uid)?.status ?? PodStatus()
    }

    @Test func initContainerThenTwoContainersSharingAnEmptyDir() async throws {
        let env = try Environment()
        let kubelet = env.kubelet()
        do {
            try env.write("shared.yaml", """
                apiVersion: v1
                kind: Pod
                metadata: {name: shared}
                spec:
                  volumes: [{name: data, emptyDir: {}}]
                  initContainers:
                  - {name: init, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo from-init > /data/greeting"], volumeMounts: [{name: data, mountPath: /data}]}
                  containers:
                  - {name: reader, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "cat /data/greeting; echo $(POD); sleep 3600"], env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}], volumeMounts: [{name: data, mountPath: /data}]}
                  - {name: writer, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo from-writer > /out/second; sleep 3600"], volumeMounts: [{name: data, mountPath: /out}]}
                """)
            let added = await kubelet.syncSources().added
            let uid = try #require(added.first)
            let running = await step(kubelet, "pod running") {
                let s = await status(kubelet, uid)
                return s.phase == "Running" && s.containerStatuses?.allSatisfy { $0.state?.running != nil } == true
            }
            #expect(running)
            let s = await status(kubelet, uid)
            #expect(s.initContainerStatuses?.first?.state?.terminated?.exitCode == 0)
            #expect(s.conditions?.first { $0.type == "Ready" }?.status == "True")
            let prefix = env.fixture.podCIDR.split(separator: ".").prefix(3).joined(separator: ".") + "."
            #expect(s.podIP?.hasPrefix(prefix) == true, "pod IP \(s.podIP ?? "none") not in \(env.fixture.podCIDR)")
            // The writer's file is visible on the host in the emptyDir, and the reader's log shows the init's file.
            let volume = env.node.podDirectory(uid: uid) + "/volumes/kubernetes.io~empty-dir/data"
            var logs = ""
            _ = await step(kubelet, "reader log and writer file") {
                logs = await KubeletServer(kubelet: kubelet).respond(method: .GET, uri: "/containerLogs/default/shared-\(env.node.nodeName)/reader").2
                return logs.contains("from-init") && FileManager.default.fileExists(atPath: volume + "/second")
            }
            #expect(logs.contains("from-init\nshared-\(env.node.nodeName)\n"))
            #expect(try String(contentsOfFile: volume + "/second", encoding: .utf8) == "from-writer\n")
            // Labels upstream tools read are on the sandbox.
            let sandboxes = try await env.client.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items
            #expect(sandboxes.first?.labels["io.kubernetes.pod.uid"] == uid)
            #expect(sandboxes.first?.labels["io.kubernetes.pod.name"] == "shared-\(env.node.nodeName)")

            // Removing the manifest removes the pod, its containers and its directories.
            try FileManager.default.removeItem(atPath: env.manifests + "/shared.yaml")
            #expect(await kubelet.syncSources().removed == [uid])
            #expect(try await env.client.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items.isEmpty)
            #expect(try await env.client.listContainers(Runtime_V1_ListContainersRequest()).containers.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: env.node.podDirectory(uid: uid)))
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }

    @Test func crashLoopRestartDelaysGrow() async throws {
        let env = try Environment()
        let clock = OffsetClock()
        let kubelet = env.kubelet(clock: clock)
        do {
            try env.write("crash.yaml", """
                metadata: {name: crash}
                spec:
                  containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo boom; exit 2"]}]
                """)
            let uid = try #require(await kubelet.syncSources().added.first)
            // Each real 100 ms step moves the kubelet's clock one second: back-off passes 10× faster.
            var starts: [(restart: Int32, at: Date)] = []
            var sawBackOff = false
            _ = await step(kubelet, "four restarts", timeout: .seconds(60), each: { clock.advance(by: 1) }) {
                let s = await status(kubelet, uid)
                guard let c = s.containerStatuses?.first else { return false }
                if c.state?.waiting?.reason == "CrashLoopBackOff" { sawBackOff = true }
                if starts.last?.restart != c.restartCount, c.state?.waiting == nil || c.state?.running != nil || c.state?.terminated != nil {
                    starts.append((c.restartCount, clock.now()))
                }
                return c.restartCount >= 3
            }
            #expect(sawBackOff)
            let gaps = zip(starts.dropFirst(), starts).map { $0.at.timeIntervalSince($1.at) }
            #expect(gaps.count >= 3)
            // Upstream: the first restart is immediate, then 10 s, 20 s... (plus step granularity).
            // The back-off counts from when the kubelet saw the exit on its own clock, so the
            // offset clock moves it; containerd's finishedAt is on wall time.
            #expect(gaps.count >= 3 && gaps[1] >= 10 && gaps[2] >= 20, "restart gaps \(gaps)")
            #expect(gaps.count >= 3 && gaps[2] > gaps[1], "restart gaps \(gaps)")
            let s = await status(kubelet, uid)
            #expect(s.containerStatuses?.first?.lastState?.terminated?.exitCode == 2)
            try await kubelet.worker(uid: uid)?.terminate(remove: true)
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }

    @Test func execHTTPAndTCPProbesFailThenPass() async throws {
        let env = try Environment()
        let kubelet = env.kubelet()
        do {
            // Each container becomes healthy about 3 s after it starts.
            try env.write("probes.yaml", """
                metadata: {name: probes}
                spec:
                  containers:
                  - name: exec
                    image: docker.io/nodekit/busybox:latest
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "sleep 3; touch /tmp/ok; sleep 3600"]
                    readinessProbe: {exec: {command: [test, -f, /tmp/ok]}, periodSeconds: 1}
                  - name: http
                    image: docker.io/nodekit/busybox:latest
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "mkdir -p /www; httpd -p 8080 -h /www; sleep 3; echo ok > /www/healthz; sleep 3600"]
                    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
                  - name: tcp
                    image: docker.io/nodekit/busybox:latest
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "sleep 3; mkdir -p /w2; httpd -f -p 8081 -h /w2"]
                    livenessProbe: {tcpSocket: {port: 8081}, initialDelaySeconds: 4, periodSeconds: 1}
                    readinessProbe: {tcpSocket: {port: 8081}, periodSeconds: 1}
                """)
            let uid = try #require(await kubelet.syncSources().added.first)
            let ready = await step(kubelet, "pod ready", timeout: .seconds(40)) {
                await status(kubelet, uid).conditions?.first { $0.type == "Ready" }?.status == "True"
            }
            #expect(ready)
            let worker = try #require(await kubelet.worker(uid: uid))
            for name in ["exec", "http", "tcp"] {
                let history = await worker.probes(of: name)?.history.filter { $0.kind == .readiness }.map(\.result) ?? []
                // The pod turns Ready only after each readiness probe passed, so the history
                // shows the failures before the success.
                #expect(history.first == .failure, "\(name) readiness history \(history)")
                #expect(history.last == .success, "\(name) readiness history \(history)")
            }
            let tcpLiveness = await worker.probes(of: "tcp")?.history.filter { $0.kind == .liveness }.map(\.result) ?? []
            #expect(!tcpLiveness.contains(.failure), "liveness waited for its initial delay: \(tcpLiveness)")
            // No probe restarted anything.
            #expect(await status(kubelet, uid).containerStatuses?.allSatisfy { $0.restartCount == 0 } == true)
            try await worker.terminate(gracePeriod: 0, remove: true)
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }

    @Test func staticPodSurvivesAKubeletRestartAndOrphansAreCleanedUp() async throws {
        let env = try Environment()
        do {
            try env.write("steady.yaml", """
                metadata: {name: steady}
                spec:
                  containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]
                """)
            let first = env.kubelet()
            let uid = try #require(await first.syncSources().added.first)
            #expect(await step(first, "running") { await status(first, uid).containerStatuses?.first?.state?.running != nil })
            let before = try await env.client.listContainers(Runtime_V1_ListContainersRequest()).containers.map(\.id)
            #expect(before.count == 1)

            // A new kubelet (same node, same manifests): it adopts the pod.
            let second = env.kubelet()
            #expect(await second.syncSources().added == [uid])
            try await second.relist()
            #expect(await second.housekeeping().isEmpty)
            await second.syncAll()
            await second.syncAll()
            let after = try await env.client.listContainers(Runtime_V1_ListContainersRequest()).containers
            #expect(after.map(\.id) == before)
            #expect(after.first?.state == .containerRunning)
            let s = await status(second, uid)
            #expect(s.containerStatuses?.first?.restartCount == 0)
            #expect(s.containerStatuses?.first?.state?.running != nil)

            // The manifest goes while no kubelet runs; the next kubelet removes the orphan.
            try FileManager.default.removeItem(atPath: env.manifests + "/steady.yaml")
            let third = env.kubelet()
            await third.syncSources()
            try await third.relist()
            #expect(await third.housekeeping() == [uid])
            #expect(try await env.client.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items.isEmpty)
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }

    @Test func gracefulTerminationRunsPreStopAndHonoursTheGracePeriod() async throws {
        let env = try Environment()
        let kubelet = env.kubelet()
        do {
            try env.write("graceful.yaml", """
                metadata: {name: graceful}
                spec:
                  terminationGracePeriodSeconds: 3
                  volumes: [{name: data, emptyDir: {}}]
                  containers:
                  - name: polite
                    image: docker.io/nodekit/busybox:latest
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "trap 'echo term >> /data/polite; exit 0' TERM; while true; do sleep 0.1; done"]
                    volumeMounts: [{name: data, mountPath: /data}]
                    lifecycle: {preStop: {exec: {command: [sh, -c, "echo prestop >> /data/polite"]}}}
                  - name: stubborn
                    image: docker.io/nodekit/busybox:latest
                    imagePullPolicy: IfNotPresent
                    command: [sh, -c, "trap '' TERM; while true; do sleep 0.1; done"]
                """)
            let uid = try #require(await kubelet.syncSources().added.first)
            #expect(await step(kubelet, "running") {
                await status(kubelet, uid).containerStatuses?.allSatisfy { $0.state?.running != nil } == true
            })
            let worker = try #require(await kubelet.worker(uid: uid))
            let started = ContinuousClock.now
            try await worker.terminate(remove: false)
            let took = ContinuousClock.now - started
            // The stubborn container is killed once the 3 s grace period has passed, not before.
            #expect(took >= .seconds(2.5) && took < .seconds(15), "termination took \(took)")
            let containers = try await env.client.listContainers(Runtime_V1_ListContainersRequest()).containers
            var codes: [String: Int32] = [:]
            for c in containers {
                var request = Runtime_V1_ContainerStatusRequest()
                request.containerID = c.id
                codes[c.metadata.name] = try await env.client.containerStatus(request).status.exitCode
            }
            #expect(codes["polite"] == 0)
            #expect(codes["stubborn"] == 137)
            let trace = try String(contentsOfFile: env.node.podDirectory(uid: uid) + "/volumes/kubernetes.io~empty-dir/data/polite", encoding: .utf8)
            #expect(trace == "prestop\nterm\n")
            try await worker.terminate(remove: true)
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }
}

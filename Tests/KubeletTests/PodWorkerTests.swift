import CRI
import Foundation
import KubeAPI
import Kubelet
import Testing
import TestSupport

@Suite struct PodWorkerTests {
    static let initPod = """
        metadata: {name: web}
        spec:
          volumes: [{name: data, emptyDir: {}}]
          initContainers:
          - {name: init, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo hi > /data/x"], volumeMounts: [{name: data, mountPath: /data}]}
          containers:
          - {name: a, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, "3600"], volumeMounts: [{name: data, mountPath: /data}]}
          - {name: b, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, "3600"], volumeMounts: [{name: data, mountPath: /shared, readOnly: true}]}
        """

    @Test func initContainerRunsBeforeAppContainersThatShareAnEmptyDir() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker(Self.initPod)
        await worker.syncPod()
        var status = await worker.status
        #expect(status.phase == "Pending")
        #expect(containerStatus(status, "init")?.state?.running != nil)
        #expect(containerStatus(status, "a")?.state?.waiting?.reason == "PodInitializing")
        #expect(condition(status, "Initialized") == "False")
        #expect(condition(status, "PodReadyToStartContainers") == "True")
        #expect(await h.containers("a").isEmpty)
        // Still running: a second step starts nothing.
        await worker.syncPod()
        #expect(await h.containers("a").isEmpty)

        let initID = try #require(await h.running("init")?.id)
        try await h.runtime.exitContainer(initID, exitCode: 0)
        await worker.syncPod()
        status = await worker.status
        #expect(status.phase == "Running")
        #expect(containerStatus(status, "init")?.state?.terminated?.reason == "Completed")
        #expect(containerStatus(status, "a")?.state?.running != nil)
        #expect(containerStatus(status, "b")?.state?.running != nil)
        #expect(condition(status, "Initialized") == "True")
        #expect(condition(status, "Ready") == "True")
        #expect(status.podIP?.hasPrefix("10.88.") == true)
        let initMount = try #require(await h.containers("init").first?.config.mounts.first { $0.containerPath == "/data" })
        let aMount = try #require(await h.running("a")?.config.mounts.first { $0.containerPath == "/data" })
        let bMount = try #require(await h.running("b")?.config.mounts.first { $0.containerPath == "/shared" })
        #expect(initMount.hostPath == aMount.hostPath && aMount.hostPath == bMount.hostPath)
        #expect(aMount.hostPath.hasSuffix("/volumes/kubernetes.io~empty-dir/data"))
        #expect(bMount.readonly)
        #expect(FileManager.default.fileExists(atPath: aMount.hostPath))
        #expect(await h.runtime.sandboxes.count == 1)
    }

    @Test func crashLoopBackOffGrowsFromTenSecondsDoubling() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: crash}
            spec: {containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: ["false"]}]}
            """)
        await worker.syncPod()
        var restartDelays: [Int] = []
        for _ in 0..<5 {
            let id = try #require(await h.running("c")?.id)
            try await h.runtime.exitContainer(id, exitCode: 1)
            // Step one second at a time until the container runs again.
            var waited = 0
            while true {
                await worker.syncPod()
                if await h.running("c") != nil { break }
                let status = await worker.status
                #expect(containerStatus(status, "c")?.state?.waiting?.reason == "CrashLoopBackOff")
                #expect(containerStatus(status, "c")?.lastState?.terminated?.exitCode == 1)
                await h.advance(.seconds(1))
                waited += 1
                if waited > 400 { Issue.record("never restarted"); return }
            }
            restartDelays.append(waited)
        }
        #expect(restartDelays == [0, 10, 20, 40, 80])
        let status = await worker.status
        #expect(containerStatus(status, "c")?.restartCount == 5)
        // Only the newest exited instance is kept beside the running one.
        #expect(await h.containers("c").count == 2)
    }

    /// The runtime's clock runs an hour behind the kubelet's (another host clock, an injected
    /// test clock): back-off must still be 10 s then 20 s of the kubelet's time, counted from
    /// when the worker saw the exit, not from the runtime's finishedAt.
    @Test func crashLoopBackOffIgnoresTheRuntimesClock() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        h.clock.advance(by: .seconds(3600))
        let worker = try h.worker("""
            metadata: {name: skew}
            spec: {containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: ["false"]}]}
            """)
        await worker.syncPod()
        var restartDelays: [Int] = []
        for _ in 0..<3 {
            try await h.runtime.exitContainer(try #require(await h.running("c")?.id), exitCode: 1)
            var waited = 0
            while await h.running("c") == nil {
                await worker.syncPod()
                if await h.running("c") != nil { break }
                await h.advance(.seconds(1))
                waited += 1
                if waited > 100 { Issue.record("never restarted"); return }
            }
            restartDelays.append(waited)
        }
        #expect(restartDelays == [0, 10, 20])
    }

    /// A container with a readiness probe is not ready before the probe has run once, even in
    /// the step that started it.
    @Test func aStartedContainerIsUnreadyUntilItsReadinessProbePasses() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: fresh}
            spec:
              containers:
              - {name: probed, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, readinessProbe: {exec: {command: [check]}, initialDelaySeconds: 5}}
              - {name: plain, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent}
            """)
        await worker.syncPod()
        var status = await worker.status
        #expect(containerStatus(status, "probed")?.state?.running != nil)
        #expect(containerStatus(status, "probed")?.ready == false)
        #expect(containerStatus(status, "plain")?.ready == true)
        #expect(condition(status, "Ready") == "False")
        let id = try #require(await h.running("probed")?.id)
        await h.runtime.setExecResult(containerID: id, command: ["check"], exitCode: 0)
        await h.advance(.seconds(1))
        await worker.syncPod()
        #expect(condition(await worker.status, "Ready") == "False", "still inside initialDelaySeconds")
        await h.advance(.seconds(5))
        await worker.syncPod()
        status = await worker.status
        #expect(containerStatus(status, "probed")?.ready == true)
        #expect(condition(status, "Ready") == "True")
        #expect(await worker.probes(of: "probed")?.history.map(\.result) == [.success])
    }

    @Test func restartPolicyNeverFailsThePodAndStopsTheSandbox() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: once}
            spec: {restartPolicy: Never, containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent}]}
            """)
        await worker.syncPod()
        try await h.runtime.exitContainer(try #require(await h.running("c")?.id), exitCode: 3)
        await worker.syncPod()
        var status = await worker.status
        #expect(status.phase == "Failed")
        #expect(containerStatus(status, "c")?.state?.terminated?.exitCode == 3)
        #expect(containerStatus(status, "c")?.state?.terminated?.reason == "Error")
        await worker.syncPod()
        status = await worker.status
        #expect(status.phase == "Failed")
        #expect(await h.runtime.sandboxes.values.allSatisfy { $0.state == .sandboxNotready })
        #expect(await h.containers("c").count == 1)
    }

    @Test func onFailureRestartsOnlyFailedContainersAndSucceeds() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: job}
            spec: {restartPolicy: OnFailure, containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent}]}
            """)
        await worker.syncPod()
        try await h.runtime.exitContainer(try #require(await h.running("c")?.id), exitCode: 1)
        await worker.syncPod()
        try await h.runtime.exitContainer(try #require(await h.running("c")?.id), exitCode: 0)
        await worker.syncPod()
        let status = await worker.status
        #expect(status.phase == "Succeeded")
        #expect(containerStatus(status, "c")?.restartCount == 1)
        #expect(condition(status, "Ready") == "False")
        #expect(status.conditions?.first { $0.type == "Ready" }?.reason == "PodCompleted")
    }

    @Test func missingImageGivesErrImagePullThenImagePullBackOff() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: img}
            spec: {containers: [{name: c, image: "docker.io/nodekit/missing:1.0"}]}
            """)
        await worker.syncPod()
        var status = await worker.status
        #expect(containerStatus(status, "c")?.state?.waiting?.reason == "ErrImagePull")
        #expect(status.phase == "Pending")
        await h.advance(.seconds(1))
        await worker.syncPod()
        status = await worker.status
        #expect(containerStatus(status, "c")?.state?.waiting?.reason == "ImagePullBackOff")
        #expect(containerStatus(status, "c")?.state?.waiting?.message == "Back-off pulling image \"docker.io/nodekit/missing:1.0\"")
        await h.advance(.seconds(9))
        await worker.syncPod()
        status = await worker.status
        #expect(containerStatus(status, "c")?.state?.waiting?.reason == "ErrImagePull")
        await h.runtime.addToRegistry("docker.io/nodekit/missing:1.0")
        await h.advance(.seconds(20))
        await worker.syncPod()
        status = await worker.status
        #expect(containerStatus(status, "c")?.state?.running != nil)
    }

    @Test func pullPolicyNeverWithoutTheImage() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: img}
            spec: {containers: [{name: c, image: "nodekit/missing:2", imagePullPolicy: Never}]}
            """)
        await worker.syncPod()
        let status = await worker.status
        #expect(containerStatus(status, "c")?.state?.waiting?.reason == "ErrImageNeverPull")
        #expect(await h.runtime.calls.contains(.pullImage) == false)
    }

    @Test func missingConfigMapIsCreateContainerConfigError() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: cfg}
            spec:
              containers:
              - {name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: k}}}]}
            """)
        await worker.syncPod()
        let status = await worker.status
        #expect(containerStatus(status, "c")?.state?.waiting?.reason == "CreateContainerConfigError")
        #expect(containerStatus(status, "c")?.state?.waiting?.message?.contains("configmap \"settings\" not found") == true)
        #expect(await h.containers("c").isEmpty)
    }

    @Test func livenessFailureRestartsTheContainer() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: live}
            spec:
              containers:
              - name: c
                image: docker.io/nodekit/busybox:latest
                imagePullPolicy: IfNotPresent
                livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 2}
            """)
        await worker.syncPod()
        let first = try #require(await h.running("c")?.id)
        await h.runtime.setExecResult(containerID: first, command: ["cat", "/tmp/healthy"], exitCode: 0)
        await worker.syncPod()
        await h.advance(.seconds(1))
        await worker.syncPod()
        #expect(await h.running("c")?.id == first)
        #expect(await worker.probes(of: "c")?.history.map(\.result) == [.success, .success])
        await h.runtime.setExecResult(containerID: first, command: ["cat", "/tmp/healthy"], stderr: "no such file", exitCode: 1)
        await h.advance(.seconds(1))
        await worker.syncPod()
        #expect(await h.running("c")?.id == first)
        await h.advance(.seconds(1))
        await worker.syncPod()
        // The second failure in a row reaches the threshold: killed with SIGTERM's status.
        let killed = await h.containers("c").first { $0.id == first }
        #expect(killed?.state == .containerExited)
        #expect(killed?.exitCode == 143)
        await worker.syncPod()
        let second = try #require(await h.running("c"))
        #expect(second.id != first)
        #expect(second.config.metadata.attempt == 1)
        let status = await worker.status
        #expect(containerStatus(status, "c")?.restartCount == 1)
        #expect(containerStatus(status, "c")?.lastState?.terminated?.exitCode == 143)
    }

    @Test func readinessDrivesReadyAndStartupHoldsItBack() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: ready}
            spec:
              containers:
              - name: c
                image: docker.io/nodekit/busybox:latest
                imagePullPolicy: IfNotPresent
                startupProbe: {exec: {command: [check, started]}, periodSeconds: 1, failureThreshold: 30}
                readinessProbe: {exec: {command: [check, ready]}, periodSeconds: 1, failureThreshold: 1}
            """)
        await worker.syncPod()
        let id = try #require(await h.running("c")?.id)
        await h.runtime.setExecResult(containerID: id, command: ["check", "started"], exitCode: 1)
        await h.runtime.setExecResult(containerID: id, command: ["check", "ready"], exitCode: 0)
        await worker.syncPod()
        var status = await worker.status
        #expect(containerStatus(status, "c")?.started == false)
        #expect(containerStatus(status, "c")?.ready == false)
        #expect(condition(status, "Ready") == "False")
        #expect(await worker.probes(of: "c")?.history.map(\.kind) == [.startup])

        await h.runtime.setExecResult(containerID: id, command: ["check", "started"], exitCode: 0)
        await h.advance(.seconds(1))
        await worker.syncPod()
        await h.advance(.seconds(1))
        await worker.syncPod()
        status = await worker.status
        #expect(containerStatus(status, "c")?.started == true)
        #expect(containerStatus(status, "c")?.ready == true)
        #expect(condition(status, "Ready") == "True")
        #expect(condition(status, "ContainersReady") == "True")

        await h.runtime.setExecResult(containerID: id, command: ["check", "ready"], exitCode: 1)
        await h.advance(.seconds(1))
        await worker.syncPod()
        status = await worker.status
        #expect(condition(status, "Ready") == "False")
        #expect(status.conditions?.first { $0.type == "Ready" }?.message == "containers with unready status: [c]")
        // Readiness never restarts.
        #expect(await h.running("c")?.id == id)
    }

    @Test func aNewWorkerAdoptsRunningContainersWithoutRestartingThem() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let first = try h.worker(Self.initPod)
        await first.syncPod()
        try await h.runtime.exitContainer(try #require(await h.running("init")?.id), exitCode: 0)
        await first.syncPod()
        let before = await h.runtime.containers.keys.sorted()
        let callsBefore = await h.runtime.calls.filter { [.runPodSandbox, .createContainer, .stopContainer].contains($0) }.count

        // A restarted kubelet: a fresh worker for the same manifest (same UID).
        let second = try h.worker(Self.initPod)
        #expect(second.uid == first.uid)
        await second.syncPod()
        await second.syncPod()
        #expect(await h.runtime.containers.keys.sorted() == before)
        #expect(await h.runtime.calls.filter { [.runPodSandbox, .createContainer, .stopContainer].contains($0) }.count == callsBefore)
        let status = await second.status
        #expect(status.phase == "Running")
        #expect(containerStatus(status, "a")?.restartCount == 0)
    }

    @Test func aChangedContainerSpecRestartsOnlyThatContainer() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker(Self.initPod)
        await worker.syncPod()
        try await h.runtime.exitContainer(try #require(await h.running("init")?.id), exitCode: 0)
        await worker.syncPod()
        let a = try #require(await h.running("a"))
        let b = try #require(await h.running("b"))
        var pod = await worker.pod
        pod.spec.containers[0].command = ["sleep", "7200"]
        await worker.update(pod)
        await worker.syncPod()
        #expect(await h.containers("a").first { $0.id == a.id }?.state == .containerExited)
        await worker.syncPod()
        let newA = try #require(await h.running("a"))
        #expect(newA.id != a.id)
        #expect(newA.config.command == ["sleep", "7200"])
        #expect(await h.running("b")?.id == b.id)
        // The init container does not run again in the same sandbox.
        #expect(await h.containers("init").count == 1)
    }

    @Test func terminateStopsWithTheGracePeriodAndRemovesEverything() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = try h.worker("""
            metadata: {name: bye}
            spec:
              terminationGracePeriodSeconds: 7
              volumes: [{name: scratch, emptyDir: {}}]
              containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, volumeMounts: [{name: scratch, mountPath: /s}]}]
            """)
        await worker.syncPod()
        let dir = h.node.podDirectory(uid: worker.uid)
        #expect(FileManager.default.fileExists(atPath: dir + "/volumes/kubernetes.io~empty-dir/scratch"))
        try await worker.terminate(remove: true)
        #expect(await h.runtime.containers.isEmpty)
        #expect(await h.runtime.sandboxes.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}

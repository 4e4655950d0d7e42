import CRI
import Foundation
import KubeAPI
import Kubelet
import LinuxSystem
import Testing
import TestSupport

/// Runtime-facing behaviour of the kubelet on a real containerd: surviving a containerd
/// restart, Memory emptyDirs on tmpfs, FallbackToLogsOnError, log rotation. Part of the
/// serialized ``KubeletIntegrationTests`` suite.
extension KubeletIntegrationTests {
    @Test func aContainerdRestartIsSurvivedWithoutRestartingContainers() async throws {
        let env = try Environment()
        let kubelet = env.kubelet()
        do {
            try env.write("survivor.yaml", """
                metadata: {name: survivor}
                spec:
                  containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]
                """)
            let uid = try #require(await kubelet.syncSources().added.first)
            #expect(await step(kubelet, "running") { await status(kubelet, uid).containerStatuses?.first?.state?.running != nil })
            let before = try await env.client.listContainers(Runtime_V1_ListContainersRequest()).containers.map(\.id)
            let worker = try #require(await kubelet.worker(uid: uid))

            try env.fixture.stopContainerd()
            // While containerd is down, steps fail and say so; nothing is torn down.
            await kubelet.syncAll()
            #expect(await worker.lastError?.code == .runtime)
            await #expect(throws: KubeletError.self) { try await kubelet.relist() }
            #expect(await status(kubelet, uid).containerStatuses?.first?.state?.running != nil, "status keeps the last known state")

            try env.fixture.startContainerd()
            let recovered = await step(kubelet, "sync after containerd is back") {
                let relisted = (try? await kubelet.relist()) != nil
                return await worker.lastError == nil && relisted
            }
            #expect(recovered)
            let after = try await env.client.listContainers(Runtime_V1_ListContainersRequest()).containers
            #expect(after.map(\.id) == before)
            #expect(after.first?.state == .containerRunning)
            let s = await status(kubelet, uid)
            #expect(s.containerStatuses?.first?.restartCount == 0)
            #expect(s.containerStatuses?.first?.state?.running != nil)
            try await worker.terminate(gracePeriod: 0, remove: true)
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }

    @Test func memoryEmptyDirIsASizedTmpfsAndFailuresFallBackToTheLog() async throws {
        let env = try Environment()
        let kubelet = env.kubelet()
        do {
            // 2 MiB into a 1 MiB tmpfs fails; the container has no termination message file
            // content, so its log tail becomes the message.
            try env.write("memory.yaml", """
                metadata: {name: memory}
                spec:
                  restartPolicy: Never
                  volumes: [{name: cache, emptyDir: {medium: Memory, sizeLimit: 1Mi}}]
                  containers:
                  - name: fill
                    image: docker.io/nodekit/busybox:latest
                    imagePullPolicy: IfNotPresent
                    terminationMessagePolicy: FallbackToLogsOnError
                    command: [sh, -c, "echo filling; dd if=/dev/zero of=/cache/big bs=1024 count=2048 2>/dev/null || { echo cache is full; sleep 1; exit 3; }"]
                    volumeMounts: [{name: cache, mountPath: /cache}]
                """)
            let uid = try #require(await kubelet.syncSources().added.first)
            let volume = env.node.podDirectory(uid: uid) + "/volumes/kubernetes.io~empty-dir/cache"
            var sawTmpfs = false
            let done = await step(kubelet, "container failed") {
                if (try? Mount.filesystemType(at: volume)) == "tmpfs" { sawTmpfs = true }
                return await status(kubelet, uid).containerStatuses?.first?.state?.terminated != nil
            }
            #expect(done)
            #expect(sawTmpfs)
            let terminated = await status(kubelet, uid).containerStatuses?.first?.state?.terminated
            #expect(terminated?.exitCode == 3)
            #expect(terminated?.message == "filling\ncache is full", "message \(terminated?.message ?? "nil")")
            let size = try FilesystemStats.of(volume).capacityBytes
            #expect(size == 1024 * 1024, "tmpfs size \(size)")

            try await kubelet.worker(uid: uid)?.terminate(gracePeriod: 0, remove: true)
            #expect(try Mount.filesystemType(at: volume) == nil, "the tmpfs is unmounted with the pod")
            #expect(!FileManager.default.fileExists(atPath: env.node.podDirectory(uid: uid)))
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }

    @Test func containerLogsAreRotatedAndTheRuntimeReopensThem() async throws {
        let env = try Environment()
        let policy = ContainerLogPolicy(maxSizeBytes: 16 * 1024, maxFiles: 3)
        let kubelet = Kubelet(node: env.node, runtime: env.client, sources: [StaticPodSource(directory: env.manifests, nodeName: env.node.nodeName)],
                              logPolicy: policy)
        do {
            try env.write("chatty.yaml", """
                metadata: {name: chatty}
                spec:
                  containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "while true; do seq 1 2000; sleep 0.2; done"]}]
                """)
            let uid = try #require(await kubelet.syncSources().added.first)
            #expect(await step(kubelet, "running") { await status(kubelet, uid).containerStatuses?.first?.state?.running != nil })
            let logPath = env.node.podLogDirectory(namespace: "default", name: "chatty-\(env.node.nodeName)", uid: uid) + "/c/0.log"
            var rotations = 0
            _ = await step(kubelet, "three rotations", timeout: .seconds(30), each: {
                rotations += (try? await kubelet.rotateLogs().count) ?? 0
            }) { rotations >= 3 }
            #expect(rotations >= 3)
            let rotated = ContainerLogRotator.rotatedFiles(of: logPath)
            // maxFiles 3: the live file plus at most two rotated ones.
            #expect(!rotated.isEmpty && rotated.count <= 2, "rotated files \(rotated)")
            // The runtime writes to the new file: it grows again after the last rotation.
            let grown = await step(kubelet, "live log written again") {
                let size = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? NSNumber)?.int64Value ?? 0
                return size > 0
            }
            #expect(grown)
            let text = try String(contentsOfFile: logPath, encoding: .utf8)
            #expect(text.split(separator: "\n").allSatisfy { (try? ContainerLogLine(parsing: $0)) != nil }, "the live file is in the CRI format")
            #expect(await status(kubelet, uid).containerStatuses?.first?.restartCount == 0)
            try await kubelet.worker(uid: uid)?.terminate(gracePeriod: 0, remove: true)
        } catch {
            await env.close()
            throw error
        }
        await env.close()
    }
}

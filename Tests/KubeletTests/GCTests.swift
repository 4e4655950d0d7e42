import CRI
import Foundation
import Kubelet
import LinuxSystem
import Synchronization
import Testing
import TestSupport

/// Runs pod `uid`'s sandbox and `count` instances of container `name`, all but the last exited
/// (or all exited with `allExited`), one second apart. Returns the container ids, oldest first.
@discardableResult
private func instances(_ runtime: FakeRuntime, uid: String, name: String, count: Int, allExited: Bool = false,
                       image: String = "docker.io/nodekit/busybox:latest") async throws -> (sandbox: String, containers: [String]) {
    var sandboxConfig = Runtime_V1_PodSandboxConfig()
    sandboxConfig.metadata.name = "pod-\(uid)"
    sandboxConfig.metadata.namespace = "default"
    sandboxConfig.metadata.uid = uid
    sandboxConfig.labels = [KubeletLabels.podUID: uid]
    let existing = await runtime.sandboxes.values.first { $0.config.metadata.uid == uid }
    var sandboxID = existing?.id ?? ""
    if existing == nil {
        var request = Runtime_V1_RunPodSandboxRequest()
        request.config = sandboxConfig
        sandboxID = try await runtime.runPodSandbox(request, timeout: nil).podSandboxID
    }
    var ids: [String] = []
    for attempt in 0..<count {
        var request = Runtime_V1_CreateContainerRequest()
        request.podSandboxID = sandboxID
        request.sandboxConfig = sandboxConfig
        request.config.metadata.name = name
        request.config.metadata.attempt = UInt32(attempt)
        request.config.image.image = image
        request.config.labels = [KubeletLabels.podUID: uid, KubeletLabels.containerName: name]
        let id = try await runtime.createContainer(request, timeout: nil).containerID
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = id
        _ = try await runtime.startContainer(start, timeout: nil)
        if allExited || attempt < count - 1 { try await runtime.exitContainer(id, exitCode: 1) }
        ids.append(id)
        await runtime.advance(by: .seconds(1))
    }
    return (sandboxID, ids)
}

@Suite struct ContainerGCTests {
    @Test func keepsTheNewestDeadInstancePerContainerOfActivePods() async throws {
        let runtime = FakeRuntime()
        await runtime.addImage("docker.io/nodekit/busybox:latest")
        let (_, ids) = try await instances(runtime, uid: "u1", name: "app", count: 4)
        let gc = ContainerGC(runtime: runtime, activePodUIDs: { ["u1"] })
        let now = fakeNow(await runtime.now)
        let result = try await gc.garbageCollect(now: now)
        #expect(Set(result.removedContainers) == Set(ids[0..<2]), "the two oldest dead go; the newest dead and the running one stay")
        #expect(Set(await runtime.containers.keys) == Set(ids[2...]))
        #expect(result.removedSandboxes.isEmpty)
    }

    @Test func removesEverythingDeadOfPodsNoLongerRun() async throws {
        let runtime = FakeRuntime()
        await runtime.addImage("docker.io/nodekit/busybox:latest")
        let (sandbox, _) = try await instances(runtime, uid: "gone", name: "app", count: 2, allExited: true)
        var stop = Runtime_V1_StopPodSandboxRequest()
        stop.podSandboxID = sandbox
        _ = try await runtime.stopPodSandbox(stop, timeout: nil)
        let gc = ContainerGC(runtime: runtime, activePodUIDs: { [] })
        let result = try await gc.garbageCollect(now: fakeNow(await runtime.now))
        #expect(result.removedContainers.count == 2)
        #expect(result.removedSandboxes == [sandbox])
        #expect(await runtime.containers.isEmpty)
        #expect(await runtime.sandboxes.isEmpty)
    }

    @Test func minimumAgeProtectsRecentDeadContainers() async throws {
        let runtime = FakeRuntime()
        await runtime.addImage("docker.io/nodekit/busybox:latest")
        let (_, ids) = try await instances(runtime, uid: "u1", name: "app", count: 3)
        let gc = ContainerGC(policy: .init(minimumAge: .seconds(60), maxPerPodContainer: 0), runtime: runtime, activePodUIDs: { ["u1"] })
        let now = fakeNow(await runtime.now)
        #expect(try await gc.garbageCollect(now: now).removedContainers.isEmpty)
        let later = try await gc.garbageCollect(now: now.addingTimeInterval(60))
        #expect(Set(later.removedContainers) == Set(ids[0..<2]))
    }

    @Test func removeAllDeadIgnoresTheLimit() async throws {
        let runtime = FakeRuntime()
        await runtime.addImage("docker.io/nodekit/busybox:latest")
        let (_, ids) = try await instances(runtime, uid: "u1", name: "app", count: 3)
        let gc = ContainerGC(runtime: runtime, activePodUIDs: { ["u1"] })
        let result = try await gc.garbageCollect(now: fakeNow(await runtime.now), removeAllDead: true)
        #expect(Set(result.removedContainers) == Set(ids[0..<2]))
        #expect(await runtime.containers.keys.contains(ids[2]), "running containers are never collected")
    }
}

/// An image filesystem whose use is the fake runtime's image sizes plus `otherBytes`.
private func imageFs(_ runtime: FakeRuntime, capacity: Int64, otherBytes: Int64) -> @Sendable () async throws(KubeletError) -> FilesystemStats {
    { () async throws(KubeletError) -> FilesystemStats in
        let used = await runtime.images.values.reduce(Int64(0)) { $0 + Int64($1.size) } + otherBytes
        return FilesystemStats(capacityBytes: capacity, availableBytes: capacity - used, inodes: 1000, inodesFree: 500)
    }
}

@Suite struct ImageGCTests {
    let mb: UInt64 = 1_000_000

    @Test func policyValidation() {
        #expect(throws: KubeletError.self) { try ImageGC.Policy(highThresholdPercent: 70, lowThresholdPercent: 80).validate() }
        #expect(throws: KubeletError.self) { try ImageGC.Policy(highThresholdPercent: 101).validate() }
        #expect(throws: Never.self) { try ImageGC.Policy().validate() }
    }

    @Test func belowTheHighThresholdNothingIsRemoved() async throws {
        let runtime = FakeRuntime()
        await runtime.addImage("docker.io/library/a:1", size: 10 * mb)
        let gc = try ImageGC(runtime: runtime, imageFs: imageFs(runtime, capacity: Int64(100 * mb), otherBytes: Int64(74 * mb)))
        let result = try await gc.garbageCollect(now: Date(timeIntervalSince1970: 1_700_000_000).addingTimeInterval(3600))
        #expect(result.removed.isEmpty)
        #expect(await runtime.images.count == 1)
    }

    @Test func overTheHighThresholdFreesDownToTheLowOneLeastRecentlyUsedFirst() async throws {
        let runtime = FakeRuntime()
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let old = await runtime.addImage("docker.io/library/old:1", size: 3 * mb)
        // 80 MB of 100 used → usage 80 %; 86 MB → 86 % (over 85).
        let gc = try ImageGC(runtime: runtime, imageFs: imageFs(runtime, capacity: Int64(100 * mb), otherBytes: Int64(70 * mb)))
        _ = try await gc.garbageCollect(now: t0)
        let newer = await runtime.addImage("docker.io/library/newer:1", size: 3 * mb)
        _ = try await gc.garbageCollect(now: t0.addingTimeInterval(60))
        await runtime.addImage("docker.io/nodekit/busybox:latest", size: 10 * mb)
        try await instances(runtime, uid: "u1", name: "app", count: 1)
        // used = 70 + 3 + 3 + 10 = 86 MB → free down to 80 %: 6 MB; "old" and "newer" are unused, busybox is in use.
        let result = try await gc.garbageCollect(now: t0.addingTimeInterval(600))
        #expect(result.wantedBytes == Int64(6 * mb))
        #expect(result.removed == [old, newer])
        #expect(await runtime.images.values.map(\.repoTags) == [["docker.io/nodekit/busybox:latest"]])
    }

    @Test func youngImagesAreKeptAndTheShortfallIsAnError() async throws {
        let runtime = FakeRuntime()
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        await runtime.addImage("docker.io/library/fresh:1", size: 20 * mb)
        let gc = try ImageGC(runtime: runtime, imageFs: imageFs(runtime, capacity: Int64(100 * mb), otherBytes: Int64(70 * mb)))
        await #expect {
            try await gc.garbageCollect(now: t0)
        } throws: { error in
            "\(error)".contains("attempted to free 10000000 bytes, but only found 0 bytes eligible to free")
        }
        let later = try await gc.garbageCollect(now: t0.addingTimeInterval(120))
        #expect(later.freedBytes == Int64(20 * mb), "after the 2-minute minimum age the image may go")
    }

    @Test func pinnedAndInUseImagesAreNeverRemoved() async throws {
        let runtime = FakeRuntime()
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        await runtime.addImage("docker.io/nodekit/busybox:latest", size: mb)
        try await instances(runtime, uid: "u1", name: "app", count: 1, allExited: true)
        let gc = try ImageGC(runtime: runtime, imageFs: imageFs(runtime, capacity: Int64(100 * mb), otherBytes: 0))
        _ = try await gc.deleteUnusedImages(now: t0)
        let result = try await gc.deleteUnusedImages(now: t0.addingTimeInterval(3600))
        #expect(result.removed.isEmpty, "an exited container still uses its image")
        #expect(await runtime.images.count == 1)
    }
}

/// The fake runtime's clock (nanoseconds since the epoch) as a Date.
private func fakeNow(_ nanoseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(nanoseconds) / 1e9) }

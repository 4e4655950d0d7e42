import CRI
import Foundation
import KubeAPI
import Kubelet
import Synchronization
import Testing
import TestSupport

/// API-server pods without an API server: the test hands the kubelet its pods directly, marked
/// with config source `api` (static pods are critical and never evicted).
final class FixedPodSource: PodSource {
    let name = "api"
    let pods: Mutex<[Pod]>
    init(_ pods: [Pod]) { self.pods = Mutex(pods) }
    func snapshot() async throws(KubeletError) -> PodSourceSnapshot { PodSourceSnapshot(pods: pods.withLock { $0 }) }
}

/// The "node" of the memory-pressure test: its memory is the test's own pods. Pod statistics
/// come unchanged from the kubelet's ``HostStatsProvider`` (CRI and the pods' memory cgroups);
/// node memory is `capacity` minus the sum of those pods' working sets. The host's own free
/// memory moves by hundreds of MiB while other work runs (builds, other tests), so a threshold
/// "just under the host's available memory" would not give a deterministic test; a node made of
/// the test's pods does, while usage, ranking, eviction and status stay real.
struct TestNodeMemoryStats: StatsProvider {
    let host: HostStatsProvider
    let capacity: Int64

    func summary() async throws(KubeletError) -> StatsSummary {
        var summary = try await host.summary()
        let used = summary.pods.compactMap(\.memoryWorkingSetBytes).reduce(0, +)
        summary.node.memory = StatsSummary.MemoryStats(availableBytes: capacity - used, usageBytes: used, workingSetBytes: used)
        return summary
    }
}

/// The kubelet's eviction manager against real pods on a private containerd: a BestEffort pod
/// that allocates 150 MiB is evicted first under a `memory.available<100Mi` hard threshold, with
/// upstream's reason and message; a Burstable and a Guaranteed pod under their requests stay.
@Suite(.serialized, .enabled(if: ContainerdFixture.skipReason == nil, Comment(rawValue: ContainerdFixture.skipReason ?? "")))
struct NodePressureIntegrationTests {
    static let Mi: Int64 = 1 << 20

    static func pod(_ name: String, uid: String, resources: ResourceRequirements?, command: String, volumes: Bool = false) -> Pod {
        var container = Container(name: "main", image: ContainerdFixture.busyboxImage)
        container.imagePullPolicy = "IfNotPresent"
        container.command = ["sh", "-c", command]
        container.resources = resources
        var spec = PodSpec(containers: [container])
        spec.terminationGracePeriodSeconds = 1
        if volumes {
            spec.containers[0].volumeMounts = [VolumeMount(name: "ctl", mountPath: "/ctl")]
            var volume = Volume(name: "ctl")
            volume.emptyDir = EmptyDirVolumeSource()
            spec.volumes = [volume]
        }
        var meta = ObjectMeta(name: name, namespace: "default", annotations: [KubeletLabels.configSource: "api"])
        meta.uid = uid
        return Pod(metadata: meta, spec: spec)
    }

    func phase(_ kubelet: Kubelet, _ uid: String) async -> PodStatus {
        await kubelet.worker(uid: uid)?.status ?? PodStatus()
    }

    @Test func bestEffortPodIsEvictedFirstAndGuaranteedIsNot() async throws {
        let env = try KubeletIntegrationTests.Environment()
        let suffix = Host.runSuffix
        let (be, bu, gu) = ("pressure-be-\(suffix)", "pressure-bu-\(suffix)", "pressure-gu-\(suffix)")
        // The BestEffort pod allocates when the test creates /ctl/go: dd's 150 MiB block buffer
        // stays resident (anonymous memory, in the working set) while dd blocks writing it to a
        // pipe nobody reads; the kill frees it.
        let source = FixedPodSource([
            Self.pod(be, uid: "uid-\(be)", resources: nil,
                     command: "while [ ! -e /ctl/go ]; do sleep 0.2; done; dd if=/dev/zero bs=150M count=1 | sleep 3600", volumes: true),
            Self.pod(bu, uid: "uid-\(bu)", resources: ResourceRequirements(requests: ["memory": "32Mi"]), command: "sleep 3600"),
            Self.pod(gu, uid: "uid-\(gu)", resources: ResourceRequirements(requests: ["memory": "64Mi", "cpu": "100m"], limits: ["memory": "64Mi", "cpu": "100m"]),
                     command: "sleep 3600"),
        ])
        let kubelet = Kubelet(node: env.node, runtime: env.client, sources: [source])
        let hostStats = HostStatsProvider(node: env.node, runtime: env.client, pods: { await kubelet.pods() })
        do {
            _ = await kubelet.syncSources()
            let started = try await Self.until("three pods running", timeout: .seconds(40)) {
                await kubelet.syncAll()
                var running = 0
                for uid in ["uid-\(be)", "uid-\(bu)", "uid-\(gu)"] where await phase(kubelet, uid).phase == "Running" { running += 1 }
                return running == 3
            }
            #expect(started)
            #expect(QOSClass(source.pods.withLock { $0[0].spec }) == .bestEffort)
            #expect(QOSClass(source.pods.withLock { $0[2].spec }) == .guaranteed)

            // The node: what the pods use now plus 180 MiB, so 180 MiB is available against the
            // 100 MiB threshold until the BestEffort pod allocates 150 MiB.
            let baseline = try await hostStats.summary().pods.compactMap(\.memoryWorkingSetBytes).reduce(0, +)
            let capacity = baseline + 180 * Self.Mi
            let config = try EvictionConfig.parse(hard: "memory.available<100Mi")
            let manager = EvictionManager(config: config, stats: TestNodeMemoryStats(host: hostStats, capacity: capacity), host: kubelet)
            await kubelet.attach(NodeHousekeeping(eviction: manager))
            #expect(await kubelet.evictionStep().isEmpty, "nothing is evicted while 180 MiB are available")
            #expect(await manager.pressureConditions.isEmpty)

            let control = env.node.podDirectory(uid: "uid-\(be)") + "/volumes/kubernetes.io~empty-dir/ctl/go"
            try Data().write(to: URL(fileURLWithPath: control))
            var beUsage: Int64 = 0
            let allocated = try await Self.until("the BestEffort pod allocating", timeout: .seconds(20)) {
                let stats = try await hostStats.summary()
                beUsage = stats.pods.first { $0.podRef.uid == "uid-\(be)" }?.memoryWorkingSetBytes ?? 0
                return beUsage >= 140 * Self.Mi
            }
            #expect(allocated, "BestEffort working set \(beUsage)")

            let decisions = await kubelet.evictionStep()
            #expect(decisions.map(\.podKey) == ["default/\(be)"])
            let decision = try #require(decisions.first)
            #expect(decision.gracePeriodSeconds == 1)
            #expect(decision.message.hasPrefix("The node was low on resource: memory. Threshold quantity: 100Mi, available: "))
            #expect(decision.message.contains("Container main was using "), "\(decision.message)")
            #expect(decision.message.hasSuffix(", request is 0, has larger consumption of memory. "))
            #expect(decision.annotations["starved_resource"] == "memory")
            #expect(await manager.pressureConditions == [.memoryPressure])
            let evicted = await phase(kubelet, "uid-\(be)")
            #expect(evicted.phase == "Failed" && evicted.reason == "Evicted" && evicted.message == decision.message)

            // The kill freed the memory: the next step evicts nothing more.
            #expect(await kubelet.evictionStep().isEmpty)
            for uid in ["uid-\(bu)", "uid-\(gu)"] {
                await kubelet.syncAll()
                #expect(await phase(kubelet, uid).phase == "Running", "\(uid) still runs")
            }
            await Self.removeAll(kubelet, source)
        } catch {
            await Self.removeAll(kubelet, source)
            await env.close()
            throw error
        }
        await env.close()
    }

    /// Polls `done` every 100 ms until it holds or `timeout` passes.
    static func until(_ what: String, timeout: Duration, _ done: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await done() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for \(what)")
        return false
    }

    /// Stops and removes every pod (the kubelet removes pods its sources no longer list), then
    /// their pod cgroups.
    static func removeAll(_ kubelet: Kubelet, _ source: FixedPodSource) async {
        let uids = source.pods.withLock { $0.compactMap(\.metadata.uid) }
        source.pods.withLock { $0 = [] }
        _ = await kubelet.syncSources()
        await kubelet.syncAll()
        for pod in await kubelet.pods() {
            if let uid = pod.metadata.uid { try? await kubelet.worker(uid: uid)?.terminate(gracePeriod: 0, remove: true) }
        }
        removePodCgroups(uids: uids)
    }

    /// Removes the (empty) pod cgroups runc created under /kubepods in every hierarchy: the
    /// kubelet does not remove pod cgroups yet, and a test leaves nothing behind.
    static func removePodCgroups(uids: [String]) {
        let hierarchies = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []).map { "/sys/fs/cgroup/\($0)" } + ["/sys/fs/cgroup"]
        for hierarchy in hierarchies {
            for qos in ["kubepods", "kubepods/burstable", "kubepods/besteffort"] {
                for uid in uids where FileManager.default.fileExists(atPath: "\(hierarchy)/\(qos)/pod\(uid)") {
                    _ = try? run("rmdir", ["\(hierarchy)/\(qos)/pod\(uid)"])
                }
            }
        }
    }
}

import Foundation
import KubeAPI
import Kubelet
import Testing

private let Mi: Int64 = 1 << 20
private let Gi: Int64 = 1 << 30

/// A pod with one container `c`, a memory request/limit (cpu alongside, so limits make it
/// Guaranteed), a priority and annotations.
private func previewPod(_ name: String, request: String? = nil, limit: String? = nil, priority: Int32? = nil,
                        annotations: [String: String]? = nil, phase: String? = nil) -> Pod {
    var container = Container(name: "c", image: "busybox")
    if request != nil || limit != nil {
        var requests: ResourceList = [:], limits: ResourceList = [:]
        if let request { requests["memory"] = Quantity(stringLiteral: request); requests["cpu"] = "100m" }
        if let limit { limits["memory"] = Quantity(stringLiteral: limit); limits["cpu"] = "100m" }
        container.resources = ResourceRequirements(requests: requests.isEmpty ? nil : requests, limits: limits.isEmpty ? nil : limits)
    }
    var spec = PodSpec(containers: [container])
    spec.priority = priority
    var meta = ObjectMeta(name: name, namespace: "default", annotations: annotations)
    meta.uid = "uid-\(name)"
    var pod = Pod(metadata: meta, spec: spec)
    if let phase { pod.status = PodStatus(phase: phase) }
    return pod
}

private func previewStats(_ name: String, memory: Int64) -> StatsSummary.PodStats {
    StatsSummary.PodStats(podRef: .init(name: name, namespace: "default", uid: "uid-\(name)"),
                          containers: [StatsSummary.ContainerStats(name: "c", memory: .init(workingSetBytes: memory))])
}

private func previewSummary(memoryAvailable: Int64, capacity: Int64 = 8 * Gi, pods: [StatsSummary.PodStats]) -> StatsSummary {
    StatsSummary(node: .init(nodeName: "node1",
                             memory: .init(availableBytes: memoryAvailable, workingSetBytes: capacity - memoryAvailable),
                             fs: .init(availableBytes: 50 * Gi, capacityBytes: 100 * Gi, inodesFree: 900_000, inodes: 1_000_000),
                             rlimit: .init(maxpid: 32768, curproc: 200)),
                 pods: pods)
}

/// The pods of every preview table: a BestEffort hog, a Burstable pod over its request, a
/// Guaranteed pod under its request, a high-priority BestEffort pod and a static pod.
private let pods = [
    previewPod("guaranteed", request: "256Mi", limit: "256Mi"),
    previewPod("burstable", request: "100Mi"),
    previewPod("besteffort"),
    previewPod("important", priority: 1000),
    previewPod("static", annotations: [KubeletLabels.configSource: "file"]),
    previewPod("done", phase: "Succeeded"),
]
private let podStats = [
    previewStats("guaranteed", memory: 200 * Mi), previewStats("burstable", memory: 150 * Mi),
    previewStats("besteffort", memory: 300 * Mi), previewStats("important", memory: 900 * Mi),
    previewStats("static", memory: 50 * Mi), previewStats("done", memory: 1 * Mi),
]

@Suite struct EvictionPreviewTests {
    @Test func rankingUnderMemoryPressureWithReasons() throws {
        let config = try EvictionConfig.parse(hard: "memory.available<100Mi")
        let preview = EvictionPreview.compute(config: config, summary: previewSummary(memoryAvailable: 80 * Mi, pods: podStats), pods: pods)
        #expect(preview.acting == "memory.available")
        #expect(preview.rankedFor == "memory.available")
        // Over request first (by priority, then by usage − request), then within request.
        #expect(preview.candidates.map(\.name) == ["besteffort", "burstable", "static", "important", "guaranteed"])
        let first = try #require(preview.candidates.first)
        #expect(first.qosClass == "BestEffort" && first.rank == 1 && first.usage == 300 * Mi && first.request == 0)
        #expect(first.reason == "memory 300Mi exceeds its request of 0; priority 0; usage - request 300Mi")
        #expect(first.message == "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container c was using 300Mi, request is 0, has larger consumption of memory. ")
        let staticPod = try #require(preview.candidates.first { $0.name == "static" })
        #expect(staticPod.critical && staticPod.message == nil)
        #expect(preview.candidates.first { $0.name == "guaranteed" }?.reason.contains("within its request") == true)
        let memory = try #require(preview.signals.first { $0.signal == "memory.available" })
        #expect(memory.available == 80 * Mi && memory.capacity == 8 * Gi && memory.thresholds.map(\.met) == [true])
    }

    @Test func nothingMetStillShowsTheMemoryOrderWithoutMessages() throws {
        let preview = EvictionPreview.compute(config: EvictionConfig(), summary: previewSummary(memoryAvailable: 4 * Gi, pods: podStats), pods: pods)
        #expect(preview.acting == nil)
        #expect(preview.rankedFor == "memory.available")
        #expect(preview.candidates.first?.name == "besteffort")
        // Without a met threshold the message has no threshold sentence.
        #expect(preview.candidates.first?.message?.hasPrefix("The node was low on resource: memory. Container c") == true)
        #expect(preview.signals.flatMap(\.thresholds).allSatisfy { !$0.met })
        #expect(Set(preview.signals.map(\.signal)).isSuperset(of: ["memory.available", "nodefs.available", "pid.available"]))
    }

    @Test func simulatedSignalOverridesTheMeasurement() throws {
        let summary = previewSummary(memoryAvailable: 4 * Gi, pods: podStats)
        let overrides = try EvictionPreview.parseOverrides(["memory.available=50Mi"], observations: summary.observations)
        #expect(overrides == [.memoryAvailable: 50 * Mi])
        let preview = EvictionPreview.compute(config: EvictionConfig(), summary: summary, pods: pods, overrides: overrides)
        #expect(preview.acting == "memory.available")
        let memory = try #require(preview.signals.first { $0.signal == "memory.available" })
        #expect(memory.simulated && memory.available == 50 * Mi && memory.capacity == 8 * Gi)
        let percent = try EvictionPreview.parseOverrides(["nodefs.available=5%"], observations: summary.observations)
        #expect(percent[.nodeFsAvailable] == Int64(Double(100 * Gi) * Double(Float(0.05))))
    }

    static let badOverrides: [(String, String)] = [
        ("memory.available", "expected SIGNAL=VALUE"),
        ("memory.free=1Gi", "unknown signal memory.free"),
        ("memory.available=lots", "memory.available"),
        ("memory.available=150%", "must be <= 100%"),
    ]

    @Test(arguments: badOverrides)
    func badOverridesNameTheEntry(entry: String, fragment: String) {
        #expect {
            _ = try EvictionPreview.parseOverrides([entry], observations: [:])
        } throws: { error in
            "\(error)".contains(fragment) && "\(error)".contains("--simulate")
        }
    }

    /// The preview's first evictable pod is the pod the eviction manager evicts from the same
    /// measurement: both come from one ranking.
    @Test func previewAgreesWithTheManager() async throws {
        let summary = previewSummary(memoryAvailable: 80 * Mi, pods: podStats)
        let config = try EvictionConfig.parse(hard: "memory.available<100Mi")
        let preview = EvictionPreview.compute(config: config, summary: summary, pods: pods)
        let host = FakeEvictionHost(pods.filter { $0.status?.phase == nil })
        let manager = EvictionManager(config: config, stats: FakeStats(summary), host: host)
        let decisions = await manager.synchronize(now: Date(timeIntervalSince1970: 1_000))
        let expected = try #require(preview.candidates.first { !$0.critical })
        #expect(decisions.map(\.podKey) == ["default/\(expected.name)"])
        #expect(decisions.first?.message == expected.message)
    }
}

import Foundation
import KubeAPI
import Kubelet
import Synchronization
import Testing

private let Mi: Int64 = 1 << 20
private let Gi: Int64 = 1 << 30

/// A pod for ranking tables: memory request/limit per container, priority, annotations.
private func pod(_ name: String, uid: String? = nil, request: String? = nil, limit: String? = nil, priority: Int32? = nil,
                 annotations: [String: String]? = nil, grace: Int64? = nil) -> Pod {
    var container = Container(name: "c", image: "busybox")
    if request != nil || limit != nil {
        var requests: ResourceList = [:], limits: ResourceList = [:]
        if let request { requests["memory"] = Quantity(stringLiteral: request); requests["cpu"] = "100m" }
        if let limit { limits["memory"] = Quantity(stringLiteral: limit); limits["cpu"] = "100m" }
        container.resources = ResourceRequirements(requests: requests.isEmpty ? nil : requests, limits: limits.isEmpty ? nil : limits)
    }
    var spec = PodSpec(containers: [container])
    spec.priority = priority
    spec.terminationGracePeriodSeconds = grace
    var meta = ObjectMeta(name: name, namespace: "default", annotations: annotations)
    meta.uid = uid ?? "uid-\(name)"
    return Pod(metadata: meta, spec: spec)
}

private func stats(_ name: String, memory: Int64? = nil, disk: Int64? = nil, processes: Int64? = nil) -> StatsSummary.PodStats {
    StatsSummary.PodStats(podRef: .init(name: name, namespace: "default", uid: "uid-\(name)"),
                          containers: [StatsSummary.ContainerStats(name: "c", memory: memory.map { .init(workingSetBytes: $0) },
                                                                   rootfs: disk.map { .init(usedBytes: $0, inodesUsed: 10) },
                                                                   logs: disk.map { _ in .init(usedBytes: 0, inodesUsed: 1) })],
                          processCount: processes)
}

private func summary(memoryAvailable: Int64, capacity: Int64 = 8 * Gi, fsAvailable: Int64 = 50 * Gi, fsCapacity: Int64 = 100 * Gi,
                     pids: (max: Int64, cur: Int64) = (32768, 200), pods: [StatsSummary.PodStats] = []) -> StatsSummary {
    StatsSummary(node: .init(nodeName: "node1",
                             memory: .init(availableBytes: memoryAvailable, usageBytes: capacity - memoryAvailable, workingSetBytes: capacity - memoryAvailable),
                             fs: .init(availableBytes: fsAvailable, capacityBytes: fsCapacity, inodesFree: 900_000, inodes: 1_000_000),
                             rlimit: .init(maxpid: pids.max, curproc: pids.cur)),
                 pods: pods)
}

/// Stats whose next reading the test sets; node-level reclaim can change them.
final class FakeStats: StatsProvider, Sendable {
    let current: Mutex<StatsSummary>
    init(_ s: StatsSummary) { current = Mutex(s) }
    func set(_ s: StatsSummary) { current.withLock { $0 = s } }
    func summary() async throws(KubeletError) -> StatsSummary { current.withLock { $0 } }
}

/// A kubelet that runs `pods`; an evicted pod leaves the active list, as a killed pod does.
actor FakeEvictionHost: EvictionPodHost {
    var pods: [Pod]
    var evicted: [(key: String, grace: Int64, status: PodStatus)] = []
    var failing: Set<String> = []
    init(_ pods: [Pod]) { self.pods = pods }
    func failEvictions(of key: String) { failing.insert(key) }
    func activePods() async -> [Pod] { pods }
    func evict(_ pod: Pod, gracePeriodSeconds: Int64, status: PodStatus) async throws(KubeletError) {
        if failing.contains(pod.key) { throw KubeletError(.runtime, "kill \(pod.key): injected failure") }
        evicted.append((pod.key, gracePeriodSeconds, status))
        pods.removeAll { $0.metadata.uid == pod.metadata.uid }
    }
}

/// Node-level reclaim that frees disk by rewriting the stats: `freed` bytes per step.
final class FakeReclaimer: NodeLevelReclaimer, Sendable {
    let stats: FakeStats
    let freedPerStep: Int64
    let steps = Mutex<[String]>([])
    init(stats: FakeStats, freedPerStep: Int64) { self.stats = stats; self.freedPerStep = freedPerStep }
    func free(_ step: String) {
        steps.withLock { $0.append(step) }
        var s = stats.current.withLock { $0 }
        s.node.fs?.availableBytes! += freedPerStep
        stats.set(s)
    }
    func deleteAllUnusedContainers() async throws(KubeletError) { free("containers") }
    func deleteAllUnusedImages() async throws(KubeletError) { free("images") }
}

@Suite struct EvictionThresholdParsingTests {
    @Test func defaultsAreUpstreams() throws {
        let text = EvictionConfig.defaultHardThresholds.map(\.description)
        #expect(text == ["memory.available<100Mi", "nodefs.available<10%", "nodefs.inodesFree<5%", "imagefs.available<15%", "imagefs.inodesFree<5%"])
        #expect(EvictionConfig().pressureTransitionPeriod == .seconds(300))
        #expect(EvictionConfig.defaultHardThresholds.allSatisfy { $0.isHard })
    }

    @Test func softThresholdsGracePeriodsAndMinimumReclaim() throws {
        let config = try EvictionConfig.parse(hard: "memory.available<200Mi", soft: "memory.available<1Gi,nodefs.available<20%",
                                              softGracePeriods: "memory.available=1m30s,nodefs.available=2m",
                                              minimumReclaim: "memory.available=100Mi,nodefs.available=5%")
        #expect(config.thresholds.count == 3)
        let soft = config.thresholds.filter { !$0.isHard }
        #expect(soft.map(\.gracePeriod).sorted() == [.seconds(90), .seconds(120)])
        #expect(config.thresholds.filter { $0.signal == .memoryAvailable }.map(\.minReclaim) == [.quantity(100 * Mi, text: "100Mi"), .quantity(100 * Mi, text: "100Mi")])
        #expect(config.thresholds.first { $0.signal == .nodeFsAvailable }?.value.amount(capacity: 100 * Gi) == 21_474_836_800,
                "20% parsed as float32, as upstream: 0.2000000030 × 100Gi")
    }

    @Test(arguments: [
        ("memory.available", nil, "", "invalid eviction threshold \"memory.available\": expected <signal><value>"),
        ("cpu.available<1", nil, "", "unsupported eviction signal cpu.available"),
        ("memory.available<100Mi,memory.available<1Gi", nil, "", "duplicate eviction threshold for signal memory.available"),
        ("memory.available<0", nil, "", "eviction threshold memory.available must be positive: 0"),
        ("nodefs.available<150%", nil, "", "must be <= 100%: 150%"),
        ("memory.available<12Qi", nil, "", "quantity \"12Qi\" must match"),
        ("", "memory.available<1Gi", "", "grace period must be specified for the soft eviction threshold memory.available"),
        ("", "memory.available<1Gi", "memory.available=soon", "invalid eviction grace period specified: soon"),
    ] as [(String, String?, String, String)])
    func badFlagsAreRefusedWithTheReason(hard: String, soft: String?, grace: String, expected: String) {
        #expect {
            _ = try EvictionConfig.parse(hard: hard, soft: soft ?? "", softGracePeriods: grace)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test func zeroAndHundredPercentAreIgnored() throws {
        #expect(try EvictionConfig.parse(hard: "nodefs.available<0%,imagefs.available<100%").thresholds.isEmpty)
    }

    @Test(arguments: [
        (Int64(100 * Mi), "100Mi"), (1536 * 1024, "1536Ki"), (1500, "1500"), (512, "512"), (3 * Gi, "3Gi"), (Gi + 1, "1073741825"),
    ] as [(Int64, String)])
    func binaryQuantitiesPrintAsKubernetesDoes(value: Int64, text: String) {
        #expect(QuantityText.binary(value) == text)
    }

    @Test func decimalQuantities() {
        #expect(QuantityText.decimal(5000) == "5k")
        #expect(QuantityText.decimal(32568) == "32568")
        #expect(QuantityText.decimal(2_000_000) == "2M")
    }
}

@Suite struct EvictionRankingTests {
    /// Memory: pods over their requests first, then by priority, then by usage above requests.
    @Test func memoryRanking() {
        let pods = [
            pod("guaranteed-under", request: "512Mi", limit: "512Mi"),
            pod("besteffort-small"),
            pod("burstable-over", request: "100Mi"),
            pod("besteffort-big"),
            pod("besteffort-high-priority", priority: 1000),
        ]
        let s = [stats("guaranteed-under", memory: 300 * Mi), stats("besteffort-small", memory: 50 * Mi),
                 stats("burstable-over", memory: 400 * Mi), stats("besteffort-big", memory: 200 * Mi),
                 stats("besteffort-high-priority", memory: 900 * Mi)]
        let ranked = EvictionRanking.rank(pods, signal: .memoryAvailable, stats: s).map { $0.pod.metadata.name! }
        #expect(ranked == ["burstable-over", "besteffort-big", "besteffort-small", "besteffort-high-priority", "guaranteed-under"])
    }

    @Test func podsWithoutStatsGoFirst() {
        let ranked = EvictionRanking.rank([pod("measured"), pod("unmeasured")], signal: .memoryAvailable,
                                          stats: [stats("measured", memory: 900 * Mi)])
        #expect(ranked.map { $0.pod.metadata.name! } == ["unmeasured", "measured"])
    }

    @Test func diskRankingUsesEphemeralStorage() {
        let ranked = EvictionRanking.rank([pod("a"), pod("b"), pod("c", priority: -5)], signal: .nodeFsAvailable,
                                          stats: [stats("a", disk: 10 * Mi), stats("b", disk: 30 * Mi), stats("c", disk: Mi)])
        #expect(ranked.map { $0.pod.metadata.name! } == ["c", "b", "a"])
    }

    @Test func pidRankingIsPriorityThenProcesses() {
        let ranked = EvictionRanking.rank([pod("few"), pod("many"), pod("many-important", priority: 10)], signal: .pidAvailable,
                                          stats: [stats("few", processes: 3), stats("many", processes: 300), stats("many-important", processes: 3000)])
        #expect(ranked.map { $0.pod.metadata.name! } == ["many", "few", "many-important"])
    }

    @Test(arguments: [
        ([KubeletLabels.configSource: "file"], nil, true),
        ([KubeletLabels.configSource: "api"], nil, false),
        (["kubernetes.io/config.mirror": "abc"], nil, true),
        (nil, Int32(2_000_000_000), true),
        (nil, Int32(1_999_999_999), false),
    ] as [([String: String]?, Int32?, Bool)])
    func criticalPods(annotations: [String: String]?, priority: Int32?, critical: Bool) {
        #expect(EvictionRanking.isCritical(pod("p", priority: priority, annotations: annotations)) == critical)
    }

    @Test func upstreamMessage() {
        var p = pod("x", request: nil)
        p.spec.containers[0].name = "x"
        let s = StatsSummary.PodStats(podRef: .init(name: "x", namespace: "default", uid: "uid-x"),
                                      containers: [.init(name: "x", memory: .init(workingSetBytes: 200 * Mi))])
        let (message, annotations) = EvictionRanking.message(signal: .memoryAvailable, thresholdAmount: 100 * Mi, available: 90 * Mi, pod: p, stats: s)
        #expect(message == "The node was low on resource: memory. Threshold quantity: 100Mi, available: 90Mi. Container x was using 200Mi, request is 0, has larger consumption of memory. ")
        #expect(annotations == ["offending_containers": "x", "offending_containers_usage": "200Mi", "starved_resource": "memory"])
    }

    @Test func messageLeavesOutContainersWithinRequests() {
        let p = pod("y", request: "256Mi", limit: "256Mi")
        let s = stats("y", memory: 100 * Mi)
        let (message, annotations) = EvictionRanking.message(signal: .memoryAvailable, thresholdAmount: 100 * Mi, available: 10 * Mi, pod: p, stats: s)
        #expect(message == "The node was low on resource: memory. Threshold quantity: 100Mi, available: 10Mi. ")
        #expect(annotations["offending_containers"] == "")
    }
}

@Suite struct EvictionManagerTests {
    let start = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func hardThresholdEvictsTheFirstRankedPodOnePerStep() async throws {
        let pods = [pod("guaranteed", request: "1Gi", limit: "1Gi"), pod("besteffort"), pod("burstable", request: "10Mi")]
        let fake = FakeStats(summary(memoryAvailable: 90 * Mi, pods: [stats("guaranteed", memory: 500 * Mi), stats("besteffort", memory: 200 * Mi),
                                                                    stats("burstable", memory: 20 * Mi)]))
        let host = FakeEvictionHost(pods)
        let manager = EvictionManager(config: EvictionConfig(), stats: fake, host: host)

        let first = await manager.synchronize(now: start)
        #expect(first.map(\.podKey) == ["default/besteffort"])
        #expect(first.first?.gracePeriodSeconds == 1)
        #expect(first.first?.message == "The node was low on resource: memory. Threshold quantity: 100Mi, available: 90Mi. Container c was using 200Mi, request is 0, has larger consumption of memory. ")
        let evicted = await host.evicted
        #expect(evicted.first?.status.phase == "Failed")
        #expect(evicted.first?.status.reason == "Evicted")
        #expect(evicted.first?.status.conditions?.first?.type == "DisruptionTarget")
        #expect(await manager.pressureConditions == [.memoryPressure])

        let second = await manager.synchronize(now: start.addingTimeInterval(10))
        #expect(second.map(\.podKey) == ["default/burstable"])
        let third = await manager.synchronize(now: start.addingTimeInterval(20))
        #expect(third.map(\.podKey) == ["default/guaranteed"], "the last pod goes when pressure remains")
    }

    @Test func criticalPodsAreSkippedAndAFailedKillMovesOn() async {
        let pods = [pod("static", annotations: [KubeletLabels.configSource: "file"]), pod("critical", priority: 2_000_000_000),
                    pod("stuck"), pod("victim")]
        let fake = FakeStats(summary(memoryAvailable: 50 * Mi, pods: [stats("static", memory: 900 * Mi), stats("critical", memory: 800 * Mi),
                                                                    stats("stuck", memory: 700 * Mi), stats("victim", memory: 100 * Mi)]))
        let host = FakeEvictionHost(pods)
        await host.failEvictions(of: "default/stuck")
        let manager = EvictionManager(config: EvictionConfig(), stats: fake, host: host)
        let decisions = await manager.synchronize(now: start)
        #expect(decisions.map(\.podKey) == ["default/victim"])
        let remaining = await manager.synchronize(now: start.addingTimeInterval(10))
        #expect(remaining.isEmpty, "only critical pods and one that cannot be killed are left")
    }

    @Test func softThresholdWaitsForItsGracePeriod() async throws {
        let config = try EvictionConfig.parse(soft: "memory.available<1Gi", softGracePeriods: "memory.available=1m", maxPodGracePeriodSeconds: 20)
        let fake = FakeStats(summary(memoryAvailable: 900 * Mi, pods: [stats("a", memory: 100 * Mi)]))
        let host = FakeEvictionHost([pod("a", grace: 45)])
        let manager = EvictionManager(config: config, stats: fake, host: host)
        #expect(await manager.synchronize(now: start).isEmpty)
        #expect(await manager.pressureConditions == [.memoryPressure], "the condition is set before the grace period ends")
        #expect(await manager.synchronize(now: start.addingTimeInterval(59)).isEmpty)
        let decisions = await manager.synchronize(now: start.addingTimeInterval(60))
        #expect(decisions.map(\.podKey) == ["default/a"])
        #expect(decisions.first?.gracePeriodSeconds == 20, "soft evictions cap the pod's 45 s at --eviction-max-pod-grace-period")
    }

    @Test func softThresholdGraceRestartsWhenPressureClears() async throws {
        let config = try EvictionConfig.parse(soft: "memory.available<1Gi", softGracePeriods: "memory.available=1m")
        let fake = FakeStats(summary(memoryAvailable: 900 * Mi, pods: [stats("a", memory: 100 * Mi)]))
        let manager = EvictionManager(config: config, stats: fake, host: FakeEvictionHost([pod("a")]))
        _ = await manager.synchronize(now: start)
        fake.set(summary(memoryAvailable: 2 * Gi, pods: [stats("a", memory: 100 * Mi)]))
        _ = await manager.synchronize(now: start.addingTimeInterval(30))
        fake.set(summary(memoryAvailable: 900 * Mi, pods: [stats("a", memory: 100 * Mi)]))
        #expect(await manager.synchronize(now: start.addingTimeInterval(70)).isEmpty, "a new episode starts its own grace period")
        #expect(await manager.synchronize(now: start.addingTimeInterval(130)).count == 1)
    }

    @Test func pressureConditionHoldsForTheTransitionPeriod() async {
        let fake = FakeStats(summary(memoryAvailable: 50 * Mi))
        let manager = EvictionManager(config: EvictionConfig(), stats: fake, host: FakeEvictionHost([]))
        _ = await manager.synchronize(now: start)
        fake.set(summary(memoryAvailable: 4 * Gi))
        _ = await manager.synchronize(now: start.addingTimeInterval(299))
        #expect(await manager.pressureConditions == [.memoryPressure])
        _ = await manager.synchronize(now: start.addingTimeInterval(300))
        #expect(await manager.pressureConditions.isEmpty)
    }

    @Test func minimumReclaimKeepsAThresholdMetUntilPastIt() async throws {
        let config = try EvictionConfig.parse(hard: "memory.available<100Mi", minimumReclaim: "memory.available=400Mi")
        let fake = FakeStats(summary(memoryAvailable: 90 * Mi, pods: [stats("a", memory: 300 * Mi), stats("b", memory: 200 * Mi)]))
        let host = FakeEvictionHost([pod("a"), pod("b")])
        let manager = EvictionManager(config: config, stats: fake, host: host)
        #expect(await manager.synchronize(now: start).map(\.podKey) == ["default/a"])
        fake.set(summary(memoryAvailable: 390 * Mi, pods: [stats("b", memory: 200 * Mi)]))
        #expect(await manager.synchronize(now: start.addingTimeInterval(10)).map(\.podKey) == ["default/b"],
                "390Mi is above 100Mi but below 100Mi + 400Mi reclaim")
        fake.set(summary(memoryAvailable: 600 * Mi))
        #expect(await manager.synchronize(now: start.addingTimeInterval(20)).isEmpty)
        #expect(await manager.thresholdsMet.isEmpty)
    }

    @Test func diskPressureReclaimsNodeResourcesBeforeEvicting() async {
        // nodefs.available<10% of 100Gi = 10Gi; 9Gi available.
        let fake = FakeStats(summary(memoryAvailable: 4 * Gi, fsAvailable: 9 * Gi, pods: [stats("a", disk: Gi)]))
        let reclaimer = FakeReclaimer(stats: fake, freedPerStep: 2 * Gi)
        let host = FakeEvictionHost([pod("a")])
        let manager = EvictionManager(config: EvictionConfig(), stats: fake, host: host, reclaimer: reclaimer)
        let decisions = await manager.synchronize(now: start)
        #expect(decisions.map(\.action) == [.reclaimedNodeResources])
        #expect(reclaimer.steps.withLock { $0 } == ["containers"], "freeing dead containers was enough")
        #expect(await host.evicted.isEmpty)
        #expect(await manager.pressureConditions == [.diskPressure])
    }

    @Test func diskPressureEvictsWhenReclaimIsNotEnough() async {
        let fake = FakeStats(summary(memoryAvailable: 4 * Gi, fsAvailable: 5 * Gi, pods: [stats("small", disk: Mi), stats("big", disk: 3 * Gi)]))
        let reclaimer = FakeReclaimer(stats: fake, freedPerStep: Mi)
        let host = FakeEvictionHost([pod("small"), pod("big")])
        let manager = EvictionManager(config: EvictionConfig(), stats: fake, host: host, reclaimer: reclaimer)
        let decisions = await manager.synchronize(now: start)
        #expect(reclaimer.steps.withLock { $0 } == ["containers", "images"])
        #expect(decisions.map(\.podKey) == ["default/big"])
        // 10 % is float32 0.1000000015 of 100Gi, so upstream prints 10737418400, not 10Gi.
        #expect(decisions.first?.message == "The node was low on resource: ephemeral-storage. Threshold quantity: 10737418400, available: 5Gi. Container c was using 3Gi, request is 0, has larger consumption of ephemeral-storage. ")
    }

    @Test func pidPressure() async throws {
        let config = try EvictionConfig.parse(hard: "pid.available<1k")
        let fake = FakeStats(summary(memoryAvailable: 4 * Gi, pids: (32768, 32000), pods: [stats("forky", processes: 500), stats("calm", processes: 2)]))
        let host = FakeEvictionHost([pod("calm"), pod("forky")])
        let manager = EvictionManager(config: config, stats: fake, host: host)
        let decisions = await manager.synchronize(now: start)
        #expect(decisions.map(\.podKey) == ["default/forky"])
        #expect(decisions.first?.message == "The node was low on resource: pids. Threshold quantity: 1k, available: 768. ")
        #expect(await manager.pressureConditions == [.pidPressure])
    }

    @Test func nothingHappensWithoutPressure() async {
        let host = FakeEvictionHost([pod("a")])
        let manager = EvictionManager(config: EvictionConfig(), stats: FakeStats(summary(memoryAvailable: 4 * Gi, pods: [stats("a", memory: Gi)])), host: host)
        #expect(await manager.synchronize(now: start).isEmpty)
        #expect(await manager.pressureConditions.isEmpty)
        #expect(await host.evicted.isEmpty)
    }
}

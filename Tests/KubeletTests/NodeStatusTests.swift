import CRI
import Foundation
import KubeAPI
import KubeClient
import Kubelet
import Testing
import TestSupport

private let gib: Int64 = 1 << 30
private let capacity = NodeCapacity(cpuMilli: 2000, memoryBytes: 24 * gib, ephemeralStorageBytes: 100 * gib)
private let facts = NodeSystemFacts(machineID: "m1", bootID: "b1", kernelVersion: "6.18.44", osImage: "Debian GNU/Linux 12 (bookworm)",
                                    internalIP: "192.0.2.10", hostname: "node1")

@Suite struct NodeStatusBuilderTests {
    @Test func capacityAndAllocatableLessReservationsAndHardEviction() throws {
        let config = NodeStatusConfig(kubeReserved: ["cpu": "100m", "memory": "256Mi"], systemReserved: ["cpu": "200m", "memory": "512Mi", "ephemeral-storage": "1Gi"])
        let status = NodeStatusBuilder.build(capacity: capacity, config: config, facts: facts,
                                             runtime: RuntimeFacts(runtimeVersion: "containerd://1.6.20"), pressure: [], now: Date(), previous: nil)
        #expect(status.capacity?["cpu"]?.milliValue == 2000)
        #expect(status.capacity?["memory"]?.value == 24 * gib)
        #expect(status.capacity?["pods"]?.value == 110)
        #expect(status.allocatable?["cpu"]?.milliValue == 1700)
        // 24Gi − 256Mi − 512Mi − 100Mi (memory.available<100Mi).
        #expect(status.allocatable?["memory"]?.value == 24 * gib - (256 + 512 + 100) << 20)
        // 100Gi − 1Gi − 10 % of 100Gi (nodefs.available<10%, float32 as upstream).
        #expect(status.allocatable?["ephemeral-storage"]?.value == 100 * gib - gib - Int64(Double(100 * gib) * Double(Float(0.1))))
        #expect(status.allocatable?["pods"]?.value == 110)
    }

    @Test func allocatableNeverNegative() {
        let config = NodeStatusConfig(systemReserved: ["memory": "64Gi"])
        #expect(NodeStatusBuilder.allocatable(capacity, config: config)["memory"]?.value == 0)
    }

    @Test func healthyConditionsHaveUpstreamReasons() {
        let conditions = NodeStatusBuilder.conditions(pressure: [], notReadyReasons: [], now: Date(timeIntervalSince1970: 0), previous: nil)
        #expect(conditions.map(\.type) == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"])
        #expect(conditions.map(\.status) == ["False", "False", "False", "True"])
        #expect(conditions.map { $0.reason ?? "" } == ["KubeletHasSufficientMemory", "KubeletHasNoDiskPressure", "KubeletHasSufficientPID", "KubeletReady"])
        #expect(conditions.last?.message == "kubelet is posting ready status")
        #expect(conditions.first?.lastHeartbeatTime == "1970-01-01T00:00:00Z")
    }

    @Test func pressureAndNotReadyAndTransitionTimes() {
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let first = NodeStatusBuilder.conditions(pressure: [], notReadyReasons: [], now: t0, previous: nil)
        let second = NodeStatusBuilder.conditions(pressure: [.memoryPressure], notReadyReasons: ["container runtime network not ready: NetworkReady=false reason:NoCNI message:none"],
                                                  now: t0.addingTimeInterval(10), previous: first)
        let memory = second.first { $0.type == "MemoryPressure" }!
        #expect(memory.status == "True")
        #expect(memory.reason == "KubeletHasInsufficientMemory")
        #expect(memory.lastTransitionTime == "2023-11-14T22:13:30Z")
        let disk = second.first { $0.type == "DiskPressure" }!
        #expect(disk.lastTransitionTime == "2023-11-14T22:13:20Z", "unchanged conditions keep their transition time")
        #expect(disk.lastHeartbeatTime == "2023-11-14T22:13:30Z")
        let ready = second.first { $0.type == "Ready" }!
        #expect(ready.status == "False")
        #expect(ready.reason == "KubeletNotReady")
        #expect(ready.message?.contains("NetworkReady=false") == true)
    }

    @Test func nodeInfoAddressesImagesAndEndpoint() {
        let images = (0..<60).map { ContainerImage(names: ["img\($0)"], sizeBytes: Int64($0)) }
        let status = NodeStatusBuilder.build(capacity: capacity, config: NodeStatusConfig(kubeletPort: 10250), facts: facts,
                                             runtime: RuntimeFacts(runtimeVersion: "containerd://1.6.20", images: images), pressure: [], now: Date(), previous: nil)
        #expect(status.nodeInfo?.containerRuntimeVersion == "containerd://1.6.20")
        #expect(status.nodeInfo?.osImage == "Debian GNU/Linux 12 (bookworm)")
        #expect(status.nodeInfo?.kernelVersion == "6.18.44")
        #expect(status.nodeInfo?.operatingSystem == "linux")
        #expect(status.addresses == [NodeAddress(type: "InternalIP", address: "192.0.2.10"), NodeAddress(type: "Hostname", address: "node1")])
        #expect(status.daemonEndpoints?.kubeletEndpoint?.Port == 10250)
        #expect(status.images?.count == 50)
        #expect(status.images?.first?.names == ["img59"], "largest first")
    }

    @Test(arguments: [
        ("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", "Debian GNU/Linux 12 (bookworm)"),
        ("PRETTY_NAME=Alpine\n", "Alpine"),
        ("ID=x\n", "Linux"),
    ])
    func osImage(text: String, expected: String) {
        #expect(NodeSystemFacts.osImage(fromOSRelease: text) == expected)
    }

    @Test func microTime() {
        #expect(NodeStatusManager.microTime(Date(timeIntervalSince1970: 1_700_000_000.25)) == "2023-11-14T22:13:20.250000Z")
    }
}

@Suite struct NodeStatusManagerTests {
    func manager(_ api: FakeKubeAPI, _ runtime: FakeRuntime, clock: ManualClock, pressure: Set<NodePressureCondition> = []) -> NodeStatusManager {
        NodeStatusManager(nodeName: "node1", client: api, runtime: runtime, config: NodeStatusConfig(), facts: facts,
                          measure: { capacity }, pressure: { pressure }, clock: clock)
    }

    @Test func registersSyncsStatusAndReportsRuntimeAndPressure() async throws {
        let api = FakeKubeAPI()
        let runtime = FakeRuntime(runtimeName: "containerd", runtimeVersion: "1.6.20")
        await runtime.addImage("docker.io/nodekit/busybox:latest", size: 4096)
        let clock = ManualClock()
        let m = manager(api, runtime, clock: clock, pressure: [.diskPressure])
        let node = try await m.registerNode()
        #expect(node.metadata.labels?["kubernetes.io/os"] == "linux")
        try await m.syncNodeStatus()
        let stored = try await api.get(Node.self, namespace: nil, name: "node1")
        #expect(stored.status?.nodeInfo?.containerRuntimeVersion == "containerd://1.6.20")
        #expect(stored.status?.conditions?.first { $0.type == "DiskPressure" }?.status == "True")
        #expect(stored.status?.conditions?.first { $0.type == "Ready" }?.status == "True")
        #expect(stored.status?.images?.first?.names?.contains("docker.io/nodekit/busybox:latest") == true)
        #expect(try await m.registerNode().metadata.uid == node.metadata.uid, "registering again finds the same node")
    }

    @Test func runtimeNetworkNotReadyMakesTheNodeNotReady() async throws {
        let api = FakeKubeAPI()
        let runtime = FakeRuntime()
        await runtime.setNetworkReady(false, reason: "NetworkPluginNotReady", message: "cni config uninitialized")
        let m = manager(api, runtime, clock: ManualClock())
        try await m.registerNode()
        let status = try await m.syncNodeStatus()
        let ready = status.conditions?.first { $0.type == "Ready" }
        #expect(ready?.status == "False")
        #expect(ready?.message?.contains("cni config uninitialized") == true)
    }

    @Test func leaseIsCreatedOwnedByTheNodeThenRenewed() async throws {
        let api = FakeKubeAPI()
        let clock = ManualClock()
        let m = manager(api, FakeRuntime(), clock: clock)
        let node = try await m.registerNode()
        let created = try await m.renewLease()
        #expect(created.metadata.namespace == "kube-node-lease")
        #expect(created.spec?.holderIdentity == "node1")
        #expect(created.spec?.leaseDurationSeconds == 40)
        #expect(created.metadata.ownerReferences?.first?.uid == node.metadata.uid)
        clock.advance(by: .seconds(10))
        let renewed = try await m.renewLease()
        #expect(renewed.spec?.renewTime == "2023-11-14T22:13:30.000000Z")
        #expect(api.objects(Lease.self, namespace: "kube-node-lease").count == 1)
    }
}

import CRI
import Foundation
import KubeAPI
import Kubelet
import TestSupport

extension ManualClock: KubeletClock {}

/// A fake runtime and a manual clock that move together, with the local images tests use.
struct Harness {
    let runtime = FakeRuntime()
    let clock = ManualClock()
    let mounts = FakeMounts()
    let root: String
    let node: NodeInfo

    init() async {
        root = NSTemporaryDirectory() + "nk-kubelet-\(UUID().uuidString.prefix(8))"
        node = NodeInfo(nodeName: "node1", hostIP: "192.0.2.10", rootDirectory: root, podLogsDirectory: root + "/logs",
                        resolvConf: "nameserver 192.0.2.53\nsearch example.test\noptions ndots:2\n")
        await runtime.addImage("docker.io/nodekit/busybox:latest")
        await runtime.addImage("docker.io/nodekit/pause:latest")
    }

    func advance(_ duration: Duration) async {
        clock.advance(by: duration)
        await runtime.advance(by: duration)
    }

    func worker(_ yaml: String) throws -> PodWorker {
        let pod = try StaticPodSource.decode(yaml, path: "/etc/kubernetes/manifests/test.yaml", nodeName: "node1")
        return PodWorker(pod: pod, runtime: runtime, node: node, clock: clock, mounter: mounts)
    }

    /// The runtime's containers of `name`, oldest first.
    func containers(_ name: String) async -> [FakeRuntime.Container] {
        await runtime.containers.values.filter { $0.config.metadata.name == name }.sorted { $0.config.metadata.attempt < $1.config.metadata.attempt }
    }

    func running(_ name: String) async -> FakeRuntime.Container? {
        await containers(name).first { $0.state == .containerRunning }
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

func containerStatus(_ pod: PodStatus, _ name: String) -> ContainerStatus? {
    ((pod.initContainerStatuses ?? []) + (pod.containerStatuses ?? [])).first { $0.name == name }
}

func condition(_ pod: PodStatus, _ type: String) -> String? {
    pod.conditions?.first { $0.type == type }?.status
}

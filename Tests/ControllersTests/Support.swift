import Controllers
import Foundation
import KubeAPI
import KubeClient
import TestSupport

extension ManualClock: ControllerClock {}

/// A fake API and a manual clock that move together.
struct Cluster {
    let clock = ManualClock()
    let api: FakeKubeAPI

    init() {
        let clock = self.clock
        api = FakeKubeAPI(now: { clock.now() })
    }

    /// Plays the kubelet for every pod: binds unbound ones to `node` and marks them Running
    /// and Ready (Ready since the clock's now). Pods being deleted are removed at once.
    func runPods(node: String = "node-1", ready: Bool = true) async throws {
        for pod in api.objects(Pod.self) {
            let ns = pod.metadata.namespace ?? "", name = pod.metadata.name ?? ""
            if pod.metadata.deletionTimestamp != nil {
                try? await api.delete(Pod.self, namespace: ns, name: name, options: DeleteOptions(gracePeriodSeconds: 0))
                continue
            }
            if (pod.spec.nodeName ?? "").isEmpty {
                try await api.create(binding: Binding(podNamespace: ns, podName: name, node: node), options: WriteOptions())
            }
            guard pod.status?.phase != "Running" || PodFacts.isReady(pod) != ready else { continue }
            let status = PodStatus.running(ready: ready, since: clock.now(), ip: "10.0.0.\(name.utf8.reduce(0) { $0 + Int($1) } % 250 + 2)")
            _ = try await api.mergePatch(Pod.self, namespace: ns, name: name, .object(["status": try JSONValue.encode(status)]), subresource: "status")
        }
    }
}

extension PodStatus {
    static func running(ready: Bool, since: Date, ip: String) -> PodStatus {
        var s = PodStatus()
        s.phase = "Running"
        s.podIP = ip
        s.conditions = [PodCondition(type: "Ready", status: ready ? "True" : "False", lastTransitionTime: since.kubeTimestamp)]
        return s
    }
}

func template(_ labels: [String: String], image: String = "nodekit/busybox:1") -> PodTemplateSpec {
    PodTemplateSpec(metadata: ObjectMeta(labels: labels), spec: PodSpec(containers: [Container(name: "c", image: image)]))
}

func makePod(_ name: String, namespace: String = "default", labels: [String: String] = [:], node: String? = nil, phase: String? = nil,
             ready: Bool = false, ip: String? = nil, created: String? = nil, deleting: Bool = false) -> Pod {
    var pod = Pod(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), spec: PodSpec(containers: [Container(name: "c", image: "nodekit/busybox:1")]))
    pod.spec.nodeName = node
    pod.metadata.creationTimestamp = created
    if deleting { pod.metadata.deletionTimestamp = "2023-11-14T22:13:20Z" }
    var status = PodStatus()
    status.phase = phase
    status.podIP = ip
    status.conditions = [PodCondition(type: "Ready", status: ready ? "True" : "False")]
    pod.status = status
    return pod
}

func makeNode(_ name: String, labels: [String: String] = [:], taints: [Taint]? = nil, cpu: String = "4") -> Node {
    Node(metadata: ObjectMeta(name: name, labels: labels.merging(["kubernetes.io/hostname": name]) { a, _ in a }),
         spec: NodeSpec(taints: taints), status: NodeStatus(allocatable: ["cpu": Quantity(stringLiteral: cpu), "memory": "8Gi", "pods": "110"]))
}

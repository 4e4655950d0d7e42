import CRI
import Foundation
import KubeAPI
import KubeClient
import Kubelet
import Testing
import TestSupport

/// The kubelet against a fake API server: pods bound to the node run, statuses go through
/// the status subresource, graceful deletion ends with a delete at grace 0, static pods get
/// mirror pods, ConfigMaps and Secrets feed env and volumes.
@Suite struct APIServerSourceTests {
    /// A pod bound to `node`, from YAML, with `extra` spliced into its container and `volumes`
    /// into its spec.
    static func pod(_ name: String, node: String, container extra: String = "", volumes: String = "") throws -> Pod {
        let yaml = """
            metadata: {name: \(name), namespace: default}
            spec:
              nodeName: \(node)
              \(volumes)
              containers:
              - {name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent\(extra)}
            """
        return try Manifest.decode(Pod.self, from: try #require(Manifest.documents(yaml).first))
    }

    /// Starts the source's list+watch loop and waits (yielding, no sleeps) until `ready` holds.
    static func until(_ what: String, _ ready: () async -> Bool) async -> Bool {
        for _ in 0..<100_000 {
            if await ready() { return true }
            await Task.yield()
        }
        Issue.record("never saw \(what)")
        return false
    }

    @Test func boundPodsRunTheirStatusIsPatchedAndGracefulDeletionDeletesThem() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let api = FakeKubeAPI()
        try api.seed([ConfigMap(metadata: ObjectMeta(name: "settings", namespace: "default"), data: ["mode": "fast"])])
        try api.seed([try Self.pod("web", node: "node1", container: ", env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]"),
                      try Self.pod("elsewhere", node: "node2")])
        let source = APIServerPodSource(client: api, nodeName: "node1")
        let loop = Task { await source.run(retryDelay: .milliseconds(10)) }
        defer { loop.cancel() }
        #expect(await Self.until("the first list") { (try? await source.snapshot()) != nil })

        let kubelet = Kubelet(node: h.node, runtime: h.runtime, sources: [source], clock: h.clock, objects: APIPodObjects(client: api),
                              mounter: h.mounts, statusManager: PodStatusManager(client: api, nodeName: "node1"))
        let added = await kubelet.syncSources().added
        #expect(added.count == 1, "only the pod bound to node1")
        await kubelet.syncAll()
        let running = try #require(await h.running("c"))
        #expect(running.config.envs.first { $0.key == "MODE" }.map { String(decoding: $0.value, as: UTF8.self) } == "fast")
        #expect(await kubelet.syncStatuses() >= 1)
        var stored = try #require(api.objects(Pod.self, namespace: "default").first { $0.metadata.name == "web" })
        #expect(stored.status?.phase == "Running")
        #expect(stored.status?.containerStatuses?.first?.state?.running != nil)
        #expect(stored.status?.conditions?.first { $0.type == "Ready" }?.status == "True")
        // Nothing changed: no second write.
        #expect(await kubelet.syncStatuses() == 0)

        // kubectl delete: the server sets deletionTimestamp (grace 30); the kubelet stops the
        // container, then deletes the pod at grace 0.
        try await api.delete(Pod.self, namespace: "default", name: "web", options: DeleteOptions())
        stored = try #require(api.objects(Pod.self, namespace: "default").first { $0.metadata.name == "web" })
        #expect(stored.metadata.deletionTimestamp != nil)
        #expect(await Self.until("the deletion in the source") {
            (try? await source.snapshot())?.pods.first?.metadata.deletionTimestamp != nil
        })
        await kubelet.syncSources()
        #expect(await h.running("c") == nil)
        #expect(api.objects(Pod.self, namespace: "default").first { $0.metadata.name == "web" } == nil)
        #expect(await Self.until("the DELETED event") { (try? await source.snapshot())?.pods.isEmpty == true })
        #expect(await kubelet.syncSources().removed.count == 1)
        #expect(await h.runtime.containers.isEmpty)
        #expect(await h.runtime.sandboxes.isEmpty)
    }

    /// As upstream: a volume that cannot be set up keeps the pod ContainerCreating (upstream's
    /// FailedMount), with the reason in the pod's message; the pod starts once the Secret exists.
    @Test func aMissingSecretVolumeHoldsThePodUntilTheSecretExists() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let api = FakeKubeAPI()
        try api.seed([try Self.pod("needs", node: "node1", container: ", volumeMounts: [{name: conf, mountPath: /etc/conf}]",
                                   volumes: "volumes: [{name: conf, secret: {secretName: token}}]")])
        let pod = try #require(api.objects(Pod.self, namespace: "default").first)
        let worker = PodWorker(pod: pod, runtime: h.runtime, node: h.node, clock: h.clock, objects: APIPodObjects(client: api), mounter: h.mounts)
        await worker.syncPod()
        let status = await worker.status
        #expect(status.containerStatuses?.first?.state?.waiting?.reason == "ContainerCreating")
        #expect(status.message?.contains("secret \"token\" not found") == true, "\(status.message ?? "")")
        #expect(await worker.lastError?.code == .volume)
        #expect(await h.runtime.sandboxes.isEmpty)

        try api.seed([Secret(metadata: ObjectMeta(name: "token", namespace: "default"), bytes: ["key": Array("s3cret".utf8)])])
        await worker.syncPod()
        let running = try #require(await h.running("c"))
        let mount = try #require(running.config.mounts.first { $0.containerPath == "/etc/conf" })
        #expect(mount.hostPath.hasSuffix("/volumes/kubernetes.io~secret/conf"))
        #expect(h.mounts.mounts[mount.hostPath] != nil, "secret volumes are tmpfs")
        #expect(try String(contentsOfFile: mount.hostPath + "/key", encoding: .utf8) == "s3cret")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: mount.hostPath + "/key") == "..data/key")
    }

    @Test func staticPodsGetMirrorPodsOwnedByTheNodeThatFollowTheManifest() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let api = FakeKubeAPI()
        try api.seed([Node(metadata: ObjectMeta(name: "node1"))])
        let node = try #require(api.objects(Node.self).first)
        let manifests = h.root + "/manifests"
        try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        let manifest = """
            metadata: {name: etcd, labels: {tier: control-plane}}
            spec: {containers: [{name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: IfNotPresent}]}
            """
        try manifest.write(toFile: manifests + "/etcd.yaml", atomically: true, encoding: .utf8)
        let kubelet = Kubelet(node: h.node, runtime: h.runtime, sources: [StaticPodSource(directory: manifests, nodeName: "node1")],
                              clock: h.clock, mounter: h.mounts, statusManager: PodStatusManager(client: api, nodeName: "node1"))
        let uid = try #require(await kubelet.syncSources().added.first)
        await kubelet.syncAll()
        #expect(await kubelet.syncStatuses() >= 2, "a mirror pod and its status")
        let mirror = try #require(api.objects(Pod.self, namespace: "default").first)
        #expect(mirror.metadata.name == "etcd-node1")
        #expect(mirror.metadata.annotations?["kubernetes.io/config.mirror"] == uid)
        #expect(mirror.metadata.ownerReferences == [OwnerReference(apiVersion: "v1", kind: "Node", name: "node1", uid: node.metadata.uid ?? "", controller: true)])
        #expect(mirror.metadata.labels?["tier"] == "control-plane")
        #expect(mirror.status?.phase == "Running")

        // An edited manifest is a new static pod: its mirror pod is replaced.
        try manifest.replacingOccurrences(of: "control-plane", with: "storage").write(toFile: manifests + "/etcd.yaml", atomically: true, encoding: .utf8)
        let changed = await kubelet.syncSources()
        #expect(changed.removed == [uid] && changed.added.count == 1)
        await kubelet.syncAll()
        await kubelet.syncStatuses()
        let mirrors = api.objects(Pod.self, namespace: "default")
        #expect(mirrors.count == 1)
        #expect(mirrors.first?.metadata.annotations?["kubernetes.io/config.mirror"] == changed.added.first)
        #expect(mirrors.first?.metadata.labels?["tier"] == "storage")

        // The manifest goes: so does the mirror pod.
        try FileManager.default.removeItem(atPath: manifests + "/etcd.yaml")
        await kubelet.syncSources()
        await kubelet.syncStatuses()
        #expect(api.objects(Pod.self, namespace: "default").isEmpty)
    }
}

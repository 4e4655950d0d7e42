import Foundation
import KubeAPI
import KubeClient
import Kubelet
import Testing
import TestSupport

/// A running pod's configMap, secret and projected volumes follow their objects, as upstream's
/// kubelet rewrites them on its periodic sync, without restarting the container.
@Suite struct VolumeRefreshTests {
    static func pod() throws -> Pod {
        let yaml = """
            metadata: {name: web, namespace: team, uid: pod-uid-7}
            spec:
              nodeName: node1
              containers:
              - name: c
                image: docker.io/nodekit/busybox:latest
                imagePullPolicy: IfNotPresent
                volumeMounts: [{name: settings, mountPath: /etc/settings}, {name: creds, mountPath: /etc/creds}, {name: both, mountPath: /etc/both}]
              volumes:
              - {name: settings, configMap: {name: settings}}
              - {name: creds, secret: {secretName: creds, defaultMode: 0400}}
              - name: both
                projected:
                  sources:
                  - configMap: {name: settings, items: [{key: mode, path: mode}]}
                  - secret: {name: creds, items: [{key: password, path: password}]}
            """
        return try Manifest.decode(Pod.self, from: try #require(Manifest.documents(yaml).first))
    }

    @Test func changedObjectsAreWrittenAgainAfterTheInterval() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let api = FakeKubeAPI()
        try api.seed([ConfigMap(metadata: ObjectMeta(name: "settings", namespace: "team"), data: ["mode": "fast", "level": "3"])])
        try api.seed([Secret(metadata: ObjectMeta(name: "creds", namespace: "team"), bytes: ["password": Array("one".utf8)])])
        let worker = PodWorker(pod: try Self.pod(), runtime: h.runtime, node: h.node, clock: h.clock,
                               objects: APIPodObjects(client: api, clock: h.clock), mounter: h.mounts)
        await worker.syncPod()
        let failure = await worker.lastError?.description ?? ""
        let running = try #require(await h.running("c"), "\(failure)")
        func path(_ container: String) throws -> String {
            try #require(running.config.mounts.first { $0.containerPath == container }).hostPath
        }
        let settings = try path("/etc/settings"), creds = try path("/etc/creds"), both = try path("/etc/both")
        #expect(try String(contentsOfFile: settings + "/mode", encoding: .utf8) == "fast")
        #expect(try String(contentsOfFile: both + "/password", encoding: .utf8) == "one")
        await worker.syncPod()

        var map = try await api.get(ConfigMap.self, namespace: "team", name: "settings")
        map.data = ["mode": "slow"]
        _ = try await api.update(map, subresource: nil, options: WriteOptions())
        var secret = try await api.get(Secret.self, namespace: "team", name: "creds")
        secret.data = ["password": Data("two".utf8).base64EncodedString()]
        _ = try await api.update(secret, subresource: nil, options: WriteOptions())

        // Before the interval the files stay; after it they follow the objects.
        await h.advance(.seconds(30))
        await worker.syncPod()
        #expect(try String(contentsOfFile: settings + "/mode", encoding: .utf8) == "fast")
        await h.advance(.seconds(31))
        await worker.syncPod()
        #expect(try String(contentsOfFile: settings + "/mode", encoding: .utf8) == "slow")
        #expect(!FileManager.default.fileExists(atPath: settings + "/level"), "a key gone from the ConfigMap is gone from the volume")
        #expect(try String(contentsOfFile: creds + "/password", encoding: .utf8) == "two")
        let mode = try FileManager.default.attributesOfItem(atPath: creds + "/..data/password")[.posixPermissions] as? Int
        #expect(mode == 0o400, "the volume's mode is kept on a rewrite")
        #expect(try String(contentsOfFile: both + "/mode", encoding: .utf8) == "slow")
        #expect(try String(contentsOfFile: both + "/password", encoding: .utf8) == "two")
        #expect(await h.running("c")?.id == running.id, "a refresh does not restart the container")

        // Unchanged objects leave the directory alone (the same ..data target).
        let before = try FileManager.default.destinationOfSymbolicLink(atPath: settings + "/..data")
        await h.advance(.seconds(61))
        await worker.syncPod()
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: settings + "/..data") == before)

        // A required object that goes keeps the previous files (and the step goes on).
        try await api.delete(ConfigMap.self, namespace: "team", name: "settings", options: DeleteOptions())
        await h.advance(.seconds(61))
        await worker.syncPod()
        #expect(try String(contentsOfFile: settings + "/mode", encoding: .utf8) == "slow")
        #expect(await h.running("c")?.id == running.id)
    }
}

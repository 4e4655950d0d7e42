import Foundation
import KubeAPI
import Kubelet
import Testing

@Suite struct StaticPodSourceTests {
    let yaml = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
        spec:
          containers:
          - name: c
            image: busybox
        """

    @Test func appliesStaticPodDefaults() throws {
        let pod = try StaticPodSource.decode(yaml, path: "/m/web.yaml", nodeName: "node1")
        #expect(pod.metadata.name == "web-node1")
        #expect(pod.metadata.namespace == "default")
        #expect(pod.spec.nodeName == "node1")
        let uid = try #require(pod.metadata.uid)
        #expect(uid.count == 32 && uid.allSatisfy(\.isHexDigit))
        #expect(pod.metadata.annotations?["kubernetes.io/config.hash"] == uid)
        #expect(pod.metadata.annotations?["kubernetes.io/config.source"] == "file")
    }

    @Test func uidIsStableAcrossFormattingAndChangesWithContentNodeAndPath() throws {
        let a = try StaticPodSource.decode(yaml, path: "/m/web.yaml", nodeName: "node1").metadata.uid
        let json = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"image":"busybox","name":"c"}]}}"#
        #expect(try StaticPodSource.decode(json, path: "/m/web.yaml", nodeName: "node1").metadata.uid == a)
        #expect(try StaticPodSource.decode(yaml + "\n    command: [sleep, '1']", path: "/m/web.yaml", nodeName: "node1").metadata.uid != a)
        #expect(try StaticPodSource.decode(yaml, path: "/m/web.yaml", nodeName: "node2").metadata.uid != a)
        #expect(try StaticPodSource.decode(yaml, path: "/m/other.yaml", nodeName: "node1").metadata.uid != a)
    }

    @Test(arguments: [
        ("kind: Service\napiVersion: v1\nmetadata: {name: x}\nspec: {}", "is not Pod"),
        ("metadata: {name: x}\nspec: {containers: []}", "has no containers"),
        ("metadata: {namespace: x}\nspec: {containers: [{name: c, image: x}]}", "has no metadata.name"),
        ("metadata: {name: x}\nspec: {containers: [{name: c, image: x}, {name: c, image: y}]}", "two containers named c"),
        ("metadata: {name: x}\n---\nmetadata: {name: y}", "holds 2 documents"),
        ("{not json", "invalid"),
    ])
    func badManifestsFailClearly(text: String, fragment: String) {
        #expect {
            try StaticPodSource.decode(text, path: "/m/bad.yaml", nodeName: "n")
        } throws: { error in
            guard let e = error as? KubeletError else { return false }
            return e.code == .manifest && e.description.contains(fragment) && e.description.contains("/m/bad.yaml")
        }
    }

    @Test func snapshotReadsEveryVisibleFileAndReportsBadOnes() async throws {
        let dir = NSTemporaryDirectory() + "nk-manifests-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try yaml.write(toFile: dir + "/web.yaml", atomically: true, encoding: .utf8)
        try yaml.replacingOccurrences(of: "web", with: "api").write(toFile: dir + "/api.json.yaml", atomically: true, encoding: .utf8)
        try yaml.write(toFile: dir + "/.hidden.yaml", atomically: true, encoding: .utf8)
        try "garbage: [".write(toFile: dir + "/broken.yaml", atomically: true, encoding: .utf8)
        let snapshot = try await StaticPodSource(directory: dir, nodeName: "n").snapshot()
        #expect(snapshot.pods.map { $0.metadata.name ?? "" }.sorted() == ["api-n", "web-n"])
        #expect(snapshot.errors.count == 1)
        #expect(snapshot.errors.first?.description.contains("broken.yaml") == true)
    }

    @Test func missingDirectoryIsAnError() async {
        await #expect(throws: KubeletError.self) {
            try await StaticPodSource(directory: "/nonexistent/nk-manifests", nodeName: "n").snapshot()
        }
    }
}

import Testing
import OCIImage

@Suite struct ImageReferenceTests {
    /// Input as a pod manifest or `--name` would say it, and the full name containerd stores.
    @Test(arguments: [
        ("nodekit/busybox", "docker.io/nodekit/busybox:latest"),
        ("docker.io/nodekit/busybox:latest", "docker.io/nodekit/busybox:latest"),
        ("nodekit/pause:3.9", "docker.io/nodekit/pause:3.9"),
        ("busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("registry.k8s.io/pause:3.6", "registry.k8s.io/pause:3.6"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/team/app:v1.2-rc_3", "localhost:5000/team/app:v1.2-rc_3"),
        ("Example.com/a/b", "Example.com/a/b:latest"),
        // As in the distribution library, an uppercase first component is a registry host.
        ("NodeKit/busybox", "NodeKit/busybox:latest"),
        ("a.b/x__y/z-----w", "a.b/x__y/z-----w:latest"),
        ("nodekit/busybox@sha256:" + String(repeating: "ab", count: 32),
         "docker.io/nodekit/busybox@sha256:" + String(repeating: "ab", count: 32)),
    ])
    func normalizes(_ input: String, _ expected: String) throws {
        #expect(try ImageReference(parsing: input).description == expected)
    }

    @Test func splitsParts() throws {
        let reference = try ImageReference(parsing: "localhost:5000/team/app:v1")
        #expect(reference.domain == "localhost:5000")
        #expect(reference.path == "team/app")
        #expect(reference.tag == "v1")
        #expect(reference.digest == nil)
        #expect(reference.repository == "localhost:5000/team/app")
    }

    /// Each rejected reference and a fragment of the reason the message must give.
    @Test(arguments: [
        ("", "empty"),
        ("nodekit/BusyBox", "lowercase"),
        ("nodekit/busybox:", "tag"),
        ("nodekit/busybox:-x", "tag"),
        ("nodekit/busybox:" + String(repeating: "t", count: 129), "tag"),
        ("nodekit//busybox", "path component"),
        ("nodekit/busybox-", "path component"),
        ("nodekit/bu..sybox", "path component"),
        ("nodekit/bu___sybox", "path component"),
        ("nodekit/busybox@sha256:abc", "digest"),
        ("nodekit/busybox@md5:" + String(repeating: "a", count: 64), "digest"),
        ("-bad.io/x", "domain"),
        ("host:port/x", "domain"),
        (":latest", "missing repository"),
    ])
    func rejects(_ input: String, _ reason: String) {
        let error = #expect(throws: OCIImageError.self) { try ImageReference(parsing: input) }
        #expect(error?.code == .badReference)
        #expect(error?.message.contains(reason) == true, "message: \(error?.message ?? "")")
        #expect(error?.message.contains("\"\(input)\"") == true)
    }
}

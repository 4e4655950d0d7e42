import Foundation
import Testing
@testable import KubeClient

@Suite struct KubeconfigTests {
    static let sample = """
    apiVersion: v1
    kind: Config
    clusters:
    - name: local
      cluster:
        server: https://127.0.0.1:6443
        certificate-authority-data: \(Data("CA-PEM".utf8).base64EncodedString())
    - name: plain
      cluster:
        server: http://localhost:8080/prefix/
        insecure-skip-tls-verify: true
    users:
    - name: admin
      user:
        client-certificate-data: \(Data("CERT".utf8).base64EncodedString())
        client-key-data: \(Data("KEY".utf8).base64EncodedString())
    - name: bot
      user:
        token: abc.def
    contexts:
    - name: admin@local
      context:
        cluster: local
        user: admin
    - name: bot@plain
      context:
        cluster: plain
        user: bot
        namespace: kube-system
    current-context: admin@local
    preferences: {}
    """

    @Test func currentContextResolvesClusterAndClientCertificate() throws {
        let config = try Kubeconfig.parse(Self.sample).resolve()
        #expect(config.server == ServerAddress(tls: true, host: "127.0.0.1", port: 6443))
        #expect(config.tls.caPEM == Array("CA-PEM".utf8))
        #expect(config.tls.clientCertificatePEM == Array("CERT".utf8))
        #expect(config.tls.clientKeyPEM == Array("KEY".utf8))
        #expect(config.token == nil)
        #expect(config.namespace == "default")
    }

    @Test func namedContextWithTokenNamespaceAndPathPrefix() throws {
        let config = try Kubeconfig.parse(Self.sample).resolve(context: "bot@plain")
        #expect(config.server == ServerAddress(tls: false, host: "localhost", port: 8080, basePath: "/prefix"))
        #expect(config.server.authority == "localhost:8080")
        #expect(config.token == "abc.def")
        #expect(config.tls.insecureSkipVerify)
        #expect(config.namespace == "kube-system")
    }

    @Test func fileReferencesResolveAgainstTheKubeconfigDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/pki", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "ca-from-file".write(toFile: dir + "/pki/ca.crt", atomically: true, encoding: .utf8)
        try " tok-from-file\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        try """
        clusters:
        - name: c
          cluster: {server: "https://[::1]:7443", certificate-authority: pki/ca.crt}
        users:
        - name: u
          user: {tokenFile: token}
        contexts:
        - name: x
          context: {cluster: c, user: u}
        """.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
        let config = try Kubeconfig.load(path: dir + "/config")
        #expect(config.server.host == "::1")
        #expect(config.server.port == 7443)
        #expect(config.server.authority == "[::1]:7443")
        #expect(config.tls.caPEM == Array("ca-from-file".utf8))
        #expect(config.token == "tok-from-file")
    }

    @Test(arguments: [
        ("contexts: []\nclusters: []", "no current-context"),
        ("current-context: a\ncontexts: []", "context \"a\" not found"),
        ("current-context: a\ncontexts: [{name: a, context: {cluster: c}}]", "cluster \"c\" of context \"a\" not found"),
        ("current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://h'}}]", "user \"u\" of context \"a\" not found"),
        ("current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'ftp://h'}}]", "not an http(s) URL"),
        ("current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: '%%%'}}]", "not valid base64"),
        ("current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://h', certificate-authority: /nonexistent/ca}}]", "cannot read certificate-authority file /nonexistent/ca"),
        ("current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {client-certificate-data: Q0VSVA==}}]", "must be given together"),
        ("clusters: {not: a list}", "invalid kubeconfig"),
    ])
    func badConfigsNameTheProblem(yaml: String, expected: String) {
        do {
            _ = try Kubeconfig.parse(yaml).resolve()
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: KubeconfigError.self) { try Kubeconfig.load(path: "/nonexistent/kubeconfig") }
    }

    @Test func renderedSingleConfigRoundTrips() throws {
        let written = Kubeconfig.single(server: "https://10.0.0.1:6443", caPEM: Array("CA".utf8), token: "t0k")
        let text = try written.render()
        #expect(text.contains("current-context: nodekit"))
        #expect(text.contains("certificate-authority-data: "))
        let reread = try Kubeconfig.parse(text)
        #expect(reread == written)
        let resolved = try reread.resolve()
        #expect(resolved.token == "t0k")
        #expect(resolved.tls.caPEM == Array("CA".utf8))
        #expect(resolved.server.port == 6443)
    }
}

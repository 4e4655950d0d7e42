import APIServer
import EtcdStore
import Foundation
import Store
import TestSupport
import Testing

/// kubectl and the Python client, unchanged, against an in-process API server over HTTPS with
/// the generated kubeconfig; and the same server over etcd to show the store is pluggable.
@Suite(.serialized) struct APIServerKubectlTests {
    /// A server on `store` in a fresh data directory; returns it with its kubeconfig path.
    static func withServer(store: any Store, _ body: (String) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "nk-apiserver-kubectl-\(Host.runSuffix)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = APIServerConfiguration(dataDirectory: directory)
        configuration.bindAddress = "127.0.0.1"
        configuration.securePort = 0
        let server = try APIServer(store: store, configuration: configuration)
        try await server.bootstrap()
        let (ports, continuation) = AsyncStream<APIServerEndpoints>.makeStream()
        let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        _ = await iterator.next()
        try await body(configuration.kubeconfigPath)
        serving.cancel()
        _ = try? await serving.value
    }

    static func kubectl(_ kubeconfig: String, _ args: [String], input: String? = nil) async throws -> CommandResult {
        try await runOffPool("kubectl", ["--kubeconfig", kubeconfig] + args, input: input.map { Data($0.utf8) }, environment: ["HOME": NSTemporaryDirectory()])
    }

    static let deployment = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: web
            image: busybox:1.36
    """

    @Test(.enabled(if: Host.which("kubectl") != nil, "kubectl is not installed; the kubectl scenario is skipped"))
    func kubectlScenario() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        // A known issue until protobuf request bodies are decoded; the calls run, so each step that
        // works is exercised, and the server must not crash or hang on any of them.
        try await withKnownIssue("kubectl create and apply send application/vnd.kubernetes.protobuf bodies; the API server decodes JSON and YAML only so far (issue 6)", isIntermittent: true) {
        try await Self.withServer(store: store) { kc in
            func ok(_ args: [String], input: String? = nil) async throws -> String {
                let r = try await Self.kubectl(kc, args, input: input)
                #expect(r.status == 0, "kubectl \(args.joined(separator: " ")): \(r.stderr)")
                return r.stdout
            }
            #expect(try await ok(["version", "-o", "json"]).contains("v1.32.0-nodekit"))
            #expect(try await ok(["get", "namespaces"]).contains("kube-system"))
            #expect(try await ok(["create", "namespace", "demo"]).contains("namespace/demo created"))
            #expect(try await ok(["-n", "demo", "create", "configmap", "cfg", "--from-literal=a=1"]).contains("configmap/cfg created"))
            #expect(try await ok(["-n", "demo", "create", "secret", "generic", "sec", "--from-literal=p=s3cret"]).contains("secret/sec created"))
            #expect(try await ok(["-n", "demo", "get", "secret", "sec", "-o", "jsonpath={.data.p}"]) == Data("s3cret".utf8).base64EncodedString())
            #expect(try await ok(["-n", "demo", "apply", "-f", "-"], input: Self.deployment).contains("deployment.apps/web created"))
            let table = try await ok(["-n", "demo", "get", "deployments"])
            #expect(table.contains("NAME") && table.contains("READY") && table.contains("UP-TO-DATE") && table.contains("web"))
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "wide"]).contains("busybox:1.36"))
            // Re-apply a change: the client-side three-way patch lands.
            let changed = Self.deployment.replacingOccurrences(of: "replicas: 2", with: "replicas: 3")
            #expect(try await ok(["-n", "demo", "apply", "-f", "-"], input: changed).contains("deployment.apps/web configured"))
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]) == "3")
            #expect(try await ok(["-n", "demo", "scale", "deployment", "web", "--replicas=5"]).contains("scaled"))
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "json"]).contains("\"replicas\": 5"))
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "yaml"]).contains("generation:"))
            _ = try await ok(["-n", "demo", "label", "configmap", "cfg", "tier=front"])
            _ = try await ok(["-n", "demo", "annotate", "configmap", "cfg", "note=hello"])
            #expect(try await ok(["-n", "demo", "get", "configmap", "-l", "tier=front", "-o", "name"]).contains("configmap/cfg"))
            _ = try await ok(["-n", "demo", "patch", "configmap", "cfg", "--type=merge", "-p", #"{"data":{"b":"2"}}"#])
            _ = try await ok(["-n", "demo", "patch", "configmap", "cfg", "--type=json", "-p", #"[{"op":"add","path":"/data/c","value":"3"}]"#])
            _ = try await ok(["-n", "demo", "patch", "deployment", "web", "-p", #"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}}"#])
            #expect(try await ok(["-n", "demo", "get", "configmap", "cfg", "-o", "jsonpath={.data}"]).contains("\"c\":\"3\""))
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}"]) == "busybox:1.37")
            #expect(try await ok(["-n", "demo", "delete", "configmap", "cfg", "--wait"]).contains("deleted"))
            let missing = try await Self.kubectl(kc, ["-n", "demo", "get", "configmap", "cfg"])
            #expect(missing.status != 0 && missing.stderr.contains("NotFound"))
            #expect(try await ok(["api-resources"]).contains("deployments"))
        }
        }
    }

    @Test(.enabled(if: Host.which("python3") != nil && (try? run("python3", ["-c", "import kubernetes"]).status) == 0,
                   "the Python kubernetes client is not installed (pip install kubernetes); the Python scenario is skipped"))
    func pythonClientScenario() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        try await Self.withServer(store: store) { kc in
            let script = """
            import sys, threading
            from kubernetes import client, config, watch
            config.load_kube_config(config_file=sys.argv[1])
            v1 = client.CoreV1Api()
            cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py"), data={"a": "1"})
            created = v1.create_namespaced_config_map("default", cm)
            rv = created.metadata.resource_version
            got = v1.read_namespaced_config_map("py", "default")
            assert got.data == {"a": "1"}, got.data
            got.data["a"] = "2"
            v1.replace_namespaced_config_map("py", "default", got)
            v1.patch_namespaced_config_map("py", "default", {"metadata": {"labels": {"x": "y"}}})
            names = [i.metadata.name for i in v1.list_namespaced_config_map("default", label_selector="x=y").items]
            assert names == ["py"], names
            v1.delete_namespaced_config_map("py", "default")
            seen = []
            for event in watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2):
                seen.append(event["type"] + ":" + event["object"].metadata.name)
            assert seen == ["MODIFIED:py", "MODIFIED:py", "DELETED:py"], seen
            print("ok", len(seen))
            """
            let r = try await runOffPool("python3", ["-c", script, kc])
            #expect(r.status == 0, "python: \(r.stderr)")
            #expect(r.stdout.contains("ok 3"))
        }
    }

    @Test(.enabled(if: EtcdCluster.binary != nil && Host.which("kubectl") != nil, "needs etcd and kubectl"))
    func kubectlOverEtcd() async throws {
        let base = NSTemporaryDirectory() + "nk-apiserver-etcd-\(Host.runSuffix)"
        let cluster = try EtcdCluster.start(members: 1, baseDirectory: base)
        defer { cluster.stop() }
        try cluster.waitHealthy(timeout: 20)
        let store = try openStore(cluster.storeURL)
        defer { Task { await store.close() } }
        try await withKnownIssue("kubectl create and apply send application/vnd.kubernetes.protobuf bodies; the API server decodes JSON and YAML only so far (issue 6)", isIntermittent: true) {
        try await Self.withServer(store: store) { kc in
            let created = try await Self.kubectl(kc, ["create", "configmap", "on-etcd", "--from-literal=k=v"])
            #expect(created.status == 0, "\(created.stderr)")
            let got = try await Self.kubectl(kc, ["get", "configmap", "on-etcd", "-o", "jsonpath={.data.k}"])
            #expect(got.stdout == "v")
        }
        // The object is in etcd under the server's key layout.
        let kv = try await store.get("/registry/core/configmaps/default/on-etcd")
        #expect(kv != nil)
        }
    }
}

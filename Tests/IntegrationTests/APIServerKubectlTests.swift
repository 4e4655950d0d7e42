import APIServer
import EtcdStore
import Foundation
import Store
import TestSupport
import Testing

/// kubectl, unchanged, against an in-process API server over HTTPS with the generated kubeconfig;
/// and the same server over etcd to show the store is pluggable.
@Suite(.serialized) struct APIServerKubectlTests {
    /// A server on `store` in a fresh data directory; `body` gets its kubeconfig path.
    static func withServer(store: any Store, _ body: (String) async throws -> Void) async throws {
        try await withServer(store: store) { kubeconfig, _ in try await body(kubeconfig) }
    }

    /// A server on `store` in a fresh data directory, also on plain HTTP on loopback (as the
    /// admin); `body` gets its kubeconfig path and that plain-HTTP base URL.
    static func withServer(store: any Store, _ body: (String, String) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "nk-apiserver-kubectl-\(Host.runSuffix)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = APIServerConfiguration(dataDirectory: directory)
        configuration.bindAddress = "127.0.0.1"
        configuration.securePort = 0
        configuration.insecurePort = 0
        let server = try APIServer(store: store, configuration: configuration)
        try await server.bootstrap()
        let (ports, continuation) = AsyncStream<APIServerEndpoints>.makeStream()
        let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        let endpoints = await iterator.next()
        let plainPort = try #require(endpoints?.insecurePort, "the server reported no plain-HTTP port")
        try await body(configuration.kubeconfigPath, "http://127.0.0.1:\(plainPort)")
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

    /// Parses kubectl's `-o json` output; nil when it is not a JSON object.
    static func object(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// kubectl 1.32 (picked by the dispatcher from the server's version) end to end: its typed
    /// clients send protobuf bodies (create namespace, configmap, secret, deployment, service,
    /// job), its apply, patch, scale, describe, explain and watch paths send and read JSON.
    @Test(.enabled(if: Host.which("kubectl") != nil, "kubectl is not installed; the kubectl scenario is skipped"))
    func kubectlScenario() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        try await Self.withServer(store: store) { kc, plainURL in
            func ok(_ args: [String], input: String? = nil) async throws -> String {
                let r = try await Self.kubectl(kc, args, input: input)
                #expect(r.status == 0, "kubectl \(args.joined(separator: " ")): \(r.stderr)")
                return r.stdout
            }
            func fails(_ args: [String], input: String? = nil) async throws -> String {
                let r = try await Self.kubectl(kc, args, input: input)
                #expect(r.status != 0, "kubectl \(args.joined(separator: " ")) should fail: \(r.stdout)")
                return r.stderr
            }
            #expect(try await ok(["version", "-o", "json"]).contains("v1.32.0-nodekit"))
            #expect(try await ok(["get", "namespaces"]).contains("kube-system"))
            #expect(try await ok(["api-resources"]).contains("deployments"))

            // Typed clients: protobuf request bodies.
            #expect(try await ok(["create", "namespace", "demo"]).contains("namespace/demo created"))
            #expect(try await ok(["-n", "demo", "create", "configmap", "cfg", "--from-literal=a=1"]).contains("configmap/cfg created"))
            #expect(try await ok(["-n", "demo", "create", "secret", "generic", "sec", "--from-literal=p=s3cret"]).contains("secret/sec created"))
            #expect(try await ok(["-n", "demo", "get", "secret", "sec", "-o", "jsonpath={.data.p}"]) == Data("s3cret".utf8).base64EncodedString())
            let cfg = Self.object(try await ok(["-n", "demo", "get", "configmap", "cfg", "-o", "json"]))
            #expect((cfg?["data"] as? [String: String]) == ["a": "1"])
            #expect(((cfg?["metadata"] as? [String: Any])?["namespace"] as? String) == "demo")
            // A pointer field's zero survives protobuf (replicas: 0), and a nested pod template lands.
            _ = try await ok(["-n", "demo", "create", "deployment", "idle", "--image=busybox:1.36", "--replicas=0"])
            #expect(try await ok(["-n", "demo", "get", "deploy", "idle", "-o", "jsonpath={.spec.replicas}|{.spec.template.spec.containers[0].image}"]) == "0|busybox:1.36")
            // IntOrString targetPort and ClusterIP allocation through a protobuf create.
            _ = try await ok(["-n", "demo", "create", "service", "clusterip", "svc", "--tcp=80:8080"])
            let service = try await ok(["-n", "demo", "get", "service", "svc", "-o", "jsonpath={.spec.ports[0].targetPort}|{.spec.clusterIP}"])
            #expect(service.hasPrefix("8080|10."))

            // A client that accepts only protobuf gets the object (and errors) framed as protobuf;
            // one that also accepts JSON gets JSON.
            let body = NSTemporaryDirectory() + "nk-apiproto-body-\(Host.runSuffix)"
            defer { try? FileManager.default.removeItem(atPath: body) }
            func curl(_ path: String, accept: String) async throws -> (contentType: String, body: Data) {
                let r = try await runOffPool("curl", ["-s", "-o", body, "-w", "%{content_type}", "-H", "Accept: \(accept)", plainURL + path])
                #expect(r.status == 0, "curl \(path): \(r.stderr)")
                return (r.stdout, (try? Data(contentsOf: URL(fileURLWithPath: body))) ?? Data())
            }
            if Host.which("curl") != nil {
                let framed = try await curl("/api/v1/namespaces/demo/configmaps/cfg", accept: "application/vnd.kubernetes.protobuf")
                #expect(framed.contentType == "application/vnd.kubernetes.protobuf")
                #expect(Array(framed.body.prefix(4)) == [0x6b, 0x38, 0x73, 0x00])
                #expect(framed.body.range(of: Data("ConfigMap".utf8)) != nil && framed.body.range(of: Data("cfg".utf8)) != nil)
                let missing = try await curl("/api/v1/namespaces/demo/configmaps/none", accept: "application/vnd.kubernetes.protobuf")
                #expect(missing.contentType == "application/vnd.kubernetes.protobuf" && missing.body.range(of: Data("NotFound".utf8)) != nil)
                let either = try await curl("/api/v1/namespaces/demo/configmaps/cfg", accept: "application/vnd.kubernetes.protobuf, application/json")
                #expect(either.contentType == "application/json" && (Self.object(String(decoding: either.body, as: UTF8.self))?["kind"] as? String) == "ConfigMap")
            }

            // Client-side apply, tables and output formats.
            #expect(try await ok(["-n", "demo", "apply", "-f", "-"], input: Self.deployment).contains("deployment.apps/web created"))
            let table = try await ok(["-n", "demo", "get", "deployments"])
            #expect(table.contains("NAME") && table.contains("READY") && table.contains("UP-TO-DATE") && table.contains("web"))
            let wide = try await ok(["-n", "demo", "get", "deploy", "web", "-o", "wide"])
            #expect(wide.contains("busybox:1.36") && wide.contains("app=web"))
            let changed = Self.deployment.replacingOccurrences(of: "replicas: 2", with: "replicas: 3")
            #expect(try await ok(["-n", "demo", "apply", "-f", "-"], input: changed).contains("deployment.apps/web configured"))
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]) == "3")
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "yaml"]).contains("kubectl.kubernetes.io/last-applied-configuration"))

            // Server-side apply, then a re-apply that changes and adds a key.
            let ssa = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {x: \"1\"}\n"
            #expect(try await ok(["-n", "demo", "apply", "--server-side", "-f", "-"], input: ssa).contains("configmap/ssa serverside-applied"))
            let reapplied = ssa.replacingOccurrences(of: "{x: \"1\"}", with: "{x: \"2\", z: \"3\"}")
            #expect(try await ok(["-n", "demo", "apply", "--server-side", "-f", "-"], input: reapplied).contains("serverside-applied"))
            let applied = Self.object(try await ok(["-n", "demo", "get", "configmap", "ssa", "-o", "json", "--show-managed-fields"]))
            #expect((applied?["data"] as? [String: String]) == ["x": "2", "z": "3"])
            let managers = ((applied?["metadata"] as? [String: Any])?["managedFields"] as? [[String: Any]]) ?? []
            #expect(managers.contains { $0["manager"] as? String == "kubectl" && $0["operation"] as? String == "Apply" })

            // Scale, label, annotate, the three patch types.
            #expect(try await ok(["-n", "demo", "scale", "deployment", "web", "--replicas=5"]).contains("scaled"))
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "json"]).contains("\"replicas\": 5"))
            _ = try await ok(["-n", "demo", "label", "configmap", "cfg", "tier=front"])
            _ = try await ok(["-n", "demo", "annotate", "configmap", "cfg", "note=hello"])
            #expect(try await ok(["-n", "demo", "get", "configmap", "-l", "tier=front", "-o", "name"]) == "configmap/cfg\n")
            #expect(try await ok(["-n", "demo", "get", "configmap", "cfg", "-o", "jsonpath={.metadata.annotations.note}"]) == "hello")
            _ = try await ok(["-n", "demo", "patch", "configmap", "cfg", "--type=merge", "-p", #"{"data":{"b":"2"}}"#])
            _ = try await ok(["-n", "demo", "patch", "configmap", "cfg", "--type=json", "-p", #"[{"op":"add","path":"/data/c","value":"3"}]"#])
            _ = try await ok(["-n", "demo", "patch", "deployment", "web", "-p", #"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}}"#])
            #expect(try await ok(["-n", "demo", "get", "configmap", "cfg", "-o", "jsonpath={.data}"]) == #"{"a":"1","b":"2","c":"3"}"#)
            #expect(try await ok(["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}"]) == "busybox:1.37")

            // describe shows the object's events (found by involvedObject field selectors).
            let uid = try await ok(["-n", "demo", "get", "deploy", "web", "-o", "jsonpath={.metadata.uid}"])
            let event = """
            apiVersion: v1
            kind: Event
            metadata: {name: web.scaled}
            involvedObject: {apiVersion: apps/v1, kind: Deployment, name: web, namespace: demo, uid: "\(uid)"}
            reason: ScalingReplicaSet
            message: Scaled up replica set web-1 to 5
            type: Normal
            source: {component: deployment-controller}
            firstTimestamp: "2026-01-01T00:00:00Z"
            lastTimestamp: "2026-01-01T00:00:00Z"
            count: 1
            """
            _ = try await ok(["-n", "demo", "create", "-f", "-"], input: event)
            let described = try await ok(["-n", "demo", "describe", "deployment", "web"])
            #expect(described.contains("Replicas:") && described.contains("5 desired"))
            #expect(described.contains("ScalingReplicaSet") && described.contains("Scaled up replica set web-1 to 5"))
            let explained = try await ok(["explain", "deployment.spec.replicas"])
            #expect(explained.contains("KIND:       Deployment") && explained.contains("replicas") && explained.contains("<integer>"))

            // get -w: the watch ends with its request timeout; a configmap created while it runs
            // shows up either in its initial list or as an event.
            async let watched = Self.kubectl(kc, ["-n", "demo", "get", "configmap", "-w", "--request-timeout=3s"])
            _ = try await ok(["-n", "demo", "create", "configmap", "during-watch", "--from-literal=w=1"])
            let watch = try await watched
            #expect(watch.status == 0, "\(watch.stderr)")
            #expect(watch.stdout.hasPrefix("NAME") && watch.stdout.contains("during-watch") && watch.stdout.contains("ssa"))

            // delete --wait returns once the object is gone.
            #expect(try await ok(["-n", "demo", "delete", "configmap", "cfg", "--wait"]).contains("configmap \"cfg\" deleted"))
            #expect(try await fails(["-n", "demo", "get", "configmap", "cfg"]).contains("NotFound"))

            // Bad input: strict validation names the unknown field; an invalid name is 422 Invalid.
            let unknownField = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict}\nbogus: 1\n"
            #expect(try await fails(["-n", "demo", "apply", "--validate=strict", "-f", "-"], input: unknownField).contains("unknown field \"bogus\""))
            let invalid = try await Self.kubectl(kc, ["-n", "demo", "create", "configmap", "Bad_Name", "--from-literal=a=1", "-v=6"])
            #expect(invalid.status != 0)
            #expect(invalid.stderr.contains("422") && invalid.stderr.contains("metadata.name: Invalid value: \"Bad_Name\""), "\(invalid.stderr)")
            #expect(try await fails(["-n", "demo", "get", "configmap", "strict"]).contains("NotFound"))
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
        try await Self.withServer(store: store) { (kc: String) in
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

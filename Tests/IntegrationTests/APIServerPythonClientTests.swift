import APIServer
import Foundation
import Store
import TestSupport
import Testing

/// The Python `kubernetes` client from PyPI, unchanged, against an in-process API server over
/// HTTPS with the generated kubeconfig: CRUD of a namespace, configmaps and a deployment, a
/// label-selected list and a watch. Python runs off the cooperative pool (the server needs it).
@Suite(.serialized) struct APIServerPythonClientTests {
    static let clientAvailable = Host.which("python3") != nil && (try? run("python3", ["-c", "import kubernetes"]).status) == 0

    /// Runs `body` with the kubeconfig of a fresh server on an in-memory store; stops it after.
    static func withServer(_ body: (String) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "nk-apiserver-python-\(Host.runSuffix)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = LocalStore.inMemory()
        var configuration = APIServerConfiguration(dataDirectory: directory)
        configuration.bindAddress = "127.0.0.1"
        configuration.securePort = 0
        let server = try APIServer(store: store, configuration: configuration)
        try await server.bootstrap()
        let (ports, continuation) = AsyncStream<APIServerEndpoints>.makeStream()
        let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        _ = await iterator.next()
        do {
            try await body(configuration.kubeconfigPath)
        } catch {
            serving.cancel()
            _ = try? await serving.value
            await store.close()
            throw error
        }
        serving.cancel()
        _ = try? await serving.value
        await store.close()
    }

    /// Each step asserts what the server answered; the last line is a JSON summary the Swift
    /// side checks again.
    static let script = #"""
    import json, sys
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException

    config.load_kube_config(config_file=sys.argv[1])
    ns = sys.argv[2]
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    summary = {}

    # Namespace: create, read, update, patch, list by label, delete.
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels={"suite": "python"})))
    got = core.read_namespace(ns)
    assert got.metadata.labels == {"suite": "python", "kubernetes.io/metadata.name": ns}, got.metadata.labels
    got.metadata.labels["step"] = "replaced"
    core.replace_namespace(ns, got)
    core.patch_namespace(ns, {"metadata": {"labels": {"patched": "yes"}}})
    listed = [n.metadata.name for n in core.list_namespace(label_selector="suite=python,patched=yes,step=replaced,kubernetes.io/metadata.name in (" + ns + ",other)").items]
    assert listed == [ns], listed

    # ConfigMaps: CRUD, recorded from a resourceVersion so the watch below sees every change.
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="web", labels={"tier": "web"}), data={"a": "1"}))
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="db", labels={"tier": "db"}), data={"b": "2"}))
    cm = core.read_namespaced_config_map("web", ns)
    assert cm.data == {"a": "1"}, cm.data
    cm.data["a"] = "2"
    replaced = core.replace_namespaced_config_map("web", ns, cm)
    assert replaced.data == {"a": "2"}, replaced.data
    patched = core.patch_namespaced_config_map("web", ns, {"data": {"c": "3"}})
    assert patched.data == {"a": "2", "c": "3"}, patched.data
    webs = [c.metadata.name for c in core.list_namespaced_config_map(ns, label_selector="tier=web").items]
    assert webs == ["web"], webs
    notweb = sorted(c.metadata.name for c in core.list_namespaced_config_map(ns, label_selector="tier!=web").items)
    assert "db" in notweb and "web" not in notweb, notweb
    core.delete_namespaced_config_map("web", ns)
    try:
        core.read_namespaced_config_map("web", ns)
        raise AssertionError("read after delete succeeded")
    except ApiException as e:
        assert e.status == 404, e.status

    events = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=10):
        events.append(event["type"] + ":" + event["object"].metadata.name)
        if event["type"] == "DELETED":
            w.stop()
    summary["watch"] = events

    # Deployment: create, read, update, patch, list by label, delete; managedFields name the client.
    labels = {"app": "py"}
    container = client.V1Container(name="c", image="busybox:1.36")
    template = client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(containers=[container]))
    spec = client.V1DeploymentSpec(replicas=1, selector=client.V1LabelSelector(match_labels=labels), template=template)
    created = apps.create_namespaced_deployment(ns, client.V1Deployment(metadata=client.V1ObjectMeta(name="py", labels=labels), spec=spec))
    assert created.metadata.generation == 1, created.metadata.generation
    assert created.spec.strategy.type == "RollingUpdate", created.spec.strategy
    summary["managers"] = sorted({(m.manager, m.operation) for m in created.metadata.managed_fields})
    d = apps.read_namespaced_deployment("py", ns)
    d.spec.replicas = 2
    d = apps.replace_namespaced_deployment("py", ns, d)
    assert d.spec.replicas == 2 and d.metadata.generation == 2, (d.spec.replicas, d.metadata.generation)
    d = apps.patch_namespaced_deployment("py", ns, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}})
    assert d.spec.template.spec.containers[0].image == "busybox:1.37", d.spec.template.spec.containers
    assert d.metadata.generation == 3, d.metadata.generation
    scale = apps.read_namespaced_deployment_scale("py", ns)
    assert scale.spec.replicas == 2, scale.spec
    deps = [x.metadata.name for x in apps.list_namespaced_deployment(ns, label_selector="app in (py,other)").items]
    assert deps == ["py"], deps
    apps.delete_namespaced_deployment("py", ns)
    assert apps.list_namespaced_deployment(ns).items == [], "deployment still listed"

    # Deleting a namespace starts its termination (the namespace controller finishes it).
    core.delete_namespace(ns)
    summary["phase"] = core.read_namespace(ns).status.phase
    print(json.dumps(summary))
    """#

    @Test(.enabled(if: clientAvailable, "the Python kubernetes client is not importable (hack/setup.sh installs it with pip); the Python client scenario is skipped"))
    func crudListAndWatch() async throws {
        try await Self.withServer { kubeconfig in
            let namespace = "py-\(Host.runSuffix)".lowercased()
            let result = try await runOffPool("python3", ["-c", Self.script, kubeconfig, namespace])
            #expect(result.status == 0, "python failed: \(result.stderr)")
            let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
            let summary = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(summary?["watch"] as? [String] == ["ADDED:web", "ADDED:db", "MODIFIED:web", "MODIFIED:web", "DELETED:web"])
            #expect(summary?["phase"] as? String == "Terminating")
            let managers = summary?["managers"] as? [[String]] ?? []
            #expect(managers == [["OpenAPI-Generator", "Update"]], "managedFields: \(managers)")
        }
    }
}

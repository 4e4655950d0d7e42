import Foundation
import KubeAPI
import KubeClient
import TestSupport
import Testing

/// A two-node cluster made by `hack/cluster-up.sh` (node 1: `nodekit server`, node 2: `nodekit
/// agent`, each in its own network namespace with its own containerd), driven through the API
/// with HTTPKubeClient: both nodes Ready with distinct podCIDRs, pods pinned to each node reach
/// each other across nodes, a pod on node 2 reaches a Service whose only endpoint is on node 1,
/// and `--down` leaves no namespace, link, process or state directory behind.
@Suite(.serialized) struct ClusterMultiNodeTests {
    static let script = Host.repositoryRoot.appendingPathComponent("hack/cluster-up.sh").path
    static let nodekit = Host.repositoryRoot.appendingPathComponent(".build/debug/nodekit").path
    static let cniPlugin = Host.repositoryRoot.appendingPathComponent(".build/debug/nodekit-cni").path

    static var skipReason: String? {
        if let reason = ContainerdFixture.skipReason { return reason }
        for tool in ["nsenter", "curl", "python3", "ip"] where Host.which(tool) == nil { return "needs \(tool)" }
        if !FileManager.default.isExecutableFile(atPath: nodekit) { return "needs the nodekit debug build (swift build --product nodekit)" }
        if !FileManager.default.isExecutableFile(atPath: cniPlugin) { return "needs the nodekit-cni debug build (swift build --product nodekit-cni)" }
        return nil
    }

    /// Per-run names: interface names hold 15 bytes, so the cluster name is short.
    let name = "m" + String(Host.runSuffix.suffix(5))
    let octet = Int.random(in: 1..<250)
    var directory: String { "/tmp/nk-it-\(Host.runSuffix)-cluster" }
    var clusterCIDR: String { "10.\(150 + octet % 40).0.0/16" }
    var nodeSubnet: String { "172.31.\(octet).0/24" }

    var environment: [String: String] { ["NODEKIT_CLUSTER_DIR": directory, "NODEKIT_BIN": Self.nodekit, "NODEKIT_CNI_BIN": Self.cniPlugin] }

    /// Runs cluster-up.sh off the cooperative pool (it waits for the cluster for tens of seconds).
    func clusterUp(_ extra: [String]) async throws -> CommandResult {
        try await runOffPool("bash", [Self.script, "--name", name] + extra, environment: environment)
    }

    /// `--down` from a defer (no await there); blocking is fine, nothing in-process needs the pool.
    func clusterDownBlocking() {
        _ = try? run("bash", [Self.script, "--name", name, "--down"], environment: environment)
    }

    static func pod(_ name: String, namespace: String, labels: [String: String] = [:], script: String, node: (selector: String?, name: String?), restart: String) -> Pod {
        var c = Container(name: "main", image: ContainerdFixture.busyboxImage)
        c.command = ["sh", "-c", script]
        // The image is imported, not in a registry; ":latest" would otherwise mean Always.
        c.imagePullPolicy = "IfNotPresent"
        var spec = PodSpec(containers: [c], restartPolicy: restart)
        if let selector = node.selector { spec.nodeSelector = ["kubernetes.io/hostname": selector] }
        spec.nodeName = node.name
        spec.terminationGracePeriodSeconds = 1
        return Pod(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), spec: spec)
    }

    /// A client pod: fetches http://TARGET/ until the reply holds `marker` (success) or 20 tries pass.
    static func fetcher(_ name: String, namespace: String, target: String, marker: String, node: String) -> Pod {
        let script = "for i in $(seq 1 20); do if printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 \(target.replacingOccurrences(of: ":", with: " ")) | grep -q \(marker); then exit 0; fi; sleep 0.5; done; exit 1"
        return pod(name, namespace: namespace, script: script, node: (nil, node), restart: "Never")
    }

    /// An HTTP server pod answering `marker` on port 8080.
    static func server(_ name: String, namespace: String, marker: String, hostname: String) -> Pod {
        pod(name, namespace: namespace, labels: ["app": name], script: "mkdir -p /tmp/www && echo \(marker) > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
            node: (hostname, nil), restart: "Always")
    }

    static func waitFor<T>(_ what: String, seconds: Int, _ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do { if let value = try await probe() { return value } } catch { lastError = error }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw ClusterTestError(message: "timed out after \(seconds) s waiting for \(what)\(lastError.map { " (last error: \($0))" } ?? "")")
    }

    struct ClusterTestError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static func ipv4(_ ip: String, isIn cidr: String) -> Bool {
        func value(_ s: Substring) -> UInt32? {
            let parts = s.split(separator: ".").compactMap { UInt32($0) }
            return parts.count == 4 ? parts.reduce(0) { $0 << 8 | $1 } : nil
        }
        let pieces = cidr.split(separator: "/")
        guard pieces.count == 2, let base = value(pieces[0]), let bits = UInt32(pieces[1]), let address = value(Substring(ip)) else { return false }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return address & mask == base & mask
    }

    @Test(.enabled(if: Self.skipReason == nil, "\(Self.skipReason ?? "")"), .timeLimit(.minutes(4)))
    func twoNodeCluster() async throws {
        let node1 = "\(name)-node1", node2 = "\(name)-node2"
        var downDone = false
        defer { if !downDone { clusterDownBlocking() } }
        let up = try await clusterUp(["--nodes", "2", "--node-subnet", nodeSubnet, "--cluster-cidr", clusterCIDR])
        try #require(up.status == 0, "cluster-up.sh failed: \(up.stderr)")
        let kubeconfig = up.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(kubeconfig == directory + "/kubeconfig")

        let client = try HTTPKubeClient(kubeconfigPath: kubeconfig)
        do {
            try await exercise(client, node1: node1, node2: node2)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()

        // Processes to be gone after --down: every nodekit and containerd of the cluster.
        let pids = (1...2).flatMap { i in ["nodekit.pid", "containerd/containerd.pid"].compactMap { file in
            (try? String(contentsOfFile: "\(directory)/node\(i)/\(file)", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        } }
        #expect(pids.count == 4, "expected a nodekit and a containerd pid file per node, found \(pids)")
        let down = try await clusterUp(["--down"])
        downDone = true
        #expect(down.status == 0, "cluster-up.sh --down failed: \(down.stderr)")
        let namespaces = try runChecked("ip", ["netns", "list"]).stdout
        #expect(!namespaces.contains("\(name)-node"), "network namespaces left: \(namespaces)")
        for link in ["\(name)-br", "\(name)-v1", "\(name)-v2"] {
            #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(link)"), "link \(link) left on the host")
        }
        for pid in pids { #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)"), "process \(pid) still running after --down") }
        #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) left after --down")
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        #expect(!mounts.contains(directory), "mounts under \(directory) left after --down")
        // A second --down is harmless.
        #expect(try await clusterUp(["--down"]).status == 0)
    }

    func exercise(_ client: HTTPKubeClient, node1: String, node2: String) async throws {
        let nodes = try await client.list(Node.self).items.filter { [node1, node2].contains($0.metadata.name ?? "") }
        #expect(nodes.count == 2)
        for n in nodes {
            #expect(n.status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } == true, "\(n.metadata.name ?? "") is not Ready")
        }
        let cidrs = Dictionary(uniqueKeysWithValues: nodes.map { ($0.metadata.name ?? "", $0.spec?.podCIDR ?? "") })
        let cidr1 = try #require(cidrs[node1]), cidr2 = try #require(cidrs[node2])
        #expect(!cidr1.isEmpty && !cidr2.isEmpty && cidr1 != cidr2, "podCIDRs: \(cidrs)")
        #expect(Self.ipv4(String(cidr1.split(separator: "/")[0]), isIn: clusterCIDR) && Self.ipv4(String(cidr2.split(separator: "/")[0]), isIn: clusterCIDR))

        let ns = "multinode"
        _ = try await client.create(Namespace(metadata: ObjectMeta(name: ns)))
        // Pinned through the scheduler (nodeSelector on the hostname label).
        _ = try await client.create(Self.server("srv1", namespace: ns, marker: "hello-from-node1", hostname: node1))
        _ = try await client.create(Self.server("srv2", namespace: ns, marker: "hello-from-node2", hostname: node2))
        var service = Service(metadata: ObjectMeta(name: "srv1", namespace: ns), spec: ServiceSpec(selector: ["app": "srv1"], ports: [ServicePort(port: 80, targetPort: .int(8080))]))
        service = try await client.create(service)
        let clusterIP = try #require(service.spec.clusterIP)
        #expect(!clusterIP.isEmpty && clusterIP != "None")

        func running(_ name: String) async throws -> Pod {
            try await Self.waitFor("pod \(name) Running with an IP", seconds: 60) {
                let p = try await client.get(Pod.self, namespace: ns, name: name)
                return p.status?.phase == "Running" && p.status?.podIP != nil ? p : nil
            }
        }
        let srv1 = try await running("srv1"), srv2 = try await running("srv2")
        #expect(srv1.spec.nodeName == node1 && srv2.spec.nodeName == node2)
        let ip1 = try #require(srv1.status?.podIP), ip2 = try #require(srv2.status?.podIP)
        #expect(Self.ipv4(ip1, isIn: cidr1), "srv1's IP \(ip1) is outside node 1's podCIDR \(cidr1)")
        #expect(Self.ipv4(ip2, isIn: cidr2), "srv2's IP \(ip2) is outside node 2's podCIDR \(cidr2)")

        // Wait for the Service's endpoint before a client dials the ClusterIP.
        _ = try await Self.waitFor("an EndpointSlice with srv1's address", seconds: 30) {
            let slices = try await client.list(EndpointSlice.self, namespace: ns, options: ListOptions(labelSelector: "kubernetes.io/service-name=srv1")).items
            return slices.contains { $0.endpoints.contains { $0.addresses.contains(ip1) } } ? true : nil
        }
        // Pinned directly (nodeName): across nodes both ways, and to the Service from node 2.
        let clients = [
            Self.fetcher("node2-to-pod1", namespace: ns, target: "\(ip1):8080", marker: "hello-from-node1", node: node2),
            Self.fetcher("node1-to-pod2", namespace: ns, target: "\(ip2):8080", marker: "hello-from-node2", node: node1),
            Self.fetcher("node2-to-service", namespace: ns, target: "\(clusterIP):80", marker: "hello-from-node1", node: node2),
        ]
        for c in clients { _ = try await client.create(c) }
        for c in clients {
            let name = c.metadata.name ?? ""
            let phase = try await Self.waitFor("pod \(name) to finish", seconds: 60) {
                let p = try await client.get(Pod.self, namespace: ns, name: name)
                return ["Succeeded", "Failed"].contains(p.status?.phase ?? "") ? p.status?.phase : nil
            }
            #expect(phase == "Succeeded", "\(name) could not fetch its target (phase \(phase))")
        }
    }
}

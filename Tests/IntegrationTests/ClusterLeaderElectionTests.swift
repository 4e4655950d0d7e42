import Foundation
import KubeAPI
import KubeClient
import LinuxSystem
import TestSupport
import Testing

/// Two `nodekit server --no-agent` processes on one real etcd (loopback, per-run ports and
/// directories), sharing the cluster PKI as a second control-plane member would:
///
/// - exactly one holds `kube-system/nodekit-controller-manager` and runs the controllers,
///   scheduler and node IPAM; objects written through the follower's API server are acted on
///   once (one ReplicaSet, one podCIDR, every pod bound), and the follower's log never says it
///   leads; ClusterIPs allocated through both API servers at once never collide;
/// - `kill -9` of the leader: the follower takes the Lease 15 s after it last saw the record
///   change, at its next attempt; `leaseTransitions` grows by one, and a new Deployment gets its
///   ReplicaSet;
/// - SIGTERM of the leader: it releases the Lease, so the other server (here the first one,
///   restarted) takes it at its next attempt, without waiting for expiry.
///
/// Takeover times are printed (`leader-election takeover: ...`) for docs/cluster.md.
@Suite(.serialized, .enabled(if: ClusterLeaderElectionHost.skipReason == nil, "\(ClusterLeaderElectionHost.skipReason ?? "")"))
struct ClusterLeaderElectionTests {
    static let leaseName = "nodekit-controller-manager"

    /// One `nodekit server --no-agent` on the shared etcd.
    final class Server: Sendable {
        let dataDirectory: String
        let log: String
        let process: SpawnedProcess

        init(dataDirectory: String, log: String, store: String, serviceCIDR: String, environment: [String: String]? = nil) throws {
            self.dataDirectory = dataDirectory
            self.log = log
            process = try spawn(ClusterTestHost.nodekitBinary, [
                "server", "--no-agent", "--store", store, "--data-dir", dataDirectory,
                "--secure-port", "0", "--bind-address", "127.0.0.1", "--service-cidr", serviceCIDR,
                // The test's node never renews a Lease: keep it Ready for the whole test.
                "--node-monitor-grace-period", "10m",
            ], outputPath: log, environment: environment)
        }

        var kubeconfig: String { dataDirectory + "/kubeconfig" }
        var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        var logTail: String { logText.split(separator: "\n").suffix(15).joined(separator: "\n") }

        /// Whether the Lease's holder identity is this server's (`<host>_<data dir>`).
        func holds(_ holder: String?) -> Bool { holder?.hasSuffix("_" + dataDirectory) ?? false }
    }

    @discardableResult
    func eventually<T>(_ what: String, within limit: Duration, logs: [Server], _ check: () async throws -> T?) async throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var lastError: (any Error)?
        while clock.now < deadline {
            do { if let value = try await check() { return value } } catch { lastError = error }
            try await Task.sleep(for: .milliseconds(200))
        }
        let tails = logs.map { "--- \($0.log) ---\n\($0.logTail)" }.joined(separator: "\n")
        throw ClusterTestError("timed out after \(limit) waiting for \(what) (last error: \(lastError.map { "\($0)" } ?? "none"))\n\(tails)")
    }

    func lease(_ client: HTTPKubeClient) async throws -> LeaseSpec? {
        try await client.get(Lease.self, namespace: "kube-system", name: Self.leaseName).spec
    }

    func deployment(_ name: String) -> Deployment {
        let labels = ["app": name]
        let template = PodTemplateSpec(metadata: ObjectMeta(labels: labels), spec: PodSpec(containers: [Container(name: "c", image: "nodekit/busybox")]))
        return Deployment(metadata: ObjectMeta(name: name, namespace: "default"),
                          spec: DeploymentSpec(replicas: 2, selector: LabelSelector(matchLabels: labels), template: template))
    }

    /// Waits until Deployment `name`'s pods are created and bound, then checks that they were
    /// made once: one ReplicaSet, `replicas` pods.
    func expectRolledOut(_ name: String, client: HTTPKubeClient, node: String, logs: [Server]) async throws {
        try await eventually("\(name)'s 2 pods bound to \(node)", within: .seconds(30), logs: logs) { () -> Bool? in
            let pods = try await client.list(Pod.self, namespace: "default", options: ListOptions(labelSelector: "app=\(name)")).items
            return pods.count == 2 && pods.allSatisfy({ $0.spec.nodeName == node }) ? true : nil
        }
        let sets = try await client.list(ReplicaSet.self, namespace: "default", options: ListOptions(labelSelector: "app=\(name)")).items
        #expect(sets.count == 1, "\(name): one ReplicaSet, not one per server: \(sets.compactMap(\.metadata.name))")
        let pods = try await client.list(Pod.self, namespace: "default", options: ListOptions(labelSelector: "app=\(name)")).items
        #expect(pods.count == 2, "\(name): \(pods.compactMap(\.metadata.name))")
    }

    @Test func oneLeaderTakeoverAfterKillAndReleaseOnSIGTERM() async throws {
        let base = NSTemporaryDirectory() + "nk-cluster-le-\(Host.runSuffix)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let etcd = try EtcdCluster.start(members: 1, baseDirectory: base + "/etcd")
        var servers: [Server] = []
        var clients: [HTTPKubeClient] = []
        defer {
            for server in servers {
                // Only children not reaped yet: a reaped pid may belong to someone else by now.
                let running: Bool
                do { running = try server.process.exitStatusIfExited() == nil } catch { running = false }
                if running {
                    server.process.kill()
                    _ = try? server.process.wait()
                }
            }
            let etcdLog = NSTemporaryDirectory() + "nk-cluster-le-last-etcd.log"
            try? FileManager.default.removeItem(atPath: etcdLog)
            try? FileManager.default.copyItem(atPath: etcd.members[0].dataDirectory + ".log", toPath: etcdLog)
            etcd.stop()
            // The logs outlive the run, for a failure's diagnosis.
            for (index, server) in servers.enumerated() {
                let kept = NSTemporaryDirectory() + "nk-cluster-le-last-server\(index).log"
                try? FileManager.default.removeItem(atPath: kept)
                try? FileManager.default.copyItem(atPath: server.log, toPath: kept)
            }
            try? FileManager.default.removeItem(atPath: base)
        }
        let serviceCIDR = "10.98.\(Int.random(in: 0..<256)).0/24"
        func start(_ name: String, environment: [String: String]? = nil) throws -> Server {
            let server = try Server(dataDirectory: base + "/" + name, log: base + "/\(name)-\(servers.count).log", store: etcd.storeURL, serviceCIDR: serviceCIDR,
                                    environment: environment)
            servers.append(server)
            return server
        }

        // Server a makes the cluster PKI; b gets a copy (CA, admin credentials, token and the
        // service-account signing key), as a second control-plane member needs.
        let a = try start("a")
        try await eventually("a's kubeconfig", within: .seconds(30), logs: servers) { FileManager.default.fileExists(atPath: a.kubeconfig) ? true : nil }
        try FileManager.default.createDirectory(atPath: base + "/b", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: a.dataDirectory + "/pki", toPath: base + "/b/pki")
        // b runs Swift concurrency's jobs on the event loops (opt-in), so that mode leads or
        // follows, and takes over, in every run.
        let b = try start("b", environment: ["NODEKIT_EXECUTOR": "event-loops"])
        try await eventually("b's kubeconfig", within: .seconds(30), logs: servers) { FileManager.default.fileExists(atPath: b.kubeconfig) ? true : nil }
        let clientA = try HTTPKubeClient(kubeconfigPath: a.kubeconfig), clientB = try HTTPKubeClient(kubeconfigPath: b.kubeconfig)
        clients += [clientA, clientB]
        defer { for client in clients { Task { await client.shutdown() } } }

        // Exactly one leader, named in the Lease.
        let first = try await eventually("a Lease holder", within: .seconds(20), logs: servers) { try await lease(clientB) }
        let (leader, follower, followerClient) = a.holds(first.holderIdentity) ? (a, b, clientB) : (b, a, clientA)
        #expect(leader.holds(first.holderIdentity), "holder \(first.holderIdentity ?? "nil") is one of the two servers")
        #expect(first.leaseDurationSeconds == 15)

        // Bound to loopback, neither server publishes an endpoint for the kubernetes Service.
        let records = try await clientB.list(Lease.self, namespace: "kube-system", options: ListOptions(labelSelector: "nodekit.io/apiserver-endpoint")).items
        #expect(records.isEmpty, "no loopback endpoint records: \(records.compactMap(\.spec?.holderIdentity))")

        // Both API servers allocate ClusterIPs from one range at the same time: no collision.
        try await withThrowingTaskGroup(of: String.self) { group in
            for (index, client) in [clientA, clientB, clientA, clientB, clientA, clientB, clientA, clientB].enumerated() {
                group.addTask {
                    let service = Service(metadata: ObjectMeta(name: "s\(index)", namespace: "default"), spec: ServiceSpec(ports: [ServicePort(port: 80)]))
                    return try await client.create(service).spec.clusterIP ?? ""
                }
            }
            var ips: [String] = []
            for try await ip in group { ips.append(ip) }
            #expect(Set(ips).count == 8 && !ips.contains(""), "ClusterIPs \(ips.sorted())")
        }

        // A node and a Deployment written through the follower's API server: the leader's
        // controllers, scheduler and node IPAM act on them, once.
        let node = "nk-le-\(Host.runSuffix)".lowercased()
        _ = try await followerClient.create(Node(metadata: ObjectMeta(name: node, labels: ["kubernetes.io/hostname": node])))
        let ready = ISO8601DateFormatter().string(from: Date())
        let _: Node = try await followerClient.mergePatch(Node.self, namespace: nil, name: node, .object(["status": .object([
            "allocatable": .object(["cpu": .string("4"), "memory": .string("8Gi"), "pods": .string("110")]),
            "capacity": .object(["cpu": .string("4"), "memory": .string("8Gi"), "pods": .string("110")]),
            "conditions": .array([.object(["type": .string("Ready"), "status": .string("True"), "lastHeartbeatTime": .string(ready)])]),
        ])]), subresource: "status")
        _ = try await followerClient.create(deployment("before"))
        try await expectRolledOut("before", client: followerClient, node: node, logs: servers)
        let podCIDR = try await followerClient.get(Node.self, namespace: nil, name: node).spec?.podCIDR
        #expect(podCIDR?.hasPrefix("10.244.") ?? false, "node IPAM (leader only) gave the node a podCIDR: \(podCIDR ?? "none")")
        #expect(leader.logText.contains("leading: running the scheduler"))
        // a runs on the default pool, b on the event loops (opt-in).
        #expect(a.logText.contains("executor=Swift's cooperative pool"), "a: \(a.logTail)")
        #expect(b.logText.contains("executor=NIO's event loops"), "b: \(b.logTail)")
        #expect(!follower.logText.contains("leading: running the scheduler"), "the follower never led")

        // kill -9: no release; the follower waits out the lease and takes over.
        let beforeKill = try #require(try await lease(followerClient))
        leader.process.kill(SIGKILL)
        _ = try? leader.process.wait()
        let killed = ContinuousClock.now
        let afterKill = try await eventually("the follower taking the Lease", within: .seconds(30), logs: servers) { () -> LeaseSpec? in
            let spec = try await lease(followerClient)
            return follower.holds(spec?.holderIdentity) ? spec : nil
        }
        let killTakeover = ContinuousClock.now - killed
        print("leader-election takeover: kill -9 \(killTakeover)")
        #expect(afterKill.leaseTransitions == (beforeKill.leaseTransitions ?? 0) + 1)
        // The follower counts 15 s from the last change it saw: its last look before the kill
        // (at most one jittered retry, 4.4 s, earlier) or its first after it (the leader's last
        // renewal may fall between the two); then it takes over at its next attempt (<= 4.4 s).
        #expect(killTakeover >= .seconds(10), "not before the lease could expire: \(killTakeover)")
        #expect(killTakeover < .seconds(28), "15 s + two jittered retries at most, plus request time: \(killTakeover)")
        _ = try await followerClient.create(deployment("after-kill"))
        try await expectRolledOut("after-kill", client: followerClient, node: node, logs: servers)

        // The killed server comes back (same data dir: same identity) as the follower; SIGTERM to
        // the new leader releases the Lease and the restarted one takes it at its next attempt.
        let restarted = try Server(dataDirectory: leader.dataDirectory, log: leader.dataDirectory + "-restarted.log", store: etcd.storeURL, serviceCIDR: serviceCIDR)
        servers.append(restarted)
        try await eventually("the restarted server's API", within: .seconds(30), logs: servers) { () -> Bool? in
            let client = try HTTPKubeClient(kubeconfigPath: restarted.kubeconfig)
            defer { Task { await client.shutdown() } }
            return try await client.get(Namespace.self, namespace: nil, name: "default").metadata.name != nil ? true : nil
        }
        // Let it observe the Lease once (a candidate seeing a record first counts from then).
        try await Task.sleep(for: .seconds(3))
        let beforeTerm = try #require(try await lease(followerClient))
        #expect(follower.holds(beforeTerm.holderIdentity), "the restarted server did not take a held Lease")
        follower.process.kill(SIGTERM)
        let terminated = ContinuousClock.now
        let restartedClient = try HTTPKubeClient(kubeconfigPath: restarted.kubeconfig)
        clients.append(restartedClient)
        let afterTerm = try await eventually("the restarted server taking the released Lease", within: .seconds(15), logs: servers) { () -> LeaseSpec? in
            let spec = try await lease(restartedClient)
            return restarted.holds(spec?.holderIdentity) ? spec : nil
        }
        let termTakeover = ContinuousClock.now - terminated
        print("leader-election takeover: SIGTERM \(termTakeover)")
        #expect(afterTerm.leaseTransitions == (beforeTerm.leaseTransitions ?? 0) + 1)
        #expect(termTakeover < .seconds(8), "a released Lease is taken at the next attempt, not after 15 s: \(termTakeover)")
        let status = try await eventually("the SIGTERMed server's exit", within: .seconds(15), logs: servers) { try follower.process.exitStatusIfExited() }
        #expect(status == 0)
        #expect(follower.logText.contains("released lease"))
        _ = try await restartedClient.create(deployment("after-term"))
        try await expectRolledOut("after-term", client: restartedClient, node: node, logs: servers)
    }
}

enum ClusterLeaderElectionHost {
    static var skipReason: String? {
        if EtcdCluster.binary == nil { return "needs /usr/bin/etcd (apt-get install etcd-server)" }
        if !FileManager.default.isExecutableFile(atPath: ClusterTestHost.nodekitBinary) {
            return "needs \(ClusterTestHost.nodekitBinary) (swift build --product nodekit)"
        }
        return nil
    }
}

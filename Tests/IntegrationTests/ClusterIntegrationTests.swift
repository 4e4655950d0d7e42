import Foundation
import LinuxSystem
import TestSupport
import Testing

/// The whole cluster: `nodekit server` as a child process (store, API server, scheduler,
/// controllers, node IPAM, kubelet and nftables proxy) on a private containerd, driven with
/// kubectl like a user would: examples/web.yaml runs, its Service answers through the
/// ClusterIP from the host, scaling works both ways, a rolling update drops no request, and
/// deleting everything leaves nothing in containerd.
///
/// Isolation: a private data dir, containerd, bridge and pod CIDR (ContainerdFixture), a
/// per-run Service CIDR, nftables table and node name; traffic goes only to the fixture's pods.
@Suite(.serialized, .enabled(if: ClusterTestHost.skipReason == nil, "\(ClusterTestHost.skipReason ?? "")"))
struct ClusterIntegrationTests {

    /// One cluster for the whole scenario (starting one costs a few seconds).
    final class Cluster: Sendable {
        let containerd: ContainerdFixture
        let directory: String
        let kubeconfig: String
        let nodeName: String
        let table: String
        let log: String
        let server: SpawnedProcess

        init() throws {
            containerd = try ContainerdFixture.start()
            // Suites of one test run share the run suffix and may run at once (this one and
            // ClusterAcceptanceTests): each cluster gets names of its own too, or two servers
            // would program one nftables table and each full sync would delete the other's rules.
            let unique = UUID().uuidString.prefix(6).lowercased()
            directory = NSTemporaryDirectory() + "nk-cluster-\(Host.runSuffix)-\(unique)"
            kubeconfig = directory + "/data/kubeconfig"
            nodeName = "nk-it-\(Host.runSuffix)-\(unique)".lowercased()
            table = "nk-it-\(Host.runSuffix)-\(unique)"
            log = directory + "/server.log"
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                // The node's podCIDR is the fixture's /24 (the CNI config's range): IPAM hands
                // out exactly that one. Service IPs come from a per-run /24.
                let serviceCIDR = "10.97.\(Int.random(in: 0..<256)).0/24"
                server = try spawn(ClusterTestHost.nodekitBinary, [
                    "server", "--data-dir", directory + "/data", "--secure-port", "0", "--bind-address", "127.0.0.1",
                    "--node-name", nodeName, "--runtime-endpoint", "unix://" + containerd.socketPath,
                    "--root-dir", directory + "/kubelet", "--kubelet-port", "0", "--kubelet-address", "127.0.0.1",
                    "--cluster-cidr", containerd.podCIDR, "--node-cidr-mask-size", "24", "--service-cidr", serviceCIDR,
                    "--nftables-table", table,
                ], outputPath: log, environment: containerd.environment)
            } catch {
                try? containerd.shutdown()
                throw error
            }
        }

        /// Kills the server, removes its proxy tables, containerd (tasks, mounts, bridge) and the
        /// directories. Safe on every failure path.
        func tearDown() {
            server.kill()
            _ = try? server.wait()
            for family in ["ip", "ip6"] { _ = try? run("nft", ["delete", "table", family, table]) }
            try? containerd.shutdown()
            // The server's log outlives the run, for a failure's diagnosis.
            let kept = NSTemporaryDirectory() + "nk-cluster-last-server.log"
            try? FileManager.default.removeItem(atPath: kept)
            try? FileManager.default.copyItem(atPath: log, toPath: kept)
            // A killed kubelet leaves its tmpfs volumes (kube-api-access-*, secrets) mounted.
            let mounts = ((try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? "")
                .split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
                .filter { $0.hasPrefix(directory + "/") }.sorted(by: >)
            for mount in mounts { _ = try? run("umount", ["-l", mount]) }
            try? FileManager.default.removeItem(atPath: directory)
        }

        var logTail: String {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").suffix(25).joined(separator: "\n")
        }

        func kubectl(_ arguments: [String], input: String? = nil) async throws -> CommandResult {
            try await runOffPool("kubectl", ["--kubeconfig", kubeconfig] + arguments, input: input.map { Data($0.utf8) },
                                 environment: ["HOME": directory])
        }

        /// kubectl that must succeed; the failure names the command and carries the server log's tail.
        @discardableResult
        func ok(_ arguments: [String], input: String? = nil) async throws -> String {
            let result = try await kubectl(arguments, input: input)
            guard result.status == 0 else {
                throw ClusterTestError("kubectl \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)\n--- server log ---\n\(logTail)")
            }
            return result.stdout
        }

        /// Runs `check` until it returns true, at most `limit`; the failure says what and shows the log.
        func eventually(_ what: String, within limit: Duration, _ check: () async throws -> Bool) async throws {
            let clock = ContinuousClock()
            let deadline = clock.now + limit
            while clock.now < deadline {
                if try await check() { return }
                try await Task.sleep(for: .milliseconds(500))
            }
            throw ClusterTestError("timed out after \(limit) waiting for \(what)\n--- server log ---\n\(logTail)")
        }

        func readyPods() async throws -> [String] {
            let out = try await ok(["get", "pods", "-l", "app=web", "-o",
                                    "jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.deletionTimestamp}{\"\\n\"}{end}"])
            return out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
                .filter { $0.count == 2 && $0[1] == "True" }.map { $0[0] }
        }

        func podCount() async throws -> Int {
            try await ok(["get", "pods", "-l", "app=web", "-o", "name"]).split(separator: "\n").count
        }

        /// Containers and sandboxes this containerd still has.
        func containerdLeftovers() throws -> [String] {
            let containers = try containerd.ctr("containers", "ls", "-q").stdout.split(separator: "\n").map(String.init)
            let tasks = try containerd.ctr("tasks", "ls").stdout.split(separator: "\n").dropFirst().map(String.init)
            return containers + tasks
        }
    }

    @Test func webDeploymentServesScalesRollsAndCleansUp() async throws {
        let started = ContinuousClock.now
        let cluster = try Cluster()
        defer { cluster.tearDown() }
        try await cluster.eventually("the kubeconfig", within: .seconds(20)) { FileManager.default.fileExists(atPath: cluster.kubeconfig) }
        // The default executor, Swift's cooperative pool (the leader-election test runs one of
        // its servers on the event loops).
        let startLine = ((try? String(contentsOfFile: cluster.log, encoding: .utf8)) ?? "").split(separator: "\n").first { $0.contains("starting") }
        #expect(startLine?.contains("executor=Swift's cooperative pool") == true, "the server's start-up line: \(startLine ?? "none")")
        try await cluster.eventually("node \(cluster.nodeName) Ready", within: .seconds(60)) {
            let r = try await cluster.kubectl(["get", "node", cluster.nodeName, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])
            return r.status == 0 && r.stdout == "True"
        }
        let nodeReady = ContinuousClock.now - started
        let podCIDR = try await cluster.ok(["get", "node", cluster.nodeName, "-o", "jsonpath={.spec.podCIDR}"])
        #expect(podCIDR == cluster.containerd.podCIDR, "node IPAM gave the node its podCIDR")

        // The example as a user applies it: 3 replicas with readiness probes behind a Service.
        let example = Host.repositoryRoot.appendingPathComponent("examples/web.yaml").path
        try await cluster.ok(["apply", "-f", example])
        try await cluster.ok(["rollout", "status", "deployment/web", "--timeout=90s"])
        #expect(try await cluster.readyPods().count == 3)
        let clusterIP = try await cluster.ok(["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"])
        #expect(!clusterIP.isEmpty)
        var answered: [String] = []
        try await cluster.eventually("the Service answering at \(clusterIP)", within: .seconds(30)) {
            let r = try await runOffPool("curl", ["-s", "--fail", "--max-time", "2", "http://\(clusterIP)/"])
            if r.status == 0 { answered.append(r.stdout) }
            return r.status == 0
        }
        let serviceAnswered = ContinuousClock.now - started
        // The pods turn Ready one by one, and the EndpointSlice and the proxy's next sync (at
        // most 1 s later) follow: allow them a few seconds to spread the load.
        try await cluster.eventually("requests through the ClusterIP reaching more than one pod", within: .seconds(15)) {
            for _ in 0..<8 {
                let r = try await runOffPool("curl", ["-s", "--fail", "--max-time", "2", "http://\(clusterIP)/"])
                #expect(r.status == 0, "request through the ClusterIP failed: \(r.stderr)")
                answered.append(r.stdout)
            }
            return Set(answered).count > 1
        }
        #expect(answered.allSatisfy { $0.hasPrefix("hello from web-") }, "\(answered)")

        // Scale up, then down.
        try await cluster.ok(["scale", "deployment/web", "--replicas=4"])
        try await cluster.ok(["rollout", "status", "deployment/web", "--timeout=60s"])
        #expect(try await cluster.readyPods().count == 4)
        try await cluster.ok(["scale", "deployment/web", "--replicas=2"])
        try await cluster.eventually("2 pods after scaling down", within: .seconds(40)) { try await cluster.podCount() == 2 }

        // A rolling update under load: a client loop through the Service while the template
        // changes (maxUnavailable 0, readiness-gated): no request may fail. For a failure's
        // diagnosis, the first failures (time, curl's exit code) and the EndpointSlice as it
        // changed (time, address:ready/serving/terminating) are kept.
        let stopFile = cluster.directory + "/stop-load"
        let failuresFile = cluster.directory + "/load-failures"
        let loop = """
            ok=0; fail=0; new=0
            while [ ! -e '\(stopFile)' ]; do
              if out=$(curl -s --fail --max-time 2 http://\(clusterIP)/); then ok=$((ok+1)); case $out in hi*) new=$((new+1));; esac
              else code=$?; fail=$((fail+1)); [ $fail -le 20 ] && echo "$(date +%T.%N) curl exit $code" >> '\(failuresFile)'; fi
            done
            echo "$ok $fail $new"
            """
        let slicesFile = cluster.directory + "/slices"
        let slices = try spawn("bash", ["-c", """
            kubectl --kubeconfig '\(cluster.kubeconfig)' get endpointslices -l kubernetes.io/service-name=web --watch \\
              -o jsonpath='{range .endpoints[*]}{.addresses[0]}:{.conditions.ready}/{.conditions.serving}/{.conditions.terminating} {end}{"\\n"}' |
            while IFS= read -r line; do echo "$(date +%T.%N) $line"; done
            """], outputPath: slicesFile, environment: ["HOME": cluster.directory])
        defer {
            slices.kill()
            _ = try? slices.wait()
        }
        async let load = runOffPool("bash", ["-c", loop])
        var rolled = false
        do {
            try await cluster.ok(["set", "env", "deployment/web", "GREETING=hi"])
            try await cluster.ok(["rollout", "status", "deployment/web", "--timeout=90s"])
            rolled = true
        } catch {
            _ = FileManager.default.createFile(atPath: stopFile, contents: nil)
            _ = try? await load
            throw error
        }
        _ = FileManager.default.createFile(atPath: stopFile, contents: nil)
        let counts = try await load.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        #expect(rolled)
        #expect(counts.count == 3, "load loop output: \(counts)")
        if counts.count == 3 {
            #expect(counts[0] > 20, "the client loop made too few requests to mean anything: \(counts[0])")
            #expect(counts[1] == 0, """
                \(counts[1]) of \(counts[0] + counts[1]) requests failed during the rolling update
                --- first failures ---
                \((try? String(contentsOfFile: failuresFile, encoding: .utf8)) ?? "")
                --- the Service's EndpointSlice ---
                \((try? String(contentsOfFile: slicesFile, encoding: .utf8)) ?? "")
                --- server log ---
                \(cluster.logTail)
                """)
            #expect(counts[2] > 0, "no answer came from the updated pods")
        }

        // Delete everything; nothing may be left in containerd.
        try await cluster.ok(["delete", "-f", example, "--wait=false"])
        try await cluster.eventually("every web pod gone", within: .seconds(60)) { try await cluster.podCount() == 0 }
        try await cluster.eventually("containerd holding no containers or tasks", within: .seconds(30)) { try cluster.containerdLeftovers().isEmpty }
        #expect(try cluster.containerdLeftovers().isEmpty)
        let replicaSets = try await cluster.ok(["get", "replicasets", "-o", "name"])
        #expect(replicaSets.isEmpty, "the garbage collector left ReplicaSets: \(replicaSets)")
        print("cluster: node Ready after \(nodeReady), web Service answering after \(serviceAnswered), whole scenario \(ContinuousClock.now - started)")
    }
}

/// What the cluster test needs from this machine.
enum ClusterTestHost {
    static var nodekitBinary: String { Host.repositoryRoot.appendingPathComponent(".build/debug/nodekit").path }

    static var skipReason: String? {
        if let reason = ContainerdFixture.skipReason { return reason }
        if Host.which("kubectl") == nil { return "needs kubectl (the cluster test drives the cluster as a user does)" }
        if Host.which("curl") == nil { return "needs curl" }
        if Host.which("nft") == nil { return "needs nft (to remove the proxy's table afterwards)" }
        if !FileManager.default.isExecutableFile(atPath: nodekitBinary) { return "needs \(nodekitBinary) (swift build --product nodekit)" }
        return nil
    }
}

struct ClusterTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

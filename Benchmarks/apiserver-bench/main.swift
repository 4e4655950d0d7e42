// apiserver-bench: the API server through its real HTTPS front door, measured the way a client
// sees it (KubeClient over TLS with the generated admin kubeconfig).
//
//   swift run -c release apiserver-bench [--quick] [--pods N] [--clients C] [--dir DIR] [--etcd | --no-etcd]
//       [--commit-delay MICROSECONDS]   (the embedded store's group-commit delay; default the store's)
//   swift run -c release apiserver-bench --fields [--quick]   (managedFields alone: ManagedFieldsBench.swift)
//   ... --only ROW [--perf-ctl FIFO]   (one row and what it needs first: create, get, patch, bind, status, lease,
//       getlease, nodestatus, lists, watch, delete; with --perf-ctl, "enable"/"disable" are written to FIFO around
//       that row, for `perf record -D -1 --control fifo:FIFO`, so a profile holds that row alone)
//
// For each store (the embedded store on disk; with --etcd also a one-member etcd on loopback
// when /usr/bin/etcd is installed): create, get, patch and delete rates and latencies with C
// concurrent clients; the writes of a scheduled pod's life (pods/binding, the kubelet's
// status merge patch) and of a node's heartbeat (Lease update, node status patch); list
// rates, the time to list N pods in one call and in pages of 500, and as JSON and as the Table
// kubectl asks for through curl (the server's side alone, no typed decoding); and watch
// delivery to C watchers. Each row has the process's CPU time per call (client and server:
// one process), read from /proc/self/stat. p99 latencies are printed beside upstream's SLOs
// (kubernetes/community sig-scalability/slos/api_call_latency.md: 1 s for single-object
// mutating and non-mutating calls, 5 s for namespace-scoped lists).
import APIServer
import EtcdStore
import Foundation
import KubeAPI
import KubeClient
import Store
import TestSupport

struct Options {
    var quick = false
    var pods = 10_000
    var clients = 16
    var directory = "/var/tmp/nodekit-apiserver-bench"
    var etcd = false
    /// Only the in-process managedFields rows (ManagedFieldsBench.swift).
    var fields = false
    /// Only this row (and the rows it needs first: a bind needs the creates, a status patch the binds).
    var only: String?
    /// A perf control FIFO: "enable" before the `only` row, "disable" after it.
    var perfControl: String?
    /// The embedded store's group-commit delay (nil: the store's default).
    var commitDelay: Duration?
    static let rows = ["create", "get", "patch", "bind", "status", "lease", "getlease", "nodestatus", "lists", "watch", "delete"]

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        var podsGiven = false
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": quick = true
            case "--etcd": etcd = true
            case "--fields": fields = true
            case "--no-etcd": etcd = false
            case "--dir": directory = try Self.value(&rest, argument)
            case "--only":
                let row = try Self.value(&rest, argument)
                guard Self.rows.contains(row) else { throw UsageError("--only takes one of \(Self.rows.joined(separator: ", "))") }
                only = row
            case "--perf-ctl": perfControl = try Self.value(&rest, argument)
            case "--pods":
                guard let n = Int(try Self.value(&rest, argument)), n > 0 else { throw UsageError("--pods needs a positive number") }
                pods = n
                podsGiven = true
            case "--clients":
                guard let n = Int(try Self.value(&rest, argument)), n > 0 else { throw UsageError("--clients needs a positive number") }
                clients = n
            case "--commit-delay":
                guard let n = Int(try Self.value(&rest, argument)), n >= 0, n <= 1_000_000 else { throw UsageError("--commit-delay needs microseconds from 0 to 1000000") }
                commitDelay = .microseconds(n)
            default: throw UsageError("unknown argument \(argument) (see the header of Benchmarks/apiserver-bench/main.swift)")
            }
        }
        if quick && !podsGiven { pods = 1_000 }
        if perfControl != nil && only == nil { throw UsageError("--perf-ctl needs --only") }
    }

    /// Whether `row` runs: every row without --only; with it, that row and the ones it needs.
    func runs(_ row: String) -> Bool {
        guard let only else { return true }
        if row == only { return true }
        switch only {
        case "get", "patch", "bind", "delete", "lists": return row == "create"
        case "status": return row == "create" || row == "bind"
        case "getlease", "nodestatus": return row == "lease"
        default: return false
        }
    }

    private static func value(_ rest: inout ArraySlice<String>, _ flag: String) throws -> String {
        guard let value = rest.popFirst() else { throw UsageError("\(flag) needs a value") }
        return value
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Durations in seconds, for rates and percentiles.
struct Samples: Sendable {
    var values: [Double] = []
    mutating func add(_ d: Duration) { values.append(Self.seconds(d)) }
    mutating func merge(_ other: Samples) { values += other.values }
    /// Nearest-rank percentile.
    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}

/// One line of the result table.
struct Row {
    var store: String
    var operation: String
    var clients: Int
    var count: Int
    var elapsed: Double
    var latencies: Samples?
    /// Upstream's p99 latency SLO for this kind of call, in seconds: 1 for single-object calls,
    /// 5 for namespace-scoped lists; nil when it has none (rates, watch).
    var slo: Double?

    /// Process CPU seconds (user + system) spent on the row, when measured.
    var cpu: Double?

    var rate: Double { Double(count) / elapsed }
}

/// This process's CPU time (user + system), from /proc/self/stat in clock ticks (100 per second
/// on Linux); nil where it cannot be read.
func processCPUSeconds() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / 100
}

/// Writes "enable"/"disable" to a perf control FIFO around the measured row (--perf-ctl).
final class PerfControl: @unchecked Sendable {
    private let handle: FileHandle?
    init(path: String?) throws {
        // Opening a FIFO for writing waits for its reader: perf opens it when it starts.
        handle = try path.map { try FileHandle(forWritingTo: URL(fileURLWithPath: $0)) }
    }
    func send(_ command: String) {
        guard let handle else { return }
        handle.write(Data((command + "\n").utf8))
        // perf reads the command between samples; give it a moment before the row starts.
        usleep(200_000)
    }
}

/// The clients of one run: each its own connection, as separate processes would be.
struct Clients {
    let all: [HTTPKubeClient]

    init(kubeconfig: String, count: Int) throws {
        let config = try Kubeconfig.load(path: kubeconfig)
        all = try (0..<count).map { _ in try HTTPKubeClient(config: config) }
    }

    func shutdown() async { for client in all { await client.shutdown() } }

    /// Runs `total` calls spread over the clients (call i on client i % count), timing each.
    func run(_ total: Int, _ call: @escaping @Sendable (HTTPKubeClient, Int) async throws -> Void) async throws -> (elapsed: Double, latencies: Samples, cpu: Double?) {
        let clock = ContinuousClock()
        let cpuStart = processCPUSeconds()
        let start = clock.now
        let clients = all
        let latencies = try await withThrowingTaskGroup(of: Samples.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    var samples = Samples()
                    var i = index
                    while i < total {
                        let begin = clock.now
                        try await call(client, i)
                        samples.add(clock.now - begin)
                        i += clients.count
                    }
                    return samples
                }
            }
            var all = Samples()
            for try await samples in group { all.merge(samples) }
            return all
        }
        let elapsed = Samples.seconds(clock.now - start)
        let cpu = processCPUSeconds().flatMap { end in cpuStart.map { end - $0 } }
        return (elapsed, latencies, cpu)
    }
}

/// A kubelet's status for a running pod, as a merge patch of pods/status.
func podStatusPatch(_ i: Int) -> JSONValue {
    let now = "2026-11-26T08:00:00Z"
    let podIP = "10.244.\(i >> 8 & 255).\(i & 255)"
    let conditions: [JSONValue] = ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"].map {
        .object(["type": .string($0), "status": .string("True"), "lastTransitionTime": .string(now)])
    }
    let container: JSONValue = .object(["name": .string("app"), "image": .string("registry.example/app:1.0"), "imageID": .string(""), "ready": .bool(true),
                                        "started": .bool(true), "restartCount": .number(0), "containerID": .string("bench://\(i)/app"),
                                        "state": .object(["running": .object(["startedAt": .string(now)])])])
    return .object(["status": .object([
        "phase": .string("Running"), "hostIP": .string("100.64.0.1"), "hostIPs": .array([.object(["ip": .string("100.64.0.1")])]),
        "podIP": .string(podIP), "podIPs": .array([.object(["ip": .string(podIP)])]), "startTime": .string(now), "qosClass": .string("BestEffort"),
        "conditions": .array(conditions), "containerStatuses": .array([container]),
    ])])
}

/// A kubelet's node status heartbeat: Ready with a fresh heartbeat time, as a merge patch.
func nodeStatusPatch() -> JSONValue {
    let now: JSONValue = .string(microTime(Date()).prefix(19) + "Z")
    return .object(["status": .object(["conditions": .array([
        .object(["type": .string("Ready"), "status": .string("True"), "reason": .string("KubeletReady"), "lastHeartbeatTime": now, "lastTransitionTime": now]),
    ])])])
}

/// metav1.MicroTime: RFC 3339 with microseconds, UTC.
func microTime(_ date: Date) -> String { KubeTime.microTime(date) }

func podName(_ i: Int) -> String { "pod-" + String(repeating: "0", count: max(0, 6 - String(i).count)) + String(i) }

/// A small but realistic pod: labels, one container with a port.
func pod(_ i: Int, namespace: String) -> Pod {
    var container = Container(name: "app", image: "registry.example/app:1.0")
    container.ports = [ContainerPort(name: "http", containerPort: 8080)]
    return Pod(metadata: ObjectMeta(name: podName(i), namespace: namespace, labels: ["app": "bench", "shard": String(i % 8)]),
               spec: PodSpec(containers: [container]))
}

/// `text` padded with spaces to `width` (left-aligned) or right-aligned when `right`.
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}

/// Starts a server over `store` (HTTPS and plain HTTP on loopback, random ports) with its data
/// (PKI, kubeconfig) under `directory`; cancel the task to stop it.
func startServer(store: any Store, directory: String) async throws -> (APIServerConfiguration, Task<Void, any Error>, APIServerEndpoints) {
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var configuration = APIServerConfiguration(dataDirectory: directory)
    configuration.bindAddress = "127.0.0.1"
    configuration.securePort = 0
    configuration.insecurePort = 0
    let server = try APIServer(store: store, configuration: configuration)
    try await server.bootstrap()
    let (ports, continuation) = AsyncStream<APIServerEndpoints>.makeStream()
    let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
    var iterator = ports.makeAsyncIterator()
    guard let endpoints = await iterator.next() else {
        serving.cancel()
        throw UsageError("the API server did not start")
    }
    return (configuration, serving, endpoints)
}

/// Starts a server over `store` and runs every measurement, adding
/// each row to `rows` as it is measured (so a failure keeps what was measured before it).
func benchmark(storeName: String, store: any Store, options: Options, into rows: inout [Row]) async throws {
    let (configuration, serving, endpoints) = try await startServer(store: store, directory: options.directory + "/\(storeName)-server")
    let insecurePort = endpoints.insecurePort
    defer { serving.cancel() }

    let clients = try Clients(kubeconfig: configuration.kubeconfigPath, count: options.clients)
    let single = try Clients(kubeconfig: configuration.kubeconfigPath, count: 1)
    let c = options.clients
    func report(_ row: Row) {
        rows.append(row)
        print("  \(row.store) \(row.operation): \(row.count) in \(String(format: "%.2f", row.elapsed)) s")
    }
    let namespaces = ["bench", "small", "watch"]
    for name in namespaces {
        _ = try await single.all[0].create(Namespace(metadata: ObjectMeta(name: name)), options: WriteOptions())
        // What the ServiceAccount controller would add: pod admission needs the namespace's default account.
        _ = try await single.all[0].create(ServiceAccount(metadata: ObjectMeta(name: "default", namespace: name)))
    }

    let perf = try PerfControl(path: options.perfControl)
    // Runs `row` when it is wanted (--only), with the perf control around the chosen one.
    func row(_ name: String, _ body: () async throws -> Void) async throws {
        guard options.runs(name) else { return }
        let profiled = options.only == name
        if profiled { perf.send("enable") }
        try await body()
        if profiled { perf.send("disable") }
    }
    let pods = options.pods
    var result: (elapsed: Double, latencies: Samples, cpu: Double?) = (0, Samples(), nil)
    try await row("create") {
    result = try await clients.run(pods) { client, i in
        _ = try await client.create(pod(i, namespace: "bench"), options: WriteOptions())
    }
    report(Row(store: storeName, operation: "create pod", clients: c, count: pods, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }

    try await row("get") {
    let gets = options.quick ? 2_000 : 10_000
    result = try await clients.run(gets) { client, i in
        _ = try await client.get(Pod.self, namespace: "bench", name: podName((i &* 7919) % pods))
    }
    report(Row(store: storeName, operation: "get pod", clients: c, count: gets, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }

    try await row("patch") {
    let patches = min(pods, options.quick ? 1_000 : 5_000)
    result = try await clients.run(patches) { client, i in
        let patch: JSONValue = .object(["metadata": .object(["labels": .object(["patched": .string("yes")])])])
        _ = try await client.patch(Pod.self, namespace: "bench", name: podName(i), patch: patch, patchType: .strategicMerge,
                                   subresource: nil, options: WriteOptions())
    }
    report(Row(store: storeName, operation: "patch pod", clients: c, count: patches, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }

    // A scheduled pod's writes after its create: the scheduler's binding, then the kubelet's
    // status (a merge patch of the status subresource, as the hollow kubelets send).
    try await row("bind") {
    result = try await clients.run(pods) { client, i in
        try await client.create(binding: Binding(metadata: ObjectMeta(name: podName(i), namespace: "bench"),
                                                 target: ObjectReference(kind: "Node", name: "node-\(i % 100)")), options: WriteOptions())
    }
    report(Row(store: storeName, operation: "bind pod (pods/binding)", clients: c, count: pods, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }
    try await row("status") {
    result = try await clients.run(pods) { client, i in
        let _: Pod = try await client.mergePatch(Pod.self, namespace: "bench", name: podName(i), podStatusPatch(i), subresource: "status")
    }
    report(Row(store: storeName, operation: "patch pod status", clients: c, count: pods, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }

    // A node's heartbeat: its Lease renewed with a PUT (as kubelets do), its status patched.
    let nodes = min(pods, 1_000)
    let renewals = nodes * 3
    if options.runs("lease") {
    for i in 0..<nodes {
        _ = try await single.all[0].create(Lease(metadata: ObjectMeta(name: "node-\(i)", namespace: "kube-node-lease"),
                                                 spec: LeaseSpec(holderIdentity: "node-\(i)", leaseDurationSeconds: 40, renewTime: microTime(Date()))))
        _ = try await single.all[0].create(Node(metadata: ObjectMeta(name: "node-\(i)"), spec: NodeSpec(podCIDR: "10.\(128 + i >> 8).\(i & 255).0/24")))
    }
    }
    try await row("lease") {
    result = try await clients.run(renewals) { client, i in
        // Two clients may renew one Lease at once: the loser reads it again, as a kubelet does.
        while true {
            var lease = try await client.get(Lease.self, namespace: "kube-node-lease", name: "node-\(i % nodes)")
            lease.spec?.renewTime = microTime(Date())
            do {
                _ = try await client.update(lease)
                return
            } catch let error as KubeClientError where error.isConflict {
                continue
            }
        }
    }
    report(Row(store: storeName, operation: "get + update lease", clients: c, count: renewals, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }
    try await row("getlease") {
    result = try await clients.run(renewals) { client, i in
        _ = try await client.get(Lease.self, namespace: "kube-node-lease", name: "node-\(i % nodes)")
    }
    report(Row(store: storeName, operation: "get lease", clients: c, count: renewals, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }
    try await row("nodestatus") {
    result = try await clients.run(renewals) { client, i in
        let _: Node = try await client.mergePatch(Node.self, namespace: nil, name: "node-\(i % nodes)", nodeStatusPatch(), subresource: "status")
    }
    report(Row(store: storeName, operation: "patch node status", clients: c, count: renewals, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }

    try await row("lists") {
    for i in 0..<100 {
        _ = try await single.all[0].create(ConfigMap(metadata: ObjectMeta(name: "cm-\(i)", namespace: "small"), data: ["k": String(i)]), options: WriteOptions())
    }
    let lists = options.quick ? 200 : 1_000
    result = try await clients.run(lists) { client, _ in
        let list = try await client.list(ConfigMap.self, namespace: "small", options: ListOptions())
        guard list.items.count == 100 else { throw UsageError("list returned \(list.items.count) configmaps, expected 100") }
    }
    report(Row(store: storeName, operation: "list 100 configmaps", clients: c, count: lists, elapsed: result.elapsed, latencies: result.latencies, slo: 5, cpu: result.cpu))

    // The whole namespace at once, then in pages of 500 (what informers do): three of each; the
    // time column is the median, the latency columns the spread.
    var whole = Samples(), paged = Samples()
    for _ in 0..<3 {
        let clock = ContinuousClock()
        var start = clock.now
        let list = try await single.all[0].list(Pod.self, namespace: "bench", options: ListOptions())
        whole.add(clock.now - start)
        guard list.items.count == pods else { throw UsageError("list returned \(list.items.count) pods, expected \(pods)") }
        start = clock.now
        var seen = 0
        var token: String?
        repeat {
            let page = try await single.all[0].list(Pod.self, namespace: "bench", options: ListOptions(limit: 500, continueToken: token))
            seen += page.items.count
            token = page.metadata.continue
        } while token?.isEmpty == false
        paged.add(clock.now - start)
        guard seen == pods else { throw UsageError("paged list returned \(seen) pods, expected \(pods)") }
    }
    report(Row(store: storeName, operation: "list \(pods) pods", clients: 1, count: 1, elapsed: whole.percentile(50), latencies: whole, slo: 5))
    report(Row(store: storeName, operation: "list \(pods) pods, limit=500", clients: 1, count: 1, elapsed: paged.percentile(50), latencies: paged, slo: 5))
    if let insecurePort, let curl = Host.which("curl") {
        // The server's side of a list without the typed client: JSON, and the Table kubectl's
        // `get pods` asks for (its Accept header), over the loopback plain-HTTP port.
        let url = "http://127.0.0.1:\(insecurePort)/api/v1/namespaces/bench/pods"
        for (name, accept) in [("JSON", "application/json"), ("Table", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")] {
            var times = Samples()
            let cpuStart = processCPUSeconds()
            for _ in 0..<3 {
                let out = try await runOffPool(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}", "-H", "Accept: \(accept)", url])
                let fields = out.stdout.split(separator: " ")
                guard fields.count == 3, fields[0] == "200", let seconds = Double(fields[1]) else { throw UsageError("curl \(url) (\(name)): \(out.stdout) \(out.stderr)") }
                times.values.append(seconds)
                if times.values.count == 1 { print("  \(name) list of \(pods) pods: \(fields[2]) bytes") }
            }
            let cpu = processCPUSeconds().flatMap { end in cpuStart.map { (end - $0) / 3 } }
            report(Row(store: storeName, operation: "list \(pods) pods, curl, \(name)", clients: 1, count: 1, elapsed: times.percentile(50), latencies: times, slo: 5, cpu: cpu))
        }
    }

    }

    // Watch: C watchers from one resourceVersion; C writers create the configmaps they see.
    try await row("watch") {
    let writes = options.quick ? 200 : 1_000
    let from = try await single.all[0].list(ConfigMap.self, namespace: "watch", options: ListOptions()).metadata.resourceVersion
    let watchers = try Clients(kubeconfig: configuration.kubeconfigPath, count: c)
    let clock = ContinuousClock()
    let start = clock.now
    let delivered = try await withThrowingTaskGroup(of: Int.self) { group in
        for watcher in watchers.all {
            group.addTask {
                let events = try await watcher.watch(ConfigMap.self, namespace: "watch", options: ListOptions(resourceVersion: from, timeoutSeconds: 300))
                var added = 0
                for try await event in events {
                    if case .added = event { added += 1 }
                    if added == writes { break }
                }
                return added
            }
        }
        group.addTask {
            _ = try await clients.run(writes) { client, i in
                _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "w-\(i)", namespace: "watch"), data: ["k": "v"]), options: WriteOptions())
            }
            return 0
        }
        var total = 0
        for try await n in group { total += n }
        return total
    }
    let watchElapsed = Samples.seconds(clock.now - start)
    guard delivered == writes * c else { throw UsageError("watchers saw \(delivered) events, expected \(writes * c)") }
    report(Row(store: storeName, operation: "watch events (\(c) watchers)", clients: c, count: delivered, elapsed: watchElapsed))
    await watchers.shutdown()
    }

    try await row("delete") {
    result = try await clients.run(pods) { client, i in
        // The pods are bound: grace 0 deletes them at once (as the kubelet's final delete).
        try await client.delete(Pod.self, namespace: "bench", name: podName(i), options: DeleteOptions(gracePeriodSeconds: 0))
    }
    report(Row(store: storeName, operation: "delete pod", clients: c, count: pods, elapsed: result.elapsed, latencies: result.latencies, slo: 1, cpu: result.cpu))
    }

    await clients.shutdown()
    await single.shutdown()
    serving.cancel()
    _ = try? await serving.value
}

func printTable(_ rows: [Row]) {
    print("")
    print(pad("store", 9) + " " + pad("operation", 32) + pad("clients", 8, right: true) + pad("count", 8, right: true) + pad("rate/s", 10, right: true)
          + pad("time s", 10, right: true) + pad("p50 ms", 10, right: true) + pad("p99 ms", 10, right: true) + pad("CPU ms/call", 12, right: true) + "  upstream p99 SLO")
    for row in rows {
        let p50 = row.latencies.map { String(format: "%.2f", $0.percentile(50) * 1000) } ?? "-"
        let p99 = row.latencies.map { String(format: "%.2f", $0.percentile(99) * 1000) } ?? "-"
        let slo = row.slo.map { limit in ((row.latencies?.percentile(99) ?? .infinity) <= limit ? "met" : "NOT met") + " (\(Int(limit)) s)" } ?? ""
        let rate = row.count > 1 ? String(format: "%.0f", row.rate) : "-"
        let cpu = row.cpu.map { String(format: "%.2f", $0 * 1000 / Double(row.count)) } ?? "-"
        print(pad(row.store, 9) + " " + pad(row.operation, 32) + pad(String(row.clients), 8, right: true) + pad(String(row.count), 8, right: true)
              + pad(rate, 10, right: true) + pad(String(format: "%.3f", row.elapsed), 10, right: true) + pad(p50, 10, right: true) + pad(p99, 10, right: true) + pad(cpu, 12, right: true) + "  " + slo)
    }
}

let options: Options
let executor: String
do {
    options = try Options(Array(CommandLine.arguments.dropFirst()))
    // As `nodekit apiserver` runs (NODEKIT_EXECUTOR=event-loops measures NIO's event loops).
    executor = try EventLoopExecutor.install(environment: ProcessInfo.processInfo.environment)
} catch {
    FileHandle.standardError.write(Data("apiserver-bench: \(error)\n".utf8))
    exit(2)
}

if options.fields {
    do {
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        try await managedFieldsBench(options: options)
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("apiserver-bench: \(error)\n".utf8))
        exit(1)
    }
}

do {
    try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
    print("apiserver-bench: \(options.pods) pods, \(options.clients) clients, data under \(options.directory); jobs on \(executor)")
    var rows: [Row] = []
    let embeddedPath = options.directory + "/embedded-store"
    try? FileManager.default.removeItem(atPath: embeddedPath)
    var storeOptions = LocalStoreOptions()
    if let delay = options.commitDelay { storeOptions.groupCommitDelay = delay }
    let embedded = try LocalStore.open(directory: embeddedPath, options: storeOptions)
    do {
        try await benchmark(storeName: "embedded", store: embedded, options: options, into: &rows)
    } catch {
        print("apiserver-bench: embedded store run failed: \(error)")
    }
    let statistics = embedded.statistics()
    // Every write is one revision; group commit shares one fdatasync among the writes that
    // arrive while the previous one runs.
    print("embedded store: \(statistics.revision) revisions, \(statistics.logSyncs) log fdatasyncs (\(String(format: "%.1f", Double(statistics.revision) / Double(max(1, statistics.logSyncs)))) writes per fdatasync), \(statistics.delayedFlushes) batches held open for the \(storeOptions.groupCommitDelay) commit delay")
    await embedded.close()
    if options.etcd {
        if EtcdCluster.binary == nil {
            print("apiserver-bench: etcd is not installed; skipping the etcd rows")
        } else {
            let cluster = try EtcdCluster.start(members: 1, baseDirectory: options.directory + "/etcd-\(ProcessInfo.processInfo.processIdentifier)")
            defer { cluster.stop() }
            let etcd = try EtcdStore(endpoints: EtcdStore.parseEndpoints(cluster.endpoints.joined(separator: ",")))
            do {
                try await benchmark(storeName: "etcd", store: etcd, options: options, into: &rows)
            } catch {
                print("apiserver-bench: etcd run failed: \(error)")
            }
            await etcd.close()
        }
    }
    printTable(rows)
} catch {
    FileHandle.standardError.write(Data("apiserver-bench: \(error)\n".utf8))
    exit(1)
}

// kubelet-bench: pod start latency through the kubelet against a private containerd, beside
// the floor measured in the same run (the same sandbox and container started straight through
// CRI, with no kubelet logic), one pod at a time and 30 pods at once.
//
//   swift run -c release kubelet-bench [--rounds N] [--burst N]
//
// Kubelet latency runs from the manifest being seen (the source snapshot that adds the pod) to
// the status showing every container running. Needs root, containerd and out/images (run
// hack/images.sh build); it says so and exits 2 otherwise.
import CRI
import Foundation
import KubeAPI
import Kubelet
import TestSupport

struct Options {
    var rounds = 10
    var burst = 30

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            guard let value = rest.popFirst().flatMap(Int.init), value > 0 else {
                throw BenchError("\(argument) needs a positive number")
            }
            switch argument {
            case "--rounds": rounds = value
            case "--burst": burst = value
            default: throw BenchError("unknown option \(argument); usage: kubelet-bench [--rounds N] [--burst N]")
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

let image = ContainerdFixture.busyboxImage

func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}

/// The floor: RunPodSandbox, CreateContainer and StartContainer of the same pod, directly.
func directStart(_ client: CRIClient, _ fixture: ContainerdFixture, name: String) async throws -> Double {
    let started = ContinuousClock.now
    var sandbox = fixture.sandboxConfig(name: name)
    sandbox.linux.cgroupParent = "/kubepods/besteffort/pod" + sandbox.metadata.uid
    var run = Runtime_V1_RunPodSandboxRequest()
    run.config = sandbox
    let sandboxID = try await client.runPodSandbox(run).podSandboxID
    var create = Runtime_V1_CreateContainerRequest()
    create.podSandboxID = sandboxID
    create.config = ContainerdFixture.busyboxContainer(name: "c", command: ["sleep", "3600"])
    create.sandboxConfig = sandbox
    let id = try await client.createContainer(create).containerID
    var start = Runtime_V1_StartContainerRequest()
    start.containerID = id
    _ = try await client.startContainer(start)
    return seconds(ContinuousClock.now - started)
}

func removeAll(_ client: CRIClient) async throws {
    for sandbox in try await client.listPodSandbox(Runtime_V1_ListPodSandboxRequest()).items {
        var stop = Runtime_V1_StopPodSandboxRequest()
        stop.podSandboxID = sandbox.id
        _ = try await client.stopPodSandbox(stop)
        var remove = Runtime_V1_RemovePodSandboxRequest()
        remove.podSandboxID = sandbox.id
        _ = try await client.removePodSandbox(remove)
    }
}

func manifest(_ name: String) -> String {
    """
    metadata: {name: \(name)}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: c, image: "\(image)", imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]
    """
}

/// Writes `count` manifests, lets the kubelet see them, steps it until all run; returns the
/// per-pod latency from first seen to all containers running. Removes the pods afterwards.
func kubeletStart(_ client: CRIClient, node: NodeInfo, directory: String, count: Int, round: Int) async throws -> [Double] {
    for i in 0..<count { try manifest("bench-\(round)-\(i)").write(toFile: "\(directory)/bench-\(i).yaml", atomically: true, encoding: .utf8) }
    let kubelet = Kubelet(node: node, runtime: client, sources: [StaticPodSource(directory: directory, nodeName: node.nodeName)])
    let added = await kubelet.syncSources().added
    guard added.count == count else { throw BenchError("kubelet saw \(added.count) of \(count) pods: \(await kubelet.sourceErrors)") }
    var latencies: [Double] = []
    let deadline = ContinuousClock.now + .seconds(120)
    while latencies.count < count {
        guard ContinuousClock.now < deadline else { throw BenchError("pods did not all start within 120 s") }
        await kubelet.syncAll()
        latencies = []
        for uid in added {
            guard let worker = await kubelet.worker(uid: uid), let at = await worker.allRunningAt else { continue }
            latencies.append(at.timeIntervalSince(worker.firstSeen))
        }
    }
    for i in 0..<count { try FileManager.default.removeItem(atPath: "\(directory)/bench-\(i).yaml") }
    await kubelet.syncSources()
    return latencies
}

func line(_ label: String, _ values: [Double]) -> String {
    String(format: "%-34@ n=%3d  p50 %7.1f ms  p99 %7.1f ms", label as NSString, values.count, percentile(values, 50) * 1000, percentile(values, 99) * 1000)
}

/// Runs the measurements against a started containerd and prints the table.
func bench(_ fixture: ContainerdFixture, _ options: Options) async throws {
    let client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath))
    do {
        try await measure(client, fixture, options)
    } catch {
        await client.close()
        throw error
    }
    await client.close()
}

func measure(_ client: CRIClient, _ fixture: ContainerdFixture, _ options: Options) async throws {
    let directory = fixture.stateDir + "/manifests"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let root = fixture.stateDir + "/kubelet"
    let node = NodeInfo(nodeName: "bench", rootDirectory: root, podLogsDirectory: root + "/logs/pods", resolvConf: "nameserver 127.0.0.53\n")
    // Warm-up: the first sandbox and container pay for snapshot unpacking and the connection.
    _ = try await directStart(client, fixture, name: "warmup")
    try await removeAll(client)

    var floorOne: [Double] = [], kubeletOne: [Double] = []
    for round in 0..<options.rounds {
        floorOne.append(try await directStart(client, fixture, name: "floor-\(round)"))
        try await removeAll(client)
        kubeletOne += try await kubeletStart(client, node: node, directory: directory, count: 1, round: round)
        try await removeAll(client)
    }
    let floorBurst = try await withThrowingTaskGroup(of: Double.self) { group in
        for i in 0..<options.burst { group.addTask { try await directStart(client, fixture, name: "burst-\(i)") } }
        return try await group.reduce(into: []) { $0.append($1) }
    }
    try await removeAll(client)
    let kubeletBurst = try await kubeletStart(client, node: node, directory: directory, count: options.burst, round: 999)
    try await removeAll(client)

    print("pod start latency (debug or release as built; containerd \(fixture.socketPath), busybox sleep)")
    print(line("floor, 1 pod (direct CRI)", floorOne))
    print(line("kubelet, 1 pod", kubeletOne))
    print(line("floor, \(options.burst) pods at once", floorBurst))
    print(line("kubelet, \(options.burst) pods at once", kubeletBurst))
    print(String(format: "ratio kubelet/floor p50: 1 pod %.2f, %d pods %.2f (goal <= 1.50)",
                 percentile(kubeletOne, 50) / percentile(floorOne, 50), options.burst,
                 percentile(kubeletBurst, 50) / percentile(floorBurst, 50)))
}

// Top-level code runs on the main actor: a `Task {}` made here would inherit it and never run
// while the main thread waits on a semaphore (the bench hung that way), so the top level awaits.
let options: Options
do { options = try Options(Array(CommandLine.arguments.dropFirst())) } catch {
    print("kubelet-bench: \(error)")
    exit(2)
}
if let reason = ContainerdFixture.skipReason {
    print("kubelet-bench: cannot run: \(reason)")
    exit(2)
}
let fixture: ContainerdFixture
do { fixture = try ContainerdFixture.start() } catch {
    print("kubelet-bench: starting containerd failed: \(error)")
    exit(1)
}
var failure: String?
do { try await bench(fixture, options) } catch { failure = "\(error)" }
try? fixture.shutdown()
if let failure {
    print("kubelet-bench: \(failure)")
    exit(1)
}

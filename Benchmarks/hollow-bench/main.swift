// hollow-bench: scheduler throughput end to end, through the real API server, with hollow nodes.
//
// One process runs the API server (HTTPS, the embedded store in a temporary directory unless
// `--store memory`), the real `SchedulerRunner` talking to it through `HTTPKubeClient` with the
// server's admin kubeconfig, and a fleet of hollow kubelets: each registers a Node (capacity,
// allocatable, Ready condition, podCIDR) and its Lease in kube-node-lease, renews the Lease
// 10 s after its last renewal (plus up to 4% jitter, as the kubelet's lease controller does; on
// a client of their own, as the kubelet's heartbeat client), and marks the pods bound to it
// Running through the status subresource (a fake runtime: no containerd, no network; a failed
// status write is tried again after a backoff, as the kubelet's status manager does). The fleet
// shares one pod watch and one client (and one for the Leases) instead of one watch per node,
// so that 5,000 hollow kubelets stay cheap on two cores.
//
// As scheduler_perf's SchedulingBasic: `--init-pods` pods (default 1,000) are created and
// bound first; then the measured pods are created by 16 concurrent clients while the scheduler
// runs. The creators, like the fleet's status writes, read only the status of each answer:
// upstream's creators decode the created Pod (protobuf, a few microseconds in Go), which here,
// as typed JSON, cost about 0.1 ms of the two cores per pod.
//
// Measured per node count: scheduler_perf's SchedulingThroughput (the bound-pod count
// sampled on a one-second ticker from the first binding until all are bound, each sample the
// new bindings over the seconds since the last, as upstream's throughputCollector: average and
// median of the samples; upstream's threshold at 5,000 nodes, 680-810 pods/s, applies to the
// average); the Lease renewals a second while measuring, beside the kubelets' rate; pods/s
// from the first create to the last binding seen on the watch, and to the last pod seen
// Running; per-pod latency from the create's reply to the binding seen (p50, p99).
//
//   swift run -c release hollow-bench [--quick] [--nodes 1000,5000] [--pods 3000] [--init-pods 1000]
//       [--binding-concurrency 16] [--store memory|embedded] [--kubelets hollow|none]
//   swift run -c release hollow-bench --decode 2000     # the clients' typed decoding alone
//   swift run -c release hollow-bench --encode 20000    # the clients' request encoding alone
import APIServer
import Controllers
import Foundation
import KubeAPI
import KubeClient
import Logging
import ProcessAllocator
import Store
import Synchronization

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

struct Options {
    var nodeCounts = [1000, 5000]
    var pods = 3000
    var inMemory = false
    /// Concurrent pod creates. Upstream's createPods runs 30 workers (test/utils' CreatePod);
    /// 16 here already create faster than the scheduler binds (created pods/s in the table).
    var creators = 16
    /// Pods scheduled before the measurement starts (scheduler_perf's initPods: 1,000 in
    /// SchedulingBasic/5000Nodes).
    var initPods = 1000
    /// The scheduler's binding cycles in flight at once (1: each binding awaited before the
    /// next scheduling cycle, as before asynchronous binding).
    var bindingConcurrency = 16
    /// `--decode N`: time the clients' typed decoding alone, N decodes per object, instead.
    var decodeIterations: Int?
    /// `--encode N`: time the clients' request encoding alone, N encodes per body, instead.
    var encodeIterations: Int?
    /// `--commit-delay MICROSECONDS`: the embedded store's group-commit delay (default: the
    /// store's, ``LocalStoreOptions/groupCommitDelay``; 0 turns it off).
    var commitDelay: Duration?
    /// `--scheduler-client in-process|https`: how the scheduler reaches the API server. In
    /// process (the default) as in `nodekit server`, whose control plane uses its own server's
    /// handler; or over HTTPS like the fleet and the creators (and a kube-scheduler of its own).
    var schedulerInProcess = true
    /// `--kubelets none`: scheduler_perf's own set-up, for a like-for-like reading of its
    /// thresholds: the nodes are registered, but nothing renews their Leases or runs their pods
    /// (the measurement ends when all are bound). The default, `hollow`, is this benchmark's.
    var hollowKubelets = true

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            switch flag {
            case "--quick":
                nodeCounts = [1000]
                pods = 1000
            case "--nodes":
                guard let value = rest.popFirst() else { throw BenchError(description: "--nodes needs a value, e.g. 1000,5000") }
                let counts = value.split(separator: ",").map { Int($0) }
                guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) > 0 }) else { throw BenchError(description: "--nodes \(value): expected positive integers separated by commas") }
                nodeCounts = counts.map { $0! }
            case "--pods":
                guard let value = rest.popFirst(), let n = Int(value), n > 0 else { throw BenchError(description: "--pods needs a positive integer") }
                pods = n
            case "--init-pods":
                guard let value = rest.popFirst(), let n = Int(value), n >= 0 else { throw BenchError(description: "--init-pods needs a non-negative integer") }
                initPods = n
            case "--binding-concurrency":
                guard let value = rest.popFirst(), let n = Int(value), n > 0 else { throw BenchError(description: "--binding-concurrency needs a positive integer") }
                bindingConcurrency = n
            case "--decode":
                guard let value = rest.popFirst(), let n = Int(value), n > 0 else { throw BenchError(description: "--decode needs a positive number of decodes") }
                decodeIterations = n
            case "--encode":
                guard let value = rest.popFirst(), let n = Int(value), n > 0 else { throw BenchError(description: "--encode needs a positive number of encodes") }
                encodeIterations = n
            case "--commit-delay":
                guard let value = rest.popFirst(), let n = Int(value), n >= 0, n <= 1_000_000 else { throw BenchError(description: "--commit-delay needs microseconds from 0 to 1000000") }
                commitDelay = .microseconds(n)
            case "--scheduler-client":
                switch rest.popFirst() {
                case "in-process": schedulerInProcess = true
                case "https": schedulerInProcess = false
                case let other: throw BenchError(description: "--scheduler-client \(other ?? ""): expected in-process or https")
                }
            case "--kubelets":
                switch rest.popFirst() {
                case "hollow": hollowKubelets = true
                case "none": hollowKubelets = false
                case let other: throw BenchError(description: "--kubelets \(other ?? ""): expected hollow or none")
                }
            case "--store":
                switch rest.popFirst() {
                case "memory": inMemory = true
                case "embedded": inMemory = false
                case let other: throw BenchError(description: "--store \(other ?? ""): expected memory or embedded")
                }
            default:
                throw BenchError(description: "unknown argument \(flag); usage: hollow-bench [--quick] [--nodes 1000,5000] [--pods N] [--init-pods N] [--binding-concurrency N] [--store memory|embedded] [--commit-delay MICROSECONDS] [--scheduler-client in-process|https] [--kubelets hollow|none] [--decode N] [--encode N]")
            }
        }
    }
}

/// Runs up to `width` jobs at a time, in submission order.
actor WorkQueue<Item: Sendable> {
    let width: Int
    let work: @Sendable (Item) async -> Void
    private var pending: [Item] = []
    private var head = 0
    private var running = 0

    init(width: Int, work: @escaping @Sendable (Item) async -> Void) {
        self.width = width
        self.work = work
    }

    func submit(_ item: Item) {
        pending.append(item)
        guard running < width else { return }
        running += 1
        Task { await self.drain() }
    }

    private func next() -> Item? {
        guard head < pending.count else {
            running -= 1
            pending.removeAll(keepingCapacity: true)
            head = 0
            return nil
        }
        head += 1
        return pending[head - 1]
    }

    private func drain() async {
        while let item = next() { await work(item) }
    }
}

/// When each measured pod was created, bound and seen Running. Pods are numbered by their name.
final class Recorder: Sendable {
    struct Times {
        var createStart: [ContinuousClock.Instant?]
        var created: [ContinuousClock.Instant?]
        var bound: [ContinuousClock.Instant?]
        var running: [ContinuousClock.Instant?]
        var createdCount = 0
        var boundCount = 0
        var runningCount = 0
        var createFailures: [String] = []
        /// Names of the init pods seen bound.
        var initBound: Set<String> = []
    }

    let times: Mutex<Times>
    let count: Int

    init(pods: Int) {
        count = pods
        times = Mutex(Times(createStart: .init(repeating: nil, count: pods), created: .init(repeating: nil, count: pods),
                            bound: .init(repeating: nil, count: pods), running: .init(repeating: nil, count: pods)))
    }

    static let prefix = "pod-"
    static let initPrefix = "init-"

    func index(_ pod: some KubeObject) -> Int? {
        guard pod.metadata.namespace == Hollow.namespace, let name = pod.metadata.name, name.hasPrefix(Self.prefix),
              let i = Int(name.dropFirst(Self.prefix.count)), i >= 0, i < count else { return nil }
        return i
    }

    func sawBound(_ pod: some KubeObject, at t: ContinuousClock.Instant) {
        if let name = pod.metadata.name, name.hasPrefix(Self.initPrefix) {
            times.withLock { _ = $0.initBound.insert(name) }
            return
        }
        guard let i = index(pod) else { return }
        times.withLock { if $0.bound[i] == nil { $0.bound[i] = t; $0.boundCount += 1 } }
    }

    func sawRunning(_ pod: some KubeObject, at t: ContinuousClock.Instant) {
        guard let i = index(pod) else {
            sawBound(pod, at: t)
            return
        }
        times.withLock {
            if $0.bound[i] == nil { $0.bound[i] = t; $0.boundCount += 1 }
            if $0.running[i] == nil { $0.running[i] = t; $0.runningCount += 1 }
        }
    }
}

/// The hollow kubelets of one cluster: Nodes and Leases, lease renewal, and pods started in a
/// fake runtime.
actor Hollow {
    static let namespace = "bench"
    static let leaseNamespace = "kube-node-lease"
    static let leaseDuration: Int32 = 40
    static let renewInterval: Duration = .seconds(10)

    let client: any KubeAPIClient
    /// The Lease renewals' client, as the kubelet's heartbeat client: its own connections, so
    /// that renewals do not wait behind the pods' requests.
    let heartbeatClient: any KubeAPIClient
    let names: [String]
    let recorder: Recorder
    private var leases: [String: Lease] = [:]
    private var started: Set<String> = []
    private var podsOnNode: [String: Int] = [:]
    private var starter: WorkQueue<HollowPod>!
    private var renewer: WorkQueue<Int>!
    private var statusWriter: WorkQueue<StatusWrite>!
    /// Status writes that failed and were tried again.
    private(set) var statusRetries = 0
    /// Status writes given up (the pod is gone).
    private(set) var statusFailures = 0
    private(set) var renewals = 0
    private(set) var renewFailures = 0
    /// False with `--kubelets none`: pods bound to the nodes are recorded, never started.
    private var runsPods = true

    func runNoPods() { runsPods = false }

    init(client: any KubeAPIClient, heartbeatClient: any KubeAPIClient, nodes: Int, recorder: Recorder) {
        self.client = client
        self.heartbeatClient = heartbeatClient
        self.names = (0..<nodes).map { "hollow-\($0)" }
        self.recorder = recorder
    }

    func setUp() {
        starter = WorkQueue(width: 8) { pod in await self.start(pod) }
        statusWriter = WorkQueue(width: 8) { write in await self.writeStatus(write) }
        renewer = WorkQueue(width: Self.renewWidth) { i in await self.renew(i) }
    }

    /// Time stamps as a kubelet writes them (``KubeTime``: no date formatter, which cost 15-30 µs
    /// a call, load-generator work that Go's kubelets do in well under one).
    static func microTime(_ date: Date) -> String { KubeTime.microTime(date) }

    static func time(_ date: Date) -> String { KubeTime.time(date) }

    /// Node i's InternalIP and pod CIDR: distinct for every i below 65,536.
    static func nodeIP(_ i: Int) -> String { "100.64.\(i >> 8).\(i & 255)" }
    static func podCIDR(_ i: Int) -> String { "10.\(128 + (i >> 8)).\(i & 255).0/24" }

    static func node(_ i: Int, name: String) -> Node {
        let now = time(Date())
        var ready = NodeCondition(type: "Ready", status: "True", reason: "KubeletReady", message: "hollow kubelet is posting ready status")
        ready.lastHeartbeatTime = now
        ready.lastTransitionTime = now
        var conditions = [ready]
        for (type, reason) in [("MemoryPressure", "KubeletHasSufficientMemory"), ("DiskPressure", "KubeletHasNoDiskPressure"), ("PIDPressure", "KubeletHasSufficientPID")] {
            var c = NodeCondition(type: type, status: "False", reason: reason)
            c.lastHeartbeatTime = now
            c.lastTransitionTime = now
            conditions.append(c)
        }
        var status = NodeStatus(capacity: ["cpu": "4", "memory": "32Gi", "pods": "110"], allocatable: ["cpu": "4", "memory": "32Gi", "pods": "110"], conditions: conditions)
        status.addresses = [NodeAddress(type: "InternalIP", address: nodeIP(i)), NodeAddress(type: "Hostname", address: name)]
        return Node(metadata: ObjectMeta(name: name, labels: ["kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "zone-\(i % 3)", "nodekit.io/hollow": "true"]),
                    spec: NodeSpec(podCIDR: podCIDR(i)), status: status)
    }

    /// Creates every Node (with its status) and Lease, `width` at a time.
    func register(width: Int) async throws {
        let client = self.client
        let failures = Mutex<[String]>([])
        let queue = WorkQueue<Int>(width: width) { [names] i in
            let name = names[i]
            do {
                let node = Self.node(i, name: name)
                let created = try await client.create(node)
                if created.status?.allocatable == nil {
                    // A server that drops status on create gets it through the subresource, as
                    // the kubelet's first status sync does.
                    let _: Node = try await client.update(Node(metadata: created.metadata, spec: created.spec, status: node.status), subresource: "status", options: WriteOptions())
                }
                let now = Self.microTime(Date())
                let lease = try await client.create(Lease(metadata: ObjectMeta(name: name, namespace: Self.leaseNamespace),
                                                          spec: LeaseSpec(holderIdentity: name, leaseDurationSeconds: Self.leaseDuration, renewTime: now)))
                await self.remember(lease)
            } catch {
                failures.withLock { $0.append("\(name): \(error)") }
            }
        }
        for i in names.indices { await queue.submit(i) }
        while leases.count + failures.withLock({ $0.count }) < names.count { try await Task.sleep(for: .milliseconds(20)) }
        if let first = failures.withLock({ $0.first }) {
            throw BenchError(description: "registering \(names.count) hollow nodes: \(failures.withLock { $0.count }) failed, first: \(first)")
        }
    }

    private func remember(_ lease: Lease) { leases[lease.metadata.name ?? ""] = lease }

    /// Renews each node's Lease as the kubelet's lease controller does: `renewInterval` after
    /// its previous renewal finished, plus up to 4% jitter (`wait.JitterUntil(sync, 10 s, 0.04,
    /// sliding: true)`), so a node never has two renewals at once and a slow server does not
    /// bunch them. Due renewals sit in a wheel of `wheelSlots` slots of `wheelTick` each and
    /// go out on `heartbeatClient`, `renewWidth` at a time, like 5,000 kubelets that each wait
    /// only for their own call. Until cancelled.
    func renewLeases() async {
        let clock = ContinuousClock()
        let origin = clock.now
        wheelOrigin = origin
        // The nodes registered one after another: their first renewals spread over one interval.
        for i in names.indices { schedule(i, after: Self.renewInterval * (Double(i) / Double(names.count))) }
        var next = 0
        while !Task.isCancelled {
            let now = clock.now
            let current = Int(seconds(now - origin) / seconds(Self.wheelTick))
            while next <= current {
                let slot = next % Self.wheelSlots
                let due = wheel[slot]
                wheel[slot] = []
                for i in due { await renewer.submit(i) }
                next += 1
            }
            try? await Task.sleep(until: origin + Self.wheelTick * (next), clock: clock)
        }
    }

    static let wheelTick: Duration = .milliseconds(10)
    /// 20.48 s of slots: the longest wait (interval plus 4% jitter) fits with room to spare.
    static let wheelSlots = 2048
    /// Renewals in flight at once. A kubelet waits only for its own call. 16 keep up with the
    /// kubelets' rate (nodes / 10.2 s) at the ~30 ms a renewal takes under the benchmark's load
    /// (475 a second measured against 490), and the client keeps 16 idle connections: with 64
    /// in flight it opened and closed connections, a TLS handshake each, for 0.5 ms of CPU per pod.
    static let renewWidth = 16
    private var wheel: [[Int]] = Array(repeating: [], count: Hollow.wheelSlots)
    private var wheelOrigin: ContinuousClock.Instant?

    /// Puts node `i`'s next renewal `delay` from now on the wheel.
    private func schedule(_ i: Int, after delay: Duration) {
        guard let origin = wheelOrigin else { return }
        let at = ContinuousClock.now + delay
        let tick = Int((seconds(at - origin) / seconds(Self.wheelTick)).rounded(.up))
        wheel[tick % Self.wheelSlots].append(i)
    }

    /// The lease controller's wait: the interval plus up to 4% of it.
    static func renewWait() -> Duration { renewInterval * (1 + Double.random(in: 0..<0.04)) }

    private func renew(_ i: Int) async {
        let name = names[i]
        defer { schedule(i, after: Self.renewWait()) }
        guard var lease = leases[name] else { return }
        lease.spec?.renewTime = Self.microTime(Date())
        do {
            leases[name] = try await heartbeatClient.update(lease)
            renewals += 1
        } catch {
            renewFailures += 1
            // A stale resourceVersion: take the current one for the next round.
            if error.isConflict, let current = try? await heartbeatClient.get(Lease.self, namespace: Self.leaseNamespace, name: name) { leases[name] = current }
        }
    }

    /// Lists and watches bound pods: records bindings and Running pods, and starts each pod
    /// bound to a hollow node. Like kubelets, which watch `spec.nodeName=<node>`, the fleet
    /// never sees a pod before it is bound (`spec.nodeName!=`): a binding arrives as ADDED.
    /// Re-watches from the last resourceVersion; re-lists after an error.
    func watchPods() async {
        let bound = "spec.nodeName!="
        while !Task.isCancelled {
            do {
                let list = try await client.list(HollowPod.self, namespace: Self.namespace, options: ListOptions(fieldSelector: bound, omitManagedFields: true))
                for p in list.items { observe(p) }
                var version = list.metadata.resourceVersion
                while !Task.isCancelled {
                    // Batches, as SchedulerRunner takes them: one hop onto this actor per
                    // batch the server wrote, not per event.
                    let stream = try await client.watchBatches(HollowPod.self, namespace: Self.namespace,
                                                               options: ListOptions(fieldSelector: bound, resourceVersion: version, timeoutSeconds: 300,
                                                                                    allowWatchBookmarks: true, omitManagedFields: true))
                    for try await batch in stream {
                        for event in batch {
                            if let rv = event.resourceVersion { version = rv }
                            switch event {
                            case .added(let pod), .modified(let pod): observe(pod)
                            case .deleted, .bookmark: break
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private func observe(_ pod: HollowPod) {
        let now = ContinuousClock.now
        guard let node = pod.spec.nodeName, !node.isEmpty else { return }
        if pod.status?.phase == "Running" {
            recorder.sawRunning(pod, at: now)
            return
        }
        recorder.sawBound(pod, at: now)
        let key = pod.metadata.name ?? ""
        guard pod.metadata.deletionTimestamp == nil, started.insert(key).inserted else { return }
        guard runsPods else { return }
        Task { await starter.submit(pod) }
    }

    /// The fake runtime: the pod's containers start at once; the status says so.
    private func start(_ pod: HollowPod) async {
        guard let node = pod.spec.nodeName, let i = Int(node.dropFirst("hollow-".count)) else { return }
        let k = podsOnNode[node, default: 0]
        podsOnNode[node] = k + 1
        let patch = Self.runningStatus(pod, node: i, podIP: "10.\(128 + (i >> 8)).\(i & 255).\(2 + k % 250)")
        await writeStatus(StatusWrite(namespace: pod.metadata.namespace ?? "", name: pod.metadata.name ?? "", patch: patch, attempt: 0))
    }

    /// The merge patch that marks `pod`, started on node `i`, Running.
    static func runningStatus(_ pod: HollowPod, node i: Int, podIP: String) -> JSONValue {
        let now = Self.time(Date())
        let containers: [JSONValue] = pod.spec.containers.map { c in
            .object(["name": .string(c.name), "image": .string(c.image ?? ""), "imageID": .string(""), "ready": .bool(true), "started": .bool(true),
                     "restartCount": .number(0), "containerID": .string("hollow://\(pod.metadata.uid ?? "")/\(c.name)"),
                     "state": .object(["running": .object(["startedAt": .string(now)])])])
        }
        let conditions: [JSONValue] = ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"].map {
            .object(["type": .string($0), "status": .string("True"), "lastTransitionTime": .string(now)])
        }
        return .object(["status": .object([
            "phase": .string("Running"), "hostIP": .string(Self.nodeIP(i)), "hostIPs": .array([.object(["ip": .string(Self.nodeIP(i))])]),
            "podIP": .string(podIP), "podIPs": .array([.object(["ip": .string(podIP)])]), "startTime": .string(now), "qosClass": .string("Burstable"),
            "conditions": .array(conditions), "containerStatuses": .array(containers),
        ])])
    }

    /// One status write of the fake runtime, and how many times it failed before.
    struct StatusWrite: Sendable {
        var namespace: String
        var name: String
        var patch: JSONValue
        var attempt: Int
    }

    /// The first retry's delay, doubled per failure up to `maximumStatusBackoff`.
    static let initialStatusBackoff: Duration = .milliseconds(200)
    /// The kubelet's status manager retries a status it could not write at its next sync, at
    /// most 10 s later (syncPeriod); this is the longest wait between tries.
    static let maximumStatusBackoff: Duration = .seconds(10)

    static func statusBackoff(afterFailures failures: Int) -> Duration {
        var delay = initialStatusBackoff
        for _ in 1..<max(failures, 1) where delay < maximumStatusBackoff { delay *= 2 }
        return min(delay, maximumStatusBackoff)
    }

    /// Writes the status; a failed write (a timeout under load, a 5xx) is tried again after a
    /// backoff, as the kubelet's status manager keeps an unwritten status and syncs it again.
    /// A pod that is gone (404) is given up.
    private func writeStatus(_ write: StatusWrite) async {
        do {
            try await client.mergePatchDiscardingResult(Pod.self, namespace: write.namespace, name: write.name, write.patch, subresource: "status")
        } catch {
            if error.isNotFound {
                statusFailures += 1
                return
            }
            statusRetries += 1
            var next = write
            next.attempt += 1
            let delay = Self.statusBackoff(afterFailures: next.attempt)
            Task {
                try? await Task.sleep(for: delay)
                if Task.isCancelled { return }
                await self.statusWriter.submit(next)
            }
        }
    }
}

/// What a hollow kubelet reads of a pod: its name, node, phase, deletion and containers. The
/// fleet's list and watch decode only these (and leave managedFields out): upstream's
/// scheduler_perf runs no kubelets at all, so the fleet's decoding is load the measurement
/// carries beyond upstream's, and it reads nothing else. The scheduler's client decodes whole
/// Pods, as upstream's does.
struct HollowPod: KubeObject {
    static let apiVersion = "v1"
    static let kind = "Pod"

    struct Container: Codable, Sendable {
        var name: String
        var image: String?
    }

    struct Spec: Codable, Sendable {
        var nodeName: String?
        var containers: [Container]
    }

    struct Status: Codable, Sendable {
        var phase: String?
    }

    var metadata: ObjectMeta
    var spec: Spec
    var status: Status?
}

func basicPod(_ i: Int) -> Pod {
    var c = Container(name: "c", image: "nodekit/busybox")
    c.resources = ResourceRequirements(requests: ["cpu": "100m", "memory": "128Mi"])
    return Pod(metadata: ObjectMeta(name: Recorder.prefix + "\(i)", namespace: Hollow.namespace, labels: ["app": "bench"]), spec: PodSpec(containers: [c]))
}

/// scheduler_perf's throughput collector (test/integration/scheduler_perf's
/// throughputCollector): on a one-second ticker, once a measured pod is bound, the first tick
/// only starts the count (upstream skips it as an outlier); each later tick that saw new
/// bindings records their number divided by the seconds since the last recorded tick, once
/// for every tick since then (a tick with none is skipped and folded into the next). Sampling
/// stops when all are bound, so the last, partial second is not a sample. Its threshold
/// applies to the average.
struct ThroughputSamples {
    static let interval: Duration = .seconds(1)
    var samples: [Double] = []
    /// Measured pods created and seen Running between recorded ticks (not upstream's: they
    /// show what the scheduler competed with in a slow second).
    var created: [Int] = []
    var running: [Int] = []
    private var started = false
    private var skipped = 0
    private var last = (bound: 0, created: 0, running: 0)
    private var lastTime: ContinuousClock.Instant?

    mutating func tick(bound: Int, created: Int, running: Int, at now: ContinuousClock.Instant) {
        guard bound > 0 else {
            last.created = created
            last.running = running
            return
        }
        guard started, let lastTime else {
            started = true
            last = (bound, created, running)
            lastTime = now
            return
        }
        guard bound > last.bound else {
            skipped += 1
            return
        }
        let rate = Double(bound - last.bound) / seconds(now - lastTime)
        for _ in 0...skipped {
            samples.append(rate)
            self.created.append((created - last.created) / (skipped + 1))
            self.running.append((running - last.running) / (skipped + 1))
        }
        skipped = 0
        last = (bound, created, running)
        self.lastTime = now
    }

    var average: Double { samples.isEmpty ? .nan : samples.reduce(0, +) / Double(samples.count) }

    /// Upstream's index: ceil(n * p / 100) - 1 of the sorted samples.
    func percentile(_ p: Int) -> Double {
        guard !samples.isEmpty else { return .nan }
        let sorted = samples.sorted()
        return sorted[max(0, (sorted.count * p + 99) / 100 - 1)]
    }
}

/// CPU time of this process's threads, from /proc/self/task/*/stat (utime + stime).
struct ThreadCPU {
    /// Seconds used by each thread so far, keyed "name tid".
    var byThread: [String: Double] = [:]

    /// Clock ticks per second in /proc: USER_HZ, fixed at 100 by Linux's user ABI.
    static let ticksPerSecond = 100.0

    static func sample() -> ThreadCPU {
        var cpu = ThreadCPU()
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for tid in tasks {
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            // After "(comm)": state, ppid, ... utime is the 14th field of the line, stime the 15th.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            cpu.byThread["\(stat[stat.index(after: open)..<close]) \(tid)"] = (user + system) / ticksPerSecond
        }
        return cpu
    }

    /// CPU used between `start` and this sample, per thread name with its tid dropped (the
    /// event loops and the pool's threads are told apart by name only where their names differ).
    func since(_ start: ThreadCPU) -> [String: Double] {
        var out: [String: Double] = [:]
        for (key, value) in byThread {
            let name = String(key[..<(key.lastIndex(of: " ") ?? key.endIndex)])
            out[name, default: 0] += value - (start.byThread[key] ?? 0)
        }
        return out
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

struct Row {
    var nodes: Int
    var pods: Int
    var registerSeconds: Double
    var createdPerSecond: Double
    var boundPerSecond: Double
    var runningPerSecond: Double
    var p50: Double
    var p99: Double
    /// scheduler_perf's SchedulingThroughput: the bound-pod count sampled every second.
    var throughput: ThroughputSamples
    var renewals: Int
    /// Lease renewals a second while measuring (the kubelets' rate: nodes / 10.2 s).
    var renewalsPerSecond: Double
    /// Status writes that failed and were tried again (not failures: they are retried).
    var statusRetries: Int
    var failures: String
    /// Seconds of wall time and CPU per thread name while the measured pods were created and
    /// scheduled (from the first create until all ran or the deadline).
    var measuredSeconds: Double
    var cpuByThread: [String: Double]
    /// The store's counts over the whole run (registration and init pods included).
    var store: LocalStore.Statistics
    var commitDelay: Duration
}

/// Starts an API server over HTTPS on a free loopback port with its data in `directory`;
/// returns its configuration (the kubeconfig path) and the serving task, which stops it when
/// cancelled.
func startServer(store: any Store, directory: String) async throws -> (APIServer, Task<Void, any Error>) {
    var configuration = APIServerConfiguration(dataDirectory: directory)
    configuration.bindAddress = "127.0.0.1"
    configuration.securePort = 0
    let server = try APIServer(store: store, configuration: configuration)
    try await server.bootstrap()
    let (listening, continuation) = AsyncStream<APIServerEndpoints>.makeStream()
    let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
    var ports = listening.makeAsyncIterator()
    guard await ports.next() != nil else {
        serving.cancel()
        throw BenchError(description: "the API server did not start")
    }
    return (server, serving)
}

/// One cluster of `nodes` hollow nodes: registers them, starts the scheduler, creates `pods`
/// pods and waits until all run (or a deadline passes).
func measure(nodes: Int, pods: Int, options: Options) async throws -> Row {
    // A hollow node has 4 CPUs and each pod asks for 100m: 40 pods a node (below its 110-pod
    // limit). Pods beyond that never bind, and the run would only wait for its deadline.
    let room = nodes * 40
    guard pods + options.initPods + 1 <= room else {
        throw BenchError(description: "\(pods) pods and \(options.initPods) init pods do not fit on \(nodes) hollow nodes (40 pods each: 4 CPUs, 100m a pod; at most \(room - options.initPods - 1) pods)")
    }
    let directory = NSTemporaryDirectory() + "nk-hollow-bench-\(ProcessInfo.processInfo.processIdentifier)-\(nodes)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var storeOptions = LocalStoreOptions()
    if let delay = options.commitDelay { storeOptions.groupCommitDelay = delay }
    if !options.inMemory { try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: true) }
    let store = options.inMemory ? LocalStore.inMemory(options: storeOptions) : try LocalStore.open(directory: directory + "/store", options: storeOptions)
    let (server, serving) = try await startServer(store: store, directory: directory)
    let configuration = server.configuration

    let fleetClient = try HTTPKubeClient(kubeconfigPath: configuration.kubeconfigPath)
    let heartbeatClient = try HTTPKubeClient(kubeconfigPath: configuration.kubeconfigPath)
    let schedulerClient = options.schedulerInProcess
        ? HTTPKubeClient(config: try Kubeconfig.load(path: configuration.kubeconfigPath), inProcess: server.inProcessEndpoint())
        : try HTTPKubeClient(kubeconfigPath: configuration.kubeconfigPath)
    let creatorClient = try HTTPKubeClient(kubeconfigPath: configuration.kubeconfigPath)
    var tasks: [Task<Void, Never>] = []
    defer { for t in tasks { t.cancel() } }

    _ = try await creatorClient.create(Namespace(metadata: ObjectMeta(name: Hollow.namespace)))
    // ServiceAccount admission refuses pods until the namespace has its "default" account, which
    // a cluster's ServiceAccount controller creates; no controllers run here.
    _ = try await creatorClient.create(ServiceAccount(metadata: ObjectMeta(name: "default", namespace: Hollow.namespace)))
    let recorder = Recorder(pods: pods)
    let hollow = Hollow(client: fleetClient, heartbeatClient: heartbeatClient, nodes: nodes, recorder: recorder)
    await hollow.setUp()
    let clock = ContinuousClock()
    let registerStart = clock.now
    try await hollow.register(width: 16)
    let registerSeconds = seconds(clock.now - registerStart)
    if options.hollowKubelets { tasks.append(Task { await hollow.renewLeases() }) } else { await hollow.runNoPods() }
    tasks.append(Task { await hollow.watchPods() })
    let scheduler = SchedulerRunner(client: schedulerClient, maxBindingsInFlight: options.bindingConcurrency, logger: Logger(label: "nodekit.scheduler"))
    tasks.append(Task { await scheduler.run() })

    // A warm-up pod, outside the measurement: once it is bound the scheduler has listed every
    // node (the node list arrives whole) and all connections are open.
    var warm = basicPod(0)
    warm.metadata.name = "warm-up"
    _ = try await creatorClient.create(warm)
    let warmDeadline = clock.now + .seconds(60)
    while try await creatorClient.get(Pod.self, namespace: Hollow.namespace, name: "warm-up").spec.nodeName == nil {
        guard clock.now < warmDeadline else { throw BenchError(description: "the warm-up pod was not bound within 60 s at \(nodes) nodes") }
        try await Task.sleep(for: .milliseconds(20))
    }

    // Upstream's initPods: scheduled (and here started) before the measurement.
    let initCreators = WorkQueue<Int>(width: options.creators) { i in
        var pod = basicPod(i)
        pod.metadata.name = Recorder.initPrefix + "\(i)"
        do { try await creatorClient.createDiscardingResult(pod, options: WriteOptions()) } catch { recorder.times.withLock { $0.createFailures.append("init-\(i): \(error)") } }
    }
    for i in 0..<options.initPods { await initCreators.submit(i) }
    let initDeadline = clock.now + .seconds(120 + options.initPods / 20)
    while recorder.times.withLock({ $0.initBound.count + $0.createFailures.count }) < options.initPods {
        guard clock.now < initDeadline else { throw BenchError(description: "the \(options.initPods) init pods were not bound in time at \(nodes) nodes") }
        try await Task.sleep(for: .milliseconds(20))
    }
    if let failure = recorder.times.withLock({ $0.createFailures.first }) { throw BenchError(description: "creating init pods: \(failure)") }

    // Markers for a profiler attached from outside (perf record -p): the measured window.
    FileHandle.standardError.write(Data("hollow-bench: measuring \(nodes) nodes, pid \(ProcessInfo.processInfo.processIdentifier)\n".utf8))
    let cpuStart = ThreadCPU.sample()
    let renewalsAtStart = await hollow.renewals
    let measureStart = clock.now
    let sampler = Task {
        var samples = ThroughputSamples()
        var nextTick = clock.now + ThroughputSamples.interval
        while !Task.isCancelled {
            // A ticker, as upstream's: ticks keep their one-second grid; a late wake-up drops
            // the ticks it missed (the sample then spans them, and its rate says so).
            try? await Task.sleep(until: nextTick, clock: clock)
            let now = clock.now
            while nextTick <= now { nextTick += ThroughputSamples.interval }
            let (created, bound, running) = recorder.times.withLock { ($0.createdCount, $0.boundCount, $0.runningCount) }
            if bound >= pods { break }
            samples.tick(bound: bound, created: created, running: running, at: now)
        }
        return samples
    }
    let creators = WorkQueue<Int>(width: options.creators) { i in
        recorder.times.withLock { $0.createStart[i] = ContinuousClock.now }
        do {
            try await creatorClient.createDiscardingResult(basicPod(i), options: WriteOptions())
            recorder.times.withLock { $0.created[i] = ContinuousClock.now; $0.createdCount += 1 }
        } catch {
            recorder.times.withLock { $0.createFailures.append("pod-\(i): \(error)") }
        }
    }
    for i in 0..<pods { await creators.submit(i) }
    let deadline = clock.now + .seconds(120 + pods / 50)
    while clock.now < deadline {
        let (running, failed) = recorder.times.withLock { (options.hollowKubelets ? $0.runningCount : $0.boundCount, $0.createFailures.count) }
        if running + failed >= pods { break }
        try await Task.sleep(for: .milliseconds(50))
    }
    let times = recorder.times.withLock { $0 }
    let cpuByThread = ThreadCPU.sample().since(cpuStart)
    let measuredSeconds = seconds(clock.now - measureStart)
    FileHandle.standardError.write(Data("hollow-bench: measured\n".utf8))
    sampler.cancel()
    let throughput = await sampler.value
    let renewals = await hollow.renewals, renewFailures = await hollow.renewFailures
    let renewalsPerSecond = Double(renewals - renewalsAtStart) / measuredSeconds
    let statusFailures = await hollow.statusFailures, statusRetries = await hollow.statusRetries
    for t in tasks { t.cancel() }
    serving.cancel()
    _ = try? await serving.value
    await fleetClient.shutdown()
    await heartbeatClient.shutdown()
    await schedulerClient.shutdown()
    await creatorClient.shutdown()
    let storeStatistics = store.statistics()
    await store.close()

    guard let first = times.createStart.compactMap({ $0 }).min() else { throw BenchError(description: "no pod was created at \(nodes) nodes") }
    var failures: [String] = []
    if !times.createFailures.isEmpty { failures.append("\(times.createFailures.count) creates failed (\(times.createFailures[0]))") }
    if times.boundCount < pods { failures.append("\(pods - times.boundCount) pods not bound") }
    if options.hollowKubelets && times.runningCount < pods { failures.append("\(pods - times.runningCount) pods not Running") }
    if statusFailures > 0 { failures.append("\(statusFailures) status writes failed (pod gone)") }
    if renewFailures > 0 { failures.append("\(renewFailures) lease renewals failed") }
    let lastCreated = times.created.compactMap { $0 }.max() ?? first
    let lastBound = times.bound.compactMap { $0 }.max() ?? first
    let lastRunning = times.running.compactMap { $0 }.max() ?? first
    let latencies = zip(times.created, times.bound).compactMap { c, b in c.flatMap { c in b.map { seconds($0 - c) * 1000 } } }.sorted()
    return Row(nodes: nodes, pods: pods, registerSeconds: registerSeconds,
               createdPerSecond: Double(times.created.count { $0 != nil }) / seconds(lastCreated - first),
               boundPerSecond: Double(times.boundCount) / seconds(lastBound - first),
               runningPerSecond: Double(times.runningCount) / seconds(lastRunning - first),
               p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), throughput: throughput, renewals: renewals, renewalsPerSecond: renewalsPerSecond, statusRetries: statusRetries,
               failures: failures.isEmpty ? "none" : failures.joined(separator: "; "), measuredSeconds: measuredSeconds, cpuByThread: cpuByThread,
               store: storeStatistics, commitDelay: storeOptions.groupCommitDelay)
}

/// A watch event line as a client decodes it: the tree path parses the line and decodes the
/// object from the tree; the direct path decodes the object from the bytes.
struct PodEventLine: Decodable {
    var type: String
    var object: Pod
}

/// The same line as the hollow fleet decodes it.
struct HollowPodEventLine: Decodable {
    var type: String
    var object: HollowPod
}

/// Runs `body` with a client of a scratch API server (in-memory store, data in a temporary
/// directory), for the micro-benchmark modes to get objects as the server returns them; stops
/// the server and removes the directory afterwards, also when `body` throws.
func withScratchServer<T>(_ mode: String, _ body: (HTTPKubeClient) async throws -> T) async throws -> T {
    let directory = NSTemporaryDirectory() + "nk-hollow-bench-\(ProcessInfo.processInfo.processIdentifier)-\(mode)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = LocalStore.inMemory()
    let (server, serving) = try await startServer(store: store, directory: directory)
    let client: HTTPKubeClient
    do { client = try HTTPKubeClient(kubeconfigPath: server.configuration.kubeconfigPath) } catch {
        serving.cancel()
        _ = try? await serving.value
        await store.close()
        throw error
    }
    let result: Result<T, any Error>
    do { result = .success(try await body(client)) } catch { result = .failure(error) }
    await client.shutdown()
    serving.cancel()
    _ = try? await serving.value
    await store.close()
    return try result.get()
}

/// `--decode N`: the clients' typed decoding alone, on the bytes the API server returns for
/// what hollow-bench does to a pod (created, bound, marked Running) and to a node: per object,
/// the JSONValue tree path (`JSONValue.parse` then `decode`, the client before the direct
/// decoder) against `JSONValue.decode(_:fromJSON:omitting:)`, N decodes each, median of 5.
func decodeBench(iterations: Int) async throws {
    let (podBytes, nodeBytes) = try await withScratchServer("decode") { client in
        _ = try await client.create(Namespace(metadata: ObjectMeta(name: Hollow.namespace)))
        _ = try await client.create(ServiceAccount(metadata: ObjectMeta(name: "default", namespace: Hollow.namespace)))
        _ = try await client.create(Hollow.node(0, name: "hollow-0"))
        let pod = try await client.create(basicPod(0))
        try await client.create(binding: Binding(podNamespace: Hollow.namespace, podName: "pod-0", node: "hollow-0", podUID: pod.metadata.uid), options: WriteOptions())
        let bound = try await client.get(HollowPod.self, namespace: Hollow.namespace, name: "pod-0")
        let _: Pod = try await client.mergePatch(Pod.self, namespace: Hollow.namespace, name: "pod-0", Hollow.runningStatus(bound, node: 0, podIP: "10.128.0.2"), subresource: "status")
        return (try await client.getRaw("/api/v1/namespaces/\(Hollow.namespace)/pods/pod-0"), try await client.getRaw("/api/v1/nodes/hollow-0"))
    }

    let eventBytes = Array(#"{"object":"#.utf8) + podBytes + Array(#","type":"MODIFIED"}"#.utf8)
    let managedFields = JSONOmissions([["object", "metadata", "managedFields"]])
    typealias Case = (name: String, bytes: [UInt8], tree: ([UInt8]) throws -> Void, direct: ([UInt8]) throws -> Void)
    let cases: [Case] = [
        ("Pod (created, bound, Running)", podBytes,
         { _ = try JSONValue.parse($0).decode(Pod.self) }, { _ = try JSONValue.decode(Pod.self, fromJSON: $0) }),
        ("Node (hollow)", nodeBytes,
         { _ = try JSONValue.parse($0).decode(Node.self) }, { _ = try JSONValue.decode(Node.self, fromJSON: $0) }),
        ("watch event of that Pod", eventBytes,
         { _ = try JSONValue.parse($0)["object"]?.decode(Pod.self) }, { _ = try JSONValue.decode(PodEventLine.self, fromJSON: $0) }),
        ("the event without managedFields", eventBytes,
         { _ = try JSONValue.parse($0, omitting: managedFields)["object"]?.decode(Pod.self) }, { _ = try JSONValue.decode(PodEventLine.self, fromJSON: $0, omitting: managedFields) }),
        ("the event as the fleet reads it", eventBytes,
         { _ = try JSONValue.parse($0, omitting: managedFields)["object"]?.decode(HollowPod.self) },
         { _ = try JSONValue.decode(HollowPodEventLine.self, fromJSON: $0, omitting: managedFields) }),
    ]
    func time(_ body: ([UInt8]) throws -> Void, _ bytes: [UInt8]) throws -> Double {
        var rounds: [Double] = []
        for _ in 0..<5 {
            let start = ContinuousClock.now
            for _ in 0..<iterations { try body(bytes) }
            rounds.append(seconds(ContinuousClock.now - start) / Double(iterations) * 1e6)
        }
        return rounds.sorted()[2]
    }
    print("typed decoding, \(iterations) decodes per object, median of 5 rounds (load \(try String(contentsOfFile: "/proc/loadavg", encoding: .utf8).split(separator: " ").prefix(3).joined(separator: " ")))")
    print("object                              bytes   tree µs  direct µs  speed-up")
    for c in cases {
        try c.tree(c.bytes)
        try c.direct(c.bytes)
        let tree = try time(c.tree, c.bytes), direct = try time(c.direct, c.bytes)
        print(c.name.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%7d %9.1f %10.1f %8.2fx", c.bytes.count, tree, direct, tree / direct))
    }
}

/// A value encoded through its own `encode(to:)` by JSONStreamEncoder: what
/// `JSONValue.encodeJSON` did for every type before the generated direct encoders (this
/// wrapper has none, so it takes that path; the bytes are the same).
struct ViaCodable<T: Encodable>: Encodable {
    var value: T
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// `--encode N`: the clients' request encoding alone, on the bodies hollow-bench sends: a
/// creator's pod, a hollow node's lease renewal (the lease as the server returned it, with
/// managedFields), the scheduler's binding, a hollow node's create. Per body, JSONStreamEncoder
/// over `encode(to:)` (`ViaCodable`) against `JSONValue.encodeJSON` (the direct encoders),
/// alternating, N encodes each per round, median of 5 rounds.
func encodeBench(iterations: Int) async throws {
    let node = Hollow.node(0, name: "hollow-0")
    var lease = try await withScratchServer("encode") { client in
        _ = try await client.create(node)
        return try await client.create(Lease(metadata: ObjectMeta(name: "hollow-0", namespace: Hollow.leaseNamespace),
                                             spec: LeaseSpec(holderIdentity: "hollow-0", leaseDurationSeconds: Hollow.leaseDuration, renewTime: Hollow.microTime(Date()))))
    }
    lease.spec?.renewTime = Hollow.microTime(Date())

    let pod = basicPod(0)
    let binding = Binding(podNamespace: Hollow.namespace, podName: "pod-0", node: "hollow-0", podUID: UUID().uuidString.lowercased())
    typealias Case = (name: String, codable: () throws -> [UInt8], direct: () throws -> [UInt8])
    let cases: [Case] = [
        ("Pod (a creator's)", { try JSONValue.encodeJSON(ViaCodable(value: pod)) }, { try JSONValue.encodeJSON(pod) }),
        ("Lease (a renewal)", { try JSONValue.encodeJSON(ViaCodable(value: lease)) }, { try JSONValue.encodeJSON(lease) }),
        ("Binding (the scheduler's)", { try JSONValue.encodeJSON(ViaCodable(value: binding)) }, { try JSONValue.encodeJSON(binding) }),
        ("Node (a hollow node's create)", { try JSONValue.encodeJSON(ViaCodable(value: node)) }, { try JSONValue.encodeJSON(node) }),
    ]
    func once(_ body: () throws -> [UInt8]) throws -> Double {
        let start = ContinuousClock.now
        for _ in 0..<iterations { _ = try body() }
        return seconds(ContinuousClock.now - start) / Double(iterations) * 1e6
    }
    print("request encoding, \(iterations) encodes per body per round, 5 rounds alternating, medians (load \(try String(contentsOfFile: "/proc/loadavg", encoding: .utf8).split(separator: " ").prefix(3).joined(separator: " ")))")
    print("body                              bytes  codable µs  direct µs  speed-up  rounds codable / direct")
    for c in cases {
        let bytes = try c.direct()
        guard try c.codable() == bytes else { throw BenchError(description: "\(c.name): the direct encoder's bytes differ from JSONStreamEncoder's") }
        var codable: [Double] = [], direct: [Double] = []
        for _ in 0..<5 {
            codable.append(try once(c.codable))
            direct.append(try once(c.direct))
        }
        let a = codable.sorted()[2], b = direct.sorted()[2]
        print(c.name.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%7d %11.2f %10.2f %8.2fx  ", bytes.count, a, b, a / b)
              + codable.map { String(format: "%.2f", $0) }.joined(separator: " ") + " / " + direct.map { String(format: "%.2f", $0) }.joined(separator: " "))
    }
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

do {
    // As `nodekit server` and `nodekit apiserver` run: mimalloc on 2 MiB pages
    // (MIMALLOC_LARGE_OS_PAGES=0 in the environment measures without them), and Swift
    // concurrency's jobs on its cooperative pool (NODEKIT_EXECUTOR=event-loops measures NIO's
    // event loops).
    ProcessAllocator.preferLargePages()
    let executor = try EventLoopExecutor.install(environment: ProcessInfo.processInfo.environment)
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    if let iterations = options.decodeIterations {
        try await decodeBench(iterations: iterations)
        exit(0)
    }
    if let iterations = options.encodeIterations {
        try await encodeBench(iterations: iterations)
        exit(0)
    }
    print("hollow-bench: API server (HTTPS, \(options.inMemory ? "in-memory" : "embedded") store) + SchedulerRunner over HTTPKubeClient (\(options.schedulerInProcess ? "in process" : "HTTPS")) + \(options.hollowKubelets ? "hollow kubelets" : "registered nodes without kubelets (scheduler_perf's set-up)"), one process; allocator \(ProcessAllocator.description); jobs on \(executor)")
    print("upstream scheduler_perf SchedulingBasic, 5000 nodes: 680-810 pods/s")
    let widths = [8, 6, 10, 14, 12, 14, 14, 12, 9, 9, 9, 14]
    func row(_ cells: [String]) -> String {
        zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " ") + "  " + (cells.count > widths.count ? cells[widths.count] : "")
    }
    print(row(["nodes", "pods", "register s", "created pods/s", "bound pods/s", "running pods/s", "upstream avg/s", "upstream p50", "p50 ms", "p99 ms", "renewals", "status retries", "failures"]))
    var failed = false
    for nodes in options.nodeCounts {
        let r = try await measure(nodes: nodes, pods: options.pods, options: options)
        print(row(["\(r.nodes)", "\(r.pods)", String(format: "%.1f", r.registerSeconds), String(format: "%.0f", r.createdPerSecond), String(format: "%.0f", r.boundPerSecond), options.hollowKubelets ? String(format: "%.0f", r.runningPerSecond) : "-",
                   String(format: "%.0f", r.throughput.average), String(format: "%.0f", r.throughput.percentile(50)),
                   String(format: "%.1f", r.p50), String(format: "%.1f", r.p99), "\(r.renewals)", "\(r.statusRetries)", r.failures]))
        let cpu = r.cpuByThread.values.reduce(0, +)
        let threads = r.cpuByThread.filter { $0.value >= 0.05 }.sorted { $0.value > $1.value }.map { String(format: "%@ %.2f", $0.key, $0.value / r.measuredSeconds) }
        print(String(format: "  while measuring: %.1f s, %.2f cores, %.2f ms CPU per measured pod, %.0f lease renewals/s (the kubelets' rate: %.0f); cores by thread: ",
                     r.measuredSeconds, cpu / r.measuredSeconds, cpu * 1000 / Double(r.pods), r.renewalsPerSecond, Double(r.nodes) / (seconds(Hollow.renewInterval) * 1.02))
              + threads.joined(separator: ", "))
        if r.store.logSyncs > 0 {
            print(String(format: "  store (whole run): %lld revisions, %lld log fdatasyncs (%.1f writes each), %lld batches held open for the %@ commit delay",
                         r.store.revision, r.store.logSyncs, Double(r.store.revision) / Double(r.store.logSyncs), r.store.delayedFlushes, "\(r.commitDelay)"))
        }
        // The one-second samples upstream's average is taken over, so a slow second shows.
        print("  bound per second: " + r.throughput.samples.map { String(format: "%.0f", $0) }.joined(separator: " "))
        print("  created per second: " + r.throughput.created.map(String.init).joined(separator: " "))
        print("  running per second: " + r.throughput.running.map(String.init).joined(separator: " "))
        if r.failures != "none" { failed = true }
    }
    exit(failed ? 1 : 0)
} catch {
    FileHandle.standardError.write(Data("hollow-bench: \(error)\n".utf8))
    exit(2)
}

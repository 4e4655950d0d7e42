import Foundation
import KubeAPI
import KubeClient
import Logging

/// A deduplicating queue of keys with one sequential worker: a key added while queued is
/// queued once; a key added while its sync runs is synced again afterwards. Failed syncs are
/// retried after a back-off (1 s doubling to 30 s, reset on success).
actor WorkQueue {
    let name: String
    private var queued: Set<String> = []
    private var failures: [String: Int] = [:]
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init(name: String) {
        self.name = name
        (stream, continuation) = AsyncStream.makeStream(of: String.self)
    }

    func add(_ key: String) {
        guard queued.insert(key).inserted else { return }
        continuation.yield(key)
    }

    /// Adds each key in order, as ``add(_:)`` does, in one call.
    func add(_ keys: [String]) {
        for key in keys { add(key) }
    }

    func add(after delay: Duration, _ key: String) {
        Task {
            try? await Task.sleep(for: delay)
            self.add(key)
        }
    }

    private func taken(_ key: String) { queued.remove(key) }

    private func finished(_ key: String, ok: Bool) -> Duration? {
        if ok { failures[key] = nil; return nil }
        let n = (failures[key] ?? 0) + 1
        failures[key] = n
        return .seconds(min(30, 1 << min(n - 1, 5)))
    }

    /// Runs `sync` for each key until the task is cancelled. `sync` returns a delay to sync the
    /// key again after (work not finished), or nil.
    nonisolated func work(logger: Logger, _ sync: @escaping @Sendable (String) async throws -> Duration?) async {
        for await key in stream {
            if Task.isCancelled { return }
            await taken(key)
            do {
                let again = try await sync(key)
                _ = await finished(key, ok: true)
                if let again { await add(after: again, key) }
            } catch {
                let delay = await finished(key, ok: false) ?? .seconds(1)
                logger.warning("sync failed; retrying", metadata: ["controller": "\(name)", "key": "\(key)", "error": "\(error)", "retry": "\(delay)"])
                await add(after: delay, key)
            }
        }
    }

    func shutdown() { continuation.finish() }
}

/// Keys seen per kind, for fan-out (a node change concerns every DaemonSet; a pod change
/// every Service in its namespace) and periodic resync.
actor KeyIndex {
    private var keys: [String: Set<String>] = [:]

    func set(_ kind: String, _ all: [String]) { keys[kind] = Set(all) }
    func all(_ kind: String) -> [String] { Array(keys[kind] ?? []) }

    /// The keys of `kind` in any of `namespaces`.
    func inNamespaces(_ kind: String, _ namespaces: Set<String>) -> [String] {
        guard !namespaces.isEmpty else { return [] }
        return (keys[kind] ?? []).filter { key in key.firstIndex(of: "/").map { namespaces.contains(String(key[..<$0])) } ?? false }
    }

    /// Applies a batch of watch events to `kind`'s keys in order: a deleted object's key is
    /// removed, any other's inserted (so an add then a delete of one key leaves it out).
    func apply(_ kind: String, _ changes: [(key: String, deleted: Bool)]) {
        for (key, deleted) in changes {
            if deleted { keys[kind]?.remove(key) } else { keys[kind, default: []].insert(key) }
        }
    }
}

/// Keys for work queues, gathered over one list or watch batch so that each queue is reached
/// in one hop (``flush()``) instead of one per key. Keys keep their order per queue.
struct QueuedKeys {
    private var pending: [(queue: WorkQueue, keys: [String])] = []

    mutating func add(_ key: String, to queue: WorkQueue?) {
        guard let queue else { return }
        if let i = pending.firstIndex(where: { $0.queue === queue }) {
            pending[i].keys.append(key)
        } else {
            pending.append((queue, [key]))
        }
    }

    mutating func add(_ keys: [String], to queue: WorkQueue) {
        for key in keys { add(key, to: queue) }
    }

    /// The keys gathered for `queue`, in order.
    func keys(for queue: WorkQueue) -> [String] { pending.first { $0.queue === queue }?.keys ?? [] }

    /// Adds the gathered keys, one call per queue.
    func flush() async {
        for (queue, keys) in pending { await queue.add(keys) }
    }
}

/// Runs every controller of the light control plane against one API: Deployment,
/// ReplicaSet, EndpointSlice (+Endpoints), Namespace, garbage collector, node lifecycle, Job,
/// DaemonSet, StatefulSet, ServiceAccount and the root CA publisher, fed by list+watch of the kinds they read, with
/// periodic passes for what is not an event (lease expiry, progress deadlines, orphans).
///
/// With leader election (the default) only the server holding the Lease
/// `kube-system/nodekit-controller-manager` runs them. `run()` returns when its task is
/// cancelled. The scheduler is separate: ``SchedulerRunner``.
public struct ControllerManager: Sendable {
    public static let leaseName = "nodekit-controller-manager"
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger
    let identity: String
    let leaderElection: Bool
    /// How often the garbage collector and node lifecycle passes run (upstream's node
    /// monitor period is 5 s).
    var monitorPeriod: Duration = .seconds(5)
    /// How often every known object is synced again without an event.
    var resyncPeriod: Duration = .seconds(30)
    /// How long a node may stay silent before the node lifecycle controller marks it Unknown
    /// (upstream's `--node-monitor-grace-period`).
    public var nodeMonitorGracePeriod: TimeInterval = NodeLifecycleLogic.defaultGracePeriod
    /// The CA bundle (PEM) ``RootCAPublisher`` puts in every namespace; nil: the client's own CA
    /// (upstream's fallback when --root-ca-file is unset), and no publisher when that is unknown.
    public var rootCA: String?

    public init(client: any KubeAPIClient, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.controllers"),
                identity: String? = nil, leaderElection: Bool = true) {
        self.client = client
        self.clock = clock
        self.logger = logger
        self.identity = identity ?? "\(ProcessInfo.processInfo.hostName)_\(UUID().uuidString)"
        self.leaderElection = leaderElection
    }

    public func run() async {
        guard leaderElection else { await runControllers(); return }
        let elector = LeaderElector(client: client, leaseName: Self.leaseName, identity: identity, clock: clock, logger: logger)
        await elector.run { await self.runControllers() }
    }

    /// The root CA publisher for ``rootCA``, else for the client's CA; nil when neither is known.
    func makeRootCAPublisher() -> RootCAPublisher? {
        guard let ca = rootCA ?? (client as? HTTPKubeClient)?.config.tls.caPEM.map({ String(decoding: $0, as: UTF8.self) }) else { return nil }
        return RootCAPublisher(client: client, rootCA: ca)
    }

    /// Runs the controllers without leader election, until cancelled.
    public func runControllers() async {
        let deployments = WorkQueue(name: "deployment"), replicaSets = WorkQueue(name: "replicaset"), services = WorkQueue(name: "endpointslice")
        let namespaces = WorkQueue(name: "namespace"), serviceAccounts = WorkQueue(name: "serviceaccount"), jobs = WorkQueue(name: "job")
        let daemonSets = WorkQueue(name: "daemonset"), statefulSets = WorkQueue(name: "statefulset")
        let index = KeyIndex()
        let deployment = DeploymentController(client: client, clock: clock, logger: logger)
        let replicaSet = ReplicaSetController(client: client, clock: clock, logger: logger)
        let endpointSlice = EndpointSliceController(client: client, logger: logger)
        let namespace = NamespaceController(client: client, logger: logger)
        let serviceAccount = ServiceAccountController(client: client)
        let job = JobController(client: client, clock: clock, logger: logger)
        let daemonSet = DaemonSetController(client: client, clock: clock, logger: logger)
        let statefulSet = StatefulSetController(client: client, logger: logger)
        let gc = GarbageCollector(client: client, logger: logger)
        let nodeLifecycle = NodeLifecycleController(client: client, clock: clock, logger: logger, gracePeriod: nodeMonitorGracePeriod)
        let rootCAs = WorkQueue(name: "root-ca-cert-publisher")
        let rootCAPublisher = makeRootCAPublisher()
        let client = self.client, logger = self.logger, monitorPeriod = self.monitorPeriod, resyncPeriod = self.resyncPeriod

        @Sendable func owner(_ meta: ObjectMeta, _ kind: String) -> String? {
            guard let ref = PodFacts.controllerRef(meta), ref.kind == kind else { return nil }
            return "\(meta.namespace ?? "")/\(ref.name)"
        }

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await deployments.work(logger: logger) { try await deployment.sync(key: $0); return nil } }
            group.addTask { await replicaSets.work(logger: logger) { try await replicaSet.sync(key: $0); return nil } }
            group.addTask { await services.work(logger: logger) { try await endpointSlice.sync(key: $0); return nil } }
            group.addTask { await namespaces.work(logger: logger) { try await namespace.sync(key: $0) ? nil : .seconds(2) } }
            group.addTask { await serviceAccounts.work(logger: logger) { try await serviceAccount.sync(key: $0); return nil } }
            group.addTask { await jobs.work(logger: logger) { try await job.sync(key: $0); return nil } }
            group.addTask { await daemonSets.work(logger: logger) { try await daemonSet.sync(key: $0); return nil } }
            group.addTask { await statefulSets.work(logger: logger) { try await statefulSet.sync(key: $0); return nil } }
            group.addTask { await rootCAs.work(logger: logger) { try await rootCAPublisher?.sync(key: $0); return nil } }

            // Each list and each batch of watch events updates the index in one call and each
            // queue in one call; `also` adds the keys other controllers derive from the objects.
            func watch<T: KubeObject>(_ type: T.Type, _ kind: String, _ queue: WorkQueue?,
                                      also: @escaping @Sendable ([T], inout QueuedKeys) async -> Void = { _, _ in }) {
                @Sendable func enqueue(_ objects: [T]) async {
                    var keys = QueuedKeys()
                    for o in objects { keys.add(o.key, to: queue) }
                    await also(objects, &keys)
                    await keys.flush()
                }
                group.addTask {
                    await Reflector<T>(client: client, namespace: nil, logger: logger).run(listed: { items in
                        await index.set(kind, items.map(\.key))
                        await enqueue(items)
                    }, events: { batch in
                        let objects = batch.compactMap(\.object)
                        await index.apply(kind, batch.compactMap { e in
                            e.object.map { o in
                                if case .deleted = e { (o.key, true) } else { (o.key, false) }
                            }
                        })
                        await enqueue(objects)
                    })
                }
            }
            watch(Deployment.self, "Deployment", deployments)
            watch(ReplicaSet.self, "ReplicaSet", replicaSets) { sets, keys in
                for rs in sets { if let d = owner(rs.metadata, "Deployment") { keys.add(d, to: deployments) } }
            }
            watch(Service.self, "Service", services)
            watch(Namespace.self, "Namespace", namespaces) { all, keys in
                for ns in all {
                    keys.add(ns.key, to: serviceAccounts)
                    keys.add(ns.key, to: rootCAs)
                }
            }
            watch(ConfigMap.self, "ConfigMap", nil) { maps, keys in
                for map in maps where map.metadata.name == RootCAPublisher.configMapName {
                    if let ns = map.metadata.namespace { keys.add(ns, to: rootCAs) }
                }
            }
            watch(ServiceAccount.self, "ServiceAccount", nil) { accounts, keys in
                for sa in accounts { if let ns = sa.metadata.namespace { keys.add(ns, to: serviceAccounts) } }
            }
            watch(Job.self, "Job", jobs)
            watch(DaemonSet.self, "DaemonSet", daemonSets)
            watch(StatefulSet.self, "StatefulSet", statefulSets)
            watch(Node.self, "Node", nil) { nodes, keys in
                // Any node change concerns every DaemonSet: one lookup per batch.
                if !nodes.isEmpty { keys.add(await index.all("DaemonSet"), to: daemonSets) }
            }
            watch(Pod.self, "Pod", nil) { pods, keys in
                for pod in pods {
                    if let k = owner(pod.metadata, "ReplicaSet") { keys.add(k, to: replicaSets) }
                    if let k = owner(pod.metadata, "Job") { keys.add(k, to: jobs) }
                    if let k = owner(pod.metadata, "DaemonSet") { keys.add(k, to: daemonSets) }
                    if let k = owner(pod.metadata, "StatefulSet") { keys.add(k, to: statefulSets) }
                }
                keys.add(await index.inNamespaces("Service", Set(pods.map { $0.metadata.namespace ?? "" })), to: services)
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await gc.sync() } catch { logger.warning("garbage collection failed", metadata: ["error": "\(error)"]) }
                    do {
                        for node in try await client.list(Node.self, namespace: nil).items {
                            try await nodeLifecycle.sync(key: node.metadata.name ?? "")
                        }
                    } catch { logger.warning("node lifecycle pass failed", metadata: ["error": "\(error)"]) }
                    try? await Task.sleep(for: monitorPeriod)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: resyncPeriod)
                    for k in await index.all("Deployment") { await deployments.add(k) }
                    for k in await index.all("ReplicaSet") { await replicaSets.add(k) }
                    for k in await index.all("Service") { await services.add(k) }
                    for k in await index.all("Job") { await jobs.add(k) }
                    for k in await index.all("DaemonSet") { await daemonSets.add(k) }
                    for k in await index.all("StatefulSet") { await statefulSets.add(k) }
                    for k in await index.all("Namespace") { await namespaces.add(k) }
                }
            }
            // Cancellation ends the reflectors and tickers; the queues' workers end when their
            // streams finish.
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                Task { for q in [deployments, replicaSets, services, namespaces, serviceAccounts, jobs, daemonSets, statefulSets, rootCAs] { await q.shutdown() } }
            }
            group.cancelAll()
        }
    }
}

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
    func insert(_ kind: String, _ key: String) { keys[kind, default: []].insert(key) }
    func remove(_ kind: String, _ key: String) { keys[kind]?.remove(key) }
    func all(_ kind: String) -> [String] { Array(keys[kind] ?? []) }
    func inNamespace(_ kind: String, _ namespace: String) -> [String] { (keys[kind] ?? []).filter { $0.hasPrefix("\(namespace)/") } }
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

            func watch<T: KubeObject>(_ type: T.Type, _ kind: String, _ queue: WorkQueue?, also: @escaping @Sendable (T) async -> Void = { _ in }) {
                group.addTask {
                    await Reflector<T>(client: client, namespace: nil, logger: logger).run(listed: { items in
                        await index.set(kind, items.map(\.key))
                        for o in items { await queue?.add(o.key); await also(o) }
                    }, event: { e in
                        guard let o = e.object else { return }
                        if case .deleted = e { await index.remove(kind, o.key) } else { await index.insert(kind, o.key) }
                        await queue?.add(o.key)
                        await also(o)
                    })
                }
            }
            watch(Deployment.self, "Deployment", deployments)
            watch(ReplicaSet.self, "ReplicaSet", replicaSets) { rs in if let d = owner(rs.metadata, "Deployment") { await deployments.add(d) } }
            watch(Service.self, "Service", services)
            watch(Namespace.self, "Namespace", namespaces) { ns in
                await serviceAccounts.add(ns.key)
                await rootCAs.add(ns.key)
            }
            watch(ConfigMap.self, "ConfigMap", nil) { map in
                if map.metadata.name == RootCAPublisher.configMapName, let ns = map.metadata.namespace { await rootCAs.add(ns) }
            }
            watch(ServiceAccount.self, "ServiceAccount", nil) { sa in if let ns = sa.metadata.namespace { await serviceAccounts.add(ns) } }
            watch(Job.self, "Job", jobs)
            watch(DaemonSet.self, "DaemonSet", daemonSets)
            watch(StatefulSet.self, "StatefulSet", statefulSets)
            watch(Node.self, "Node", nil) { _ in for k in await index.all("DaemonSet") { await daemonSets.add(k) } }
            watch(Pod.self, "Pod", nil) { pod in
                if let k = owner(pod.metadata, "ReplicaSet") { await replicaSets.add(k) }
                if let k = owner(pod.metadata, "Job") { await jobs.add(k) }
                if let k = owner(pod.metadata, "DaemonSet") { await daemonSets.add(k) }
                if let k = owner(pod.metadata, "StatefulSet") { await statefulSets.add(k) }
                for k in await index.inNamespace("Service", pod.metadata.namespace ?? "") { await services.add(k) }
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

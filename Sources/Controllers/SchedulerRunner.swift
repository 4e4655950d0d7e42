import Foundation
import KubeAPI
import KubeClient
import Logging
import Scheduler

/// The scheduler loop: keeps a snapshot of nodes and bound pods and a queue of pending pods
/// (`spec.nodeName` empty, `spec.schedulerName` `default-scheduler` or unset) from list+watch,
/// places each pending pod with ``Scheduler``, and binds it through `pods/{name}/binding`.
/// A pod that fits nowhere gets `PodScheduled=False` (reason `Unschedulable`, upstream's
/// "0/N nodes are available: ..." message) and waits for a node or pod change.
///
/// Event methods (`podChanged`, `podDeleted`, `nodeChanged`, `nodeDeleted`) and the single
/// step `scheduleOne(now:)` are public so tests drive the loop without watches or sleeps;
/// `run()` wires them to the API. An actor: events and steps never interleave mid-update.
public actor SchedulerRunner {
    public static let schedulerName = "default-scheduler"

    /// What one `scheduleOne` did.
    public enum Outcome: Equatable, Sendable {
        case bound(pod: String, node: String)
        case unschedulable(pod: String, message: String)
        /// The binding call failed; the pod is retried after backoff.
        case bindFailed(pod: String, message: String)
    }

    let client: any KubeAPIClient
    let logger: Logger
    var scheduler = Scheduler()
    var snapshot = Snapshot()
    var queue = SchedulingQueue()
    var rng = TieBreakRandom()
    /// Pods recorded in the snapshot, by key, with the node they are on.
    var placed: [String: String] = [:]
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>

    public init(client: any KubeAPIClient, logger: Logger = Logger(label: "nodekit.scheduler")) {
        self.client = client
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var pendingCount: Int { queue.activeCount + queue.backoffCount + queue.unschedulableCount }

    static func key(_ pod: Pod) -> String { "\(pod.metadata.namespace ?? "")/\(pod.metadata.name ?? "")" }

    static func isOurs(_ pod: Pod) -> Bool {
        let name = pod.spec.schedulerName ?? ""
        return name.isEmpty || name == schedulerName
    }

    static func isTerminal(_ pod: Pod) -> Bool { pod.status?.phase == "Succeeded" || pod.status?.phase == "Failed" }

    /// A pod was added or changed.
    public func podChanged(_ pod: Pod, now: ContinuousClock.Instant = .now) {
        let key = Self.key(pod)
        if let node = pod.spec.nodeName, !node.isEmpty {
            queue.remove(pod)
            if Self.isTerminal(pod) || pod.metadata.deletionTimestamp != nil {
                // A finishing pod frees its node's resources for the pods waiting.
                if let was = placed.removeValue(forKey: key) {
                    snapshot.forget(pod, from: was)
                    queue.moveAllToActiveOrBackoff(now: now)
                    wake.yield()
                }
                return
            }
            if let was = placed[key] {
                guard was != node else { return }
                snapshot.forget(pod, from: was)
            }
            placed[key] = node
            snapshot.assume(pod)
            return
        }
        guard Self.isOurs(pod), pod.metadata.deletionTimestamp == nil, !Self.isTerminal(pod) else {
            queue.remove(pod)
            return
        }
        queue.add(pod, now: now)
        wake.yield()
    }

    /// A pod was deleted.
    public func podDeleted(_ pod: Pod, now: ContinuousClock.Instant = .now) {
        queue.remove(pod)
        if let was = placed.removeValue(forKey: Self.key(pod)) {
            snapshot.forget(pod, from: was)
            queue.moveAllToActiveOrBackoff(now: now)
            wake.yield()
        }
    }

    /// A node was added or changed: pods waiting for room may fit now.
    public func nodeChanged(_ node: Node, now: ContinuousClock.Instant = .now) {
        snapshot.upsert(node)
        queue.moveAllToActiveOrBackoff(now: now)
        wake.yield()
    }

    public func nodeDeleted(_ node: Node) {
        let name = node.metadata.name ?? ""
        snapshot.remove(node: name)
        placed = placed.filter { $0.value != name }
    }

    /// After a (re)list: replaces the node set.
    func nodesListed(_ nodes: [Node], now: ContinuousClock.Instant = .now) {
        let names = Set(nodes.compactMap(\.metadata.name))
        for info in snapshot.nodes where !names.contains(info.name) { nodeDeleted(info.node) }
        for n in nodes { snapshot.upsert(n) }
        queue.moveAllToActiveOrBackoff(now: now)
        wake.yield()
    }

    /// After a (re)list: drops pods that are gone, then applies every listed pod.
    func podsListed(_ pods: [Pod], now: ContinuousClock.Instant = .now) {
        let keys = Set(pods.map(Self.key))
        for (key, node) in placed where !keys.contains(key) {
            let (ns, name) = splitKey(key)
            snapshot.forget(Pod(metadata: ObjectMeta(name: name, namespace: ns), spec: PodSpec(containers: [])), from: node)
            placed[key] = nil
        }
        for p in pods { podChanged(p, now: now) }
    }

    /// Schedules the next pending pod, if any: binds it, or records why it fits nowhere.
    /// Returns nil when no pod is ready to try.
    public func scheduleOne(now: ContinuousClock.Instant = .now) async -> Outcome? {
        guard let pod = queue.pop(now: now) else { return nil }
        let key = Self.key(pod)
        switch scheduler.schedule(pod, snapshot: snapshot, using: &rng) {
        case .success(let node):
            var assumed = pod
            assumed.spec.nodeName = node
            // Assume first, so pods scheduled while the binding is in flight see its resources.
            snapshot.assume(assumed)
            placed[key] = node
            queue.done(pod)
            let binding = Binding(podNamespace: pod.metadata.namespace ?? "", podName: pod.metadata.name ?? "", node: node, podUID: pod.metadata.uid)
            do {
                try await client.create(binding: binding, options: WriteOptions())
                logger.debug("bound pod", metadata: ["pod": "\(key)", "node": "\(node)"])
                return .bound(pod: key, node: node)
            } catch {
                if placed[key] == node {
                    snapshot.forget(assumed, from: node)
                    placed[key] = nil
                }
                if error.isNotFound { return .bindFailed(pod: key, message: error.description) }
                if error.code == 409 {
                    // Someone bound it already; the watch brings the bound pod.
                    return .bindFailed(pod: key, message: error.description)
                }
                logger.warning("binding failed", metadata: ["pod": "\(key)", "node": "\(node)", "error": "\(error)"])
                queue.markUnschedulable(pod, now: now)
                queue.moveAllToActiveOrBackoff(now: now)
                return .bindFailed(pod: key, message: error.description)
            }
        case .failure(let fit):
            queue.markUnschedulable(pod, now: now)
            let message = fit.description
            await reportUnschedulable(pod, message: message)
            return .unschedulable(pod: key, message: message)
        }
    }

    /// Writes `PodScheduled=False` (reason `Unschedulable`) unless the pod already says so
    /// with the same message. Only the scheduler writes conditions of an unbound pod, so the
    /// merge patch carries the whole list; the resourceVersion makes a concurrent change win.
    func reportUnschedulable(_ pod: Pod, message: String) async {
        var conditions = pod.status?.conditions ?? []
        if let c = conditions.first(where: { $0.type == "PodScheduled" }), c.status == "False", c.reason == "Unschedulable", c.message == message { return }
        let previous = conditions.first { $0.type == "PodScheduled" }
        conditions.removeAll { $0.type == "PodScheduled" }
        var c = PodCondition(type: "PodScheduled", status: "False", reason: "Unschedulable", message: message)
        c.lastTransitionTime = previous?.status == "False" ? previous?.lastTransitionTime : Date().kubeTimestamp
        c.lastProbeTime = nil
        conditions.append(c)
        do {
            let body: JSONValue = .object([
                "metadata": .object(["resourceVersion": pod.metadata.resourceVersion.map(JSONValue.string) ?? .null]),
                "status": .object(["conditions": try JSONValue.encode(conditions)]),
            ])
            let _: Pod = try await client.mergePatch(Pod.self, namespace: pod.metadata.namespace, name: pod.metadata.name ?? "", body, subresource: "status")
        } catch {
            logger.debug("could not record unschedulable pod", metadata: ["pod": "\(Self.key(pod))", "error": "\(error)"])
        }
    }

    /// Lists and watches pods and nodes, and schedules until cancelled. Pods in backoff are
    /// retried within a second of their backoff ending.
    public func run() async {
        let pods = Reflector<Pod>(client: client, namespace: nil, logger: logger)
        let nodes = Reflector<Node>(client: client, namespace: nil, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await pods.run(listed: { await self.podsListed($0) }, event: { await self.handle($0) }) }
            group.addTask { await nodes.run(listed: { await self.nodesListed($0) }, event: { await self.handle($0) }) }
            group.addTask { await self.loop() }
            await group.waitForAll()
        }
    }

    func handle(_ event: WatchEvent<Pod>) {
        switch event {
        case .added(let p), .modified(let p): podChanged(p)
        case .deleted(let p): podDeleted(p)
        case .bookmark: break
        }
    }

    func handle(_ event: WatchEvent<Node>) {
        switch event {
        case .added(let n), .modified(let n): nodeChanged(n)
        case .deleted(let n): nodeDeleted(n)
        case .bookmark: break
        }
    }

    private func loop() async {
        let ticker = Task { [wake] in
            // Backoff expiry is not an event; a coarse tick flushes it.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                wake.yield()
            }
        }
        defer { ticker.cancel() }
        for await _ in wakeups {
            if Task.isCancelled { return }
            while await scheduleOne() != nil {}
        }
    }
}

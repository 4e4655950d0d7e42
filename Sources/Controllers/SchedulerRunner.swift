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
/// As upstream's scheduler, each pod goes through a scheduling cycle (pick a node, assume the
/// pod on it in the snapshot) and then a binding cycle (the API call). `run()` starts the next
/// scheduling cycle while up to `maxBindingsInFlight` binding cycles wait on the API server;
/// a failed binding forgets the assumed pod and sends it back through backoff.
///
/// Event methods (`podChanged`, `podDeleted`, `nodeChanged`, `nodeDeleted`), the two halves
/// `schedulingCycle(now:)` and `bindingCycle(_:now:)`, and the single step `scheduleOne(now:)`
/// (both halves, in turn) are public so tests drive the loop without watches or sleeps;
/// `run()` wires them to the API. An actor: events and steps never interleave mid-update (a
/// binding cycle's API call is a suspension point; events arriving then are applied, see
/// ``podChanged(_:now:)``).
public actor SchedulerRunner {
    public static let schedulerName = "default-scheduler"

    /// What one `scheduleOne` did.
    public enum Outcome: Equatable, Sendable {
        case bound(pod: String, node: String)
        case unschedulable(pod: String, message: String)
        /// The binding call failed; the pod is retried after backoff.
        case bindFailed(pod: String, message: String)
    }

    /// What a scheduling cycle decided; a binding cycle carries it out through the API.
    public enum Decision: Sendable {
        /// The pod is assumed on `node`; the binding is still to be written.
        case bind(pod: Pod, node: String)
        /// The pod fits nowhere; `PodScheduled=False` is still to be written.
        case unschedulable(pod: Pod, message: String)
    }

    let client: any KubeAPIClient
    let logger: Logger
    /// Binding cycles `run()` lets wait on the API server at once. Upstream does not bound
    /// them; here each one holds an HTTP connection, and the client keeps 16 alive.
    public let maxBindingsInFlight: Int
    var scheduler = Scheduler()
    var snapshot = Snapshot()
    var queue = SchedulingQueue()
    var rng = TieBreakRandom()
    /// Pods recorded in the snapshot, by key, with the node they are on.
    var placed: [String: String] = [:]
    /// Pods assumed by a scheduling cycle whose binding cycle has not finished, by key, with
    /// the newest unbound version of the pod the watch brought meanwhile (nil: none).
    var binding: [String: Pod?] = [:]
    /// Binding cycles started by `run()` and not finished.
    var inFlight = 0
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>

    public init(client: any KubeAPIClient, maxBindingsInFlight: Int = 16, logger: Logger = Logger(label: "nodekit.scheduler")) {
        self.client = client
        self.logger = logger
        self.maxBindingsInFlight = max(1, maxBindingsInFlight)
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var pendingCount: Int { queue.activeCount + queue.backoffCount + queue.unschedulableCount }

    /// Pods assumed on a node whose binding has not finished.
    public var assumedCount: Int { binding.count }

    static func key(_ pod: Pod) -> String { "\(pod.metadata.namespace ?? "")/\(pod.metadata.name ?? "")" }

    static func isOurs(_ pod: Pod) -> Bool {
        let name = pod.spec.schedulerName ?? ""
        return name.isEmpty || name == schedulerName
    }

    static func isTerminal(_ pod: Pod) -> Bool { pod.status?.phase == "Succeeded" || pod.status?.phase == "Failed" }

    /// A pod was added or changed. While the pod's binding is in flight, an unbound version of
    /// it is kept aside rather than queued (upstream skips updates of assumed pods): the binding
    /// cycle queues it if the binding fails, and drops it if it succeeds.
    public func podChanged(_ pod: Pod, now: ContinuousClock.Instant = .now) {
        let key = Self.key(pod)
        if let node = pod.spec.nodeName, !node.isEmpty {
            queue.remove(pod)
            if binding[key] != nil { binding[key] = .some(nil) }
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
        if binding[key] != nil {
            binding[key] = pod
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
        if binding[Self.key(pod)] != nil { binding[Self.key(pod)] = .some(nil) }
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

    /// Schedules the next pending pod, if any, and waits for its binding cycle: binds it, or
    /// records why it fits nowhere. Returns nil when no pod is ready to try.
    public func scheduleOne(now: ContinuousClock.Instant = .now) async -> Outcome? {
        guard let decision = schedulingCycle(now: now) else { return nil }
        return await bindingCycle(decision, now: now)
    }

    /// The scheduling cycle of the next pending pod, without any API call: picks a node and
    /// assumes the pod there (so the next cycles see its resources), or puts the pod with the
    /// unschedulable ones. Returns nil when no pod is ready to try. Every decision must be
    /// passed to ``bindingCycle(_:now:)``.
    public func schedulingCycle(now: ContinuousClock.Instant = .now) -> Decision? {
        guard let pod = queue.pop(now: now) else { return nil }
        let key = Self.key(pod)
        switch scheduler.schedule(pod, snapshot: snapshot, using: &rng) {
        case .success(let node):
            var assumed = pod
            assumed.spec.nodeName = node
            snapshot.assume(assumed)
            placed[key] = node
            binding[key] = .some(nil)
            queue.done(pod)
            return .bind(pod: pod, node: node)
        case .failure(let fit):
            queue.markUnschedulable(pod, now: now)
            return .unschedulable(pod: pod, message: fit.description)
        }
    }

    /// The binding cycle: writes the decision through the API. A failed binding forgets the
    /// assumed pod; unless the pod is gone (404) or was bound by someone else (409), it goes
    /// back through backoff, and so do the pods that were waiting for room.
    public func bindingCycle(_ decision: Decision, now: ContinuousClock.Instant = .now) async -> Outcome {
        switch decision {
        case .unschedulable(let pod, let message):
            await reportUnschedulable(pod, message: message)
            return .unschedulable(pod: Self.key(pod), message: message)
        case .bind(let pod, let node):
            let key = Self.key(pod)
            let binding = Binding(podNamespace: pod.metadata.namespace ?? "", podName: pod.metadata.name ?? "", node: node, podUID: pod.metadata.uid)
            do {
                try await client.create(binding: binding, options: WriteOptions())
                self.binding[key] = nil
                logger.debug("bound pod", metadata: ["pod": "\(key)", "node": "\(node)"])
                return .bound(pod: key, node: node)
            } catch {
                let newer = self.binding.removeValue(forKey: key) ?? nil
                if placed[key] == node {
                    var assumed = pod
                    assumed.spec.nodeName = node
                    snapshot.forget(assumed, from: node)
                    placed[key] = nil
                }
                if error.isNotFound || error.code == 409 {
                    // Gone, or bound already (the watch brings the bound pod); a pod that came
                    // back under the same name meanwhile is scheduled on its own.
                    if let newer { podChanged(newer, now: now) }
                    return .bindFailed(pod: key, message: error.description)
                }
                logger.warning("binding failed", metadata: ["pod": "\(key)", "node": "\(node)", "error": "\(error)"])
                queue.markUnschedulable(newer ?? pod, now: now)
                queue.moveAllToActiveOrBackoff(now: now)
                wake.yield()
                return .bindFailed(pod: key, message: error.description)
            }
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
    /// retried within a second of their backoff ending. The lists and watches leave out
    /// managedFields, which scheduling never reads (kube-scheduler strips them too).
    public func run() async {
        let informerClient = client.omittingManagedFields()
        let pods = Reflector<Pod>(client: informerClient, namespace: nil, logger: logger)
        let nodes = Reflector<Node>(client: informerClient, namespace: nil, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            // Events come in batches: one hop onto this actor per batch, not per event.
            group.addTask { await pods.run(listed: { await self.podsListed($0) }, events: { await self.handle($0) }) }
            group.addTask { await nodes.run(listed: { await self.nodesListed($0) }, events: { await self.handle($0) }) }
            group.addTask { await self.loop() }
            await group.waitForAll()
        }
    }

    func handle(_ events: [WatchEvent<Pod>]) {
        for event in events { handle(event) }
    }

    func handle(_ events: [WatchEvent<Node>]) {
        for event in events { handle(event) }
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

    /// Runs scheduling cycles while fewer than `maxBindingsInFlight` binding cycles are
    /// waiting, each binding cycle in a child task; a finished one wakes the loop.
    private func loop() async {
        let ticker = Task { [wake] in
            // Backoff expiry is not an event; a coarse tick flushes it.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                wake.yield()
            }
        }
        defer { ticker.cancel() }
        await withDiscardingTaskGroup { group in
            for await _ in wakeups {
                if Task.isCancelled { return }
                while inFlight < maxBindingsInFlight, let decision = schedulingCycle() {
                    inFlight += 1
                    group.addTask { await self.finishBinding(decision) }
                }
            }
        }
    }

    private func finishBinding(_ decision: Decision) async {
        _ = await bindingCycle(decision)
        inFlight -= 1
        wake.yield()
    }
}

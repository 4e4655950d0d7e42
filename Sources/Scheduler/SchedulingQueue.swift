import KubeAPI

/// Upstream's scheduling queue: an active queue ordered by priority then arrival (the
/// PrioritySort plugin), a backoff queue for pods that failed recently (1 s doubling to 10 s),
/// and an unschedulable set that waits for a cluster change.
///
/// Not thread-safe: owned by the scheduler loop. Time comes from the caller (`now`), so tests
/// step it.
public struct SchedulingQueue: Sendable {
    public static let initialBackoff: Duration = .seconds(1)
    public static let maxBackoff: Duration = .seconds(10)
    /// Unschedulable pods are retried at least this often even without a cluster event.
    public static let unschedulableTimeout: Duration = .seconds(300)

    struct Entry: Sendable {
        var pod: Pod
        var enqueued: ContinuousClock.Instant
        var attempts: Int
        var backoffUntil: ContinuousClock.Instant?
        var unschedulableSince: ContinuousClock.Instant?
        /// Arrival order in the active queue; a heap item whose ticket differs is stale.
        var ticket: UInt64 = 0
    }

    /// Active pods by key, and a binary heap of (priority, ticket, key) over them. Items of
    /// pods that left the active queue stay in the heap until they surface (lazy deletion).
    private var active: [String: Entry] = [:]
    private var heap: [(priority: Int32, ticket: UInt64, key: String)] = []
    private var nextTicket: UInt64 = 0
    private var backoff: [String: Entry] = [:]
    private var unschedulable: [String: Entry] = [:]

    public init() {}

    public var activeCount: Int { active.count }
    public var backoffCount: Int { backoff.count }
    public var unschedulableCount: Int { unschedulable.count }

    static func key(_ pod: Pod) -> String { "\(pod.metadata.namespace ?? "")/\(pod.metadata.name ?? "")" }

    /// Adds a new pending pod, or updates a queued one in place. An update to an
    /// unschedulable pod moves it back to the active queue, since it may fit now.
    public mutating func add(_ pod: Pod, now: ContinuousClock.Instant) {
        let k = Self.key(pod)
        if var e = active[k] {
            let priorityChanged = (e.pod.spec.priority ?? 0) != (pod.spec.priority ?? 0)
            e.pod = pod
            active[k] = e
            if priorityChanged { activate(k, e) }
            return
        }
        if var e = backoff[k] { e.pod = pod; backoff[k] = e; return }
        if var e = unschedulable.removeValue(forKey: k) { e.pod = pod; e.unschedulableSince = nil; activate(k, e); return }
        activate(k, Entry(pod: pod, enqueued: now, attempts: 0))
    }

    private mutating func activate(_ key: String, _ entry: Entry) {
        var e = entry
        nextTicket += 1
        e.ticket = nextTicket
        active[key] = e
        heap.append((e.pod.spec.priority ?? 0, e.ticket, key))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.before(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Higher priority first, then earlier arrival.
    private static func before(_ a: (priority: Int32, ticket: UInt64, key: String), _ b: (priority: Int32, ticket: UInt64, key: String)) -> Bool {
        a.priority != b.priority ? a.priority > b.priority : a.ticket < b.ticket
    }

    private mutating func popHeap() -> (priority: Int32, ticket: UInt64, key: String)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < heap.count, Self.before(heap[l], heap[best]) { best = l }
            if r < heap.count, Self.before(heap[r], heap[best]) { best = r }
            if best == i { break }
            heap.swapAt(i, best)
            i = best
        }
        return top
    }

    /// Forgets a pod (deleted, or bound by someone else).
    public mutating func remove(_ pod: Pod) {
        let k = Self.key(pod)
        active[k] = nil; backoff[k] = nil; unschedulable[k] = nil
    }

    /// Takes the pod to schedule next: highest priority, then earliest arrival. Moves pods
    /// whose backoff has expired into the active queue first.
    public mutating func pop(now: ContinuousClock.Instant) -> Pod? {
        flush(now: now)
        while let top = popHeap() {
            guard let e = active[top.key], e.ticket == top.ticket else { continue }
            active[top.key] = nil
            inFlight[top.key] = e
            return e.pod
        }
        return nil
    }

    private var inFlight: [String: Entry] = [:]

    /// Reports that the popped pod could not be placed: it waits for a cluster change (or
    /// the unschedulable timeout), then goes through backoff.
    public mutating func markUnschedulable(_ pod: Pod, now: ContinuousClock.Instant) {
        let k = Self.key(pod)
        var e = inFlight.removeValue(forKey: k) ?? Entry(pod: pod, enqueued: now, attempts: 0)
        e.pod = pod
        e.attempts += 1
        e.unschedulableSince = now
        unschedulable[k] = e
    }

    /// Reports that the popped pod was bound (or dropped).
    public mutating func done(_ pod: Pod) { inFlight[Self.key(pod)] = nil }

    /// The backoff after `attempts` failures: 1 s, 2 s, 4 s, 8 s, then 10 s.
    public static func backoffDuration(attempts: Int) -> Duration {
        var d = initialBackoff
        for _ in 1..<max(attempts, 1) {
            d = d * 2
            if d >= maxBackoff { return maxBackoff }
        }
        return d
    }

    /// A cluster change (node added or updated, pod deleted, ...) may make unschedulable pods
    /// fit: move them to backoff, or straight to active if their backoff has passed.
    public mutating func moveAllToActiveOrBackoff(now: ContinuousClock.Instant) {
        for (k, var e) in unschedulable {
            e.unschedulableSince = nil
            let until = (e.enqueued > now ? e.enqueued : now) + Self.backoffDuration(attempts: e.attempts)
            e.backoffUntil = until
            backoff[k] = e
        }
        unschedulable.removeAll()
        flush(now: now)
    }

    /// Moves expired backoffs to active, and unschedulable pods past the timeout to backoff.
    public mutating func flush(now: ContinuousClock.Instant) {
        for (k, e) in unschedulable where now - (e.unschedulableSince ?? now) >= Self.unschedulableTimeout {
            var moved = unschedulable.removeValue(forKey: k)!
            moved.unschedulableSince = nil
            moved.backoffUntil = now
            backoff[k] = moved
        }
        for (k, e) in backoff where (e.backoffUntil ?? now) <= now {
            backoff[k] = nil
            activate(k, e)
        }
    }
}

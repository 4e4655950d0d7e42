import Foundation
import KubeAPI
import KubeClient
import Logging
import Synchronization

/// Leader election through a coordination.k8s.io Lease, with the rules of upstream's
/// client-go `tools/leaderelection`:
///
/// - A candidate judges expiry by its own clock: the Lease is held while `leaseDurationSeconds`
///   (of the record) have not passed since this candidate last *saw the record change*
///   (upstream's observedTime). Holders' `renewTime` stamps are written but never compared with
///   the local clock, so clock skew between servers does not matter; a candidate seeing a
///   Lease for the first time waits a whole duration before taking it.
/// - A record with an empty `holderIdentity` (a released Lease) is taken at once.
/// - `leaseTransitions` grows by one whenever the holder changes, including a take-over of a
///   released Lease; a renewal keeps it and `acquireTime`.
/// - Writes are full updates carrying the resourceVersion read: of two candidates at most one wins.
/// - A leader renews every `retryPeriod`. Each renewal round may retry every `retryPeriod` but
///   must succeed within `renewDeadline` (10 s, under the 15 s `leaseDuration`), an attempt in
///   flight at the deadline counting as failed; otherwise the leader stops leading before any
///   other candidate can take the Lease.
/// - Candidates retry every `retryPeriod` plus up to `jitterFactor` of it (upstream: 1.2).
///
/// Losing the Lease: upstream's kube-controller-manager exits the process. Here the controllers
/// share a process with the API server and the kubelet, so ``run(lead:)`` cancels `lead`, waits
/// for it to return, and campaigns again.
///
/// Cancelling ``run(lead:)`` releases the Lease when held (upstream's `ReleaseOnCancel`), after
/// `lead` has returned, so another candidate takes over at its next attempt instead of after
/// `leaseDuration`.
///
/// Copies share their observed state; one instance campaigns from one task at a time.
public struct LeaderElector: Sendable {
    public var leaseNamespace = "kube-system"
    public var leaseName: String
    public var identity: String
    public var leaseDuration: Duration = .seconds(15)
    public var renewDeadline: Duration = .seconds(10)
    public var retryPeriod: Duration = .seconds(2)
    /// A candidate waits `retryPeriod * (1 + random(0..<jitterFactor))` between attempts.
    public var jitterFactor = 1.2
    /// Paces the loops of ``run(lead:)`` (tests pass one that moves their manual clock). A
    /// renewal attempt still in flight when the renew deadline passes is abandoned after that
    /// much real time.
    public var sleep: @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger
    private let observed = ObservedRecord()

    /// The record last read or written, and when (on ``clock``) it last changed.
    final class ObservedRecord: Sendable {
        struct Value {
            var spec: LeaseSpec?
            var time = Date.distantPast
        }
        let value = Mutex(Value())
    }

    public init(client: any KubeAPIClient, leaseName: String, identity: String, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.leader")) {
        self.client = client
        self.leaseName = leaseName
        self.identity = identity
        self.clock = clock
        self.logger = logger
    }

    /// `metav1.MicroTime`: RFC 3339 with microseconds, UTC.
    static func microTime(_ date: Date) -> String { KubeTime.microTime(date) }

    /// The holder of the record last observed ("" for a released Lease, nil before any read).
    public var observedHolder: String? { observed.value.withLock { $0.spec?.holderIdentity } }

    /// Whether the record last observed names this candidate (upstream's IsLeader).
    public var isLeader: Bool { observedHolder == identity }

    private func observe(_ spec: LeaseSpec?) {
        let now = clock.now()
        observed.value.withLock { value in
            guard value.spec != spec else { return }
            value.spec = spec
            value.time = now
        }
    }

    /// One attempt: creates the Lease, renews it if held by us, or takes it over if it was
    /// released or its holder let it expire (see the type's rules). Returns whether we hold it
    /// now. Conflicts (another candidate won the race) and transport failures count as not
    /// holding it.
    public func tryAcquireOrRenew() async -> Bool {
        let now = clock.now()
        let seconds = Int32(leaseDuration.components.seconds)
        var record = LeaseSpec(holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: Self.microTime(now), renewTime: Self.microTime(now), leaseTransitions: 0)
        var lease: Lease
        do { lease = try await client.get(Lease.self, namespace: leaseNamespace, name: leaseName) } catch {
            guard error.isNotFound else {
                logger.debug("cannot read lease", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "error": "\(error)"])
                return false
            }
            do {
                let created = try await client.create(Lease(metadata: ObjectMeta(name: leaseName, namespace: leaseNamespace), spec: record))
                observe(created.spec ?? record)
                logger.info("acquired lease", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "identity": "\(identity)"])
                return true
            } catch { return false }
        }
        let old = lease.spec ?? LeaseSpec()
        observe(old)
        let holder = old.holderIdentity ?? ""
        if !holder.isEmpty, holder != identity {
            let since = observed.value.withLock { $0.time }
            let duration = TimeInterval(old.leaseDurationSeconds ?? seconds)
            if now < since.addingTimeInterval(duration) { return false }
        }
        if holder == identity {
            record.acquireTime = old.acquireTime
            record.leaseTransitions = old.leaseTransitions ?? 0
        } else {
            record.leaseTransitions = (old.leaseTransitions ?? 0) + 1
        }
        lease.spec = record
        do {
            let updated = try await client.update(lease)
            observe(updated.spec ?? record)
            if holder != identity {
                logger.info("took over lease", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "from": "\(holder)", "identity": "\(identity)",
                                                          "leaseTransitions": "\(record.leaseTransitions ?? 0)"])
            }
            return true
        } catch {
            return false
        }
    }

    /// Gives the Lease up when the record last observed names us: an empty `holderIdentity`,
    /// `leaseDurationSeconds` 1, `leaseTransitions` kept (upstream's release). Returns whether
    /// the Lease is not ours afterwards; a failed write (conflict, transport) returns false and
    /// leaves the Lease to expire.
    @discardableResult
    public func release() async -> Bool {
        guard isLeader else { return true }
        do {
            var lease = try await client.get(Lease.self, namespace: leaseNamespace, name: leaseName)
            guard lease.spec?.holderIdentity == identity else {
                observe(lease.spec)
                return true
            }
            let now = Self.microTime(clock.now())
            let record = LeaseSpec(holderIdentity: "", leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec?.leaseTransitions ?? 0)
            lease.spec = record
            let updated = try await client.update(lease)
            observe(updated.spec ?? record)
            logger.info("released lease", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "identity": "\(identity)"])
            return true
        } catch {
            logger.warning("cannot release lease; it expires on its own", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "error": "\(error)"])
            return false
        }
    }

    /// Campaigns until it holds the Lease, runs `lead` while it keeps renewing, and cancels
    /// `lead` when a renewal round fails for `renewDeadline`; then campaigns again. When the
    /// calling task is cancelled it cancels `lead`, waits for it, releases the Lease if held,
    /// and returns.
    public func run(lead: @escaping @Sendable () async -> Void) async {
        while !Task.isCancelled {
            guard await tryAcquireOrRenew() else {
                await sleep(jittered(retryPeriod))
                continue
            }
            let work = Task { await lead() }
            while !Task.isCancelled {
                await sleep(retryPeriod)
                if Task.isCancelled { break }
                if await renewWithinDeadline() { continue }
                logger.warning("could not renew the lease within the renew deadline; stopping leading",
                               metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "identity": "\(identity)", "renewDeadline": "\(renewDeadline)"])
                break
            }
            work.cancel()
            await work.value
        }
        // The release runs in a task of its own: the cancelled caller's requests would not be sent.
        let elector = self
        _ = await Task { await elector.release() }.value
    }

    /// One renewal round (upstream's renew): attempts now and every `retryPeriod` until one
    /// succeeds or `renewDeadline` has passed since the round began. An attempt still in
    /// flight at the deadline is abandoned. Returns false on cancellation.
    public func renewWithinDeadline() async -> Bool {
        let deadline = clock.now().addingTimeInterval(Self.seconds(renewDeadline))
        while !Task.isCancelled {
            let remaining = deadline.timeIntervalSince(clock.now())
            if remaining <= 0 { return false }
            if await attempt(within: .seconds(remaining)) { return true }
            if deadline.timeIntervalSince(clock.now()) <= 0 { return false }
            await sleep(retryPeriod)
        }
        return false
    }

    /// ``tryAcquireOrRenew()`` raced against `limit` of real time: false when the limit wins.
    /// The attempt runs in a task of its own, so one stuck in a request is left behind (and
    /// cancelled) rather than awaited.
    private func attempt(within limit: Duration) async -> Bool {
        let (outcomes, report) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingOldest(1))
        let elector = self
        let attempt = Task { report.yield(await elector.tryAcquireOrRenew()) }
        let timer = Task {
            try? await Task.sleep(for: limit)
            report.yield(false)
        }
        defer {
            attempt.cancel()
            timer.cancel()
        }
        for await outcome in outcomes { return outcome }
        return false
    }

    func jittered(_ period: Duration) -> Duration {
        guard jitterFactor > 0 else { return period }
        return period * (1 + Double.random(in: 0..<jitterFactor))
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

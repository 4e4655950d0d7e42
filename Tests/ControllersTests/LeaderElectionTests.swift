import Controllers
import Foundation
import KubeAPI
import KubeClient
import Synchronization
import Testing
import TestSupport

/// LeaderElector against upstream client-go's leaderelection rules, over the fake API and a
/// manual clock (``LeaderElector/sleep`` moves the clock, so ``LeaderElector/run(lead:)`` runs
/// in virtual time).
@Suite struct LeaderElectionTests {
    static let leaseName = "cm"

    func lease(_ c: Cluster) throws -> LeaseSpec {
        try #require(c.api.objects(Lease.self, namespace: "kube-system").first { $0.metadata.name == Self.leaseName }?.spec)
    }

    func elector(_ c: Cluster, _ identity: String) -> LeaderElector {
        var elector = LeaderElector(client: c.api, leaseName: Self.leaseName, identity: identity, clock: c.clock)
        elector.jitterFactor = 0
        return elector
    }

    @Test func expiryIsJudgedFromWhenTheRecordLastChangedHere() async throws {
        let c = Cluster()
        let a = elector(c, "a"), b = elector(c, "b")
        #expect(await a.tryAcquireOrRenew())
        #expect(await !b.tryAcquireOrRenew(), "b sees a fresh record")
        c.clock.advance(by: .seconds(10))
        #expect(await a.tryAcquireOrRenew(), "renewal")
        c.clock.advance(by: .seconds(6))
        #expect(await !b.tryAcquireOrRenew(), "b saw the renewed record only now: 16 s after a's first write is not an expiry")
        c.clock.advance(by: .seconds(14))
        #expect(await !b.tryAcquireOrRenew(), "14 s after b saw the change the lease still holds")
        c.clock.advance(by: .seconds(1))
        #expect(await b.tryAcquireOrRenew(), "15 s without a change: expired")
        #expect(await !a.tryAcquireOrRenew(), "a now sees b's fresh record")
        let spec = try lease(c)
        #expect(spec.holderIdentity == "b")
        #expect(spec.leaseTransitions == 1)
        #expect(spec.leaseDurationSeconds == 15)
        #expect(spec.acquireTime == spec.renewTime, "a take-over stamps acquireTime")
    }

    @Test func aStaleRenewTimeIsNotTrustedAcrossClocks() async throws {
        let c = Cluster()
        // Written by a holder whose clock is an hour behind (or that died an hour ago): a new
        // candidate cannot tell, so it waits a whole lease duration from its first look.
        let old = c.clock.now().addingTimeInterval(-3600).kubeTimestamp
        try c.api.seed([Lease(metadata: ObjectMeta(name: Self.leaseName, namespace: "kube-system"),
                              spec: LeaseSpec(holderIdentity: "x", leaseDurationSeconds: 15, acquireTime: old, renewTime: old, leaseTransitions: 4))])
        let b = elector(c, "b")
        #expect(await !b.tryAcquireOrRenew())
        c.clock.advance(by: .seconds(14))
        #expect(await !b.tryAcquireOrRenew())
        c.clock.advance(by: .seconds(1))
        #expect(await b.tryAcquireOrRenew())
        #expect(try lease(c).leaseTransitions == 5)
    }

    @Test func theRecordsLeaseDurationRulesExpiry() async throws {
        let c = Cluster()
        let now = c.clock.now().kubeTimestamp
        try c.api.seed([Lease(metadata: ObjectMeta(name: Self.leaseName, namespace: "kube-system"),
                              spec: LeaseSpec(holderIdentity: "x", leaseDurationSeconds: 40, acquireTime: now, renewTime: now, leaseTransitions: 0))])
        let b = elector(c, "b")
        #expect(await !b.tryAcquireOrRenew())
        c.clock.advance(by: .seconds(39))
        #expect(await !b.tryAcquireOrRenew(), "the holder asked for 40 s, not b's 15")
        c.clock.advance(by: .seconds(1))
        #expect(await b.tryAcquireOrRenew())
    }

    @Test func renewalKeepsAcquireTimeAndTransitions() async throws {
        let c = Cluster()
        let a = elector(c, "a")
        #expect(await a.tryAcquireOrRenew())
        let first = try lease(c)
        c.clock.advance(by: .seconds(2))
        #expect(await a.tryAcquireOrRenew())
        let second = try lease(c)
        #expect(second.acquireTime == first.acquireTime)
        #expect(second.renewTime != first.renewTime)
        #expect(second.leaseTransitions == 0)
        #expect(a.isLeader)
    }

    @Test func aReleasedLeaseIsTakenAtOnceAndCountsATransition() async throws {
        let c = Cluster()
        let a = elector(c, "a"), b = elector(c, "b")
        #expect(await a.tryAcquireOrRenew())
        #expect(await !b.tryAcquireOrRenew())
        #expect(await a.release())
        let released = try lease(c)
        #expect(released.holderIdentity == "")
        #expect(released.leaseDurationSeconds == 1)
        #expect(released.leaseTransitions == 0)
        #expect(!a.isLeader)
        #expect(await b.tryAcquireOrRenew(), "no waiting for the 15 s")
        let taken = try lease(c)
        #expect(taken.holderIdentity == "b")
        #expect(taken.leaseTransitions == 1)
    }

    @Test func onlyTheHolderReleases() async throws {
        let c = Cluster()
        let a = elector(c, "a"), b = elector(c, "b")
        #expect(await a.tryAcquireOrRenew())
        #expect(await !b.tryAcquireOrRenew())
        let updates = c.api.requestCount(.update)
        #expect(await b.release())
        #expect(c.api.requestCount(.update) == updates, "b never held it: nothing written")
        #expect(try lease(c).holderIdentity == "a")
    }

    @Test func ofTwoCandidatesForAnExpiredLeaseOneWins() async throws {
        let c = Cluster()
        let a = elector(c, "a"), b = elector(c, "b")
        let now = c.clock.now().kubeTimestamp
        try c.api.seed([Lease(metadata: ObjectMeta(name: Self.leaseName, namespace: "kube-system"),
                              spec: LeaseSpec(holderIdentity: "x", leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0))])
        #expect(await !a.tryAcquireOrRenew())
        #expect(await !b.tryAcquireOrRenew())
        c.clock.advance(by: .seconds(15))
        async let first = a.tryAcquireOrRenew()
        async let second = b.tryAcquireOrRenew()
        let wins = [await first, await second].filter { $0 }.count
        #expect(wins == 1)
        #expect(try lease(c).leaseTransitions == 1)
    }

    @Test func creatingTheLeaseLeads() async throws {
        let c = Cluster()
        let a = elector(c, "a")
        #expect(await a.tryAcquireOrRenew())
        let spec = try lease(c)
        #expect(spec.holderIdentity == "a")
        #expect(spec.leaseTransitions == 0)
        #expect(c.api.requestCount(.create) == 1)
    }

    @Test func aRenewalRoundFailsAtTheDeadline() async throws {
        let c = Cluster()
        var a = elector(c, "a")
        let clock = c.clock
        a.sleep = { clock.advance(by: $0) }
        #expect(await a.tryAcquireOrRenew())
        let start = c.clock.now()
        for _ in 0..<20 { c.api.failNext(.update, kind: "Lease", error: KubeClientError(code: 0, reason: "Transport", message: "fake: connection refused")) }
        #expect(await !a.renewWithinDeadline())
        let spent = c.clock.now().timeIntervalSince(start)
        #expect(spent == 10, "gave up \(spent) s after the round began")
        #expect(c.api.requestCount(.update) == 5, "attempts at 0, 2, 4, 6 and 8 s; none at the deadline")
    }

    /// The scripted scenario: `a` leads, its renewals start failing (the API is unreachable),
    /// it stops leading before its Lease could expire, leads again once renewals succeed, and
    /// releases the Lease when cancelled, after its work returned.
    @Test func runStopsLeadingBeforeExpiryAndReleasesOnCancel() async throws {
        let c = Cluster()
        let clock = c.clock, api = c.api
        struct Script {
            var starts: [Date] = []
            var stops: [Date] = []
            var holderAtStop: [String?] = []
            var sleeps = 0
            var failuresInjectedAt: Date?
            var lastRenewBeforeFailures: String?
            var run: Task<Void, Never>?
        }
        let script = Mutex(Script())
        var a = elector(c, "a")
        a.sleep = { duration in
            clock.advance(by: duration)
            let inject = script.withLock { s -> Bool in
                s.sleeps += 1
                guard s.starts.count == 1, s.failuresInjectedAt == nil, s.sleeps >= 3 else { return false }
                s.failuresInjectedAt = clock.now()
                return true
            }
            if inject {
                let renewed = api.objects(Lease.self, namespace: "kube-system").first?.spec?.renewTime
                script.withLock { $0.lastRenewBeforeFailures = renewed }
                for _ in 0..<8 { api.failNext(.update, kind: "Lease", error: KubeClientError(code: 0, reason: "Transport", message: "fake: connection refused")) }
            }
            await Task.yield()
        }
        let elector = a
        let task = Task {
            await elector.run {
                script.withLock { $0.starts.append(clock.now()) }
                let second = script.withLock { s -> Bool in
                    if s.starts.count == 2 { s.run?.cancel() }
                    return s.starts.count == 2
                }
                if !second { try? await Task.sleep(for: .seconds(3600)) }
                let holder = api.objects(Lease.self, namespace: "kube-system").first?.spec?.holderIdentity
                script.withLock {
                    $0.stops.append(clock.now())
                    $0.holderAtStop.append(holder)
                }
            }
        }
        script.withLock { $0.run = task }
        await task.value

        let s = script.withLock { $0 }
        try #require(s.starts.count == 2, "led, stopped, led again")
        #expect(s.stops.count == 2)
        let lastRenew = try #require(s.lastRenewBeforeFailures.flatMap(Date.init(kubeTimestamp:)))
        let stoppedAfter = s.stops[0].timeIntervalSince(lastRenew)
        #expect(stoppedAfter <= 12, "stopped \(stoppedAfter) s after the last renewal: renew deadline (10 s) plus one retry period")
        #expect(stoppedAfter < 15, "before any other candidate could take the lease")
        #expect(s.holderAtStop == ["a", "a"], "the work returned while the lease was still ours; the release came after")
        let spec = try lease(c)
        #expect(spec.holderIdentity == "", "released on cancel")
        #expect(spec.leaseDurationSeconds == 1)
        #expect(spec.leaseTransitions == 0, "a renewed its own record: no transition")
    }
}

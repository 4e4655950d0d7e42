import EtcdStore
import Foundation
import Store
import Testing
import TestSupport

/// The etcd backend against real Debian etcd 3.4 members on loopback.
@Suite(.serialized) struct EtcdStoreTests {
    static let etcdInstalled = EtcdCluster.binary != nil

    static func directory(_ name: String) -> String {
        NSTemporaryDirectory() + "nodekit-etcd-\(name)-\(Host.runSuffix)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The conformance suite, one fresh single-member cluster per check. TTLs are real etcd
    /// leases (etcd rounds them up to its 2 s minimum), so `elapse` really waits.
    @Test(.enabled(if: etcdInstalled, "needs /usr/bin/etcd (apt-get install etcd-server)"), arguments: StoreConformance.Check.allCases)
    func conformance(_ check: StoreConformance.Check) async throws {
        let cluster = try EtcdCluster.start(members: 1, baseDirectory: Self.directory("conformance"))
        defer { cluster.stop() }
        let store = try EtcdStore(endpoints: EtcdStore.parseEndpoints(cluster.endpoints.joined(separator: ",")))
        do {
            try await StoreConformance.run(check, on: StoreUnderTest(store: store, prefix: "/conformance/", elapse: { try await Task.sleep(for: $0) }))
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    @Test(.enabled(if: etcdInstalled, "needs /usr/bin/etcd (apt-get install etcd-server)"))
    func statusAndURLFactory() async throws {
        let cluster = try EtcdCluster.start(members: 1, baseDirectory: Self.directory("status"))
        defer { cluster.stop() }
        let opened = try openStore(cluster.storeURL)
        let store = try #require(opened as? EtcdStore)
        let status = try await store.status()
        #expect(status.version.hasPrefix("3."))
        #expect(status.leader != 0)
        let created = try await store.create("/status/k", value: [1], ttl: nil)
        #expect(try await store.currentRevision() == created.modRevision)
        await store.close()
        await #expect(throws: StoreError.self) { _ = try await store.currentRevision() }
    }

    /// Three members; the one the client talks to is killed with SIGKILL mid-stream: writes go on
    /// through the others, and a watch resumes on another member without losing an event.
    @Test(.enabled(if: etcdInstalled, "needs /usr/bin/etcd (apt-get install etcd-server)"))
    func killOneOfThreeAndWritesContinue() async throws {
        let cluster = try EtcdCluster.start(members: 3, baseDirectory: Self.directory("cluster"))
        defer { cluster.stop() }
        let store = try EtcdStore(endpoints: EtcdStore.parseEndpoints(cluster.endpoints.joined(separator: ",")))
        defer { Task { await store.close() } }
        let watch = try await store.watch(.prefix("/failover/"))
        var written: [KeyValue] = []
        for index in 0..<20 { written.append(try await store.create("/failover/before/\(index)", value: [UInt8(index)], ttl: nil)) }

        // The client starts on the first endpoint; kill exactly that member.
        try cluster.kill(member: 0)
        let started = ContinuousClock.now
        for index in 0..<20 { written.append(try await store.create("/failover/after/\(index)", value: [UInt8(index)], ttl: nil)) }
        let failoverTime = ContinuousClock.now - started
        #expect(failoverTime < .seconds(15), "20 writes after the kill took \(failoverTime)")

        let listed = try await store.range(.prefix("/failover/"))
        #expect(listed.count == 40)
        #expect(Set(listed.kvs.map(\.key)) == Set(written.map(\.key)))
        let events = try await StoreConformance.collectEvents(watch, count: 40)
        #expect(events.map(\.kv) == written, "the watch lost or reordered events across the failover")
        let revisions = events.map(\.revision)
        #expect(revisions == revisions.sorted())
    }
}

import Foundation
import Store
import Testing
import TestSupport

/// The conformance suite against the two in-process backends. The etcd run of the same checks
/// lives in IntegrationTests (it starts a real etcd).
@Suite struct StoreConformanceTests {
    @Test(arguments: StoreConformance.Check.allCases)
    func memory(_ check: StoreConformance.Check) async throws {
        let clock = ManualStoreClock()
        let store = LocalStore.inMemory(options: .manual(clock))
        defer { Task { await store.close() } }
        try await StoreConformance.run(check, on: StoreUnderTest(store: store, prefix: "/conformance/", elapse: Self.stepper(store, clock)))
    }

    @Test(arguments: StoreConformance.Check.allCases)
    func embedded(_ check: StoreConformance.Check) async throws {
        let directory = try TemporaryStoreDirectory("conformance-\(check)")
        defer { directory.remove() }
        let clock = ManualStoreClock()
        let store = try LocalStore.open(directory: directory.path, options: .manual(clock))
        do {
            try await StoreConformance.run(check, on: StoreUnderTest(store: store, prefix: "/conformance/", elapse: Self.stepper(store, clock)))
        } catch {
            await store.close()
            throw error
        }
        // What the check left behind survives a close and reopen unchanged.
        let before = try await store.range(.prefix("/"))
        let revision = try await store.currentRevision()
        await store.close()
        let reopened = try LocalStore.open(directory: directory.path, options: .manual(clock))
        let after = try await reopened.range(.prefix("/"))
        let reopenedRevision = try await reopened.currentRevision()
        await reopened.close()
        #expect(after.kvs == before.kvs)
        #expect(reopenedRevision == revision)
    }

    static func stepper(_ store: LocalStore, _ clock: ManualStoreClock) -> @Sendable (Duration) async throws -> Void {
        { duration in
            clock.advance(by: duration)
            await store.expireKeys()
        }
    }
}

extension LocalStoreOptions {
    /// Options for unit tests: a manual clock and no background loop.
    static func manual(_ clock: ManualStoreClock) -> LocalStoreOptions {
        var options = LocalStoreOptions()
        options.clock = clock
        options.backgroundMaintenance = false
        return options
    }
}

import Foundation
import KubeAPI
import Store
import Testing
@testable import APIServer

/// The allocation repair frees a key no service holds only on the third pass in a row that
/// finds it so (upstream's numRepairsBeforeLeakCleanup), so a key another server has just
/// taken for a service it has not yet written survives a repair.
@Suite struct ServiceAllocatorRepairTests {
    static let ipKey = ServiceAllocator.ipPrefix + "10.96.0.50"
    static let portKey = ServiceAllocator.portPrefix + "30080"

    static func service(_ name: String = "web", clusterIP: String, nodePort: Int64) -> [UInt8] {
        JSONCoding.encode([
            "apiVersion": .string("v1"), "kind": .string("Service"),
            "metadata": .object(["name": .string(name), "namespace": .string("default")]),
            "spec": .object(["clusterIP": .string(clusterIP), "type": .string("NodePort"),
                             "ports": .array([.object(["port": .int(80), "nodePort": .int(nodePort)])])]),
        ] as JSONObject)
    }

    @Test func aLeakIsFreedOnTheThirdPassInARow() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        let allocator = try ServiceAllocator(store: store, serviceCIDR: "10.96.0.0/12", nodePorts: 30000...32767)
        _ = try await store.create(Self.ipKey, value: Array("default/web".utf8), ttl: nil)
        _ = try await store.create(Self.portKey, value: Array("default/web".utf8), ttl: nil)

        for _ in 1..<ServiceAllocator.repairPassesBeforeLeakCleanup {
            let pass = try await allocator.repair()
            #expect(pass.freed.isEmpty)
            #expect(Set(pass.flagged) == [Self.ipKey, Self.portKey])
            #expect(try await store.get(Self.ipKey) != nil)
        }
        let last = try await allocator.repair()
        #expect(Set(last.freed) == [Self.ipKey, Self.portKey])
        #expect(try await store.get(Self.ipKey) == nil)
        #expect(try await store.get(Self.portKey) == nil)
        #expect(try await allocator.repair() == ServiceAllocator.RepairResult())
    }

    @Test func aKeyWhoseServiceArrivesIsKeptAndStartsOver() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        let allocator = try ServiceAllocator(store: store, serviceCIDR: "10.96.0.0/12", nodePorts: 30000...32767)
        _ = try await store.create(Self.ipKey, value: Array("default/web".utf8), ttl: nil)
        _ = try await store.create(Self.portKey, value: Array("default/web".utf8), ttl: nil)
        #expect(try await allocator.repair().flagged.count == 2)
        #expect(try await allocator.repair().flagged.count == 2)

        // The other server writes its service: both keys are held, nothing is flagged.
        let serviceKey = Services.definition.storageKey(namespace: "default", name: "web")
        let written = try await store.create(serviceKey, value: Self.service(clusterIP: "10.96.0.50", nodePort: 30080), ttl: nil)
        #expect(try await allocator.repair() == ServiceAllocator.RepairResult())

        // Deleted without releasing (a crash): the count starts again from the first pass.
        _ = try await store.delete(serviceKey, expectedModRevision: written.modRevision)
        #expect(try await allocator.repair().flagged.count == 2)
        #expect(try await allocator.repair().flagged.count == 2)
        #expect(try await store.get(Self.ipKey) != nil)
        #expect(try await allocator.repair().freed.count == 2)
    }

    @Test func aKeyTheServiceNoLongerHoldsIsALeak() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        let allocator = try ServiceAllocator(store: store, serviceCIDR: "10.96.0.0/12", nodePorts: 30000...32767)
        _ = try await store.create(Self.ipKey, value: Array("default/web".utf8), ttl: nil)
        _ = try await store.create(Services.definition.storageKey(namespace: "default", name: "web"),
                                   value: Self.service(clusterIP: "10.96.0.51", nodePort: 30081), ttl: nil)
        for _ in 1..<ServiceAllocator.repairPassesBeforeLeakCleanup { #expect(try await allocator.repair().flagged == [Self.ipKey]) }
        #expect(try await allocator.repair().freed == [Self.ipKey])
    }

    static func owner(_ store: any Store, _ key: String) async throws -> String? {
        try await store.get(key).map { String(decoding: $0.value, as: UTF8.self) }
    }

    /// A Service whose keys are missing (the failed-create bug before 43e8e73 freed them) gets
    /// them back on the next pass, as upstream's repair re-allocates ("... is not allocated;
    /// repairing"), and no other Service can then be given its address.
    @Test func aHeldAddressWhoseKeyIsMissingIsTakenAgain() async throws {
        let (store, allocator, storage) = try await storageWithDefaultNamespace(serviceCIDR: "10.96.0.0/12")
        defer { Task { await store.close() } }
        _ = try await store.create(Services.definition.storageKey(namespace: "default", name: "web"),
                                   value: Self.service(clusterIP: "10.96.0.50", nodePort: 30080), ttl: nil)

        let pass = try await allocator.repair()
        #expect(pass.retaken == [Self.ipKey: "default/web", Self.portKey: "default/web"])
        #expect(pass.freed.isEmpty && pass.flagged.isEmpty && pass.reassigned.isEmpty && pass.duplicates.isEmpty)
        #expect(try await Self.owner(store, Self.ipKey) == "default/web")
        #expect(try await Self.owner(store, Self.portKey) == "default/web")
        #expect(try await allocator.repair() == ServiceAllocator.RepairResult())

        let other: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("Service"),
                                        "metadata": .object(["name": .string("other"), "namespace": .string("default")]),
                                        "spec": .object(["clusterIP": .string("10.96.0.50"), "ports": .array([.object(["port": .int(80)])])])])
        do {
            _ = try await storage.create(Services.definition, namespace: "default", body: other, options: WriteOptions())
            Issue.record("a second Service was given 10.96.0.50")
        } catch {
            #expect(error.code == 422, "\(error)")
        }
    }

    /// A key recorded for a Service that does not hold it, while another does, goes to the one
    /// that holds it instead of being freed as a leak.
    @Test func aKeyHeldByAnotherServiceIsReassigned() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        let allocator = try ServiceAllocator(store: store, serviceCIDR: "10.96.0.0/12", nodePorts: 30000...32767)
        _ = try await store.create(Self.ipKey, value: Array("default/gone".utf8), ttl: nil)
        _ = try await store.create(Self.portKey, value: Array("default/web".utf8), ttl: nil)
        _ = try await store.create(Services.definition.storageKey(namespace: "default", name: "web"),
                                   value: Self.service(clusterIP: "10.96.0.50", nodePort: 30080), ttl: nil)
        let pass = try await allocator.repair()
        #expect(pass.reassigned == [Self.ipKey: "default/web"])
        #expect(pass.flagged.isEmpty && pass.retaken.isEmpty)
        #expect(try await Self.owner(store, Self.ipKey) == "default/web")
        for _ in 0..<ServiceAllocator.repairPassesBeforeLeakCleanup { #expect(try await allocator.repair() == ServiceAllocator.RepairResult()) }
        #expect(try await store.get(Self.ipKey) != nil)
    }

    /// Two Services on one address, and an address outside the range, are reported and left
    /// alone (upstream: "please recreate"); the duplicated address stays allocated.
    @Test func duplicatesAndOutOfRangeAreReportedNotChanged() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        let allocator = try ServiceAllocator(store: store, serviceCIDR: "10.96.0.0/12", nodePorts: 30000...32767)
        _ = try await store.create(Self.ipKey, value: Array("default/b".utf8), ttl: nil)
        for name in ["a", "b"] {
            _ = try await store.create(Services.definition.storageKey(namespace: "default", name: name),
                                       value: Self.service(name, clusterIP: "10.96.0.50", nodePort: name == "a" ? 30080 : 30081), ttl: nil)
        }
        _ = try await store.create(Services.definition.storageKey(namespace: "default", name: "outside"),
                                   value: Self.service("outside", clusterIP: "192.168.0.10", nodePort: 40000), ttl: nil)
        let pass = try await allocator.repair()
        #expect(pass.duplicates == [Self.ipKey: ["default/a", "default/b"]])
        #expect(pass.outOfRange == [ServiceAllocator.ipPrefix + "192.168.0.10": "default/outside", ServiceAllocator.portPrefix + "40000": "default/outside"])
        #expect(pass.reassigned.isEmpty && pass.flagged.isEmpty)
        #expect(pass.retaken == [Self.portKey: "default/a", ServiceAllocator.portPrefix + "30081": "default/b"])
        #expect(try await Self.owner(store, Self.ipKey) == "default/b")
        #expect(try await store.get(ServiceAllocator.ipPrefix + "192.168.0.10") == nil)
    }

    /// A Service deleted (and its keys released) between the pass's read and its taking a key
    /// again: the pass gives the key back, so nothing leaks.
    @Test func aKeyTakenForAServiceDeletedMeanwhileIsGivenBack() async throws {
        let inner = LocalStore.inMemory()
        defer { Task { await inner.close() } }
        let serviceKey = Services.definition.storageKey(namespace: "default", name: "web")
        _ = try await inner.create(serviceKey, value: Self.service(clusterIP: "10.96.0.50", nodePort: 30080), ttl: nil)
        let store = DeletesBeforeCreate(inner: inner, deleting: serviceKey)
        let allocator = try ServiceAllocator(store: store, serviceCIDR: "10.96.0.0/12", nodePorts: 30000...32767)
        let pass = try await allocator.repair()
        #expect(pass.retaken.isEmpty)
        #expect(try await inner.get(Self.ipKey) == nil)
        #expect(try await inner.get(Self.portKey) == nil)
        #expect(try await inner.get(serviceKey) == nil)
    }
}

/// An in-memory store with a Service allocator over `serviceCIDR`, the REST storage on both,
/// and the `default` namespace.
private func storageWithDefaultNamespace(serviceCIDR: String) async throws -> (LocalStore, ServiceAllocator, RESTStorage) {
    let store = LocalStore.inMemory()
    let allocator = try ServiceAllocator(store: store, serviceCIDR: serviceCIDR, nodePorts: 30000...32767)
    let storage = RESTStorage(store: store, registry: .builtIn, allocator: allocator, now: { Date() })
    _ = try await storage.create(Namespaces.definition, namespace: nil, body: .object(["apiVersion": .string("v1"), "kind": .string("Namespace"),
                                                                                      "metadata": .object(["name": .string("default")])]),
                                 options: WriteOptions())
    return (store, allocator, storage)
}

/// A store that deletes one key just before the first create of an allocation key: the
/// service's delete landing between a repair pass's read and its create.
private struct DeletesBeforeCreate: Store {
    let inner: any Store
    let deleting: String

    func currentRevision() async throws(StoreError) -> Int64 { try await inner.currentRevision() }
    func create(_ key: String, value: [UInt8], ttl: Duration?) async throws(StoreError) -> KeyValue {
        if key.hasPrefix("/registry/ranges/") { _ = try? await inner.delete(deleting, expectedModRevision: nil) }
        return try await inner.create(key, value: value, ttl: ttl)
    }
    func update(_ key: String, value: [UInt8], expectedModRevision: Int64, ttl: Duration?) async throws(StoreError) -> KeyValue {
        try await inner.update(key, value: value, expectedModRevision: expectedModRevision, ttl: ttl)
    }
    func delete(_ key: String, expectedModRevision: Int64?) async throws(StoreError) -> DeleteResult {
        try await inner.delete(key, expectedModRevision: expectedModRevision)
    }
    func range(_ request: RangeRequest) async throws(StoreError) -> RangeResult { try await inner.range(request) }
    func watch(_ request: WatchRequest) async throws(StoreError) -> StoreWatch { try await inner.watch(request) }
    func compact(to revision: Int64) async throws(StoreError) { try await inner.compact(to: revision) }
    func close() async { await inner.close() }
}

/// A create that fails gives back only the allocation keys it created: a second create of a
/// Service that exists (answered AlreadyExists, as `nodekit server`'s bootstrap of the
/// `kubernetes` Service is on every start after the first) leaves the existing Service's
/// address and node port held, so no other Service can be given them.
@Suite struct ServiceAllocatorCreateTests {
    static func body(_ name: String, clusterIP: String?) -> JSONValue {
        var spec: JSONObject = ["type": .string("NodePort"), "ports": .array([.object(["port": .int(80), "nodePort": .int(30080)])])]
        if let clusterIP { spec["clusterIP"] = .string(clusterIP) }
        return .object(["apiVersion": .string("v1"), "kind": .string("Service"),
                        "metadata": .object(["name": .string(name), "namespace": .string("default")]), "spec": .object(spec)])
    }

    @Test(arguments: [true, false])
    func aDuplicateCreateKeepsTheExistingServicesAllocations(explicitAddress: Bool) async throws {
        let (store, _, storage) = try await storageWithDefaultNamespace(serviceCIDR: "10.96.0.0/28")
        defer { Task { await store.close() } }
        let created = try await storage.create(Services.definition, namespace: "default", body: Self.body("web", clusterIP: "10.96.0.1"), options: WriteOptions())
        #expect(created[path: ["spec", "clusterIP"]]?.stringValue == "10.96.0.1")
        let ipKey = ServiceAllocator.ipPrefix + "10.96.0.1"
        let portKey = ServiceAllocator.portPrefix + "30080"

        // Again, with the same address or letting the allocator choose: 409, and both keys stay.
        await #expect(throws: APIError.self) {
            _ = try await storage.create(Services.definition, namespace: "default", body: Self.body("web", clusterIP: explicitAddress ? "10.96.0.1" : nil),
                                         options: WriteOptions())
        }
        do {
            _ = try await storage.create(Services.definition, namespace: "default", body: Self.body("web", clusterIP: "10.96.0.1"), options: WriteOptions())
            Issue.record("a second Service named web was created")
        } catch {
            #expect(error.code == 409, "\(error)")
        }
        #expect(try await store.get(ipKey).map { String(decoding: $0.value, as: UTF8.self) } == "default/web")
        #expect(try await store.get(portKey).map { String(decoding: $0.value, as: UTF8.self) } == "default/web")

        // Another Service cannot take them: 422, and nothing is written.
        do {
            _ = try await storage.create(Services.definition, namespace: "default", body: Self.body("other", clusterIP: "10.96.0.1"), options: WriteOptions())
            Issue.record("a second Service was given 10.96.0.1")
        } catch {
            #expect(error.code == 422, "\(error)")
        }
        // Letting the allocator choose in a /28 (14 addresses) never lands on the held one.
        for index in 0..<12 {
            let body: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("Service"),
                                           "metadata": .object(["name": .string("auto\(index)"), "namespace": .string("default")]),
                                           "spec": .object(["ports": .array([.object(["port": .int(80)])])])])
            let service = try await storage.create(Services.definition, namespace: "default", body: body, options: WriteOptions())
            #expect(service[path: ["spec", "clusterIP"]]?.stringValue != "10.96.0.1")
        }
    }
}

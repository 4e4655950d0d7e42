@testable import EtcdStore
import Foundation
import Store
import Testing

@Suite struct StoreURLTests {
    @Test(arguments: [
        ("embedded:///var/lib/nodekit/store", StoreLocation.embedded(directory: "/var/lib/nodekit/store")),
        ("/var/lib/nodekit/store", .embedded(directory: "/var/lib/nodekit/store")),
        ("data/store", .embedded(directory: "data/store")),
        ("memory://", .memory),
        ("etcd://127.0.0.1:2379", .etcd([EtcdStore.Endpoint(host: "127.0.0.1", port: 2379)])),
        ("etcd://10.0.0.1:2379,10.0.0.2:2379, etcd-3:12379", .etcd([
            EtcdStore.Endpoint(host: "10.0.0.1", port: 2379), EtcdStore.Endpoint(host: "10.0.0.2", port: 2379),
            EtcdStore.Endpoint(host: "etcd-3", port: 12379),
        ])),
        ("etcd://[::1]:2379", .etcd([EtcdStore.Endpoint(host: "::1", port: 2379)])),
    ])
    func parses(_ text: String, _ expected: StoreLocation) throws {
        #expect(try StoreLocation(parsing: text) == expected)
    }

    @Test(arguments: ["", "embedded://relative", "etcd://", "etcd://host", "etcd://host:0", "etcd://host:99999", "etcd://:2379", "mysql://x"])
    func rejects(_ text: String) {
        #expect(throws: StoreError.self) { try StoreLocation(parsing: text) }
    }

    @Test func prefixEndFollowsEtcd() {
        #expect(EtcdStore.prefixEnd("/registry/pods/") == Data("/registry/pods0".utf8))
        #expect(EtcdStore.prefixEnd("a") == Data("b".utf8))
        #expect(EtcdStore.prefixEnd("") == Data([0]))
    }

    @Test func memoryURLOpensAWorkingStore() async throws {
        let store = try openStore("memory://")
        let kv = try await store.create("/a", value: [1], ttl: nil)
        #expect(try await store.get("/a") == kv)
        await store.close()
    }
}

import Foundation
import KubeAPI
import KubeClient
import TestSupport
import Testing

/// The node agent's routes to other nodes' podCIDRs follow the Nodes through an informer over
/// FakeKubeAPI: a Node that joins, its podCIDR arriving later, an address change, a deletion.
@Suite struct NodeRoutesTests {
    static func node(_ name: String, ip: String?, podCIDR: String? = nil) -> Node {
        var node = Node(metadata: ObjectMeta(name: name))
        if let podCIDR {
            var spec = NodeSpec()
            spec.podCIDR = podCIDR
            spec.podCIDRs = [podCIDR]
            node.spec = spec
        }
        if let ip {
            var status = NodeStatus()
            status.addresses = [NodeAddress(type: "InternalIP", address: ip)]
            node.status = status
        }
        return node
    }

    /// A routes file in a fresh temporary directory.
    static func routesFile() -> String {
        NSTemporaryDirectory() + "nk-node-routes-\(UUID().uuidString)/node-routes.json"
    }

    static func fileRoutes(_ path: String) throws -> [NodeRoutesFile.Route] {
        let data = try #require(FileManager.default.contents(atPath: path), "no routes file at \(path)")
        return try JSONDecoder().decode([NodeRoutesFile.Route].self, from: data)
    }

    static func cleanUp(_ path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }

    /// Runs the informer's watch until `condition` holds after the API changes `change` makes,
    /// then stops it. The informer must have listed.
    static func watch(_ informer: Informer<Node>, api: FakeKubeAPI, _ change: () async throws -> Void) async throws {
        let watch = Task { try await informer.watchOnce() }
        for _ in 0..<100_000 where api.watcherCount == 0 { await Task.yield() }
        try #require(api.watcherCount == 1, "the informer's watch did not start")
        try await change()
        api.breakWatches()
        _ = await watch.result
    }

    @Test func routesFollowNodeAddPodCIDRAddressChangeAndDelete() async throws {
        let api = FakeKubeAPI()
        let table = FakeNodeRouteTable()
        let path = Self.routesFile()
        defer { Self.cleanUp(path) }
        _ = try await api.create(Self.node("self", ip: "192.168.1.1", podCIDR: "10.244.0.0/24"))
        let informer = Informer<Node>(client: api)
        let sync = NodeRoutesSync(selfName: "self", routesFile: path, table: table)
        sync.follow(informer)
        try await informer.relist()
        #expect(table.routes.isEmpty, "no route to this node itself")
        #expect(try Self.fileRoutes(path).isEmpty)

        // A node joins without a podCIDR: nothing to route yet. The podCIDR arrives later.
        try await Self.watch(informer, api: api) {
            _ = try await api.create(Self.node("two", ip: "192.168.1.2"))
        }
        #expect(table.routes.isEmpty)
        try await Self.watch(informer, api: api) {
            _ = try await api.patch(Node.self, namespace: nil, name: "two",
                                    patch: .object(["spec": .object(["podCIDR": .string("10.244.1.0/24"), "podCIDRs": .array([.string("10.244.1.0/24")])])]),
                                    patchType: .merge, subresource: nil, options: WriteOptions())
        }
        #expect(table.routes == ["10.244.1.0/24": "192.168.1.2"])
        #expect(try Self.fileRoutes(path) == [NodeRoutesFile.Route(dst: "10.244.1.0/24", gw: "192.168.1.2")])

        // A third node, then the second one's address changes: its route moves.
        try await Self.watch(informer, api: api) {
            _ = try await api.create(Self.node("three", ip: "192.168.1.3", podCIDR: "10.244.2.0/24"))
            _ = try await api.patch(Node.self, namespace: nil, name: "two",
                                    patch: .object(["status": .object(["addresses": .array([.object(["type": .string("InternalIP"), "address": .string("192.168.1.22")])])])]),
                                    patchType: .merge, subresource: "status", options: WriteOptions())
        }
        #expect(table.routes == ["10.244.1.0/24": "192.168.1.22", "10.244.2.0/24": "192.168.1.3"])

        // A deleted node's route goes; the file lists only the remaining one.
        try await Self.watch(informer, api: api) {
            try await api.delete(Node.self, namespace: nil, name: "three", options: DeleteOptions())
        }
        #expect(table.routes == ["10.244.1.0/24": "192.168.1.22"])
        #expect(try Self.fileRoutes(path) == [NodeRoutesFile.Route(dst: "10.244.1.0/24", gw: "192.168.1.22")])
    }

    @Test func aFailedStepIsRetriedAndAFullSyncRestoresADroppedRoute() throws {
        let table = FakeNodeRouteTable()
        let path = Self.routesFile()
        defer { Self.cleanUp(path) }
        let sync = NodeRoutesSync(selfName: "self", routesFile: path, table: table)
        let nodes = [Self.node("self", ip: "192.168.1.1", podCIDR: "10.244.0.0/24"),
                     Self.node("two", ip: "192.168.1.2", podCIDR: "10.244.1.0/24"),
                     Self.node("three", ip: "192.168.1.3", podCIDR: "10.244.2.0/24")]
        table.fail("10.244.2.0/24")
        let failed = sync.sync(nodes: nodes)
        #expect(failed.failures.count == 1 && failed.failures[0].contains("10.244.2.0/24"), "\(failed.failures)")
        #expect(table.routes == ["10.244.1.0/24": "192.168.1.2"])
        #expect(failed.fileChanged, "the file is written even when a kernel step fails")

        table.heal("10.244.2.0/24")
        let retried = sync.sync(nodes: nodes)
        #expect(retried.failures.isEmpty)
        #expect(retried.added == [NodeRoutesFile.Route(dst: "10.244.2.0/24", gw: "192.168.1.3")])
        #expect(table.routes.count == 2)

        // Once clean, an unchanged node list costs no kernel call; a full sync re-programs all.
        let calls = table.calls
        let quiet = sync.sync(nodes: nodes)
        #expect(table.calls == calls && quiet.added.isEmpty && !quiet.fileChanged)
        table.dropBehindBack("10.244.1.0/24")
        sync.sync(nodes: nodes, full: true)
        #expect(table.routes == ["10.244.1.0/24": "192.168.1.2", "10.244.2.0/24": "192.168.1.3"])
    }

    @Test func aRestartRemovesRoutesOfNodesDeletedMeanwhileAndLeavesForeignRoutes() throws {
        let table = FakeNodeRouteTable()
        let path = Self.routesFile()
        defer { Self.cleanUp(path) }
        let old = NodeRoutesSync(selfName: "self", routesFile: path, table: table)
        old.sync(nodes: [Self.node("two", ip: "192.168.1.2", podCIDR: "10.244.1.0/24"),
                         Self.node("gone", ip: "192.168.1.9", podCIDR: "10.244.9.0/24")])
        table.addForeign(NodeRoutesFile.Route(dst: "172.16.0.0/16", gw: "192.168.1.254"))

        // The next run knows what the previous one programmed from the file it left.
        let restarted = NodeRoutesSync(selfName: "self", routesFile: path, table: table)
        let outcome = restarted.sync(nodes: [Self.node("two", ip: "192.168.1.2", podCIDR: "10.244.1.0/24")])
        #expect(outcome.removed == [NodeRoutesFile.Route(dst: "10.244.9.0/24", gw: "192.168.1.9")])
        #expect(table.routes == ["10.244.1.0/24": "192.168.1.2", "172.16.0.0/16": "192.168.1.254"])
    }

    @Test func withoutATableOnlyTheFileIsKept() throws {
        let path = Self.routesFile()
        defer { Self.cleanUp(path) }
        let sync = NodeRoutesSync(selfName: "self", routesFile: path, table: nil)
        let outcome = sync.sync(nodes: [Self.node("two", ip: "192.168.1.2", podCIDR: "10.244.1.0/24"),
                                        Self.node("noaddress", ip: nil, podCIDR: "10.244.3.0/24")])
        #expect(outcome.added.isEmpty && outcome.failures.isEmpty)
        #expect(try Self.fileRoutes(path) == [NodeRoutesFile.Route(dst: "10.244.1.0/24", gw: "192.168.1.2")])
    }
}

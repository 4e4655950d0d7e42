import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct NodeNetworkTests {
    static func node(_ name: String, cidr: String? = nil, ip: String? = nil) -> Node {
        var n = Node(metadata: ObjectMeta(name: name), spec: NodeSpec(podCIDR: cidr))
        if let ip {
            var status = NodeStatus()
            status.addresses = [NodeAddress(type: "InternalIP", address: ip)]
            n.status = status
        }
        return n
    }

    @Test func planSkipsTakenSubnetsInNameOrder() throws {
        let ipam = try NodeIPAM(client: FakeKubeAPI(), clusterCIDR: "10.244.0.0/16")
        let plan = ipam.plan([Self.node("c"), Self.node("a", cidr: "10.244.0.0/24"), Self.node("b"), Self.node("d", cidr: "10.244.2.0/24")])
        #expect(plan == ["b": "10.244.1.0/24", "c": "10.244.3.0/24"])
    }

    @Test func exhaustedRangeIsAnError() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.node("a"), Self.node("b"), Self.node("c")])
        let ipam = try NodeIPAM(client: api, clusterCIDR: "10.0.0.0/23")
        do {
            try await ipam.sync(api.objects(Node.self))
            Issue.record("three /24s from a /23")
        } catch {
            #expect(error.reason == "CIDRExhausted")
            #expect(error.message.contains("node c"))
        }
    }

    @Test func syncPatchesPodCIDRs() async throws {
        let api = FakeKubeAPI()
        try api.seed([Self.node("n1"), Self.node("n2", cidr: "10.244.0.0/24")])
        let ipam = try NodeIPAM(client: api, clusterCIDR: "10.244.0.0/16")
        let done = try await ipam.sync(api.objects(Node.self))
        #expect(done == ["n1": "10.244.1.0/24"])
        let n1 = try await api.get(Node.self, namespace: nil, name: "n1")
        #expect(n1.spec?.podCIDR == "10.244.1.0/24")
        #expect(n1.spec?.podCIDRs == ["10.244.1.0/24"])
        #expect(try await ipam.sync(api.objects(Node.self)).isEmpty)
    }

    @Test(arguments: ["10.244.0.0", "10.244.0.0/33", "300.1.1.1/8", "fd00::/64"])
    func badClusterCIDRs(text: String) {
        #expect(throws: NodeIPAM.IPAMError.self) { try NodeIPAM(client: FakeKubeAPI(), clusterCIDR: text) }
    }

    @Test func routesGoToOtherNodesThatHaveCIDRAndAddress() throws {
        let nodes = [Self.node("self", cidr: "10.244.0.0/24", ip: "192.168.1.10"), Self.node("b", cidr: "10.244.2.0/24", ip: "192.168.1.12"),
                     Self.node("a", cidr: "10.244.1.0/24", ip: "192.168.1.11"), Self.node("no-ip", cidr: "10.244.3.0/24"), Self.node("no-cidr", ip: "192.168.1.14")]
        let routes = NodeRoutesFile.routes(nodes: nodes, selfName: "self")
        #expect(routes == [.init(dst: "10.244.1.0/24", gw: "192.168.1.11"), .init(dst: "10.244.2.0/24", gw: "192.168.1.12")])
        #expect(String(decoding: NodeRoutesFile.render(routes), as: UTF8.self) == #"[{"dst":"10.244.1.0\/24","gw":"192.168.1.11"},{"dst":"10.244.2.0\/24","gw":"192.168.1.12"}]"# + "\n")
    }

    @Test func routesFileIsRewrittenOnlyOnChange() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString)/node-routes.json").path
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let r = [NodeRoutesFile.Route(dst: "10.244.1.0/24", gw: "10.0.0.2")]
        #expect(try NodeRoutesFile.write(r, to: path))
        #expect(try !NodeRoutesFile.write(r, to: path))
        #expect(try NodeRoutesFile.write([], to: path))
        #expect(FileManager.default.contents(atPath: path) == Data("[]\n".utf8))
    }
}

@Suite struct NodeRegistrationTests {
    @Test func createsThenMergesLabelsKeepingServerFields() async throws {
        let api = FakeKubeAPI()
        let reg = NodeRegistration(nodeName: "n1", internalIP: "10.0.0.5", extraLabels: ["role": "worker"])
        let first = try await reg.register(with: api)
        #expect(first.metadata.labels?["kubernetes.io/hostname"] == "n1")
        #expect(first.metadata.labels?["role"] == "worker")
        #expect(first.status?.addresses?.first == NodeAddress(type: "InternalIP", address: "10.0.0.5"))
        // The server assigned a podCIDR and someone added a label: a re-registration keeps both.
        _ = try await api.mergePatch(Node.self, namespace: nil, name: "n1", .object(["spec": .object(["podCIDR": .string("10.244.7.0/24")]),
                                                                                      "metadata": .object(["labels": .object(["zone": .string("a")])])]))
        let again = try await NodeRegistration(nodeName: "n1", internalIP: "10.0.0.6").register(with: api)
        #expect(again.spec?.podCIDR == "10.244.7.0/24")
        #expect(again.metadata.labels?["zone"] == "a")
        #expect(again.status?.addresses?.first?.address == "10.0.0.6")
        #expect(api.objects(Node.self).count == 1)
    }
}

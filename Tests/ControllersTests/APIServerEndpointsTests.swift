import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

/// APIServerEndpointReconciler over the fake API and a manual clock: the `kubernetes`
/// Service's Endpoints and EndpointSlice follow the live API servers' records.
@Suite struct APIServerEndpointsTests {
    func endpoints(_ c: Cluster) -> (Endpoints?, EndpointSlice?) {
        (c.api.objects(Endpoints.self, namespace: "default").first { $0.metadata.name == "kubernetes" },
         c.api.objects(EndpointSlice.self, namespace: "default").first { $0.metadata.name == "kubernetes" })
    }

    func addresses(_ c: Cluster) -> ([String], [String]) {
        let (e, s) = endpoints(c)
        return (e?.subsets?.flatMap { $0.addresses ?? [] }.map(\.ip) ?? [], s?.endpoints.flatMap(\.addresses) ?? [])
    }

    @Test func oneServerPublishesItsAddressAndPort() async throws {
        let c = Cluster()
        let a = APIServerEndpointReconciler(client: c.api, address: "10.0.0.2", port: 6443, clock: c.clock)
        try await a.reconcile()
        let (e, s) = endpoints(c)
        let endpoints = try #require(e), slice = try #require(s)
        #expect(endpoints.subsets == [EndpointSubset(addresses: [EndpointAddress(ip: "10.0.0.2")], ports: [EndpointPort(name: "https", protocol: "TCP", port: 6443)])])
        #expect(endpoints.metadata.labels?["endpointslice.kubernetes.io/skip-mirror"] == "true")
        #expect(slice.addressType == "IPv4")
        #expect(slice.endpoints == [Endpoint(addresses: ["10.0.0.2"], conditions: EndpointConditions(ready: true))])
        #expect(slice.ports == [EndpointPort(name: "https", protocol: "TCP", port: 6443)])
        #expect(slice.metadata.labels?[EndpointSlice.serviceNameLabel] == "kubernetes")
        let record = try #require(c.api.objects(Lease.self, namespace: "kube-system").first)
        #expect(record.spec?.holderIdentity == "10.0.0.2")
        #expect(record.metadata.labels?[APIServerEndpointReconciler.recordLabel] == "true")
    }

    @Test func aPassWithNothingChangedWritesOnlyTheRecord() async throws {
        let c = Cluster()
        let a = APIServerEndpointReconciler(client: c.api, address: "10.0.0.2", port: 6443, clock: c.clock)
        try await a.reconcile()
        let updates = c.api.requestCount(.update), creates = c.api.requestCount(.create)
        c.clock.advance(by: .seconds(10))
        try await a.reconcile()
        #expect(c.api.requestCount(.update) == updates + 1, "the record's renewal only")
        #expect(c.api.requestCount(.create) == creates)
    }

    @Test func serversJoinAndASilentOneIsDroppedAfterItsLifetime() async throws {
        let c = Cluster()
        let a = APIServerEndpointReconciler(client: c.api, address: "10.0.0.9", port: 6443, clock: c.clock)
        let b = APIServerEndpointReconciler(client: c.api, address: "10.0.0.3", port: 6443, clock: c.clock)
        try await a.reconcile()
        try await b.reconcile()
        #expect(addresses(c) == (["10.0.0.3", "10.0.0.9"], ["10.0.0.3", "10.0.0.9"]))
        try await a.reconcile()
        #expect(addresses(c) == (["10.0.0.3", "10.0.0.9"], ["10.0.0.3", "10.0.0.9"]), "a keeps b")
        // a stops renewing (killed); b's passes keep it until its record's 15 s are over.
        c.clock.advance(by: .seconds(14))
        try await b.reconcile()
        #expect(addresses(c).0 == ["10.0.0.3", "10.0.0.9"])
        c.clock.advance(by: .seconds(2))
        try await b.reconcile()
        #expect(addresses(c) == (["10.0.0.3"], ["10.0.0.3"]))
    }

    @Test func aStoppingServerRemovesItself() async throws {
        let c = Cluster()
        let a = APIServerEndpointReconciler(client: c.api, address: "10.0.0.9", port: 6443, clock: c.clock)
        let b = APIServerEndpointReconciler(client: c.api, address: "10.0.0.3", port: 6443, clock: c.clock)
        try await a.reconcile()
        try await b.reconcile()
        try await a.remove()
        #expect(addresses(c) == (["10.0.0.3"], ["10.0.0.3"]))
        #expect(c.api.objects(Lease.self, namespace: "kube-system").compactMap(\.spec?.holderIdentity) == ["10.0.0.3"])
        try await b.remove()
        #expect(addresses(c) == ([], []))
        #expect(endpoints(c).0?.subsets == nil, "no server: Endpoints without subsets, as upstream")
    }

    @Test func anIPv6AddressMakesAnIPv6Slice() async throws {
        let c = Cluster()
        let a = APIServerEndpointReconciler(client: c.api, address: "fd00::2", port: 443, clock: c.clock)
        try await a.reconcile()
        #expect(endpoints(c).1?.addressType == "IPv6")
        #expect(c.api.objects(Lease.self, namespace: "kube-system").first?.metadata.name == "nodekit-apiserver-fd00--2")
    }
}

import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

@Suite struct EndpointSliceTests {
    func service(ports: [ServicePort] = [ServicePort(name: "http", port: 80, targetPort: .string("web"))], publishNotReady: Bool = false) -> Service {
        var spec = ServiceSpec()
        spec.selector = ["app": "web"]
        spec.ports = ports
        spec.publishNotReadyAddresses = publishNotReady
        return Service(metadata: ObjectMeta(name: "web", namespace: "default"), spec: spec)
    }

    func pod(_ name: String, ip: String, ready: Bool, deleting: Bool = false, port: Int32 = 8080) -> Pod {
        var p = makePod(name, labels: ["app": "web"], node: "node-1", phase: "Running", ready: ready, ip: ip, deleting: deleting)
        p.spec.containers[0].ports = [ContainerPort(name: "web", containerPort: port)]
        return p
    }

    @Test func conditionsFollowReadinessAndTermination() throws {
        let groups = EndpointSliceLogic.desired(service: service(), pods: [
            pod("a", ip: "10.0.0.1", ready: true), pod("b", ip: "10.0.0.2", ready: false), pod("c", ip: "10.0.0.3", ready: true, deleting: true),
            makePod("no-ip", labels: ["app": "web"], phase: "Pending"), makePod("other", labels: ["app": "db"], phase: "Running", ready: true, ip: "10.0.0.9"),
        ])
        let group = try #require(groups.first)
        #expect(groups.count == 1)
        #expect(group.ports == [EndpointPort(name: "http", protocol: "TCP", port: 8080)])
        #expect(group.endpoints.map(\.addresses) == [["10.0.0.1"], ["10.0.0.2"], ["10.0.0.3"]])
        #expect(group.endpoints.map(\.conditions) == [
            EndpointConditions(ready: true, serving: true, terminating: false),
            EndpointConditions(ready: false, serving: false, terminating: false),
            EndpointConditions(ready: false, serving: true, terminating: true),
        ])
        let subsets = EndpointSliceLogic.endpoints(service: service(), groups: groups)
        #expect(subsets.first?.addresses?.map(\.ip) == ["10.0.0.1"])
        #expect(subsets.first?.notReadyAddresses?.map(\.ip) == ["10.0.0.2"], "terminating pods are left out of Endpoints")
    }

    @Test func namedTargetPortsSplitSlicesByResolvedPort() {
        let groups = EndpointSliceLogic.desired(service: service(), pods: [pod("a", ip: "10.0.0.1", ready: true), pod("b", ip: "10.0.0.2", ready: true, port: 9090)])
        #expect(groups.count == 2)
        #expect(Set(groups.map { $0.ports.first?.port }) == [8080, 9090])
    }

    @Test func publishNotReadyAddressesMakesEveryEndpointReady() {
        let groups = EndpointSliceLogic.desired(service: service(publishNotReady: true), pods: [pod("b", ip: "10.0.0.2", ready: false)])
        #expect(groups.first?.endpoints.first?.conditions?.ready == true)
    }

    @Test func syncWritesSlicesAndEndpointsAndCleansUp() async throws {
        let c = Cluster()
        let svc = try await c.api.create(service())
        _ = try await c.api.create(pod("a", ip: "10.0.0.1", ready: true))
        let controller = EndpointSliceController(client: c.api)
        try await controller.sync(key: "default/web")
        let slice = try #require(c.api.objects(EndpointSlice.self, namespace: "default").first)
        #expect(slice.serviceName == "web")
        #expect(slice.metadata.labels?["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io")
        #expect(slice.metadata.ownerReferences?.first?.uid == svc.metadata.uid)
        #expect(slice.endpoints.map(\.addresses) == [["10.0.0.1"]])
        let endpoints = try await c.api.get(Endpoints.self, namespace: "default", name: "web")
        #expect(endpoints.subsets?.first?.addresses?.map(\.ip) == ["10.0.0.1"])
        #expect(endpoints.subsets?.first?.ports == [EndpointPort(name: "http", protocol: "TCP", port: 8080)])

        let rv = c.api.resourceVersion
        try await controller.sync(key: "default/web")
        #expect(c.api.resourceVersion == rv, "an unchanged Service writes nothing")

        _ = try await c.api.create(pod("b", ip: "10.0.0.2", ready: true))
        try await controller.sync(key: "default/web")
        #expect(c.api.objects(EndpointSlice.self, namespace: "default").first?.endpoints.count == 2)

        try await c.api.delete(Service.self, namespace: "default", name: "web")
        try await controller.sync(key: "default/web")
        #expect(c.api.objects(EndpointSlice.self, namespace: "default").isEmpty)
        #expect(c.api.objects(Endpoints.self, namespace: "default").isEmpty)
    }
}

import KubeAPI
import NFTables
import Proxy
import Testing

@Suite struct ChangeTrackerTests {
    @Test func serviceAddUpdateNoopDelete() {
        var tracker = ChangeTracker(nodeName: "node-a")
        var state = ProxyState()
        let svc = Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)])
        tracker.update(svc)
        #expect(tracker.hasPendingChanges)
        let changed = tracker.apply(to: &state)
        let spn = ServicePortName(namespace: "default", name: "web", port: "http", protocol: .tcp)
        #expect(changed == [spn])
        #expect(state.services[spn]?.port == 80)

        tracker.update(svc)
        #expect(!tracker.hasPendingChanges, "an unchanged Service must be dropped")

        var changedSvc = svc
        changedSvc.spec.ports![0].port = 8080
        tracker.update(changedSvc)
        tracker.update(svc)
        #expect(!tracker.hasPendingChanges, "a change reverted before sync is a no-op")

        tracker.update(serviceKey: svc.key, nil)
        #expect(tracker.apply(to: &state) == [spn])
        #expect(state.services.isEmpty)
    }

    @Test func endpointsMergeSlicesAndConditions() {
        var tracker = ChangeTracker(nodeName: "node-a")
        var state = ProxyState()
        tracker.update(Fixtures.slice("web", "web-1", port: 8080, endpoints: [("10.1.0.1", "node-a", .init()), ("10.1.0.2", "node-b", .init(ready: false, serving: true, terminating: true))]))
        tracker.update(Fixtures.slice("web", "web-2", port: 8080, endpoints: [("10.1.0.3", "node-b", .init())]))
        let changed = tracker.apply(to: &state)
        let spn = ServicePortName(namespace: "default", name: "web", port: "http", protocol: .tcp)
        #expect(changed == [spn])
        let eps = state.endpoints[spn] ?? []
        #expect(eps.map(\.description) == ["10.1.0.1:8080", "10.1.0.2:8080", "10.1.0.3:8080"])
        #expect(eps[0].isLocal && !eps[2].isLocal)
        #expect(!eps[1].ready && eps[1].serving && eps[1].terminating)

        tracker.update(Fixtures.slice("web", "web-2", port: 8080, endpoints: []), deleted: true)
        _ = tracker.apply(to: &state)
        #expect(state.endpoints[spn]?.count == 2)
    }

    @Test(arguments: [
        // (ready, serving, terminating) per endpoint -> expected cluster endpoints
        ([(true, true, false), (false, true, true)], ["10.1.0.1:80"]),
        ([(false, true, true), (false, false, true)], ["10.1.0.1:80"]),
        ([(false, false, true)], []),
    ])
    func fallbackToServingTerminating(_ conditions: [(Bool, Bool, Bool)], _ expected: [String]) {
        let eps = conditions.enumerated().map { i, c in
            EndpointInfo(ip: IPAddress("10.1.0.\(i + 1)")!, port: 80, ready: c.0, serving: c.1, terminating: c.2)
        }
        let info = ServicePortInfo(clusterIPs: [IPAddress("10.96.0.1")!], port: 80, protocol: .tcp)
        let selection = EndpointSelection(service: info, endpoints: eps)
        #expect(selection.cluster.map(\.description) == expected)
        #expect(selection.hasNoEndpoints == expected.isEmpty)
    }

    @Test func headlessAndExternalNameAreIgnored() {
        var headless = Fixtures.service("h", ip: "None", ports: [(name: "", port: 80)])
        #expect(ChangeTracker.servicePorts(headless).isEmpty)
        headless.spec.type = "ExternalName"
        #expect(ChangeTracker.servicePorts(headless).isEmpty)
    }
}

enum Fixtures {
    static func service(_ name: String, ip: String, ports: [(name: String, port: Int32)], type: String? = nil, namespace: String = "default") -> Service {
        var spec = ServiceSpec(type: type, ports: ports.map { ServicePort(name: $0.name.isEmpty ? nil : $0.name, port: $0.port) }, clusterIP: ip)
        spec.clusterIPs = [ip]
        return Service(metadata: ObjectMeta(name: name, namespace: namespace), spec: spec)
    }

    static func slice(_ service: String, _ name: String, port: Int32, portName: String = "http", endpoints: [(String, String, EndpointConditions)], namespace: String = "default") -> EndpointSlice {
        EndpointSlice(metadata: ObjectMeta(name: name, namespace: namespace, labels: [EndpointSlice.serviceNameLabel: service]),
                      endpoints: endpoints.map { Endpoint(addresses: [$0.0], conditions: $0.2, nodeName: $0.1) },
                      ports: [EndpointPort(name: portName, port: port)])
    }
}

import Foundation
import KubeAPI
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

/// A wall clock the test sets.
final class ManualWallClock: Sendable {
    let time = Mutex(1_800_000_000.0)
    var clock: ProxyWallClock { ProxyWallClock { self.time.withLock { $0 } } }
    func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
}

/// A proxy clock the test steps.
final class ManualProxyClock: ProxyClock {
    let time = Mutex(Duration.zero)
    func now() -> Duration { time.withLock { $0 } }
}

@Suite struct ObservabilityTests {
    func proxier(metrics: ProxyMetrics, health: ProxyHealth? = nil, wall: ManualWallClock) -> Proxier {
        let runner = SyncRunner(minSyncPeriod: .seconds(1), syncPeriod: .seconds(30), clock: ManualProxyClock())
        return Proxier(nodeName: "node-a", backends: [NFTablesProxier(family: .ip, nft: FakeNFTables())], runner: runner,
                       metrics: metrics, health: health, wallClock: wall.clock)
    }

    func value(_ text: String, _ series: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.map { String($0.dropFirst(series.count + 1)) }
    }

    @Test func changeCountersIgnoreNoOpUpdates() {
        let wall = ManualWallClock()
        let metrics = ProxyMetrics()
        let p = proxier(metrics: metrics, wall: wall)
        let svc = Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)])
        p.update(svc)
        p.update(svc)
        p.update(Fixtures.slice("web", "web-1", port: 8080, endpoints: [("10.1.0.1", "node-a", .init())]))
        let text = metrics.render()
        #expect(value(text, "kubeproxy_sync_proxy_rules_service_changes_total") == "1")
        #expect(value(text, "kubeproxy_sync_proxy_rules_endpoint_changes_total") == "1")
        #expect(value(text, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds") == "1800000000")
    }

    @Test func syncDurationsTimestampAndNetworkProgramming() {
        let wall = ManualWallClock()
        let metrics = ProxyMetrics()
        let p = proxier(metrics: metrics, wall: wall)
        p.update(Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)]))
        var slice = Fixtures.slice("web", "web-1", port: 8080, endpoints: [("10.1.0.1", "node-a", .init())])
        // The trigger happened 3 s before the wall clock's now (1800000000 = 2027-01-15T08:00:00Z).
        slice.metadata.annotations = [Proxier.triggerTimeAnnotation: "2027-01-15T07:59:57Z"]
        p.update(slice)
        wall.advance(0.5)
        let report = p.syncRules()
        #expect(report.succeeded && report.kind == .full)
        #expect(report.networkProgrammingSeconds == [3.5])
        let text = metrics.render()
        #expect(value(text, "kubeproxy_sync_proxy_rules_duration_seconds_count") == "1")
        #expect(value(text, "kubeproxy_sync_full_proxy_rules_duration_seconds_count") == "1")
        #expect(value(text, "kubeproxy_sync_partial_proxy_rules_duration_seconds_count") == "0")
        #expect(value(text, "kubeproxy_network_programming_duration_seconds_bucket{le=\"3\"}") == "0")
        #expect(value(text, "kubeproxy_network_programming_duration_seconds_bucket{le=\"4\"}") == "1")
        #expect(value(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds") == "1800000000.5")
        // Programmed triggers are not observed again.
        #expect(p.syncRules().networkProgrammingSeconds.isEmpty)
    }

    @Test func failedSyncsCountPerBackend() {
        let wall = ManualWallClock()
        let metrics = ProxyMetrics()
        let fake = FakeNFTables()
        let runner = SyncRunner(minSyncPeriod: .seconds(1), syncPeriod: .seconds(30), clock: ManualProxyClock())
        let p = Proxier(nodeName: "n", backends: [NFTablesProxier(family: .ip, nft: fake)], runner: runner, metrics: metrics, wallClock: wall.clock)
        p.update(Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)]))
        fake.failNext(NFTablesError(.rejected, "injected"))
        #expect(!p.syncRules().succeeded)
        let text = metrics.render()
        #expect(value(text, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total") == "1")
        #expect(value(text, "kubeproxy_sync_proxy_rules_duration_seconds_count") == "0")
    }

    @Test func healthTurnsUnhealthyWhenAWantedSyncIsLate() {
        let wall = ManualWallClock()
        let health = ProxyHealth(healthTimeout: 60, wallClock: wall.clock)
        let p = proxier(metrics: ProxyMetrics(), health: health, wall: wall)
        #expect(health.response().0 == .ok)
        wall.advance(61)
        let (status, type, body) = health.response()
        #expect(status == .serviceUnavailable && type == "application/json")
        #expect(body.contains("\"lastUpdated\": \"0001-01-01T00:00:00Z\"") && body.contains("\"nodeEligible\": true"))
        p.syncRules()
        #expect(health.response().0 == .ok)
        #expect(health.response().2.contains("\"lastUpdated\": \"2027-01-15T08:01:01.000Z\""))
        // Idle (nothing queued) stays healthy however long ago the last sync was.
        wall.advance(1000)
        #expect(health.isHealthy)
        p.update(Fixtures.service("web", ip: "10.96.0.10", ports: [(name: "http", port: 80)]))
        wall.advance(59)
        #expect(health.isHealthy)
        wall.advance(2)
        #expect(!health.isHealthy)
    }

    @Test func serviceHealthAnswersUpstreamJSONOverHTTP() throws {
        let server = ServiceHealthServer(bindAddress: "127.0.0.1")
        defer { server.shutdown() }
        let web = ServicePortName(namespace: "ns1", name: "web", port: "", protocol: .tcp)
        var state = ProxyState()
        var info = ServicePortInfo(clusterIPs: [IPAddress("10.96.0.10")!], port: 80, protocol: .tcp, nodePort: 30080)
        info.externalPolicyLocal = true
        // An unprivileged port unlikely to be taken, varied per run.
        let port = UInt16(40000 + Int.random(in: 0..<20000))
        info.healthCheckNodePort = port
        state.services[web] = info
        state.endpoints[web] = [EndpointInfo(ip: IPAddress("10.1.0.1")!, port: 8080, isLocal: true),
                                EndpointInfo(ip: IPAddress("10.1.0.2")!, port: 8080, isLocal: true),
                                EndpointInfo(ip: IPAddress("10.1.0.3")!, port: 8080)]
        #expect(server.sync(state).isEmpty)
        #expect(server.ports == [port])
        let curl = try #require(Host.which("curl"), "needs curl")
        let ok = try run(curl, ["-s", "-o", "/dev/stdout", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)/"])
        #expect(ok.stdout == "{\"service\":{\"namespace\":\"ns1\",\"name\":\"web\"},\"localEndpoints\":2,\"serviceProxyHealthy\":true}\n200")

        state.endpoints[web] = [EndpointInfo(ip: IPAddress("10.1.0.3")!, port: 8080)]
        server.sync(state)
        let unavailable = try run(curl, ["-s", "-o", "/dev/stdout", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)/"])
        #expect(unavailable.stdout.hasSuffix("\"localEndpoints\":0,\"serviceProxyHealthy\":true}\n503"))

        state.services[web]!.externalPolicyLocal = false
        server.sync(state)
        #expect(server.ports.isEmpty)
        let closed = try run(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])
        #expect(closed.stdout == "000", "the listener should be gone")
    }
}

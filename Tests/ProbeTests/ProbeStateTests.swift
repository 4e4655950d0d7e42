import KubeAPI
import Testing
@testable import Probe

/// Records a run outside `#expect`, which cannot take a mutating call.
func record(_ s: inout ProbeState, _ r: ProbeResult) -> Bool { s.record(r) }

struct ProbeStateTests {
    func probe(success: Int32? = nil, failure: Int32? = nil, delay: Int32? = nil) -> KubeAPI.Probe {
        var p = KubeAPI.Probe()
        p.successThreshold = success
        p.failureThreshold = failure
        p.initialDelaySeconds = delay
        return p
    }

    @Test func defaultsFollowUpstream() {
        let t = ProbeTiming(KubeAPI.Probe(), kind: .readiness)
        #expect(t.initialDelay == .zero && t.timeout == .seconds(1) && t.period == .seconds(10))
        #expect(t.successThreshold == 1 && t.failureThreshold == 3)
    }

    @Test(arguments: ProbeKind.allCases)
    func initialResults(kind: ProbeKind) {
        let s = ProbeState(kind: kind, timing: ProbeTiming(KubeAPI.Probe(), kind: kind))
        #expect(s.result == [.readiness: ProbeResult.failure, .liveness: .success, .startup: .unknown][kind])
    }

    @Test func livenessFailsOnlyAfterThresholdConsecutiveFailures() {
        var s = ProbeState(kind: .liveness, timing: ProbeTiming(probe(failure: 3), kind: .liveness))
        #expect(!record(&s, .failure))
        #expect(!record(&s, .failure))
        #expect(!record(&s, .success))  // a success breaks the streak
        #expect(!record(&s, .failure))
        #expect(!record(&s, .failure))
        #expect(s.result == .success)
        #expect(record(&s, .failure))
        #expect(s.result == .failure)
        #expect(s.consequence == "the container will be restarted")
    }

    @Test func readinessNeedsSuccessThreshold() {
        var s = ProbeState(kind: .readiness, timing: ProbeTiming(probe(success: 2, failure: 1), kind: .readiness))
        #expect(!record(&s, .success))
        #expect(s.result == .failure)
        #expect(record(&s, .success))
        #expect(s.result == .success)
        #expect(record(&s, .failure))
        #expect(s.result == .failure)
    }

    @Test func livenessSuccessThresholdIsAlwaysOne() {
        let t = ProbeTiming(probe(success: 5), kind: .liveness)
        #expect(t.successThreshold == 1)
    }

    @Test func unknownRunsChangeNothing() {
        var s = ProbeState(kind: .readiness, timing: ProbeTiming(probe(failure: 1), kind: .readiness))
        #expect(!record(&s, .unknown))
        #expect(s.result == .failure)
    }

    @Test func initialDelayHoldsTheProbe() {
        let s = ProbeState(kind: .liveness, timing: ProbeTiming(probe(delay: 5), kind: .liveness))
        let start = ContinuousClock.now
        #expect(!s.shouldRun(now: start + .seconds(4), startedAt: start))
        #expect(s.shouldRun(now: start + .seconds(5), startedAt: start))
    }

    @Test func resetReturnsToInitial() {
        var s = ProbeState(kind: .liveness, timing: ProbeTiming(probe(failure: 1), kind: .liveness))
        s.record(.failure)
        s.reset()
        #expect(s.result == .success && s.runCount == 0)
    }
}

struct ProbeTargetTests {
    let container: Container = {
        var c = Container(name: "web", image: "nodekit/busybox")
        c.ports = [ContainerPort(name: "http", containerPort: 8080)]
        return c
    }()

    @Test func httpDefaults() throws {
        var p = KubeAPI.Probe()
        p.httpGet = HTTPGetAction(path: "healthz", port: .string("http"))
        let t = try ProbeTarget.resolve(p, container: container, podIP: "10.1.0.5")
        guard case .http(let scheme, let host, let port, let path, let headers) = t else { Issue.record("not http: \(t)"); return }
        #expect(scheme == "HTTP" && host == "10.1.0.5" && port == 8080 && path == "/healthz")
        #expect(headers.contains { $0 == ("User-Agent", "kube-probe/1.32") })
        #expect(headers.contains { $0 == ("Accept", "*/*") })
        #expect(t.description == "http://10.1.0.5:8080/healthz")
    }

    @Test func customHeadersOverrideDefaults() throws {
        var p = KubeAPI.Probe()
        var get = HTTPGetAction(port: 80)
        get.httpHeaders = [HTTPHeader(name: "user-agent", value: "mine")]
        p.httpGet = get
        guard case .http(_, _, _, _, let headers) = try ProbeTarget.resolve(p, container: container, podIP: "10.1.0.5") else { return }
        #expect(headers.filter { $0.0.lowercased() == "user-agent" }.map(\.1) == ["mine"])
    }

    @Test(arguments: [
        (IntOrString.string("nope"), "couldn't find port nope in container web"),
        (IntOrString.int(0), "invalid port number: 0"),
        (IntOrString.int(70000), "invalid port number: 70000"),
    ])
    func badPorts(port: IntOrString, message: String) {
        var p = KubeAPI.Probe()
        p.tcpSocket = TCPSocketAction(port: port)
        #expect(throws: ProbeResolutionError(message: message)) { try ProbeTarget.resolve(p, container: container, podIP: "10.1.0.5") }
    }

    @Test func noHandlerIsAnError() {
        #expect(throws: ProbeResolutionError.self) { try ProbeTarget.resolve(KubeAPI.Probe(), container: container, podIP: "1.2.3.4") }
        var p = KubeAPI.Probe()
        p.exec = ExecAction(command: [])
        #expect(throws: ProbeResolutionError(message: "exec probe has no command")) { try ProbeTarget.resolve(p, container: container, podIP: "1.2.3.4") }
    }
}

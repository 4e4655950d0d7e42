import ArgumentParser
import Foundation
import KubeAPI
import KubeClient
import Kubelet
@testable import NodectlKit
import Probe
import Testing
import TestSupport

@Suite struct KubeconfigLocatorTests {
    static let cases: [(flag: String?, env: String?, existing: [String], expected: String?)] = [
        ("/tmp/a", "/tmp/b", ["/tmp/a", "/tmp/b", "/root/.kube/config"], "/tmp/a"),
        (nil, "/tmp/missing:/tmp/b", ["/tmp/b", "/root/.kube/config"], "/tmp/b"),
        (nil, "/tmp/missing", ["/root/.kube/config", KubeconfigLocator.nodekitPath], "/root/.kube/config"),
        (nil, nil, [KubeconfigLocator.nodekitPath], KubeconfigLocator.nodekitPath),
        (nil, "", [], nil),
    ]

    @Test(arguments: cases)
    func kubectlOrderThenTheNodekitServerKubeconfig(flag: String?, env: String?, existing: [String], expected: String?) throws {
        let environment = env.map { ["KUBECONFIG": $0] } ?? [:]
        let found = try KubeconfigLocator.locate(flag: flag, environment: environment, home: "/root", exists: existing.contains)
        #expect(found == expected)
    }

    @Test func missingFlagFileIsAnError() {
        #expect(throws: NodectlError.self) {
            _ = try KubeconfigLocator.locate(flag: "/nope", environment: [:], home: "/root", exists: { _ in false })
        }
    }
}

@Suite struct ProbeCommandTests {
    static let pod: Pod = {
        var web = Container(name: "web", image: "busybox")
        web.ports = [ContainerPort(name: "http", containerPort: 8080)]
        var readiness = KubeAPI.Probe()
        readiness.httpGet = HTTPGetAction(path: "/healthz", port: .string("http"))
        web.readinessProbe = readiness
        var liveness = KubeAPI.Probe()
        liveness.exec = ExecAction(command: ["false"])
        liveness.failureThreshold = 5
        web.livenessProbe = liveness
        var plain = Container(name: "plain", image: "busybox")
        var startup = KubeAPI.Probe()
        startup.tcpSocket = TCPSocketAction(port: .int(9000))
        plain.startupProbe = startup
        var pod = Pod(metadata: ObjectMeta(name: "web", namespace: "shop"), spec: PodSpec(containers: [web, plain]))
        var status = PodStatus(phase: "Running")
        status.podIP = "10.88.0.7"
        var running = ContainerStatus(name: "web", image: "busybox")
        running.containerID = "containerd://abc123"
        status.containerStatuses = [running]
        pod.status = status
        return pod
    }()

    @Test func planResolvesEveryConfiguredProbe() throws {
        let runs = try ProbePlan.make(pod: Self.pod, container: nil, kind: nil)
        #expect(runs.map { "\($0.container) \($0.kind.rawValue) \($0.target)" } == [
            "web liveness exec false",
            "web readiness http://10.88.0.7:8080/healthz",
            "plain startup tcp 10.88.0.7:9000",
        ])
        #expect(runs[0].containerID == "abc123")
        #expect(runs[0].timing.failureThreshold == 5)
        let readiness = try ProbePlan.make(pod: Self.pod, container: "web", kind: .readiness)
        #expect(readiness.map(\.kind) == [.readiness])
    }

    static let planErrors: [(String?, ProbeKind?, String)] = [
        ("db", nil, "pod shop/web has no container db (containers: web, plain)"),
        ("plain", .liveness, "pod shop/web container plain has no liveness probe"),
    ]

    @Test(arguments: planErrors)
    func planErrorsNameThePodAndContainer(container: String?, kind: ProbeKind?, message: String) {
        #expect {
            _ = try ProbePlan.make(pod: Self.pod, container: container, kind: kind)
        } throws: { error in
            "\(error)" == message
        }
    }

    @Test func execProbeOfAContainerThatIsNotRunningIsAnError() {
        var pod = Self.pod
        pod.status?.containerStatuses = []
        #expect {
            _ = try ProbePlan.make(pod: pod, container: "web", kind: .liveness)
        } throws: { error in
            "\(error)".contains("container web is not running")
        }
    }

    static let effects: [(ProbeKind, ProbeResult, String)] = [
        (.liveness, .failure, "restart the container after 3 consecutive failures (failureThreshold)"),
        (.liveness, .success, "none: the container keeps running"),
        (.readiness, .failure, "mark the container unready (pod removed from Service endpoints) after 3 consecutive failures (failureThreshold)"),
        (.readiness, .success, "mark the container ready after 1 consecutive successes (successThreshold)"),
        (.startup, .failure, "liveness and readiness stay held back; restart the container after 3 consecutive failures (failureThreshold)"),
        (.startup, .success, "the container counts as started: liveness and readiness probes begin"),
    ]

    @Test(arguments: effects)
    func effectSaysWhatTheKubeletWouldDo(kind: ProbeKind, result: ProbeResult, effect: String) {
        #expect(ProbePlan.effect(kind: kind, result: result, timing: ProbeTiming(KubeAPI.Probe(), kind: kind)) == effect)
    }

    @Test func textReportShowsEachStepAndTheKubeletHistory() throws {
        let runs = try ProbePlan.make(pod: Self.pod, container: "web", kind: nil)
        var report = ProbeReportView(namespace: "shop", pod: "web", podIP: "10.88.0.7", node: "n1", source: "API server")
        report.probes.append(.init(run: runs[0], outcome: ProbeOutcome(result: .failure, message: "command [false] exited with 1", exitCode: 1,
                                                                     output: "", elapsed: .milliseconds(12))))
        report.probes.append(.init(run: runs[1], outcome: ProbeOutcome(result: .success, message: "HTTP probe succeeded with statuscode: 200",
                                                                     statusCode: 200, output: "ok\n", elapsed: .microseconds(2500))))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let record = try decoder.decode(ProbeRecord.self, from: Data("""
            {"kind": "readiness", "time": "2025-11-24T16:00:00Z", "result": "success", "message": "HTTP probe succeeded with statuscode: 200"}
            """.utf8))
        report.history["web"] = ProbeHistoryView(ready: true, started: true, runs: [record])
        let text = try report.render(.table)
        #expect(text.hasPrefix("pod shop/web  ip 10.88.0.7  node n1  (from API server)\n"))
        #expect(text.contains("\nweb liveness probe: exec false\n  target:  exec false\n  exit:    1\n  result:  failure: command [false] exited with 1 (12ms)\n  effect:  restart the container after 5 consecutive failures (failureThreshold)\n"))
        #expect(text.contains("  status:  HTTP 200\n  output:  ok\n  result:  success: HTTP probe succeeded with statuscode: 200 (2.5ms)\n"))
        #expect(text.contains("kubelet history of web: started=true ready=true\n  TIME                   TYPE        RESULT    MESSAGE\n  2025-11-24T16:00:00Z   readiness   success   HTTP probe succeeded with statuscode: 200\n"))
        let json = try report.render(.json)
        let decoded = try JSONDecoder().decode(JSONValueProbe.self, from: Data(json.utf8))
        #expect(decoded.probes.map(\.result) == ["failure", "success"])
        #expect(try report.render(.yaml).contains("result: failure"))
    }

    struct JSONValueProbe: Decodable {
        struct Run: Decodable { var result: String }
        var probes: [Run]
    }

    @Test func unreadableHistoryIsShownNotFatal() throws {
        var report = ProbeReportView(namespace: "shop", pod: "web", podIP: "", node: "", source: "kubelet http://127.0.0.1:10250")
        report.history["web"] = ProbeHistoryView(error: "kubelet http://127.0.0.1:10250/probes/shop/web/web: cannot connect: connection refused")
        #expect(try report.render(.table).contains("kubelet history of web: unavailable (kubelet http://127.0.0.1:10250/probes/shop/web/web: cannot connect: connection refused)\n"))
    }

    static let badArguments: [[String]] = [
        ["web", "--type", "sideways"],
        [],
        ["web", "-o", "xml"],
    ]

    @Test(arguments: badArguments)
    func badArgumentsAreUsageErrors(arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try ProbeCommand.parse(arguments) }
    }

    @Test func argumentsParse() throws {
        let command = try ProbeCommand.parse(["web", "-n", "shop", "-c", "web", "--type", "liveness", "--watch", "--kubelet", "http://10.0.0.1:10250", "-o", "json"])
        #expect(command.pod == "web" && command.namespace == "shop" && command.container == "web" && command.kind == .liveness)
        #expect(command.watch && command.cluster.kubelet == "http://10.0.0.1:10250" && command.output == .json)
    }
}

@Suite struct EvictCommandTests {
    static let invalid: [([String], String)] = [
        ([], "give the pod to evict, or --node-pressure"),
        (["web", "--node-pressure"], "give either a pod or --node-pressure, not both"),
        (["web", "--simulate", "memory.available=1Mi"], "--simulate needs --node-pressure"),
        (["web", "--grace-period=-1"], "--grace-period must not be negative"),
        (["--node-pressure", "--dry-run"], "--dry-run and --grace-period apply to evicting a pod, not to --node-pressure"),
    ]

    @Test(arguments: invalid)
    func invalidCombinationsAreUsageErrors(arguments: [String], message: String) {
        #expect {
            _ = try EvictCommand.parse(arguments)
        } throws: { error in
            EvictCommand.message(for: error) == message
        }
    }

    @Test func bothFormsParse() throws {
        let evict = try EvictCommand.parse(["web", "-n", "shop", "--grace-period", "5", "--dry-run"])
        #expect(evict.pod == "web" && evict.namespace == "shop" && evict.gracePeriod == 5 && evict.dryRun && !evict.nodePressure)
        let pressure = try EvictCommand.parse(["--node-pressure", "--simulate", "memory.available=100Mi", "--simulate", "pid.available=10", "-o", "yaml"])
        #expect(pressure.nodePressure && pressure.simulate == ["memory.available=100Mi", "pid.available=10"] && pressure.output == .yaml)
        #expect(pressure.evictionHard == EvictionConfig.defaultHardText)
    }

    @Test func budgetNameComesFromTheServersCause() {
        #expect(EvictCommand.budgetName(inCause: "The disruption budget web-pdb needs 1 healthy pods and has 1 currently") == "web-pdb")
        #expect(EvictCommand.budgetName(inCause: "something else") == nil)
    }

    @Test func tooManyRequestsNamesTheBudget() async throws {
        let api = FakeKubeAPI()
        let cause = "The disruption budget web-pdb needs 1 healthy pods and has 1 currently"
        let error = KubeClientError(status: Status(status: "Failure", message: "Cannot evict pod as it would violate the pod's disruption budget.",
                                                   reason: "TooManyRequests", details: StatusDetails(causes: [StatusCause(reason: "DisruptionBudget", message: cause)]),
                                                   code: 429))
        let line = await EvictCommand.explain(error, namespace: "shop", pod: "web-1", api: api)
        #expect(line == "cannot evict pod shop/web-1: blocked by PodDisruptionBudget web-pdb: \(cause)")
    }

    @Test func tooManyRequestsWithoutACauseFindsTheMatchingBudget() async throws {
        let api = FakeKubeAPI()
        try api.seed([Pod(metadata: ObjectMeta(name: "web-1", namespace: "shop", labels: ["app": "web"]), spec: PodSpec(containers: []))])
        var matching = PodDisruptionBudget(metadata: ObjectMeta(name: "web-pdb", namespace: "shop"))
        matching.spec = PodDisruptionBudgetSpec(minAvailable: .int(1), selector: LabelSelector(matchLabels: ["app": "web"]))
        var other = PodDisruptionBudget(metadata: ObjectMeta(name: "db-pdb", namespace: "shop"))
        other.spec = PodDisruptionBudgetSpec(minAvailable: .int(1), selector: LabelSelector(matchLabels: ["app": "db"]))
        try api.seed([matching, other])
        let error = KubeClientError(code: 429, reason: "TooManyRequests", message: "Cannot evict pod as it would violate the pod's disruption budget.")
        let line = await EvictCommand.explain(error, namespace: "shop", pod: "web-1", api: api)
        #expect(line == "cannot evict pod shop/web-1: blocked by PodDisruptionBudget web-pdb: Cannot evict pod as it would violate the pod's disruption budget.")
        let missing = await EvictCommand.explain(KubeClientError(code: 404, reason: "NotFound", message: "pods \"x\" not found"), namespace: "shop", pod: "x", api: api)
        #expect(missing == "cannot evict pod shop/x: pod not found")
    }

    @Test func nodePressureTableShowsSignalsRankingAndTheFirstMessage() throws {
        let preview = EvictionPreview.compute(config: EvictionConfig(), summary: Self.summary, pods: Self.pods, overrides: [.memoryAvailable: 50 << 20])
        let text = try NodePressureView.render(preview, source: "kubelet http://127.0.0.1:10250", format: .table)
        #expect(text == """
            signals: kubelet http://127.0.0.1:10250
            SIGNAL               AVAILABLE          CAPACITY   THRESHOLD       MET
            memory.available     50Mi (simulated)   8Gi        <100Mi (hard)   yes
            nodefs.available     50Gi               100Gi      <10% (hard)     no
            nodefs.inodesFree    900000             1000000    <5% (hard)      no
            imagefs.available    50Gi               100Gi      <15% (hard)     no
            imagefs.inodesFree   900000             1000000    <5% (hard)      no
            pid.available        32568              32768      -               -

            memory.available is below its threshold: the eviction manager evicts one pod per step, in this order:
            RANK   POD                QOS          PRIORITY     USAGE   REQUEST   WHY
            1      default/hog        BestEffort   0            300Mi   0         memory 300Mi exceeds its request of 0; priority 0; usage - request 300Mi
            2      kube-system/etcd   Burstable    2000001000   1Gi     100Mi     critical pod (static, mirror or priority >= 2000000000): never evicted

            first eviction: default/hog, status reason Evicted, message: The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container c was using 300Mi, request is 0, has larger consumption of memory.

            """)
        let yaml = try NodePressureView.render(preview, source: "x", format: .yaml)
        #expect(yaml.contains("acting: memory.available"))
    }

    static let pods: [Pod] = {
        var hog = Pod(metadata: ObjectMeta(name: "hog", namespace: "default"), spec: PodSpec(containers: [Container(name: "c", image: "busybox")]))
        hog.metadata.uid = "uid-hog"
        var etcd = Container(name: "etcd", image: "etcd")
        etcd.resources = ResourceRequirements(requests: ["memory": "100Mi"])
        var critical = Pod(metadata: ObjectMeta(name: "etcd", namespace: "kube-system"), spec: PodSpec(containers: [etcd]))
        critical.metadata.uid = "uid-etcd"
        critical.spec.priority = 2_000_001_000
        return [hog, critical]
    }()

    static let summary = StatsSummary(
        node: .init(nodeName: "n1", memory: .init(availableBytes: 4 << 30, workingSetBytes: 4 << 30),
                    fs: .init(availableBytes: 50 << 30, capacityBytes: 100 << 30, inodesFree: 900_000, inodes: 1_000_000),
                    rlimit: .init(maxpid: 32768, curproc: 200)),
        pods: [.init(podRef: .init(name: "hog", namespace: "default", uid: "uid-hog"), containers: [.init(name: "c", memory: .init(workingSetBytes: 300 << 20))]),
               .init(podRef: .init(name: "etcd", namespace: "kube-system", uid: "uid-etcd"), containers: [.init(name: "etcd", memory: .init(workingSetBytes: 1 << 30))])])

    static let amounts: [(Int64, EvictionSignal, String)] = [
        (0, .memoryAvailable, "0"), (1023, .memoryAvailable, "1023"), (1536, .memoryAvailable, "1.5Ki"),
        (100 << 20, .memoryAvailable, "100Mi"), (21_583_331_328, .nodeFsAvailable, "20.1Gi"), (16_234_836, .nodeFsInodesFree, "16234836"),
    ]

    @Test(arguments: amounts)
    func amountsReadLikeQuantities(value: Int64, signal: EvictionSignal, text: String) {
        #expect(Format.amount(value, signal: signal) == text)
    }

    @Test func errorsBecomeOneLine() {
        #expect(CommandRunner.oneLine(NodectlError("first\nsecond\n")) == "first; second")
        #expect(CommandRunner.oneLine(KubeClientError(code: 403, reason: "Forbidden", message: "pods is forbidden")) == "Forbidden: pods is forbidden")
    }
}

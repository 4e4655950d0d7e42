import CRI
import Foundation
import KubeAPI
import KubeClient
@testable import Kubelet
import Synchronization
import Testing
import TestSupport

/// A TokenRequest endpoint: issues `token-N` (N counting requests) valid for the requested
/// lifetime from the clock's now, or fails while `failing` is set.
final class FakeTokenRequester: ServiceAccountTokenRequester {
    let clock: ManualClock
    private let state = Mutex<(count: Int, failing: Bool, last: ServiceAccountTokenRequest?)>((0, false, nil))

    init(clock: ManualClock) { self.clock = clock }

    var count: Int { state.withLock { $0.count } }
    var last: ServiceAccountTokenRequest? { state.withLock { $0.last } }
    func fail(_ failing: Bool) { state.withLock { $0.failing = failing } }

    func requestToken(_ request: ServiceAccountTokenRequest) async throws(KubeletError) -> ServiceAccountToken {
        let (n, failing) = state.withLock { s in
            s.last = request
            if !s.failing { s.count += 1 }
            return (s.count, s.failing)
        }
        if failing { throw KubeletError(.apiServer, "fake: the API server is unreachable") }
        return ServiceAccountToken(token: "token-\(n)", expirationTimestamp: clock.now().addingTimeInterval(TimeInterval(request.expirationSeconds)),
                                   expirationSeconds: request.expirationSeconds)
    }
}

@Suite struct ServiceAccountTokenTests {
    static let request = ServiceAccountTokenRequest(namespace: "default", serviceAccount: "default", audiences: [], expirationSeconds: 3607,
                                                    podName: "web", podUID: "uid-1")

    struct RefreshCase: Sendable, CustomTestStringConvertible {
        var lifetime: Int64
        var age: TimeInterval
        var jitter: TimeInterval
        var refresh: Bool
        var testDescription: String { "lifetime \(lifetime) s, age \(age) s, jitter \(jitter) s → \(refresh)" }
    }

    /// Upstream: refresh past 80% of the lifetime (expiry − 20% − jitter) or past 24 h − jitter.
    @Test(arguments: [
        RefreshCase(lifetime: 3607, age: 2885, jitter: 0, refresh: false),   // 3607 × 20 / 100 = 721: deadline at age 2886
        RefreshCase(lifetime: 3607, age: 2887, jitter: 0, refresh: true),
        RefreshCase(lifetime: 3607, age: 2880, jitter: 0, refresh: false),
        RefreshCase(lifetime: 3607, age: 2880, jitter: 9, refresh: true),    // jitter moves the deadline earlier
        RefreshCase(lifetime: 600, age: 479, jitter: 0, refresh: false),
        RefreshCase(lifetime: 600, age: 481, jitter: 0, refresh: true),
        RefreshCase(lifetime: 172_800, age: 86_399, jitter: 0, refresh: false), // 48 h token: 24 h rule first
        RefreshCase(lifetime: 172_800, age: 86_401, jitter: 0, refresh: true),
    ])
    func refreshDeadline(_ c: RefreshCase) {
        let issued = Date(timeIntervalSince1970: 1_700_000_000)
        let token = ServiceAccountToken(token: "t", expirationTimestamp: issued.addingTimeInterval(TimeInterval(c.lifetime)), expirationSeconds: c.lifetime)
        #expect(ServiceAccountTokenManager.requiresRefresh(token, now: issued.addingTimeInterval(c.age), jitter: c.jitter) == c.refresh)
    }

    @Test func cachedUntilEightyPercentThenRefreshedAndKeptOnFailureUntilExpiry() async throws {
        let clock = ManualClock()
        let requester = FakeTokenRequester(clock: clock)
        let manager = ServiceAccountTokenManager(requester: requester, clock: clock, jitter: { 0 })
        #expect(try await manager.token(for: Self.request).token == "token-1")
        clock.advance(by: .seconds(2880))
        #expect(try await manager.token(for: Self.request).token == "token-1", "cached before 80% of 3607 s")
        #expect(requester.count == 1)
        clock.advance(by: .seconds(10))
        #expect(try await manager.token(for: Self.request).token == "token-2", "refreshed after 80%")
        #expect(requester.count == 2)

        // A failed refresh keeps the still-valid token; once it expired the call fails.
        clock.advance(by: .seconds(2890))
        requester.fail(true)
        #expect(try await manager.token(for: Self.request).token == "token-2")
        clock.advance(by: .seconds(800))
        await #expect(throws: KubeletError.self) { try await manager.token(for: Self.request) }
        #expect(await manager.cachedCount == 0, "expired tokens are dropped")
        requester.fail(false)
        #expect(try await manager.token(for: Self.request).token == "token-3")
    }

    @Test func tokensAreKeyedByRequestAndForgottenWithThePod() async throws {
        let clock = ManualClock()
        let requester = FakeTokenRequester(clock: clock)
        let manager = ServiceAccountTokenManager(requester: requester, clock: clock, jitter: { 0 })
        var other = Self.request
        other.audiences = ["vault"]
        var otherPod = Self.request
        otherPod.podUID = "uid-2"
        _ = try await manager.token(for: Self.request)
        _ = try await manager.token(for: other)
        _ = try await manager.token(for: otherPod)
        #expect(requester.count == 3)
        #expect(await manager.cachedCount == 3)
        await manager.forget(podUID: "uid-1")
        #expect(await manager.cachedCount == 1)
        _ = try await manager.token(for: Self.request)
        #expect(requester.count == 4, "a forgotten pod's token is requested again")
    }

    @Test func aFailedFirstRequestNamesTheCause() async {
        let clock = ManualClock()
        let requester = FakeTokenRequester(clock: clock)
        requester.fail(true)
        let manager = ServiceAccountTokenManager(requester: requester, clock: clock, jitter: { 0 })
        do {
            _ = try await manager.token(for: Self.request)
            Issue.record("expected a failure")
        } catch {
            #expect(error.description.contains("failed to fetch token"))
            #expect(error.description.contains("unreachable"))
        }
    }

    /// The request of admission's kube-api-access volume: the pod's account, no audience,
    /// 3607 s, bound to the pod.
    @Test func requestsFollowThePodsProjectedSources() throws {
        let pod = try ServiceAccountPodTests.pod(serviceAccount: "robot")
        let requests = ServiceAccountTokenManager.requests(for: pod)
        let request = try #require(requests[VolumeManager.tokenKey(volume: "kube-api-access-x7k2p", path: "token")])
        #expect(request == ServiceAccountTokenRequest(namespace: "team", serviceAccount: "robot", audiences: [], expirationSeconds: 3607,
                                                      podName: "web", podUID: "pod-uid-1"))
        let body = request.body
        #expect(body["spec"]?["boundObjectRef"] == .object(["apiVersion": .string("v1"), "kind": .string("Pod"), "name": .string("web"), "uid": .string("pod-uid-1")]))
        #expect(body["spec"]?["audiences"] == .array([]))
        #expect(body["spec"]?["expirationSeconds"] == .number(3607))
    }
}

@Suite struct ServiceEnvironmentTests {
    static func service(_ name: String, namespace: String, ip: String, ports: [ServicePort]) -> Service {
        Service(metadata: ObjectMeta(name: name, namespace: namespace), spec: ServiceSpec(ports: ports, clusterIP: ip))
    }

    static func port(_ name: String?, _ number: Int32, _ proto: String? = nil) -> ServicePort {
        ServicePort(name: name, protocol: proto, port: number)
    }

    static let kubernetes = service("kubernetes", namespace: "default", ip: "10.96.0.1", ports: [port("https", 443, "TCP")])

    @Test func theKubernetesServiceVariablesAsUpstreamNamesThem() {
        let env = ServiceEnvironment.variables(namespace: "team", enableServiceLinks: false, services: [Self.kubernetes])
        #expect(env == [
            "KUBERNETES_SERVICE_HOST": "10.96.0.1",
            "KUBERNETES_SERVICE_PORT": "443",
            "KUBERNETES_SERVICE_PORT_HTTPS": "443",
            "KUBERNETES_PORT": "tcp://10.96.0.1:443",
            "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
            "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
            "KUBERNETES_PORT_443_TCP_PORT": "443",
            "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
        ])
    }

    @Test func serviceLinksCoverTheNamespaceOnly() {
        let services = [
            Self.kubernetes,
            Self.service("my-db", namespace: "team", ip: "10.96.3.4", ports: [Self.port(nil, 5432), Self.port("metrics", 9187), Self.port("dns", 53, "UDP")]),
            Self.service("headless", namespace: "team", ip: "None", ports: [Self.port(nil, 80)]),
            Self.service("elsewhere", namespace: "other", ip: "10.96.9.9", ports: [Self.port(nil, 80)]),
        ]
        let env = ServiceEnvironment.variables(namespace: "team", enableServiceLinks: true, services: services)
        #expect(env["MY_DB_SERVICE_HOST"] == "10.96.3.4")
        #expect(env["MY_DB_SERVICE_PORT"] == "5432")
        #expect(env["MY_DB_SERVICE_PORT_METRICS"] == "9187")
        #expect(env["MY_DB_SERVICE_PORT_DNS"] == "53")
        #expect(env["MY_DB_PORT"] == "tcp://10.96.3.4:5432")
        #expect(env["MY_DB_PORT_53_UDP"] == "udp://10.96.3.4:53")
        #expect(env["MY_DB_PORT_53_UDP_PROTO"] == "udp")
        #expect(env["MY_DB_PORT_9187_TCP_ADDR"] == "10.96.3.4")
        #expect(env.keys.filter { $0.hasPrefix("HEADLESS") }.isEmpty, "no variables without a cluster IP")
        #expect(env.keys.filter { $0.hasPrefix("ELSEWHERE") }.isEmpty, "other namespaces are not linked")
        #expect(env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1")
        #expect(env.count == 8 + 2 + 2 + 1 + 3 * 4)

        let unlinked = ServiceEnvironment.variables(namespace: "team", enableServiceLinks: false, services: services)
        #expect(unlinked.keys.allSatisfy { $0.hasPrefix("KUBERNETES_") })
    }

    @Test func aNamespacesOwnKubernetesServiceWins() {
        let own = Self.service("kubernetes", namespace: "team", ip: "10.96.7.7", ports: [Self.port(nil, 8443)])
        let env = ServiceEnvironment.variables(namespace: "team", enableServiceLinks: true, services: [own, Self.kubernetes])
        #expect(env["KUBERNETES_SERVICE_HOST"] == "10.96.7.7")
        let reversed = ServiceEnvironment.variables(namespace: "team", enableServiceLinks: true, services: [Self.kubernetes, own])
        #expect(reversed["KUBERNETES_SERVICE_HOST"] == "10.96.7.7")
    }

    /// Service variables come after the container's own, which win, and `$(VAR)` sees them.
    @Test func containersSeeServiceVariablesAfterTheirOwn() throws {
        let pod = try Manifest.decode(Pod.self, from: try #require(Manifest.documents("""
            metadata: {name: web, namespace: team, uid: u1}
            spec:
              containers:
              - name: c
                image: docker.io/nodekit/busybox:latest
                env:
                - {name: API, value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}
                - {name: KUBERNETES_SERVICE_PORT, value: "6443"}
            """).first))
        var objects = PodObjects(hasAPIServer: true)
        objects.serviceEnvironment = ServiceEnvironment.variables(namespace: "team", enableServiceLinks: true, services: [Self.kubernetes])
        let env = try ContainerConfigBuilder.environment(pod: pod, container: pod.spec.containers[0], runtime: .init(),
                                                         node: NodeInfo(nodeName: "n1"), objects: objects)
        #expect(env.first?.0 == "API")
        #expect(env.first?.1 == "https://10.96.0.1:443")
        #expect(env.filter { $0.0 == "KUBERNETES_SERVICE_PORT" }.map(\.1) == ["6443"], "the container's own value, once")
        #expect(env.map(\.0) == ["API", "KUBERNETES_SERVICE_PORT"] + objects.serviceEnvironment.keys.sorted().filter { $0 != "KUBERNETES_SERVICE_PORT" })
    }
}

/// A pod as the ServiceAccount admission shapes it, run by a pod worker against a fake API
/// (tokens from ``FakeTokenRequester``): the projected volume, its refresh, env variables.
@Suite struct ServiceAccountPodTests {
    /// The pod admission makes (volume name fixed): its account, the kube-api-access volume and mounts.
    static func pod(serviceAccount: String = "default", namespace: String = "team") throws -> Pod {
        let yaml = """
            metadata: {name: web, namespace: \(namespace), uid: pod-uid-1}
            spec:
              nodeName: node1
              serviceAccountName: \(serviceAccount)
              containers:
              - name: c
                image: docker.io/nodekit/busybox:latest
                imagePullPolicy: IfNotPresent
                volumeMounts: [{name: kube-api-access-x7k2p, readOnly: true, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]
              volumes:
              - name: kube-api-access-x7k2p
                projected:
                  defaultMode: 420
                  sources:
                  - serviceAccountToken: {expirationSeconds: 3607, path: token}
                  - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
                  - downwardAPI: {items: [{path: namespace, fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}}]}
            """
        return try Manifest.decode(Pod.self, from: try #require(Manifest.documents(yaml).first))
    }

    @Test func theTokenVolumeIsWrittenRefreshedAndForgotten() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let api = FakeKubeAPI()
        try api.seed([ConfigMap(metadata: ObjectMeta(name: "kube-root-ca.crt", namespace: "team"), data: ["ca.crt": "-----BEGIN CERTIFICATE-----\nCA\n"])])
        try api.seed([ServiceEnvironmentTests.kubernetes])
        let requester = FakeTokenRequester(clock: h.clock)
        let objects = APIPodObjects(client: api, tokenRequester: requester, clock: h.clock)
        let worker = PodWorker(pod: try Self.pod(), runtime: h.runtime, node: h.node, clock: h.clock, objects: objects, mounter: h.mounts)
        await worker.syncPod()
        let failure = await worker.lastError?.description ?? ""
        let running = try #require(await h.running("c"), "\(failure)")
        let mount = try #require(running.config.mounts.first { $0.containerPath == "/var/run/secrets/kubernetes.io/serviceaccount" })
        #expect(mount.readonly)
        #expect(mount.hostPath.hasSuffix("/volumes/kubernetes.io~projected/kube-api-access-x7k2p"))
        #expect(h.mounts.mounts[mount.hostPath] != nil, "projected volumes are tmpfs")
        #expect(try String(contentsOfFile: mount.hostPath + "/token", encoding: .utf8) == "token-1")
        #expect(try String(contentsOfFile: mount.hostPath + "/namespace", encoding: .utf8) == "team")
        #expect(try String(contentsOfFile: mount.hostPath + "/ca.crt", encoding: .utf8).hasPrefix("-----BEGIN CERTIFICATE-----"))
        let mode = try FileManager.default.attributesOfItem(atPath: mount.hostPath + "/..data/token")[.posixPermissions] as? Int
        #expect(mode == 0o644)
        #expect(requester.last?.podUID == "pod-uid-1" && requester.last?.podName == "web" && requester.last?.serviceAccount == "default")
        let env = Dictionary(running.config.envs.map { ($0.key, String(decoding: $0.value, as: UTF8.self)) }, uniquingKeysWith: { a, _ in a })
        #expect(env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" && env["KUBERNETES_SERVICE_PORT"] == "443")

        // Steps before 80% of the lifetime keep the token; the step after it writes a new one.
        await h.advance(.seconds(2800))
        await worker.syncPod()
        #expect(try String(contentsOfFile: mount.hostPath + "/token", encoding: .utf8) == "token-1")
        await h.advance(.seconds(100))
        await worker.syncPod()
        #expect(try String(contentsOfFile: mount.hostPath + "/token", encoding: .utf8) == "token-2")
        #expect(try String(contentsOfFile: mount.hostPath + "/namespace", encoding: .utf8) == "team", "the other files stay")
        #expect(requester.count == 2)
        #expect(await h.running("c")?.id == running.id, "a refresh does not restart the container")

        await worker.markTerminating()
        try await worker.terminate(gracePeriod: 0, remove: true)
        #expect(await objects.tokens.cachedCount == 0, "the removed pod's tokens are dropped")
    }

    /// Standalone (no API server): no token, so the pod waits in ContainerCreating with the reason.
    @Test func standaloneKubeletExplainsItCannotGetAToken() async throws {
        let h = await Harness()
        defer { h.cleanUp() }
        let worker = PodWorker(pod: try Self.pod(), runtime: h.runtime, node: h.node, clock: h.clock, mounter: h.mounts)
        await worker.syncPod()
        let status = await worker.status
        #expect(status.containerStatuses?.first?.state?.waiting?.reason == "ContainerCreating")
        #expect(status.message?.contains("the kubelet runs without an API server") == true, "\(status.message ?? "")")
        #expect(await worker.lastError?.code == .volume)
        #expect(await h.runtime.sandboxes.isEmpty)
    }
}

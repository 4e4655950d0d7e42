import Foundation
@testable import APIServer
import KubeAPI
import Store
import Testing
import TestSupport

/// The ServiceAccount admission plugin on pod creation, over HTTP against an in-process server,
/// compared with the shapes upstream's plugin produces.
@Suite(.serialized) struct ServiceAccountAdmissionTests {
    /// Upstream's kube-api-access volume source (TokenVolumeSource), as the API serves it.
    static let upstreamSource: JSONValue = .object([
        "defaultMode": .number(420),
        "sources": .array([
            .object(["serviceAccountToken": .object(["expirationSeconds": .number(3607), "path": .string("token")])]),
            .object(["configMap": .object(["name": .string("kube-root-ca.crt"), "items": .array([.object(["key": .string("ca.crt"), "path": .string("ca.crt")])])])]),
            .object(["downwardAPI": .object(["items": .array([.object(["path": .string("namespace"),
                                                                     "fieldRef": .object(["apiVersion": .string("v1"), "fieldPath": .string("metadata.namespace")])])])])]),
        ]),
    ])

    static func pod(_ name: String, spec: JSONObject, annotations: [String: String] = [:]) -> JSONValue {
        .object(["apiVersion": .string("v1"), "kind": .string("Pod"),
                 "metadata": .object(["name": .string(name), "annotations": .object(annotations.mapValues { .string($0) })]),
                 "spec": .object(spec)])
    }

    static func container(_ name: String, mounts: [JSONValue] = []) -> JSONValue {
        var c: JSONObject = ["name": .string(name), "image": .string("busybox:1.36")]
        if !mounts.isEmpty { c["volumeMounts"] = .array(mounts) }
        return .object(c)
    }

    @Test func aPodGetsTheDefaultAccountAndTheKubeAPIAccessVolumeInEveryContainer() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let spec: JSONObject = ["initContainers": .array([Self.container("init")]),
                                "containers": .array([Self.container("a"), Self.container("b")])]
        let created = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Self.pod("web", spec: spec))
        #expect(created.code == 201, "\(created.text)")
        let pod = created.json
        #expect(pod[p: "spec.serviceAccountName"] == .string("default"))
        let volumes = try #require(pod[p: "spec.volumes"]?.arrayValue)
        #expect(volumes.count == 1)
        let name = try #require(volumes[0]["name"]?.stringValue)
        #expect(name.hasPrefix("kube-api-access-") && name.count == "kube-api-access-".count + 5)
        #expect(name.dropFirst("kube-api-access-".count).allSatisfy { "bcdfghjklmnpqrstvwxz2456789".contains($0) })
        #expect(volumes[0]["projected"] == Self.upstreamSource)
        let mount: JSONValue = .object(["name": .string(name), "readOnly": .bool(true), "mountPath": .string("/var/run/secrets/kubernetes.io/serviceaccount")])
        for path in ["spec.initContainers.0", "spec.containers.0", "spec.containers.1"] {
            #expect(pod[p: path + ".volumeMounts"] == .array([mount]), "\(path)")
        }
        // Stored as served.
        let read = try await s.call("GET", "/api/v1/namespaces/default/pods/web")
        #expect(read.json[p: "spec.volumes"] == pod[p: "spec.volumes"])
    }

    @Test func aContainerWithItsOwnMountAtThePathKeepsIt() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let own: JSONValue = .object(["name": .string("mine"), "mountPath": .string("/var/run/secrets/kubernetes.io/serviceaccount")])
        let spec: JSONObject = ["containers": .array([Self.container("a", mounts: [own]), Self.container("b")]),
                                "volumes": .array([.object(["name": .string("mine"), "emptyDir": .object([:])])])]
        let pod = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Self.pod("own", spec: spec)).json
        #expect(pod[p: "spec.containers.0.volumeMounts"] == .array([own]))
        #expect(pod[p: "spec.containers.1.volumeMounts.0.name"]?.stringValue?.hasPrefix("kube-api-access-") == true)
        #expect(pod[p: "spec.volumes"]?.arrayValue?.count == 2)

        // Every container mounting something at the path: no volume is added.
        let all: JSONObject = ["containers": .array([Self.container("a", mounts: [own])]),
                               "volumes": .array([.object(["name": .string("mine"), "emptyDir": .object([:])])])]
        let none = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Self.pod("own-all", spec: all)).json
        #expect(none[p: "spec.volumes"]?.arrayValue?.count == 1)
    }

    @Test func automountFalseOnThePodOrTheAccountAddsNothingAndThePodWins() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let robot: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("ServiceAccount"),
                                        "metadata": .object(["name": .string("robot")]), "automountServiceAccountToken": .bool(false),
                                        "imagePullSecrets": .array([.object(["name": .string("registry")])])])
        #expect(try await s.call("POST", "/api/v1/namespaces/default/serviceaccounts", json: robot).code == 201)

        let podOff = try await s.call("POST", "/api/v1/namespaces/default/pods",
                                      json: Self.pod("off", spec: ["containers": .array([Self.container("a")]), "automountServiceAccountToken": .bool(false)])).json
        #expect(podOff[p: "spec.volumes"] == nil && podOff[p: "spec.containers.0.volumeMounts"] == nil)

        let accountOff = try await s.call("POST", "/api/v1/namespaces/default/pods",
                                          json: Self.pod("robot-off", spec: ["containers": .array([Self.container("a")]), "serviceAccountName": .string("robot")])).json
        #expect(accountOff[p: "spec.volumes"] == nil)
        #expect(accountOff[p: "spec.imagePullSecrets"] == .array([.object(["name": .string("registry")])]), "the account's pull secrets")

        let podOn = try await s.call("POST", "/api/v1/namespaces/default/pods",
                                     json: Self.pod("robot-on", spec: ["containers": .array([Self.container("a")]), "serviceAccountName": .string("robot"),
                                                                       "automountServiceAccountToken": .bool(true)])).json
        #expect(podOn[p: "spec.volumes.0.projected"] == Self.upstreamSource)
    }

    @Test func aMissingAccountIsForbiddenWithUpstreamsMessage() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let r = try await s.call("POST", "/api/v1/namespaces/default/pods",
                                 json: Self.pod("lost", spec: ["containers": .array([Self.container("a")]), "serviceAccountName": .string("ghost")]))
        #expect(r.code == 403)
        #expect(r.json["reason"] == .string("Forbidden"))
        #expect(r.json["message"] == .string("pods \"lost\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found"))
        #expect(try await s.call("GET", "/api/v1/namespaces/default/pods/lost").code == 404)
    }

    @Test func mirrorPodsAreLeftAsTheyAreAndMayNotUseAccountsOrSecrets() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let mirror = ["kubernetes.io/config.mirror": "abc"]
        let plain = try await s.call("POST", "/api/v1/namespaces/default/pods",
                                     json: Self.pod("static-n1", spec: ["containers": .array([Self.container("a")])], annotations: mirror))
        #expect(plain.code == 201)
        #expect(plain.json[p: "spec.serviceAccountName"] == nil && plain.json[p: "spec.volumes"] == nil)

        let cases: [(JSONObject, String)] = [
            (["containers": .array([Self.container("a")]), "serviceAccountName": .string("default")], "a mirror pod may not reference service accounts"),
            (["containers": .array([.object(["name": .string("a"), "image": .string("busybox:1.36"),
                                             "env": .array([.object(["name": .string("X"), "valueFrom": .object(["secretKeyRef": .object(["name": .string("s"), "key": .string("k")])])])])])])],
             "a mirror pod may not reference secrets"),
            (["containers": .array([Self.container("a")]),
              "volumes": .array([.object(["name": .string("t"), "projected": .object(["sources": .array([.object(["serviceAccountToken": .object(["path": .string("token")])])])])])])],
             "a mirror pod may not use ServiceAccountToken volume projections"),
        ]
        for (index, (spec, message)) in cases.enumerated() {
            let r = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Self.pod("mirror-\(index)", spec: spec, annotations: mirror))
            #expect(r.code == 403)
            #expect(r.json["message"] == .string("pods \"mirror-\(index)\" is forbidden: \(message)"))
        }
    }

    /// Upstream looks a missing "default" account up 10 times (the controller may be about to
    /// make it) before refusing; the interval is injected here.
    @Test func aMissingDefaultAccountIsLookedUpTenTimes() async throws {
        let store = LocalStore.inMemory()
        defer { Task { await store.close() } }
        let storage = RESTStorage(store: store, registry: .builtIn,
                                  allocator: try ServiceAllocator(store: store, serviceCIDR: "10.96.0.0/12", nodePorts: 30000...32767), now: { Date() })
        var pod: JSONObject = ["metadata": .object(["name": .string("p"), "namespace": .string("fresh")]),
                               "spec": .object(["containers": .array([Self.container("a")])])]
        do {
            try await ServiceAccountAdmission.admit(&pod, storage: storage, retryInterval: .zero)
            Issue.record("expected 403")
        } catch {
            #expect(error.code == 403)
            #expect(error.status.message == "pods \"p\" is forbidden: error looking up service account fresh/default: serviceaccount \"default\" not found")
        }
        _ = try await storage.create(Namespaces.definition, namespace: nil,
                                     body: .object(["metadata": .object(["name": .string("fresh")])]), options: WriteOptions())
        try await ServiceAccountAdmission.bootstrapDefaultAccounts(namespaces: ["fresh"], storage: storage)
        try await ServiceAccountAdmission.admit(&pod, storage: storage, retryInterval: .zero)
        #expect(pod[path: ["spec", "serviceAccountName"]] == .string("default"))
        #expect(pod[path: ["spec", "volumes"]]?.arrayValue?.count == 1)
    }

    @Test func theServersOwnNamespacesHaveDefaultAccounts() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            #expect(try await s.call("GET", "/api/v1/namespaces/\(namespace)/serviceaccounts/default").code == 200, "\(namespace)")
        }
    }
}

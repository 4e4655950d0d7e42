import Controllers
import Foundation
import KubeAPI
import KubeClient
import Testing
import TestSupport

/// The root CA publisher against the fake API: `kube-root-ca.crt` is made, repaired after an
/// edit, made again after a delete, and left alone when it is right.
@Suite struct RootCAPublisherTests {
    static let ca = "-----BEGIN CERTIFICATE-----\nMIIBcluster\n-----END CERTIFICATE-----\n"

    static func map(_ api: FakeKubeAPI, _ namespace: String) -> ConfigMap? {
        api.objects(ConfigMap.self, namespace: namespace).first { $0.metadata.name == "kube-root-ca.crt" }
    }

    @Test func publishesRepairsAndRecreatesTheConfigMap() async throws {
        let api = FakeKubeAPI()
        try api.seed([Namespace(metadata: ObjectMeta(name: "team"))])
        let publisher = RootCAPublisher(client: api, rootCA: Self.ca)
        try await publisher.sync(key: "team")
        let made = try #require(Self.map(api, "team"))
        #expect(made.data == ["ca.crt": Self.ca])
        #expect(made.metadata.annotations?["kubernetes.io/description"]?.hasPrefix("Contains a CA bundle that can be used to verify the kube-apiserver") == true)

        // Correct already: no write.
        let writes = api.requestCount(.update) + api.requestCount(.create)
        try await publisher.sync(key: "team")
        #expect(api.requestCount(.update) + api.requestCount(.create) == writes)

        // Edited data and a dropped annotation are put back; other annotations stay.
        var edited = made
        edited.data = ["ca.crt": "forged", "extra": "x"]
        edited.metadata.annotations = ["owner": "me"]
        _ = try await api.update(edited)
        try await publisher.sync(key: "team")
        let repaired = try #require(Self.map(api, "team"))
        #expect(repaired.data == ["ca.crt": Self.ca])
        #expect(repaired.metadata.annotations?["kubernetes.io/description"] == RootCAPublisher.description)
        #expect(repaired.metadata.annotations?["owner"] == "me")

        try await api.delete(ConfigMap.self, namespace: "team", name: "kube-root-ca.crt")
        #expect(Self.map(api, "team") == nil)
        try await publisher.sync(key: "team")
        #expect(Self.map(api, "team")?.data == ["ca.crt": Self.ca])
    }

    @Test func aNamespaceBeingDeletedIsNotRetried() async throws {
        let api = FakeKubeAPI()
        api.failNext(.create, kind: "ConfigMap", error: KubeClientError(code: 403, reason: "Forbidden", message: "unable to create new content in namespace gone because it is being terminated",
                                                                          status: Status(status: "Failure", message: "terminating", reason: "Forbidden",
                                                                                         details: StatusDetails(name: "gone", kind: "namespaces", causes: [StatusCause(reason: "NamespaceTerminating", message: "namespace gone is being terminated", field: "metadata.namespace")]),
                                                                                         code: 403)))
        try await RootCAPublisher(client: api, rootCA: Self.ca).sync(key: "gone")
        #expect(Self.map(api, "gone") == nil)

        api.failNext(.create, kind: "ConfigMap", error: KubeClientError(code: 500, reason: "InternalError", message: "boom"))
        await #expect(throws: ControllerError.self) { try await RootCAPublisher(client: api, rootCA: Self.ca).sync(key: "gone") }
    }
}

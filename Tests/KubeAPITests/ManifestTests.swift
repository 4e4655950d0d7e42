import Testing
@testable import KubeAPI

struct ManifestTests {
    let twoDocs = """
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      namespace: default
    spec:
      selector: {app: web}
      ports:
      - name: http
        port: 80
        targetPort: http
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: web-abc
      labels: {kubernetes.io/service-name: web}
    addressType: IPv4
    endpoints:
    - addresses: ["10.0.0.1"]
      conditions: {ready: false, serving: true, terminating: true}
    ports:
    - {name: http, port: 8080, protocol: TCP}
    """

    @Test func readsMultiDocumentYAML() throws {
        let docs = try Manifest.documents(twoDocs)
        #expect(docs.count == 2)
        let svc = try Manifest.decode(Service.self, from: docs[0])
        #expect(svc.key == "default/web")
        #expect(svc.spec.ports?.first?.targetPort == .string("http"))
        #expect(svc.spec.ports?.first?.port == 80)
        let slice = try Manifest.decode(EndpointSlice.self, from: docs[1])
        #expect(slice.serviceName == "web")
        let conditions = try #require(slice.endpoints.first?.conditions)
        #expect(!conditions.isReady && conditions.isServing && conditions.isTerminating)
    }

    @Test func quotedScalarsStayStrings() throws {
        let docs = try Manifest.documents("a: \"80\"\nb: 80\nc: 'true'\nd: true\ne: null\n")
        #expect(docs[0]["a"] == .string("80"))
        #expect(docs[0]["b"] == .number(80))
        #expect(docs[0]["c"] == .string("true"))
        #expect(docs[0]["d"] == .bool(true))
        #expect(docs[0]["e"] == .null)
    }

    @Test func wrongKindIsAnError() throws {
        let docs = try Manifest.documents(twoDocs)
        let error = #expect(throws: Manifest.DecodeError.self) { try Manifest.decode(Pod.self, from: docs[0]) }
        #expect(error?.message == "kind Service is not Pod")
    }

    @Test func missingFieldNamesItsPath() throws {
        let docs = try Manifest.documents("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports:\n  - name: a\n")
        let error = #expect(throws: Manifest.DecodeError.self) { try Manifest.decode(Service.self, from: docs[0]) }
        #expect(error?.message == "cannot decode Service: missing field spec.ports[0].port")
    }

    @Test func badYAMLIsAnError() {
        #expect(throws: Manifest.DecodeError.self) { try Manifest.documents("a: [1, 2\n") }
        #expect(throws: Manifest.DecodeError.self) { try Manifest.documents("{\"a\": ") }
    }
}

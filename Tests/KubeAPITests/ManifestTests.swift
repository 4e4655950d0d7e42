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

    /// Integers as upstream's YAML reader (go-yaml, YAML 1.1) resolves them: `defaultMode: 0400`
    /// is octal. Not integers stay strings or floats.
    @Test(arguments: [
        ("420", JSONValue.number(420)), ("0400", .number(256)), ("0644", .number(420)), ("0o755", .number(493)),
        ("0x1F", .number(31)), ("0b101", .number(5)), ("1_000", .number(1000)), ("-012", .number(-10)), ("+7", .number(7)),
        ("0", .number(0)), ("1.5", .number(1.5)), ("1e3", .number(1000)), ("089", .string("089")), ("0x", .string("0x")),
        ("12ab", .string("12ab")), ("_1", .string("_1")), ("v1", .string("v1")),
    ])
    func plainIntegersFollowYAML11(text: String, expected: JSONValue) throws {
        let docs = try Manifest.documents("v: \(text)\n")
        #expect(docs[0]["v"] == expected)
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

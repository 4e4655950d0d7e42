import Foundation
import KubeAPI
import Testing

/// `JSONValue.encodeJSON` against JSONEncoder: the same JSON value for every object the clients
/// send, the same refusals, and JSONEncoder's output wherever an `encode(to:)` cannot be streamed.
@Suite struct JSONStreamEncoderTests {
    static func expectSameJSON<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let streamed = try JSONValue.encodeJSON(value)
        let expected = try JSONValue.parse(JSONEncoder().encode(value))
        #expect(try JSONValue.parse(streamed) == expected, sourceLocation: sourceLocation)
    }

    @Test func kubernetesObjectsEncodeAsJSONEncoderEncodes() throws {
        let pod = try JSONValue.decode(Pod.self, fromJSON: Array(JSONTapeDecoderTests.pod.utf8))
        try Self.expectSameJSON(pod)
        try Self.expectSameJSON(try JSONValue.decode(Node.self, fromJSON: Array(JSONTapeDecoderTests.node.utf8)))
        try Self.expectSameJSON(try JSONValue.decode(Lease.self, fromJSON: Array(JSONTapeDecoderTests.lease.utf8)))
        try Self.expectSameJSON(try JSONValue.decode(Status.self, fromJSON: Array(JSONTapeDecoderTests.status.utf8)))
        try Self.expectSameJSON(ObjectList(items: [pod, pod], metadata: ListMeta(resourceVersion: "7")))
        try Self.expectSameJSON(Binding(podNamespace: "default", podName: "web-1", node: "node-1", podUID: "u"))
        try Self.expectSameJSON(Pod(metadata: ObjectMeta(name: "empty"), spec: PodSpec(containers: [])))
    }

    @Test func valuesOfEveryShape() throws {
        try Self.expectSameJSON(JSONValue.parse(JSONTapeDecoderTests.pod))
        try Self.expectSameJSON(["cpu": Quantity("250m"), "memory": Quantity("1Gi")])
        try Self.expectSameJSON([IntOrString.int(80), .string("http")])
        try Self.expectSameJSON([Int?.none, 1, nil])
        try Self.expectSameJSON(["quote\"back\\slash/\n\t\u{1}é😀": [1.5, -0.25, 1e300, 3]])
        try Self.expectSameJSON("a lone string")
        try Self.expectSameJSON(Int64.min)
        try Self.expectSameJSON([[String: [Bool]]]([["a": [true, false]], [:]]))
    }

    struct NoMembers: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    struct Wrapper: Encodable {
        var inner = NoMembers()
        var after = 1
    }

    @Test func aValueThatWritesNothingIsAnEmptyObject() throws {
        try Self.expectSameJSON(Wrapper())
        #expect(try JSONValue.parse(JSONValue.encodeJSON(Wrapper())) == .object(["inner": .object([:]), "after": .number(1)]))
    }

    /// Keeps a nested container and writes to it after its parent moved on: not streamable.
    struct OutOfOrder: Encodable {
        enum Keys: String, CodingKey { case first, second, late }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            var first = c.nestedContainer(keyedBy: Keys.self, forKey: .first)
            try c.encode("x", forKey: .second)
            try first.encode(1, forKey: .late)
        }
    }

    struct UsesSuper: Encodable {
        enum Keys: String, CodingKey { case a }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(1, forKey: .a)
            try "base".encode(to: c.superEncoder())
        }
    }

    @Test func whatCannotBeStreamedFallsBackToJSONEncoder() throws {
        try Self.expectSameJSON(OutOfOrder())
        #expect(try JSONValue.parse(JSONValue.encodeJSON(OutOfOrder())) == .object(["first": .object(["late": .number(1)]), "second": .string("x")]))
        try Self.expectSameJSON(UsesSuper())
        #expect(try JSONValue.parse(JSONValue.encodeJSON(UsesSuper()))["super"] == .string("base"))
    }

    @Test func nonFiniteNumbersAreRefused() {
        #expect(throws: EncodingError.self) { _ = try JSONValue.encodeJSON([Double.nan]) }
        #expect(throws: EncodingError.self) { _ = try JSONValue.encodeJSON(["x": Double.infinity]) }
        #expect(throws: EncodingError.self) { _ = try JSONValue.encodeJSON(JSONValue.array([.number(.infinity)])) }
    }
}

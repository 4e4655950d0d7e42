import Foundation
@testable import KubeAPI
import Testing

/// The generated direct encoders (JSONDirectEncoders.swift) against JSONStreamEncoder, which
/// drives every type's synthesized `encode(to:)`: byte for byte the same JSON, and it decodes
/// back to an equal value. The values are JSONTapeTypesTests' samples (every member of every
/// type set), and every object inside them with each member removed (optionals nil), emptied,
/// each array emptied, each string replaced by one that needs escapes, and each object given
/// a member under a key that needs escapes (a new map entry, or an unknown key a struct drops).
@Suite struct JSONDirectEncodersTests {
    typealias Step = JSONTapeTypesTests.Step

    /// Quote, backslash, slash (not escaped), the control bytes with and without a short escape,
    /// DEL, two- three- and four-byte UTF-8.
    static let awkward = "q\"b\\s/c\u{01}\u{1f}\n\r\t\u{08}\u{0c}\u{7f} é € 😀 \\u0041"

    /// What `JSONValue.encodeJSON` wrote before the direct encoders: JSONStreamEncoder over the
    /// type's `encode(to:)`.
    static func streamed<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = JSONStreamState()
        try JSONStreamEncoder(state: state).encodeValue(value)
        #expect(!state.unstreamable)
        state.closeAll()
        return state.out
    }

    static func direct<T: JSONDirectEncodable>(_ value: T) throws -> [UInt8] {
        let state = JSONStreamState()
        try value.writeJSON(to: state)
        #expect(state.open.isEmpty, "a direct writer left a container open")
        return state.out
    }

    /// The direct bytes equal the streamed bytes and `encodeJSON`'s, and decode back to `value`.
    /// Returns whether they did (an issue names the value).
    @discardableResult
    static func same<T: JSONDirectEncodable & Codable & Equatable>(_ value: T, _ label: @autoclosure () -> String) throws -> Bool {
        let streamed = try streamed(value)
        let direct = try direct(value)
        let public_ = try JSONValue.encodeJSON(value)
        let back = try JSONDecoder().decode(T.self, from: Data(direct))
        guard direct == streamed, public_ == direct, back == value else {
            Issue.record("""
                \(T.self) \(label()): direct == streamed \(direct == streamed), encodeJSON == direct \(public_ == direct), decodes back equal \(back == value)
                direct:   \(String(decoding: direct.prefix(600), as: UTF8.self))
                streamed: \(String(decoding: streamed.prefix(600), as: UTF8.self))
                """)
            return false
        }
        return true
    }

    /// Every string in `value` (object member values and array elements), with its path.
    static func strings(in value: JSONValue, at path: [Step] = [], into result: inout [[Step]]) {
        switch value {
        case .string: result.append(path)
        case .object(let members): for (k, v) in members { strings(in: v, at: path + [.key(k)], into: &result) }
        case .array(let elements): for (i, v) in elements.enumerated() { strings(in: v, at: path + [.index(i)], into: &result) }
        default: break
        }
    }

    /// `text` (a `T` with every member set) and its variants, each that decodes as a `T`,
    /// compared; returns how many were compared. At most 5 differences are reported. Objects
    /// and strings under the member paths in `skipping` (checked on their own) are not varied.
    @discardableResult
    static func check<T: JSONDirectEncodable & Codable & Equatable>(_ type: T.Type, _ text: String, skipping: [[String]] = []) throws -> Int {
        let root = try JSONValue.parse(Array(text.utf8))
        var variants: [(String, JSONValue)] = [("as given", root)]
        var objects: [([Step], [String: JSONValue])] = []
        JSONTapeTypesTests.objects(in: root, into: &objects)
        func with(_ path: [Step], _ replacement: JSONValue) -> JSONValue { JSONTapeTypesTests.replacing(root, at: path[...], with: replacement) }
        func skipped(_ path: [Step]) -> Bool {
            let keys = path.compactMap { if case .key(let k) = $0 { k } else { nil } }
            return skipping.contains { !$0.isEmpty && keys.starts(with: $0) }
        }
        func name(_ path: [Step]) -> String {
            path.map { if case .key(let k) = $0 { "." + k } else if case .index(let i) = $0 { "[\(i)]" } else { "" } }.joined()
        }
        for (path, members) in objects where !skipped(path) {
            variants.append(("\(name(path)) emptied", with(path, .object([:]))))
            var added = members
            added[awkward] = .string("1")
            variants.append(("\(name(path)) with an awkward key", with(path, .object(added))))
            for (key, value) in members {
                var removed = members
                removed[key] = nil
                variants.append(("\(name(path)) without \(key)", with(path, .object(removed))))
                if case .array = value {
                    var emptied = members
                    emptied[key] = .array([])
                    variants.append(("\(name(path)).\(key) an empty array", with(path, .object(emptied))))
                }
            }
        }
        var stringPaths: [[Step]] = []
        strings(in: root, into: &stringPaths)
        for path in stringPaths where !skipped(path) { variants.append(("\(name(path)) awkward", with(path, .string(awkward)))) }

        var compared = 0, failures = 0
        for (label, variant) in variants {
            // Variants that are not a `T` (a required member removed, a Quantity that does
            // not parse) are skipped; the full sample must decode.
            guard let value = try? JSONValue.decode(T.self, fromJSON: variant.serialized()) else {
                #expect(label != "as given", "the \(T.self) sample does not decode")
                continue
            }
            compared += 1
            if !(try same(value, label)) {
                failures += 1
                if failures >= 5 { break }
            }
        }
        return compared
    }

    /// The full Pod in parts, each varied as its own type (as JSONTapeTypesTests does: varying
    /// the whole 15 kB document at every object took 19 s in a debug build).
    @Test func pod() throws {
        let text = JSONTapeTypesTests.fullPod
        func part(_ path: [String]) throws -> String { try JSONTapeTypesTests.part(text, path) }
        var compared = try Self.check(Pod.self, text, skipping: [["metadata"], ["spec"], ["status"]])
        compared += try Self.check(PodSpec.self, part(["spec"]), skipping: [["containers"], ["initContainers"], ["volumes"], ["affinity"], ["topologySpreadConstraints"]])
        compared += try Self.check(Container.self, part(["spec", "containers", "0"]))
        compared += try Self.check(Volume.self, part(["spec", "volumes", "0"]))
        compared += try Self.check(Affinity.self, part(["spec", "affinity"]))
        compared += try Self.check(TopologySpreadConstraint.self, part(["spec", "topologySpreadConstraints", "0"]))
        compared += try Self.check(PodStatus.self, part(["status"]))
        #expect(compared > 900)
    }
    @Test func node() throws {
        let compared = try Self.check(Node.self, JSONTapeTypesTests.fullNode)
        #expect(compared > 100)
    }
    @Test func lease() throws {
        let compared = try Self.check(Lease.self, JSONTapeTypesTests.fullLease)
        #expect(compared > 50)
    }
    @Test func objectMeta() throws {
        let pod = try JSONValue.decode(Pod.self, fromJSON: Array(JSONTapeTypesTests.fullPod.utf8))
        let text = String(decoding: try JSONValue.encodeJSON(pod.metadata), as: UTF8.self)
        let compared = try Self.check(ObjectMeta.self, text)
        #expect(compared > 50)
        try Self.same(ObjectMeta(), "empty")
    }
    @Test func fixtures() throws {
        try Self.check(Pod.self, JSONTapeDecoderTests.pod)
        try Self.check(Node.self, JSONTapeDecoderTests.node)
        try Self.check(Lease.self, JSONTapeDecoderTests.lease)
    }

    @Test func binding() throws {
        let pod = try JSONValue.decode(Pod.self, fromJSON: Array(JSONTapeTypesTests.fullPod.utf8))
        var full = Binding(metadata: pod.metadata, target: ObjectReference(kind: "Node", namespace: "ns", name: Self.awkward, uid: "u"))
        full.target.apiVersion = "v1"
        full.target.resourceVersion = "7"
        full.target.fieldPath = "spec"
        let text = String(decoding: try JSONValue.encodeJSON(full), as: UTF8.self)
        #expect(text.contains(#""fieldPath":"spec""#))
        let compared = try Self.check(Binding.self, text)
        #expect(compared > 50)
        // What the scheduler sends, and one with nothing optional.
        try Self.same(Binding(podNamespace: "default", podName: "pod-1", node: "hollow-7", podUID: "uid-1"), "scheduler's")
        var bare = Binding(metadata: ObjectMeta(), target: ObjectReference())
        bare.apiVersion = nil
        bare.kind = nil
        try Self.same(bare, "bare")
        #expect(String(decoding: try Self.direct(bare), as: UTF8.self) == #"{"metadata":{},"target":{}}"#)
    }

    /// The roots go through the direct writers in `encodeJSON` (a cast, as there).
    @Test func rootsConform() {
        let values: [any Encodable] = [
            Pod(metadata: ObjectMeta(), spec: PodSpec(containers: [])), Node(metadata: ObjectMeta()),
            Lease(metadata: ObjectMeta()), ObjectMeta(), Binding(metadata: ObjectMeta(), target: ObjectReference()),
        ]
        for value in values { #expect(value is any JSONDirectEncodable, "\(type(of: value))") }
    }

    /// A number JSON cannot hold, inside a member written through JSONStreamEncoder (a
    /// managedFields entry), is refused as before; a member that is a JSONValue object is
    /// written whole.
    @Test func nonFiniteIsRefused() throws {
        var meta = ObjectMeta(name: "a")
        meta.managedFields = [.object(["n": .number(.infinity)])]
        #expect(throws: EncodingError.self) { try Self.streamed(meta) }
        #expect(throws: EncodingError.self) { try Self.direct(meta) }
        #expect(throws: EncodingError.self) { try JSONValue.encodeJSON(meta) }
        meta.managedFields = [.object(["n": .number(1.5), "a": .array([.null, .bool(true), .string(Self.awkward)])])]
        try Self.same(meta, "managedFields")
    }
}

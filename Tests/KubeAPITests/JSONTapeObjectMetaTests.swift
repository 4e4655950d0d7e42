import Foundation
@testable import KubeAPI
import Testing

/// ObjectMeta's one-pass tape decoding (``ObjectMeta/decode(from:)``) against its synthesized
/// `init(from:)` over the same tape: the same values (compared with `==` and through a
/// sorted-keys encoding) or the same error, for unknown members, nulls, missing members,
/// repeated and escaped keys, and values of the wrong shape.
@Suite struct JSONTapeObjectMetaTests {
    static let cases: [String] = [
        #"{}"#,
        #"{"name":"p","namespace":"default","uid":"u-1","resourceVersion":"42","generation":3,"creationTimestamp":"2026-11-26T08:00:00Z","labels":{"app":"web"},"annotations":{"a":"b"},"finalizers":["f"],"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u-0","controller":true}],"managedFields":[{"manager":"m","fieldsV1":{"f:spec":{}}}],"generateName":"p-","deletionTimestamp":"2026-11-26T09:00:00Z","deletionGracePeriodSeconds":30}"#,
        #"{"name":"p","selfLink":"/api/v1/x","future":{"nested":[1,2,{"x":null}]},"zzz":true}"#,
        #"{"name":null,"labels":null,"generation":null,"ownerReferences":null,"managedFields":null}"#,
        #"{"name":"first","name":"last","labels":{"a":"1"},"labels":{"b":"2"}}"#,
        #"{"name":7,"name":"last wins"}"#,
        #"{"na\u006de":"escaped key","\u006eamespace":"ns"}"#,
        #"{"name":7}"#,
        #"{"name":"p","generation":"three"}"#,
        #"{"generation":1.5}"#,
        #"{"generation":1e30}"#,
        #"{"labels":{"a":1}}"#,
        #"{"labels":[]}"#,
        #"{"uid":"u","ownerReferences":[{"kind":"ReplicaSet"}]}"#,
        #"{"finalizers":"f"}"#,
        #"{"deletionGracePeriodSeconds":true,"name":5}"#,
        #"[]"#, #"null"#, #""meta""#, #"5"#,
    ]

    /// Decodes `text` with `decode` over a tape of its bytes.
    static func onTape<T>(_ text: String, _ decode: (JSONTapeDecoder) throws -> T) throws -> T {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer in
            let tape = try JSONTape.build(buffer, omitting: nil)
            return try tape.withUnsafeBufferPointer { entries in
                let document = JSONTapeDocument(bytes: buffer, entries: entries)
                return try withExtendedLifetime(document) { try decode(JSONTapeDecoder(document, 0)) }
            }
        }
    }

    static func outcome(_ f: () throws -> ObjectMeta) -> String {
        do {
            let meta = try f()
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return "value " + String(decoding: try encoder.encode(meta), as: UTF8.self)
        } catch {
            return "error " + JSONTapeDecoderTests.describe(error)
        }
    }

    @Test(arguments: cases)
    func decodesAsTheSynthesizedInit(_ text: String) throws {
        let direct = Self.outcome { try Self.onTape(text) { try ObjectMeta.decode(from: $0) } }
        let synthesized = Self.outcome { try Self.onTape(text) { try ObjectMeta(from: $0) } }
        #expect(direct == synthesized)
        // And the public entry point takes the direct path with the same result.
        #expect(Self.outcome { try JSONValue.decode(ObjectMeta.self, fromJSON: Array(text.utf8)) } == synthesized)
    }

    /// Inside a Pod (the path every watch event takes): the same Pod as Foundation's decoder,
    /// which goes through the synthesized inits only.
    @Test func podMetadataDecodesAsFoundationDecodes() throws {
        let bytes = Array(JSONTapeDecoderTests.pod.utf8)
        let tape = try JSONValue.decode(Pod.self, fromJSON: bytes)
        let foundation = try JSONDecoder().decode(Pod.self, from: Data(bytes))
        #expect(tape.metadata == foundation.metadata)
        #expect(tape.metadata.managedFields?.count == 2)
    }
}

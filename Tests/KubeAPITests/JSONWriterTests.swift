import Foundation
import KubeAPI
import Testing
import TestSupport

/// `JSONValue.serialized` (the API server's encoder for every stored object, response and watch
/// event, and `JSONStreamEncoder`'s writer) writes byte for byte what a plain reference writer
/// does: keys sorted, every byte looked at on its own, integers through `String(Int64)`.
@Suite struct JSONWriterTests {
    static let cases: [(label: String, value: JSONValue)] = [
        ("null", .null),
        ("booleans", .array([.bool(true), .bool(false)])),
        ("integers", .array([0, 1, -1, 7, 10, 1_000_000, -123_456_789, 8_999_999_999_999_999].map { JSONValue.number(Double($0)) })),
        ("negative zero", .number(-0.0)),
        ("fractions and large", .array([0.5, -2.25, 1e-7, 3.141592653589793, 9.0e15, 1.5e300, -9.5e15].map(JSONValue.number))),
        ("non-finite", .array([.number(.infinity), .number(-.infinity), .number(.nan)])),
        ("escapes", .string("q\"b\\s/ n\n r\r t\t b\u{8} f\u{c} nul\u{0} one\u{1} us\u{1f} del\u{7f}")),
        ("non-ASCII", .string("é ✓ 日本 \u{1F600} e\u{301}")),
        ("escape at the ends", .string("\"middle\"")),
        ("empty", .array([.string(""), .array([]), .object([:])])),
        ("one member", .object(["k": .string("v")])),
        ("key order", .object(Dictionary(uniqueKeysWithValues: ["b", "a", "B", "_", "a0", "a.b", "é", "z", "", "A"].enumerated().map { ($1, JSONValue.number(Double($0))) }))),
        ("keys needing escapes", .object(["quote\"d": .null, "line\nbreak": .bool(true), "tab\t": .number(1)])),
        ("a pod", try! JSONValue.parse(Array(#"""
            {"kind": "Pod", "apiVersion": "v1",
             "metadata": {"name": "web-1", "namespace": "default", "labels": {"tier": "front", "app": "web"},
                          "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                                             "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}}}}}}]},
             "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0", "ports": [{"protocol": "TCP", "containerPort": 8080}]}],
                      "terminationGracePeriodSeconds": 30},
             "status": {"phase": "Pending", "conditions": []}}
            """#.utf8))),
    ]

    @Test(arguments: cases)
    func sameBytesAsTheReferenceWriter(label: String, value: JSONValue) {
        #expect(value.serialized(sortedKeys: true) == Self.reference(value), "\(label)")
        #expect((try? JSONValue.parse(value.serialized(sortedKeys: false))) == Self.parsedBack(value), "\(label): unsorted parses back")
    }

    @Test func sameBytesForRandomTrees() {
        var generator = SplitMix(seed: 0x5eed)
        for round in 0..<300 {
            let value = Self.randomValue(&generator, depth: 0)
            let ours = value.serialized(sortedKeys: true)
            #expect(ours == Self.reference(value), "round \(round)")
            // And it parses back to the same value (its doubles round-trip).
            #expect((try? JSONValue.parse(ours)) == value, "round \(round)")
            #expect((try? JSONValue.parse(value.serialized(sortedKeys: false))) == value, "round \(round): unsorted")
        }
    }

    @Test func knownBytes() {
        #expect(String(decoding: JSONValue.object(["b": .number(1), "a": .array([.string("x\"\n\u{1}"), .number(-2.5), .null, .bool(true)])]).serialized(), as: UTF8.self)
                == #"{"a":["x\"\n\u0001",-2.5,null,true],"b":1}"#)
        #expect(String(decoding: JSONValue.number(-0.0).serialized(), as: UTF8.self) == "0")
        #expect(String(decoding: JSONValue.number(9.0e15).serialized(), as: UTF8.self) == "9000000000000000.0", "from 9e15 on, Swift's own form")
    }

    /// Non-finite numbers are written as null, so they come back as null.
    static func parsedBack(_ value: JSONValue) -> JSONValue {
        switch value {
        case .number(let d) where !d.isFinite: return .null
        case .array(let elements): return .array(elements.map(parsedBack))
        case .object(let members): return .object(members.mapValues(parsedBack))
        default: return value
        }
    }

    /// The plain writer the fast one must equal: sorted keys, one byte at a time, Go's integer
    /// form below 9e15, Swift's shortest form otherwise, null for non-finite numbers.
    static func reference(_ value: JSONValue) -> [UInt8] {
        switch value {
        case .null: return Array("null".utf8)
        case .bool(let b): return Array((b ? "true" : "false").utf8)
        case .number(let d):
            if d.rounded() == d, abs(d) < 9.0e15 { return Array(String(Int64(d)).utf8) }
            return Array((d.isFinite ? "\(d)" : "null").utf8)
        case .string(let s): return referenceString(s)
        case .array(let elements):
            return Array("[".utf8) + Array(elements.map(reference).joined(separator: Array(",".utf8))) + Array("]".utf8)
        case .object(let members):
            let parts = members.keys.sorted().map { referenceString($0) + Array(":".utf8) + reference(members[$0]!) }
            return Array("{".utf8) + Array(parts.joined(separator: Array(",".utf8))) + Array("}".utf8)
        }
    }

    static func referenceString(_ s: String) -> [UInt8] {
        var out = Array("\"".utf8)
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += Array(#"\""#.utf8)
            case UInt8(ascii: "\\"): out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case 0x08: out += Array(#"\b"#.utf8)
            case 0x0C: out += Array(#"\f"#.utf8)
            case 0..<0x20: out += Array(String(format: "\\u%04x", Int(byte)).utf8)
            default: out.append(byte)
            }
        }
        return out + Array("\"".utf8)
    }

    static func randomValue(_ g: inout SplitMix, depth: Int) -> JSONValue {
        switch g.next() % (depth > 4 ? 4 : 7) {
        case 0: return .null
        case 1: return .bool(g.next() % 2 == 0)
        case 2: return g.next() % 2 == 0 ? .number(Double(Int64(bitPattern: g.next()) % 1_000_000_000)) : .number(Double(g.next() % 10_000) / 64)
        case 3: return .string(randomString(&g))
        case 4: return .array((0..<Int(g.next() % 5)).map { _ in randomValue(&g, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int(g.next() % 8) { members[randomString(&g)] = randomValue(&g, depth: depth + 1) }
            return .object(members)
        }
    }

    static let alphabet: [Character] = Array("abcXYZ09_-./:\"\\\n\t\u{1}\u{7f}é✓ ") + ["\u{1F600}"]

    static func randomString(_ g: inout SplitMix) -> String {
        String((0..<Int(g.next() % 12)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
    }

    /// A deterministic generator (KubeAPI's SplitMix64), so a failure names a reproducible round.
    typealias SplitMix = SplitMix64
}

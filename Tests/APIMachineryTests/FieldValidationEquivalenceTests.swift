import Testing
import TestSupport
import KubeAPI
@testable import APIMachinery

/// `FieldValidation.unknownFields` and `duplicateFields` spell paths only for the fields they
/// report and compare plain keys by their bytes; these tests hold them to the plain
/// implementations they replaced (kept here as references): the same result for every input
/// of a table and of seeded random documents.
@Suite struct FieldValidationEquivalenceTests {
    // MARK: References (the implementations before session 9)

    enum Reference {
        static func unknownFields(in object: JSONValue, schema: TypeSchema) -> [String] {
            var found: [String] = []
            walk(object, schema: schema, path: "", into: &found)
            return found.sorted()
        }

        static func walk(_ value: JSONValue, schema: TypeSchema, path: String, into found: inout [String]) {
            guard case .object(let members) = value else { return }
            for name in members.keys.sorted() {
                let child = path.isEmpty ? name : "\(path).\(name)"
                guard let field = schema.field(name) else {
                    found.append(child)
                    continue
                }
                walk(members[name]!, type: field.type, path: child, into: &found)
            }
        }

        static func walk(_ value: JSONValue, type: FieldType, path: String, into found: inout [String]) {
            switch (type, value) {
            case (.object(let schema), _):
                walk(value, schema: schema, path: path, into: &found)
            case (.array(let items), .array(let elements)):
                for (i, element) in elements.enumerated() { walk(element, type: items, path: "\(path)[\(i)]", into: &found) }
            case (.map(let values), .object(let members)):
                for key in members.keys.sorted() { walk(members[key]!, type: values, path: "\(path).\(key)", into: &found) }
            default:
                return
            }
        }

        /// Every string read into a String, every object's keys in a Set.
        static func duplicateFields(inJSON bytes: [UInt8]) -> [String] {
            struct Open { var isObject: Bool; var keys: Set<String> = []; var expectingKey = true }
            var index = 0
            var stack: [Open] = []
            var duplicates: [String] = []
            func readString() -> String? {
                let start = index
                index += 1
                var escaped = false
                while index < bytes.count {
                    let byte = bytes[index]
                    index += 1
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") {
                        return unescape(bytes[(start + 1)..<(index - 1)])
                    }
                }
                return nil
            }
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "{"): stack.append(Open(isObject: true)); index += 1
                case UInt8(ascii: "["): stack.append(Open(isObject: false)); index += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard !stack.isEmpty else { return duplicates }
                    stack.removeLast()
                    index += 1
                case UInt8(ascii: ","):
                    if let top = stack.indices.last, stack[top].isObject { stack[top].expectingKey = true }
                    index += 1
                case UInt8(ascii: "\""):
                    guard let text = readString() else { return duplicates }
                    if let top = stack.indices.last, stack[top].isObject, stack[top].expectingKey {
                        if !stack[top].keys.insert(text).inserted { duplicates.append(text) }
                        stack[top].expectingKey = false
                    }
                default:
                    index += 1
                }
            }
            return duplicates
        }

        static func unescape(_ body: ArraySlice<UInt8>) -> String? {
            guard body.contains(UInt8(ascii: "\\")) else { return String(decoding: body, as: UTF8.self) }
            var out: [UInt8] = []
            var units: [UInt16] = []
            func flushUnits() {
                guard !units.isEmpty else { return }
                out += Array(String(decoding: units, as: UTF16.self).utf8)
                units.removeAll()
            }
            var i = body.startIndex
            while i < body.endIndex {
                let byte = body[i]
                guard byte == UInt8(ascii: "\\") else { flushUnits(); out.append(byte); i += 1; continue }
                guard i + 1 < body.endIndex else { return nil }
                let code = body[i + 1]
                i += 2
                if code == UInt8(ascii: "u") {
                    guard i + 4 <= body.endIndex, let unit = UInt16(String(decoding: body[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                    units.append(unit)
                    i += 4
                    continue
                }
                flushUnits()
                switch code {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(code)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                default: return nil
                }
            }
            flushUnits()
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// A deterministic generator (KubeAPI's SplitMix64), so a failure names a seed that
    /// reproduces it.
    typealias Generator = SplitMix64

    // MARK: duplicateFields

    /// Key spellings that collide in interesting ways: escapes of the same text, canonically
    /// equivalent Unicode (U+212A KELVIN SIGN is "K" to a Swift String), invalid UTF-8 bytes
    /// (both decode to U+FFFD), long keys, and keys that differ by one byte.
    static let keyTexts: [[UInt8]] = [
        Array("a".utf8), Array(#"\u0061"#.utf8), Array("K".utf8), Array("\u{212A}".utf8), Array("é".utf8), Array("e\u{301}".utf8),
        [0xff], [0xfe], Array(#"q\"x"#.utf8), Array(#"\ud83d\ude00"#.utf8), Array("😀".utf8), Array(#"\ud83d"#.utf8), Array(#"\uD83D"#.utf8),
        Array("replicas".utf8), Array("replicaz".utf8), Array(String(repeating: "long-key-", count: 4).utf8), Array(String(repeating: "long-key-", count: 4).utf8) + [0x78],
        Array(#"bad\x"#.utf8), Array(#"\u12"#.utf8), Array(#"tab\t"#.utf8), Array("tab\t".utf8), Array("".utf8),
    ]

    static func randomValue(_ g: inout Generator, depth: Int, into out: inout [UInt8]) {
        switch depth > 3 ? g.below(4) : g.below(7) {
        case 0: out += Array("1".utf8)
        case 1: out += Array("true".utf8)
        case 2: out += [UInt8(ascii: "\"")] + g.pick(keyTexts) + [UInt8(ascii: "\"")]
        case 3: out += Array(#""v""#.utf8)
        case 4, 5: randomObject(&g, depth: depth + 1, into: &out)
        default:
            out.append(UInt8(ascii: "["))
            for i in 0..<g.below(4) {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                randomValue(&g, depth: depth + 1, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    static func randomObject(_ g: inout Generator, depth: Int, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        // Up to 20 members, past the 8 keys compared one by one, from a small pool so keys repeat.
        let pool = Array(keyTexts.shuffled(using: &g).prefix(2 + g.below(keyTexts.count - 2))) + (0..<g.below(14)).map { Array("k\($0)".utf8) }
        for i in 0..<g.below(20) {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += [UInt8(ascii: "\"")] + g.pick(pool) + Array("\":".utf8)
            randomValue(&g, depth: depth, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static let documents: [String] = [
        #"{"a":1,"b":2}"#, #"{"a":1,"a":2,"a":3}"#, #"{"a":1,"\u0061":2}"#, "{\"K\":1,\"\u{212A}\":2}", "{\"\u{212A}\":1,\"K\":2}",
        "{\"é\":1,\"e\u{301}\":2}", #"{"k":"a","a":"k","v":["a","a"]}"#, #"{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}"#,
        #"{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k0":9,"k9":1,"k8":2,"\u006b1":3}"#,
        #"{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"inner":{"k0":1,"k0":2},"k7":1}"#,
        #"{"a":"bad \x escape","a":2}"#, #"{"a":1,"a":2,"b":"unterminated"#, #"{"a":1,"a":"ends in a backslash\"#, #"]]]{"#, "", #"{"a":1}}}{"a":1,"a":2}"#,
        #"[{"a":1},{"a":1,"a":1}]"#, #"{"a\"b":1,"a\u0022b":2}"#,
    ]

    @Test func duplicateFieldsTableMatchesTheReference() {
        for text in Self.documents {
            let bytes = Array(text.utf8)
            #expect(FieldValidation.duplicateFields(inJSON: bytes) == Reference.duplicateFields(inJSON: bytes), "\(text)")
        }
        // Invalid UTF-8 in two keys: both are U+FFFD to a String, so they repeat.
        let invalid: [UInt8] = Array(#"{""#.utf8) + [0xff] + Array(#"":1,""#.utf8) + [0xfe] + Array(#"":2}"#.utf8)
        #expect(FieldValidation.duplicateFields(inJSON: invalid) == Reference.duplicateFields(inJSON: invalid))
        #expect(FieldValidation.duplicateFields(inJSON: invalid) == ["\u{FFFD}"])
    }

    @Test func duplicateFieldsOfRandomDocumentsMatchTheReference() {
        var found = 0
        for seed in 0..<400 as Range<UInt64> {
            var g = Generator(seed: seed)
            var bytes: [UInt8] = []
            Self.randomObject(&g, depth: 0, into: &bytes)
            // A quarter of them cut short, anywhere.
            if seed % 4 == 3 { bytes = Array(bytes.prefix(g.below(bytes.count + 1))) }
            let expected = Reference.duplicateFields(inJSON: bytes)
            found += expected.count
            #expect(FieldValidation.duplicateFields(inJSON: bytes) == expected, "seed \(seed): \(String(decoding: bytes, as: UTF8.self))")
        }
        // The documents do repeat keys (the comparison is not of empty results).
        #expect(found > 400)
    }

    // MARK: unknownFields

    static let pod = SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod")!

    static func randomMember(_ g: inout Generator, schema: TypeSchema, depth: Int) -> JSONValue {
        var members: [String: JSONValue] = [:]
        for _ in 0..<g.below(6) {
            if g.below(4) == 0 || schema.fields.isEmpty {
                members[g.pick(["extra", "typo", "a.b", "", "x[0]", "spec"])] = .number(1)
                continue
            }
            let field = g.pick(schema.fields)
            members[field.name] = randomValue(&g, type: field.type, depth: depth + 1)
        }
        return .object(members)
    }

    static func randomValue(_ g: inout Generator, type: FieldType, depth: Int) -> JSONValue {
        if depth > 6 { return .string("deep") }
        switch type {
        case .object(let schema): return g.below(8) == 0 ? .string("not an object") : randomMember(&g, schema: schema, depth: depth)
        case .array(let items): return .array((0..<g.below(3)).map { _ in randomValue(&g, type: items, depth: depth + 1) })
        case .map(let values):
            var members: [String: JSONValue] = [:]
            for i in 0..<g.below(3) { members[g.pick(["k\(i)", "a.b", ""])] = randomValue(&g, type: values, depth: depth + 1) }
            return .object(members)
        default: return g.below(6) == 0 ? .object(["inside": .number(1)]) : .string("v")
        }
    }

    @Test func unknownFieldsOfRandomObjectsMatchTheReference() {
        var found = 0
        for seed in 0..<300 as Range<UInt64> {
            var g = Generator(seed: seed)
            let object = Self.randomMember(&g, schema: Self.pod, depth: 0)
            let expected = Reference.unknownFields(in: object, schema: Self.pod)
            found += expected.count
            #expect(FieldValidation.unknownFields(in: object, schema: Self.pod) == expected, "seed \(seed)")
        }
        #expect(found > 300)
    }
}

extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

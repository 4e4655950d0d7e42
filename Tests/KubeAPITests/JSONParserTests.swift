import Foundation
import KubeAPI
import Testing

@Suite struct JSONParserTests {
    static let documents: [String] = [
        #"{}"#, #"[]"#, #"null"#, #"true"#, #"false"#, #"0"#, #"-0"#, #"42"#, #"-17"#,
        #"3.25"#, #"1e3"#, #"-2.5E-3"#, #"123456789012345678901234"#, #"9007199254740993"#,
        #""plain""#, #""esc \" \\ \/ \b \f \n \r \t""#, #""\u00e9\u4e2d\ud83d\ude00""#, #""é中😀""#,
        #" { "a" : [ 1 , 2 , { "b" : null } ] , "c" : "d" } "#,
        #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"web"},"generation":3},"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":8080}]}]}}"#,
    ]

    @Test(arguments: documents)
    func parsesAsJSONDecoderDoes(_ text: String) throws {
        let expected = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(try JSONValue.parse(text) == expected)
    }

    @Test(arguments: documents)
    func writesAsJSONEncoderWithSortedKeysDoes(_ text: String) throws {
        let value = try JSONValue.parse(text)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let expected = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(value))
        // Same value after a round trip through our writer, and byte-identical output for
        // everything but floating-point spelling.
        let written = value.serialized()
        #expect(try JSONValue.parse(written) == expected)
        if Self.integralBelow9e15(value) {
            #expect(String(decoding: written, as: UTF8.self) == String(decoding: try encoder.encode(value), as: UTF8.self))
        }
    }

    static func integralBelow9e15(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let d): d.rounded() == d && abs(d) < 9.0e15
        case .array(let a): a.allSatisfy(integralBelow9e15)
        case .object(let o): o.values.allSatisfy(integralBelow9e15)
        default: true
        }
    }

    @Test func aRepeatedKeyKeepsItsLastValueAsGoDoes() throws {
        #expect(try JSONValue.parse(#"{"dup":1,"dup":2}"#) == .object(["dup": .number(2)]))
    }

    @Test(arguments: [String: String]([
        ("", "unexpected end of input"), ("{", "expected a string key"), (#"{"a" 1}"#, "expected ':'"),
        (#"{"a":1,}"#, "expected a string key"), ("[1,]", "unexpected character"), ("[1 2]", "expected ',' or ']'"),
        ("tru", "unexpected end of input"), ("nul1", "invalid literal"), ("01", "unexpected data after the document"),
        ("1.", "no digits after '.'"), ("1e", "no exponent digits"), ("-", "truncated number"), ("+1", "unexpected character"),
        (#""abc"#, "unterminated string"), ("\"a\u{01}b\"", "control character"), (#""\x""#, "invalid escape"),
        (#""\ud800""#, "unpaired surrogate"), (#""\udc00""#, "unpaired surrogate"), (#""\u12""#, "escape"),
        ("{} {}", "unexpected data after the document"), ("// c\n{}", "unexpected character"),
    ], uniquingKeysWith: { a, _ in a }))
    func rejectsMalformedInput(_ text: String, _ fragment: String) {
        #expect {
            _ = try JSONValue.parse(text)
        } throws: { error in
            "\(error)".contains(fragment)
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { _ = try JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func refusesHostileNestingInsteadOfOverflowingTheStack() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect { _ = try JSONValue.parse(deep) } throws: { "\($0)".contains("nesting deeper than 512") }
        let ok = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        _ = try JSONValue.parse(ok)
    }
}

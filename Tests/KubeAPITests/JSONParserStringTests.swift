import Foundation
import KubeAPI
import Testing

/// Strings read and skipped by the parser: ASCII takes a path without UTF-8 validation, every
/// other byte is still validated, both where a string is read and where an omitted member is
/// skipped.
@Suite struct JSONParserStringTests {
    /// (the bytes between the quotes, the string they spell, or nil when they are not UTF-8)
    static let cases: [([UInt8], String?)] = [
        (Array("plain ascii 0123 ~!".utf8), "plain ascii 0123 ~!"),
        ([], ""),
        (Array("é中😀".utf8), "é中😀"),
        (Array("mixed é and ascii".utf8), "mixed é and ascii"),
        ([0xFF], nil),
        ([0x61, 0xC3], nil),
        ([0xE2, 0x82], nil),
        ([0xED, 0xA0, 0x80], nil),
        (Array("tab\\tand é\\u00e9".utf8), "tab\tand éé"),
    ]

    func document(_ content: [UInt8]) -> [UInt8] {
        Array(#"{"skip":""#.utf8) + content + Array(#"","keep":""#.utf8) + content + Array(#""}"#.utf8)
    }

    @Test(arguments: cases)
    func readStringsAreValidatedUTF8(_ content: [UInt8], _ expected: String?) throws {
        if let expected {
            #expect(try JSONValue.parse(document(content)) == .object(["skip": .string(expected), "keep": .string(expected)]))
        } else {
            let error = #expect(throws: JSONParseError.self) { _ = try JSONValue.parse(document(content)) }
            #expect(error?.message == "invalid UTF-8 in a string")
        }
    }

    @Test(arguments: cases)
    func skippedStringsAreValidatedToo(_ content: [UInt8], _ expected: String?) throws {
        let omissions = JSONOmissions([["skip"]])
        // The kept member comes after the skipped one, so a bad skipped string fails first.
        let skippedOnly = Array(#"{"skip":""#.utf8) + content + Array(#"","keep":"x"}"#.utf8)
        if expected != nil {
            #expect(try JSONValue.parse(skippedOnly, omitting: omissions) == .object(["keep": .string("x")]))
        } else {
            let error = #expect(throws: JSONParseError.self) { _ = try JSONValue.parse(skippedOnly, omitting: omissions) }
            #expect(error?.message == "invalid UTF-8 in a string")
        }
    }
}

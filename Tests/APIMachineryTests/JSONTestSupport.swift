import Foundation
import KubeAPI

/// Parses JSON text written in a test table; a malformed literal is a bug in the test itself.
func json(_ text: String) -> JSONValue {
    do {
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    } catch {
        preconditionFailure("test JSON literal does not parse: \(text): \(error)")
    }
}

/// Compact JSON with sorted keys, for readable failure messages and golden comparisons.
func render(_ value: JSONValue) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(value) else { return "<unencodable>" }
    return String(decoding: data, as: UTF8.self)
}

import Foundation
import KubeAPI

/// Objects travel through the server as generic JSON: the server does not need typed structs for
/// most resources, and unknown fields survive a round trip through the store.
typealias JSONObject = [String: JSONValue]

extension JSONValue {
    var intValue: Int64? {
        if case .number(let d) = self, d.rounded() == d, abs(d) < 9.0e15 { return Int64(d) }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The value at a path of object members, or nil where any step is missing or not an object.
    subscript(path path: [String]) -> JSONValue? {
        var current: JSONValue? = self
        for key in path { current = current?[key] }
        return current
    }

    /// A string map (labels, annotations, nodeSelector); non-string members are dropped.
    var stringMap: [String: String] {
        (objectValue ?? [:]).compactMapValues(\.stringValue)
    }

    static func int(_ value: Int64) -> JSONValue { .number(Double(value)) }
    static func int(_ value: Int) -> JSONValue { .number(Double(value)) }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Reads or writes a nested member; writing creates intermediate objects, writing nil removes.
    subscript(path path: [String]) -> JSONValue? {
        get {
            guard let first = path.first else { return nil }
            return path.count == 1 ? self[first] : self[first]?[path: Array(path.dropFirst())]
        }
        set {
            guard let first = path.first else { return }
            if path.count == 1 {
                self[first] = newValue
                return
            }
            var child = self[first]?.objectValue ?? [:]
            child[path: Array(path.dropFirst())] = newValue
            self[first] = .object(child)
        }
    }

    var metadata: JSONObject {
        get { self["metadata"]?.objectValue ?? [:] }
        set { self["metadata"] = .object(newValue) }
    }

    var name: String { metadata["name"]?.stringValue ?? "" }
    var namespace: String { metadata["namespace"]?.stringValue ?? "" }
    var labels: [String: String] { metadata["labels"]?.stringMap ?? [:] }
    var finalizers: [String] { (metadata["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue) }
}

/// Encoding and decoding of objects as stored and served.
enum JSONCoding {
    /// Decodes a JSON document; the error names what was being read.
    static func decode(_ bytes: [UInt8], what: String) throws(APIError) -> JSONValue {
        do {
            return try JSONValue.parse(bytes)
        } catch {
            throw APIError.badRequest("error decoding \(what): invalid JSON: \(error)")
        }
    }

    static func encode(_ value: JSONValue) -> [UInt8] {
        value.serialized(sortedKeys: true)
    }

    static func encode(_ object: JSONObject) -> [UInt8] { encode(.object(object)) }

    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array("null".utf8)
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .dataCorrupted(let ctx)?: ctx.underlyingError.map { "\($0)" } ?? ctx.debugDescription
        case .some(let e): "\(e)"
        case nil: "\(error)"
        }
    }
}

/// RFC 3339 timestamps in UTC with second precision, as metav1.Time serialises.
enum Timestamp {
    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// kubectl's short age: 45s, 12m, 3h, 5d (and "<unknown>" without a timestamp).
    static func age(_ text: String?, now: Date) -> String {
        guard let text, let date = parse(text) else { return "<unknown>" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return "\(minutes)m\(seconds % 60 == 0 ? "" : "\(seconds % 60)s")" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 48 { return "\(hours)h" }
        let days = hours / 24
        if days < 8 { return "\(days)d\(hours % 24 == 0 ? "" : "\(hours % 24)h")" }
        if days < 365 * 2 { return "\(days)d" }
        return "\(days / 365)y"
    }
}

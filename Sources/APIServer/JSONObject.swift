import Foundation
import APIMachinery
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
    /// `2006-01-02T15:04:05Z`, the seconds rounded down (``KubeTime/time(_:)``): every write
    /// stamps managedFields, and a date formatter cost more per call than the rest of a pod
    /// create's metadata handling.
    static func format(_ date: Date) -> String { KubeTime.time(date) }

    /// The instant of an RFC 3339 timestamp. metav1.Time's own form (`2006-01-02T15:04:05Z`) is
    /// read directly: kubectl's Age column parses one per row, and a formatter per call cost
    /// more than the rest of a Table row. Other forms (fractions, offsets) go to a formatter.
    static func parse(_ text: String) -> Date? {
        if let seconds = secondsSinceEpoch(utcSeconds: text) { return Date(timeIntervalSince1970: Double(seconds)) }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let d = formatter.date(from: text) { return d }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SSZ` with every field in range (a leap second
    /// or an impossible date is nil, left to the formatter's rules).
    static func secondsSinceEpoch(utcSeconds text: String) -> Int64? {
        let bytes = text.utf8
        guard bytes.count == 20 else { return nil }
        var digits: [Int64] = []
        digits.reserveCapacity(14)
        for (offset, byte) in bytes.enumerated() {
            switch offset {
            case 4, 7: guard byte == UInt8(ascii: "-") else { return nil }
            case 10: guard byte == UInt8(ascii: "T") else { return nil }
            case 13, 16: guard byte == UInt8(ascii: ":") else { return nil }
            case 19: guard byte == UInt8(ascii: "Z") else { return nil }
            default:
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                digits.append(Int64(byte - UInt8(ascii: "0")))
            }
        }
        func number(_ range: Range<Int>) -> Int64 { range.reduce(0) { $0 * 10 + digits[$1] } }
        let year = number(0..<4), month = number(4..<6), day = number(6..<8)
        let hour = number(8..<10), minute = number(10..<12), second = number(12..<14)
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...monthDays[Int(month - 1)]).contains(day), hour < 24, minute < 60, second < 60 else { return nil }
        return CivilCalendar.daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
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

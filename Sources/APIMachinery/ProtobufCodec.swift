import Foundation
import KubeAPI

/// Converts Kubernetes objects between `application/vnd.kubernetes.protobuf` and their JSON form,
/// driven by a `ProtobufSchemas` table.
///
/// The wire form is the 4-byte magic `k8s\0` followed by a runtime.Unknown message:
/// `typeMeta=1 {apiVersion=1, kind=2}`, `raw=2` (the object's own message), `contentEncoding=3`,
/// `contentType=4`. Decoding yields the JSON upstream's encoding/json would write for the same Go
/// struct: zero scalars of `omitempty` non-pointer fields are dropped, a zero Time is `null`,
/// maps arrive as repeated `{key=1, value=2}` entries, unknown fields are skipped. Integers become
/// JSON numbers (exact up to 2^53). Stateless and `Sendable`.
public struct ProtobufCodec: Sendable {
    public static let mediaType = "application/vnd.kubernetes.protobuf"
    public static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]
    /// Messages nest at most this deep (RawExtensions may hold framed objects in turn).
    static let maximumDepth = 64

    public var schemas: ProtobufSchemas

    public init(schemas: ProtobufSchemas = .builtin) {
        self.schemas = schemas
    }

    // MARK: Envelope

    /// The JSON object of a framed body, with `apiVersion` and `kind` from its envelope.
    /// Throws `ProtobufError` for a missing magic, a malformed envelope or message, a kind the
    /// table lacks, or a content encoding other than none.
    public func decodeObject(_ body: [UInt8]) throws(ProtobufError) -> JSONValue {
        try decodeObject(body, range: body.indices, depth: 0)
    }

    /// The framed body of a JSON object that carries `apiVersion` and `kind`. Keys the message does
    /// not declare are left out; values whose JSON type does not fit the field throw.
    public func encodeObject(_ object: JSONValue) throws(ProtobufError) -> [UInt8] {
        guard case .object(let members) = object else { throw ProtobufError(.invalidValue, "only a JSON object can be encoded as protobuf") }
        let apiVersion = members["apiVersion"]?.stringValue ?? ""
        let kind = members["kind"]?.stringValue ?? ""
        guard let message = schemas.message(apiVersion: apiVersion, kind: kind) else {
            throw ProtobufError(.unknownKind, "no protobuf message for kind \"\(kind)\" in \"\(apiVersion)\"")
        }
        var typeMeta = ProtobufWriter()
        typeMeta.stringField(1, apiVersion)
        typeMeta.stringField(2, kind)
        var unknown = ProtobufWriter()
        unknown.bytesField(1, typeMeta.bytes)
        unknown.bytesField(2, try encodeMessage(members, message, path: kind, depth: 0))
        // Go's runtime.Unknown writes its two non-pointer strings even when empty.
        unknown.stringField(3, "")
        unknown.stringField(4, "")
        return ProtobufCodec.magic + unknown.bytes
    }

    /// The JSON object of one bare message (no envelope, no TypeMeta).
    public func decodeMessage(_ bytes: [UInt8], as message: ProtobufMessage) throws(ProtobufError) -> [String: JSONValue] {
        var reader = ProtobufReader(bytes, context: message.name)
        var object: [String: JSONValue] = [:]
        try decodeFields(&reader, message, into: &object, depth: 0)
        return object
    }

    /// One bare message from a JSON object.
    public func encodeMessage(_ object: [String: JSONValue], as message: ProtobufMessage) throws(ProtobufError) -> [UInt8] {
        try encodeMessage(object, message, path: message.name, depth: 0)
    }

    private func decodeObject(_ body: [UInt8], range: Range<Int>, depth: Int) throws(ProtobufError) -> JSONValue {
        guard range.count >= 4, Array(body[range.lowerBound..<range.lowerBound + 4]) == ProtobufCodec.magic else {
            throw ProtobufError(.magic, "the body does not start with the Kubernetes protobuf prefix k8s\\0")
        }
        var reader = ProtobufReader(body, range: range.lowerBound + 4..<range.upperBound, context: "runtime.Unknown")
        var apiVersion = "", kind = "", contentEncoding = ""
        var raw: Range<Int>?
        while !reader.atEnd {
            let (number, wireType) = try reader.tag()
            guard (1...4).contains(number) else { try reader.skip(wireType, number: number); continue }
            guard wireType == .lengthDelimited else {
                throw ProtobufError(.wireType, "runtime.Unknown field \(number) has wire type \(wireType.rawValue), expected 2")
            }
            let value = try reader.lengthDelimited()
            switch number {
            case 1:
                var meta = ProtobufReader(body, range: value, context: "runtime.TypeMeta")
                while !meta.atEnd {
                    let (field, type) = try meta.tag()
                    guard field == 1 || field == 2 else { try meta.skip(type, number: field); continue }
                    guard type == .lengthDelimited else {
                        throw ProtobufError(.wireType, "runtime.TypeMeta field \(field) has wire type \(type.rawValue), expected 2")
                    }
                    let text = String(decoding: body[try meta.lengthDelimited()], as: UTF8.self)
                    if field == 1 { apiVersion = text } else { kind = text }
                }
            case 2: raw = value
            case 3: contentEncoding = String(decoding: body[value], as: UTF8.self)
            default: break
            }
        }
        guard contentEncoding.isEmpty else {
            throw ProtobufError(.unsupportedEncoding, "unsupported protobuf content encoding \"\(contentEncoding)\"")
        }
        guard !kind.isEmpty else { throw ProtobufError(.unknownKind, "the protobuf envelope names no kind") }
        guard let message = schemas.message(apiVersion: apiVersion, kind: kind) else {
            throw ProtobufError(.unknownKind, "no protobuf message for kind \"\(kind)\" in \"\(apiVersion)\"")
        }
        var reader2 = ProtobufReader(body, range: raw ?? 0..<0, context: message.name)
        var object: [String: JSONValue] = [:]
        try decodeFields(&reader2, message, into: &object, depth: depth + 1)
        object["apiVersion"] = .string(apiVersion)
        object["kind"] = .string(kind)
        return .object(object)
    }

    // MARK: Decoding

    private func decodeFields(_ reader: inout ProtobufReader, _ message: ProtobufMessage, into object: inout [String: JSONValue],
                              depth: Int) throws(ProtobufError) {
        guard depth <= ProtobufCodec.maximumDepth else {
            throw ProtobufError(.invalidValue, "protobuf messages nest deeper than \(ProtobufCodec.maximumDepth) at \(message.name)")
        }
        while !reader.atEnd {
            let (number, wireType) = try reader.tag()
            guard let field = message.field(number: number) else {
                try reader.skip(wireType, number: number)
                continue
            }
            let name = "\(message.name).\(field.jsonName) (field \(number))"
            switch field.cardinality {
            case .single where field.isInline:
                guard case .message(let childName) = field.type, let child = schemas.message(named: childName) else {
                    throw ProtobufError(.schema, "inline field \(name) is not a message in the table")
                }
                try expect(wireType, .lengthDelimited, name)
                var childReader = ProtobufReader(reader.bytes, range: try reader.lengthDelimited(), context: child.name)
                try decodeFields(&childReader, child, into: &object, depth: depth + 1)
            case .single:
                let value = try readValue(&reader, wireType, field.type, name, depth: depth)
                if !field.keepsZero && field.type.isScalar && value.isZeroScalar {
                    object[field.jsonName] = nil
                } else {
                    object[field.jsonName] = value
                }
            case .repeated:
                var items: [JSONValue] = []
                if case .array(let existing)? = object[field.jsonName] { items = existing }
                if wireType == .lengthDelimited, field.type.isPackable {
                    // Packed repeated scalars: proto2 writers do not pack, but parsers must accept both.
                    var packed = ProtobufReader(reader.bytes, range: try reader.lengthDelimited(), context: name)
                    while !packed.atEnd {
                        items.append(try readValue(&packed, field.type == .double ? .fixed64 : .varint, field.type, name, depth: depth))
                    }
                } else {
                    items.append(try readValue(&reader, wireType, field.type, name, depth: depth))
                }
                object[field.jsonName] = .array(items)
            case .map:
                try expect(wireType, .lengthDelimited, name)
                var entry = ProtobufReader(reader.bytes, range: try reader.lengthDelimited(), context: "map entry of \(name)")
                var key = ""
                var value: JSONValue?
                while !entry.atEnd {
                    let (entryNumber, entryWire) = try entry.tag()
                    switch entryNumber {
                    case 1:
                        try expect(entryWire, .lengthDelimited, "key of \(name)")
                        key = String(decoding: entry.bytes[try entry.lengthDelimited()], as: UTF8.self)
                    case 2:
                        value = try readValue(&entry, entryWire, field.type, "value of \(name)", depth: depth)
                    default:
                        try entry.skip(entryWire, number: entryNumber)
                    }
                }
                var members = object[field.jsonName]?.objectValue ?? [:]
                members[key] = value ?? field.type.zeroValue
                object[field.jsonName] = .object(members)
            }
        }
    }

    private func expect(_ actual: WireType, _ wanted: WireType, _ name: String) throws(ProtobufError) {
        guard actual == wanted else {
            throw ProtobufError(.wireType, "\(name) has wire type \(actual.rawValue), expected \(wanted.rawValue)")
        }
    }

    private func readValue(_ reader: inout ProtobufReader, _ wireType: WireType, _ type: ProtobufValueType, _ name: String,
                           depth: Int) throws(ProtobufError) -> JSONValue {
        switch type {
        case .int32:
            try expect(wireType, .varint, name)
            return .number(Double(Int32(truncatingIfNeeded: try reader.varint())))
        case .int64:
            try expect(wireType, .varint, name)
            return .number(Double(Int64(bitPattern: try reader.varint())))
        case .bool:
            try expect(wireType, .varint, name)
            return .bool(try reader.varint() != 0)
        case .double:
            try expect(wireType, .fixed64, name)
            return .number(Double(bitPattern: try reader.fixed64()))
        default:
            break
        }
        try expect(wireType, .lengthDelimited, name)
        let range = try reader.lengthDelimited()
        let bytes = reader.bytes
        switch type {
        case .string:
            return .string(String(decoding: bytes[range], as: UTF8.self))
        case .bytes:
            return .string(Data(bytes[range]).base64EncodedString())
        case .time, .microTime:
            // A zero Time is written as an empty message; encoding/json shows it as null.
            guard !range.isEmpty else { return .null }
            var seconds: Int64 = 0, nanos: Int32 = 0
            var sub = ProtobufReader(bytes, range: range, context: name)
            while !sub.atEnd {
                let (number, wire) = try sub.tag()
                switch number {
                case 1: try expect(wire, .varint, "\(name).seconds"); seconds = Int64(bitPattern: try sub.varint())
                case 2: try expect(wire, .varint, "\(name).nanos"); nanos = Int32(truncatingIfNeeded: try sub.varint())
                default: try sub.skip(wire, number: number)
                }
            }
            guard (0..<1_000_000_000).contains(nanos) else { throw ProtobufError(.invalidValue, "\(name): nanos \(nanos) out of range") }
            return .string(try RFC3339.format(seconds: seconds, microseconds: type == .microTime ? Int(nanos / 1000) : nil, name))
        case .quantity:
            var text = ""
            var sub = ProtobufReader(bytes, range: range, context: name)
            while !sub.atEnd {
                let (number, wire) = try sub.tag()
                guard number == 1 else { try sub.skip(wire, number: number); continue }
                try expect(wire, .lengthDelimited, "\(name).string")
                text = String(decoding: bytes[try sub.lengthDelimited()], as: UTF8.self)
            }
            return .string(text.isEmpty ? "0" : text)
        case .intOrString:
            var isString = false, intValue: Int32 = 0, stringValue = ""
            var sub = ProtobufReader(bytes, range: range, context: name)
            while !sub.atEnd {
                let (number, wire) = try sub.tag()
                switch number {
                case 1: try expect(wire, .varint, "\(name).type"); isString = try sub.varint() == 1
                case 2: try expect(wire, .varint, "\(name).intVal"); intValue = Int32(truncatingIfNeeded: try sub.varint())
                case 3: try expect(wire, .lengthDelimited, "\(name).strVal"); stringValue = String(decoding: bytes[try sub.lengthDelimited()], as: UTF8.self)
                default: try sub.skip(wire, number: number)
                }
            }
            return isString ? .string(stringValue) : .number(Double(intValue))
        case .fieldsV1, .rawExtension:
            var payload: Range<Int> = range.lowerBound..<range.lowerBound
            var sub = ProtobufReader(bytes, range: range, context: name)
            while !sub.atEnd {
                let (number, wire) = try sub.tag()
                guard number == 1 else { try sub.skip(wire, number: number); continue }
                try expect(wire, .lengthDelimited, "\(name).raw")
                payload = try sub.lengthDelimited()
            }
            if payload.isEmpty { return type == .fieldsV1 ? .object([:]) : .null }
            if type == .rawExtension, payload.count >= 4, Array(bytes[payload.lowerBound..<payload.lowerBound + 4]) == ProtobufCodec.magic {
                return try decodeObject(bytes, range: payload, depth: depth + 1)
            }
            do {
                return try JSONDecoder().decode(JSONValue.self, from: Data(bytes[payload]))
            } catch {
                throw ProtobufError(.invalidValue, "\(name) does not hold valid JSON")
            }
        case .message(let childName):
            guard let child = schemas.message(named: childName) else { throw ProtobufError(.schema, "\(name) refers to unknown message \(childName)") }
            var sub = ProtobufReader(bytes, range: range, context: child.name)
            var object: [String: JSONValue] = [:]
            try decodeFields(&sub, child, into: &object, depth: depth + 1)
            return .object(object)
        case .int32, .int64, .bool, .double:
            throw ProtobufError(.schema, "\(name): unreachable scalar type")
        }
    }

    // MARK: Encoding

    private func encodeMessage(_ object: [String: JSONValue], _ message: ProtobufMessage, path: String, depth: Int) throws(ProtobufError) -> [UInt8] {
        guard depth <= ProtobufCodec.maximumDepth else {
            throw ProtobufError(.invalidValue, "\(path): objects nest deeper than \(ProtobufCodec.maximumDepth)")
        }
        var writer = ProtobufWriter()
        for field in message.fields {
            if field.isInline {
                guard case .message(let childName) = field.type, let child = schemas.message(named: childName) else {
                    throw ProtobufError(.schema, "inline field \(message.name).\(field.jsonName) is not a message in the table")
                }
                // Go always writes an embedded (non-pointer) struct, even an empty one.
                writer.bytesField(field.number, try encodeMessage(object, child, path: path, depth: depth + 1))
                continue
            }
            guard let value = object[field.jsonName], value != .null else { continue }
            let fieldPath = "\(path).\(field.jsonName)"
            switch field.cardinality {
            case .single:
                try writeValue(&writer, field.number, field.type, value, fieldPath, depth: depth)
            case .repeated:
                guard case .array(let items) = value else { throw mismatch(fieldPath, "an array", value) }
                for (i, item) in items.enumerated() where item != .null {
                    try writeValue(&writer, field.number, field.type, item, "\(fieldPath)[\(i)]", depth: depth)
                }
            case .map:
                guard case .object(let members) = value else { throw mismatch(fieldPath, "an object", value) }
                for key in members.keys.sorted() {
                    var entry = ProtobufWriter()
                    entry.stringField(1, key)
                    if let item = members[key], item != .null {
                        try writeValue(&entry, 2, field.type, item, "\(fieldPath)[\(key)]", depth: depth)
                    }
                    writer.bytesField(field.number, entry.bytes)
                }
            }
        }
        return writer.bytes
    }

    private func writeValue(_ writer: inout ProtobufWriter, _ number: Int, _ type: ProtobufValueType, _ value: JSONValue, _ path: String,
                            depth: Int) throws(ProtobufError) {
        switch type {
        case .string:
            guard case .string(let s) = value else { throw mismatch(path, "a string", value) }
            writer.stringField(number, s)
        case .bytes:
            guard case .string(let s) = value, let data = Data(base64Encoded: s) else { throw mismatch(path, "a base64 string", value) }
            writer.bytesField(number, Array(data))
        case .int32, .int64:
            guard case .number(let d) = value, d.rounded() == d, abs(d) < 9.3e18 else { throw mismatch(path, "an integer", value) }
            let int = Int64(d)
            if type == .int32, Int32(exactly: int) == nil { throw ProtobufError(.invalidValue, "\(path): \(int) does not fit in int32") }
            writer.varintField(number, UInt64(bitPattern: int))
        case .bool:
            guard case .bool(let b) = value else { throw mismatch(path, "a boolean", value) }
            writer.varintField(number, b ? 1 : 0)
        case .double:
            guard case .number(let d) = value else { throw mismatch(path, "a number", value) }
            writer.fixed64Field(number, d.bitPattern)
        case .time, .microTime:
            guard case .string(let s) = value else { throw mismatch(path, "an RFC 3339 time", value) }
            let (seconds, nanos) = try RFC3339.parse(s, path)
            var timestamp = ProtobufWriter()
            timestamp.varintField(1, UInt64(bitPattern: seconds))
            // Time keeps whole seconds only; MicroTime keeps microseconds.
            timestamp.varintField(2, type == .microTime ? UInt64(nanos / 1000 * 1000) : 0)
            writer.bytesField(number, timestamp.bytes)
        case .quantity:
            let text: String
            switch value {
            case .string(let s): text = s
            case .number: text = describe(value)
            default: throw mismatch(path, "a quantity string", value)
            }
            var quantity = ProtobufWriter()
            quantity.stringField(1, text)
            writer.bytesField(number, quantity.bytes)
        case .intOrString:
            var intOrString = ProtobufWriter()
            switch value {
            case .number(let d):
                guard d.rounded() == d, let int = Int32(exactly: d) else { throw mismatch(path, "an int32 or a string", value) }
                intOrString.varintField(1, 0)
                intOrString.varintField(2, UInt64(bitPattern: Int64(int)))
                intOrString.stringField(3, "")
            case .string(let s):
                intOrString.varintField(1, 1)
                intOrString.varintField(2, 0)
                intOrString.stringField(3, s)
            default:
                throw mismatch(path, "an integer or a string", value)
            }
            writer.bytesField(number, intOrString.bytes)
        case .fieldsV1, .rawExtension:
            var raw = ProtobufWriter()
            raw.stringField(1, describe(value))
            writer.bytesField(number, raw.bytes)
        case .message(let childName):
            guard let child = schemas.message(named: childName) else { throw ProtobufError(.schema, "\(path) refers to unknown message \(childName)") }
            guard case .object(let members) = value else { throw mismatch(path, "an object", value) }
            writer.bytesField(number, try encodeMessage(members, child, path: path, depth: depth + 1))
        }
    }

    private func mismatch(_ path: String, _ wanted: String, _ value: JSONValue) -> ProtobufError {
        let text = describe(value)
        return ProtobufError(.invalidValue, "\(path): expected \(wanted), got \(text.count > 40 ? String(text.prefix(40)) + "..." : text)")
    }
}

extension ProtobufValueType {
    /// Whether a repeated field of this type may arrive packed.
    var isPackable: Bool {
        switch self {
        case .int32, .int64, .bool, .double: return true
        default: return false
        }
    }

    /// The JSON of a map value missing from its entry: the type's zero value.
    var zeroValue: JSONValue {
        switch self {
        case .string, .bytes: return .string("")
        case .int32, .int64, .double: return .number(0)
        case .bool: return .bool(false)
        case .quantity: return .string("0")
        case .intOrString: return .number(0)
        case .time, .microTime, .rawExtension: return .null
        case .fieldsV1, .message: return .object([:])
        }
    }
}

extension JSONValue {
    /// An empty string, zero or false: what encoding/json's `omitempty` drops.
    var isZeroScalar: Bool {
        switch self {
        case .string(let s): return s.isEmpty
        case .number(let d): return d == 0
        case .bool(let b): return !b
        default: return false
        }
    }
}

/// RFC 3339 timestamps in UTC as meta/v1 Time (`2006-01-02T15:04:05Z`) and MicroTime
/// (`2006-01-02T15:04:05.000000Z`) write them, from and to Unix seconds.
enum RFC3339 {
    static func format(seconds: Int64, microseconds: Int?, _ name: String) throws(ProtobufError) -> String {
        let (days, secondOfDay) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let (year, _, _) = CivilCalendar.date(daysSinceEpoch: secondOfDay < 0 ? days - 1 : days)
        guard (0...9999).contains(year) else { throw ProtobufError(.invalidValue, "\(name): time \(seconds) s is outside years 0-9999") }
        return KubeTime.format(seconds: seconds, microseconds: microseconds)
    }

    /// Unix seconds and nanoseconds of `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    static func parse(_ text: String, _ path: String) throws(ProtobufError) -> (seconds: Int64, nanos: Int64) {
        let chars = Array(text.utf8)
        var i = 0
        func fail() -> ProtobufError { ProtobufError(.invalidValue, "\(path): \"\(text)\" is not an RFC 3339 time") }
        func number(_ width: Int) throws(ProtobufError) -> Int64 {
            guard i + width <= chars.count else { throw fail() }
            var value: Int64 = 0
            for c in chars[i..<i + width] {
                guard c >= 0x30 && c <= 0x39 else { throw fail() }
                value = value * 10 + Int64(c - 0x30)
            }
            i += width
            return value
        }
        func literal(_ options: String) throws(ProtobufError) {
            guard i < chars.count, options.utf8.contains(chars[i]) else { throw fail() }
            i += 1
        }
        let year = try number(4); try literal("-")
        let month = try number(2); try literal("-")
        let day = try number(2); try literal("Tt")
        let hour = try number(2); try literal(":")
        let minute = try number(2); try literal(":")
        let second = try number(2)
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { throw fail() }
        var nanos: Int64 = 0
        if i < chars.count, chars[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < chars.count, chars[i] >= 0x30 && chars[i] <= 0x39 {
                if digits < 9 { nanos = nanos * 10 + Int64(chars[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { throw fail() }
            for _ in min(digits, 9)..<9 { nanos *= 10 }
        }
        var offset: Int64 = 0
        guard i < chars.count else { throw fail() }
        if chars[i] == UInt8(ascii: "Z") || chars[i] == UInt8(ascii: "z") {
            i += 1
        } else {
            let sign: Int64 = chars[i] == UInt8(ascii: "-") ? -1 : 1
            try literal("+-")
            let offsetHours = try number(2); try literal(":")
            let offsetMinutes = try number(2)
            offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard i == chars.count else { throw fail() }
        let seconds = CivilCalendar.daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        return (seconds, nanos)
    }
}

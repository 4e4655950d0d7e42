// Typed decoding straight from JSON bytes.
//
// `JSONValue.parse` followed by `JSONValue.decode` builds a tree first: a dictionary and a
// String per key, a boxed enum per value, all freed again once the typed value exists. Clients
// decode every pod they see several times, and that tree was the larger part of their decoding
// cost. Here one pass over the bytes records a flat tape (one fixed-size entry per key and
// value, with offsets into the bytes); Codable's containers then read the tape: keys are found
// by comparing bytes, strings and numbers are made only when a type asks for them, and members
// no type asks for (unknown fields) are never materialized.

extension JSONValue {
    /// Decodes a `T` from JSON bytes with the semantics of ``parse(_:)-swift.type.method``
    /// followed by ``decode(_:)``: JSONDecoder's default strategies, unknown members ignored,
    /// `null` or absence is nil for optionals, numbers read as `Double` then converted exactly
    /// (integers beyond 2^53 lose precision, as in the tree), a repeated key keeps its last
    /// value, and `JSONValue` members are built as `parse` builds them. Members at the paths of
    /// `omissions` are checked as JSON but not decoded (absent to the type).
    ///
    /// Errors are `JSONParseError` for bytes that are not JSON (the same checks and messages as
    /// `parse`) and `DecodingError`, with its coding path, for JSON of the wrong shape.
    /// Thread-safe: each call works on its own state.
    public static func decode<T: Decodable>(_ type: T.Type, fromJSON bytes: some Collection<UInt8>, omitting omissions: JSONOmissions? = nil) throws -> T {
        if let result = try bytes.withContiguousStorageIfAvailable({ buffer in try decodeContiguous(T.self, buffer, omissions) }) {
            return result
        }
        return try Array(bytes).withUnsafeBufferPointer { try decodeContiguous(T.self, $0, omissions) }
    }

    private static func decodeContiguous<T: Decodable>(_ type: T.Type, _ bytes: UnsafeBufferPointer<UInt8>, _ omissions: JSONOmissions?) throws -> T {
        let tape = try JSONTape.build(bytes, omitting: omissions)
        return try tape.withUnsafeBufferPointer { entries in
            let document = JSONTapeDocument(bytes: bytes, entries: entries)
            // Decoders and containers refer to the document unowned: this keeps it alive.
            return try withExtendedLifetime(document) { try JSONTapeDecoder(document, 0).unbox(T.self) }
        }
    }
}

/// One value or object key on the tape. Containers are followed by their contents (an object's
/// as key, value, key, value...), so `end` skips a whole subtree.
struct JSONTapeEntry {
    enum Kind: UInt8 {
        case null, `false`, `true`, number, integralNumber, string, escapedString, object, array
    }

    var kind: Kind
    /// Strings: the offset after the opening quote. Numbers: the first byte. Containers: the
    /// opening bracket.
    var start: Int32
    /// Strings and numbers: their length in bytes, quotes excluded. Containers: the number of
    /// members or elements.
    var length: Int32
    /// The tape index after this entry's subtree.
    var end: Int32
    /// The tape index of the enclosing container, -1 at the root (for coding paths in errors).
    var parent: Int32
}

/// Builds the tape in one pass, with ``JSONValue/parse(_:omitting:)``'s checks: the same
/// grammar, depth limit, UTF-8 validation and error messages at the same offsets.
enum JSONTape {
    /// Offsets are kept as Int32: larger documents are refused.
    static let maximumSize = Int(Int32.max)

    static func build(_ bytes: UnsafeBufferPointer<UInt8>, omitting omissions: JSONOmissions?) throws(JSONParseError) -> [JSONTapeEntry] {
        guard bytes.count < maximumSize else { throw JSONParseError(message: "document larger than \(maximumSize) bytes", offset: 0) }
        var builder = Builder(reader: JSONReader(bytes: bytes))
        builder.entries.reserveCapacity(bytes.count / 12 + 8)
        builder.reader.skipSpace()
        try builder.value(depth: 0, parent: -1, omitting: omissions?.root)
        builder.reader.skipSpace()
        if builder.reader.index != bytes.count { throw builder.reader.error("unexpected data after the document") }
        return builder.entries
    }

    private struct Builder {
        var reader: JSONReader
        var entries: [JSONTapeEntry] = []

        mutating func append(_ kind: JSONTapeEntry.Kind, start: Int, length: Int, parent: Int32) {
            entries.append(JSONTapeEntry(kind: kind, start: Int32(truncatingIfNeeded: start), length: Int32(truncatingIfNeeded: length),
                                         end: Int32(truncatingIfNeeded: entries.count + 1), parent: parent))
        }

        mutating func value(depth: Int, parent: Int32, omitting omissions: JSONOmissions.Node?) throws(JSONParseError) {
            let bytes = reader.bytes
            guard reader.index < bytes.count else { throw reader.error("unexpected end of input") }
            let start = reader.index
            switch bytes[start] {
            case UInt8(ascii: "{"): try container(isObject: true, depth: depth + 1, parent: parent, omitting: omissions)
            case UInt8(ascii: "["): try container(isObject: false, depth: depth + 1, parent: parent, omitting: omissions)
            case UInt8(ascii: "\""): try string(parent: parent)
            case UInt8(ascii: "t"): try reader.literal("true"); append(.true, start: start, length: 4, parent: parent)
            case UInt8(ascii: "f"): try reader.literal("false"); append(.false, start: start, length: 5, parent: parent)
            case UInt8(ascii: "n"): try reader.literal("null"); append(.null, start: start, length: 4, parent: parent)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let integral = try reader.scanNumber()
                append(integral ? .integralNumber : .number, start: start, length: reader.index - start, parent: parent)
            default: throw reader.error("unexpected character '\(Character(Unicode.Scalar(bytes[start])))'")
            }
        }

        /// A string without escapes (nearly all) is only scanned: ASCII needs no further check,
        /// other bytes are validated as UTF-8. An escaped one is checked by the reader's
        /// `string()` and unescaped again when a type reads it.
        mutating func string(parent: Int32) throws(JSONParseError) {
            let bytes = reader.bytes
            let quote = reader.index
            var i = quote + 1
            var high: UInt8 = 0
            while i < bytes.count {
                let byte = bytes[i]
                if byte == UInt8(ascii: "\"") {
                    if high & 0x80 != 0 {
                        guard String(validating: UnsafeBufferPointer(rebasing: bytes[(quote + 1)..<i]), as: UTF8.self) != nil else {
                            reader.index = i + 1
                            throw reader.error("invalid UTF-8 in a string")
                        }
                    }
                    reader.index = i + 1
                    append(.string, start: quote + 1, length: i - quote - 1, parent: parent)
                    return
                }
                if byte == UInt8(ascii: "\\") {
                    _ = try reader.string()
                    append(.escapedString, start: quote + 1, length: reader.index - quote - 2, parent: parent)
                    return
                }
                if byte < 0x20 {
                    reader.index = i
                    throw reader.error("control character in a string")
                }
                high |= byte
                i += 1
            }
            reader.index = i
            throw reader.error("unterminated string")
        }

        mutating func container(isObject: Bool, depth: Int, parent: Int32, omitting omissions: JSONOmissions.Node?) throws(JSONParseError) {
            if depth > JSONValue.maximumDepth { throw reader.error("nesting deeper than \(JSONValue.maximumDepth)") }
            let me = Int32(truncatingIfNeeded: entries.count)
            append(isObject ? .object : .array, start: reader.index, length: 0, parent: parent)
            reader.index += 1
            var count = 0
            defer {
                entries[Int(me)].length = Int32(truncatingIfNeeded: count)
                entries[Int(me)].end = Int32(truncatingIfNeeded: entries.count)
            }
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            reader.skipSpace()
            if reader.index < reader.bytes.count, reader.bytes[reader.index] == close { reader.index += 1; return }
            while true {
                reader.skipSpace()
                if isObject {
                    guard reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: "\"") else { throw reader.error("expected a string key") }
                    let keyEntry = entries.count
                    try string(parent: me)
                    reader.skipSpace()
                    guard reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: ":") else { throw reader.error("expected ':' after a key") }
                    reader.index += 1
                    reader.skipSpace()
                    if let omissions, let child = omissions.children[key(at: keyEntry)] {
                        if child.omitted {
                            try reader.skipValue(depth: depth)
                            entries.removeLast()
                        } else {
                            try value(depth: depth, parent: me, omitting: child)
                            count += 1
                        }
                    } else {
                        try value(depth: depth, parent: me, omitting: nil)
                        count += 1
                    }
                } else {
                    try value(depth: depth, parent: me, omitting: omissions?.children["*"])
                    count += 1
                }
                reader.skipSpace()
                guard reader.index < reader.bytes.count else {
                    throw reader.error(isObject ? "unexpected end of input in an object" : "unexpected end of input in an array")
                }
                if reader.bytes[reader.index] == UInt8(ascii: ",") { reader.index += 1; continue }
                if reader.bytes[reader.index] == close { reader.index += 1; return }
                throw reader.error(isObject ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array")
            }
        }

        /// The key recorded at `index`, as a String (only where omissions are looked up).
        func key(at index: Int) -> String {
            JSONTapeDocument.string(entries[index], reader.bytes)
        }
    }
}

/// The bytes and the tape of one document, valid while a decode runs. Decoders and containers
/// hold it `unowned(unsafe)`, without reference counting per value (retain and release were
/// 17% of a Pod's decoding samples before, 11% after); whoever builds it keeps it alive for
/// the decode, and nothing may keep a decoder beyond that (its buffers are gone then anyway).
final class JSONTapeDocument {
    let bytes: UnsafeBufferPointer<UInt8>
    let entries: UnsafeBufferPointer<JSONTapeEntry>

    init(bytes: UnsafeBufferPointer<UInt8>, entries: UnsafeBufferPointer<JSONTapeEntry>) {
        self.bytes = bytes
        self.entries = entries
    }

    /// A string entry's text: the bytes as they are, or unescaped. The builder checked both.
    static func string(_ entry: JSONTapeEntry, _ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let start = Int(entry.start), end = start + Int(entry.length)
        if entry.kind == .string {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        var reader = JSONReader(bytes: bytes)
        reader.index = start - 1
        return (try? reader.string()) ?? ""
    }

    func string(at index: Int) -> String { Self.string(entries[index], bytes) }

    /// Whether the key entry at `index` spells `key`.
    func keyMatches(at index: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let entry = entries[index]
        if entry.kind == .escapedString { return string(at: index).utf8.elementsEqual(key) }
        guard Int(entry.length) == key.count else { return false }
        return Self.equal(bytes.baseAddress.unsafelyUnwrapped + Int(entry.start), key.baseAddress, key.count)
    }

    /// Whether `count` bytes at `a` and `b` are equal (`b` may be nil only when `count` is 0).
    @inline(__always)
    static func equal(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ count: Int) -> Bool {
        guard let b else { return count == 0 }
        var i = 0
        while i < count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// The member value of the object at `object` for `key`: the last one when the key repeats,
    /// as the parsed tree keeps it. -1 when absent.
    func member(of object: Int, _ key: String) -> Int {
        var key = key
        return key.withUTF8 { member(of: object, $0) }
    }

    func member(of object: Int, _ key: UnsafeBufferPointer<UInt8>) -> Int {
        var found = -1
        var i = object + 1
        let end = Int(entries[object].end)
        let length = Int32(truncatingIfNeeded: key.count)
        let base = bytes.baseAddress.unsafelyUnwrapped
        while i < end {
            let entry = entries[i]
            // An escaped key's length counts its escapes: compare it unescaped.
            if entry.kind == .escapedString {
                if string(at: i).utf8.elementsEqual(key) { found = i + 1 }
            } else if entry.length == length, Self.equal(base + Int(entry.start), key.baseAddress, key.count) {
                found = i + 1
            }
            i = Int(entries[i + 1].end)
        }
        return found
    }

    /// The number entry at `index` as the parser reads it.
    func double(at index: Int) -> Double {
        let entry = entries[index]
        let text = UnsafeBufferPointer(rebasing: bytes[Int(entry.start)..<(Int(entry.start) + Int(entry.length))])
        // The builder checked the grammar, so the conversion cannot fail.
        return (try? JSONReader.numberValue(text, integral: entry.kind == .integralNumber, offset: Int(entry.start))) ?? .nan
    }

    /// The subtree at `index` as a `JSONValue`, as ``JSONValue/parse(_:)`` builds it.
    func value(at index: Int) -> JSONValue {
        let entry = entries[index]
        switch entry.kind {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .number, .integralNumber: return .number(double(at: index))
        case .string, .escapedString: return .string(string(at: index))
        case .array:
            var elements: [JSONValue] = []
            elements.reserveCapacity(Int(entry.length))
            var i = index + 1
            while i < Int(entry.end) {
                elements.append(value(at: i))
                i = Int(entries[i].end)
            }
            return .array(elements)
        case .object:
            var members: [String: JSONValue] = Dictionary(minimumCapacity: Int(entry.length))
            var i = index + 1
            while i < Int(entry.end) {
                members[string(at: i)] = value(at: i + 1)
                i = Int(entries[i + 1].end)
            }
            return .object(members)
        }
    }

    /// The coding path of the value at `index`, rebuilt from the parent links (only errors and
    /// the rare type that reads `codingPath` pay for it).
    func codingPath(of index: Int) -> [any CodingKey] {
        var path: [any CodingKey] = []
        var child = index
        var parent = Int(entries[index].parent)
        while parent >= 0 {
            if entries[parent].kind == .object {
                path.append(JSONValueKey(stringValue: string(at: child - 1)))
            } else {
                var position = 0
                var i = parent + 1
                while i < child {
                    position += 1
                    i = Int(entries[i].end)
                }
                path.append(JSONValueKey(intValue: position))
            }
            child = parent
            parent = Int(entries[parent].parent)
        }
        return path.reversed()
    }

    func mismatch(_ type: Any.Type, at index: Int) -> DecodingError {
        let path = codingPath(of: index)
        let found = switch entries[index].kind {
        case .null: "null"
        case .false, .true: "a boolean"
        case .number, .integralNumber: "a number"
        case .string, .escapedString: "a string"
        case .array: "an array"
        case .object: "an object"
        }
        if entries[index].kind == .null {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(type) but found null instead."))
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(found) instead."))
    }
}

/// Types the tape decoder builds without going through their `init(from:)`: collections (no
/// container per array or map), the Kubernetes scalars whose `init(from:)` tries kinds in
/// turn (each failed try a `DecodingError`), and the structs of JSONTapeTypes.swift (one pass
/// over their members, JSONTapeMembers.swift). Each gives exactly what its `init(from:)` gives.
protocol JSONTapeDecodable {
    static func decode(from decoder: JSONTapeDecoder) throws -> Self
}

/// A Decoder over one value of a tape. Small enough to fit an existential's inline storage,
/// so handing it to `init(from:)` allocates nothing.
struct JSONTapeDecoder: Decoder {
    unowned(unsafe) let document: JSONTapeDocument
    let index: Int

    init(_ document: JSONTapeDocument, _ index: Int) {
        self.document = document
        self.index = index
    }

    var codingPath: [any CodingKey] { document.codingPath(of: index) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var entry: JSONTapeEntry { document.entries[index] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard entry.kind == .object else { throw document.mismatch([String: JSONValue].self, at: index) }
        return KeyedDecodingContainer(KeyedContainer<Key>(document: document, object: index))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard entry.kind == .array else { throw document.mismatch([JSONValue].self, at: index) }
        return UnkeyedContainer(document: document, array: index)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(decoder: self) }

    /// The one place values become typed: scalars by kind, `JSONValue` built as the parser
    /// builds it, ``JSONTapeDecodable`` types directly, the rest through their `init(from:)`.
    func unbox<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == String.self { return try string() as! T }
        if T.self == JSONValue.self { return document.value(at: index) as! T }
        if T.self == Bool.self { return try bool() as! T }
        if T.self == Int.self { return try integer(Int.self) as! T }
        if T.self == Int64.self { return try integer(Int64.self) as! T }
        if T.self == Int32.self { return try integer(Int32.self) as! T }
        if T.self == Double.self { return try float(Double.self) as! T }
        if let direct = T.self as? any JSONTapeDecodable.Type { return try direct.decode(from: self) as! T }
        return try T(from: self)
    }

    func string() throws -> String {
        let e = entry
        guard e.kind == .string || e.kind == .escapedString else { throw document.mismatch(String.self, at: index) }
        return JSONTapeDocument.string(e, document.bytes)
    }

    func bool() throws -> Bool {
        switch entry.kind {
        case .true: return true
        case .false: return false
        default: throw document.mismatch(Bool.self, at: index)
        }
    }

    var isNumber: Bool { entry.kind == .number || entry.kind == .integralNumber }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard isNumber else { throw document.mismatch(I.self, at: index) }
        let d = document.double(at: index)
        guard d.rounded() == d, let i = I(exactly: d) else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "Parsed JSON number <\(d)> does not fit in \(I.self)."))
        }
        return i
    }

    func float<F: BinaryFloatingPoint>(_ type: F.Type) throws -> F {
        guard isNumber else { throw document.mismatch(F.self, at: index) }
        return F(document.double(at: index))
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        unowned(unsafe) let document: JSONTapeDocument
        let object: Int

        var codingPath: [any CodingKey] { document.codingPath(of: object) }

        var allKeys: [Key] {
            var keys: [Key] = []
            var i = object + 1
            let end = Int(document.entries[object].end)
            while i < end {
                if let key = Key(stringValue: document.string(at: i)) { keys.append(key) }
                i = Int(document.entries[i + 1].end)
            }
            return keys
        }

        func contains(_ key: Key) -> Bool { document.member(of: object, key.stringValue) >= 0 }

        private func member(_ key: Key) throws -> JSONTapeDecoder {
            let i = document.member(of: object, key.stringValue)
            guard i >= 0 else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
            }
            return JSONTapeDecoder(document, i)
        }

        /// The member, or nil when it is absent or null: one lookup where the protocol's
        /// default `decodeIfPresent` makes three (contains, decodeNil, decode).
        private func present(_ key: Key) -> JSONTapeDecoder? {
            let i = document.member(of: object, key.stringValue)
            guard i >= 0, document.entries[i].kind != .null else { return nil }
            return JSONTapeDecoder(document, i)
        }

        func decodeNil(forKey key: Key) throws -> Bool { try member(key).entry.kind == .null }

        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key)?.bool() }
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key)?.string() }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key)?.float(Double.self) }
        func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try present(key)?.float(Float.self) }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key)?.integer(Int.self) }
        func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try present(key)?.integer(Int8.self) }
        func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try present(key)?.integer(Int16.self) }
        func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try present(key)?.integer(Int32.self) }
        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key)?.integer(Int64.self) }
        func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try present(key)?.integer(UInt.self) }
        func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try present(key)?.integer(UInt8.self) }
        func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try present(key)?.integer(UInt16.self) }
        func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(key)?.integer(UInt32.self) }
        func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(key)?.integer(UInt64.self) }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try present(key)?.unbox(T.self) }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try member(key).bool() }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try member(key).string() }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try member(key).float(Double.self) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try member(key).float(Float.self) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try member(key).integer(Int.self) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try member(key).integer(Int8.self) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try member(key).integer(Int16.self) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try member(key).integer(Int32.self) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try member(key).integer(Int64.self) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try member(key).integer(UInt.self) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try member(key).integer(UInt8.self) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try member(key).integer(UInt16.self) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try member(key).integer(UInt32.self) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try member(key).integer(UInt64.self) }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try member(key).unbox(T.self) }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try member(key).container(keyedBy: NestedKey.self)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try member(key).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            try superDecoder(named: "super")
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            try superDecoder(named: key.stringValue)
        }

        /// A missing member decodes as null, as the tree decoder's `?? .null`.
        private func superDecoder(named name: String) throws -> any Decoder {
            let i = document.member(of: object, name)
            if i >= 0 { return JSONTapeDecoder(document, i) }
            return JSONValueDecoder(.null, codingPath: codingPath + [JSONValueKey(stringValue: name)])
        }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        unowned(unsafe) let document: JSONTapeDocument
        let array: Int
        /// The tape index of the next element.
        private var next: Int
        private(set) var currentIndex = 0

        init(document: JSONTapeDocument, array: Int) {
            self.document = document
            self.array = array
            next = array + 1
        }

        var codingPath: [any CodingKey] { document.codingPath(of: array) }
        var count: Int? { Int(document.entries[array].length) }
        var isAtEnd: Bool { currentIndex >= Int(document.entries[array].length) }

        private mutating func advance<T>(_ type: T.Type) throws -> JSONTapeDecoder {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(T.self, .init(codingPath: codingPath + [JSONValueKey(intValue: currentIndex)], debugDescription: "Unkeyed container is at end."))
            }
            let element = JSONTapeDecoder(document, next)
            next = Int(document.entries[next].end)
            currentIndex += 1
            return element
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath + [JSONValueKey(intValue: currentIndex)], debugDescription: "Unkeyed container is at end."))
            }
            if document.entries[next].kind == .null {
                _ = try advance(JSONValue.self)
                return true
            }
            return false
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try advance(T.self).unbox(T.self) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try advance([String: JSONValue].self).container(keyedBy: NestedKey.self)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try advance([JSONValue].self).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder { try advance(JSONValue.self) }
    }

    struct SingleValue: SingleValueDecodingContainer {
        let decoder: JSONTapeDecoder

        var codingPath: [any CodingKey] { decoder.codingPath }

        func decodeNil() -> Bool { decoder.entry.kind == .null }

        func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool() }
        func decode(_ type: String.Type) throws -> String { try decoder.string() }
        func decode(_ type: Double.Type) throws -> Double { try decoder.float(Double.self) }
        func decode(_ type: Float.Type) throws -> Float { try decoder.float(Float.self) }
        func decode(_ type: Int.Type) throws -> Int { try decoder.integer(Int.self) }
        func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(Int8.self) }
        func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(Int16.self) }
        func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(Int32.self) }
        func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(Int64.self) }
        func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(UInt.self) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(UInt8.self) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(UInt16.self) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(UInt32.self) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(UInt64.self) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.unbox(T.self) }
    }
}

extension Array: JSONTapeDecodable where Element: Decodable {
    /// As `Array.init(from:)` through an unkeyed container, without the container.
    static func decode(from decoder: JSONTapeDecoder) throws -> Array {
        let entry = decoder.entry
        guard entry.kind == .array else { throw decoder.document.mismatch([JSONValue].self, at: decoder.index) }
        var elements: [Element] = []
        elements.reserveCapacity(Int(entry.length))
        var i = decoder.index + 1
        while i < Int(entry.end) {
            elements.append(try JSONTapeDecoder(decoder.document, i).unbox(Element.self))
            i = Int(decoder.document.entries[i].end)
        }
        return elements
    }
}

extension Dictionary: JSONTapeDecodable where Key == String, Value: Decodable {
    /// As `Dictionary.init(from:)` over the parsed tree: one value per distinct key, the last
    /// one when a key repeats (an earlier, overridden value is not decoded there, so its
    /// errors do not count here either).
    static func decode(from decoder: JSONTapeDecoder) throws -> Dictionary {
        let document = decoder.document
        let entry = decoder.entry
        guard entry.kind == .object else { throw document.mismatch([String: JSONValue].self, at: decoder.index) }
        var members = Dictionary(minimumCapacity: Int(entry.length))
        var i = decoder.index + 1
        while i < Int(entry.end) {
            let key = document.string(at: i)
            do {
                members[key] = try JSONTapeDecoder(document, i + 1).unbox(Value.self)
            } catch {
                guard document.member(of: decoder.index, key) != i + 1 else { throw error }
            }
            i = Int(document.entries[i + 1].end)
        }
        return members
    }
}

extension Quantity: JSONTapeDecodable {
    /// As `init(from:)`: an integer, then any number (milli-units rounded up), then a string.
    static func decode(from decoder: JSONTapeDecoder) throws -> Quantity {
        if decoder.isNumber {
            let d = decoder.document.double(at: decoder.index)
            if d.rounded() == d, let n = Int64(exactly: d) { return Quantity(value: n) }
            guard let milli = Int64(exactly: (d * 1000).rounded(.up)) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "quantity \(d) is out of range"))
            }
            return Quantity(milliValue: milli)
        }
        let text = try decoder.string()
        do { return try Quantity(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }
}

extension IntOrString: JSONTapeDecodable {
    /// As `init(from:)`: an integer that fits Int32, otherwise a string.
    static func decode(from decoder: JSONTapeDecoder) throws -> IntOrString {
        if decoder.isNumber {
            let d = decoder.document.double(at: decoder.index)
            if d.rounded() == d, let i = Int32(exactly: d) { return .int(i) }
        }
        return .string(try decoder.string())
    }
}

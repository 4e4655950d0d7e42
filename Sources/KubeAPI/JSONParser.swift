/// A direct JSON reader and writer for ``JSONValue``.
///
/// The API server turns every stored object into a `JSONValue` on each read, write and watch
/// event. Through `Codable` that costs a failed `try?` per candidate type (each building a
/// `DecodingError` with its coding path): a profile of the hollow-node benchmark put 44% of the
/// server's CPU there. This reader looks at the next byte instead, and the writer appends bytes.
///
/// Semantics match `JSONDecoder`/`JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes`:
/// RFC 8259 input (UTF-8, no trailing commas, no comments), numbers as `Double`, a repeated key
/// keeps its last value, and integral numbers below 9e15 are written without a fraction.
extension JSONValue {
    /// Nesting deeper than this is refused rather than recursed into (hostile input).
    public static let maximumDepth = 512

    /// Parses one JSON document (surrounding white space allowed).
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        try parse(bytes, omitting: nil)
    }

    /// Parses one JSON document, leaving out the members at the paths of `omissions`: their
    /// values are checked as JSON but not built (a client that never reads
    /// `metadata.managedFields` skips its trees). Nil omits nothing.
    public static func parse(_ bytes: some Collection<UInt8>, omitting omissions: JSONOmissions?) throws(JSONParseError) -> JSONValue {
        let buffer = Array(bytes)
        return try buffer.withUnsafeBufferPointer { (pointer) throws(JSONParseError) -> JSONValue in
            var reader = JSONReader(bytes: pointer)
            reader.skipSpace()
            let value = try reader.value(depth: 0, omitting: omissions?.root)
            reader.skipSpace()
            if reader.index != pointer.count { throw reader.error("unexpected data after the document") }
            return value
        }
    }

    /// Parses one JSON document from text.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// The value as compact JSON bytes; object keys sorted when `sortedKeys` (the default).
    public func serialized(sortedKeys: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        JSONWriter.write(self, into: &out, sortedKeys: sortedKeys)
        return out
    }

    /// Appends the value's compact JSON with sorted keys to `out`: ``serialized(sortedKeys:)``
    /// without a new array, for encoders that assemble a document from parts.
    public func serialize(into out: inout [UInt8]) {
        JSONWriter.write(self, into: &out, sortedKeys: true)
    }
}

/// Member paths a parse leaves out (``JSONValue/parse(_:omitting:)``). A path is a list of
/// object keys from the document's root; `"*"` stands for every element of an array, so
/// `["items", "*", "metadata", "managedFields"]` is the managedFields of every item of a list.
public struct JSONOmissions: Sendable {
    final class Node: Sendable {
        let children: [String: Node]
        /// The member ending here is left out.
        let omitted: Bool

        init(children: [String: Node], omitted: Bool) {
            self.children = children
            self.omitted = omitted
        }
    }

    let root: Node

    public init(_ paths: [[String]]) {
        func node(_ paths: [[String]]) -> Node {
            let omitted = paths.contains { $0.isEmpty }
            let groups = Dictionary(grouping: paths.filter { !$0.isEmpty }, by: { $0[0] })
            return Node(children: groups.mapValues { node($0.map { Array($0.dropFirst()) }) }, omitted: omitted)
        }
        root = node(paths)
    }
}

/// Walks encoded JSON without building values: the members of one object with the byte
/// ranges of their keys and values, for code that edits or copies encoded objects in place.
public enum JSONScanner {
    public struct Member: Sendable {
        /// The key, unescaped.
        public var key: String
        /// The offset of the key's opening quote.
        public var keyStart: Int
        /// The value's bytes.
        public var value: Range<Int>
    }

    /// Calls `body` with each member of the object at `range` of `bytes` (white space allowed
    /// around it), in document order, until `body` returns false. Returns true when every member
    /// was visited and the object ended at the end of `range`. Throws when the bytes read are
    /// not JSON or not an object; bytes after the member where `body` stopped are not read.
    public static func forEachMember(of bytes: [UInt8], in range: Range<Int>, _ body: (Member) -> Bool) throws(JSONParseError) -> Bool {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "JSONScanner: range out of bounds")
        return try bytes.withUnsafeBufferPointer { (whole) throws(JSONParseError) -> Bool in
            let base = range.lowerBound
            var reader = JSONReader(bytes: UnsafeBufferPointer(rebasing: whole[range]))
            reader.skipSpace()
            guard reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: "{") else { throw reader.error("expected an object") }
            reader.index += 1
            reader.skipSpace()
            if reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: "}") {
                reader.index += 1
                reader.skipSpace()
                return reader.index == reader.bytes.count
            }
            while true {
                reader.skipSpace()
                guard reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: "\"") else { throw reader.error("expected a string key") }
                let keyStart = reader.index
                let key = try reader.string()
                reader.skipSpace()
                guard reader.index < reader.bytes.count, reader.bytes[reader.index] == UInt8(ascii: ":") else { throw reader.error("expected ':' after a key") }
                reader.index += 1
                reader.skipSpace()
                let valueStart = reader.index
                try reader.skipValue(depth: 1)
                if !body(Member(key: key, keyStart: base + keyStart, value: (base + valueStart)..<(base + reader.index))) { return false }
                reader.skipSpace()
                guard reader.index < reader.bytes.count else { throw reader.error("unexpected end of input in an object") }
                if reader.bytes[reader.index] == UInt8(ascii: ",") { reader.index += 1; continue }
                if reader.bytes[reader.index] == UInt8(ascii: "}") {
                    reader.index += 1
                    reader.skipSpace()
                    return reader.index == reader.bytes.count
                }
                throw reader.error("expected ',' or '}' in an object")
            }
        }
    }
}

/// Why a JSON document could not be read, and the byte offset where that was found.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var offset: Int

    public var description: String { "\(message) at offset \(offset)" }
}

/// The scanner under ``JSONValue/parse(_:)`` and the tape decoder (`JSONTape`): positions are
/// offsets into `bytes`, every method checks RFC 8259's grammar as it reads.
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: index) }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int, omitting omissions: JSONOmissions.Node? = nil) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1, omitting: omissions)
        case UInt8(ascii: "["): return try array(depth: depth + 1, omitting: omissions)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character '\(Character(Unicode.Scalar(bytes[index])))'")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        for i in 0..<count where bytes[index + i] != word.utf8Start[i] {
            throw error("invalid literal")
        }
        index += count
    }

    /// Reads past one value, checking it as `value(depth:)` does, without building it.
    mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let isObject = bytes[index] == UInt8(ascii: "{")
            if depth + 1 > JSONValue.maximumDepth { throw error("nesting deeper than \(JSONValue.maximumDepth)") }
            index += 1
            skipSpace()
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            if index < bytes.count, bytes[index] == close { index += 1; return }
            while true {
                skipSpace()
                if isObject {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                    try skipString()
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                    index += 1
                    skipSpace()
                }
                try skipValue(depth: depth + 1)
                skipSpace()
                guard index < bytes.count else { throw error(isObject ? "unexpected end of input in an object" : "unexpected end of input in an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == close { index += 1; return }
                throw error(isObject ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
        default: throw error("unexpected character '\(Character(Unicode.Scalar(bytes[index])))'")
        }
    }

    /// Reads past a string. Strings without escapes (nearly all) are only scanned; the rare
    /// escaped one is read by `string()`, which checks its escapes.
    mutating func skipString() throws(JSONParseError) {
        let start = index
        index += 1
        var high: UInt8 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                // ASCII is valid UTF-8; only other bytes need the (costly, generic) validation.
                if high & 0x80 != 0 {
                    guard String(validating: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<index]), as: UTF8.self) != nil else { throw error("invalid UTF-8 in a string") }
                }
                index += 1
                return
            }
            if byte == UInt8(ascii: "\\") {
                index = start
                _ = try string()
                return
            }
            if byte < 0x20 { throw error("control character in a string") }
            high |= byte
            index += 1
        }
        throw error("unterminated string")
    }

    mutating func object(depth: Int, omitting omissions: JSONOmissions.Node? = nil) throws(JSONParseError) -> JSONValue {
        if depth > JSONValue.maximumDepth { throw error("nesting deeper than \(JSONValue.maximumDepth)") }
        index += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try string()
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            index += 1
            skipSpace()
            if let child = omissions?.children[key] {
                if child.omitted {
                    try skipValue(depth: depth)
                } else {
                    members[key] = try value(depth: depth, omitting: child)
                }
            } else {
                members[key] = try value(depth: depth)
            }
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end of input in an object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            throw error("expected ',' or '}' in an object")
        }
    }

    mutating func array(depth: Int, omitting omissions: JSONOmissions.Node? = nil) throws(JSONParseError) -> JSONValue {
        if depth > JSONValue.maximumDepth { throw error("nesting deeper than \(JSONValue.maximumDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            skipSpace()
            elements.append(try value(depth: depth, omitting: omissions?.children["*"]))
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end of input in an array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw error("expected ',' or ']' in an array")
        }
    }

    mutating func string() throws(JSONParseError) -> String {
        index += 1
        let start = index
        var high: UInt8 = 0
        // Fast path: no escapes, so the bytes between the quotes are the string. ASCII needs no
        // validation (String(validating:) is generic and was a visible cost per string).
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if high & 0x80 == 0 { return String(decoding: raw, as: UTF8.self) }
                guard let text = String(validating: raw, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("control character in a string") }
            high |= byte
            index += 1
        }
        var scalars: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let text = String(validating: scalars, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
                return text
            }
            if byte < 0x20 { throw error("control character in a string") }
            if byte != UInt8(ascii: "\\") { scalars.append(byte); index += 1; continue }
            index += 1
            guard index < bytes.count else { break }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in a string")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in a string") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw error("unpaired surrogate in a string")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                scalars.append(contentsOf: String(Character(scalar)).utf8)
            default:
                throw error("invalid escape in a string")
            }
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            code = code << 4 | digit
            index += 1
        }
        return code
    }

    /// Reads past a number, checking its grammar; true when it has neither fraction nor exponent.
    mutating func scanNumber() throws(JSONParseError) -> Bool {
        var integral = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error("truncated number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        } else {
            throw error("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            if index == digits { throw error("invalid number: no digits after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            if index == digits { throw error("invalid number: no exponent digits") }
        }
        return integral
    }

    mutating func number() throws(JSONParseError) -> Double {
        let start = index
        let integral = try scanNumber()
        return try Self.numberValue(UnsafeBufferPointer(rebasing: bytes[start..<index]), integral: integral, offset: start)
    }

    /// The value of number text that `scanNumber()` accepted.
    static func numberValue(_ text: UnsafeBufferPointer<UInt8>, integral: Bool, offset: Int) throws(JSONParseError) -> Double {
        // Small integers, the common case (replicas, ports, generations), without a string.
        if integral, text.count <= 18 {
            var value: Int64 = 0
            var negative = false
            for byte in text {
                if byte == UInt8(ascii: "-") { negative = true; continue }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return Double(negative ? -value : value)
        }
        // The grammar above admits only ASCII digits, sign, '.', 'e': a valid Double literal.
        guard let value = Double(String(decoding: text, as: UTF8.self)) else { throw JSONParseError(message: "invalid number", offset: offset) }
        return value
    }
}

/// Writes `JSONValue`s as compact JSON; shared by `serialized(sortedKeys:)` and
/// `JSONStreamEncoder`, and the API server's encoder for every stored object, response and
/// watch event (the sorted form).
///
/// Written for speed, as every write to the API server encodes its whole object once: sorted
/// members are sorted as (key, value) pairs (not the keys, then each member looked up again),
/// integers are written digit by digit without a String, and a string's runs without characters
/// to escape are copied whole. `JSONWriterTests` checks the bytes against a plain reference
/// writer.
enum JSONWriter {
    static func write(_ value: JSONValue, into out: inout [UInt8], sortedKeys: Bool) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let d): number(d, into: &out)
        case .string(let s): string(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                write(element, into: &out, sortedKeys: sortedKeys)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            if sortedKeys, members.count > 1 {
                // String's `<` is the order `keys.sorted()` gives.
                var first = true
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    string(key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    write(member, into: &out, sortedKeys: true)
                }
            } else {
                var first = true
                for (key, member) in members {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    string(key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    write(member, into: &out, sortedKeys: sortedKeys)
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Integers (within a double's exact range) without a fraction, as Go writes them; other
    /// finite numbers in Swift's shortest round-trip form; non-finite values become null, as
    /// JSON has no spelling for them (parsed input never holds them).
    static func number(_ d: Double, into out: inout [UInt8]) {
        if d.rounded() == d, abs(d) < 9.0e15 {
            var n = Int64(d)
            if n == 0 {
                out.append(UInt8(ascii: "0"))
                return
            }
            if n < 0 {
                out.append(UInt8(ascii: "-"))
                n = -n
            }
            // 9.0e15 has 16 digits: a fixed buffer holds any integer that reaches here.
            var digits: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &digits) { buffer in
                var count = 0
                while n > 0 {
                    buffer[15 - count] = UInt8(ascii: "0") + UInt8(n % 10)
                    n /= 10
                    count += 1
                }
                out.append(contentsOf: buffer[(16 - count)...])
            }
        } else if d.isFinite {
            out.append(contentsOf: "\(d)".utf8)
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    /// A JSON string: `"` and `\` escaped, the control characters with a short escape as such,
    /// the others as `\u00xx`; everything else (non-ASCII included) as its UTF-8 bytes.
    static func string(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = s
        text.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if start < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index])) }
                start = index + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    out.append(contentsOf: "u00".utf8)
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0xF)])
                }
            }
            if start < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

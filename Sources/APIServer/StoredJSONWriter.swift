import KubeAPI

/// The server's encoder for objects as stored and served: compact JSON with object members in
/// sorted order, byte for byte what `JSONValue.serialized(sortedKeys: true)` writes (the form
/// every stored object, response and watch event has; `StoredJSONWriterTests` compares both).
///
/// It exists for speed: every write encodes its whole object once, and the generic writer
/// sorted each object's keys and then looked every member up again by key, and appended
/// strings byte by byte. Here members are sorted as (key, value) pairs, and a string's runs
/// without characters to escape are copied whole.
///
/// Thread-safety: stateless; safe from any thread.
enum StoredJSONWriter {
    static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        write(value, into: &out)
        return out
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
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
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            if members.count == 1, let (key, member) = members.first {
                string(key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(member, into: &out)
            } else if !members.isEmpty {
                // String's `<` is the order `keys.sorted()` gives, which the generic writer uses.
                let sorted = members.sorted { $0.key < $1.key }
                var first = true
                for (key, member) in sorted {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    string(key, into: &out)
                    out.append(UInt8(ascii: ":"))
                    write(member, into: &out)
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Integers (within a double's exact range) without a fraction, as Go writes them; other
    /// finite numbers in Swift's shortest round-trip form; nothing else reaches here from
    /// parsed input, and non-finite values become null as JSON has no spelling for them.
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
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var count = 0
            withUnsafeMutableBytes(of: &digits) { buffer in
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

import KubeAPI

/// Compact JSON text of a value with sorted object keys: canonical, so it serves as an identity
/// (FieldsV1 keys, content hashes) as well as in error messages.
func describe(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .number(let d):
        if d.rounded() == d, abs(d) < 9.0e15 { return String(Int64(d)) }
        return String(d)
    case .string(let s): return quoteJSON(s)
    case .array(let items): return "[" + items.map(describe).joined(separator: ",") + "]"
    case .object(let members):
        return "{" + members.keys.sorted().map { quoteJSON($0) + ":" + describe(members[$0]!) }.joined(separator: ",") + "}"
    }
}

/// A JSON string literal, escaped as Go's encoding/json does for the characters it must escape.
func quoteJSON(_ s: String) -> String {
    // Printable ASCII without a character to escape, nearly every key and name: as it is.
    if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x80 && $0 != 0x22 && $0 != 0x5c && $0 != 0x3c && $0 != 0x3e && $0 != 0x26 }) {
        return "\"" + s + "\""
    }
    return quoteJSONEscaping(s)
}

/// `quoteJSON`'s general path: every scalar through the escaping switch (the fast path above
/// must give the same text; RecordUpdateTreeTests compares them).
func quoteJSONEscaping(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "<": out += "\\u003c"
        case ">": out += "\\u003e"
        case "&": out += "\\u0026"
        default:
            if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

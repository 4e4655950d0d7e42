import KubeAPI

/// Server-side field validation (the `fieldValidation` query parameter): which fields of a
/// request body the schema does not know.
public enum FieldValidation {
    /// The paths of fields in `object` that `schema` does not declare, sorted, in upstream's
    /// spelling: `spec.containers[0].imagee`, `metadata.labelz`. Maps (labels, data) and
    /// free-form fields accept any key; values of the wrong JSON type are not reported here
    /// (decoding reports them).
    public static func unknownFields(in object: JSONValue, schema: TypeSchema) -> [String] {
        var found: [String] = []
        walk(object, schema: schema, path: "", into: &found)
        return found.sorted()
    }

    /// The `Status` message fragment upstream uses for unknown fields in Strict mode, e.g.
    /// `unknown field "spec.foo"` (joined with ", " for several).
    public static func strictMessage(_ paths: [String]) -> String {
        paths.map { "unknown field \(quoteJSON($0))" }.joined(separator: ", ")
    }

    /// The keys that occur more than once within one JSON object of `json`, in document order,
    /// each once per object it repeats in. Like upstream's strict JSON decoder
    /// (sigs.k8s.io/json), only the key is named, not its path: `duplicate field "replicas"`
    /// (see `duplicateMessage`). Text that is not JSON yields what was found before the point
    /// where it stops being JSON; decoding reports the syntax error itself.
    public static func duplicateFields(inJSON json: [UInt8]) -> [String] {
        var scanner = DuplicateKeyScanner(bytes: json)
        return scanner.scan()
    }

    /// Upstream's Strict/Warn wording for one repeated key: `duplicate field "replicas"`.
    public static func duplicateMessage(_ key: String) -> String {
        "duplicate field \(quoteJSON(key))"
    }

    private static func walk(_ value: JSONValue, schema: TypeSchema, path: String, into found: inout [String]) {
        guard case .object(let members) = value else { return }
        for name in members.keys.sorted() {
            let child = path.isEmpty ? name : "\(path).\(name)"
            guard let field = schema.field(name) else {
                found.append(child)
                continue
            }
            walk(members[name]!, type: field.type, path: child, into: &found)
        }
    }

    private static func walk(_ value: JSONValue, type: FieldType, path: String, into found: inout [String]) {
        switch (type, value) {
        case (.object(let schema), _):
            walk(value, schema: schema, path: path, into: &found)
        case (.array(let items), .array(let elements)):
            for (i, element) in elements.enumerated() {
                walk(element, type: items, path: "\(path)[\(i)]", into: &found)
            }
        case (.map(let values), .object(let members)):
            for key in members.keys.sorted() {
                walk(members[key]!, type: values, path: "\(path).\(key)", into: &found)
            }
        default:
            return
        }
    }
}

/// A single pass over JSON text that tracks the keys seen in each open object. Strings are
/// compared after unescaping, so `"a"` and `"\u0061"` are the same key, as decoders see them.
private struct DuplicateKeyScanner {
    let bytes: [UInt8]
    var index = 0

    /// One open container: an object's keys so far and whether a key comes next, or an array.
    private struct Open {
        var isObject: Bool
        var keys: Set<String> = []
        var expectingKey = true
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func scan() -> [String] {
        var stack: [Open] = []
        var duplicates: [String] = []
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"):
                stack.append(Open(isObject: true))
                index += 1
            case UInt8(ascii: "["):
                stack.append(Open(isObject: false))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard !stack.isEmpty else { return duplicates }
                stack.removeLast()
                index += 1
            case UInt8(ascii: ","):
                if let top = stack.indices.last, stack[top].isObject { stack[top].expectingKey = true }
                index += 1
            case UInt8(ascii: "\""):
                guard let text = readString() else { return duplicates }
                // Mutating in place keeps the key set unshared, so each insert is O(1).
                if let top = stack.indices.last, stack[top].isObject, stack[top].expectingKey {
                    if !stack[top].keys.insert(text).inserted { duplicates.append(text) }
                    stack[top].expectingKey = false
                }
            default:
                index += 1
            }
        }
        return duplicates
    }

    /// Reads the string literal at `index` (which is at its opening quote); nil when it does
    /// not end or holds a malformed escape.
    private mutating func readString() -> String? {
        let start = index
        index += 1
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                return Self.unescape(bytes[(start + 1)..<(index - 1)])
            }
        }
        return nil
    }

    /// The text of a string literal's body (RFC 8259 escapes, surrogate pairs joined).
    private static func unescape(_ body: ArraySlice<UInt8>) -> String? {
        guard body.contains(UInt8(ascii: "\\")) else { return String(decoding: body, as: UTF8.self) }
        var out: [UInt8] = []
        var units: [UInt16] = []
        // Lone surrogates become U+FFFD, as Go's decoder makes them.
        func flushUnits() {
            guard !units.isEmpty else { return }
            out += Array(String(decoding: units, as: UTF16.self).utf8)
            units.removeAll()
        }
        var i = body.startIndex
        while i < body.endIndex {
            let byte = body[i]
            guard byte == UInt8(ascii: "\\") else {
                flushUnits()
                out.append(byte)
                i += 1
                continue
            }
            guard i + 1 < body.endIndex else { return nil }
            let code = body[i + 1]
            i += 2
            if code == UInt8(ascii: "u") {
                guard i + 4 <= body.endIndex, let unit = UInt16(String(decoding: body[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                units.append(unit)
                i += 4
                continue
            }
            flushUnits()
            switch code {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(code)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            default: return nil
            }
        }
        flushUnits()
        return String(decoding: out, as: UTF8.self)
    }
}

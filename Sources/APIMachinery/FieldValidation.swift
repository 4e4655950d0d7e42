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
        var path = WalkPath()
        walk(object, schema: schema, path: &path, into: &found)
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
        // Over the bytes in place: no bounds checks against the array or copies of it per read.
        json.withUnsafeBufferPointer { bytes in
            var scanner = DuplicateKeyScanner(bytes: bytes)
            return scanner.scan()
        }
    }

    /// Upstream's Strict/Warn wording for one repeated key: `duplicate field "replicas"`.
    public static func duplicateMessage(_ key: String) -> String {
        "duplicate field \(quoteJSON(key))"
    }

    /// The path the walk is at, spelled only for a field it reports (most walks report none,
    /// and spelling every field's path was most of a walk's cost).
    private struct WalkPath {
        enum Step {
            /// A field of a structure: `.name`, without the dot at the start of the path.
            case field(String)
            /// A key of a map: `.key`.
            case key(String)
            /// An item of a list: `[index]`.
            case index(Int)
        }

        var steps: [Step] = []

        var spelled: String {
            var text = ""
            for step in steps {
                switch step {
                case .field(let name): text = text.isEmpty ? name : text + "." + name
                case .key(let key): text += "." + key
                case .index(let index): text += "[\(index)]"
                }
            }
            return text
        }
    }

    private static func walk(_ value: JSONValue, schema: TypeSchema, path: inout WalkPath, into found: inout [String]) {
        guard case .object(let members) = value else { return }
        for (name, child) in members {
            path.steps.append(.field(name))
            if let type = schema.fieldType(name) {
                walk(child, type: type, path: &path, into: &found)
            } else {
                found.append(path.spelled)
            }
            path.steps.removeLast()
        }
    }

    private static func walk(_ value: JSONValue, type: FieldType, path: inout WalkPath, into found: inout [String]) {
        switch (type, value) {
        case (.object(let schema), _):
            walk(value, schema: schema, path: &path, into: &found)
        case (.array(let items), .array(let elements)):
            for (i, element) in elements.enumerated() {
                path.steps.append(.index(i))
                walk(element, type: items, path: &path, into: &found)
                path.steps.removeLast()
            }
        case (.map(let values), .object(let members)):
            for (key, member) in members {
                path.steps.append(.key(key))
                walk(member, type: values, path: &path, into: &found)
                path.steps.removeLast()
            }
        default:
            return
        }
    }
}

/// A single pass over JSON text that tracks the keys seen in each open object. Strings are
/// compared after unescaping, so `"a"` and `"\u0061"` are the same key, as decoders see them.
///
/// Keys are compared as Swift strings compare (so also canonically equivalent spellings), but
/// a key of plain ASCII without escapes, nearly every key, is compared by its bytes where the
/// other is one too, without a String; string values are not made into Strings at all (only
/// checked, when they hold escapes, so a malformed one stops the scan as it always did); and
/// an object's first keys are compared one by one before it gets a set.
private struct DuplicateKeyScanner {
    /// The text, valid while the scan runs (``FieldValidation/duplicateFields(inJSON:)``).
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    /// A key: its bytes in `bytes` when it is ASCII without escapes, else its text.
    private enum Key {
        case ascii(Range<Int>)
        case text(String)
    }

    /// Keys an object compares one by one; from the next one on, they are in a set.
    static let linearKeys = 8

    /// One open container: whether a key comes next, where the object's keys start in
    /// `keys`, and its set once it has more than `linearKeys`; or an array.
    private struct Open {
        var isObject: Bool
        var expectingKey = true
        var firstKey = 0
        var set: Set<String>? = nil
    }

    /// The keys of the open objects, innermost last (an object with a set keeps only its first).
    private var keys: [Key] = []

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func scan() -> [String] {
        var stack: [Open] = []
        var duplicates: [String] = []
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"):
                stack.append(Open(isObject: true, firstKey: keys.count))
                index += 1
            case UInt8(ascii: "["):
                stack.append(Open(isObject: false))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard let closed = stack.popLast() else { return duplicates }
                if closed.isObject { keys.removeSubrange(closed.firstKey...) }
                index += 1
            case UInt8(ascii: ","):
                if let top = stack.indices.last, stack[top].isObject { stack[top].expectingKey = true }
                index += 1
            case UInt8(ascii: "\""):
                guard let literal = readLiteral() else { return duplicates }
                guard let top = stack.indices.last, stack[top].isObject, stack[top].expectingKey else {
                    // A value: only whether its escapes are well formed matters.
                    if literal.plain == nil && Self.unescape(bytes[literal.body]) == nil { return duplicates }
                    continue
                }
                stack[top].expectingKey = false
                let key: Key
                if literal.plain == true {
                    key = .ascii(literal.body)
                } else {
                    guard let text = Self.unescape(bytes[literal.body]) else { return duplicates }
                    key = .text(text)
                }
                // Mutating in place keeps the key set unshared, so each insert is O(1).
                if stack[top].set != nil {
                    let text = self.text(key)
                    if !stack[top].set!.insert(text).inserted { duplicates.append(text) }
                } else if keys[stack[top].firstKey...].contains(where: { equal($0, key) }) {
                    duplicates.append(text(key))
                } else if keys.count - stack[top].firstKey < Self.linearKeys {
                    keys.append(key)
                } else {
                    var set = Set(keys[stack[top].firstKey...].map { text($0) })
                    set.insert(text(key))
                    stack[top].set = set
                }
            default:
                index += 1
            }
        }
        return duplicates
    }

    private func text(_ key: Key) -> String {
        switch key {
        case .ascii(let range): return String(decoding: bytes[range], as: UTF8.self)
        case .text(let text): return text
        }
    }

    private func equal(_ a: Key, _ b: Key) -> Bool {
        if case .ascii(let x) = a, case .ascii(let y) = b {
            return x.count == y.count && bytes[x].elementsEqual(bytes[y])
        }
        return text(a) == text(b)
    }

    /// Reads the string literal at `index` (which is at its opening quote): its body, and
    /// whether that is plain ASCII (true), other text without escapes (false) or holds escapes
    /// (nil); nil when it does not end.
    private mutating func readLiteral() -> (body: Range<Int>, plain: Bool?)? {
        let start = index + 1
        index = start
        var ascii = true
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\\") {
                escaped = true
                // The escaped byte is never the closing quote.
                index += 1
            } else if byte == UInt8(ascii: "\"") {
                return (start..<(index - 1), escaped ? nil : ascii)
            } else if byte >= 0x80 {
                ascii = false
            }
        }
        return nil
    }

    /// The text of a string literal's body (RFC 8259 escapes, surrogate pairs joined).
    private static func unescape(_ body: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
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

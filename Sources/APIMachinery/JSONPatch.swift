import KubeAPI

/// A JSON Pointer (RFC 6901): a sequence of reference tokens, unescaped.
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    public var tokens: [String]

    /// Parses `text`; the empty string is the whole document. Throws a bad-request error for a
    /// pointer that does not start with "/" or holds a "~" not followed by 0 or 1.
    public init(_ text: String) throws(PatchError) {
        if text.isEmpty { tokens = []; return }
        guard text.hasPrefix("/") else {
            throw .badRequest("JSON pointer \"\(text)\" must be empty or start with \"/\"")
        }
        var result: [String] = []
        for raw in text.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            var token = ""
            var iterator = raw.makeIterator()
            while let c = iterator.next() {
                guard c == "~" else { token.append(c); continue }
                switch iterator.next() {
                case "0": token.append("~")
                case "1": token.append("/")
                default: throw .badRequest("JSON pointer \"\(text)\" has \"~\" not followed by 0 or 1")
                }
            }
            result.append(token)
        }
        tokens = result
    }

    public init(tokens: [String]) { self.tokens = tokens }

    public var description: String {
        tokens.map { "/" + $0.replacingAll("~", with: "~0").replacingAll("/", with: "~1") }.joined()
    }

    /// The value this pointer names in `document`, or nil when it names nothing.
    public func resolve(in document: JSONValue) -> JSONValue? {
        var current = document
        for token in tokens {
            switch current {
            case .object(let members):
                guard let next = members[token] else { return nil }
                current = next
            case .array(let items):
                guard let index = JSONPointer.arrayIndex(token), index < items.count else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }

    /// An array index token: decimal digits without a leading zero (RFC 6901 section 4).
    static func arrayIndex(_ token: String) -> Int? {
        guard !token.isEmpty, token.allSatisfy(\.isASCIIDigit) else { return nil }
        if token.count > 1, token.hasPrefix("0") { return nil }
        return Int(token)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// JSON patch (RFC 6902), the `application/json-patch+json` PATCH type: a list of
/// add/remove/replace/move/copy/test operations applied in order, all or nothing.
public enum JSONPatch {
    /// Applies `operations` (a JSON array of operation objects) to `original`.
    ///
    /// A malformed operation list throws a bad-request error; an operation that cannot be carried
    /// out (a missing path, a failed test) throws an unprocessable error naming the operation's
    /// index and path. The original is never partially modified: the result is returned only
    /// when every operation succeeded.
    public static func apply(_ operations: JSONValue, to original: JSONValue) throws(PatchError) -> JSONValue {
        guard case .array(let list) = operations else {
            throw .badRequest("json patch must be a JSON array of operations")
        }
        var document = original
        for (index, operation) in list.enumerated() {
            document = try applyOne(operation, index: index, to: document)
        }
        return document
    }

    private static func applyOne(_ operation: JSONValue, index: Int, to document: JSONValue) throws(PatchError) -> JSONValue {
        guard case .object(let members) = operation else {
            throw .badRequest("json patch operation \(index) must be an object")
        }
        guard let op = members["op"]?.stringValue else {
            throw .badRequest("json patch operation \(index) has no string member \"op\"")
        }
        guard let pathText = members["path"]?.stringValue else {
            throw .badRequest("json patch operation \(index) (\(op)) has no string member \"path\"")
        }
        let path = try JSONPointer(pathText)
        func value() throws(PatchError) -> JSONValue {
            guard let v = members["value"] else {
                throw .badRequest("json patch operation \(index) (\(op) \(pathText)) has no member \"value\"")
            }
            return v
        }
        func from() throws(PatchError) -> JSONPointer {
            guard let f = members["from"]?.stringValue else {
                throw .badRequest("json patch operation \(index) (\(op) \(pathText)) has no string member \"from\"")
            }
            return try JSONPointer(f)
        }
        let context = "json patch operation \(index) (\(op) \(pathText))"
        switch op {
        case "add":
            return try add(try value(), at: path, in: document, context: context)
        case "remove":
            return try remove(at: path, in: document, context: context).document
        case "replace":
            if path.tokens.isEmpty { return try value() }
            let removed = try remove(at: path, in: document, context: context)
            return try add(try value(), at: path, in: removed.document, context: context)
        case "move":
            let source = try from()
            if source.tokens.count < path.tokens.count, Array(path.tokens.prefix(source.tokens.count)) == source.tokens {
                throw .invalid("\(context): cannot move \"\(source)\" into its own child")
            }
            let removed = try remove(at: source, in: document, context: context)
            return try add(removed.value, at: path, in: removed.document, context: context)
        case "copy":
            let source = try from()
            guard let copied = source.resolve(in: document) else {
                throw .invalid("\(context): \"from\" path \"\(source)\" does not exist")
            }
            return try add(copied, at: path, in: document, context: context)
        case "test":
            let expected = try value()
            guard let actual = path.resolve(in: document) else {
                throw .invalid("\(context): path does not exist")
            }
            guard actual == expected else {
                throw .invalid("\(context): test failed, the value differs")
            }
            return document
        default:
            throw .badRequest("json patch operation \(index) has unknown op \"\(op)\"")
        }
    }

    /// RFC 6902 section 4.1: the parent must exist; an object member is set (replaced if
    /// present); an array element is inserted before the index, "-" appends.
    private static func add(_ value: JSONValue, at path: JSONPointer, in document: JSONValue, context: String) throws(PatchError) -> JSONValue {
        guard let last = path.tokens.last else { return value }
        return try modifyParent(of: path, in: document, context: context) { (parent) throws(PatchError) -> JSONValue in
            switch parent {
            case .object(var members):
                members[last] = value
                return .object(members)
            case .array(var items):
                if last == "-" { items.append(value); return .array(items) }
                guard let i = JSONPointer.arrayIndex(last), i <= items.count else {
                    throw .invalid("\(context): array index \"\(last)\" is out of bounds (length \(items.count))")
                }
                items.insert(value, at: i)
                return .array(items)
            default:
                throw .invalid("\(context): the parent is neither an object nor an array")
            }
        }
    }

    private static func remove(at path: JSONPointer, in document: JSONValue, context: String) throws(PatchError) -> (document: JSONValue, value: JSONValue) {
        guard let last = path.tokens.last else {
            throw .invalid("\(context): cannot remove the whole document")
        }
        var removed: JSONValue = .null
        let result = try modifyParent(of: path, in: document, context: context) { (parent) throws(PatchError) -> JSONValue in
            switch parent {
            case .object(var members):
                guard let old = members.removeValue(forKey: last) else {
                    throw .invalid("\(context): member \"\(last)\" does not exist")
                }
                removed = old
                return .object(members)
            case .array(var items):
                guard let i = JSONPointer.arrayIndex(last), i < items.count else {
                    throw .invalid("\(context): array index \"\(last)\" is out of bounds (length \(items.count))")
                }
                removed = items.remove(at: i)
                return .array(items)
            default:
                throw .invalid("\(context): the parent is neither an object nor an array")
            }
        }
        return (result, removed)
    }

    /// Rebuilds `document` with the parent of `path` replaced by `change(parent)`.
    private static func modifyParent(of path: JSONPointer, in document: JSONValue, context: String,
                                     _ change: (JSONValue) throws(PatchError) -> JSONValue) throws(PatchError) -> JSONValue {
        try modify(document, tokens: path.tokens.dropLast(), context: context, change)
    }

    private static func modify(_ node: JSONValue, tokens: ArraySlice<String>, context: String,
                               _ change: (JSONValue) throws(PatchError) -> JSONValue) throws(PatchError) -> JSONValue {
        guard let token = tokens.first else { return try change(node) }
        switch node {
        case .object(var members):
            guard let child = members[token] else {
                throw .invalid("\(context): path component \"\(token)\" does not exist")
            }
            members[token] = try modify(child, tokens: tokens.dropFirst(), context: context, change)
            return .object(members)
        case .array(var items):
            guard let i = JSONPointer.arrayIndex(token), i < items.count else {
                throw .invalid("\(context): array index \"\(token)\" is out of bounds (length \(items.count))")
            }
            items[i] = try modify(items[i], tokens: tokens.dropFirst(), context: context, change)
            return .array(items)
        default:
            throw .invalid("\(context): path component \"\(token)\" is inside a scalar")
        }
    }
}

import APIMachinery
/// A parsed `labelSelector` query parameter (upstream's selector string syntax): `a=b`, `a==b`,
/// `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated and ANDed.
struct LabelSelectorQuery: Sendable, Equatable {
    enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
    }

    var requirements: [Requirement]

    static let everything = LabelSelectorQuery(requirements: [])

    init(requirements: [Requirement]) { self.requirements = requirements }

    init(parsing text: String) throws(APIError) {
        var requirements: [Requirement] = []
        var rest = Substring(text)
        func fail(_ why: String) -> APIError { APIError.badRequest("unable to parse requirement: \(why) in label selector \"\(text)\"") }
        func skipSpaces() { rest = rest.drop { $0 == " " } }
        func word() -> String {
            let w = rest.prefix { !" ,=!()".contains($0) }
            rest = rest.dropFirst(w.count)
            return String(w)
        }
        skipSpaces()
        while !rest.isEmpty {
            skipSpaces()
            if rest.first == "!" {
                rest = rest.dropFirst()
                skipSpaces()
                let key = word()
                guard !key.isEmpty else { throw fail("missing key after '!'") }
                try Self.check(key: key, text)
                requirements.append(.doesNotExist(key))
            } else {
                let key = word()
                guard !key.isEmpty else { throw fail("expected a key") }
                try Self.check(key: key, text)
                skipSpaces()
                if rest.hasPrefix("!=") {
                    rest = rest.dropFirst(2)
                    skipSpaces()
                    let value = word()
                    try Self.check(value: value, text)
                    requirements.append(.notEquals(key, value))
                } else if rest.hasPrefix("==") || rest.hasPrefix("=") {
                    rest = rest.dropFirst(rest.hasPrefix("==") ? 2 : 1)
                    skipSpaces()
                    let value = word()
                    try Self.check(value: value, text)
                    requirements.append(.equals(key, value))
                } else if rest.hasPrefix("in ") || rest.hasPrefix("in(") || rest.hasPrefix("notin ") || rest.hasPrefix("notin(") {
                    let negate = rest.hasPrefix("notin")
                    rest = rest.dropFirst(negate ? 5 : 2)
                    skipSpaces()
                    guard rest.first == "(" else { throw fail("expected '(' after set operator") }
                    rest = rest.dropFirst()
                    guard let close = rest.firstIndex(of: ")") else { throw fail("missing ')'") }
                    let values = rest[..<close].split(separator: ",").map { $0.trimmingSpaces }
                    for v in values { try Self.check(value: v, text) }
                    rest = rest[rest.index(after: close)...]
                    requirements.append(negate ? .notIn(key, Set(values)) : .in(key, Set(values)))
                } else {
                    requirements.append(.exists(key))
                }
            }
            skipSpaces()
            if rest.first == "," {
                rest = rest.dropFirst()
            } else if !rest.isEmpty {
                throw fail("unexpected \"\(rest.prefix(10))\"")
            }
        }
        self.requirements = requirements
    }

    private static func check(key: String, _ text: String) throws(APIError) {
        let problems = NameValidation.qualifiedName(key)
        if !problems.isEmpty { throw APIError.badRequest("unable to parse requirement: invalid label key \"\(key)\": \(problems.joined(separator: "; "))") }
    }

    private static func check(value: String, _ text: String) throws(APIError) {
        let problems = NameValidation.labelValue(value)
        if !problems.isEmpty { throw APIError.badRequest("unable to parse requirement: invalid label value: \"\(value)\": \(problems.joined(separator: "; "))") }
    }

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { r in
            switch r {
            case let .equals(k, v): labels[k] == v
            case let .notEquals(k, v): labels[k] != v
            case let .in(k, vs): labels[k].map { vs.contains($0) } ?? false
            case let .notIn(k, vs): labels[k].map { !vs.contains($0) } ?? true
            case let .exists(k): labels[k] != nil
            case let .doesNotExist(k): labels[k] == nil
            }
        }
    }
}

/// A parsed `fieldSelector`: `field=value`, `field==value`, `field!=value`, comma-separated,
/// over metadata.name, metadata.namespace and the fields a resource declares.
struct FieldSelectorQuery: Sendable {
    var requirements: [(field: String, value: String, negated: Bool)]

    static let everything = FieldSelectorQuery(requirements: [])

    init(requirements: [(field: String, value: String, negated: Bool)]) { self.requirements = requirements }

    init(parsing text: String, resource: ResourceDefinition) throws(APIError) {
        var out: [(String, String, Bool)] = []
        for part in text.split(separator: ",") {
            let term = part.trimmingSpaces
            let negated: Bool
            let pieces: [String]
            if let r = term.range(of: "!=") {
                negated = true
                pieces = [String(term[..<r.lowerBound]), String(term[r.upperBound...])]
            } else if let r = term.range(of: "==") {
                negated = false
                pieces = [String(term[..<r.lowerBound]), String(term[r.upperBound...])]
            } else if let r = term.range(of: "=") {
                negated = false
                pieces = [String(term[..<r.lowerBound]), String(term[r.upperBound...])]
            } else {
                throw APIError.badRequest("invalid field selector \"\(text)\": \"\(term)\" is not of the form field=value or field!=value")
            }
            let field = pieces[0].trimmingSpaces
            guard field == "metadata.name" || field == "metadata.namespace" || resource.fieldSelectors[field] != nil else {
                throw APIError.badRequest("field label not supported: \(field)")
            }
            out.append((field, pieces[1].trimmingSpaces, negated))
        }
        requirements = out
    }

    func matches(_ object: JSONObject, resource: ResourceDefinition) -> Bool {
        requirements.allSatisfy { r in
            let actual: String = switch r.field {
            case "metadata.name": object.name
            case "metadata.namespace": object.namespace
            default: resource.fieldSelectors[r.field]?(object) ?? ""
            }
            return (actual == r.value) != r.negated
        }
    }

    /// Whether the object whose selectable fields are `attributes` matches.
    func matches(_ attributes: SelectorAttributes) -> Bool {
        requirements.allSatisfy { r in (attributes.value(of: r.field) == r.value) != r.negated }
    }

    /// The name an equality on metadata.name pins the list to, letting a list read one key.
    var pinnedName: String? {
        requirements.first { $0.field == "metadata.name" && !$0.negated }?.value
    }
}

/// What label and field selectors read of one object (upstream's `storage.AttrFunc`, which its
/// watch cache keeps beside each object): its namespace (also `metadata.namespace`'s value), its
/// labels, and the values of `metadata.name` and each field its resource lets selectors read. A
/// watch with selectors tests an event's previous object with these, so the cache can keep
/// them for a superseded revision instead of the whole decoded object.
struct SelectorAttributes: Sendable, Equatable {
    var namespace: String
    var labels: [String: String]
    /// By field path, as `FieldSelectorQuery` names them: `metadata.name` and the resource's
    /// fields (``value(of:)`` reads `metadata.namespace` from `namespace`).
    var fields: [String: String]

    init(_ object: JSONObject, resource: ResourceDefinition) {
        namespace = object.namespace
        labels = object.labels
        var fields: [String: String] = ["metadata.name": object.name]
        for (field, value) in resource.fieldSelectors { fields[field] = value(object) }
        self.fields = fields
    }

    /// The value of the field at `path` (as `FieldSelectorQuery` names it), "" when unknown.
    func value(of path: String) -> String {
        path == "metadata.namespace" ? namespace : fields[path] ?? ""
    }

    /// Estimated bytes held: the strings and two dictionaries with their headers.
    var estimatedBytes: Int {
        var bytes = 128 + 48 * (labels.count + fields.count) + namespace.utf8.count
        for (key, value) in labels { bytes += key.utf8.count + value.utf8.count }
        for (_, value) in fields { bytes += value.utf8.count }
        return bytes
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

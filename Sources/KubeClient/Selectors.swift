import KubeAPI

/// A parsed label selector in upstream's string syntax: comma-separated requirements
/// `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` and `!k`, all ANDed.
/// The empty string selects everything.
public struct LabelSelectorQuery: Sendable, Hashable {
    public enum Requirement: Sendable, Hashable {
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)

        func matches(_ labels: [String: String]) -> Bool {
            switch self {
            case .equals(let k, let v): return labels[k] == v
            case .notEquals(let k, let v): return labels[k] != v
            case .in(let k, let vs): return labels[k].map(vs.contains) ?? false
            case .notIn(let k, let vs): return labels[k].map { !vs.contains($0) } ?? true
            case .exists(let k): return labels[k] != nil
            case .doesNotExist(let k): return labels[k] == nil
            }
        }
    }

    public var requirements: [Requirement]

    public init(requirements: [Requirement]) { self.requirements = requirements }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    /// Parses `text`; a `BadRequest` error names the requirement it could not read.
    public init(parsing text: String) throws(KubeClientError) {
        var reqs: [Requirement] = []
        for part in Self.splitTopLevel(text) {
            let p = part.trimmingCharacters(in: .whitespaces)
            if p.isEmpty { continue }
            reqs.append(try Self.requirement(p))
        }
        requirements = reqs
    }

    /// The string form of a metav1.LabelSelector (for `ListOptions.labelSelector`).
    public static func string(for selector: LabelSelector) -> String {
        var parts: [String] = []
        for (k, v) in (selector.matchLabels ?? [:]).sorted(by: { $0.key < $1.key }) { parts.append("\(k)=\(v)") }
        for r in selector.matchExpressions ?? [] {
            let values = (r.values ?? []).sorted().joined(separator: ",")
            switch r.operator {
            case "In": parts.append("\(r.key) in (\(values))")
            case "NotIn": parts.append("\(r.key) notin (\(values))")
            case "Exists": parts.append(r.key)
            case "DoesNotExist": parts.append("!\(r.key)")
            default: parts.append("\(r.key) \(r.operator) (\(values))")
            }
        }
        return parts.joined(separator: ",")
    }

    private static func splitTopLevel(_ s: String) -> [String] {
        var out: [String] = []
        var depth = 0
        var current = ""
        for ch in s {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if ch == ",", depth == 0 {
                out.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        out.append(current)
        return out
    }

    private static func requirement(_ p: String) throws(KubeClientError) -> Requirement {
        func bad(_ why: String) -> KubeClientError {
            KubeClientError(code: 400, reason: "BadRequest", message: "unable to parse requirement \"\(p)\": \(why)")
        }
        func key(_ s: Substring) throws(KubeClientError) -> String {
            let k = s.trimmingCharacters(in: .whitespaces)
            guard !k.isEmpty, !k.contains(where: { " ()!=,".contains($0) }) else { throw bad("invalid key \"\(k)\"") }
            return k
        }
        if p.hasPrefix("!") { return .doesNotExist(try key(p.dropFirst())) }
        if let r = p.range(of: "!=") { return .notEquals(try key(p[..<r.lowerBound]), p[r.upperBound...].trimmingCharacters(in: .whitespaces)) }
        if let r = p.range(of: "==") { return .equals(try key(p[..<r.lowerBound]), p[r.upperBound...].trimmingCharacters(in: .whitespaces)) }
        if let r = p.range(of: "=") { return .equals(try key(p[..<r.lowerBound]), p[r.upperBound...].trimmingCharacters(in: .whitespaces)) }
        let words = p.split(separator: " ", maxSplits: 1)
        if words.count == 2 {
            let rest = words[1].trimmingCharacters(in: .whitespaces)
            let op: String
            let setText: Substring
            if rest.hasPrefix("notin") { op = "notin"; setText = rest.dropFirst(5) } else if rest.hasPrefix("in") { op = "in"; setText = rest.dropFirst(2) } else { throw bad("unknown operator") }
            let t = setText.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("("), t.hasSuffix(")") else { throw bad("values must be in parentheses") }
            let values = Set(t.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) })
            let k = try key(words[0])
            return op == "in" ? .in(k, values) : .notIn(k, values)
        }
        return .exists(try key(Substring(p)))
    }
}

/// A parsed field selector: comma-separated `path=value`, `path==value` or `path!=value`
/// terms over an object's JSON (e.g. `metadata.name=x`, `spec.nodeName=n1`, `status.phase!=Failed`).
public struct FieldSelectorQuery: Sendable, Hashable {
    public struct Term: Sendable, Hashable {
        public var path: [String]
        public var value: String
        public var negated: Bool
    }

    public var terms: [Term]

    public init(parsing text: String) throws(KubeClientError) {
        var terms: [Term] = []
        for raw in text.split(separator: ",") {
            let p = raw.trimmingCharacters(in: .whitespaces)
            if p.isEmpty { continue }
            let negated: Bool
            let range: Range<String.Index>
            if let r = p.range(of: "!=") { negated = true; range = r } else if let r = p.range(of: "==") { negated = false; range = r } else if let r = p.range(of: "=") { negated = false; range = r } else {
                throw KubeClientError(code: 400, reason: "BadRequest", message: "invalid field selector \"\(p)\": expected path=value")
            }
            let path = p[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !path.isEmpty else { throw KubeClientError(code: 400, reason: "BadRequest", message: "invalid field selector \"\(p)\": empty field") }
            terms.append(Term(path: path.split(separator: ".").map(String.init), value: p[range.upperBound...].trimmingCharacters(in: .whitespaces), negated: negated))
        }
        self.terms = terms
    }

    /// Whether `object` (as JSON) satisfies every term. A missing field compares as "".
    public func matches(_ object: JSONValue) -> Bool {
        terms.allSatisfy { term in
            var v: JSONValue? = object
            for k in term.path { v = v?[k] }
            let s: String
            switch v {
            case .string(let x)?: s = x
            case .bool(let b)?: s = b ? "true" : "false"
            case .number(let d)?: s = d.rounded() == d ? String(Int64(d)) : String(d)
            default: s = ""
            }
            return (s == term.value) != term.negated
        }
    }
}

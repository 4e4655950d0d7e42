/// One change to one table. Operations run in order, and a ``Transaction`` applies all of
/// them atomically: the kernel either commits the whole batch or none of it.
public enum Operation: Hashable, Sendable {
    /// Creates the table if it does not exist (no error if it does).
    case addTable
    /// Deletes the table and everything in it (error if it does not exist).
    case deleteTable
    /// Creates a chain if it does not exist.
    case addChain(Chain)
    /// Removes every rule of a chain.
    case flushChain(String)
    /// Deletes an empty, unreferenced chain.
    case deleteChain(String)
    /// Appends a rule to a chain.
    case addRule(chain: String, Rule)
    /// Creates a named set or verdict map if it does not exist.
    case addSet(NamedSet)
    /// Deletes an unreferenced set.
    case deleteSet(String)
    /// Adds elements to a set (error if one already exists).
    case addElements(set: String, [Element])
    /// Deletes elements from a set (error if one does not exist).
    case deleteElements(set: String, [Element])
}

/// An atomic batch of operations on one table.
public struct Transaction: Sendable {
    public var family: Family
    public var table: String
    public private(set) var operations: [Operation] = []

    public init(family: Family, table: String) {
        self.family = family
        self.table = table
    }

    public mutating func add(_ op: Operation) { operations.append(op) }

    public var isEmpty: Bool { operations.isEmpty }

    /// The transaction as `nft -f` input, in order. Loading this text with `nft -f` programs
    /// the same objects as applying the transaction over netlink, with one exception: a set
    /// key with a ``KeyPart/numgen(modulus:)`` part is declared with nft's `mark` type, which
    /// nft lists correctly but refuses to match with a `numgen` expression in its own input.
    public func render() -> String {
        var out = ""
        out.reserveCapacity(operations.count * 80)
        let t = "\(family.rawValue) \(table)"
        for op in operations {
            switch op {
            case .addTable: out += "add table \(t)\n"
            case .deleteTable: out += "delete table \(t)\n"
            case .addChain(let c): out += "add chain \(t) \(c.name)\(Transaction.chainSpec(c))\n"
            case .flushChain(let c): out += "flush chain \(t) \(c)\n"
            case .deleteChain(let c): out += "delete chain \(t) \(c)\n"
            case .addRule(let c, let r): out += "add rule \(t) \(c) \(r.render())\n"
            case .addSet(let s): out += "add \(s.isVerdictMap ? "map" : "set") \(t) \(s.name) \(Transaction.setSpec(s))\n"
            case .deleteSet(let s): out += "delete set \(t) \(s)\n"
            case .addElements(let s, let e):
                if !e.isEmpty { out += "add element \(t) \(s) { \(e.map(\.render).joined(separator: ", ")) }\n" }
            case .deleteElements(let s, let e):
                if !e.isEmpty { out += "delete element \(t) \(s) { \(e.map { $0.keyDescription }.joined(separator: ", ")) }\n" }
            }
        }
        return out
    }

    static func chainSpec(_ c: Chain) -> String {
        guard let b = c.base else { return "" }
        return " { type \(b.type.rawValue) hook \(b.hook.rawValue) priority \(b.priority) ; }"
    }

    static func setSpec(_ s: NamedSet) -> String {
        var spec = "{ type " + s.key.map(\.typeName).joined(separator: " . ")
        if s.isVerdictMap { spec += " : verdict" }
        if let d = s.data { spec += " : " + d.map(\.typeName).joined(separator: " . ") }
        spec += " ;"
        if let t = s.timeoutSeconds { spec += " flags dynamic,timeout ; timeout \(t)s ;" }
        if let n = s.size { spec += " size \(n) ;" }
        return spec + " }"
    }
}

extension Element {
    var render: String {
        if let v = verdict { return "\(keyDescription) : \(v)" }
        if let d = data { return "\(keyDescription) : " + d.map(\.description).joined(separator: " . ") }
        return keyDescription
    }
}

extension Rule {
    /// The rule in nft syntax.
    public func render() -> String { exprs.map(\.render).joined(separator: " ") }
}

extension RuleExpr {
    var render: String {
        switch self {
        case .saddr(let c, let neg): "\(c.family.keyword) saddr \(neg ? "!= " : "")\(c)"
        case .daddr(let c, let neg): "\(c.family.keyword) daddr \(neg ? "!= " : "")\(c)"
        case .l4proto(let p): "meta l4proto \(p.rawValue)"
        case .dport(let p, let port): "\(p.rawValue) dport \(port)"
        case .ctStateNew: "ct state new"
        case .ctStatusDNAT: "ct status dnat"
        case .fibDaddrLocal: "fib daddr type local"
        case .fibSaddrLocal: "fib saddr type local"
        case .markHas(let bits, let neg): "meta mark & \(hex(bits)) \(neg ? "==" : "!=") 0"
        case .numgenRandomZero(let m): "numgen random mod \(m) 0"
        case .saddrInSet(let f, let s): "\(f.keyword) saddr @\(s)"
        case .inSet(let key, let s): "\(key.map(\.expression).joined(separator: " . ")) @\(s)"
        case .dnatMap(let f, let key, let s): "dnat \(f.keyword) to \(key.map(\.expression).joined(separator: " . ")) map @\(s)"
        case .vmap(let key, let s): "\(key.map(\.expression).joined(separator: " . ")) vmap @\(s)"
        case .markOr(let bits): "meta mark set meta mark or \(hex(bits))"
        case .markXor(let bits): "meta mark set meta mark xor \(hex(bits))"
        case .updateSaddr(let f, let s): "update @\(s) { \(f.keyword) saddr }"
        case .dnat(let a, let port): a.family == .ip ? "dnat ip to \(a):\(port)" : "dnat ip6 to [\(a)]:\(port)"
        case .masquerade: "masquerade fully-random"
        case .reject: "reject"
        case .rejectTCPReset: "reject with tcp reset"
        case .verdict(let v): v.description
        }
    }
}

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16, uppercase: false).leftPadded(to: 8) }

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

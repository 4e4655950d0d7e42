import IPTables
import Synchronization

/// A stateful in-memory iptables for one family: reads `iptables-restore --noflush` input as
/// the real tool does (`:CHAIN` creates or flushes, `-A`, `-I CHAIN [N]`, `-D` of an existing
/// rule, `-X` of an empty unreferenced chain, one atomic commit per `*table` block), checks that
/// every `-j` target exists at commit, and prints iptables-save text.
///
/// Rules are kept as text with whitespace normalised; `-D` matches that text exactly (the real
/// tool compares parsed rules, so the backend must render a rule the same way each time).
public final class FakeIPTables: IPTablesInterface {
    static let builtinChains = ["filter": ["INPUT", "FORWARD", "OUTPUT"], "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]]
    static let builtinTargets: Set<String> = ["ACCEPT", "DROP", "RETURN", "REJECT", "MARK", "MASQUERADE", "DNAT", "SNAT"]

    public struct Table: Equatable, Sendable {
        /// Chains in creation order, with their rules in order.
        public var chains: [(name: String, rules: [String])] = []
        public static func == (a: Table, b: Table) -> Bool { a.chains.elementsEqual(b.chains) { $0.name == $1.name && $0.rules == $1.rules } }

        func index(_ chain: String) -> Int? { chains.firstIndex { $0.name == chain } }
        public func rules(_ chain: String) -> [String]? { index(chain).map { chains[$0].rules } }
    }

    private struct State {
        var tables: [String: Table]
        var restores: [String] = []
        var failNext: IPTablesError?
    }
    private let state: Mutex<State>

    public init() {
        var tables: [String: Table] = [:]
        for (t, chains) in Self.builtinChains { tables[t] = Table(chains: chains.map { ($0, []) }) }
        state = Mutex(State(tables: tables))
    }

    /// Every restore input applied so far, in order.
    public var restores: [String] { state.withLock { $0.restores } }
    public func table(_ name: String) -> Table? { state.withLock { $0.tables[name] } }

    /// Makes the next ``restore(_:)`` fail with `error` (and change nothing).
    public func failNext(_ error: IPTablesError) { state.withLock { $0.failNext = error } }

    private static func fail(_ message: String) -> IPTablesError { IPTablesError("fake iptables-restore: \(message)") }

    public func restore(_ text: String) throws(IPTablesError) {
        try state.withLock { (s: inout State) throws(IPTablesError) in
            if let e = s.failNext {
                s.failNext = nil
                throw e
            }
            var current: (name: String, table: Table)?
            var committed = s.tables
            for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = Self.normalise(String(raw))
                if line.isEmpty || line.hasPrefix("#") { continue }
                func fail(_ m: String) -> IPTablesError { Self.fail("line \(number + 1) (\(line)): \(m)") }
                if line.hasPrefix("*") {
                    guard current == nil else { throw fail("table block not committed") }
                    let name = String(line.dropFirst())
                    guard let t = committed[name] else { throw fail("unknown table \(name)") }
                    current = (name, t)
                    continue
                }
                guard let open = current else { throw fail("rule outside a table block") }
                let name = open.name
                var t = open.table
                if line == "COMMIT" {
                    try Self.validate(t, table: name)
                    committed[name] = t
                    current = nil
                    continue
                }
                if line.hasPrefix(":") {
                    let chain = String(line.dropFirst().prefix { $0 != " " })
                    if let i = t.index(chain) { t.chains[i].rules = [] } else { t.chains.append((chain, [])) }
                } else {
                    let words = line.split(separator: " ", maxSplits: 2).map(String.init)
                    guard words.count >= 2 else { throw fail("incomplete command") }
                    let chain = words[1]
                    guard let i = t.index(chain) else { throw fail("chain \(chain) does not exist") }
                    let rest = words.count > 2 ? words[2] : ""
                    switch words[0] {
                    case "-A": t.chains[i].rules.append(rest)
                    case "-I":
                        let parts = rest.split(separator: " ", maxSplits: 1).map(String.init)
                        if let n = Int(parts.first ?? ""), n >= 1 {
                            guard n - 1 <= t.chains[i].rules.count else { throw fail("index \(n) too big") }
                            t.chains[i].rules.insert(parts.count > 1 ? parts[1] : "", at: n - 1)
                        } else {
                            t.chains[i].rules.insert(rest, at: 0)
                        }
                    case "-D":
                        guard let r = t.chains[i].rules.firstIndex(of: rest) else { throw fail("bad rule (does a matching rule exist in that chain?)") }
                        t.chains[i].rules.remove(at: r)
                    case "-X":
                        guard t.chains[i].rules.isEmpty else { throw fail("chain \(chain) is not empty") }
                        guard Self.builtinChains[name]?.contains(chain) != true else { throw fail("cannot delete built-in chain \(chain)") }
                        if t.chains.contains(where: { $0.rules.contains { Self.target($0) == chain } }) { throw fail("chain \(chain) is referenced") }
                        t.chains.remove(at: i)
                    default: throw fail("unknown command \(words[0])")
                    }
                }
                current = (name, t)
            }
            if current != nil { throw Self.fail("missing COMMIT") }
            s.tables = committed
            s.restores.append(text)
        }
    }

    /// The `-j` target of a rule.
    static func target(_ rule: String) -> String? {
        let words = rule.split(separator: " ")
        guard let j = words.firstIndex(of: "-j"), j + 1 < words.count else { return nil }
        return String(words[j + 1])
    }

    private static func validate(_ t: Table, table: String) throws(IPTablesError) {
        for c in t.chains {
            for r in c.rules {
                guard let target = target(r) else { continue }
                if !builtinTargets.contains(target) && t.index(target) == nil { throw fail("\(table): rule in \(c.name) jumps to missing chain \(target)") }
            }
        }
    }

    static func normalise(_ line: String) -> String {
        line.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    public func save(table: String) throws(IPTablesError) -> String {
        guard let t = state.withLock({ $0.tables[table] }) else { throw Self.fail("unknown table \(table)") }
        var out = "*\(table)\n"
        for c in t.chains { out += ":\(c.name) \(Self.builtinChains[table]?.contains(c.name) == true ? "ACCEPT" : "-") [0:0]\n" }
        for c in t.chains { for r in c.rules { out += "-A \(c.name) \(r)\n" } }
        return out + "COMMIT\n"
    }

    /// Rule arguments as restore text (arguments with spaces quoted).
    static func text(_ rule: [String]) -> String {
        rule.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ")
    }

    public func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        let text = Self.text(rule)
        if state.withLock({ $0.tables[table]?.rules(chain)?.contains(text) }) == true { return }
        try restore("*\(table)\n-I \(chain) 1 \(text)\nCOMMIT\n")
    }

    public func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        let text = Self.text(rule)
        while state.withLock({ $0.tables[table]?.rules(chain)?.contains(text) }) == true {
            try restore("*\(table)\n-D \(chain) \(text)\nCOMMIT\n")
        }
    }
}

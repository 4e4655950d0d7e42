import NFTables
import Synchronization

/// A stateful in-memory nftables: applies transactions atomically with the kernel's checks
/// (objects exist before use, chains are empty and unreferenced before deletion, elements are
/// not added twice or deleted when absent), and dumps what it holds as sorted nft text.
public final class FakeNFTables: NFTablesInterface {
    public struct TableState: Equatable, Sendable {
        public var chains: [String: Chain] = [:]
        public var rules: [String: [Rule]] = [:]
        public var sets: [String: NamedSet] = [:]
        public var elements: [String: [[KeyValue]: Element]] = [:]
    }

    private struct State {
        var tables: [String: TableState] = [:]
        var transactions = 0
        var failNext: NFTablesError?
    }
    private let state = Mutex(State())

    public init() {}

    /// Tables by `family name`.
    public var tables: [String: TableState] { state.withLock { $0.tables } }
    /// How many transactions were committed.
    public var transactionCount: Int { state.withLock { $0.transactions } }

    /// Makes the next ``apply(_:)`` fail with `error` (and change nothing).
    public func failNext(_ error: NFTablesError) { state.withLock { $0.failNext = error } }

    public func apply(_ transaction: Transaction) throws(NFTablesError) {
        try state.withLock { (s: inout State) throws(NFTablesError) in
            if let e = s.failNext {
                s.failNext = nil
                throw e
            }
            let key = "\(transaction.family.rawValue) \(transaction.table)"
            var tables = s.tables
            for op in transaction.operations { try Self.apply(op, key: key, tables: &tables) }
            if let t = tables[key] { try Self.validate(t, table: key) }
            s.tables = tables
            s.transactions += 1
        }
    }

    private static func reject(_ message: String) -> NFTablesError { NFTablesError(.rejected, "fake nftables: \(message)") }

    private static func apply(_ op: Operation, key: String, tables: inout [String: TableState]) throws(NFTablesError) {
        if case .addTable = op {
            if tables[key] == nil { tables[key] = TableState() }
            return
        }
        guard var t = tables[key] else { throw reject("table \(key) does not exist for \(op)") }
        switch op {
        case .addTable: break
        case .deleteTable:
            tables[key] = nil
            return
        case .addChain(let c):
            if t.chains[c.name] == nil { t.chains[c.name] = c; t.rules[c.name] = [] }
        case .flushChain(let c):
            guard t.chains[c] != nil else { throw reject("flush of missing chain \(c)") }
            t.rules[c] = []
        case .deleteChain(let c):
            guard t.chains[c] != nil else { throw reject("delete of missing chain \(c)") }
            guard t.rules[c]?.isEmpty ?? true else { throw reject("delete of non-empty chain \(c)") }
            if referencesTo(chain: c, in: t) > 0 { throw reject("delete of referenced chain \(c)") }
            t.chains[c] = nil
            t.rules[c] = nil
        case .addRule(let c, let r):
            guard t.chains[c] != nil else { throw reject("rule added to missing chain \(c)") }
            for target in r.targets where t.chains[target] == nil { throw reject("rule in \(c) jumps to missing chain \(target)") }
            for set in r.setReferences where t.sets[set] == nil { throw reject("rule in \(c) uses missing set \(set)") }
            t.rules[c, default: []].append(r)
        case .addSet(let set):
            if t.sets[set.name] == nil { t.sets[set.name] = set; t.elements[set.name] = [:] }
        case .deleteSet(let name):
            guard t.sets[name] != nil else { throw reject("delete of missing set \(name)") }
            if t.rules.values.contains(where: { $0.contains { $0.setReferences.contains(name) } }) { throw reject("delete of set \(name) in use") }
            t.sets[name] = nil
            t.elements[name] = nil
        case .addElements(let name, let elements):
            guard let set = t.sets[name] else { throw reject("elements added to missing set \(name)") }
            for e in elements {
                guard e.key.count == set.key.count else { throw reject("element \(e.keyDescription) does not fit the key of \(name)") }
                if t.elements[name]?[e.key] != nil { throw reject("element \(e.keyDescription) already in \(name)") }
                if let size = set.size, t.elements[name]!.count >= size { throw reject("set \(name) is full (size \(size))") }
                if set.isVerdictMap != (e.verdict != nil) { throw reject("element \(e.keyDescription) verdict does not match \(name)") }
                if (set.data?.count ?? 0) != (e.data?.count ?? 0) { throw reject("element \(e.keyDescription) data does not fit the value type of \(name)") }
                if let target = e.verdict?.target, t.chains[target] == nil { throw reject("element \(e.keyDescription) of \(name) targets missing chain \(target)") }
                t.elements[name]![e.key] = e
            }
        case .deleteElements(let name, let elements):
            guard t.sets[name] != nil else { throw reject("elements deleted from missing set \(name)") }
            for e in elements {
                if t.elements[name]?[e.key] == nil { throw reject("element \(e.keyDescription) not in \(name)") }
                t.elements[name]![e.key] = nil
            }
        }
        tables[key] = t
    }

    private static func referencesTo(chain: String, in t: TableState) -> Int {
        t.rules.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.targets.filter { $0 == chain }.count } }
            + t.elements.values.reduce(0) { $0 + $1.values.filter { $0.verdict?.target == chain }.count }
    }

    /// Checks what the kernel checks at commit: every reference resolves.
    private static func validate(_ t: TableState, table: String) throws(NFTablesError) {
        for (c, rules) in t.rules {
            for r in rules {
                for target in r.targets where t.chains[target] == nil { throw reject("\(table): \(c) refers to missing chain \(target)") }
            }
        }
    }

    /// The table's content as nft-style lines: objects sorted (one element per line), then each
    /// chain's rules in order, chains by name. Empty if the table is absent.
    public func dump(family: Family, table: String) -> String {
        guard let t = tables["\(family.rawValue) \(table)"] else { return "" }
        var objects = Transaction(family: family, table: table)
        for s in t.sets.values { objects.add(.addSet(s)) }
        for c in t.chains.values { objects.add(.addChain(c)) }
        for (s, elements) in t.elements { for e in elements.values { objects.add(.addElements(set: s, [e])) } }
        // Rules keep their order within a chain: order is meaning there.
        var rules = Transaction(family: family, table: table)
        for c in t.rules.keys.sorted() { for r in t.rules[c]! { rules.add(.addRule(chain: c, r)) } }
        return objects.render().split(separator: "\n").sorted().joined(separator: "\n") + "\n" + rules.render()
    }

    /// The rules of one chain, in order, as nft text.
    public func rules(family: Family, table: String, chain: String) -> [String] {
        (tables["\(family.rawValue) \(table)"]?.rules[chain] ?? []).map { $0.render() }
    }
}

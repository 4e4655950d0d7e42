#if canImport(Glibc)
import Glibc
#endif
import LinuxSystem

/// Writes iptables-legacy's IPv4 tables from restore text, as `iptables-legacy-restore
/// --noflush` does, without the tool: the text is parsed and every rule encoded
/// (``RuleEncoder``) first; then, holding the xtables lock, each table of the text is read from
/// the kernel (`IPT_SO_GET_ENTRIES`), changed as the text says, laid out and replaced
/// (`IPT_SO_SET_REPLACE`), and the counters of the entries it kept are added back
/// (`IPT_SO_SET_ADD_COUNTERS`), which is what libiptc does.
///
/// The text may hold the tables `nat` and `filter`, and in them: `:CHAIN - [0:0]` (creates a
/// user-defined chain, or flushes it), `-A CHAIN RULE`, `-I CHAIN [N] RULE`, `-D CHAIN RULE`
/// (deletes the first equal rule), `-X CHAIN` (deletes an empty user-defined chain nothing
/// jumps to) and `COMMIT`; `#` comments and blank lines. Everything not named by it is kept
/// byte for byte: other tools' chains and rules, the built-in chains' rules and policies, and
/// the counters of every rule kept. Anything else — a built-in chain's policy line, counters
/// on a rule, another table, a rule ``RuleEncoder`` cannot encode — is an error before any
/// table is written, and so is a text that does not end its last table with `COMMIT`.
///
/// The layout is libiptc's: the built-in chains where the kernel has them (hook order), each
/// its rules then its policy; the user-defined chains, each an `ERROR` entry naming it, its
/// rules and a `RETURN`, where they are, new ones merged in by name (`strcmp`), so a table
/// libiptc laid out (sorted) stays sorted; the table ends with an `ERROR` entry "ERROR". A jump
/// is the offset of the entry after the chain's head.
public enum TableWriter {
    /// One table's part of the text.
    struct Section {
        var table: String
        var operations: [Operation]
    }

    enum Operation {
        case declare(String)
        case append(String, EncodedRule)
        /// Inserts before the rule at 0-based position.
        case insert(String, Int, EncodedRule)
        case delete(String, EncodedRule)
        case deleteChain(String)
    }

    /// An error of ``apply(_:)``; `committed` tables of the text (from its start) were written
    /// before it, the rest were not.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var committed: Int
        public var description: String { message }
    }

    /// The tables this writer handles.
    static let tables: Set<String> = ["nat", "filter"]

    /// Parses restore text into its sections, every rule encoded.
    static func parse(_ text: [UInt8]) throws(IPTablesError) -> [Section] {
        try text.withUnsafeBufferPointer { buffer in
            Result { () throws(IPTablesError) in try parse(buffer) }
        }.get()
    }

    static func parse(_ text: UnsafeBufferPointer<UInt8>) throws(IPTablesError) -> [Section] {
        var sections: [Section] = []
        /// The previous rule's chain: a chain's rules come together, its name is made once.
        var lastChain: (token: RuleEncoder.Token, name: String)?
        var current: Section?
        var lineNumber = 0
        var start = 0
        var args: [RuleEncoder.Token] = []
        args.reserveCapacity(32)
        let count = text.count
        func fail(_ what: String, _ line: RuleEncoder.Token) -> IPTablesError {
            IPTablesError("iptables writer: line \(lineNumber): \(what): \(String(decoding: line, as: UTF8.self))")
        }
        while start < count {
            var end = start
            while end < count && text[end] != 0x0A { end += 1 }
            let line = text[start..<end]
            start = end + 1
            lineNumber += 1
            guard let first = line.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
            if first == UInt8(ascii: "#") { continue }
            if first == UInt8(ascii: "*") {
                guard current == nil else { throw fail("a table inside a table", line) }
                let name = RuleEncoder.text(line.drop(while: { $0 != UInt8(ascii: "*") }).dropFirst()).trimmingSpaces
                guard tables.contains(name) else { throw fail("table \(name)", line) }
                current = Section(table: name, operations: [])
                continue
            }
            guard current != nil else { throw fail("a line outside a table", line) }
            if first == UInt8(ascii: ":") {
                let parts = try RuleEncoder.tokens(line)
                guard parts.count == 3, RuleEncoder.equals(parts[1], "-"), RuleEncoder.equals(parts[2], "[0:0]") else {
                    throw fail("only user-defined chains `:CHAIN - [0:0]` are declared", line)
                }
                try RuleEncoder.checkChainName(parts[0].dropFirst())
                let name = RuleEncoder.text(parts[0].dropFirst())
                if KernelTable.hookNames.contains(name) { throw fail("a built-in chain's policy", line) }
                current!.operations.append(.declare(name))
                continue
            }
            try RuleEncoder.tokens(line, into: &args)
            if args.count == 1 && RuleEncoder.equals(args[0], "COMMIT") {
                sections.append(current!)
                current = nil
                continue
            }
            guard args.count >= 2 else { throw fail("a command", line) }
            let command = args[0]
            let chain: String
            if let last = lastChain, last.token.elementsEqual(args[1]) {
                chain = last.name
            } else {
                chain = RuleEncoder.text(args[1])
                lastChain = (args[1], chain)
            }
            // iptables refuses DROP in nat ("not intended for filtering").
            func encode(_ args: ArraySlice<RuleEncoder.Token>) throws(IPTablesError) -> EncodedRule {
                let rule = try RuleEncoder.encode(args)
                if current!.table == "nat" && rule.verdict == .standard(-1) { throw fail("DROP in the nat table", line) }
                return rule
            }
            if RuleEncoder.equals(command, "-A") || RuleEncoder.equals(command, "--append") {
                current!.operations.append(.append(chain, try encode(args[2...])))
            } else if RuleEncoder.equals(command, "-I") || RuleEncoder.equals(command, "--insert") {
                var rest = args[2...]
                var position = 0
                if let n = rest.first, let v = RuleEncoder.parseUInt16(n) {
                    guard v >= 1 else { throw fail("rule number 0", line) }
                    position = Int(v) - 1
                    rest = rest.dropFirst()
                }
                current!.operations.append(.insert(chain, position, try encode(rest)))
            } else if RuleEncoder.equals(command, "-D") || RuleEncoder.equals(command, "--delete") {
                guard args.count > 2, RuleEncoder.parseUInt16(args[2]) == nil || args.count > 3 else { throw fail("-D by number", line) }
                current!.operations.append(.delete(chain, try encode(args[2...])))
            } else if RuleEncoder.equals(command, "-X") || RuleEncoder.equals(command, "--delete-chain") {
                guard args.count == 2 else { throw fail("-X with more than a chain", line) }
                current!.operations.append(.deleteChain(chain))
            } else {
                throw fail("command \(RuleEncoder.text(command))", line)
            }
        }
        if current != nil { throw IPTablesError("iptables writer: table \(current!.table) does not end with COMMIT") }
        return sections
    }

    // MARK: The table in memory

    final class Chain {
        let name: String
        /// The hook of a built-in chain.
        let hook: Int?
        var rules: [Rule] = []
        /// A built-in chain's policy entry.
        var policy: Rule?
        /// Rules (in any chain) that jump or go to it.
        var references = 0
        var deleted = false
        /// Where its first rule (or its end) is once laid out.
        var start = 0

        init(name: String, hook: Int?) {
            self.name = name
            self.hook = hook
        }
    }

    struct Rule {
        /// A new rule; for a rule kept from the kernel's table only its verdict (its bytes
        /// are the image's, at `raw`).
        var rule: EncodedRule
        /// Where a kept rule's entry is in the image's `blob` (from `base`), or -1.
        var raw: Int32 = -1
        var size: Int32
        var targetOffset: Int32
        /// The chain a `.chain` verdict jumps to (the image's chains outlive its rules).
        unowned(unsafe) var target: Chain? = nil
        /// Its index in the table as read (its counters), or -1 for a new rule.
        var oldIndex: Int32

        init(new rule: EncodedRule, target: Chain?) {
            self.rule = rule
            size = Int32(rule.bytes.count)
            targetOffset = Int32(rule.targetOffset)
            self.target = target
            oldIndex = -1
        }

        init(kept verdict: RuleVerdict, at offset: Int, size: Int, targetOffset: Int, index: Int) {
            rule = EncodedRule(bytes: [], verdict: verdict)
            raw = Int32(offset)
            self.size = Int32(size)
            self.targetOffset = Int32(targetOffset)
            oldIndex = Int32(index)
        }
    }

    /// A table read from the kernel, being changed.
    struct Image {
        var validHooks: UInt32
        var oldEntries: Int
        /// The chains as read, in order (built-in and user-defined).
        var existing: [Chain] = []
        /// User-defined chains created, in order of creation.
        var created: [Chain] = []
        var byName: [String: Chain] = [:]
        /// The built-in chains' policy counters as read, by entry index: libiptc keeps only
        /// what they counted between its read and its replace (COUNTER_MAP_ZEROED), so a policy's
        /// counters restart with each write.
        var policyCounters: [Int32: (packets: UInt64, bytes: UInt64)] = [:]
        /// The table as read: kept rules' bytes, from `base`.
        var blob: [UInt8] = []
        /// Every user-defined chain read (rules hold unowned references to them).
        var keepAlive: [Chain] = []
        var base = 0

        /// Whether `rule` (encoded) is the same rule as `r`: every byte but `comefrom`, the
        /// counters and a jump's or fall-through's verdict (compared as its target).
        func same(_ r: Rule, _ rule: EncodedRule) -> Bool {
            if r.raw < 0 { return r.rule == rule }
            guard r.rule.verdict == rule.verdict, Int(r.size) == rule.bytes.count, Int(r.targetOffset) == rule.targetOffset else { return false }
            let at = base + Int(r.raw), size = Int(r.size)
            guard at >= 0, at + size <= blob.count else { return false }
            var skipFrom = size, skipTo = size
            switch rule.verdict {
            case .chain, .next:
                skipFrom = Int(r.targetOffset) + RuleEncoder.headerSize
                skipTo = skipFrom + 4
            default:
                break
            }
            return blob.withUnsafeBufferPointer { b in rule.bytes.withUnsafeBufferPointer { e in
                for k in 0..<92 where b[at + k] != e[k] { return false }
                for k in 112..<size where (k < skipFrom || k >= skipTo) && b[at + k] != e[k] { return false }
                return true
            } }
        }
    }

    static let errorEntrySize = 176
    static let standardEntrySize = 152

    /// The chains and rules of a table as the kernel returns it, laid out as libiptc lays
    /// tables out. Throws for anything else (a jump that is not to a chain's first entry, an
    /// entry outside every chain).
    static func image(_ raw: KernelTable.Raw) throws(IPTablesError) -> Image {
        guard raw.start >= 0, raw.start <= raw.entries.count else { throw IPTablesError("iptables writer: entries start at \(raw.start)") }
        var made = try raw.entries.withUnsafeBufferPointer { buffer in
            Result { () throws(IPTablesError) in try Self.image(raw, UnsafeBufferPointer(rebasing: buffer[raw.start...])) }
        }.get()
        made.blob = raw.entries
        made.base = raw.start
        return made
    }

    /// ``image(_:)`` of the entries in `blob`.
    static func image(_ raw: KernelTable.Raw, _ blob: UnsafeBufferPointer<UInt8>) throws(IPTablesError) -> Image {
        func i32(_ at: Int) -> Int32 { UnsafeRawBufferPointer(blob).loadUnaligned(fromByteOffset: at, as: Int32.self) }
        func name(_ at: Int, max: Int) -> String {
            let end = min(at + max, blob.count)
            let stop = blob[at..<end].firstIndex(of: 0) ?? end
            return String(decoding: blob[at..<stop], as: UTF8.self)
        }
        /// Whether the NUL-terminated name at `at` is "ERROR".
        func isErrorName(_ at: Int) -> Bool {
            at + 6 <= blob.count && blob[at] == 0x45 && blob[at + 1] == 0x52 && blob[at + 2] == 0x52 && blob[at + 3] == 0x4F
                && blob[at + 4] == 0x52 && blob[at + 5] == 0
        }
        func malformed(_ offset: Int, _ what: String) -> IPTablesError {
            IPTablesError("iptables writer: the kernel's table: entry at \(offset) \(what)")
        }
        // The entries, bounds-checked by the walk KernelTable.parse uses.
        struct Entry {
            var offset: Int
            var size: Int
            var targetOffset: Int
            /// The target's name is empty (a standard target) or "ERROR".
            var standard: Bool
            var error: Bool
            var targetSize: Int
        }
        var entries: [Entry] = []
        try KernelTable.walk(UnsafeRawBufferPointer(blob), aligned: true, malformed: malformed, match: { _, _ in }, entry: { e in
            entries.append(Entry(offset: e.offset, size: e.size, targetOffset: e.targetOffset,
                                 standard: blob[e.offset + e.targetOffset + 2] == 0, error: isErrorName(e.offset + e.targetOffset + 2), targetSize: e.targetSize))
        })
        guard entries.count == raw.numEntries else {
            throw IPTablesError("iptables writer: the kernel's table has \(entries.count) entries, not \(raw.numEntries)")
        }
        var image = Image(validHooks: raw.validHooks, oldEntries: entries.count)
        let hooks = (0..<5).filter { raw.validHooks & (1 << $0) != 0 }
        func hook(at offset: Int) -> Int? { hooks.first { Int(raw.hookEntry[$0]) == offset } }
        func isUnderflow(_ offset: Int) -> Bool { hooks.contains { Int(raw.underflow[$0]) == offset } }
        // Chain heads: user-defined chains start at their ERROR entry; the first entry after
        // it is where jumps to them go.
        var userChains: [Chain] = [], startOf: [Int: Chain] = [:]
        var heads = 0
        for e in entries where e.error { heads += 1 }
        userChains.reserveCapacity(heads)
        startOf.reserveCapacity(heads)
        for (i, e) in entries.enumerated() where e.error && i + 1 < entries.count {
            let c = Chain(name: name(e.offset + e.targetOffset + RuleEncoder.headerSize, max: e.targetSize - RuleEncoder.headerSize), hook: nil)
            userChains.append(c)
            startOf[entries[i + 1].offset] = c
        }
        var nextUser = 0
        image.byName.reserveCapacity(heads + 5)
        image.existing.reserveCapacity(heads + 5)
        var current: Chain?
        var sawEnd = false
        for (i, e) in entries.enumerated() {
            if sawEnd { throw malformed(e.offset, "follows the table's end") }
            let isError = e.error
            if let hook = hook(at: e.offset) {
                guard current == nil, !isError else { throw malformed(e.offset, "starts \(KernelTable.hookNames[hook]) inside a chain") }
                let c = Chain(name: KernelTable.hookNames[hook], hook: hook)
                image.existing.append(c)
                image.byName[c.name] = c
                current = c
            }
            if isError {
                guard current == nil else { throw malformed(e.offset, "is an ERROR entry inside chain \(current!.name)") }
                if i == entries.count - 1 {
                    sawEnd = true
                    continue
                }
                let c = userChains[nextUser]
                nextUser += 1
                guard image.byName.updateValue(c, forKey: c.name) == nil else { throw malformed(e.offset, "declares chain \(c.name) twice") }
                image.existing.append(c)
                current = c
                continue
            }
            guard let chain = current else { throw malformed(e.offset, "is outside every chain") }
            var verdict: RuleVerdict = .target
            var jumpsTo: Chain?
            let t = e.targetOffset
            if e.standard && e.targetSize == 40 {
                let v = i32(e.offset + t + RuleEncoder.headerSize)
                if v < 0 {
                    verdict = .standard(v)
                } else {
                    if Int(v) == e.offset + e.size {
                        verdict = .next
                    } else if let target = startOf[Int(v)] {
                        verdict = .chain(target.name)
                        jumpsTo = target
                    } else {
                        throw malformed(e.offset, "jumps to offset \(v), not to a chain")
                    }
                }
            }
            var rule = Rule(kept: verdict, at: e.offset, size: e.size, targetOffset: e.targetOffset, index: i)
            if chain.hook != nil && isUnderflow(e.offset) {
                guard case .standard = verdict, e.size == standardEntrySize else { throw malformed(e.offset, "is \(chain.name)'s policy but not a verdict") }
                chain.policy = rule
                let counters = UnsafeRawBufferPointer(blob)
                image.policyCounters[Int32(i)] = (counters.loadUnaligned(fromByteOffset: e.offset + 96, as: UInt64.self),
                                                  counters.loadUnaligned(fromByteOffset: e.offset + 104, as: UInt64.self))
                current = nil
            } else if chain.hook == nil && i + 1 < entries.count && entries[i + 1].error {
                // A user-defined chain's end: an unconditional RETURN.
                guard verdict == .standard(-5), e.size == standardEntrySize, e.targetOffset == RuleEncoder.entrySize else {
                    throw malformed(e.offset, "ends chain \(chain.name) but is not a RETURN")
                }
                current = nil
            } else {
                if let target = jumpsTo {
                    target.references += 1
                    rule.target = target
                }
                chain.rules.append(rule)
            }
        }
        guard sawEnd, current == nil else { throw IPTablesError("iptables writer: the kernel's table does not end with its ERROR entry") }
        // The chains jumped to are alive (in `existing` or `userChains`, which a jump only
        // reaches for a chain whose head is in the table) for as long as the image is.
        image.keepAlive = userChains
        return image
    }

    /// Applies one section's operations to `image`, as libiptc applies a restore's lines.
    static func apply(_ operations: [Operation], to image: inout Image) throws(IPTablesError) {
        // A chain's rules come together and many jump to the same chain: the last chain found
        // for each is tried before the table's index.
        var lastOwner: Chain?, lastTarget: Chain?
        func chain(_ name: String, _ last: inout Chain?) throws(IPTablesError) -> Chain {
            if let c = last, !c.deleted, c.name == name { return c }
            guard let c = image.byName[name], !c.deleted else { throw IPTablesError("iptables writer: chain \(name) does not exist") }
            last = c
            return c
        }
        func check(_ rule: EncodedRule) throws(IPTablesError) -> Chain? {
            guard case .chain(let target) = rule.verdict else { return nil }
            let t = try chain(target, &lastTarget)
            guard t.hook == nil else { throw IPTablesError("iptables writer: a jump to built-in chain \(target)") }
            return t
        }
        func unlink(_ rules: [Rule]) {
            for r in rules { r.target?.references -= 1 }
        }
        var declared = 0
        for op in operations { if case .declare = op { declared += 1 } }
        image.byName.reserveCapacity(image.byName.count + declared)
        for op in operations {
            switch op {
            case .declare(let name):
                if let c = image.byName[name], !c.deleted {
                    guard c.hook == nil else { throw IPTablesError("iptables writer: \(name) is a built-in chain") }
                    unlink(c.rules)
                    c.rules.removeAll()
                } else {
                    // A chain deleted earlier in this text is a new one (libiptc inserts it anew).
                    let c = Chain(name: name, hook: nil)
                    if let old = image.byName[name] { c.references = old.references }
                    image.byName[name] = c
                    image.created.append(c)
                }
            case .append(let name, let rule):
                let c = try chain(name, &lastOwner)
                let t = try check(rule)
                t?.references += 1
                c.rules.append(Rule(new: rule, target: t))
            case .insert(let name, let position, let rule):
                let c = try chain(name, &lastOwner)
                guard position <= c.rules.count else { throw IPTablesError("iptables writer: -I \(name) \(position + 1): the chain has \(c.rules.count) rules") }
                let t = try check(rule)
                t?.references += 1
                c.rules.insert(Rule(new: rule, target: t), at: position)
            case .delete(let name, let rule):
                let c = try chain(name, &lastOwner)
                guard let i = c.rules.firstIndex(where: { image.same($0, rule) }) else {
                    throw IPTablesError("iptables writer: -D \(name): no such rule")
                }
                unlink([c.rules[i]])
                c.rules.remove(at: i)
            case .deleteChain(let name):
                let c = try chain(name, &lastOwner)
                guard c.hook == nil else { throw IPTablesError("iptables writer: -X of built-in chain \(name)") }
                guard c.rules.isEmpty else { throw IPTablesError("iptables writer: -X \(name): the chain is not empty") }
                guard c.references == 0 else { throw IPTablesError("iptables writer: -X \(name): \(c.references) rules jump to it") }
                c.deleted = true
            }
        }
    }

    /// The chains in table order: those read where they were (less the deleted), the created
    /// ones merged in by name before the first user-defined chain that does not sort before them.
    static func order(_ image: Image) -> [Chain] {
        func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
        let created = image.created.filter { !$0.deleted }.sorted { less($0.name, $1.name) }
        var out: [Chain] = []
        out.reserveCapacity(image.existing.count + created.count)
        var next = 0
        for c in image.existing where !c.deleted {
            if c.hook == nil {
                while next < created.count && !less(c.name, created[next].name) {
                    out.append(created[next])
                    next += 1
                }
            }
            out.append(c)
        }
        out.append(contentsOf: created[next...])
        return out
    }

    /// The laid-out table: its entries (verdicts resolved), hook entries, underflows, the
    /// number of entries, and for each entry the old entry whose counters it keeps (-1: none).
    /// `reserve`: bytes left zero before the entries (room for the replace's header).
    static func layout(_ image: Image, reserve: Int = 0) throws(IPTablesError) -> (entries: [UInt8], hookEntry: [UInt32], underflow: [UInt32], oldIndex: [Int32]) {
        let chains = order(image)
        // First pass: where each chain starts.
        var offset = 0
        for c in chains {
            if c.hook == nil { offset += errorEntrySize }
            c.start = offset
            c.rules.withUnsafeBufferPointer { rules in for k in rules.indices { offset += Int(rules[k].size) } }
            offset += standardEntrySize
        }
        let size = offset + errorEntrySize
        var blob = [UInt8](repeating: 0, count: reserve + size)
        var hookEntry = [UInt32](repeating: 0, count: 5), underflow = [UInt32](repeating: 0, count: 5)
        var oldIndex: [Int32] = []
        oldIndex.reserveCapacity(chains.count * 3)
        // `offset` is where the next entry goes in `blob`; the table's offsets are from `reserve`.
        offset = reserve
        func put32(_ v: Int32, at: Int) {
            withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 { blob[at + k] = $0[k] } }
        }
        func standardEntry(_ verdict: Int32) {
            blob[offset + 88] = UInt8(RuleEncoder.entrySize)
            blob[offset + 90] = UInt8(standardEntrySize)
            blob[offset + RuleEncoder.entrySize] = 40
            put32(verdict, at: offset + RuleEncoder.entrySize + RuleEncoder.headerSize)
            offset += standardEntrySize
        }
        func errorEntry(_ name: String) {
            blob[offset + 88] = UInt8(RuleEncoder.entrySize)
            blob[offset + 90] = UInt8(errorEntrySize)
            let t = offset + RuleEncoder.entrySize
            blob[t] = 64
            for (k, c) in "ERROR".utf8.enumerated() { blob[t + 2 + k] = c }
            for (k, c) in name.utf8.prefix(29).enumerated() { blob[t + RuleEncoder.headerSize + k] = c }
            offset += errorEntrySize
        }
        for c in chains {
            if let hook = c.hook {
                hookEntry[hook] = UInt32(offset - reserve)
            } else {
                errorEntry(c.name)
                oldIndex.append(-1)
            }
            let rules = c.rules
            for k in rules.indices {
                let size = Int(rules[k].size), rawAt = rules[k].raw
                if rawAt >= 0 {
                    let from = image.base + Int(rawAt)
                    blob.withUnsafeMutableBytes { dst in image.blob.withUnsafeBytes { src in
                        dst.baseAddress!.advanced(by: offset).copyMemory(from: src.baseAddress!.advanced(by: from), byteCount: size)
                    } }
                    // comefrom and the counters as read: the kernel sets both.
                    for k in 92..<112 { blob[offset + k] = 0 }
                } else {
                    blob.withUnsafeMutableBytes { dst in rules[k].rule.bytes.withUnsafeBytes { src in
                        dst.baseAddress!.advanced(by: offset).copyMemory(from: src.baseAddress!, byteCount: size)
                    } }
                }
                let verdictAt = offset + Int(rules[k].targetOffset) + RuleEncoder.headerSize
                switch rules[k].rule.verdict {
                case .chain(let target):
                    guard let t = rules[k].target, !t.deleted else { throw IPTablesError("iptables writer: a jump to deleted chain \(target)") }
                    put32(Int32(t.start), at: verdictAt)
                case .next:
                    put32(Int32(offset - reserve + size), at: verdictAt)
                case .standard(let v):
                    put32(v, at: verdictAt)
                case .target:
                    break
                }
                oldIndex.append(rules[k].oldIndex)
                offset += size
            }
            if let hook = c.hook {
                underflow[hook] = UInt32(offset - reserve)
                guard let policy = c.policy, case .standard(let v) = policy.rule.verdict else {
                    throw IPTablesError("iptables writer: built-in chain \(c.name) has no policy")
                }
                standardEntry(v)
                oldIndex.append(policy.oldIndex)
            } else {
                standardEntry(-5)
                oldIndex.append(-1)
            }
        }
        errorEntry("ERROR")
        oldIndex.append(-1)
        return (blob, hookEntry, underflow, oldIndex)
    }

    // MARK: Writing

    /// `IPT_SO_SET_REPLACE` and `IPT_SO_SET_ADD_COUNTERS` (`IPT_BASE_CTL` 64 and 65, level `SOL_IP`).
    static let setReplace: Int32 = 64
    static let setAddCounters: Int32 = 65
    /// `sizeof(struct ipt_replace)`: name[32], valid_hooks, num_entries, size, hook_entry[5],
    /// underflow[5], num_counters, then the counters pointer (8-aligned, at 88).
    static let replaceHeaderSize = 96
    /// `sizeof(struct xt_counters_info)`: name[32], num_counters, then the counters (8-aligned).
    static let countersHeaderSize = 40

    /// Applies restore text to the kernel's iptables-legacy IPv4 tables in the calling thread's
    /// network namespace (see ``TableWriter``). Throws before writing anything for text it
    /// cannot handle; a table the kernel refuses is not written, and neither are those after it.
    public static func apply(_ text: [UInt8]) throws(Failure) {
        try apply(text, lockPath: XTablesLock.defaultPath, lockWait: 5)
    }

    /// ``apply(_:)`` with the lock file and the longest wait for it given (for tests).
    static func apply(_ text: [UInt8], lockPath: String, lockWait: Double) throws(Failure) {
        let sections: [Section]
        do { sections = try parse(text) } catch { throw Failure(message: error.message, committed: 0) }
        if sections.isEmpty { return }
        let lock: XTablesLock
        do { lock = try XTablesLock.acquire(path: lockPath, waitSeconds: lockWait) } catch { throw Failure(message: error.message, committed: 0) }
        defer { lock.release() }
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_RAW))
        guard fd >= 0 else { throw Failure(message: "iptables writer: socket: \(String(cString: strerror(errno)))", committed: 0) }
        defer { close(fd) }
        for (n, section) in sections.enumerated() {
            do { try write(section, socket: fd) } catch { throw Failure(message: error.message, committed: n) }
        }
    }

    /// Reads, changes and replaces one table; again from the read when the kernel says the
    /// table changed meanwhile (EAGAIN).
    static func write(_ section: Section, socket fd: Int32) throws(IPTablesError) {
        var attempts = 0
        while true {
            attempts += 1
            let raw = try KernelTable.readRaw(section.table, socket: fd)
            var image = try image(raw)
            try apply(section.operations, to: &image)
            // Laid out after room for the replace's header: the entries are not copied again.
            var (replace, hookEntry, underflow, oldIndex) = try layout(image, reserve: replaceHeaderSize)
            let size = replace.count - replaceHeaderSize
            let name = Array(section.table.utf8)
            func put32(_ v: UInt32, at: Int) { withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 { replace[at + k] = $0[k] } } }
            replace.replaceSubrange(0..<name.count, with: name)
            put32(raw.validHooks, at: 32)
            put32(UInt32(oldIndex.count), at: 36)
            put32(UInt32(size), at: 40)
            for h in 0..<5 where raw.validHooks & (1 << h) != 0 {
                put32(hookEntry[h], at: 44 + 4 * h)
                put32(underflow[h], at: 64 + 4 * h)
            }
            put32(UInt32(image.oldEntries), at: 84)
            // The old table's counters, as the kernel hands them back (pcnt, bcnt per entry).
            var oldCounters = [UInt64](repeating: 0, count: 2 * max(image.oldEntries, 1))
            let rc: Int32 = oldCounters.withUnsafeMutableBytes { counters in
                withUnsafeBytes(of: UInt(bitPattern: counters.baseAddress)) { for k in 0..<8 { replace[88 + k] = $0[k] } }
                return replace.withUnsafeBytes { setsockopt(fd, Int32(IPPROTO_IP), setReplace, $0.baseAddress, socklen_t($0.count)) }
            }
            if rc != 0 {
                let err = errno
                if err == EAGAIN && attempts < 5 { continue }
                throw IPTablesError("iptables writer: setsockopt IPT_SO_SET_REPLACE of \(section.table): \(String(cString: strerror(err)))")
            }
            // The kept entries' counters, added to the new table.
            var add = [UInt8](repeating: 0, count: countersHeaderSize + 16 * oldIndex.count)
            add.replaceSubrange(0..<name.count, with: name)
            withUnsafeBytes(of: UInt32(oldIndex.count).littleEndian) { for k in 0..<4 { add[32 + k] = $0[k] } }
            var any = false
            add.withUnsafeMutableBytes { out in
                for (i, old) in oldIndex.enumerated() where old >= 0 && Int(old) < image.oldEntries {
                    var p = oldCounters[2 * Int(old)], b = oldCounters[2 * Int(old) + 1]
                    if let read = image.policyCounters[old] {
                        p &-= read.packets
                        b &-= read.bytes
                    }
                    if p == 0 && b == 0 { continue }
                    any = true
                    out.storeBytes(of: p, toByteOffset: countersHeaderSize + 16 * i, as: UInt64.self)
                    out.storeBytes(of: b, toByteOffset: countersHeaderSize + 16 * i + 8, as: UInt64.self)
                }
            }
            // libiptc adds them even when all are zero; adding zeros changes nothing.
            if any {
                let rc = add.withUnsafeBytes { setsockopt(fd, Int32(IPPROTO_IP), setAddCounters, $0.baseAddress, socklen_t($0.count)) }
                if rc != 0 {
                    throw IPTablesError("iptables writer: setsockopt IPT_SO_SET_ADD_COUNTERS of \(section.table) (the table was replaced): \(String(cString: strerror(errno)))")
                }
            }
            return
        }
    }
}

/// The lock iptables takes around reading and replacing a table: `flock` on
/// `/run/xtables.lock` (or `$XTABLES_LOCKFILE` when set and not empty), the file created
/// read-only with mode 0600 as iptables does, waited for up to 5 seconds as `-w 5`. The lock is
/// held while the file stays open, until ``release()``.
struct XTablesLock {
    let file: SystemFile

    /// Where iptables takes its lock.
    static var defaultPath: String {
        if let set = getenv("XTABLES_LOCKFILE"), set.pointee != 0 { return String(cString: set) }
        return "/run/xtables.lock"
    }

    static func acquire(path: String = defaultPath, waitSeconds: Double = 5) throws(IPTablesError) -> XTablesLock {
        let file: SystemFile
        do { file = try SystemFile.open(path, [.create], mode: 0o600) } catch {
            throw IPTablesError("iptables writer: opening \(path): \(String(cString: strerror(error.errno)))")
        }
        var waited = 0.0, pause = 0.0002
        while true {
            let locked: Bool
            do { locked = try file.lockExclusive() } catch {
                try? file.close()
                throw IPTablesError("iptables writer: locking \(path): \(String(cString: strerror(error.errno)))")
            }
            if locked { return XTablesLock(file: file) }
            if waited >= waitSeconds {
                try? file.close()
                throw IPTablesError("iptables writer: another process holds \(path) (waited \(waitSeconds) s)")
            }
            usleep(UInt32(pause * 1e6))
            waited += pause
            pause = min(pause * 2, 0.05)
        }
    }

    /// Closes the file, which drops the lock.
    func release() {
        try? file.close()
    }
}

extension TableWriter {
    /// The text after its first `committed` COMMIT lines (the tables ``apply(_:)`` did not write).
    public static func remainder(_ text: [UInt8], after committed: Int) -> [UInt8] {
        if committed == 0 { return text }
        var seen = 0, start = 0
        while start < text.count {
            var end = start
            while end < text.count && text[end] != 0x0A { end += 1 }
            let line = text[start..<end]
            start = end + 1
            if line.elementsEqual("COMMIT".utf8) || line.elementsEqual("COMMIT\r".utf8) {
                seen += 1
                if seen == committed { return Array(text[min(start, text.count)...]) }
            }
        }
        return []
    }
}

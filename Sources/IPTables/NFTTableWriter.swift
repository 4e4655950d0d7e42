#if canImport(Glibc)
import Glibc
#endif
internal import CMnl
internal import CNftnl
import NFTables

/// Writes iptables-nft's IPv4 tables from restore text, as `iptables-nft-restore --noflush`
/// (iptables 1.8.9) does, without the tool: the text is parsed and every rule encoded by
/// ``TableWriter``'s parser and ``RuleEncoder`` (the xt bytes iptables-legacy would load), each
/// rule is turned into the nf_tables expressions iptables-nft 1.8.9 writes for it, and the whole
/// text goes to the kernel as ONE nf_tables batch (atomic: nothing is half-applied).
///
/// What iptables-nft writes (docs/proxy-bench-iptables.md, session 12; iptables/nft.c,
/// nft-ipv4.c, nft-shared.c of 1.8.9): per rule, in this order, `-i` and `-o` (meta
/// iifname/oifname, cmp of the name and its NUL, or of the name before a trailing `+`), `-p`
/// (meta l4proto, cmp), `-s` and `-d` (payload of the address's bytes the prefix covers and a
/// cmp; a bitwise for a mask that is not whole bytes), the rule's compat attribute (protocol and
/// its inversion, for the xt matches); then each match in the text's order — `tcp`/`udp` with
/// ports as payload/cmp/range expressions (the xt match when it has no ports), `mark` as meta
/// mark/bitwise/cmp, every other one as an nft_compat `match` (name, revision, the xt info
/// bytes) —; a counter; then the verdict (immediate accept/drop/return/jump/goto) or an
/// nft_compat `target` (MARK, MASQUERADE, DNAT, REJECT). Tables `ip nat` and `ip filter` are
/// created when missing; a built-in chain (base chain: its hook, priority, type, policy
/// accept) when a rule is added to it and its hook has none; `:CHAIN - [0:0]` creates a chain
/// (`NLM_F_EXCL`) or flushes it; `-X` deletes a chain (`NLM_F_NONREC`); `-D` deletes the
/// first rule with the same expressions (the kernel's rules of that chain are read);
/// `-I CHAIN 1` inserts at the top, `-I CHAIN N` before the N-th rule.
///
/// The batch carries the ruleset generation the reads saw (as iptables-nft does): when
/// another process changed the ruleset in between, the kernel refuses it (`ERESTART`) and the
/// reads and the batch are made again. Input outside the grammar is an error before anything
/// is sent; an error from the kernel names the line whose message it refused.
public enum NFTTableWriter {
    /// A built-in chain of iptables-nft's tables (iptables/nft.c, `xtables_ipv4`).
    struct Builtin {
        let name: String
        let hook: UInt32
        let priority: Int32
    }

    static func builtins(_ table: String) -> [Builtin] {
        switch table {
        case "nat":
            [Builtin(name: "PREROUTING", hook: 0, priority: -100), Builtin(name: "INPUT", hook: 1, priority: 100),
             Builtin(name: "OUTPUT", hook: 3, priority: -100), Builtin(name: "POSTROUTING", hook: 4, priority: 100)]
        case "filter":
            [Builtin(name: "INPUT", hook: 1, priority: 0), Builtin(name: "FORWARD", hook: 2, priority: 0), Builtin(name: "OUTPUT", hook: 3, priority: 0)]
        default: []
        }
    }

    /// NFPROTO_IPV4.
    static let family: UInt16 = 2

    /// Applies restore text (tables nat and filter) to the calling thread's network namespace.
    public static func apply(_ text: [UInt8]) throws(IPTablesError) {
        _ = try apply(text, staleGenerations: 0)
    }

    /// ``apply(_:)``, returning how many batches it sent. For tests, the first
    /// `staleGenerations` batches carry an older ruleset generation than the one read, as if
    /// another process had changed the ruleset meanwhile: the kernel refuses them (ERESTART).
    package static func apply(_ text: [UInt8], staleGenerations: Int) throws(IPTablesError) -> Int {
        let sections = try TableWriter.parse(text)
        if sections.allSatisfy({ $0.operations.isEmpty }) { return 0 }
        let nl: OpaquePointer
        do { nl = try Socket.open() } catch { throw IPTablesError("iptables-nft writer: \(error)") }
        defer { mnl_socket_close(nl) }
        var seq: UInt32 = 1
        var attempt = 0
        while true {
            attempt += 1
            do throws(Restart) {
                try apply(sections, text: text, through: nl, seq: &seq, stale: attempt <= staleGenerations)
                return attempt
            } catch {
                if let e = error.underlying { throw e }
                // Another process changed the ruleset between the reads and the batch.
                if attempt >= 5 { throw IPTablesError("iptables-nft writer: the ruleset kept changing while the batch was built (5 tries)") }
            }
        }
    }

    /// The ruleset generation changed under a batch: read and build it again.
    struct Restart: Error {
        var underlying: IPTablesError?
    }

    /// What the kernel has of one table, as far as the text needs it, and what the batch did to it.
    final class TableState {
        let name: String
        let builtins: [Builtin]
        var exists = false
        /// Hooks with a base chain.
        var hooks: Set<UInt32> = []
        /// Every chain by name (base chains too).
        var chains: Set<String> = []
        /// The rules of chains whose rules are known (read from the kernel, flushed or created
        /// in this batch), in order.
        var rules: [String: [KnownRule]] = [:]

        init(name: String) {
            self.name = name
            builtins = NFTTableWriter.builtins(name)
        }
    }

    enum KnownRule {
        /// A rule in the kernel (its handle, its message).
        case kernel(KernelRule)
        /// A rule this batch adds: its NFTA_RULE_ID (it has no handle yet) and the rule.
        case added(UInt32, EncodedRule)
    }

    /// A rule read from the kernel: its handle and its message, whose ``key(_:)`` is made
    /// only when a `-D` needs it and the message holds the deleted rule's distinctive bytes.
    final class KernelRule {
        let handle: UInt64
        let raw: [UInt8]
        private var cached: String?

        init(handle: UInt64, raw: [UInt8]) {
            self.handle = handle
            self.raw = raw
        }

        /// Whether the message holds every one of `needles` (byte strings).
        func contains(_ needles: [[UInt8]]) -> Bool {
            raw.withUnsafeBytes { hay in
                needles.allSatisfy { n in n.withUnsafeBytes { Self.find($0, in: hay) } }
            }
        }

        /// Whether `needle` (not empty) occurs in `hay`: memchr for its first byte, then memcmp.
        static func find(_ needle: UnsafeRawBufferPointer, in hay: UnsafeRawBufferPointer) -> Bool {
            guard needle.count > 0, needle.count <= hay.count, let h = hay.baseAddress, let n = needle.baseAddress else { return needle.isEmpty }
            let first = Int32(needle[0])
            var at = 0
            let last = hay.count - needle.count
            while at <= last {
                guard let p = memchr(h + at, first, last - at + 1) else { return false }
                let i = p - UnsafeMutableRawPointer(mutating: h)
                if memcmp(h + i, n, needle.count) == 0 { return true }
                at = i + 1
            }
            return false
        }

        var key: String {
            if let cached { return cached }
            let r = nftnl_rule_alloc()!
            defer { nftnl_rule_free(r) }
            let k = raw.withUnsafeBytes { b -> String in
                nftnl_rule_nlmsg_parse(b.baseAddress!.assumingMemoryBound(to: nlmsghdr.self), r) >= 0 ? NFTTableWriter.key(r) : "(unparsable)"
            }
            cached = k
            return k
        }
    }

    /// What a message of the batch does, for the error naming it.
    enum Step: String {
        case createTable = "create table"
        case createBuiltinChain = "create built-in chain"
        case createChain = "create chain"
        case flushChain = "flush chain"
        case addRule = "add rule"
        case insertRule = "insert rule"
        case deleteRule = "delete rule"
        case deleteChain = "delete chain"
    }

    /// A message of the batch: the line it comes from and what it does.
    struct Origin {
        /// Index of the operation (a line of the text), or -1 for none.
        var operation: Int32
        var step: Step
    }

    static func apply(_ sections: [TableWriter.Section], text: [UInt8], through nl: OpaquePointer, seq: inout UInt32, stale: Bool) throws(Restart) {
        do {
            let genid = try generation(nl, seq: &seq) &- (stale ? 1 : 0)
            var states: [String: TableState] = [:]
            for s in sections where states[s.table] == nil && !s.operations.isEmpty {
                // The chains the text names in this table: asked for by name when they are
                // few (a partial sync), else every chain of the table is read.
                var names = Set<String>()
                for section in sections where section.table == s.table {
                    for op in section.operations {
                        switch op {
                        case .declare(let c), .append(let c, _), .insert(let c, _, _), .delete(let c, _), .deleteChain(let c): names.insert(c)
                        }
                        if names.count > chainsAskedByName { break }
                    }
                }
                states[s.table] = try readTable(s.table, names: names.count > chainsAskedByName ? nil : names, nl, seq: &seq)
            }
            var batch = BatchBuffer()
            if seq > 1 << 30 { seq = 1 }
            let beginSeq = seq
            batch.append { [seq] buf in
                let nlh = nftnl_batch_begin(buf, seq)!
                // NFNL_BATCH_GENID: the kernel refuses the batch (ERESTART) if the ruleset changed.
                mnl_attr_put_u32(nlh, 1, genid.bigEndian)
                return nlh
            }
            seq += 1
            let firstSeq = seq
            var origins: [Origin] = []
            var opIndex: Int32 = -1
            var ruleID: UInt32 = 0
            /// Gives a new rule its NFTA_RULE_ID, which later messages of the batch refer to it by.
            func nextRuleID(_ r: OpaquePointer) -> UInt32 {
                ruleID += 1
                nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_ID.rawValue), ruleID)
                return ruleID
            }
            func emit(_ step: Step, _ build: (UnsafeMutablePointer<CChar>, UInt32) -> UnsafeMutablePointer<nlmsghdr>?) {
                let s = seq
                batch.append { build($0, s) }
                origins.append(Origin(operation: opIndex, step: step))
                seq += 1
            }
            for section in sections {
                guard let t = states[section.table] else { continue }
                let table = t.name
                func ensureTable() {
                    if t.exists { return }
                    emit(.createTable) { buf, s in
                        let tb = nftnl_table_alloc()!
                        defer { nftnl_table_free(tb) }
                        nftnl_table_set_u32(tb, UInt16(NFTNL_TABLE_FAMILY.rawValue), UInt32(family))
                        nftnl_table_set_str(tb, UInt16(NFTNL_TABLE_NAME.rawValue), table)
                        let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_NEWTABLE.rawValue), family, UInt16(NLM_F_CREATE), s)
                        nftnl_table_nlmsg_build_payload(nlh, tb)
                        return nlh
                    }
                    t.exists = true
                }
                /// A rule goes into `chain`: its base chain is created when it is a built-in one
                /// whose hook has none (nft_xt_builtin_init).
                func ensureChain(_ chain: String) throws(IPTablesError) {
                    ensureTable()
                    if let b = t.builtins.first(where: { $0.name == chain }), !t.hooks.contains(b.hook) {
                        emit(.createBuiltinChain) { buf, s in
                            withChain(table, chain) { c in
                                nftnl_chain_set_u32(c, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue), b.hook)
                                nftnl_chain_set_s32(c, UInt16(NFTNL_CHAIN_PRIO.rawValue), b.priority)
                                nftnl_chain_set_u32(c, UInt16(NFTNL_CHAIN_POLICY.rawValue), 1)  // NF_ACCEPT
                                nftnl_chain_set_str(c, UInt16(NFTNL_CHAIN_TYPE.rawValue), table)
                                let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_NEWCHAIN.rawValue), family, UInt16(NLM_F_CREATE), s)
                                nftnl_chain_nlmsg_build_payload(nlh, c)
                                return nlh
                            }
                        }
                        t.hooks.insert(b.hook)
                        t.chains.insert(chain)
                        t.rules[chain] = []
                    }
                    guard t.chains.contains(chain) else { throw IPTablesError("iptables-nft writer: chain \(chain) does not exist in table \(table)") }
                }
                /// The rules of `chain`, read from the kernel the first time they are needed.
                func knownRules(_ chain: String) throws(IPTablesError) -> [KnownRule] {
                    if let r = t.rules[chain] { return r }
                    guard t.chains.contains(chain) else { throw IPTablesError("iptables-nft writer: chain \(chain) does not exist in table \(table)") }
                    let r = try readRules(table, chain, nl, seq: &seq)
                    t.rules[chain] = r
                    return r
                }
                for op in section.operations {
                    opIndex += 1
                    switch op {
                    case .declare(let chain):
                        ensureTable()
                        if t.chains.contains(chain) {
                            emit(.flushChain) { buf, s in flushMessage(buf, s, table, chain) }
                        } else {
                            emit(.createChain) { buf, s in
                                withChain(table, chain) { c in
                                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_NEWCHAIN.rawValue), family, UInt16(NLM_F_EXCL), s)
                                    nftnl_chain_nlmsg_build_payload(nlh, c)
                                    return nlh
                                }
                            }
                            t.chains.insert(chain)
                        }
                        t.rules[chain] = []
                    case .append(let chain, let rule):
                        try ensureChain(chain)
                        let r = try newRule(rule, table: table, chain: chain)
                        defer { nftnl_rule_free(r) }
                        let id = nextRuleID(r)
                        emit(.addRule) { buf, s in ruleMessage(buf, s, r, flags: UInt16(NLM_F_CREATE | NLM_F_APPEND)) }
                        t.rules[chain]?.append(.added(id, rule))
                    case .insert(let chain, let position, let rule):
                        try ensureChain(chain)
                        let r = try newRule(rule, table: table, chain: chain)
                        defer { nftnl_rule_free(r) }
                        let id = nextRuleID(r)
                        if position == 0 {
                            emit(.insertRule) { buf, s in ruleMessage(buf, s, r, flags: UInt16(NLM_F_CREATE)) }
                            t.rules[chain]?.insert(.added(id, rule), at: 0)
                        } else {
                            let known = try knownRules(chain)
                            if position == known.count {
                                // iptables allows inserting at the position after the last rule: an append.
                                emit(.insertRule) { buf, s in ruleMessage(buf, s, r, flags: UInt16(NLM_F_CREATE | NLM_F_APPEND)) }
                                t.rules[chain]!.append(.added(id, rule))
                            } else if position < known.count {
                                // Before the rule at `position`: by handle, or by the ID of a rule this batch adds.
                                switch known[position] {
                                case .kernel(let k): nftnl_rule_set_u64(r, UInt16(NFTNL_RULE_POSITION.rawValue), k.handle)
                                case .added(let other, _): nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_POSITION_ID.rawValue), other)
                                }
                                emit(.insertRule) { buf, s in ruleMessage(buf, s, r, flags: UInt16(NLM_F_CREATE)) }
                                t.rules[chain]!.insert(.added(id, rule), at: position)
                            } else {
                                throw IPTablesError("iptables-nft writer: -I \(chain) \(position + 1): the chain has \(known.count) rules")
                            }
                        }
                    case .delete(let chain, let rule):
                        let known = try knownRules(chain)
                        let (wanted, needles) = try ruleKey(rule)
                        var found: (Int, KnownRule)?
                        for (i, k) in known.enumerated() {
                            let same: Bool
                            switch k {
                            case .kernel(let have): same = have.contains(needles) && have.key == wanted
                            case .added(_, let added): same = try ruleKey(added).0 == wanted
                            }
                            if same {
                                found = (i, k)
                                break
                            }
                        }
                        guard let (index, match) = found else {
                            throw IPTablesError("iptables-nft writer: -D \(chain): no such rule in table \(table)")
                        }
                        emit(.deleteRule) { buf, s in
                            withRule(table, chain) { d in
                                switch match {
                                case .kernel(let k): nftnl_rule_set_u64(d, UInt16(NFTNL_RULE_HANDLE.rawValue), k.handle)
                                case .added(let id, _): nftnl_rule_set_u32(d, UInt16(NFTNL_RULE_ID.rawValue), id)
                                }
                                let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_DELRULE.rawValue), family, 0, s)
                                nftnl_rule_nlmsg_build_payload(nlh, d)
                                return nlh
                            }
                        }
                        t.rules[chain]!.remove(at: index)
                    case .deleteChain(let chain):
                        if t.builtins.contains(where: { $0.name == chain }) {
                            throw IPTablesError("iptables-nft writer: -X of built-in chain \(chain)")
                        }
                        guard t.chains.contains(chain) else { throw IPTablesError("iptables-nft writer: -X \(chain): no such chain in table \(table)") }
                        emit(.deleteChain) { buf, s in
                            withChain(table, chain) { c in
                                // NLM_F_NONREC: a chain that still has rules is not deleted (EBUSY).
                                let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_DELCHAIN.rawValue), family, 0x100, s)
                                nftnl_chain_nlmsg_build_payload(nlh, c)
                                return nlh
                            }
                        }
                        t.chains.remove(chain)
                        t.rules[chain] = nil
                    }
                }
            }
            if origins.isEmpty { return }
            let lastSeq = seq - 1
            batch.setAckFlagOnLastMessage()
            batch.append { [seq] in nftnl_batch_end($0, seq) }
            seq += 1
            do {
                try Socket.send(batch: batch, through: nl, seqs: beginSeq...lastSeq) { s in
                    if s == beginSeq { return "the batch" }
                    let i = Int(s) - Int(firstSeq)
                    guard i >= 0, i < origins.count else { return "message \(s)" }
                    let o = origins[i]
                    return "\(o.step.rawValue) for line \(lineText(text, operation: Int(o.operation)))"
                }
            } catch {
                if error.errno == ERESTART { throw Restart(underlying: nil) }
                throw IPTablesError("iptables-nft writer: \(error)")
            }
        } catch let e as Restart {
            throw e
        } catch let e as IPTablesError {
            throw Restart(underlying: e)
        } catch {
            throw Restart(underlying: IPTablesError("iptables-nft writer: \(error)"))
        }
    }

    /// The text of the line of operation `index` (the `index`-th line that is neither blank, a
    /// comment, a table's start nor COMMIT: ``TableWriter/parse(_:)`` makes one operation of each).
    static func lineText(_ text: [UInt8], operation index: Int) -> String {
        guard index >= 0 else { return "(none)" }
        var seen = -1, number = 0
        for line in text.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            guard let first = line.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
            if first == UInt8(ascii: "#") || first == UInt8(ascii: "*") { continue }
            if line.elementsEqual("COMMIT".utf8) { continue }
            seen += 1
            if seen == index { return "\(number): \(String(decoding: line, as: UTF8.self))" }
        }
        return "(operation \(index))"
    }

    // MARK: Messages

    static func withChain(_ table: String, _ name: String, _ body: (OpaquePointer) -> UnsafeMutablePointer<nlmsghdr>?) -> UnsafeMutablePointer<nlmsghdr>? {
        let c = nftnl_chain_alloc()!
        defer { nftnl_chain_free(c) }
        nftnl_chain_set_u32(c, UInt16(NFTNL_CHAIN_FAMILY.rawValue), UInt32(family))
        nftnl_chain_set_str(c, UInt16(NFTNL_CHAIN_TABLE.rawValue), table)
        nftnl_chain_set_str(c, UInt16(NFTNL_CHAIN_NAME.rawValue), name)
        return body(c)
    }

    static func withRule(_ table: String, _ chain: String, _ body: (OpaquePointer) -> UnsafeMutablePointer<nlmsghdr>?) -> UnsafeMutablePointer<nlmsghdr>? {
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_FAMILY.rawValue), UInt32(family))
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_TABLE.rawValue), table)
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)
        return body(r)
    }

    static func flushMessage(_ buf: UnsafeMutablePointer<CChar>, _ s: UInt32, _ table: String, _ chain: String) -> UnsafeMutablePointer<nlmsghdr>? {
        withRule(table, chain) { r in
            let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_DELRULE.rawValue), family, 0, s)
            nftnl_rule_nlmsg_build_payload(nlh, r)
            return nlh
        }
    }

    static func ruleMessage(_ buf: UnsafeMutablePointer<CChar>, _ s: UInt32, _ r: OpaquePointer, flags: UInt16) -> UnsafeMutablePointer<nlmsghdr>? {
        let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_NEWRULE.rawValue), family, flags, s)
        nftnl_rule_nlmsg_build_payload(nlh, r)
        return nlh
    }

    // MARK: Rules

    /// ``key(_:)`` of `rule`, and byte strings any message of an equal rule holds (its
    /// compat matches' and target's info up to the trailing zeros, its jump's chain name): a
    /// cheap test before a kernel rule's key is made.
    static func ruleKey(_ rule: EncodedRule) throws(IPTablesError) -> (String, [[UInt8]]) {
        let r = try newRule(rule, table: "", chain: "")
        defer { nftnl_rule_free(r) }
        var needles: [[UInt8]] = []
        if let it = nftnl_expr_iter_create(r) {
            defer { nftnl_expr_iter_destroy(it) }
            while let e = nftnl_expr_iter_next(it) {
                let name = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? ""
                var length: UInt32 = 0
                if name == "match" || name == "target", let p = nftnl_expr_get(e, UInt16(name == "match" ? NFTNL_EXPR_MT_INFO : NFTNL_EXPR_TG_INFO), &length) {
                    var bytes = Array(UnsafeRawBufferPointer(start: p, count: Int(length)))
                    while bytes.last == 0 { bytes.removeLast() }
                    if !bytes.isEmpty { needles.append(bytes) }
                } else if name == "immediate", nftnl_expr_is_set(e, UInt16(NFTNL_EXPR_IMM_CHAIN)), let c = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_IMM_CHAIN)) {
                    needles.append(Array(String(cString: c).utf8))
                }
            }
        }
        return (key(r), needles)
    }

    /// Frees a rule made by ``newRule(_:table:chain:)``.
    static func free(_ r: OpaquePointer) { nftnl_rule_free(r) }

    /// A new libnftnl rule (the caller frees it) for `rule` in `table`/`chain`.
    static func newRule(_ rule: EncodedRule, table: String, chain: String) throws(IPTablesError) -> OpaquePointer {
        let r = nftnl_rule_alloc()!
        nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_FAMILY.rawValue), UInt32(family))
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_TABLE.rawValue), table)
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)
        do {
            try addExpressions(rule, to: r)
        } catch {
            nftnl_rule_free(r)
            throw error
        }
        return r
    }

    private static func expr(_ name: String, _ r: OpaquePointer, _ configure: (OpaquePointer) -> Void) {
        let e = nftnl_expr_alloc(name)!
        configure(e)
        nftnl_rule_add_expr(r, e)
    }

    private static func setBytes(_ e: OpaquePointer, _ attr: Int, _ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { _ = nftnl_expr_set(e, UInt16(attr), $0.baseAddress, UInt32($0.count)) }
    }

    private static func meta(_ key: UInt32, _ r: OpaquePointer) {
        expr("meta", r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_META_KEY), key)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_META_DREG), 1)
        }
    }

    private static func payload(_ base: UInt32, offset: UInt32, length: Int, _ r: OpaquePointer) {
        expr("payload", r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_BASE), base)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_DREG), 1)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_LEN), UInt32(length))
        }
    }

    private static func cmp(_ op: nft_cmp_ops, _ data: ArraySlice<UInt8>, _ r: OpaquePointer) {
        expr("cmp", r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_CMP_SREG), 1)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_CMP_OP), op.rawValue)
            setBytes(e, NFTNL_EXPR_CMP_DATA, data)
        }
    }

    private static func bitwise(mask: ArraySlice<UInt8>, _ r: OpaquePointer) {
        expr("bitwise", r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_BITWISE_SREG), 1)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_BITWISE_DREG), 1)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
            setBytes(e, NFTNL_EXPR_BITWISE_MASK, mask)
            setBytes(e, NFTNL_EXPR_BITWISE_XOR, ArraySlice(repeating: 0, count: mask.count))
        }
    }

    /// An nft_compat match or target: name, revision and the xt info (libnftnl keeps and frees it).
    private static func compat(_ kind: String, name: ArraySlice<UInt8>, revision: UInt8, info: ArraySlice<UInt8>, _ r: OpaquePointer) {
        let target = kind == "target"
        expr(kind, r) { e in
            name.withUnsafeBytes { _ = nftnl_expr_set(e, UInt16(target ? NFTNL_EXPR_TG_NAME : NFTNL_EXPR_MT_NAME), $0.baseAddress, UInt32($0.count)) }
            nftnl_expr_set_u32(e, UInt16(target ? NFTNL_EXPR_TG_REV : NFTNL_EXPR_MT_REV), UInt32(revision))
            let copy = malloc(max(info.count, 1))!
            info.withUnsafeBytes { if $0.count > 0 { copy.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            _ = nftnl_expr_set(e, UInt16(target ? NFTNL_EXPR_TG_INFO : NFTNL_EXPR_MT_INFO), copy, UInt32(info.count))
        }
    }

    private static func be16(_ v: UInt16) -> ArraySlice<UInt8> { [UInt8(v >> 8), UInt8(v & 0xFF)] }

    /// The expressions of `rule` (``EncodedRule``'s bytes: `struct ipt_entry`, matches, target)
    /// as iptables-nft 1.8.9's nft_ipv4_add writes them, and the rule's compat attribute.
    static func addExpressions(_ rule: EncodedRule, to r: OpaquePointer) throws(IPTablesError) {
        let b = rule.bytes
        guard b.count >= RuleEncoder.entrySize else { throw IPTablesError("iptables-nft writer: a rule of \(b.count) bytes") }
        func u16(_ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
        let flags = b[82], inv = b[83]
        if flags & 0x01 != 0 { throw IPTablesError("iptables-nft writer: -f is not written") }
        // -i, -o
        for (at, key, bit) in [(16, NFT_META_IIFNAME, UInt8(0x01)), (32, NFT_META_OIFNAME, UInt8(0x02))] {
            let end = b[at..<(at + 16)].firstIndex(of: 0) ?? (at + 16)
            guard end > at else { continue }
            let name = b[at..<end]
            let op = inv & bit != 0 ? NFT_CMP_NEQ : NFT_CMP_EQ
            meta(key.rawValue, r)
            if name.last == UInt8(ascii: "+") {
                if name.count > 1 {
                    cmp(op, name.dropLast(), r)
                } else if op != NFT_CMP_EQ {
                    cmp(NFT_CMP_EQ, ArraySlice("INVAL/D\0".utf8), r)
                }
            } else {
                cmp(op, ArraySlice(name) + [0], r)
            }
        }
        // -p
        let proto = u16(80)
        let protoInverted = inv & 0x40 != 0
        if proto != 0 {
            meta(NFT_META_L4PROTO.rawValue, r)
            cmp(protoInverted ? NFT_CMP_NEQ : NFT_CMP_EQ, [UInt8(truncatingIfNeeded: proto)], r)
        }
        // -s, -d
        for (addr, mask, offset, bit) in [(0, 8, UInt32(12), UInt8(0x08)), (4, 12, UInt32(16), UInt8(0x10))] {
            let a = b[addr..<(addr + 4)], m = b[mask..<(mask + 4)]
            let inverted = inv & bit != 0
            guard a.contains(where: { $0 != 0 }) || m.contains(where: { $0 != 0 }) || inverted else { continue }
            var i = 0
            var needsBitwise = false
            while i < 4 {
                if m[mask + i] != 0xFF {
                    needsBitwise = m[mask + i] != 0
                    break
                }
                i += 1
            }
            var j = i + 1
            while !needsBitwise && j < 4 {
                needsBitwise = m[mask + j] != 0
                j += 1
            }
            let length = needsBitwise ? 4 : i
            guard length > 0 else { throw IPTablesError("iptables-nft writer: a negated /0 address") }
            payload(NFT_PAYLOAD_NETWORK_HEADER.rawValue, offset: offset, length: length, r)
            if needsBitwise { bitwise(mask: m, r) }
            cmp(inverted ? NFT_CMP_NEQ : NFT_CMP_EQ, a.prefix(length), r)
        }
        nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_COMPAT_PROTO.rawValue), UInt32(proto))
        nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_COMPAT_FLAGS.rawValue), protoInverted ? NFT_RULE_COMPAT_F_INV.rawValue : 0)
        // Matches, in the text's order.
        let targetOffset = rule.targetOffset
        var at = RuleEncoder.entrySize
        while at < targetOffset {
            let size = Int(u16(at))
            guard size >= RuleEncoder.headerSize, at + size <= targetOffset else { throw IPTablesError("iptables-nft writer: a match of \(size) bytes") }
            let nameEnd = b[(at + 2)..<(at + 31)].firstIndex(of: 0) ?? (at + 31)
            let name = b[(at + 2)..<nameEnd]
            let revision = b[at + 31]
            let data = b[(at + RuleEncoder.headerSize)..<(at + size)]
            let d = data.startIndex
            func port(_ k: Int) -> UInt16 { u16(d + k) }
            if name.elementsEqual("tcp".utf8) || name.elementsEqual("udp".utf8) {
                let tcp = name.first == UInt8(ascii: "t")
                // xt_tcp: spts 0, dpts 4, option 8, flg_mask 9, flg_cmp 10, invflags 11 (12 bytes);
                // xt_udp: spts 0, dpts 4, invflags 8 (10 bytes with padding).
                let structSize = tcp ? 12 : 10
                let invflags = data[d + (tcp ? 11 : 8)]
                let allDefault = port(0) == 0 && port(2) == 0xFFFF && port(4) == 0 && port(6) == 0xFFFF
                    && data[(d + 8)..<(d + structSize)].allSatisfy { $0 == 0 }
                let exotic = tcp ? (invflags & ~0x07 != 0 || data[d + 8] != 0) : invflags > 0x03
                if allDefault || exotic {
                    compat("match", name: name, revision: revision, info: data, r)
                } else {
                    guard proto == (tcp ? 6 : 17), !protoInverted else { throw IPTablesError("iptables-nft writer: -m \(tcp ? "tcp" : "udp") without -p \(tcp ? "tcp" : "udp")") }
                    if tcp && data[d + 9] != 0 { throw IPTablesError("iptables-nft writer: --tcp-flags is not written") }
                    ports(source: (port(0), port(2)), invertSource: invflags & 0x01 != 0,
                          destination: (port(4), port(6)), invertDestination: invflags & 0x02 != 0, r)
                }
            } else if name.elementsEqual("mark".utf8) && revision == 1 {
                // xt_mark_mtinfo1: mark 0, mask 4, invert 8 (host order).
                meta(NFT_META_MARK.rawValue, r)
                let mask = data[(d + 4)..<(d + 8)]
                if !mask.allSatisfy({ $0 == 0xFF }) { bitwise(mask: mask, r) }
                cmp(data[d + 8] != 0 ? NFT_CMP_NEQ : NFT_CMP_EQ, data[d..<(d + 4)], r)
            } else {
                compat("match", name: name, revision: revision, info: data, r)
            }
            at += size
        }
        expr("counter", r) { e in
            nftnl_expr_set_u64(e, UInt16(NFTNL_EXPR_CTR_PACKETS), 0)
            nftnl_expr_set_u64(e, UInt16(NFTNL_EXPR_CTR_BYTES), 0)
        }
        func verdict(_ code: Int32, chain: String? = nil) {
            expr("immediate", r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_IMM_DREG), 0)  // NFT_REG_VERDICT
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: code))
                if let chain { nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_IMM_CHAIN), chain) }
            }
        }
        switch rule.verdict {
        case .standard(-2): verdict(1)       // NF_ACCEPT
        case .standard(-1): verdict(0)       // NF_DROP
        case .standard(-5): verdict(-5)      // NFT_RETURN
        case .standard(let v): throw IPTablesError("iptables-nft writer: verdict \(v)")
        case .chain(let name): verdict(flags & 0x02 != 0 ? -4 : -3, chain: name)  // NFT_GOTO, NFT_JUMP
        case .next: break
        case .target:
            let size = Int(u16(targetOffset))
            guard size >= RuleEncoder.headerSize, targetOffset + size <= b.count else { throw IPTablesError("iptables-nft writer: a target of \(size) bytes") }
            let nameEnd = b[(targetOffset + 2)..<(targetOffset + 31)].firstIndex(of: 0) ?? (targetOffset + 31)
            compat("target", name: b[(targetOffset + 2)..<nameEnd], revision: b[targetOffset + 31],
                   info: b[(targetOffset + RuleEncoder.headerSize)..<(targetOffset + size)], r)
        }
    }

    /// Ports as iptables-nft's add_nft_tcpudp writes them: both single and inverted alike in one
    /// 4-byte compare; otherwise each side that is not 0:65535 as its own payload and compare.
    private static func ports(source: (UInt16, UInt16), invertSource: Bool, destination: (UInt16, UInt16), invertDestination: Bool, _ r: OpaquePointer) {
        let transport = NFT_PAYLOAD_TRANSPORT_HEADER.rawValue
        if source.0 != 0 && source.0 == source.1 && destination.0 != 0 && destination.0 == destination.1 && invertSource == invertDestination {
            payload(transport, offset: 0, length: 4, r)
            cmp(invertSource ? NFT_CMP_NEQ : NFT_CMP_EQ, be16(source.0) + be16(destination.0), r)
            return
        }
        for (offset, range, invert) in [(UInt32(0), source, invertSource), (UInt32(2), destination, invertDestination)] where range.0 != 0 || range.1 < 0xFFFF {
            payload(transport, offset: offset, length: 2, r)
            if range.0 == range.1 {
                cmp(invert ? NFT_CMP_NEQ : NFT_CMP_EQ, be16(range.0), r)
            } else if range.0 == 0 && range.1 < 0xFFFF {
                cmp(invert ? NFT_CMP_GT : NFT_CMP_LTE, be16(range.1), r)
            } else {
                expr("range", r) { e in
                    nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_RANGE_SREG), 1)
                    nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_RANGE_OP), invert ? NFT_RANGE_NEQ.rawValue : NFT_RANGE_EQ.rawValue)
                    setBytes(e, NFTNL_EXPR_RANGE_FROM_DATA, be16(range.0))
                    setBytes(e, NFTNL_EXPR_RANGE_TO_DATA, be16(range.1))
                }
            }
        }
    }

    /// A rule's expressions as text, to tell equal rules: each as libnftnl prints it (nft
    /// --debug=netlink's lines), a counter without its values, a match's or target's info in hex.
    static func key(_ r: OpaquePointer) -> String {
        var out = ""
        forEachExpression(r) { e, name, line in
            if name == "counter" {
                out += "[ counter ]"
                return
            }
            out += line
            if name == "match" || name == "target" {
                var length: UInt32 = 0
                if let p = nftnl_expr_get(e, UInt16(name == "match" ? NFTNL_EXPR_MT_INFO : NFTNL_EXPR_TG_INFO), &length) {
                    let bytes = UnsafeRawBufferPointer(start: p, count: Int(length))
                    out += " info " + bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
                }
            }
        }
        return out
    }

    /// Calls `body` with each expression of rule `r`, in order: the expression, its name, and
    /// the line nft --debug=netlink prints of it (libnftnl's text, `[ name attributes ]`; `?`
    /// after it when libnftnl fails).
    static func forEachExpression(_ r: OpaquePointer, _ body: (OpaquePointer, String, String) -> Void) {
        guard let it = nftnl_expr_iter_create(r) else { return }
        defer { nftnl_expr_iter_destroy(it) }
        var buffer = [CChar](repeating: 0, count: 1024)
        while let e = nftnl_expr_iter_next(it) {
            let name = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? ""
            let n = buffer.withUnsafeMutableBufferPointer { nftnl_expr_snprintf($0.baseAddress, $0.count, e, UInt32(NFTNL_OUTPUT_DEFAULT.rawValue), 0) }
            let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.trimmingSpaces
            body(e, name, "[ " + name + " " + text + " ]" + (n < 0 ? "?" : ""))
        }
    }

    /// Each expression of the rule `arguments` (what follows `-A CHAIN`) as `nft --debug=netlink`
    /// prints it: ``key(_:)``'s pieces, without the match and target info bytes, the counter
    /// with its values.
    package static func expressions(_ arguments: String) throws(IPTablesError) -> [String] {
        let encoded = try RuleEncoder.encode(line: arguments)
        let r = try newRule(encoded, table: "filter", chain: "X")
        defer { nftnl_rule_free(r) }
        var out: [String] = []
        forEachExpression(r) { _, _, line in out.append(line) }
        return out
    }

    /// The rule's compat attribute (protocol, flags), for tests.
    package static func compatAttribute(_ arguments: String) throws(IPTablesError) -> (UInt32, UInt32) {
        let r = try newRule(try RuleEncoder.encode(line: arguments), table: "filter", chain: "X")
        defer { nftnl_rule_free(r) }
        return (nftnl_rule_get_u32(r, UInt16(NFTNL_RULE_COMPAT_PROTO.rawValue)), nftnl_rule_get_u32(r, UInt16(NFTNL_RULE_COMPAT_FLAGS.rawValue)))
    }

    // MARK: Reading the kernel

    /// Sends one request and hands each reply to `each` until the dump ends (or the one reply
    /// of a plain get). Returns the kernel's error number, or 0.
    static func request(_ nl: OpaquePointer, seq: inout UInt32, dump: Bool,
                        _ build: (UnsafeMutablePointer<CChar>, UInt32) -> UnsafeMutablePointer<nlmsghdr>?,
                        each: (UnsafePointer<nlmsghdr>) throws(IPTablesError) -> Void) throws(IPTablesError) -> Int32 {
        var out = [CChar](repeating: 0, count: 4096)
        let s = seq
        seq += 1
        let sent = out.withUnsafeMutableBufferPointer { buf -> Int in
            guard let nlh = build(buf.baseAddress!, s) else { return -1 }
            return mnl_socket_sendto(nl, nlh, Int(nlh.pointee.nlmsg_len))
        }
        if sent < 0 { throw IPTablesError("iptables-nft writer: sending a request failed: \(String(cString: strerror(errno)))") }
        var result: Int32 = 0
        try receive(nl, what: "answer") { nlh throws(IPTablesError) in
            if nlh.pointee.nlmsg_seq != s { return false }
            let type = Int32(nlh.pointee.nlmsg_type)
            if type == NLMSG_DONE { return true }
            if type == NLMSG_ERROR {
                result = errorCode(nlh)
                return true
            }
            try each(UnsafePointer(nlh))
            return !dump
        }
        return result
    }

    /// Reads the kernel's messages, handing each to `handle` in order, until `handle` says it
    /// has what it waits for. A kernel silent for 60 s is an error (it answers synchronously).
    static func receive(_ nl: OpaquePointer, what: String, _ handle: (UnsafeMutablePointer<nlmsghdr>) throws(IPTablesError) -> Bool) throws(IPTablesError) {
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        _ = setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let size = 1 << 18
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = mnl_socket_recvfrom(nl, buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw IPTablesError("iptables-nft writer: reading the kernel's \(what) failed: \(String(cString: strerror(errno)))")
            }
            var offset = 0
            while offset + 16 <= n {
                let nlh = (buffer + offset).assumingMemoryBound(to: nlmsghdr.self)
                let len = Int(nlh.pointee.nlmsg_len)
                if len < 16 || offset + len > n { break }
                if try handle(nlh) { return }
                offset += (len + 3) & ~3
            }
        }
    }

    /// The error number of an NLMSG_ERROR message (0 for an acknowledgement).
    static func errorCode(_ nlh: UnsafeMutablePointer<nlmsghdr>) -> Int32 {
        guard nlh.pointee.nlmsg_len >= 20 else { return EPROTO }
        return -UnsafeRawPointer(nlh).loadUnaligned(fromByteOffset: 16, as: Int32.self)
    }

    /// The ruleset's generation (NFT_MSG_GETGEN).
    static func generation(_ nl: OpaquePointer, seq: inout UInt32) throws(IPTablesError) -> UInt32 {
        var id: UInt32 = 0
        let err = try request(nl, seq: &seq, dump: false, { buf, s in
            nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_GETGEN.rawValue), UInt16(AF_UNSPEC), 0, s)
        }, each: { nlh in
            let g = nftnl_gen_alloc()!
            defer { nftnl_gen_free(g) }
            if nftnl_gen_nlmsg_parse(nlh, g) >= 0 { id = nftnl_gen_get_u32(g, UInt16(NFTNL_GEN_ID)) }
        })
        if err != 0 { throw IPTablesError("iptables-nft writer: reading the ruleset generation: \(String(cString: strerror(err)))") }
        return id
    }

    /// Most chains a text may name for them to be asked for by name (one message each, sent
    /// together) instead of reading every chain of the table.
    static let chainsAskedByName = 256

    /// Records chain `c` (a parsed NEWCHAIN message) in `t`; a base chain must be iptables-nft's.
    static func record(_ c: OpaquePointer, in t: TableState) -> IPTablesError? {
        guard let tp = nftnl_chain_get_str(c, UInt16(NFTNL_CHAIN_TABLE.rawValue)), String(cString: tp) == t.name,
              let np = nftnl_chain_get_str(c, UInt16(NFTNL_CHAIN_NAME.rawValue)) else { return nil }
        let name = String(cString: np)
        t.chains.insert(name)
        if nftnl_chain_is_set(c, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue)) {
            let hook = nftnl_chain_get_u32(c, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue))
            let prio = nftnl_chain_get_s32(c, UInt16(NFTNL_CHAIN_PRIO.rawValue))
            let type = nftnl_chain_get_str(c, UInt16(NFTNL_CHAIN_TYPE.rawValue)).map { String(cString: $0) } ?? ""
            guard let b = t.builtins.first(where: { $0.hook == hook }), b.name == name, b.priority == prio, type == t.name, !t.hooks.contains(hook) else {
                return IPTablesError("iptables-nft writer: table \(t.name) has base chain \(name) (hook \(hook), priority \(prio), type \(type)) that iptables-nft would not have made")
            }
            t.hooks.insert(hook)
        }
        return nil
    }

    /// Whether `table` exists and its chains (the base chains must be iptables-nft's): those
    /// in `names` asked for by name, or every one when `names` is nil or a built-in chain it
    /// names is missing (whether its hook has another base chain is known only from all).
    static func readTable(_ table: String, names: Set<String>?, _ nl: OpaquePointer, seq: inout UInt32) throws(IPTablesError) -> TableState {
        guard let names else { return try readTable(table, nl, seq: &seq) }
        let t = TableState(name: table)
        let list = Array(names)
        // GETTABLE and one GETCHAIN per name in one send; each answers with its object or an error.
        var out = [UInt8](repeating: 0, count: 512 * (list.count + 1))
        let first = seq
        var used = 0
        out.withUnsafeMutableBytes { buf in
            let base = buf.baseAddress!
            func put(_ build: (UnsafeMutablePointer<CChar>) -> UnsafeMutablePointer<nlmsghdr>?) {
                if let nlh = build((base + used).assumingMemoryBound(to: CChar.self)) { used += (Int(nlh.pointee.nlmsg_len) + 3) & ~3 }
            }
            put { b in
                let tb = nftnl_table_alloc()!
                defer { nftnl_table_free(tb) }
                nftnl_table_set_str(tb, UInt16(NFTNL_TABLE_NAME.rawValue), table)
                let nlh = nftnl_nlmsg_build_hdr(b, UInt16(NFT_MSG_GETTABLE.rawValue), family, 0, first)
                nftnl_table_nlmsg_build_payload(nlh, tb)
                return nlh
            }
            for (i, name) in list.enumerated() {
                put { b in
                    withChain(table, name) { c in
                        let nlh = nftnl_nlmsg_build_hdr(b, UInt16(NFT_MSG_GETCHAIN.rawValue), family, 0, first + 1 + UInt32(i))
                        nftnl_chain_nlmsg_build_payload(nlh, c)
                        return nlh
                    }
                }
            }
        }
        seq += UInt32(list.count + 1)
        if out.withUnsafeBytes({ mnl_socket_sendto(nl, $0.baseAddress, used) }) < 0 {
            throw IPTablesError("iptables-nft writer: sending \(list.count + 1) requests failed: \(String(cString: strerror(errno)))")
        }
        var answered = Set<UInt32>()
        var problem: IPTablesError?
        try receive(nl, what: "answers") { nlh in
            let s = nlh.pointee.nlmsg_seq
            guard s >= first, s <= first + UInt32(list.count), answered.insert(s).inserted else { return false }
            if Int32(nlh.pointee.nlmsg_type) == NLMSG_ERROR {
                let err = errorCode(nlh)
                if err != ENOENT && problem == nil { problem = IPTablesError("iptables-nft writer: reading \(s == first ? "table \(table)" : "chain \(list[Int(s - first) - 1])"): \(String(cString: strerror(err)))") }
            } else if s == first {
                t.exists = true
            } else {
                let c = nftnl_chain_alloc()!
                defer { nftnl_chain_free(c) }
                if nftnl_chain_nlmsg_parse(nlh, c) >= 0, let e = record(c, in: t), problem == nil { problem = e }
            }
            return answered.count == list.count + 1
        }
        if let problem { throw problem }
        // A built-in chain the text adds rules to and that is missing: whether its hook has a
        // base chain of another name is known only from every chain.
        if t.exists, t.builtins.contains(where: { names.contains($0.name) && !t.chains.contains($0.name) }) {
            return try readTable(table, nl, seq: &seq)
        }
        return t
    }

    /// Whether `table` exists and all its chains (the base chains must be iptables-nft's).
    static func readTable(_ table: String, _ nl: OpaquePointer, seq: inout UInt32) throws(IPTablesError) -> TableState {
        let t = TableState(name: table)
        let err = try request(nl, seq: &seq, dump: false, { buf, s in
            let tb = nftnl_table_alloc()!
            defer { nftnl_table_free(tb) }
            nftnl_table_set_str(tb, UInt16(NFTNL_TABLE_NAME.rawValue), table)
            let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_GETTABLE.rawValue), family, 0, s)
            nftnl_table_nlmsg_build_payload(nlh, tb)
            return nlh
        }, each: { _ in t.exists = true })
        if err == ENOENT { return t }
        if err != 0 { throw IPTablesError("iptables-nft writer: reading table \(table): \(String(cString: strerror(err)))") }
        t.exists = true
        var problem: IPTablesError?
        let dumpErr = try request(nl, seq: &seq, dump: true, { buf, s in
            withChain(table, "") { c in
                nftnl_chain_unset(c, UInt16(NFTNL_CHAIN_NAME.rawValue))
                let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_GETCHAIN.rawValue), family, UInt16(NLM_F_DUMP), s)
                nftnl_chain_nlmsg_build_payload(nlh, c)
                return nlh
            }
        }, each: { nlh in
            let c = nftnl_chain_alloc()!
            defer { nftnl_chain_free(c) }
            if nftnl_chain_nlmsg_parse(nlh, c) >= 0, let e = record(c, in: t), problem == nil { problem = e }
        })
        if dumpErr != 0 { throw IPTablesError("iptables-nft writer: reading the chains of \(table): \(String(cString: strerror(dumpErr)))") }
        if let problem { throw problem }
        return t
    }

    /// The rules of `chain`, in order, each with its handle and ``key(_:)``.
    static func readRules(_ table: String, _ chain: String, _ nl: OpaquePointer, seq: inout UInt32) throws(IPTablesError) -> [KnownRule] {
        var rules: [KnownRule] = []
        let err = try request(nl, seq: &seq, dump: true, { buf, s in
            withRule(table, chain) { r in
                let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_GETRULE.rawValue), family, UInt16(NLM_F_DUMP), s)
                nftnl_rule_nlmsg_build_payload(nlh, r)
                return nlh
            }
        }, each: { nlh in
            // The dump is of this chain: only the handle is read now (NFTA_RULE_HANDLE, a
            // big-endian u64 after the 4-byte nfgenmsg); the message is kept for -D.
            let length = Int(nlh.pointee.nlmsg_len)
            let raw = UnsafeRawPointer(nlh)
            var at = 20
            var handle: UInt64?
            while at + 4 <= length {
                let alen = Int(raw.loadUnaligned(fromByteOffset: at, as: UInt16.self))
                let type = raw.loadUnaligned(fromByteOffset: at + 2, as: UInt16.self) & 0x3FFF
                guard alen >= 4, at + alen <= length else { break }
                if type == UInt16(NFTA_RULE_HANDLE.rawValue), alen >= 12 { handle = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: at + 4, as: UInt64.self)) }
                at += (alen + 3) & ~3
            }
            guard let handle else { return }
            rules.append(.kernel(KernelRule(handle: handle, raw: Array(UnsafeRawBufferPointer(start: raw, count: length)))))
        })
        if err != 0 { throw IPTablesError("iptables-nft writer: reading the rules of \(table) \(chain): \(String(cString: strerror(err)))") }
        return rules
    }

    /// Every rule of `table` as `chain: expressions` lines (``key(_:)``, match and target info
    /// in hex), chains and rules in the kernel's order: for tests comparing two namespaces.
    package static func dump(_ table: String) throws(IPTablesError) -> [String] {
        let nl: OpaquePointer
        do { nl = try Socket.open() } catch { throw IPTablesError("iptables-nft writer: \(error)") }
        defer { mnl_socket_close(nl) }
        var seq: UInt32 = 1
        var lines: [String] = []
        let err = try request(nl, seq: &seq, dump: true, { buf, s in
            withRule(table, "") { r in
                nftnl_rule_unset(r, UInt16(NFTNL_RULE_CHAIN.rawValue))
                let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_GETRULE.rawValue), family, UInt16(NLM_F_DUMP), s)
                nftnl_rule_nlmsg_build_payload(nlh, r)
                return nlh
            }
        }, each: { nlh in
            let r = nftnl_rule_alloc()!
            defer { nftnl_rule_free(r) }
            guard nftnl_rule_nlmsg_parse(nlh, r) >= 0, let cp = nftnl_rule_get_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue)) else { return }
            lines.append(String(cString: cp) + ": " + key(r))
        })
        if err != 0 && err != ENOENT { throw IPTablesError("iptables-nft writer: dumping \(table): \(String(cString: strerror(err)))") }
        return lines
    }
}

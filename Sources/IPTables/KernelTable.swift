#if canImport(Glibc)
import Glibc
#endif
import LinuxSystem

/// What a full sync reads of one table before it commits: the chains it has and whether a
/// built-in chain already jumps into ours. Either iptables-save's text of the table or the
/// rules the kernel holds (iptables-legacy, read without a process: ``KernelTable``).
public enum TableSnapshot: Sendable {
    /// `iptables-save -t TABLE` output ("" for a table that is not loaded).
    case saved(String)
    /// The table as `getsockopt(IPT_SO_GET_ENTRIES)` returns it.
    case kernel(KernelTable)

    /// Every chain of the table (built-in and user-defined), in the order listed.
    public var chainNames: [String] {
        switch self {
        case .saved(let text): IPTablesSave.chainNames(text)
        case .kernel(let table): table.chains
        }
    }

    /// Whether `chain` (a built-in chain) has a rule that jumps (`-j`, not `-g`) to `target`
    /// and whose comment contains `comment`. For saved text: a line `-A CHAIN ...` that ends
    /// with `-j TARGET` and contains the comment's text; for the kernel's rules: a rule of the
    /// chain whose standard target jumps to the chain `target` and which has a comment match
    /// whose text contains `comment`.
    public func hasJump(chain: String, target: String, comment: String) -> Bool {
        switch self {
        case .saved(let text):
            let prefix = "-A \(chain) ", suffix = "-j \(target)"
            // Only the built-in chain's lines become Strings: a saved nat table of 10k
            // Services is 7 MB.
            return IPTablesSave.lines(text).contains { bytes in
                guard bytes.starts(with: prefix.utf8) else { return false }
                let line = String(Substring(bytes))
                return line.hasSuffix(suffix) && line.contains(comment)
            }
        case .kernel(let table):
            return table.rules.contains { rule in
                rule.chain == chain && rule.jump == target && (comment.isEmpty || rule.comments.contains { $0.contains(comment) })
            }
        }
    }
}

/// An IPv4 x_tables table (iptables-legacy) as the kernel holds it: what
/// `getsockopt(IPT_SO_GET_INFO)` and `getsockopt(IPT_SO_GET_ENTRIES)` on a raw socket return,
/// which is how libiptc (and so iptables-legacy-save) reads it. Only what a full sync needs is
/// kept: the chains, and each rule's chain, jump target and comments.
///
/// The layout (linux/netfilter_ipv4/ip_tables.h, x86-64 and every other 64-bit ABI alike):
/// the entries are `struct ipt_entry` (112 bytes: `struct ipt_ip` 84, `nfcache` 4,
/// `target_offset` u16 at 88, `next_offset` u16 at 90, `comefrom` 4, counters 16), each
/// followed by its matches (`struct xt_entry_match`: `match_size` u16, name [29], revision u8,
/// data) and its target at `target_offset` (`struct xt_entry_target`, the same header). A
/// built-in chain starts at its hook's entry offset and ends with its policy at its underflow
/// offset. A user-defined chain starts with an `ERROR` target whose data is the chain's name
/// and ends with a `RETURN`; the table ends with an `ERROR` target named "ERROR". A standard
/// target (empty name) holds an `int` verdict: negative for ACCEPT, DROP, QUEUE, RETURN; the
/// offset of the next entry for no target; otherwise the offset of the entry it jumps to
/// (libiptc writes the first entry after the chain's `ERROR` head).
public struct KernelTable: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        /// The chain it is in.
        public var chain: String
        /// The user-defined chain it jumps to (`-j CHAIN`); nil for any other target and for
        /// a goto (`-g CHAIN`).
        public var jump: String?
        /// The text of each comment match (`-m comment --comment TEXT`).
        public var comments: [String]

        public init(chain: String, jump: String?, comments: [String]) {
            self.chain = chain
            self.jump = jump
            self.comments = comments
        }
    }

    /// The built-in chains (in hook order), then the user-defined ones (in the table's order).
    public var chains: [String]
    /// The rules of every chain, in order; chain policies and the `RETURN` that ends each
    /// user-defined chain are not rules (iptables-save does not print them).
    public var rules: [Rule]

    public init(chains: [String], rules: [Rule]) {
        self.chains = chains
        self.rules = rules
    }

    /// The built-in chains' names by netfilter hook (NF_INET_PRE_ROUTING ... NF_INET_POST_ROUTING).
    public static let hookNames = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]

    static let entrySize = 112
    static let headerSize = 32
    /// `XT_ALIGN(sizeof(struct xt_standard_target))`: the header and an int verdict.
    static let standardTargetSize = 40
    /// `IPT_F_GOTO` in `ipt_ip.flags`: the jump is a goto.
    static let gotoFlag: UInt8 = 0x02

    /// The bounds of one entry of a table's blob, as ``walk(_:aligned:malformed:match:entry:)``
    /// checked them.
    struct EntryBounds {
        /// Where the entry starts in the blob, and its size (`next_offset`).
        var offset: Int
        var size: Int
        /// Where its target starts, from the entry's start (`target_offset`), and the target's size.
        var targetOffset: Int
        var targetSize: Int
    }

    /// Walks the entries of `blob` in order, checking what the layout promises before anything
    /// reads it: each entry holds the fixed part and a target header and ends inside the blob
    /// (at a multiple of 8 when `aligned`); its matches and its target lie inside it, each at
    /// least a header long. `match` gets each match's offset and size, then `entry` its entry.
    /// Throws `malformed(offset, what)` for the first entry that breaks one of these.
    static func walk(_ blob: UnsafeRawBufferPointer, aligned: Bool, malformed: (Int, String) -> IPTablesError,
                     match: (_ offset: Int, _ size: Int) -> Void, entry: (EntryBounds) throws(IPTablesError) -> Void) throws(IPTablesError) {
        // The kernel's integers are in the machine's byte order.
        func u16(_ at: Int) -> Int { Int(blob.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
        var offset = 0
        while offset < blob.count {
            guard offset + entrySize <= blob.count else { throw malformed(offset, "is cut off") }
            let targetOffset = u16(offset + 88), next = u16(offset + 90)
            guard next >= entrySize + headerSize, offset + next <= blob.count, !aligned || next % 8 == 0 else { throw malformed(offset, "has a next offset of \(next)") }
            guard targetOffset >= entrySize, targetOffset + headerSize <= next else { throw malformed(offset, "has a target offset of \(targetOffset)") }
            var m = offset + entrySize
            while m < offset + targetOffset {
                guard m + headerSize <= offset + targetOffset else { throw malformed(offset, "has a match cut off") }
                let size = u16(m)
                guard size >= headerSize, m + size <= offset + targetOffset else { throw malformed(offset, "has a match of size \(size)") }
                match(m, size)
                m += size
            }
            let targetSize = u16(offset + targetOffset)
            guard targetSize >= headerSize, targetOffset + targetSize <= next else { throw malformed(offset, "has a target of size \(targetSize)") }
            try entry(EntryBounds(offset: offset, size: next, targetOffset: targetOffset, targetSize: targetSize))
            offset += next
        }
    }

    /// Parses the entries (`ipt_get_entries.entrytable`, `size` bytes) of a table whose valid
    /// hooks, hook entry offsets and underflow offsets `IPT_SO_GET_INFO` returned. Throws for
    /// anything that is not a well-formed table (an entry that overruns the blob, a target
    /// outside its entry, a hook offset that is not an entry).
    public static func parse(entries blob: [UInt8], validHooks: UInt32, hookEntry: [UInt32], underflow: [UInt32]) throws(IPTablesError) -> KernelTable {
        guard hookEntry.count == hookNames.count, underflow.count == hookNames.count else {
            throw IPTablesError("iptables table: \(hookEntry.count) hook entries and \(underflow.count) underflows, not \(hookNames.count)")
        }
        // The kernel's integers are in the machine's byte order.
        func i32(_ at: Int) -> Int32 { blob.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int32.self) } }
        /// The NUL-terminated string of at most `max` bytes at `at`.
        func string(_ at: Int, max: Int) -> String {
            let end = min(at + max, blob.count)
            let stop = blob[at..<end].firstIndex(of: 0) ?? end
            return String(decoding: blob[at..<stop], as: UTF8.self)
        }
        func malformed(_ offset: Int, _ what: String) -> IPTablesError {
            IPTablesError("iptables table: entry at offset \(offset) \(what)")
        }

        enum Target {
            case error(String)
            case standard(verdict: Int32)
            case other
        }
        struct Entry {
            let offset: Int
            let next: Int
            let goto: Bool
            let comments: [String]
            let target: Target
        }
        var entries: [Entry] = []
        var comments: [String] = []
        var walkError: IPTablesError?
        blob.withUnsafeBytes { raw in
            do throws(IPTablesError) {
                try walk(raw, aligned: false, malformed: malformed, match: { m, size in
                    if string(m + 2, max: 29) == "comment" { comments.append(string(m + headerSize, max: size - headerSize)) }
                }, entry: { e in
                    let t = e.offset + e.targetOffset
                    let name = string(t + 2, max: 29)
                    let target: Target
                    if name == "ERROR" {
                        target = .error(string(t + headerSize, max: e.targetSize - headerSize))
                    } else if name.isEmpty && e.targetSize == standardTargetSize {
                        target = .standard(verdict: i32(t + headerSize))
                    } else {
                        target = .other
                    }
                    entries.append(Entry(offset: e.offset, next: e.size, goto: blob[e.offset + 82] & gotoFlag != 0, comments: comments, target: target))
                    comments = []
                })
            } catch {
                walkError = error
            }
        }
        if let walkError { throw walkError }

        // Where each chain starts: the built-in ones at their hook entries, the user-defined
        // ones at their ERROR heads (their rules follow).
        var builtinAt: [Int: String] = [:], policies = Set<Int>()
        for (hook, name) in hookNames.enumerated() where validHooks & (1 << hook) != 0 {
            let entry = Int(hookEntry[hook]), policy = Int(underflow[hook])
            guard entries.contains(where: { $0.offset == entry }), entries.contains(where: { $0.offset == policy }) else {
                throw IPTablesError("iptables table: \(name) starts at \(entry) and ends at \(policy), not at entries")
            }
            builtinAt[entry] = name
            policies.insert(policy)
        }
        var chains = hookNames.enumerated().filter { validHooks & (1 << $0.offset) != 0 }.map(\.element)
        // Where each user-defined chain starts (its ERROR head) and its name, in order.
        var userStarts: [(offset: Int, name: String)] = []
        for e in entries {
            if case .error(let name) = e.target, name != "ERROR" {
                chains.append(name)
                userStarts.append((e.offset, name))
            }
        }
        /// The user-defined chain whose entries include `offset`: libiptc resolves a jump so (it
        /// writes the offset of the first entry after the head).
        func chain(containing offset: Int) -> String? {
            var lo = 0, hi = userStarts.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if userStarts[mid].offset <= offset { lo = mid + 1 } else { hi = mid }
            }
            return lo == 0 ? nil : userStarts[lo - 1].name
        }

        var rules: [Rule] = []
        var current: String?, inUserChain = false
        for (i, e) in entries.enumerated() {
            if let name = builtinAt[e.offset] {
                current = name
                inUserChain = false
            }
            if case .error(let name) = e.target {
                current = name == "ERROR" ? nil : name
                inUserChain = current != nil
                continue
            }
            guard let chainName = current, !policies.contains(e.offset) else { continue }
            // The RETURN that ends a user-defined chain: its last entry, before the next head.
            if inUserChain, i + 1 < entries.count, case .error = entries[i + 1].target,
               case .standard(let verdict) = e.target, verdict == returnVerdict {
                continue
            }
            var jump: String?
            if case .standard(let verdict) = e.target, verdict >= 0, Int(verdict) != e.offset + e.next, !e.goto {
                jump = chain(containing: Int(verdict))
            }
            rules.append(Rule(chain: chainName, jump: jump, comments: e.comments))
        }
        return KernelTable(chains: chains, rules: rules)
    }

    /// `XT_RETURN`: `-NF_REPEAT - 1`.
    static let returnVerdict: Int32 = -5

    /// `IPT_SO_GET_INFO` and `IPT_SO_GET_ENTRIES` (`IPT_BASE_CTL` 64 and 65, level `SOL_IP`).
    static let getInfo: Int32 = 64
    static let getEntries: Int32 = 65
    /// `sizeof(struct ipt_getinfo)`: name[32], valid_hooks, hook_entry[5], underflow[5], num_entries, size.
    static let infoSize = 84
    /// `sizeof(struct ipt_get_entries)` before its entries: name[32], size, padding to 8.
    static let entriesHeaderSize = 40

    /// Reads `table` from the kernel in the calling thread's network namespace; nil when the
    /// namespace has not loaded it (it is not in `/proc/thread-self/net/ip_tables_names`: then
    /// it has no rules, and reading it would load it). Needs CAP_NET_RAW and CAP_NET_ADMIN.
    public static func read(_ table: String) throws(IPTablesError) -> KernelTable? {
        guard let raw = try readRaw(table, load: false) else { return nil }
        return try parse(entries: Array(raw.entries[raw.start...]), validHooks: raw.validHooks, hookEntry: raw.hookEntry, underflow: raw.underflow)
    }

    /// A table as `IPT_SO_GET_INFO` and `IPT_SO_GET_ENTRIES` return it.
    public struct Raw: Sendable, Equatable {
        public var validHooks: UInt32
        public var hookEntry: [UInt32]
        public var underflow: [UInt32]
        public var numEntries: Int
        /// The entries (`ipt_get_entries.entrytable`), from `start`.
        public var entries: [UInt8]
        /// Where the entries start in `entries` (after the `ipt_get_entries` header as read).
        public var start: Int

        public init(validHooks: UInt32, hookEntry: [UInt32], underflow: [UInt32], numEntries: Int, entries: [UInt8], start: Int = 0) {
            self.validHooks = validHooks
            self.hookEntry = hookEntry
            self.underflow = underflow
            self.numEntries = numEntries
            self.entries = entries
            self.start = start
        }
    }

    /// Reads `table` as the kernel holds it. Unless `load`, nil for a table the namespace has
    /// not loaded; with `load` the read loads it (as iptables does), with its built-in chains.
    public static func readRaw(_ table: String, load: Bool) throws(IPTablesError) -> Raw? {
        guard table.utf8.count < 32 else { throw IPTablesError("iptables table name \(table) is too long") }
        if !load {
            let names: [UInt8]
            do { names = try FileOps.read("/proc/thread-self/net/ip_tables_names") } catch {
                throw IPTablesError("reading the loaded iptables tables: \(error)")
            }
            guard names.split(separator: UInt8(ascii: "\n")).contains(where: { $0.elementsEqual(table.utf8) }) else { return nil }
        }
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_RAW))
        guard fd >= 0 else { throw IPTablesError("reading iptables table \(table): socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        return try readRaw(table, socket: fd)
    }

    /// ``readRaw(_:load:)`` on an open raw socket.
    static func readRaw(_ table: String, socket fd: Int32) throws(IPTablesError) -> Raw {
        /// getsockopt into `buffer`; errno, or 0.
        func get(_ option: Int32, _ buffer: inout [UInt8]) -> Int32 {
            var length = socklen_t(buffer.count)
            let rc = buffer.withUnsafeMutableBytes { getsockopt(fd, Int32(IPPROTO_IP), option, $0.baseAddress, &length) }
            return rc == 0 ? 0 : errno
        }
        func failure(_ option: String, _ err: Int32) -> IPTablesError {
            IPTablesError("reading iptables table \(table): getsockopt \(option): \(String(cString: strerror(err)))")
        }
        func u32(_ b: [UInt8], _ at: Int) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
        // The table can change between the two calls (the kernel then answers EAGAIN: the size
        // no longer matches): both are read again, as libiptc does.
        var attempts = 0
        while true {
            attempts += 1
            var info = [UInt8](repeating: 0, count: infoSize)
            info.replaceSubrange(0..<table.utf8.count, with: table.utf8)
            let infoError = get(getInfo, &info)
            if infoError != 0 { throw failure("IPT_SO_GET_INFO", infoError) }
            let validHooks = u32(info, 32)
            let hookEntry = (0..<5).map { u32(info, 36 + 4 * $0) }, underflow = (0..<5).map { u32(info, 56 + 4 * $0) }
            let numEntries = Int(u32(info, 76)), size = Int(u32(info, 80))
            var entries = [UInt8](repeating: 0, count: entriesHeaderSize + size)
            entries.replaceSubrange(0..<table.utf8.count, with: table.utf8)
            withUnsafeBytes(of: UInt32(size)) { entries.replaceSubrange(32..<36, with: $0) }
            let entriesError = get(getEntries, &entries)
            if entriesError == EAGAIN && attempts < 5 { continue }
            if entriesError != 0 { throw failure("IPT_SO_GET_ENTRIES", entriesError) }
            return Raw(validHooks: validHooks, hookEntry: hookEntry, underflow: underflow, numEntries: numEntries,
                       entries: entries, start: entriesHeaderSize)
        }
    }
}

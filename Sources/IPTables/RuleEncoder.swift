/// Where a rule's standard target goes, or that it has another target. The verdict of a jump
/// or of no target is an offset in the table, known only once the table is laid out.
public enum RuleVerdict: Hashable, Sendable {
    /// ACCEPT, DROP or RETURN: the kernel's negative verdict (`-NF_ACCEPT - 1`, ...).
    case standard(Int32)
    /// `-j CHAIN` or `-g CHAIN` (the goto is `IPT_F_GOTO` in the entry's bytes).
    case chain(String)
    /// No target: the verdict is the next entry's offset.
    case next
    /// A target extension (MARK, DNAT, ...): everything is in the bytes.
    case target
}

/// One rule as the kernel holds it: `struct ipt_entry`, its matches and its target, with
/// `comefrom` and the counters zero. The verdict of a `.chain` or `.next` standard
/// target is zero in `bytes` until the table is laid out, so equal rules have equal values.
public struct EncodedRule: Hashable, Sendable {
    public var bytes: [UInt8]
    public var verdict: RuleVerdict

    public init(bytes: [UInt8], verdict: RuleVerdict) {
        self.bytes = bytes
        self.verdict = verdict
    }

    /// The offset of the target in `bytes` (`ipt_entry.target_offset`).
    var targetOffset: Int { Int(bytes[88]) | Int(bytes[89]) << 8 }
}

/// Encodes iptables rule arguments (what follows `-A CHAIN` in iptables-restore input) into
/// the bytes iptables-legacy gives the kernel, for the rules the proxier writes and nothing
/// else: `-p`, `-s`, `-d`, `-i`, `-o` (each may be negated with `!`); the matches `comment`,
/// `tcp`/`udp`/`sctp` (`--dport`, `--sport`), `mark`, `addrtype`, `conntrack` (`--ctstate`),
/// `recent` and `statistic` (`--mode random`); the targets ACCEPT, DROP, RETURN, a chain
/// (`-j`, `-g`), MARK, MASQUERADE, DNAT and REJECT. Anything else is an ``IPTablesError``,
/// never a different rule: the caller then hands the text to iptables-restore.
///
/// The layouts and revisions are those of the kernel's uapi headers (linux/netfilter/xt_*.h,
/// linux/netfilter_ipv4/ip_tables.h) and of iptables 1.8's extensions (the highest revision
/// each has: mark 1, addrtype 1, conntrack 3, recent 1, MARK 2, DNAT 2), and each was checked
/// against what `iptables-legacy-restore` loads (`IPTablesWriterIntegrationTests`). Every
/// match's and target's size is its header (32 bytes) and data, rounded up to 8 (`XT_ALIGN`).
public enum RuleEncoder {
    /// Bytes of the text being parsed (no reference counting per argument).
    typealias Token = Slice<UnsafeBufferPointer<UInt8>>

    static let entrySize = 112
    static let headerSize = 32

    /// Splits a line into arguments as iptables-restore does for the input it is given: on
    /// spaces and tabs, a double-quoted argument as one (without its quotes). A quote inside an
    /// argument, a backslash or an unterminated quote is an error.
    static func tokens(_ line: Token) throws(IPTablesError) -> [Token] {
        var out: [Token] = []
        try tokens(line, into: &out)
        return out
    }

    /// ``tokens(_:)`` into `out` (emptied first, its storage kept).
    static func tokens(_ line: Token, into out: inout [Token]) throws(IPTablesError) {
        out.removeAll(keepingCapacity: true)
        var i = line.startIndex
        let end = line.endIndex
        while i < end {
            let c = line[i]
            if c == 0x20 || c == 0x09 || c == 0x0D {
                i += 1
                continue
            }
            if c == 0x22 {
                var j = i + 1
                while j < end && line[j] != 0x22 {
                    if line[j] == 0x5C { throw lineError(line, "a backslash in a quoted argument") }
                    j += 1
                }
                guard j < end else { throw lineError(line, "an unterminated quote") }
                if j + 1 < end && line[j + 1] != 0x20 && line[j + 1] != 0x09 && line[j + 1] != 0x0D {
                    throw lineError(line, "text after a closing quote")
                }
                out.append(line[(i + 1)..<j])
                i = j + 1
                continue
            }
            var j = i
            while j < end && line[j] != 0x20 && line[j] != 0x09 && line[j] != 0x0D {
                if line[j] == 0x22 || line[j] == 0x5C || line[j] == 0x27 { throw lineError(line, "a quote or backslash inside an argument") }
                j += 1
            }
            out.append(line[i..<j])
            i = j
        }
    }

    static func lineError(_ line: Token, _ what: String) -> IPTablesError {
        IPTablesError("iptables writer: \(what): \(String(decoding: line, as: UTF8.self))")
    }

    static func text(_ t: Token) -> String { String(decoding: t, as: UTF8.self) }

    static func equals(_ t: Token, _ s: StaticString) -> Bool {
        s.withUTF8Buffer { t.elementsEqual($0) }
    }

    /// Encodes the arguments of one rule (without `-A CHAIN`).
    public static func encode(_ arguments: [String]) throws(IPTablesError) -> EncodedRule {
        try encode(line: arguments.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " "))
    }

    /// Encodes the arguments of one rule written as restore text does (without `-A CHAIN`).
    static func encode(line: String) throws(IPTablesError) -> EncodedRule {
        let bytes = Array(line.utf8)
        return try bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(IPTablesError) in try encode(tokens(buffer[...])[...]) }
        }.get()
    }

    /// The extensions a rule can use, with their kernel data size (before `XT_ALIGN`) and revision.
    enum Kind {
        case comment, tcp, udp, sctp, mark, addrtype, conntrack, recent, statistic
        case markTarget, masquerade, dnat, reject

        var name: StaticString {
            switch self {
            case .comment: "comment"
            case .tcp: "tcp"
            case .udp: "udp"
            case .sctp: "sctp"
            case .mark: "mark"
            case .addrtype: "addrtype"
            case .conntrack: "conntrack"
            case .recent: "recent"
            case .statistic: "statistic"
            case .markTarget: "MARK"
            case .masquerade: "MASQUERADE"
            case .dnat: "DNAT"
            case .reject: "REJECT"
            }
        }

        /// sizeof the kernel's struct (xt_comment_info, xt_tcp, ..., nf_nat_range2, ipt_reject_info).
        var dataSize: Int {
            switch self {
            case .comment: 256
            case .tcp: 12
            case .udp: 9
            case .sctp: 292
            case .mark: 12        // xt_mark_mtinfo1
            case .addrtype: 8     // xt_addrtype_info_v1
            case .conntrack: 164  // xt_conntrack_mtinfo3
            case .recent: 228     // xt_recent_mtinfo_v1
            case .statistic: 24
            case .markTarget: 8   // xt_mark_tginfo2
            case .masquerade: 20  // nf_nat_ipv4_multi_range_compat
            case .dnat: 44        // nf_nat_range2
            case .reject: 4
            }
        }

        var revision: UInt8 {
            switch self {
            case .mark, .addrtype, .recent: 1
            case .conntrack: 3
            case .markTarget, .dnat: 2
            default: 0
            }
        }

        static func match(_ t: Token) -> Kind? {
            switch t.count {
            case 3: return equals(t, "tcp") ? .tcp : equals(t, "udp") ? .udp : nil
            case 4: return equals(t, "sctp") ? .sctp : equals(t, "mark") ? .mark : nil
            case 6: return equals(t, "recent") ? .recent : nil
            case 7: return equals(t, "comment") ? .comment : nil
            case 8: return equals(t, "addrtype") ? .addrtype : nil
            case 9: return equals(t, "conntrack") ? .conntrack : equals(t, "statistic") ? .statistic : nil
            default: return nil
            }
        }

        static func target(_ t: Token) -> Kind? {
            if equals(t, "MARK") { return .markTarget }
            if equals(t, "MASQUERADE") { return .masquerade }
            if equals(t, "DNAT") { return .dnat }
            if equals(t, "REJECT") { return .reject }
            return nil
        }

        /// The options of the extension, each with its bit in ``Extension/seen``.
        var options: [StaticString] {
            switch self {
            case .comment: ["--comment"]
            case .tcp, .udp, .sctp: ["--dport", "--destination-port", "--sport", "--source-port"]
            case .mark: ["--mark"]
            case .addrtype: ["--src-type", "--dst-type", "--limit-iface-in", "--limit-iface-out"]
            case .conntrack: ["--ctstate"]
            case .recent: ["--set", "--rcheck", "--update", "--remove", "--seconds", "--hitcount", "--reap", "--rttl", "--name", "--rsource", "--rdest", "--mask"]
            case .statistic: ["--mode", "--probability"]
            case .markTarget: ["--set-xmark", "--set-mark", "--or-mark", "--xor-mark", "--and-mark"]
            case .masquerade: ["--random-fully", "--random"]
            case .dnat: ["--to-destination"]
            case .reject: ["--reject-with"]
            }
        }
    }

    /// A match or target being filled in, in the rule's bytes from `start` (its header).
    struct Extension {
        let kind: Kind
        let start: Int
        /// The options given (bits by ``Kind/options``).
        var seen: UInt32 = 0

        var data: Int { start + RuleEncoder.headerSize }
    }

    static let optionTables: [[StaticString]] = [Kind.comment, .tcp, .udp, .sctp, .mark, .addrtype, .conntrack, .recent, .statistic,
                                                 .markTarget, .masquerade, .dnat, .reject].map(\.options)

    /// Appends an extension's header and zeroed data, with its defaults.
    static func begin(_ kind: Kind, _ out: inout [UInt8]) -> Extension {
        let start = out.count
        let size = headerSize + (kind.dataSize + 7) & ~7
        out.append(contentsOf: repeatElement(0, count: size))
        out[start] = UInt8(size & 0xFF)
        out[start + 1] = UInt8(size >> 8)
        kind.name.withUTF8Buffer { name in for (i, c) in name.enumerated() { out[start + 2 + i] = c } }
        out[start + 31] = kind.revision
        let d = start + headerSize
        // Defaults, as each extension's init sets them.
        switch kind {
        case .tcp, .udp:
            put16(0xFFFF, &out, d + 2)   // source ports 0:65535
            put16(0xFFFF, &out, d + 6)   // destination ports 0:65535
        case .sctp:
            // xt_sctp_flag_info[4] at 268: no chunk type (0xff) in each.
            for i in 0..<4 { out[d + 268 + 3 * i] = 0xFF }
        case .recent:
            "DEFAULT".utf8.withContiguousStorageIfAvailable { for (i, c) in $0.enumerated() { out[d + 10 + i] = c } }
        case .masquerade:
            put32(1, &out, d)  // rangesize
        case .reject:
            put32(3, &out, d)  // icmp-port-unreachable
        default:
            break
        }
        return Extension(kind: kind, start: start)
    }

    @inline(__always) static func put16(_ v: UInt16, _ out: inout [UInt8], _ at: Int) {
        out[at] = UInt8(v & 0xFF)
        out[at + 1] = UInt8(v >> 8)
    }

    @inline(__always) static func put32(_ v: UInt32, _ out: inout [UInt8], _ at: Int) {
        out[at] = UInt8(v & 0xFF)
        out[at + 1] = UInt8((v >> 8) & 0xFF)
        out[at + 2] = UInt8((v >> 16) & 0xFF)
        out[at + 3] = UInt8(v >> 24)
    }

    @inline(__always) static func or32(_ v: UInt32, _ out: inout [UInt8], _ at: Int) {
        out[at] |= UInt8(v & 0xFF)
        out[at + 1] |= UInt8((v >> 8) & 0xFF)
        out[at + 2] |= UInt8((v >> 16) & 0xFF)
        out[at + 3] |= UInt8(v >> 24)
    }

    /// Encodes one rule's arguments.
    static func encode(_ args: ArraySlice<Token>) throws(IPTablesError) -> EncodedRule {
        var out: [UInt8] = []
        out.reserveCapacity(768)
        out.append(contentsOf: repeatElement(0, count: entrySize))
        var current: Extension?
        var targetOffset = -1
        var verdict: RuleVerdict = .next
        /// -p, -s, -d, -i, -o given.
        var general: UInt8 = 0
        var i = args.startIndex
        func fail(_ what: String) -> IPTablesError {
            IPTablesError("iptables writer: \(what) in rule: \(args.map(text).joined(separator: " "))")
        }
        func value() throws(IPTablesError) -> Token {
            guard i + 1 < args.endIndex else { throw fail("\(text(args[i])) without a value") }
            i += 1
            return args[i]
        }
        func once(_ bit: UInt8, _ option: Token) throws(IPTablesError) {
            if general & bit != 0 { throw fail("\(text(option)) twice") }
            general |= bit
        }
        while i < args.endIndex {
            var invert = false
            var option = args[i]
            if equals(option, "!") {
                invert = true
                guard i + 1 < args.endIndex else { throw fail("! at the end") }
                i += 1
                option = args[i]
            }
            guard option.count >= 2, option.first == UInt8(ascii: "-") else { throw fail("argument \(text(option))") }
            let short = option.count == 2 ? option[option.startIndex + 1] : 0
            if short == UInt8(ascii: "p") || equals(option, "--protocol") {
                try once(1, option)
                let p = try value()
                let number: UInt16
                if equals(p, "tcp") { number = 6 } else if equals(p, "udp") { number = 17 } else if equals(p, "sctp") { number = 132 }
                else if equals(p, "icmp") { number = 1 } else if equals(p, "all") { number = 0 }
                else { throw fail("protocol \(text(p))") }
                put16(number, &out, 80)
                if invert { out[83] |= 0x40 }  // IPT_INV_PROTO
            } else if short == UInt8(ascii: "s") || short == UInt8(ascii: "d") || equals(option, "--source") || equals(option, "--destination") {
                let source = short == UInt8(ascii: "s") || equals(option, "--source")
                try once(source ? 2 : 4, option)
                let v = try value()
                guard let (address, mask) = parseIPv4Network(v) else { throw fail("address \(text(v))") }
                let at = source ? 0 : 4
                for k in 0..<4 {
                    out[at + k] = UInt8(truncatingIfNeeded: (address & mask) >> (24 - 8 * UInt32(k)))
                    out[at + 8 + k] = UInt8(truncatingIfNeeded: mask >> (24 - 8 * UInt32(k)))
                }
                if invert { out[83] |= source ? 0x08 : 0x10 }  // IPT_INV_SRCIP, IPT_INV_DSTIP
            } else if short == UInt8(ascii: "i") || short == UInt8(ascii: "o") || equals(option, "--in-interface") || equals(option, "--out-interface") {
                let incoming = short == UInt8(ascii: "i") || equals(option, "--in-interface")
                try once(incoming ? 8 : 16, option)
                let name = try value()
                guard !name.isEmpty, name.count < 16 else { throw fail("interface name \(text(name))") }
                let at = incoming ? 16 : 32
                for (k, c) in name.enumerated() { out[at + k] = c }
                // The mask covers the name and its NUL, or the name before a trailing +.
                let masked = name.last == UInt8(ascii: "+") ? name.count - 1 : name.count + 1
                for k in 0..<masked { out[at + 32 + k] = 0xFF }
                if invert { out[83] |= incoming ? 0x01 : 0x02 }  // IPT_INV_VIA_IN, IPT_INV_VIA_OUT
            } else if short == UInt8(ascii: "m") || equals(option, "--match") {
                if invert { throw fail("! before -m") }
                if targetOffset >= 0 { throw fail("-m after the target") }
                let name = try value()
                guard let kind = Kind.match(name) else { throw fail("match \(text(name))") }
                if let m = current { try finalCheck(m, out, fail: fail) }
                current = begin(kind, &out)
            } else if short == UInt8(ascii: "j") || short == UInt8(ascii: "g") || equals(option, "--jump") || equals(option, "--goto") {
                if invert { throw fail("! before a target") }
                if targetOffset >= 0 { throw fail("a second target") }
                let goto = short == UInt8(ascii: "g") || equals(option, "--goto")
                let name = try value()
                if let m = current { try finalCheck(m, out, fail: fail) }
                current = nil
                targetOffset = out.count
                if goto { out[82] |= 0x02 }  // IPT_F_GOTO
                if let kind = Kind.target(name) {
                    if goto { throw fail("-g to a target") }
                    current = begin(kind, &out)
                    verdict = .target
                } else {
                    if equals(name, "ACCEPT") { verdict = .standard(-2) }
                    else if equals(name, "DROP") { verdict = .standard(-1) }
                    else if equals(name, "RETURN") { verdict = .standard(-5) }
                    else {
                        try checkChainName(name)
                        verdict = .chain(text(name))
                    }
                    if goto, case .standard = verdict { throw fail("-g to a verdict") }
                    appendStandardTarget(verdict, &out)
                }
            } else if var e = current {
                // An option of the last match, or of the target.
                let table = optionTables[optionTableIndex(e.kind)]
                guard let bit = table.firstIndex(where: { equals(option, $0) }) else { throw fail("option \(text(option)) of \(e.kind.name)") }
                if e.seen & (1 << UInt32(bit)) != 0 { throw fail("\(text(option)) twice") }
                e.seen |= 1 << UInt32(bit)
                try extensionOption(e, bit: bit, invert: invert, &out, value: value, fail: fail)
                current = e
            } else {
                throw fail("option \(text(option))")
            }
            i += 1
        }
        if let e = current { try finalCheck(e, out, fail: fail) }
        if targetOffset < 0 {
            targetOffset = out.count
            appendStandardTarget(.next, &out)
        }
        guard out.count <= Int(UInt16.max) else { throw fail("a rule of \(out.count) bytes") }
        put16(UInt16(targetOffset), &out, 88)
        put16(UInt16(out.count), &out, 90)
        return EncodedRule(bytes: out, verdict: verdict)
    }

    static func optionTableIndex(_ kind: Kind) -> Int {
        switch kind {
        case .comment: 0
        case .tcp: 1
        case .udp: 2
        case .sctp: 3
        case .mark: 4
        case .addrtype: 5
        case .conntrack: 6
        case .recent: 7
        case .statistic: 8
        case .markTarget: 9
        case .masquerade: 10
        case .dnat: 11
        case .reject: 12
        }
    }

    /// struct xt_standard_target: the header (empty name) and an int verdict, 40 bytes. The
    /// verdict of a jump or of no target is written when the table is laid out.
    static func appendStandardTarget(_ verdict: RuleVerdict, _ out: inout [UInt8]) {
        let t = out.count
        out.append(contentsOf: repeatElement(0, count: 40))
        out[t] = 40
        if case .standard(let v) = verdict { put32(UInt32(bitPattern: v), &out, t + headerSize) }
    }

    /// A chain name iptables accepts: 1 to 28 bytes, not an option, not a built-in target's name.
    static func checkChainName(_ name: String) throws(IPTablesError) {
        var bytes = Array(name.utf8)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(IPTablesError) in try checkChainName(UnsafeBufferPointer(buffer)[...]) }
        }.get()
    }

    static func checkChainName(_ t: Token) throws(IPTablesError) {
        guard let first = t.first, t.count <= 28, first != UInt8(ascii: "-"), first != UInt8(ascii: "!"),
              !t.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else {
            throw IPTablesError("iptables writer: chain name \(text(t))")
        }
        if t.count >= 4 && t.count <= 10 && t.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) {
            for reserved: StaticString in ["ACCEPT", "DROP", "RETURN", "QUEUE", "MARK", "MASQUERADE", "DNAT", "REJECT", "ERROR"] where equals(t, reserved) {
                throw IPTablesError("iptables writer: chain name \(text(t)) is a target's")
            }
        }
    }

    /// Option number `bit` of ``Kind/options`` for extension `e`, written into its data.
    static func extensionOption(_ e: Extension, bit: Int, invert: Bool, _ out: inout [UInt8],
                                value: () throws(IPTablesError) -> Token, fail: (String) -> IPTablesError) throws(IPTablesError) {
        let d = e.data
        let name = optionTables[optionTableIndex(e.kind)][bit]
        func noInvert() throws(IPTablesError) { if invert { throw fail("! before \(name)") } }
        switch e.kind {
        case .comment:
            try noInvert()
            let t = try value()
            guard t.count < 256 else { throw fail("a comment of \(t.count) bytes") }
            var k = d
            for c in t {
                out[k] = c
                k += 1
            }
        case .tcp, .udp, .sctp:
            let destination = bit < 2
            if e.seen & (destination ? 0b11 : 0b1100) != (destination ? 1 : 4) << UInt32(bit & 1) { throw fail("\(name) twice") }
            let v = try value()
            guard let (low, high) = parsePorts(v) else { throw fail("port \(text(v))") }
            if e.kind == .sctp {
                // dpts at 0, spts at 4; flags at 284, invflags at 288.
                let at = d + (destination ? 0 : 4)
                put16(low, &out, at)
                put16(high, &out, at + 2)
                let flag: UInt32 = destination ? 0x02 : 0x01
                or32(flag, &out, d + 284)
                if invert { or32(flag, &out, d + 288) }
            } else {
                // spts at 0, dpts at 4; invflags at 11 (tcp) or 8 (udp).
                let at = d + (destination ? 4 : 0)
                put16(low, &out, at)
                put16(high, &out, at + 2)
                if invert { out[d + (e.kind == .tcp ? 11 : 8)] |= destination ? 0x02 : 0x01 }
            }
        case .mark:
            let v = try value()
            guard let (mark, mask) = parseMarkMask(v) else { throw fail("mark \(text(v))") }
            put32(mark, &out, d)
            put32(mask, &out, d + 4)
            if invert { out[d + 8] = 1 }
        case .addrtype:
            switch bit {
            case 0, 1:
                let v = try value()
                guard let types = parseAddressTypes(v) else { throw fail("address type \(text(v))") }
                put16(types, &out, d + (bit == 0 ? 0 : 2))
                if invert { or32(bit == 0 ? 0x1 : 0x2, &out, d + 4) }
            default:
                try noInvert()
                or32(bit == 2 ? 0x4 : 0x8, &out, d + 4)
            }
        case .conntrack:
            var mask: UInt16 = 0
            for part in try value().split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                // 1 << (ctinfo + 1) for ESTABLISHED, RELATED, NEW; SNAT, DNAT, UNTRACKED are
                // 1 << (IP_CT_NUMBER (5) + 1, 2, 3).
                if equals(part, "INVALID") { mask |= 1 }
                else if equals(part, "ESTABLISHED") { mask |= 2 }
                else if equals(part, "RELATED") { mask |= 4 }
                else if equals(part, "NEW") { mask |= 8 }
                else if equals(part, "SNAT") { mask |= 0x40 }
                else if equals(part, "DNAT") { mask |= 0x80 }
                else if equals(part, "UNTRACKED") { mask |= 0x100 }
                else { throw fail("conntrack state \(text(part))") }
            }
            // match_flags at 146 (XT_CONNTRACK_STATE), invert_flags at 148, state_mask at 150.
            put16(1, &out, d + 146)
            if invert { put16(1, &out, d + 148) }
            put16(mask, &out, d + 150)
        case .recent:
            // seconds 0, hit_count 4, check_set 8, invert 9, name 10..210, side 210, mask 212.
            switch bit {
            case 0...3:
                if e.seen & 0b1111 != 1 << UInt32(bit) { throw fail("more than one of --set, --rcheck, --update, --remove") }
                out[d + 8] |= [0x02, 0x01, 0x04, 0x08][bit]
                if invert { out[d + 9] = 1 }
            case 4, 5:
                try noInvert()
                let v = try value()
                guard let n = parseUInt32(v) else { throw fail("\(name) \(text(v))") }
                put32(n, &out, d + (bit == 4 ? 0 : 4))
            case 6, 7:
                try noInvert()
                out[d + 8] |= bit == 6 ? 0x20 : 0x10
            case 8:
                try noInvert()
                let t = try value()
                guard !t.isEmpty, t.count < 200 else { throw fail("recent name of \(t.count) bytes") }
                for k in 10..<210 { out[d + k] = 0 }
                var k = d + 10
                for c in t {
                    out[k] = c
                    k += 1
                }
            case 9, 10:
                try noInvert()
                if e.seen & 0b110_0000_0000 == 0b110_0000_0000 { throw fail("--rsource and --rdest") }
                out[d + 210] = bit == 9 ? 0 : 1
            default:
                try noInvert()
                let v = try value()
                guard let (mask, bits) = parseIPv4Network(v), bits == UInt32.max else { throw fail("recent mask \(text(v))") }
                put32(mask.bigEndian, &out, d + 212)
            }
        case .statistic:
            let v = try value()
            if bit == 0 {
                try noInvert()
                guard equals(v, "random") else { throw fail("statistic mode other than random") }
            } else {
                guard let p = Double(text(v)), p >= 0, p <= 1 else { throw fail("probability \(text(v))") }
                // lround(0x80000000 * p), and count = every - packet over the same union.
                let n = UInt32((2147483648.0 * p).rounded(.toNearestOrAwayFromZero))
                put32(n, &out, d + 4)
                put32(n, &out, d + 12)
                if invert { put16(1, &out, d + 2) }
            }
        case .markTarget:
            try noInvert()
            guard e.seen.nonzeroBitCount == 1 else { throw fail("more than one MARK operation") }
            let v = try value()
            switch bit {
            case 0, 1:
                guard let (mark, mask) = parseMarkMask(v) else { throw fail("mark \(text(v))") }
                put32(mark, &out, d)
                // --set-mark V/M zeroes M's bits and ORs V: (V, V | M).
                put32(bit == 0 ? mask : mark | mask, &out, d + 4)
            default:
                guard let mark = parseUInt32(v) else { throw fail("mark \(text(v))") }
                // --or-mark V is (V, V), --xor-mark V (V, 0), --and-mark V (0, ~V).
                put32(bit == 4 ? 0 : mark, &out, d)
                put32(bit == 2 ? mark : bit == 4 ? ~mark : 0, &out, d + 4)
            }
        case .masquerade:
            try noInvert()
            // nf_nat_ipv4_range.flags at 4: NF_NAT_RANGE_PROTO_RANDOM_FULLY, _PROTO_RANDOM.
            or32(bit == 0 ? 0x10 : 0x04, &out, d + 4)
        case .dnat:
            try noInvert()
            let v = try value()
            let colon = v.firstIndex(of: UInt8(ascii: ":"))
            let host = v[v.startIndex..<(colon ?? v.endIndex)]
            guard !host.contains(UInt8(ascii: "/")), let address = parseIPv4(host) else { throw fail("DNAT address \(text(v))") }
            // nf_nat_range2: flags 0, min_addr 4, max_addr 20, min_proto 36, max_proto 38.
            var flags: UInt32 = 1  // NF_NAT_RANGE_MAP_IPS
            put32(address.bigEndian, &out, d + 4)
            put32(address.bigEndian, &out, d + 20)
            if let colon {
                guard let port = parseUInt16(v[(colon + 1)...]), port > 0 else { throw fail("DNAT port \(text(v))") }
                flags |= 2  // NF_NAT_RANGE_PROTO_SPECIFIED
                put16(port.bigEndian, &out, d + 36)
                put16(port.bigEndian, &out, d + 38)
            }
            put32(flags, &out, d)
        case .reject:
            try noInvert()
            let v = try value()
            let with: UInt32
            switch text(v) {
            case "icmp-net-unreachable", "net-unreach": with = 0
            case "icmp-host-unreachable", "host-unreach": with = 1
            case "icmp-proto-unreachable", "proto-unreach": with = 2
            case "icmp-port-unreachable", "port-unreach": with = 3
            case "icmp-net-prohibited", "net-prohib": with = 5
            case "icmp-host-prohibited", "host-prohib": with = 6
            case "tcp-reset", "tcp-rst": with = 7
            case "icmp-admin-prohibited", "admin-prohib": with = 8
            default: throw fail("reject type \(text(v))")
            }
            put32(with, &out, d)
        }
    }

    /// What iptables checks of a complete extension (mandatory options).
    static func finalCheck(_ e: Extension, _ out: [UInt8], fail: (String) -> IPTablesError) throws(IPTablesError) {
        switch e.kind {
        case .comment where e.seen == 0: throw fail("-m comment without --comment")
        case .mark where e.seen == 0: throw fail("-m mark without --mark")
        case .addrtype where e.seen & 0b11 == 0: throw fail("-m addrtype without a type")
        case .conntrack where e.seen == 0: throw fail("-m conntrack without --ctstate")
        case .recent:
            guard e.seen & 0b1111 != 0 else { throw fail("-m recent without --set, --rcheck, --update or --remove") }
            // iptables' default mask (none given) is not the one this writer knows.
            guard e.seen & (1 << 11) != 0 else { throw fail("-m recent without --mask") }
            // --seconds, --hitcount, --reap, --rttl only with --rcheck or --update; --reap with --seconds.
            if e.seen & 0b1111_0000 != 0 && e.seen & 0b0110 == 0 { throw fail("--seconds, --hitcount, --reap or --rttl without --rcheck or --update") }
            if e.seen & (1 << 6) != 0 && e.seen & (1 << 4) == 0 { throw fail("--reap without --seconds") }
        case .statistic where e.seen != 0b11: throw fail("-m statistic without --mode random --probability")
        case .markTarget where e.seen == 0: throw fail("-j MARK without an operation")
        case .dnat where e.seen == 0: throw fail("-j DNAT without --to-destination")
        default: break
        }
    }

    // MARK: Values

    static func parseUInt32(_ t: Token) -> UInt32? {
        guard !t.isEmpty else { return nil }
        var v: UInt64 = 0
        var digits = t[...]
        var radix: UInt64 = 10
        if t.count > 2 && t[t.startIndex] == UInt8(ascii: "0") && (t[t.startIndex + 1] | 0x20) == UInt8(ascii: "x") {
            radix = 16
            digits = t.dropFirst(2)
        } else if t.count > 1 && t[t.startIndex] == UInt8(ascii: "0") {
            radix = 8
            digits = t.dropFirst()
        }
        for c in digits {
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt64(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt64(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
            guard d < radix else { return nil }
            v = v * radix + d
            guard v <= UInt64(UInt32.max) else { return nil }
        }
        return UInt32(v)
    }

    static func parseUInt16(_ t: Token) -> UInt16? {
        guard !t.isEmpty, t.count <= 5 else { return nil }
        var v = 0
        for c in t {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int(c - UInt8(ascii: "0"))
        }
        return v <= 65535 ? UInt16(v) : nil
    }

    /// `PORT` or `LOW:HIGH` (numbers only; iptables would also resolve service names).
    static func parsePorts(_ t: Token) -> (UInt16, UInt16)? {
        if let colon = t.firstIndex(of: UInt8(ascii: ":")) {
            guard let low = parseUInt16(t[t.startIndex..<colon]), let high = parseUInt16(t[(colon + 1)...]), low <= high else { return nil }
            return (low, high)
        }
        guard let port = parseUInt16(t) else { return nil }
        return (port, port)
    }

    /// `VALUE[/MASK]`, the mask all ones when absent.
    static func parseMarkMask(_ t: Token) -> (UInt32, UInt32)? {
        if let slash = t.firstIndex(of: UInt8(ascii: "/")) {
            guard let v = parseUInt32(t[t.startIndex..<slash]), let m = parseUInt32(t[(slash + 1)...]) else { return nil }
            return (v, m)
        }
        guard let v = parseUInt32(t) else { return nil }
        return (v, UInt32.max)
    }

    /// Comma-separated address types (xt_addrtype.h: 1 << RTN_*).
    static func parseAddressTypes(_ t: Token) -> UInt16? {
        let names: [StaticString] = ["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"]
        var v: UInt16 = 0
        for part in t.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            guard let i = names.firstIndex(where: { equals(part, $0) }) else { return nil }
            v |= 1 << UInt16(i)
        }
        return v
    }

    /// `A.B.C.D`, `A.B.C.D/N` or `A.B.C.D/M.M.M.M`: the address and the mask (host order).
    static func parseIPv4Network(_ t: Token) -> (UInt32, UInt32)? {
        let slash = t.firstIndex(of: UInt8(ascii: "/"))
        guard let address = parseIPv4(t[t.startIndex..<(slash ?? t.endIndex)]) else { return nil }
        guard let slash else { return (address, UInt32.max) }
        let rest = t[(slash + 1)...]
        if rest.contains(UInt8(ascii: ".")) {
            guard let mask = parseIPv4(rest) else { return nil }
            return (address, mask)
        }
        guard let n = parseUInt16(rest), n <= 32 else { return nil }
        return (address, n == 0 ? 0 : ~UInt32(0) << (32 - UInt32(n)))
    }

    /// `A.B.C.D` in host order.
    static func parseIPv4(_ t: Token) -> UInt32? {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, dots = 0
        for c in t {
            if c == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | part
                part = 0
                digits = 0
                dots += 1
            } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                part = part * 10 + UInt32(c - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, part <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | part
    }
}

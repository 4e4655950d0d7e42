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
    typealias Token = ArraySlice<UInt8>

    static let entrySize = 112
    static let headerSize = 32

    /// Splits a line into arguments as iptables-restore does for the input it is given: on
    /// spaces and tabs, a double-quoted argument as one (without its quotes). A quote inside an
    /// argument, a backslash or an unterminated quote is an error.
    static func tokens(_ line: ArraySlice<UInt8>) throws(IPTablesError) -> [Token] {
        var out: [Token] = []
        out.reserveCapacity(24)
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
        return out
    }

    static func lineError(_ line: ArraySlice<UInt8>, _ what: String) -> IPTablesError {
        IPTablesError("iptables writer: \(what): \(String(decoding: line, as: UTF8.self))")
    }

    static func text(_ t: Token) -> String { String(decoding: t, as: UTF8.self) }

    static func equals(_ t: Token, _ s: StaticString) -> Bool {
        s.withUTF8Buffer { t.elementsEqual($0) }
    }

    /// Encodes the arguments of one rule (without `-A CHAIN`).
    public static func encode(_ arguments: [String]) throws(IPTablesError) -> EncodedRule {
        let joined = Array(arguments.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ").utf8)
        return try encode(tokens(joined[...])[...])
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
            for k in [Kind.comment, .tcp, .udp, .sctp, .mark, .addrtype, .conntrack, .recent, .statistic] where equals(t, k.name) { return k }
            return nil
        }

        static func target(_ t: Token) -> Kind? {
            for k in [Kind.markTarget, .masquerade, .dnat, .reject] where equals(t, k.name) { return k }
            return nil
        }
    }

    /// A match or target extension being filled in by its options.
    struct Extension {
        let kind: Kind
        var data: [UInt8]
        /// Options seen (each at most once), by name.
        var seen: [String] = []

        init(_ kind: Kind) {
            self.kind = kind
            data = [UInt8](repeating: 0, count: (kind.dataSize + 7) & ~7)
            // Defaults, as each extension's init sets them.
            switch kind {
            case .tcp, .udp:
                put16(0xFFFF, at: 2)   // source ports 0:65535
                put16(0xFFFF, at: 6)   // destination ports 0:65535
            case .sctp:
                // xt_sctp_flag_info[4] at 268: no chunk type (0xff) in each.
                for i in 0..<4 { data[268 + 3 * i] = 0xFF }
            case .recent:
                for (i, c) in "DEFAULT".utf8.enumerated() { data[10 + i] = c }
            case .masquerade:
                put32(1, at: 0)  // rangesize
            case .reject:
                put32(3, at: 0)  // icmp-port-unreachable
            default:
                break
            }
        }

        mutating func put16(_ v: UInt16, at: Int) {
            data[at] = UInt8(v & 0xFF)
            data[at + 1] = UInt8(v >> 8)
        }

        mutating func put32(_ v: UInt32, at: Int) {
            for i in 0..<4 { data[at + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) }
        }

        mutating func or32(_ v: UInt32, at: Int) {
            for i in 0..<4 { data[at + i] |= UInt8((v >> (8 * UInt32(i))) & 0xFF) }
        }

        func u32(at: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[at + $1]) << (8 * UInt32($1)) }
        }

        /// The match or target: header (size, name, revision) and data.
        func bytes() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: RuleEncoder.headerSize)
            let size = RuleEncoder.headerSize + data.count
            out[0] = UInt8(size & 0xFF)
            out[1] = UInt8(size >> 8)
            kind.name.withUTF8Buffer { for (i, c) in $0.enumerated() { out[2 + i] = c } }
            out[31] = kind.revision
            out += data
            return out
        }
    }

    /// Encodes one rule's arguments.
    static func encode(_ args: ArraySlice<Token>) throws(IPTablesError) -> EncodedRule {
        var ip = [UInt8](repeating: 0, count: entrySize)
        var matches: [Extension] = []
        var target: Extension?
        var verdict: RuleVerdict = .next
        var haveTarget = false
        var general = Set<String>()
        var inActive = false
        var i = args.startIndex
        func fail(_ what: String) -> IPTablesError {
            IPTablesError("iptables writer: \(what) in rule: \(args.map(text).joined(separator: " "))")
        }
        func value() throws(IPTablesError) -> Token {
            guard i + 1 < args.endIndex else { throw fail("\(text(args[i])) without a value") }
            i += 1
            return args[i]
        }
        func once(_ option: String) throws(IPTablesError) {
            if !general.insert(option).inserted { throw fail("\(option) twice") }
        }
        while i < args.endIndex {
            let a = args[i]
            var invert = false
            var option = a
            if equals(a, "!") {
                invert = true
                guard i + 1 < args.endIndex else { throw fail("! at the end") }
                i += 1
                option = args[i]
            }
            if equals(option, "-p") || equals(option, "--protocol") {
                try once("-p")
                let p = try value()
                let number: UInt16
                if equals(p, "tcp") { number = 6 } else if equals(p, "udp") { number = 17 } else if equals(p, "sctp") { number = 132 }
                else if equals(p, "icmp") { number = 1 } else if equals(p, "all") { number = 0 }
                else { throw fail("protocol \(text(p))") }
                ip[80] = UInt8(number & 0xFF)
                ip[81] = UInt8(number >> 8)
                if invert { ip[83] |= 0x40 }  // IPT_INV_PROTO
            } else if equals(option, "-s") || equals(option, "--source") || equals(option, "-d") || equals(option, "--destination") {
                let source = equals(option, "-s") || equals(option, "--source")
                try once(source ? "-s" : "-d")
                guard let (address, mask) = parseIPv4Network(try value()) else { throw fail("address \(text(args[i]))") }
                let at = source ? 0 : 4
                for k in 0..<4 {
                    ip[at + k] = address[k] & mask[k]
                    ip[at + 8 + k] = mask[k]
                }
                if invert { ip[83] |= source ? 0x08 : 0x10 }  // IPT_INV_SRCIP, IPT_INV_DSTIP
            } else if equals(option, "-i") || equals(option, "--in-interface") || equals(option, "-o") || equals(option, "--out-interface") {
                let incoming = equals(option, "-i") || equals(option, "--in-interface")
                try once(incoming ? "-i" : "-o")
                let name = try value()
                guard !name.isEmpty, name.count < 16 else { throw fail("interface name \(text(name))") }
                let at = incoming ? 16 : 32
                for (k, c) in name.enumerated() { ip[at + k] = c }
                // The mask covers the name and its NUL, or the name before a trailing +.
                let masked = name.last == UInt8(ascii: "+") ? name.count - 1 : name.count + 1
                for k in 0..<masked { ip[at + 32 + k] = 0xFF }
                if invert { ip[83] |= incoming ? 0x01 : 0x02 }  // IPT_INV_VIA_IN, IPT_INV_VIA_OUT
            } else if equals(option, "-m") || equals(option, "--match") {
                if invert { throw fail("! before -m") }
                let name = try value()
                guard let kind = Kind.match(name) else { throw fail("match \(text(name))") }
                matches.append(Extension(kind))
                inActive = false
            } else if equals(option, "-j") || equals(option, "--jump") || equals(option, "-g") || equals(option, "--goto") {
                if invert { throw fail("! before a target") }
                if haveTarget { throw fail("a second target") }
                haveTarget = true
                let goto = equals(option, "-g") || equals(option, "--goto")
                let name = try value()
                if goto { ip[82] |= 0x02 }  // IPT_F_GOTO
                if equals(name, "ACCEPT") { verdict = .standard(-2) }
                else if equals(name, "DROP") { verdict = .standard(-1) }
                else if equals(name, "RETURN") { verdict = .standard(-5) }
                else if let kind = Kind.target(name) {
                    if goto { throw fail("-g to a target") }
                    target = Extension(kind)
                    verdict = .target
                    inActive = true
                } else {
                    let chain = text(name)
                    try checkChainName(chain)
                    verdict = .chain(chain)
                }
                if goto, case .standard = verdict { throw fail("-g to a verdict") }
            } else if option.first == UInt8(ascii: "-") {
                // An option of the last match, or of the target once one is given.
                if inActive, target != nil {
                    try targetOption(&target!, option, invert: invert, value: value, fail: fail)
                } else if !matches.isEmpty {
                    try matchOption(&matches[matches.count - 1], option, invert: invert, value: value, fail: fail)
                } else {
                    throw fail("option \(text(option))")
                }
            } else {
                throw fail("argument \(text(option))")
            }
            i += 1
        }
        for m in matches { try finalCheck(m, fail: fail) }
        if let t = target { try finalCheck(t, fail: fail) }

        // Layout: entry, matches, target.
        var bytes = ip
        for m in matches { bytes += m.bytes() }
        let targetOffset = bytes.count
        if let t = target {
            bytes += t.bytes()
        } else {
            // struct xt_standard_target: the header (empty name) and an int verdict, 40 bytes.
            var t = [UInt8](repeating: 0, count: 40)
            t[0] = 40
            if case .standard(let v) = verdict { withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 { t[32 + k] = $0[k] } } }
            bytes += t
        }
        guard bytes.count <= Int(UInt16.max) else { throw fail("a rule of \(bytes.count) bytes") }
        bytes[88] = UInt8(targetOffset & 0xFF)
        bytes[89] = UInt8(targetOffset >> 8)
        bytes[90] = UInt8(bytes.count & 0xFF)
        bytes[91] = UInt8(bytes.count >> 8)
        return EncodedRule(bytes: bytes, verdict: verdict)
    }

    /// A chain name iptables accepts: 1 to 28 bytes, not an option, not a built-in target's name.
    static func checkChainName(_ name: String) throws(IPTablesError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 28, bytes[0] != UInt8(ascii: "-"), bytes[0] != UInt8(ascii: "!"),
              !bytes.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else {
            throw IPTablesError("iptables writer: chain name \(name)")
        }
        if ["ACCEPT", "DROP", "RETURN", "QUEUE", "MARK", "MASQUERADE", "DNAT", "REJECT", "ERROR"].contains(name) {
            throw IPTablesError("iptables writer: chain name \(name) is a target's")
        }
    }

    static func matchOption(_ m: inout Extension, _ option: Token, invert: Bool,
                            value: () throws(IPTablesError) -> Token, fail: (String) -> IPTablesError) throws(IPTablesError) {
        let name = text(option)
        if m.seen.contains(name) { throw fail("\(name) twice") }
        m.seen.append(name)
        func noInvert() throws(IPTablesError) { if invert { throw fail("! before \(name)") } }
        switch m.kind {
        case .comment:
            guard name == "--comment" else { throw fail("comment option \(name)") }
            try noInvert()
            let t = try value()
            guard t.count < 256 else { throw fail("a comment of \(t.count) bytes") }
            for (k, c) in t.enumerated() { m.data[k] = c }
        case .tcp, .udp, .sctp:
            let destination: Bool
            switch name {
            case "--dport", "--destination-port": destination = true
            case "--sport", "--source-port": destination = false
            default: throw fail("\(text(option)) of -m \(m.kind.name)")
            }
            guard let (low, high) = parsePorts(try value()) else { throw fail("port \(name)") }
            if m.kind == .sctp {
                // dpts at 0, spts at 4; flags at 284, invflags at 288.
                let at = destination ? 0 : 4
                m.put16(low, at: at)
                m.put16(high, at: at + 2)
                let bit: UInt32 = destination ? 0x02 : 0x01
                m.or32(bit, at: 284)
                if invert { m.or32(bit, at: 288) }
            } else {
                // spts at 0, dpts at 4; invflags at 11 (tcp) or 8 (udp).
                let at = destination ? 4 : 0
                m.put16(low, at: at)
                m.put16(high, at: at + 2)
                if invert { m.data[m.kind == .tcp ? 11 : 8] |= destination ? 0x02 : 0x01 }
            }
        case .mark:
            guard name == "--mark" else { throw fail("mark option \(name)") }
            guard let (mark, mask) = parseMarkMask(try value()) else { throw fail("mark \(name)") }
            m.put32(mark, at: 0)
            m.put32(mask, at: 4)
            if invert { m.data[8] = 1 }
        case .addrtype:
            switch name {
            case "--src-type", "--dst-type":
                guard let types = parseAddressTypes(try value()) else { throw fail("address type") }
                m.put16(types, at: name == "--src-type" ? 0 : 2)
                if invert { m.or32(name == "--src-type" ? 0x1 : 0x2, at: 4) }
            case "--limit-iface-in", "--limit-iface-out":
                try noInvert()
                m.or32(name == "--limit-iface-in" ? 0x4 : 0x8, at: 4)
            default:
                throw fail("addrtype option \(name)")
            }
        case .conntrack:
            guard name == "--ctstate" else { throw fail("conntrack option \(name)") }
            var mask: UInt16 = 0
            for part in try value().split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                switch text(part) {
                case "INVALID": mask |= 1
                case "ESTABLISHED": mask |= 2
                case "RELATED": mask |= 4
                case "NEW": mask |= 8
                case "UNTRACKED": mask |= 0x100
                case "SNAT": mask |= 0x40
                case "DNAT": mask |= 0x80
                default: throw fail("conntrack state \(text(part))")
                }
            }
            // 1 << (ctinfo + 1) for ESTABLISHED, RELATED, NEW; SNAT, DNAT, UNTRACKED are 1 << (IP_CT_NUMBER (5) + 1, 2, 3).
            // match_flags at 146 (XT_CONNTRACK_STATE), invert_flags at 148, state_mask at 150.
            m.put16(1, at: 146)
            if invert { m.put16(1, at: 148) }
            m.put16(mask, at: 150)
        case .recent:
            // seconds 0, hit_count 4, check_set 8, invert 9, name 10..210, side 210, mask 212.
            switch name {
            case "--set", "--rcheck", "--update", "--remove":
                if m.seen.contains(where: { ["--set", "--rcheck", "--update", "--remove"].contains($0) && $0 != name }) {
                    throw fail("more than one of --set, --rcheck, --update, --remove")
                }
                m.data[8] |= name == "--set" ? 0x02 : name == "--rcheck" ? 0x01 : name == "--update" ? 0x04 : 0x08
                if invert { m.data[9] = 1 }
            case "--seconds", "--hitcount":
                try noInvert()
                guard let n = parseUInt32(try value()) else { throw fail("\(name) value") }
                m.put32(n, at: name == "--seconds" ? 0 : 4)
            case "--reap", "--rttl":
                try noInvert()
                m.data[8] |= name == "--reap" ? 0x20 : 0x10
            case "--name":
                try noInvert()
                let t = try value()
                guard !t.isEmpty, t.count < 200 else { throw fail("recent name of \(t.count) bytes") }
                for k in 10..<210 { m.data[k] = 0 }
                for (k, c) in t.enumerated() { m.data[10 + k] = c }
            case "--rsource", "--rdest":
                try noInvert()
                if m.seen.contains(name == "--rsource" ? "--rdest" : "--rsource") { throw fail("--rsource and --rdest") }
                m.data[210] = name == "--rsource" ? 0 : 1
            case "--mask":
                try noInvert()
                guard let (mask, bits) = parseIPv4Network(try value()), bits == [255, 255, 255, 255] else { throw fail("recent mask") }
                for k in 0..<4 { m.data[212 + k] = mask[k] }
            default:
                throw fail("recent option \(name)")
            }
        case .statistic:
            switch name {
            case "--mode":
                try noInvert()
                guard equals(try value(), "random") else { throw fail("statistic mode other than random") }
            case "--probability":
                let t = try value()
                guard let p = Double(text(t)), p >= 0, p <= 1 else { throw fail("probability \(text(t))") }
                // lround(0x80000000 * p), and count = every - packet over the same union.
                let v = UInt32((2147483648.0 * p).rounded(.toNearestOrAwayFromZero))
                m.put32(v, at: 4)
                m.put32(v, at: 12)
                if invert { m.put16(1, at: 2) }
            default:
                throw fail("statistic option \(name)")
            }
        default:
            throw fail("option \(name)")
        }
    }

    static func targetOption(_ t: inout Extension, _ option: Token, invert: Bool,
                             value: () throws(IPTablesError) -> Token, fail: (String) -> IPTablesError) throws(IPTablesError) {
        let name = text(option)
        if invert { throw fail("! before \(name)") }
        if t.seen.contains(name) { throw fail("\(name) twice") }
        t.seen.append(name)
        switch t.kind {
        case .markTarget:
            guard t.seen.count == 1 else { throw fail("more than one MARK operation") }
            let v = try value()
            switch name {
            case "--set-xmark":
                guard let (mark, mask) = parseMarkMask(v) else { throw fail("mark") }
                t.put32(mark, at: 0)
                t.put32(mask, at: 4)
            case "--set-mark":
                guard let (mark, mask) = parseMarkMask(v) else { throw fail("mark") }
                t.put32(mark, at: 0)
                t.put32(mark | mask, at: 4)
            case "--or-mark", "--xor-mark", "--and-mark":
                guard let mark = parseUInt32(v) else { throw fail("mark") }
                t.put32(name == "--and-mark" ? 0 : mark, at: 0)
                t.put32(name == "--or-mark" ? mark : name == "--and-mark" ? ~mark : 0, at: 4)
            default:
                throw fail("MARK option \(name)")
            }
        case .masquerade:
            // nf_nat_ipv4_range.flags at 4: NF_NAT_RANGE_PROTO_RANDOM_FULLY, _PROTO_RANDOM.
            switch name {
            case "--random-fully": t.or32(0x10, at: 4)
            case "--random": t.or32(0x04, at: 4)
            default: throw fail("MASQUERADE option \(name)")
            }
        case .dnat:
            guard name == "--to-destination" else { throw fail("DNAT option \(name)") }
            let v = try value()
            let colon = v.firstIndex(of: UInt8(ascii: ":"))
            guard let (address, mask) = parseIPv4Network(v[v.startIndex..<(colon ?? v.endIndex)]), mask == [255, 255, 255, 255],
                  !v[v.startIndex..<(colon ?? v.endIndex)].contains(UInt8(ascii: "/")) else { throw fail("DNAT address \(text(v))") }
            // nf_nat_range2: flags 0, min_addr 4, max_addr 20, min_proto 36, max_proto 38.
            var flags: UInt32 = 1  // NF_NAT_RANGE_MAP_IPS
            for k in 0..<4 {
                t.data[4 + k] = address[k]
                t.data[20 + k] = address[k]
            }
            if let colon {
                guard let port = parseUInt16(v[(colon + 1)...]), port > 0 else { throw fail("DNAT port \(text(v))") }
                flags |= 2  // NF_NAT_RANGE_PROTO_SPECIFIED
                for at in [36, 38] {
                    t.data[at] = UInt8(port >> 8)
                    t.data[at + 1] = UInt8(port & 0xFF)
                }
            }
            t.put32(flags, at: 0)
        case .reject:
            guard name == "--reject-with" else { throw fail("REJECT option \(name)") }
            let with: UInt32
            switch text(try value()) {
            case "icmp-net-unreachable", "net-unreach": with = 0
            case "icmp-host-unreachable", "host-unreach": with = 1
            case "icmp-proto-unreachable", "proto-unreach": with = 2
            case "icmp-port-unreachable", "port-unreach": with = 3
            case "icmp-net-prohibited", "net-prohib": with = 5
            case "icmp-host-prohibited", "host-prohib": with = 6
            case "tcp-reset", "tcp-rst": with = 7
            case "icmp-admin-prohibited", "admin-prohib": with = 8
            default: throw fail("reject type")
            }
            t.put32(with, at: 0)
        default:
            throw fail("target option \(name)")
        }
    }

    /// What iptables checks of a complete extension (mandatory options).
    static func finalCheck(_ e: Extension, fail: (String) -> IPTablesError) throws(IPTablesError) {
        switch e.kind {
        case .comment where e.seen.isEmpty: throw fail("-m comment without --comment")
        case .mark where e.seen.isEmpty: throw fail("-m mark without --mark")
        case .addrtype where !e.seen.contains("--src-type") && !e.seen.contains("--dst-type"): throw fail("-m addrtype without a type")
        case .conntrack where e.seen.isEmpty: throw fail("-m conntrack without --ctstate")
        case .recent:
            guard e.data[8] & 0x0F != 0 else { throw fail("-m recent without --set, --rcheck, --update or --remove") }
            // iptables' default mask (none given) is not the one this writer knows.
            guard e.seen.contains("--mask") else { throw fail("-m recent without --mask") }
            if (e.seen.contains("--seconds") || e.seen.contains("--hitcount") || e.data[8] & 0x30 != 0) && e.data[8] & 0x05 == 0 {
                throw fail("--seconds, --hitcount, --reap or --rttl without --rcheck or --update")
            }
            if e.data[8] & 0x20 != 0 && !e.seen.contains("--seconds") { throw fail("--reap without --seconds") }
        case .statistic where !(e.seen.contains("--mode") && e.seen.contains("--probability")): throw fail("-m statistic without --mode random --probability")
        case .markTarget where e.seen.isEmpty: throw fail("-j MARK without an operation")
        case .dnat where e.seen.isEmpty: throw fail("-j DNAT without --to-destination")
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
        let names = ["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"]
        var v: UInt16 = 0
        for part in t.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            guard let i = names.firstIndex(of: text(part)) else { return nil }
            v |= 1 << UInt16(i)
        }
        return v
    }

    /// `A.B.C.D`, `A.B.C.D/N` or `A.B.C.D/M.M.M.M`: the address and the mask.
    static func parseIPv4Network(_ t: Token) -> ([UInt8], [UInt8])? {
        let slash = t.firstIndex(of: UInt8(ascii: "/"))
        guard let address = parseIPv4(t[t.startIndex..<(slash ?? t.endIndex)]) else { return nil }
        guard let slash else { return (address, [255, 255, 255, 255]) }
        let rest = t[(slash + 1)...]
        if rest.contains(UInt8(ascii: ".")) {
            guard let mask = parseIPv4(rest) else { return nil }
            return (address, mask)
        }
        guard let n = parseUInt16(rest), n <= 32 else { return nil }
        let bits: UInt32 = n == 0 ? 0 : ~UInt32(0) << (32 - UInt32(n))
        return (address, [UInt8(bits >> 24), UInt8((bits >> 16) & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8(bits & 0xFF)])
    }

    static func parseIPv4(_ t: Token) -> [UInt8]? {
        let parts = t.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard p.count <= 3, let v = parseUInt16(p), v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }
}

import Foundation
@testable import IPTables
import Testing

/// ``RuleEncoder`` against layouts worked out by hand from the kernel's uapi headers (and
/// checked against what `iptables-legacy-restore` 1.8.9 loads: `IPTablesWriterIntegrationTests`),
/// and ``TableWriter``'s table handling on tables built byte by byte.
@Suite struct IPTablesWriterTests {
    static func hex(_ s: String) -> [UInt8] {
        let digits = Array(s.filter { !$0.isWhitespace }.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
    }

    static func zeros(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: n) }

    /// An extension: its size, name, revision and data (already padded to 8).
    static func ext(_ name: String, _ revision: UInt8, _ data: [UInt8]) -> [UInt8] {
        var h = zeros(32)
        let size = 32 + data.count
        h[0] = UInt8(size & 0xFF)
        h[1] = UInt8(size >> 8)
        for (i, c) in name.utf8.enumerated() { h[2 + i] = c }
        h[31] = revision
        return h + data
    }

    static func standard(_ verdict: Int32) -> [UInt8] {
        ext("", 0, withUnsafeBytes(of: verdict.littleEndian) { Array($0) } + zeros(4))
    }

    /// A whole entry: `ipt_ip` (84 bytes, set by `ip`), then matches and target.
    static func entry(_ ip: (inout [UInt8]) -> Void = { _ in }, matches: [[UInt8]] = [], target: [UInt8]) -> [UInt8] {
        var e = zeros(112)
        ip(&e)
        let body = matches.flatMap { $0 }
        let targetOffset = 112 + body.count, next = targetOffset + target.count
        e[88] = UInt8(targetOffset & 0xFF); e[89] = UInt8(targetOffset >> 8)
        e[90] = UInt8(next & 0xFF); e[91] = UInt8(next >> 8)
        return e + body + target
    }

    static func comment(_ text: String) -> [UInt8] { ext("comment", 0, Array(text.utf8) + zeros(256 - text.utf8.count)) }

    static func encode(_ line: String) throws -> EncodedRule {
        try RuleEncoder.encode(line: line)
    }

    @Test func markMatchAndMarkTargets() throws {
        let r = try Self.encode("-m mark ! --mark 0x4000/0x4000 -j RETURN")
        #expect(r.verdict == .standard(-5))
        #expect(r.bytes == Self.entry(matches: [Self.ext("mark", 1, Self.hex("00400000 00400000 01000000 00000000"))], target: Self.standard(-5)))
        // xt_mark_tginfo2 {mark, mask}: --or-mark V is (V, V), --xor-mark V is (V, 0), --set-xmark V/M is (V, M).
        for (option, data) in [("--or-mark 0x4000", "00400000 00400000"), ("--xor-mark 0x4000", "00400000 00000000"),
                               ("--set-xmark 0x1/0xff", "01000000 ff000000"), ("--set-xmark 16", "10000000 ffffffff"),
                               ("--set-mark 0x1/0xf0", "01000000 f1000000"), ("--and-mark 0xff", "00000000 00ffffff")] {
            let t = try Self.encode("-j MARK \(option)")
            #expect(t.verdict == .target)
            #expect(t.bytes == Self.entry(target: Self.ext("MARK", 2, Self.hex(data))), "\(option)")
        }
    }

    @Test func commentMasqueradeAndAddresses() throws {
        let r = try Self.encode("-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully")
        // nf_nat_ipv4_multi_range_compat: rangesize 1, range[0].flags NF_NAT_RANGE_PROTO_RANDOM_FULLY.
        #expect(r.bytes == Self.entry(matches: [Self.comment("kubernetes service traffic requiring SNAT")],
                                      target: Self.ext("MASQUERADE", 0, Self.hex("01000000 10000000") + Self.zeros(16))))
        let a = try Self.encode("! -d 127.0.0.0/8 -s 10.1.2.3 -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
        #expect(a.verdict == .chain("KUBE-NODEPORTS"))
        #expect(a.bytes == Self.entry({ ip in
            ip.replaceSubrange(0..<16, with: Self.hex("0a010203 7f000000 ffffffff ff000000"))
            ip[83] = 0x10  // IPT_INV_DSTIP
        }, matches: [Self.ext("addrtype", 1, Self.hex("0000 0400 00000000"))], target: Self.standard(0)))
        // The address is masked; a dotted mask is the same as its length.
        #expect(try Self.encode("-s 10.244.7.9/16 -j ACCEPT") == Self.encode("-s 10.244.0.0/255.255.0.0 -j ACCEPT"))
        let s = try Self.encode("-m addrtype ! --src-type LOCAL,BROADCAST --limit-iface-in -g X")
        #expect(s.bytes == Self.entry({ $0[82] = 0x02 }, matches: [Self.ext("addrtype", 1, Self.hex("0c00 0000 05000000"))], target: Self.standard(0)))
    }

    @Test func portsAndProtocols() throws {
        let t = try Self.encode("-m comment --comment x -m tcp -p tcp -d 10.0.0.1/32 --dport 80 -j KUBE-SVC-A")
        #expect(t.bytes == Self.entry({ ip in
            ip.replaceSubrange(4..<8, with: [10, 0, 0, 1])
            ip.replaceSubrange(12..<16, with: [255, 255, 255, 255])
            ip[80] = 6
        }, matches: [Self.comment("x"), Self.ext("tcp", 0, Self.hex("0000ffff 50005000 00000000 00000000"))], target: Self.standard(0)))
        let u = try Self.encode("-m udp -p udp ! --sport 1000:2000 -j ACCEPT")
        #expect(u.bytes == Self.entry({ $0[80] = 17 }, matches: [Self.ext("udp", 0, Self.hex("e803d007 0000ffff 01000000 00000000"))], target: Self.standard(-2)))
        // xt_sctp_info: dpts, spts, chunkmap[64], chunk_match_type, flag_info[4] (no chunk type: 0xff), flag_count, flags, invflags.
        let s = try Self.encode("-m sctp -p sctp --dport 3868 -j DROP")
        var sctp = Self.hex("1c0f1c0f 00000000") + Self.zeros(256) + Self.zeros(4) + Self.hex("ff0000 ff0000 ff0000 ff0000")
        sctp += Self.zeros(4) + Self.hex("02000000 00000000 00000000")
        #expect(s.bytes == Self.entry({ $0[80] = 132 }, matches: [Self.ext("sctp", 0, sctp)], target: Self.standard(-1)))
        // Interfaces: the name and a mask over it and its NUL, or up to a trailing +.
        let i = try Self.encode("! -i eth0 -o veth+ ! -p udp -j RETURN")
        #expect(i.bytes == Self.entry({ ip in
            ip.replaceSubrange(16..<20, with: Array("eth0".utf8))
            ip.replaceSubrange(32..<37, with: Array("veth+".utf8))
            ip.replaceSubrange(48..<53, with: [UInt8](repeating: 0xFF, count: 5))
            ip.replaceSubrange(64..<68, with: [UInt8](repeating: 0xFF, count: 4))
            ip[80] = 17
            ip[83] = 0x01 | 0x40
        }, target: Self.standard(-5)))
    }

    @Test func conntrackRecentStatistic() throws {
        // xt_conntrack_mtinfo3: match_flags at 146, state_mask at 150 (ESTABLISHED 2, RELATED 4, NEW 8).
        var ct = Self.zeros(168)
        ct[146] = 1
        ct[150] = 6
        #expect(try Self.encode("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT").bytes
                == Self.entry(matches: [Self.ext("conntrack", 3, ct)], target: Self.standard(-2)))
        ct[148] = 1
        ct[150] = 8
        #expect(try Self.encode("-m conntrack ! --ctstate NEW -j ACCEPT").bytes == Self.entry(matches: [Self.ext("conntrack", 3, ct)], target: Self.standard(-2)))
        // xt_recent_mtinfo_v1: seconds, hit_count, check_set (CHECK 1 | REAP 32), invert, name[200], side, mask.
        var recent = Self.hex("302a0000 00000000 21 00") + Array("KUBE-SEP-A".utf8)
        recent += Self.zeros(200 - 10) + [0, 0] + Self.hex("ffffffff") + Self.zeros(12 + 4)
        #expect(try Self.encode("-m recent --name KUBE-SEP-A --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-SEP-A").bytes
                == Self.entry(matches: [Self.ext("recent", 1, recent)], target: Self.standard(0)))
        // The DNAT of an endpoint with affinity: --set (2), and nf_nat_range2 with the address and port.
        var set = Self.hex("00000000 00000000 02 00") + Array("KUBE-SEP-A".utf8)
        set += Self.zeros(200 - 10) + [0, 0] + Self.hex("ffffffff") + Self.zeros(12 + 4)
        let dnat = Self.hex("03000000 0a010001") + Self.zeros(12) + Self.hex("0a010001") + Self.zeros(12) + Self.hex("1f90 1f90 0000") + Self.zeros(6)
        #expect(try Self.encode("-m recent --set --name KUBE-SEP-A --mask 255.255.255.255 --rsource -p tcp -j DNAT --to-destination 10.1.0.1:8080").bytes
                == Self.entry({ $0[80] = 6 }, matches: [Self.ext("recent", 1, set)], target: Self.ext("DNAT", 2, dnat)))
        // lround(0x80000000 * p) in random.probability and in nth.count (every - packet).
        #expect(try Self.encode("-m statistic --mode random --probability 0.3333333333 -j X").bytes
                == Self.entry(matches: [Self.ext("statistic", 0, Self.hex("00000000 abaaaa2a 00000000 abaaaa2a 00000000 00000000"))], target: Self.standard(0)))
        #expect(try Self.encode("-m statistic --mode random --probability 0.5000000000 -j X").bytes
                == Self.entry(matches: [Self.ext("statistic", 0, Self.hex("00000000 00000040 00000000 00000040 00000000 00000000"))], target: Self.standard(0)))
    }

    @Test func rejectAndVerdicts() throws {
        #expect(try Self.encode("-j REJECT").bytes == Self.entry(target: Self.ext("REJECT", 0, Self.hex("03000000 00000000"))))
        #expect(try Self.encode("-p tcp -j REJECT --reject-with tcp-reset").bytes
                == Self.entry({ $0[80] = 6 }, target: Self.ext("REJECT", 0, Self.hex("07000000 00000000"))))
        #expect(try Self.encode("-j ACCEPT").bytes == Self.entry(target: Self.standard(-2)))
        #expect(try Self.encode("-j DROP").bytes == Self.entry(target: Self.standard(-1)))
        #expect(try Self.encode("-m comment --comment \"no target\"") == EncodedRule(bytes: Self.entry(matches: [Self.comment("no target")], target: Self.standard(0)), verdict: .next))
        #expect(try Self.encode("-p udp -j DNAT --to-destination 10.1.0.3").bytes
                == Self.entry({ $0[80] = 17 }, target: Self.ext("DNAT", 2, Self.hex("01000000 0a010003") + Self.zeros(12) + Self.hex("0a010003") + Self.zeros(12 + 12))))
    }

    @Test func badInputIsAnError() {
        for line in ["-m limit --limit 5/s -j ACCEPT", "-m tcp -p tcp --tcp-flags SYN SYN", "-p tcp --dport 80 -j ACCEPT",
                     "-s example.com -j ACCEPT", "-s 10.0.0.1/33 -j ACCEPT", "-j MARK", "-j MARK --or-mark 1 --xor-mark 2",
                     "-j DNAT", "-j DNAT --to-destination 10.0.0.1-10.0.0.2", "-j DNAT --to-destination 10.0.0.1:80-90",
                     "-m comment --comment \(String(repeating: "x", count: 256)) -j ACCEPT", "-m comment -j ACCEPT",
                     "-m statistic --mode nth --every 2 -j ACCEPT", "-m statistic --mode random --probability 1.5 -j X",
                     "-m recent --set --name X", "-m recent --name X --mask 255.255.255.255 --rsource",
                     "-m recent --set --rcheck --name X --mask 255.255.255.255", "-m recent --set --seconds 5 --name X --mask 255.255.255.255",
                     "-m conntrack --ctstate NEWISH -j ACCEPT", "-m addrtype --dst-type LOCALISH -j ACCEPT", "-j REJECT --reject-with nothing",
                     "-j ACCEPT -j DROP", "-g ACCEPT", "-m mark --mark 0x100000000 -j ACCEPT", "-p gre -j ACCEPT", "! -m tcp -j ACCEPT",
                     "-m tcp -p tcp --dport 80 --dport 81 -j ACCEPT", "-m tcp -p tcp --dport 70000 -j ACCEPT", "-j THIS-NAME-IS-LONGER-THAN-28-BYTES",
                     "-m comment --comment \"a \\\" quote\" -j ACCEPT", "-m comment --comment \"unterminated -j ACCEPT", "-s", "!", "-d 10.0.0.1 extra"] {
            #expect(throws: IPTablesError.self, "\(line)") { try Self.encode(line) }
        }
    }

    /// A table as the kernel returns it, laid out again with no change, is the same bytes
    /// (built-in and user chains, a jump, a goto, a rule without target, a policy).
    @Test func unchangedTableLaysOutTheSame() throws {
        let (blob, hooks, underflows) = KernelTableTests.natTable()
        let raw = KernelTable.Raw(validHooks: 0b11011, hookEntry: hooks, underflow: underflows, numEntries: Self.count(blob), entries: blob)
        let image = try TableWriter.image(raw)
        let out = try TableWriter.layout(image)
        #expect(out.entries == blob)
        #expect(out.hookEntry.enumerated().filter { 0b11011 & (1 << $0.offset) != 0 }.map(\.element) == [0, 1, 3, 4].map { hooks[$0] })
        #expect(out.oldIndex.count == raw.numEntries)
        // Kept rules and policies keep their counters (their old index), heads and ends do not.
        #expect(out.oldIndex.filter { $0 >= 0 }.count == 11)
    }

    static func count(_ blob: [UInt8]) -> Int {
        var n = 0, at = 0
        while at < blob.count {
            at += Int(blob[at + 90]) | Int(blob[at + 91]) << 8
            n += 1
        }
        return n
    }

    /// New chains go in by name among the user-defined ones; flushing, inserting, deleting and
    /// -X change what they should; jumps point at the first entry after a chain's head.
    @Test func operationsAndLayout() throws {
        let (blob, hooks, underflows) = KernelTableTests.natTable()
        var image = try TableWriter.image(KernelTable.Raw(validHooks: 0b11011, hookEntry: hooks, underflow: underflows, numEntries: Self.count(blob), entries: blob))
        let text = """
            *nat
            :KUBE-A - [0:0]
            :KUBE-Z - [0:0]
            :KUBE-SERVICES - [0:0]
            -A KUBE-A -j KUBE-Z
            -A KUBE-Z -j ACCEPT
            -I PREROUTING 1 -j KUBE-A
            -D OUTPUT -m comment --comment other -j KUBE-SERVICES
            COMMIT

            """
        let sections = try TableWriter.parse(Array(text.utf8))
        #expect(sections.count == 1 && sections[0].table == "nat" && sections[0].operations.count == 7)
        try TableWriter.apply(sections[0].operations, to: &image)
        #expect(TableWriter.order(image).map(\.name) == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "KUBE-A", "KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-Z"])
        let out = try TableWriter.layout(image)
        let table = try KernelTable.parse(entries: out.entries, validHooks: 0b11011, hookEntry: out.hookEntry, underflow: out.underflow)
        #expect(table.chains == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "KUBE-A", "KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-Z"])
        #expect(table.rules.map(\.chain) == ["PREROUTING", "PREROUTING", "OUTPUT", "OUTPUT", "POSTROUTING", "KUBE-A", "KUBE-Z"])
        #expect(table.rules.map(\.jump) == ["KUBE-A", "KUBE-SERVICES", nil, nil, "KUBE-POSTROUTING", "KUBE-Z", nil])
        // A chain something jumps to, or with rules, cannot go.
        for bad in ["*nat\n-X KUBE-SERVICES\nCOMMIT\n", "*nat\n-X KUBE-A\nCOMMIT\n", "*nat\n-X PREROUTING\nCOMMIT\n", "*nat\n-A NOPE -j ACCEPT\nCOMMIT\n",
                    "*nat\n-I KUBE-Z 3 -j ACCEPT\nCOMMIT\n", "*nat\n-D KUBE-Z -j RETURN\nCOMMIT\n", "*nat\n-A KUBE-Z -j PREROUTING\nCOMMIT\n"] {
            var copy = image
            let ops = try TableWriter.parse(Array(bad.utf8))[0].operations
            #expect(throws: IPTablesError.self, "\(bad)") { try TableWriter.apply(ops, to: &copy) }
        }
    }

    @Test func textErrors() {
        for bad in ["-A X -j ACCEPT\n", "*nat\n-A X -j ACCEPT\n", "*raw\nCOMMIT\n", "*nat\n*filter\nCOMMIT\n", "*nat\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
                    "*nat\n:X - [1:2]\nCOMMIT\n", "*nat\n-N X\nCOMMIT\n", "*nat\n-F X\nCOMMIT\n", "*nat\n-D X 1\nCOMMIT\n", "*nat\n[1:2] -A X -j ACCEPT\nCOMMIT\n"] {
            #expect(throws: IPTablesError.self, "\(bad)") { try TableWriter.parse(Array(bad.utf8)) }
        }
        #expect(TableWriter.remainder(Array("*nat\nCOMMIT\n*filter\n-A X\nCOMMIT\n".utf8), after: 1) == Array("*filter\n-A X\nCOMMIT\n".utf8))
        #expect(TableWriter.remainder(Array("*nat\nCOMMIT\n".utf8), after: 0) == Array("*nat\nCOMMIT\n".utf8))
    }

    /// Random cuts and flipped bytes of a kernel table give an error or a table, never a crash.
    @Test func corruptTablesAreErrors() {
        let (blob, hooks, underflows) = KernelTableTests.natTable()
        var generator = SystemRandomNumberGenerator()
        for cut in stride(from: 0, to: blob.count, by: 7) {
            _ = try? TableWriter.image(KernelTable.Raw(validHooks: 0b11011, hookEntry: hooks, underflow: underflows, numEntries: 12, entries: Array(blob[..<cut])))
        }
        for _ in 0..<2000 {
            var b = blob
            b[Int.random(in: 0..<b.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            if let image = try? TableWriter.image(KernelTable.Raw(validHooks: 0b11011, hookEntry: hooks, underflow: underflows, numEntries: Self.count(blob), entries: b)) {
                _ = try? TableWriter.layout(image)
            }
        }
    }
}

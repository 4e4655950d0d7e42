import Foundation
@testable import IPTables
import Testing

/// ``NFTTableWriter``'s expressions for each kind of rule against what iptables-nft 1.8.9 wrote
/// for the same arguments (`iptables-nft -vvv -t filter -A GT ...` in a scratch namespace, the
/// expression lines it printed; docs/proxy-bench-iptables.md, session 12).
@Suite struct NFTTableWriterTests {
    /// Rule arguments and the expressions iptables-nft wrote for them.
    static let cases: [(String, [String])] = [
        (#"-m comment --comment "ns/svc:p cluster IP" -m tcp -p tcp -d 10.0.0.1/32 --dport 80 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000006 ]",
            "[ payload load 4b @ network header + 16 => reg 1 ]",
            "[ cmp eq reg 1 0x0100000a ]",
            "[ match name comment rev 0 ]",
            "[ payload load 2b @ transport header + 2 => reg 1 ]",
            "[ cmp eq reg 1 0x00005000 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-s 10.0.0.0/20 -j RETURN"#, [
            "[ payload load 4b @ network header + 12 => reg 1 ]",
            "[ bitwise reg 1 = ( reg 1 & 0x00f0ffff ) ^ 0x00000000 ]",
            "[ cmp eq reg 1 0x0000000a ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 return ]",
        ]),
        (#"! -d 192.168.1.0/24 -j DROP"#, [
            "[ payload load 3b @ network header + 16 => reg 1 ]",
            "[ cmp neq reg 1 0x0001a8c0 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 drop ]",
        ]),
        (#"-s 10.1.2.3/255.255.0.255 -j ACCEPT"#, [
            "[ payload load 4b @ network header + 12 => reg 1 ]",
            "[ bitwise reg 1 = ( reg 1 & 0xff00ffff ) ^ 0x00000000 ]",
            "[ cmp eq reg 1 0x0300010a ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-i eth0 -o veth+ -j RETURN"#, [
            "[ meta load iifname => reg 1 ]",
            "[ cmp eq reg 1 0x30687465 0x00000000 ]",
            "[ meta load oifname => reg 1 ]",
            "[ cmp eq reg 1 0x68746576 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 return ]",
        ]),
        (#"! -i eth1 ! -o veth ! -p udp -j RETURN"#, [
            "[ meta load iifname => reg 1 ]",
            "[ cmp neq reg 1 0x31687465 0x00000000 ]",
            "[ meta load oifname => reg 1 ]",
            "[ cmp neq reg 1 0x68746576 0x00000000 ]",
            "[ meta load l4proto => reg 1 ]",
            "[ cmp neq reg 1 0x00000011 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 return ]",
        ]),
        (#"! -i + -j ACCEPT"#, [
            "[ meta load iifname => reg 1 ]",
            "[ cmp eq reg 1 0x41564e49 0x00442f4c ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-o + -j ACCEPT"#, [
            "[ meta load oifname => reg 1 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p tcp -m tcp --sport 5 --dport 6 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000006 ]",
            "[ payload load 4b @ transport header + 0 => reg 1 ]",
            "[ cmp eq reg 1 0x06000500 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p tcp -m tcp ! --sport 5 ! --dport 6 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000006 ]",
            "[ payload load 4b @ transport header + 0 => reg 1 ]",
            "[ cmp neq reg 1 0x06000500 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p tcp -m tcp --sport 5 ! --dport 6 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000006 ]",
            "[ payload load 2b @ transport header + 0 => reg 1 ]",
            "[ cmp eq reg 1 0x00000500 ]",
            "[ payload load 2b @ transport header + 2 => reg 1 ]",
            "[ cmp neq reg 1 0x00000600 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p udp -m udp --dport 1:100 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000011 ]",
            "[ payload load 2b @ transport header + 2 => reg 1 ]",
            "[ range eq reg 1 0x00000100 0x00006400 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p udp -m udp ! --dport 0:100 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000011 ]",
            "[ payload load 2b @ transport header + 2 => reg 1 ]",
            "[ cmp gt reg 1 0x00006400 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p udp -m udp ! --sport 1000:2000 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000011 ]",
            "[ payload load 2b @ transport header + 0 => reg 1 ]",
            "[ range neq reg 1 0x0000e803 0x0000d007 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p udp -m udp --dport 1000:65535 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000011 ]",
            "[ payload load 2b @ transport header + 2 => reg 1 ]",
            "[ range eq reg 1 0x0000e803 0x0000ffff ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m tcp -p tcp -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000006 ]",
            "[ match name tcp rev 0 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m udp -p udp -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000011 ]",
            "[ match name udp rev 0 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m mark --mark 0x4000/0x4000 -j ACCEPT"#, [
            "[ meta load mark => reg 1 ]",
            "[ bitwise reg 1 = ( reg 1 & 0x00004000 ) ^ 0x00000000 ]",
            "[ cmp eq reg 1 0x00004000 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m mark ! --mark 7 -j ACCEPT"#, [
            "[ meta load mark => reg 1 ]",
            "[ cmp neq reg 1 0x00000007 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-p sctp -m sctp --dport 3868 -j ACCEPT"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000084 ]",
            "[ match name sctp rev 0 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m addrtype --dst-type LOCAL -j ACCEPT"#, [
            "[ match name addrtype rev 1 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m conntrack --ctstate NEW -j ACCEPT"#, [
            "[ match name conntrack rev 3 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m statistic --mode random --probability 0.5000000000 -j ACCEPT"#, [
            "[ match name statistic rev 0 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-m recent --name X --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j ACCEPT"#, [
            "[ match name recent rev 1 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 accept ]",
        ]),
        (#"-j MARK --or-mark 0x4000"#, [
            "[ counter pkts 0 bytes 0 ]",
            "[ target name MARK rev 2 ]",
        ]),
        (#"-j REJECT --reject-with tcp-reset -p tcp"#, [
            "[ meta load l4proto => reg 1 ]",
            "[ cmp eq reg 1 0x00000006 ]",
            "[ counter pkts 0 bytes 0 ]",
            "[ target name REJECT rev 0 ]",
        ]),
        (#"-j GT"#, [
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 jump -> GT ]",
        ]),
        (#"-g GT"#, [
            "[ counter pkts 0 bytes 0 ]",
            "[ immediate reg 0 goto -> GT ]",
        ]),
        (#"-m comment --comment "no target""#, [
            "[ match name comment rev 0 ]",
            "[ counter pkts 0 bytes 0 ]",
        ]),
    ]

    @Test(arguments: Self.cases.indices) func expressionsAreIPTablesNFTs(_ i: Int) throws {
        let (rule, expected) = Self.cases[i]
        let got = try NFTTableWriter.expressions(rule)
        #expect(got == expected, "\(rule)")
    }

    @Test func compatAttributeCarriesTheProtocol() throws {
        #expect(try NFTTableWriter.compatAttribute("-p tcp -m tcp --dport 80 -j ACCEPT") == (6, 0))
        #expect(try NFTTableWriter.compatAttribute("! -p udp -j ACCEPT") == (17, 2))  // NFT_RULE_COMPAT_F_INV
        #expect(try NFTTableWriter.compatAttribute("-j ACCEPT") == (0, 0))
    }

    @Test func matchAndTargetInfoAreTheXTBytes() throws {
        // The compat match's info is RuleEncoder's data after the 32-byte header, every byte.
        let line = "-m comment --comment hello -j MARK --or-mark 0x4000"
        let encoded = try RuleEncoder.encode(line: line)
        let r = try NFTTableWriter.newRule(encoded, table: "filter", chain: "X")
        defer { NFTTableWriter.free(r) }
        let key = NFTTableWriter.key(r)
        let comment = encoded.bytes[(112 + 32)..<(112 + 32 + 256)].map { String(format: "%02x", $0) }.joined()
        #expect(key.contains("[ match name comment rev 0 ] info " + comment), "\(key)")
        let t = encoded.targetOffset
        let mark = encoded.bytes[(t + 32)...].map { String(format: "%02x", $0) }.joined()
        #expect(key.hasSuffix("[ target name MARK rev 2 ] info " + mark), "\(key)")
        // xt_mark_tginfo2 of --or-mark 0x4000: mark 0x4000, mask 0x4000.
        #expect(mark == "0040000000400000")
    }

    @Test func outsideTheGrammarIsAnError() {
        for rule in ["-m tcp --dport 80 -j ACCEPT", "! -s 0.0.0.0/0 -j ACCEPT", "-m limit --limit 5/s -j ACCEPT"] {
            #expect(throws: IPTablesError.self, "\(rule)") { try NFTTableWriter.expressions(rule) }
        }
    }
}

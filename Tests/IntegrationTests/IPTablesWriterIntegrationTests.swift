import Foundation
import IPTables
import LinuxSystem
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

/// ``TableWriter`` against `iptables-legacy-restore --noflush`: two fresh network namespaces
/// start from the same rules of other tools (loaded by the tool, with counters); one gets each
/// text from the tool, the other from the writer; then the kernel's tables of both must be the
/// same, byte for byte (`IPT_SO_GET_ENTRIES`, counters included) and as `iptables-legacy-save -c`
/// prints them.
@Suite(.serialized, .enabled(if: IPTablesWriterRequirements.skipReason == nil, "\(IPTablesWriterRequirements.skipReason ?? "")"))
struct IPTablesWriterIntegrationTests {

    /// The tool's namespace and the writer's (``TableWriterNamespacePair``), compared by the
    /// kernel's bytes of each table and its save with counters.
    final class Pair: TableWriterNamespacePair, @unchecked Sendable {
        init() throws {
            try super.init(prefix: "iptw", restore: "iptables-legacy-restore", write: { try TableWriter.apply($0) })
        }

        /// The tables of `ns`: the kernel's bytes and the save with counters.
        override func tables(_ ns: String) throws -> [String] {
            var out: [String] = []
            for table in ["nat", "filter"] {
                let raw = try run(ns) { try TableWriter.kernelDump(table) }
                let saved = try tool(ns, "iptables-legacy-save", ["-c", "-t", table])
                out.append(raw)
                out.append(saved.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n"))
            }
            return out
        }

        override func view(_ index: Int) -> String {
            "\(index % 2 == 0 ? "kernel bytes" : "save") of \(index < 2 ? "nat" : "filter")"
        }
    }

    /// Rules other tools left: a Docker-like chain in each table, rules in built-in chains, a
    /// non-default policy, a match the writer cannot encode (multiport), counters.
    static let foreign = """
        *nat
        :PREROUTING ACCEPT [11:1100]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :DOCKER - [0:0]
        [2:120] -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
        [3:180] -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
        [4:240] -A DOCKER -i docker0 -j RETURN
        -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
        COMMIT
        *filter
        :INPUT ACCEPT [5:500]
        :FORWARD DROP [6:600]
        :OUTPUT ACCEPT [0:0]
        :DOCKER - [0:0]
        :DOCKER-USER - [0:0]
        [7:700] -A INPUT -i lo -j ACCEPT
        [8:800] -A INPUT -p tcp -m multiport --dports 22,443 -j ACCEPT
        -A FORWARD -j DOCKER-USER
        [9:900] -A FORWARD -o docker0 -j DOCKER
        -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
        -A DOCKER-USER -j RETURN
        COMMIT

        """

    /// Records each restore text and hands it to iptables-legacy-restore (no writer).
    final class Recorder: IPTablesInterface {
        let inner = ExecIPTables(variant: .legacy, writesTables: false)
        let texts = Mutex<[String]>([])

        func take() -> [String] { texts.withLock { t in defer { t = [] }; return t } }
        func restore(_ text: String) throws(IPTablesError) {
            texts.withLock { $0.append(text) }
            try inner.restore(text)
        }
        func restore(streaming write: (inout RestoreInput) -> Void) throws(IPTablesError) {
            var input = RestoreInput()
            write(&input)
            try restore(input.text)
        }
        func save(table: String) throws(IPTablesError) -> String { try inner.save(table: table) }
        func startRead(tables: [String]) -> () throws(IPTablesError) -> [TableSnapshot] { inner.startRead(tables: tables) }
        func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) { try inner.ensureRule(table: table, chain: chain, rule) }
        func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) { try inner.deleteRule(table: table, chain: chain, rule) }
    }

    static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    /// Services with each feature the proxier writes rules for.
    static func state(step: Int) -> ProxyState {
        var s = ProxyState()
        func name(_ n: String, _ p: TransportProtocol = .tcp) -> ServicePortName { ServicePortName(namespace: "default", name: n, port: "p", protocol: p) }
        func eps(_ hosts: [Int], local: Set<Int> = []) -> [EndpointInfo] {
            hosts.map { EndpointInfo(ip: ip("10.244.1.\($0)"), port: 8080, isLocal: local.contains($0)) }
        }
        // Several endpoints (probabilities), a node port.
        s.services[name("web")] = ServicePortInfo(clusterIPs: [ip("10.96.0.10")], port: 80, protocol: .tcp, nodePort: 30080)
        s.endpoints[name("web")] = eps(step == 0 ? [1, 2, 3, 4, 5] : [1, 3, 4])
        // Session affinity.
        var sticky = ServicePortInfo(clusterIPs: [ip("10.96.0.11")], port: 443, protocol: .tcp)
        sticky.affinityTimeoutSeconds = 10800
        s.services[name("sticky")] = sticky
        s.endpoints[name("sticky")] = eps([6, 7])
        // externalTrafficPolicy Local with a health check node port, an external IP, a load
        // balancer with source ranges.
        let local = ServicePortInfo(clusterIPs: [ip("10.96.0.12")], port: 80, protocol: .tcp, nodePort: 30081,
                                    externalIPs: [ip("192.0.2.10")], loadBalancerIngressIPs: [ip("198.51.100.7")],
                                    loadBalancerSourceRanges: [CIDR("203.0.113.0/24")!], externalPolicyLocal: true, healthCheckNodePort: 32000)
        s.services[name("local")] = local
        s.endpoints[name("local")] = eps([8, 9], local: [9])
        // No endpoints: REJECT (TCP reset, and plain for UDP).
        s.services[name("empty")] = ServicePortInfo(clusterIPs: [ip("10.96.0.13")], port: 80, protocol: .tcp, nodePort: 30082)
        s.services[name("dns", .udp)] = ServicePortInfo(clusterIPs: [ip("10.96.0.14")], port: 53, protocol: .udp)
        s.endpoints[name("dns", .udp)] = step >= 2 ? [] : eps([10])
        s.services[name("assoc", .sctp)] = ServicePortInfo(clusterIPs: [ip("10.96.0.15")], port: 3868, protocol: .sctp)
        s.endpoints[name("assoc", .sctp)] = eps([11])
        if step >= 1 {
            s.services[name("added")] = ServicePortInfo(clusterIPs: [ip("10.96.0.16")], port: 8080, protocol: .tcp)
            s.endpoints[name("added")] = eps([12, 13])
        }
        if step >= 2 { s.services[name("sticky")] = nil }
        return s
    }

    @Test func proxierTextsGiveTheToolsTables() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.loadBoth(Self.foreign, counters: true)
        try pair.expectSame("the foreign rules")
        let recorder = Recorder()
        let proxier = IPTablesProxier(family: .ip, ipt: recorder, config: .init(clusterCIDR: CIDR("10.244.0.0/16")))
        // A full sync, a partial one (endpoints changed, a Service added), a full one that
        // deletes a Service's chains, and a partial one that deletes another's.
        let steps: [(String, Int, SyncKind)] = [("first full sync", 0, .full), ("partial sync", 1, .partial),
                                                 ("full sync deleting chains", 2, .full), ("partial sync deleting chains", 3, .partial)]
        var previous = ProxyState()
        for (when, step, kind) in steps {
            var s = Self.state(step: step)
            if step == 3 { s.services[ServicePortName(namespace: "default", name: "added", port: "p", protocol: .tcp)] = nil }
            let changed = Set(s.services.keys).union(previous.services.keys)
            try pair.run(pair.tool) { try proxier.sync(s, changed: changed, kind: kind) }
            let texts = recorder.take()
            #expect(!texts.isEmpty, "\(when): no restore")
            for text in texts { try pair.run(pair.writer) { try TableWriter.apply(Array(text.utf8)) } }
            try pair.expectSame(when)
            previous = s
        }
        let nat = try pair.tool(pair.writer, "iptables-legacy-save", ["-t", "nat"])
        #expect(nat.contains("-j DOCKER") && nat.contains("--probability") && nat.contains("--rcheck") == false, "nat after the last sync:\n\(nat)")
    }

    /// Every match, target and option the writer knows, loaded once by each.
    static let everything = """
        *nat
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-IF - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-SEP-A - [0:0]
        :KUBE-SERVICES - [0:0]
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
        -A KUBE-POSTROUTING -j MASQUERADE
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A KUBE-MARK-MASQ -m mark --mark 7 -j MARK --set-xmark 0x1/0xff
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x10
        -A KUBE-SERVICES -m comment --comment "ns/svc:p cluster IP" -m tcp -p tcp -d 10.0.0.1/32 --dport 80 -j KUBE-SEP-A
        -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j KUBE-SEP-A
        -A KUBE-SERVICES -d 192.168.0.0/16 -m addrtype ! --src-type LOCAL,BROADCAST -g KUBE-SEP-A
        -A KUBE-SEP-A -m recent --name KUBE-SEP-A --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-MARK-MASQ
        -A KUBE-SEP-A -m statistic --mode random --probability 0.3333333333 -j KUBE-MARK-MASQ
        -A KUBE-SEP-A -m statistic --mode random --probability 0.5000000000 -j KUBE-MARK-MASQ
        -A KUBE-SEP-A -m statistic --mode random --probability 0.0909090909 -j KUBE-MARK-MASQ
        -A KUBE-SEP-A -s 10.1.0.1/32 -j KUBE-MARK-MASQ
        -A KUBE-SEP-A ! -s 10.244.0.0/16 -d 10.0.0.1 -j KUBE-MARK-MASQ
        -A KUBE-SEP-A -m recent --set --name KUBE-SEP-A --mask 255.255.255.255 --rsource -p tcp -j DNAT --to-destination 10.1.0.1:8080
        -A KUBE-SEP-A -m udp -p udp --dport 53 -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
        -A KUBE-SEP-A -m udp -p udp --sport 1000:2000 -j ACCEPT
        -A KUBE-SEP-A -m tcp -p tcp ! --dport 22 -j RETURN
        -A KUBE-SEP-A -m sctp -p sctp --dport 3868 -j KUBE-MARK-MASQ
        -A KUBE-SEP-A -p sctp -m sctp --sport 5 -j DNAT --to-destination 10.1.0.2:3868
        -A KUBE-IF -i eth0 -o veth+ -j RETURN
        -A KUBE-IF ! -i eth1 ! -o veth ! -p udp -j RETURN
        -A KUBE-IF -m addrtype --dst-type LOCAL --limit-iface-out -j RETURN
        -A KUBE-SEP-A -m tcp -p tcp -j DNAT --to-destination 10.1.0.1:8080
        -A KUBE-SEP-A -p udp -j DNAT --to-destination 10.1.0.3
        -A KUBE-SEP-A -m comment --comment "no target"
        -I KUBE-SEP-A 2 -m comment --comment second -j KUBE-MARK-MASQ
        -I KUBE-SEP-A -m comment --comment first -j KUBE-MARK-MASQ
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        COMMIT
        *filter
        :KUBE-FORWARD - [0:0]
        :KUBE-SERVICES - [0:0]
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
        -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A KUBE-FORWARD -p tcp -m conntrack ! --ctstate NEW,INVALID,UNTRACKED,SNAT,DNAT -j REJECT --reject-with tcp-reset
        -A KUBE-SERVICES -m comment --comment "ns/svc:p has no endpoints" -m tcp -p tcp -d 10.0.0.2/32 --dport 80 -j REJECT --reject-with tcp-reset
        -A KUBE-SERVICES -m udp -p udp -d 10.0.0.3/32 --dport 53 -j REJECT
        -A KUBE-SERVICES -j REJECT --reject-with icmp-host-prohibited
        -A KUBE-SERVICES -j REJECT --reject-with icmp-admin-prohibited
        -A KUBE-SERVICES -m tcp -p tcp --dport 30000 -j DROP
        -A KUBE-SERVICES -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-FORWARD
        -I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A FORWARD -j KUBE-FORWARD
        COMMIT

        """

    @Test func everyKindEncodesAsTheToolDoes() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.loadBoth(Self.foreign, counters: true)
        try pair.apply(Self.everything)
        try pair.expectSame("every kind")
        // Deleting (the first equal rule), flushing, deleting chains, inserting at the top.
        try pair.apply("""
            *nat
            -D KUBE-SEP-A -m statistic --mode random --probability 0.5000000000 -j KUBE-MARK-MASQ
            -D KUBE-SERVICES -d 192.168.0.0/16 -m addrtype ! --src-type LOCAL,BROADCAST -g KUBE-SEP-A
            -D KUBE-SEP-A -m comment --comment "no target"
            -D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            :KUBE-NEW - [0:0]
            :KUBE-AAA - [0:0]
            -A KUBE-NEW -j KUBE-AAA
            -I KUBE-SERVICES 1 -j KUBE-NEW
            COMMIT
            *filter
            :KUBE-SERVICES - [0:0]
            -D INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -X KUBE-SERVICES
            -D FORWARD -j KUBE-FORWARD
            :KUBE-FORWARD - [0:0]
            -X KUBE-FORWARD
            COMMIT

            """)
        try pair.expectSame("deletes")
        // The same chain name deleted and declared again in one text.
        try pair.apply("""
            *nat
            :KUBE-AAA - [0:0]
            :KUBE-NEW - [0:0]
            -D KUBE-SERVICES -j KUBE-NEW
            -X KUBE-NEW
            -X KUBE-AAA
            :KUBE-NEW - [0:0]
            -A KUBE-NEW -j RETURN
            COMMIT

            """)
        try pair.expectSame("a chain deleted and created again")
    }

    @Test func badInputAndRefusedTablesChangeNothing() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.loadBoth(Self.foreign, counters: true)
        let before = try pair.tables(pair.writer)
        let bad: [(String, String)] = [
            ("an unknown match", "*filter\n:X - [0:0]\n-A X -m limit --limit 5/s -j ACCEPT\nCOMMIT\n"),
            ("an unknown option", "*filter\n:X - [0:0]\n-A X -m tcp -p tcp --tcp-flags SYN SYN -j ACCEPT\nCOMMIT\n"),
            ("a later table's bad line", "*nat\n:X - [0:0]\nCOMMIT\n*filter\n-A INPUT -m limit --limit 1/s -j ACCEPT\nCOMMIT\n"),
            ("no COMMIT", "*nat\n:X - [0:0]\n-A X -j RETURN\n"),
            ("another table", "*mangle\n:X - [0:0]\nCOMMIT\n"),
            ("a policy", "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"),
            ("DROP in nat", "*nat\n:X - [0:0]\n-A X -j DROP\nCOMMIT\n"),
            ("counters", "*filter\n[1:2] -A INPUT -j ACCEPT\nCOMMIT\n"),
            ("a host name", "*filter\n-A INPUT -s example.com -j ACCEPT\nCOMMIT\n"),
            ("a long comment", "*filter\n-A INPUT -m comment --comment \(String(repeating: "x", count: 256)) -j ACCEPT\nCOMMIT\n"),
            ("a jump to a missing chain", "*filter\n-A INPUT -j NOPE\nCOMMIT\n"),
            ("-D of a missing rule", "*filter\n-D INPUT -j DROP\nCOMMIT\n"),
            ("-X of a chain in use", "*filter\n:DOCKER - [0:0]\n-X DOCKER\nCOMMIT\n"),
            ("-X of a chain with rules", "*filter\n-X DOCKER-USER\nCOMMIT\n"),
            ("a statistic without probability", "*filter\n-A INPUT -m statistic --mode random -j DROP\nCOMMIT\n"),
            ("a probability above 1", "*filter\n-A INPUT -m statistic --mode random --probability 1.5 -j DROP\nCOMMIT\n"),
            ("tcp-reset without -p tcp (the kernel refuses)", "*filter\n:X - [0:0]\n-A X -j REJECT --reject-with tcp-reset\nCOMMIT\n"),
            ("DNAT in filter (the kernel refuses)", "*filter\n:X - [0:0]\n-A X -p tcp -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n"),
            ("a loop (the kernel refuses)", "*filter\n:X - [0:0]\n:Y - [0:0]\n-A X -j Y\n-A Y -j X\n-A INPUT -j X\nCOMMIT\n"),
        ]
        for (what, text) in bad {
            var failure: TableWriter.Failure?
            do { try pair.run(pair.writer) { try TableWriter.apply(Array(text.utf8)) } } catch let f as TableWriter.Failure { failure = f }
            #expect(failure != nil, "\(what): no error")
            #expect(failure?.committed == 0, "\(what): \(failure?.committed ?? -1) tables written")
            #expect(try pair.tables(pair.writer) == before, "\(what): the tables changed")
        }
        // A refused second table: the first is written, the error says so.
        var failure: TableWriter.Failure?
        do {
            try pair.run(pair.writer) { try TableWriter.apply(Array("*nat\n:KUBE-X - [0:0]\nCOMMIT\n*filter\n:X - [0:0]\n-A X -j REJECT --reject-with tcp-reset\nCOMMIT\n".utf8)) }
        } catch let f as TableWriter.Failure { failure = f }
        #expect(failure?.committed == 1, "\(String(describing: failure))")
        #expect(try pair.tool(pair.writer, "iptables-legacy-save", ["-t", "nat"]).contains(":KUBE-X - "))
        #expect(TableWriter.remainder(Array("*nat\nCOMMIT\n*filter\n-A X\nCOMMIT\n".utf8), after: 1) == Array("*filter\n-A X\nCOMMIT\n".utf8))
    }

    /// ExecIPTables writes with the writer and falls back to the tool for what it cannot write.
    @Test func execFallsBackToTheTool() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        let ipt = ExecIPTables(variant: .legacy)
        // The writer cannot encode `-m limit`; the tool loads it.
        let text = "*nat\n:KUBE-Y - [0:0]\n-A KUBE-Y -j RETURN\nCOMMIT\n*filter\n:KUBE-Z - [0:0]\n-A KUBE-Z -m limit --limit 5/s -j ACCEPT\nCOMMIT\n"
        try pair.run(pair.writer) { try ipt.restore(text) }
        _ = try pair.tool(pair.tool, "iptables-legacy-restore", ["--noflush"], input: text)
        try pair.expectSame("writer then tool")
        // Nothing of the input is applied twice: nat's KUBE-Y has one rule.
        #expect(try pair.tool(pair.writer, "iptables-legacy-save", ["-t", "nat"]).components(separatedBy: "-A KUBE-Y").count == 2)
    }
}

enum IPTablesWriterRequirements {
    /// Why the writer's integration tests cannot run here, or nil.
    static var skipReason: String? {
        if !Host.isRoot { return "needs root for network namespaces and iptables" }
        if Host.which("ip") == nil { return "needs iproute2's ip" }
        for tool in ["iptables-legacy-restore", "iptables-legacy-save"] where ExecIPTables.locate(tool) == nil { return "needs \(tool)" }
        return nil
    }
}

extension TableWriter {
    /// The kernel's entries of `table` as hex, one entry per line, with the hook offsets.
    static func kernelDump(_ table: String) throws -> String {
        guard let raw = try KernelTable.readRaw(table, load: false) else { return "(not loaded)" }
        var lines = ["hooks \(raw.validHooks) \(raw.hookEntry) \(raw.underflow) \(raw.numEntries)"]
        var offset = 0
        let b = Array(raw.entries[raw.start...])
        while offset + 92 <= b.count {
            let next = Int(b[offset + 90]) | Int(b[offset + 91]) << 8
            guard next > 0 else { break }
            lines.append("\(offset): " + b[offset..<min(offset + next, b.count)].map { String(format: "%02x", $0) }.joined())
            offset += next
        }
        return lines.joined(separator: "\n")
    }
}

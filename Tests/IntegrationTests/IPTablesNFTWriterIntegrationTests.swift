import Foundation
import IPTables
import LinuxSystem
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

/// ``NFTTableWriter`` against `iptables-nft-restore --noflush` (iptables 1.8.9): two fresh
/// network namespaces start from the same rules of other tools (loaded by the tool, with
/// counters); one gets each text from the tool, the other from the writer; then both must print
/// the same `iptables-nft-save -c`, the same `nft --debug=netlink list ruleset` (every
/// expression; rule handles left out) and the same rules with every match's and target's info
/// bytes (``NFTTableWriter/dump(_:)``).
@Suite(.serialized, .enabled(if: IPTablesNFTWriterRequirements.skipReason == nil, "\(IPTablesNFTWriterRequirements.skipReason ?? "")"))
struct IPTablesNFTWriterIntegrationTests {

    /// The tool's namespace and the writer's (``TableWriterNamespacePair``), compared by their
    /// save with counters, nft's expressions (handles dropped) and every rule with its info bytes.
    final class Pair: TableWriterNamespacePair, @unchecked Sendable {
        init() throws {
            try super.init(prefix: "iptnw", restore: "iptables-nft-restore", write: { try NFTTableWriter.apply($0) })
        }

        /// What is compared: the save with counters, nft's expressions (handles dropped) and
        /// every rule with its info bytes.
        override func tables(_ ns: String) throws -> [String] {
            let saved = try tool(ns, "iptables-nft-save", ["-c"]).split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n")
            let listed = try tool(ns, "nft", ["--debug=netlink", "list", "ruleset"]).split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                // "ip nat KUBE-SEP-A 22 21": the rule's handle and the one before it.
                var words = line.split(separator: " ")
                guard words.count >= 4, words[0] == "ip" else { return String(line) }
                while words.count > 3, words.last!.allSatisfy(\.isNumber) { words.removeLast() }
                return words.joined(separator: " ")
            }.joined(separator: "\n")
            var rules: [String] = []
            for table in ["nat", "filter"] { rules += try run(ns) { try NFTTableWriter.dump(table) }.map { "\(table) \($0)" } }
            return [saved, listed, rules.joined(separator: "\n")]
        }

        override func view(_ index: Int) -> String {
            ["iptables-nft-save -c", "nft --debug=netlink list ruleset", "rules with info bytes"][index]
        }
    }

    /// Rules other tools left (as in IPTablesWriterIntegrationTests): a Docker-like chain in
    /// each table, rules in built-in chains, a non-default policy, a match the writer cannot
    /// encode (multiport), counters.
    static let foreign = IPTablesWriterIntegrationTests.foreign

    /// Records each restore text and hands it to iptables-nft-restore (no writer).
    final class Recorder: IPTablesInterface {
        let inner = ExecIPTables(variant: .nft, writesTables: false)
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

    @Test func proxierTextsGiveTheToolsRuleset() throws {
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
        var lines = 0
        for (when, step, kind) in steps {
            var s = IPTablesWriterIntegrationTests.state(step: step)
            if step == 3 { s.services[ServicePortName(namespace: "default", name: "added", port: "p", protocol: .tcp)] = nil }
            let changed = Set(s.services.keys).union(previous.services.keys)
            try pair.run(pair.tool) { try proxier.sync(s, changed: changed, kind: kind) }
            let texts = recorder.take()
            #expect(!texts.isEmpty, "\(when): no restore")
            for text in texts {
                lines += text.split(separator: "\n").count
                try pair.run(pair.writer) { try NFTTableWriter.apply(Array(text.utf8)) }
            }
            try pair.expectSame(when)
            previous = s
        }
        #expect(lines > 100)
        let nat = try pair.tool(pair.writer, "iptables-nft-save", ["-t", "nat"])
        #expect(nat.contains("-j DOCKER") && nat.contains("--probability") && nat.contains("-A KUBE-SERVICES"), "nat after the last sync:\n\(nat)")
    }

    @Test func everyKindWritesAsTheToolDoes() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.loadBoth(Self.foreign, counters: true)
        try pair.apply(IPTablesWriterIntegrationTests.everything)
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
            -I KUBE-SEP-A 3 -j KUBE-NEW
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
        // The same chain name deleted and declared again in one text; a rule added and
        // deleted in one text; an insert before a rule the same text added.
        try pair.apply("""
            *nat
            :KUBE-AAA - [0:0]
            :KUBE-NEW - [0:0]
            -D KUBE-SERVICES -j KUBE-NEW
            -D KUBE-SEP-A -j KUBE-NEW
            -X KUBE-NEW
            -X KUBE-AAA
            :KUBE-NEW - [0:0]
            -A KUBE-NEW -j RETURN
            -A KUBE-NEW -m comment --comment gone -j RETURN
            -A KUBE-NEW -m comment --comment last -j RETURN
            -D KUBE-NEW -m comment --comment gone -j RETURN
            -I KUBE-NEW 2 -m comment --comment second -j RETURN
            COMMIT

            """)
        try pair.expectSame("a chain deleted and created again")
    }

    @Test func freshNamespaceGetsTheToolsTablesAndChains() throws {
        // Nothing loaded before: tables and built-in chains are made as the tool makes them
        // (only the built-in chains rules go to).
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.apply("*filter\n:KUBE-X - [0:0]\n-A KUBE-X -j ACCEPT\n-A FORWARD -j KUBE-X\nCOMMIT\n*nat\n:KUBE-Y - [0:0]\n-I OUTPUT -j KUBE-Y\nCOMMIT\n")
        try pair.expectSame("fresh namespace")
        try pair.apply("*nat\n-A POSTROUTING -j KUBE-Y\n-A PREROUTING -j KUBE-Y\nCOMMIT\n")
        try pair.expectSame("more built-in chains")
    }

    @Test func badInputAndRefusedBatchesChangeNothing() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.loadBoth(Self.foreign, counters: true)
        let before = try pair.tables(pair.writer)
        let bad: [(String, String, String)] = [
            ("an unknown match", "*filter\n:X - [0:0]\n-A X -m limit --limit 5/s -j ACCEPT\nCOMMIT\n", ""),
            ("a later table's bad line", "*nat\n:X - [0:0]\nCOMMIT\n*filter\n-A INPUT -m limit --limit 1/s -j ACCEPT\nCOMMIT\n", ""),
            ("no COMMIT", "*nat\n:X - [0:0]\n-A X -j RETURN\n", ""),
            ("another table", "*mangle\n:X - [0:0]\nCOMMIT\n", ""),
            ("a policy", "*filter\n:INPUT DROP [0:0]\nCOMMIT\n", ""),
            ("a tcp match without -p tcp", "*filter\n:X - [0:0]\n-A X -m tcp --dport 80 -j ACCEPT\nCOMMIT\n", ""),
            ("a rule in a missing chain", "*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", ""),
            ("-D of a missing rule", "*filter\n-D INPUT -j DROP\nCOMMIT\n", ""),
            ("-X of a missing chain", "*filter\n-X NOPE\nCOMMIT\n", ""),
            ("-X of a built-in chain", "*filter\n-X INPUT\nCOMMIT\n", ""),
            ("-I past the end", "*filter\n-I INPUT 9 -j ACCEPT\nCOMMIT\n", ""),
            // The kernel refuses these: the whole batch (nat too) is dropped.
            ("a jump to a missing chain (the kernel refuses)", "*nat\n:KUBE-Z - [0:0]\nCOMMIT\n*filter\n-A INPUT -j NOPE\nCOMMIT\n", "add rule for line 5: -A INPUT -j NOPE"),
            ("-X of a chain in use (the kernel refuses)", "*nat\n:KUBE-Z - [0:0]\nCOMMIT\n*filter\n:DOCKER - [0:0]\n-X DOCKER\nCOMMIT\n", "delete chain for line 6: -X DOCKER"),
            ("-X of a chain with rules (the kernel refuses)", "*filter\n-X DOCKER-USER\nCOMMIT\n", "delete chain for line 2: -X DOCKER-USER"),
            ("tcp-reset without -p tcp (the kernel refuses)", "*nat\n:KUBE-Z - [0:0]\nCOMMIT\n*filter\n:X - [0:0]\n-A X -j REJECT --reject-with tcp-reset\nCOMMIT\n", "add rule for line 6: -A X -j REJECT --reject-with tcp-reset"),
            ("DNAT in filter (the kernel refuses)", "*filter\n:X - [0:0]\n-A X -p tcp -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n", "add rule for line 3: -A X -p tcp -j DNAT --to-destination 10.0.0.1:80"),
            ("a loop (the kernel refuses)", "*filter\n:X - [0:0]\n:Y - [0:0]\n-A X -j Y\n-A Y -j X\n-A INPUT -j X\nCOMMIT\n", "add rule for line 6: -A INPUT -j X"),
        ]
        for (what, text, refused) in bad {
            var failure: IPTablesError?
            do { try pair.run(pair.writer) { try NFTTableWriter.apply(Array(text.utf8)) } } catch let e as IPTablesError { failure = e }
            #expect(failure != nil, "\(what): no error")
            if what.contains("kernel refuses") {
                // The error names the step the kernel refused and its line.
                #expect(failure?.message.contains("kernel rejected \(refused)") == true, "\(what): not the kernel's error: \(failure?.message ?? "-")")
            }
            #expect(try pair.tables(pair.writer) == before, "\(what): the ruleset changed")
        }
    }

    /// A batch whose ruleset generation is old (another process changed the ruleset after the
    /// reads) is refused by the kernel and built again from fresh reads.
    @Test func aChangedRulesetIsReadAgain() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.loadBoth(Self.foreign, counters: true)
        let text = "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\n:KUBE-X - [0:0]\n-A INPUT -j KUBE-X\nCOMMIT\n"
        _ = try pair.tool(pair.tool, "iptables-nft-restore", ["--noflush"], input: text)
        let batches = try pair.run(pair.writer) { try NFTTableWriter.apply(Array(text.utf8), staleGenerations: 2) }
        #expect(batches == 3)
        try pair.expectSame("after two refused batches")
        // Five refusals in a row: an error, nothing written.
        let before = try pair.tables(pair.writer)
        #expect(throws: IPTablesError.self) { try pair.run(pair.writer) { try NFTTableWriter.apply(Array("*filter\n:KUBE-Y - [0:0]\nCOMMIT\n".utf8), staleGenerations: 5) } }
        #expect(try pair.tables(pair.writer) == before)
    }

    /// ExecIPTables (.nft) writes with the writer and falls back to the tool for what it cannot write.
    @Test func execWritesAndFallsBackToTheTool() throws {
        let pair = try Pair()
        defer { pair.destroy() }
        try pair.loadBoth(Self.foreign, counters: true)
        let ipt = ExecIPTables(variant: .nft)
        let written = "*nat\n:KUBE-Y - [0:0]\n-A KUBE-Y -j RETURN\n-A OUTPUT -j KUBE-Y\nCOMMIT\n"
        try pair.run(pair.writer) { try ipt.restore(written) }
        _ = try pair.tool(pair.tool, "iptables-nft-restore", ["--noflush"], input: written)
        try pair.expectSame("written")
        // The writer cannot encode `-m limit`: the whole text goes to the tool, once.
        let text = "*nat\n:KUBE-Y - [0:0]\n-A KUBE-Y -j RETURN\nCOMMIT\n*filter\n:KUBE-Z - [0:0]\n-A KUBE-Z -m limit --limit 5/s -j ACCEPT\nCOMMIT\n"
        try pair.run(pair.writer) { try ipt.restore(text) }
        _ = try pair.tool(pair.tool, "iptables-nft-restore", ["--noflush"], input: text)
        try pair.expectSame("writer then tool")
        #expect(try pair.tool(pair.writer, "iptables-nft-save", ["-t", "nat"]).components(separatedBy: "-A KUBE-Y").count == 2)
    }
}

enum IPTablesNFTWriterRequirements {
    /// Why the writer's integration tests cannot run here, or nil.
    static var skipReason: String? {
        if !Host.isRoot { return "needs root for network namespaces and nf_tables" }
        if Host.which("ip") == nil { return "needs iproute2's ip" }
        for tool in ["iptables-nft-restore", "iptables-nft-save", "nft"] where ExecIPTables.locate(tool) == nil { return "needs \(tool)" }
        return nil
    }
}

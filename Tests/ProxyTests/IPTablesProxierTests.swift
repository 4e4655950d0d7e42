import Foundation
import IPTables
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

@Suite struct IPTablesProxierTests {
    static let goldenDirectory = Host.repositoryRoot.appendingPathComponent("Tests/ProxyTests/Golden/iptables")

    func state(_ name: ServicePortName, _ info: ServicePortInfo, _ eps: [EndpointInfo]) -> ProxyState {
        var s = ProxyState()
        s.services[name] = info
        s.endpoints[name] = eps
        return s
    }

    /// A table's rules per chain, order-free within the shared dispatch chains (a partial sync
    /// inserts where a full sync appends; their rules match disjoint packets) and in order
    /// elsewhere.
    func comparable(_ fake: FakeIPTables) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for table in ["filter", "nat"] {
            for c in fake.table(table)?.chains ?? [] {
                let shared = c.name == "KUBE-SERVICES" || c.name == "KUBE-NODEPORTS" || c.name == "KUBE-EXTERNAL-SERVICES" || c.name == "KUBE-PROXY-FIREWALL"
                out["\(table) \(c.name)"] = shared ? c.rules.sorted() : c.rules
            }
        }
        return out
    }

    /// Golden restore text of a full sync for each shape. Regenerate with
    /// `UPDATE_GOLDEN=1 swift test --filter IPTablesProxierTests` and review the diff.
    @Test(arguments: Shapes.all.map(\.0))
    func golden(_ shape: String) throws {
        let (_, name, info, eps) = Shapes.all.first { $0.0 == shape }!
        let proxier = IPTablesProxier(family: .ip, ipt: FakeIPTables(), config: .init(clusterCIDR: CIDR("10.0.0.0/8")))
        let text = proxier.fullRestoreText(state(name, info, eps))
        let file = Self.goldenDirectory.appendingPathComponent(shape + ".rules")
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] != nil {
            try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: file, encoding: .utf8)
        #expect(text == expected, "golden \(shape) differs; rerun with UPDATE_GOLDEN=1 and review")
    }

    /// Every shape loads into the fake (chains exist, targets resolve) with the jumps in place.
    @Test(arguments: Shapes.all.map(\.0))
    func fullSyncAppliesCleanly(_ shape: String) throws {
        let (_, name, info, eps) = Shapes.all.first { $0.0 == shape }!
        let fake = FakeIPTables()
        try IPTablesProxier(family: .ip, ipt: fake).sync(state(name, info, eps), changed: [], kind: .full)
        #expect(fake.restores.count >= 1)
        #expect(fake.table("nat")?.rules("PREROUTING")?.contains { $0.hasSuffix("-j KUBE-SERVICES") } == true)
        #expect(fake.table("filter")?.rules("FORWARD")?.contains { $0.hasSuffix("-j KUBE-SERVICES") } == true)
        #expect(fake.table("nat")?.rules("KUBE-SERVICES")?.last?.hasSuffix("-j KUBE-NODEPORTS") == true)
    }

    /// A partial sync from any shape to any other ends in the state a full sync makes, and its
    /// restore names nothing of the Service that did not change.
    @Test(arguments: Shapes.all.map(\.0))
    func partialSyncMatchesFullSync(_ from: String) throws {
        for to in Shapes.all {
            let (_, n1, i1, e1) = Shapes.all.first { $0.0 == from }!
            let other = ServicePortName(namespace: "ns2", name: "steady", port: "", protocol: .tcp)
            var s1 = state(n1, i1, e1)
            s1.services[other] = Shapes.info(nodePort: 30500)
            s1.services[other]!.clusterIPs = [IPAddress("172.30.0.99")!]
            s1.endpoints[other] = [Shapes.ep("10.180.9.9")]
            var s2 = s1
            s2.services[n1] = nil
            s2.endpoints[n1] = nil
            s2.services[to.1] = to.2
            s2.endpoints[to.1] = to.3

            let partialFake = FakeIPTables()
            let partial = IPTablesProxier(family: .ip, ipt: partialFake)
            try partial.sync(s1, changed: [], kind: .full)
            let restoresBefore = partialFake.restores.count
            try partial.sync(s2, changed: [n1, to.1], kind: .partial)
            for text in partialFake.restores.dropFirst(restoresBefore) {
                #expect(!text.contains("ns2/steady") && !text.contains("10.180.9.9"), "partial \(from) -> \(to.0) touched the steady Service:\n\(text)")
            }
            #expect(partialFake.table("nat")?.rules("KUBE-SERVICES")?.last?.hasSuffix("-j KUBE-NODEPORTS") == true, "\(from) -> \(to.0)")

            let fullFake = FakeIPTables()
            let fullProxier = IPTablesProxier(family: .ip, ipt: fullFake)
            try fullProxier.sync(s2, changed: [], kind: .full)
            #expect(comparable(partialFake) == comparable(fullFake), "partial sync \(from) -> \(to.0) differs from a full sync")
            // What the proxier remembers after the partial sync is what a full sync of s2 writes.
            #expect(partial.describeRules() == fullProxier.fullRestoreText(s2), "\(from) -> \(to.0)")
        }
    }

    @Test func noEndpointsRejectsTCPWithResetAndOthersWithICMP() throws {
        let fake = FakeIPTables()
        var s = state(Shapes.web, Shapes.info(nodePort: 30080), [])
        let dns = ServicePortName(namespace: "ns1", name: "dns", port: "", protocol: .udp)
        s.services[dns] = Shapes.info(.udp)
        s.services[dns]!.clusterIPs = [IPAddress("172.30.0.53")!]
        try IPTablesProxier(family: .ip, ipt: fake).sync(s, changed: [], kind: .full)
        let services = fake.table("filter")?.rules("KUBE-SERVICES") ?? []
        #expect(services.contains { $0.contains("-d 172.30.0.41/32 --dport 80 -j REJECT --reject-with tcp-reset") })
        #expect(services.contains { $0.contains("-d 172.30.0.53/32 --dport 80 -j REJECT") && !$0.contains("tcp-reset") })
        let external = fake.table("filter")?.rules("KUBE-EXTERNAL-SERVICES") ?? []
        #expect(external.contains { $0.contains("--dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT") })
        #expect(fake.table("nat")?.chains.contains { $0.name.hasPrefix("KUBE-SVC-") } == false)
    }

    @Test func failedRestoreForcesFullSyncAndKeepsState() throws {
        let fake = FakeIPTables()
        let proxier = IPTablesProxier(family: .ip, ipt: fake)
        let s = state(Shapes.web, Shapes.info(), [Shapes.ep("10.180.0.1")])
        try proxier.sync(s, changed: [], kind: .full)
        let before = try fake.save(table: "nat")
        fake.failNext(IPTablesError("injected"))
        var s2 = s
        s2.endpoints[Shapes.web] = [Shapes.ep("10.180.0.9")]
        #expect(throws: IPTablesError.self) { try proxier.sync(s2, changed: [Shapes.web], kind: .partial) }
        #expect(try fake.save(table: "nat") == before)
        try proxier.sync(s2, changed: [], kind: .partial)
        let after = try fake.save(table: "nat")
        #expect(after.contains("10.180.0.9:8080") && !after.contains("10.180.0.1:8080"))
    }

    @Test func fullSyncSweepsChainsOfAnEarlierProcess() throws {
        let fake = FakeIPTables()
        try IPTablesProxier(family: .ip, ipt: fake).sync(state(Shapes.web, Shapes.info(), [Shapes.ep("10.180.0.1")]), changed: [], kind: .full)
        let other = ServicePortName(namespace: "ns1", name: "other", port: "", protocol: .tcp)
        var s = ProxyState()
        s.services[other] = Shapes.info()
        s.endpoints[other] = [Shapes.ep("10.180.0.2")]
        try IPTablesProxier(family: .ip, ipt: fake).sync(s, changed: [], kind: .full)
        let nat = try fake.save(table: "nat")
        #expect(!nat.contains("10.180.0.1"))
        #expect(nat.components(separatedBy: ":KUBE-SEP-").count - 1 == 1)
    }

    @Test func cleanupRemovesJumpsAndChainsAndIsIdempotent() throws {
        let fake = FakeIPTables()
        let proxier = IPTablesProxier(family: .ip, ipt: fake)
        try proxier.sync(state(Shapes.web, Shapes.info(nodePort: 30080), [Shapes.ep("10.180.0.1")]), changed: [], kind: .full)
        #expect(ProxyCleanup.removeAll(nft: FakeNFTables(), iptables: [fake]).isEmpty)
        #expect(ProxyCleanup.removeAll(nft: FakeNFTables(), iptables: [fake]).isEmpty)
        for table in ["filter", "nat"] { #expect(!(try fake.save(table: table)).contains("KUBE-"), "\(table)") }
    }

    /// A full sync is one restore: the jumps from the built-in chains are part of it, once.
    @Test func fullSyncIsOneRestoreWithTheJumps() throws {
        let fake = FakeIPTables()
        let proxier = IPTablesProxier(family: .ip, ipt: fake)
        let s = state(Shapes.web, Shapes.info(nodePort: 30080), [Shapes.ep("10.180.0.1")])
        try proxier.sync(s, changed: [], kind: .full)
        #expect(fake.restores.count == 1)
        try proxier.sync(s, changed: [], kind: .full)
        #expect(fake.restores.count == 2)
        #expect(!fake.restores[1].contains("-I PREROUTING"), "a later full sync re-inserted the jumps")
        for (table, chain, target) in [("nat", "PREROUTING", "KUBE-SERVICES"), ("nat", "POSTROUTING", "KUBE-POSTROUTING"), ("filter", "FORWARD", "KUBE-FORWARD")] {
            #expect(fake.table(table)?.rules(chain)?.filter { $0.hasSuffix("-j \(target)") }.count == 1, "\(table) \(chain)")
        }
        // A new process finds the jumps in place and does not add them again, and keeps the
        // chains it finds that it would write itself (no chain is flushed and deleted).
        let natBefore = try fake.save(table: "nat")
        let restarted = IPTablesProxier(family: .ip, ipt: fake)
        try restarted.sync(s, changed: [], kind: .full)
        #expect(!fake.restores[2].contains("-I "))
        #expect(!fake.restores[2].contains("-X "))
        #expect(try fake.save(table: "nat") == natBefore)
        #expect(fake.table("filter")?.rules("INPUT")?.count == 3)
        // Upstream's order: the last jump in the list is prepended last, so it comes first.
        #expect(fake.table("filter")?.rules("FORWARD")?.first?.hasSuffix("-j KUBE-EXTERNAL-SERVICES") == true)
    }

    @Test func failedSyncRereadsTheJumps() throws {
        let fake = FakeIPTables()
        let proxier = IPTablesProxier(family: .ip, ipt: fake)
        let s = state(Shapes.web, Shapes.info(), [Shapes.ep("10.180.0.1")])
        try proxier.sync(s, changed: [], kind: .full)
        // Someone removes a jump; a failed sync makes the next full sync look again.
        try fake.deleteRule(table: "nat", chain: "PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"])
        fake.failNext(IPTablesError("injected"))
        #expect(throws: IPTablesError.self) { try proxier.sync(s, changed: [], kind: .full) }
        try proxier.sync(s, changed: [], kind: .full)
        #expect(fake.table("nat")?.rules("PREROUTING")?.filter { $0.hasSuffix("-j KUBE-SERVICES") }.count == 1)
        #expect(fake.table("nat")?.rules("OUTPUT")?.filter { $0.hasSuffix("-j KUBE-SERVICES") }.count == 1)
    }

    /// Upstream's large-cluster mode: above 1,000 endpoints the per-Service and per-endpoint
    /// chains lose their comments; the dispatch rules keep them.
    @Test func largeClusterDropsChainComments() throws {
        var s = ProxyState()
        func add(_ i: Int, endpoints: Int) {
            let name = ServicePortName(namespace: "ns", name: "svc\(i)", port: "", protocol: .tcp)
            var info = Shapes.info()
            info.clusterIPs = [IPAddress("172.30.\(i / 250).\(i % 250 + 1)")!]
            s.services[name] = info
            s.endpoints[name] = (0..<endpoints).map { Shapes.ep("10.181.\(i / 250).\(i % 250 + 1)", UInt16(8000 + $0)) }
        }
        for i in 0..<500 { add(i, endpoints: 2) }
        let fake = FakeIPTables()
        let proxier = IPTablesProxier(family: .ip, ipt: fake)
        try proxier.sync(s, changed: [], kind: .full)
        func sepRules() -> [String] { fake.table("nat")!.chains.filter { $0.name.hasPrefix("KUBE-SEP-") || $0.name.hasPrefix("KUBE-SVC-") }.flatMap(\.rules) }
        #expect(sepRules().allSatisfy { $0.contains("--comment") }, "1,000 endpoints is not yet large")
        // One more endpoint crosses the threshold: a partial sync rewrites every chain.
        add(500, endpoints: 1)
        try proxier.sync(s, changed: [ServicePortName(namespace: "ns", name: "svc500", port: "", protocol: .tcp)], kind: .partial)
        #expect(sepRules().count == 3 * 1001)
        #expect(sepRules().allSatisfy { !$0.contains("--comment") })
        #expect(fake.table("nat")!.rules("KUBE-SERVICES")!.dropLast().allSatisfy { $0.contains("--comment \"ns/svc") })
        #expect(proxier.fullRestoreText(s) == proxier.describeRules())
    }

    /// The benchmark's baseline (upstream's layout) holds the same lines as a full sync and
    /// loads into the same chains with the same rules in the same order: only the order of
    /// chain lines and of whole chains differs, and upstream's `KUBE-SEP` DNAT rules have a
    /// `-m PROTO` (without options) that ours leave out.
    @Test(arguments: Shapes.all.map(\.0))
    func upstreamLayoutLoadsTheSameRules(_ shape: String) throws {
        let (_, name, info, eps) = Shapes.all.first { $0.0 == shape }!
        let proxier = IPTablesProxier(family: .ip, ipt: FakeIPTables(), config: .init(clusterCIDR: CIDR("10.0.0.0/8")))
        let s = state(name, info, eps)
        let ours = proxier.fullRestoreText(s), upstream = proxier.upstreamLayoutRestoreText(s)
        let dnat = ours.split(separator: "\n").filter { $0.contains(" -j DNAT ") }
        #expect(!dnat.isEmpty || !ours.contains("KUBE-SEP-"))
        #expect(dnat.allSatisfy { !$0.contains("-m tcp") && !$0.contains("-m udp") && !$0.contains("-m sctp") })
        func withoutDNATMatch(_ text: String) -> String {
            var out = text
            for proto in ["tcp", "udp", "sctp"] { out = out.replacingOccurrences(of: "-m \(proto) -p \(proto) -j DNAT ", with: "-p \(proto) -j DNAT ") }
            return out
        }
        #expect(upstream != withoutDNATMatch(upstream) || dnat.isEmpty)
        #expect(ours.split(separator: "\n").sorted() == withoutDNATMatch(upstream).split(separator: "\n").sorted())
        let a = FakeIPTables(), b = FakeIPTables()
        try a.restore(ours)
        try b.restore(withoutDNATMatch(upstream))
        #expect(comparable(a) == comparable(b))
    }

    /// Per-Service chains are declared in descending name order (the order both restore tools
    /// load fastest), after the fixed chains; in upstream's layout each Service's chain lines
    /// come together, its SVC chain first.
    @Test func chainLinesDescend() throws {
        var s = ProxyState()
        for i in 0..<40 {
            let name = ServicePortName(namespace: "ns", name: "svc\(i)", port: "", protocol: .tcp)
            s.services[name] = ServicePortInfo(clusterIPs: [IPAddress("172.30.1.\(i)")!], port: 80, protocol: .tcp)
            s.endpoints[name] = [Shapes.ep("10.180.1.\(i)"), Shapes.ep("10.180.2.\(i)")]
        }
        let synced = FakeIPTables()
        let proxier = IPTablesProxier(family: .ip, ipt: synced)
        func natChainLines(_ text: String) -> [String] {
            let nat = text.components(separatedBy: "*nat\n")[1].components(separatedBy: "COMMIT\n")[0]
            return nat.split(separator: "\n").filter { $0.hasPrefix(":") }.map { String($0.dropFirst().prefix { $0 != " " }) }
        }
        let ours = natChainLines(proxier.fullRestoreText(s))
        #expect(Array(ours.prefix(4)) == ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"])
        #expect(ours.count == 4 + 40 * 3)
        #expect(Array(ours.dropFirst(4)) == ours.dropFirst(4).sorted(by: >))
        let upstream = natChainLines(proxier.upstreamLayoutRestoreText(s))
        #expect(Set(upstream) == Set(ours))
        #expect(upstream.dropFirst(4).enumerated().allSatisfy { i, c in c.hasPrefix(i % 3 == 0 ? "KUBE-SVC-" : "KUBE-SEP-") })
        // Built-in, fixed and per-Service chains, all loaded by a sync (streamed into the fake).
        try proxier.sync(s, changed: [], kind: .full)
        #expect(synced.table("nat")!.chains.count == 4 + 4 + 40 * 3)
    }

    /// The first pass plans exactly the chains the second renders: every per-Service chain
    /// declared has rules, and every rule is in a declared chain.
    @Test(arguments: Shapes.all.map(\.0))
    func plannedChainsAreTheRenderedOnes(_ shape: String) throws {
        let (_, name, info, eps) = Shapes.all.first { $0.0 == shape }!
        for config in [NFTablesProxier.Config(), .init(clusterCIDR: CIDR("10.0.0.0/8"))] {
            let text = IPTablesProxier(family: .ip, ipt: FakeIPTables(), config: config).fullRestoreText(state(name, info, eps))
            let lines = text.split(separator: "\n")
            func own(_ chain: Substring) -> Bool { ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"].contains { chain.hasPrefix($0) } }
            let declared = Set(lines.filter { $0.hasPrefix(":") }.map { $0.dropFirst().prefix { $0 != " " } }.filter(own))
            let filled = Set(lines.filter { $0.hasPrefix("-A ") }.map { $0.dropFirst(3).prefix { $0 != " " } }.filter(own))
            #expect(declared == filled, "\(shape)")
        }
    }

    /// A full sync's text is streamable: nat first, every chain declared before the first rule,
    /// the per-Service chains' rules before the dispatch rules that need every Service, and
    /// the chains of Services gone since the last sync flushed and deleted at the end of nat.
    @Test func fullTextOrderAllowsStreaming() throws {
        var s = ProxyState()
        for i in 0..<3 {
            let name = ServicePortName(namespace: "ns", name: "svc\(i)", port: "", protocol: .tcp)
            s.services[name] = Shapes.info(nodePort: UInt16(30100 + i))
            s.services[name]!.clusterIPs = [IPAddress("172.30.2.\(i + 1)")!]
            s.endpoints[name] = i == 2 ? [] : [Shapes.ep("10.180.3.\(i + 1)")]
        }
        let fake = FakeIPTables()
        let proxier = IPTablesProxier(family: .ip, ipt: fake)
        try proxier.sync(s, changed: [], kind: .full)
        let gone = ServicePortName(namespace: "ns", name: "svc0", port: "", protocol: .tcp)
        let goneChains = fake.table("nat")!.chains.map(\.name).filter { name in
            fake.table("nat")!.rules(name)!.contains { $0.contains("ns/svc0") } && (name.hasPrefix("KUBE-SVC-") || name.hasPrefix("KUBE-SEP-"))
        }
        #expect(goneChains.count == 2, "svc0's SVC and SEP chains")
        s.services[gone] = nil
        s.endpoints[gone] = nil
        try proxier.sync(s, changed: [], kind: .full)

        let text = fake.restores.last!
        let lines = text.split(separator: "\n").map(String.init)
        let nat = lines.firstIndex(of: "*nat")!, filter = lines.firstIndex(of: "*filter")!
        #expect(nat < filter)
        let natLines = Array(lines[nat..<filter])
        let firstRule = natLines.firstIndex { $0.hasPrefix("-A ") }!
        let lastServiceRule = natLines.lastIndex { $0.hasPrefix("-A KUBE-SVC-") || $0.hasPrefix("-A KUBE-SEP-") || $0.hasPrefix("-A KUBE-EXT-") }!
        let firstDispatch = natLines.firstIndex { $0.hasPrefix("-A KUBE-SERVICES ") || $0.hasPrefix("-A KUBE-NODEPORTS ") }!
        #expect(lastServiceRule < firstDispatch)
        let staleLines = goneChains.map { ":\($0) - [0:0]" } + goneChains.map { "-X \($0)" }
        #expect(natLines[..<firstRule].allSatisfy { !$0.hasPrefix("-") })
        for line in staleLines { #expect(natLines.firstIndex(of: line).map { $0 > lastServiceRule } == true, "\(line)") }
        for chain in goneChains { #expect(fake.table("nat")!.rules(chain) == nil, "\(chain) deleted") }
        #expect(fake.table("nat")!.rules("KUBE-SERVICES")!.last!.hasSuffix("-j KUBE-NODEPORTS"))
    }

    /// The first full sync reads the tables (leftovers, jumps) while its restore runs; when
    /// that read fails, the restore is left without COMMIT, nothing changes, and the error is
    /// the save's.
    @Test func failedSaveChangesNothingAndSaysWhy() throws {
        final class FailingSave: IPTablesInterface {
            let fake = FakeIPTables()
            let failing = Mutex(true)
            func restore(_ text: String) throws(IPTablesError) { try fake.restore(text) }
            func save(table: String) throws(IPTablesError) -> String {
                if failing.withLock({ $0 }) { throw IPTablesError("iptables-save -t \(table) broke") }
                return try fake.save(table: table)
            }
            func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) { try fake.ensureRule(table: table, chain: chain, rule) }
            func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) { try fake.deleteRule(table: table, chain: chain, rule) }
        }
        let ipt = FailingSave()
        let proxier = IPTablesProxier(family: .ip, ipt: ipt)
        let s = state(Shapes.web, Shapes.info(nodePort: 30080), [Shapes.ep("10.180.0.1")])
        #expect {
            try proxier.sync(s, changed: [], kind: .full)
        } throws: { error in
            "\(error)".contains("iptables-save -t nat broke")
        }
        #expect(ipt.fake.restores.isEmpty)
        for table in ["filter", "nat"] { #expect(!(try ipt.fake.save(table: table)).contains("KUBE-"), "\(table)") }
        ipt.failing.withLock { $0 = false }
        try proxier.sync(s, changed: [], kind: .partial)
        #expect(ipt.fake.table("nat")?.rules("PREROUTING")?.contains { $0.hasSuffix("-j KUBE-SERVICES") } == true)
        #expect(ipt.fake.table("nat")?.rules("KUBE-NODEPORTS")?.count == 1)
    }

    @Test func affinityUsesRecentWithTheTimeout() throws {
        let fake = FakeIPTables()
        var info = Shapes.info()
        info.affinityTimeoutSeconds = 600
        try IPTablesProxier(family: .ip, ipt: fake).sync(state(Shapes.web, info, [Shapes.ep("10.180.0.1"), Shapes.ep("10.180.0.2")]), changed: [], kind: .full)
        let svc = fake.table("nat")!.chains.first { $0.name.hasPrefix("KUBE-SVC-") }!
        #expect(svc.rules.filter { $0.contains("--rcheck --seconds 600 --reap") }.count == 2)
        #expect(svc.rules.contains { $0.contains("--probability 0.5000000000") })
    }

    /// The first full sync reads nat and filter with one iptables-save of every table: each
    /// table's section is split out as `-t TABLE` prints it; a table absent from the output
    /// (iptables-legacy lists only the loaded ones) reads as empty; an unfinished section is
    /// dropped.
    @Test func saveOfAllTablesSplitsIntoSections() {
        let nat = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-AAAA - [0:0]\n-A PREROUTING -m comment --comment \"COMMIT *filter\" -j KUBE-SERVICES\nCOMMIT\n"
        let filter = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j KUBE-NODEPORTS\nCOMMIT\n"
        let mangle = "*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"
        let all = "# Generated by iptables-save v1.8.10 on Thu Nov 26 18:30:00 2026\n" + mangle + "# Completed on Thu Nov 26 18:30:00 2026\n"
            + "# Generated by iptables-save\n" + nat + "# Completed\n# Generated by iptables-save\n" + filter + "# Completed"
        #expect(IPTablesSave.sections(all, tables: ["nat", "filter"]) == [nat, filter])
        #expect(IPTablesSave.sections(all, tables: ["filter", "raw", "mangle"]) == [filter, "", mangle])
        #expect(IPTablesSave.sections("", tables: ["nat"]) == [""])
        // A section cut off before its COMMIT is not taken for the table.
        #expect(IPTablesSave.sections("*nat\n:PREROUTING ACCEPT [0:0]\n" + filter, tables: ["nat", "filter"]) == ["", filter])
        // What the proxier reads from a section: the chains and the rule lines.
        let split = IPTablesSave.sections(all, tables: ["nat"])[0]
        #expect(IPTablesSave.chainNames(split) == ["PREROUTING", "KUBE-SVC-AAAA"])
    }
}

import Foundation
import IPTables
import NFTables
import Proxy
import Synchronization
import Testing
import TestSupport

@Suite struct IPTablesProxierTests {
    static let natChainLines = [":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
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
        func isServiceRule(_ line: String) -> Bool { line.hasPrefix("-A KUBE-SVC-") || line.hasPrefix("-A KUBE-SEP-") || line.hasPrefix("-A KUBE-EXT-") }
        let firstServiceRule = natLines.firstIndex(where: isServiceRule)!
        let lastServiceRule = natLines.lastIndex(where: isServiceRule)!
        let firstDispatch = natLines.firstIndex { $0.hasPrefix("-A KUBE-SERVICES ") || $0.hasPrefix("-A KUBE-NODEPORTS ") }!
        #expect(lastServiceRule < firstDispatch)
        let staleLines = goneChains.map { ":\($0) - [0:0]" } + goneChains.map { "-X \($0)" }
        // Before the first per-Service rule: the chain lines, and the fixed chains' rules,
        // which come first (right after the fixed chains' lines) and jump to no declared chain.
        let before = natLines[1..<firstServiceRule]
        let fixedRules = before.filter { $0.hasPrefix("-") }
        #expect(fixedRules.count == 4)
        #expect(fixedRules.allSatisfy { $0.hasPrefix("-A KUBE-POSTROUTING ") || $0.hasPrefix("-A KUBE-MARK-MASQ ") })
        #expect(Array(before.prefix(8)) == IPTablesProxierTests.natChainLines + fixedRules)
        #expect(before.dropFirst(8).allSatisfy { $0.hasPrefix(":") })
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

    /// Above 1,000 Service ports and endpoints the plan runs in chunks, in no order; the rules
    /// are still written in Service port name order, each Service port's rules as it renders
    /// them alone.
    @Test func planInChunksKeepsNameOrderAndRules() throws {
        var s = ProxyState()
        // 1,000 endpoints: planned in two chunks (2,000 Service ports and endpoints), not yet
        // past the large-cluster threshold (the texts keep their comments).
        for i in 0..<1000 {
            let name = ServicePortName(namespace: "ns\(i % 7)", name: "svc\(i)", port: i % 3 == 0 ? "" : "p\(i % 3)", protocol: i % 5 == 0 ? .udp : .tcp)
            s.services[name] = ServicePortInfo(clusterIPs: [IPAddress("172.30.\(i / 250).\(i % 250 + 1)")!], port: 80, protocol: name.protocol)
            s.endpoints[name] = [Shapes.ep("10.181.\(i / 250).\(i % 250 + 1)")]
        }
        let proxier = IPTablesProxier(family: .ip, ipt: FakeIPTables())
        let text = proxier.fullRestoreText(s)
        #expect(text == proxier.fullRestoreText(s))
        let lines = Set(text.split(separator: "\n"))
        let names = s.services.keys.sorted { ($0.namespace, $0.name, $0.port, $0.protocol.rawValue) < ($1.namespace, $1.name, $1.port, $1.protocol.rawValue) }
        // The dispatch rules, one per Service port, in name order.
        let dispatch = text.split(separator: "\n").filter { $0.hasPrefix("-A KUBE-SERVICES -m comment --comment \"ns") }
        #expect(dispatch.map { $0.split(separator: "\"")[1].dropLast(" cluster IP".count) } == names.map { Substring($0.description) })
        for name in names.enumerated().filter({ $0.offset % 37 == 0 }).map(\.element) {
            var one = ProxyState()
            one.services[name] = s.services[name]
            one.endpoints[name] = s.endpoints[name]
            for line in proxier.fullRestoreText(one).split(separator: "\n") where line.hasPrefix("-A KUBE-S") {
                #expect(lines.contains(line), "\(name): \(line)")
            }
        }
    }

    /// The plan's shortcut for the common case (no Local policy, every endpoint ready, sorted,
    /// no duplicates) selects what EndpointSelection selects, and so does its fallback.
    @Test func selectionShortcutMatchesEndpointSelection() {
        var rng = SystemRandomNumberGenerator()
        let addresses = ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.2.0.1"]
        for _ in 0..<3000 {
            var info = Shapes.info(nodePort: Bool.random(using: &rng) ? 30001 : 0)
            info.internalPolicyLocal = Int.random(in: 0..<4, using: &rng) == 0
            info.externalPolicyLocal = Int.random(in: 0..<4, using: &rng) == 0
            var eps = (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                Shapes.ep(addresses.randomElement(using: &rng)!, UInt16.random(in: 80...81, using: &rng),
                          ready: Int.random(in: 0..<5, using: &rng) != 0, serving: Bool.random(using: &rng),
                          terminating: Bool.random(using: &rng), local: Bool.random(using: &rng))
            }
            if Bool.random(using: &rng) { eps.sort() }
            let expected = EndpointSelection(service: info, endpoints: eps)
            let got = IPTablesProxier.select(info, eps)
            #expect(got.cluster == expected.cluster && got.local == expected.local && got.hasNoEndpoints == expected.hasNoEndpoints,
                    "\(info.internalPolicyLocal) \(info.externalPolicyLocal) \(eps)")
        }
    }
}

/// Tables as `getsockopt(IPT_SO_GET_ENTRIES)` returns them, built byte by byte.
@Suite struct KernelTableTests {
    /// One `struct ipt_entry` with its matches and target, as the kernel lays it out.
    static func entry(goto: Bool = false, matches: [(String, [UInt8])] = [], target: String, data: [UInt8]) -> [UInt8] {
        func header(_ size: Int, _ name: String) -> [UInt8] {
            var h = [UInt8](repeating: 0, count: 32)
            h[0] = UInt8(size & 0xff)
            h[1] = UInt8(size >> 8)
            for (i, c) in name.utf8.enumerated() { h[2 + i] = c }
            return h
        }
        func aligned(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8) }
        var ip = [UInt8](repeating: 0, count: 112)
        if goto { ip[82] = 0x02 }  // IPT_F_GOTO in ipt_ip.flags
        var body: [UInt8] = []
        for (name, data) in matches {
            let m = aligned(header(0, name) + data)
            body += header(m.count, name) + m.dropFirst(32)
        }
        let t = aligned(header(0, target) + data)
        let targetOffset = 112 + body.count, next = targetOffset + t.count
        ip[88] = UInt8(targetOffset & 0xff); ip[89] = UInt8(targetOffset >> 8)
        ip[90] = UInt8(next & 0xff); ip[91] = UInt8(next >> 8)
        return ip + body + header(t.count, target) + t.dropFirst(32)
    }

    static func verdict(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
    static func comment(_ text: String) -> (String, [UInt8]) { ("comment", Array(text.utf8) + [UInt8](repeating: 0, count: 256 - text.utf8.count)) }
    static func errorName(_ name: String) -> [UInt8] { Array(name.utf8) + [UInt8](repeating: 0, count: 30 - name.utf8.count) }
    static let accept: Int32 = -2, returnVerdict: Int32 = -5

    /// nat with PREROUTING, INPUT, OUTPUT, POSTROUTING and two user chains; jumps are written
    /// as libiptc writes them (the offset of the first entry after the chain's head).
    static func natTable() -> (blob: [UInt8], hooks: [UInt32], underflows: [UInt32]) {
        var blob: [UInt8] = []
        var hooks = [UInt32](repeating: 0, count: 5), underflows = [UInt32](repeating: 0, count: 5)
        // Offsets are known once every entry is placed; jumps are patched after.
        var patches: [(at: Int, chain: String)] = []
        var starts: [String: Int] = [:]
        func add(_ e: [UInt8]) -> Int { let at = blob.count; blob += e; return at }
        func jump(_ chain: String, goto: Bool = false, comments: [String]) {
            let at = add(entry(goto: goto, matches: comments.map(comment), target: "", data: verdict(0)))
            // The verdict follows the target's 32-byte header.
            patches.append((at + (Int(blob[at + 88]) | Int(blob[at + 89]) << 8) + 32, chain))
        }
        hooks[0] = UInt32(blob.count)
        jump("KUBE-SERVICES", comments: ["kubernetes service portals"])
        underflows[0] = UInt32(add(entry(target: "", data: verdict(accept))))
        hooks[1] = UInt32(blob.count)
        underflows[1] = UInt32(add(entry(target: "", data: verdict(accept))))
        hooks[3] = UInt32(blob.count)
        jump("KUBE-SERVICES", goto: true, comments: ["kubernetes service portals"])
        // No target: the verdict is the next entry's offset.
        let fall = add(entry(target: "", data: verdict(0)))
        blob.replaceSubrange((fall + 112 + 32)..<(fall + 112 + 36), with: verdict(Int32(blob.count)))
        jump("KUBE-SERVICES", comments: ["other"])
        underflows[3] = UInt32(add(entry(target: "", data: verdict(accept))))
        hooks[4] = UInt32(blob.count)
        jump("KUBE-POSTROUTING", comments: ["x", "kubernetes postrouting rules (and more)"])
        underflows[4] = UInt32(add(entry(target: "", data: verdict(accept))))
        for chain in ["KUBE-SERVICES", "KUBE-POSTROUTING"] {
            _ = add(entry(target: "ERROR", data: errorName(chain)))
            starts[chain] = blob.count
            if chain == "KUBE-SERVICES" {
                _ = add(entry(matches: [comment("in a user chain")], target: "MARK", data: [0, 0x40, 0, 0, 0, 0x40, 0, 0]))
                // An explicit RETURN before the chain's own.
                _ = add(entry(target: "", data: verdict(returnVerdict)))
            }
            _ = add(entry(target: "", data: verdict(returnVerdict)))
        }
        _ = add(entry(target: "ERROR", data: errorName("ERROR")))
        for (at, chain) in patches { blob.replaceSubrange(at..<(at + 4), with: verdict(Int32(starts[chain]!))) }
        return (blob, hooks, underflows)
    }

    @Test func parsesChainsJumpsAndComments() throws {
        let (blob, hooks, underflows) = Self.natTable()
        let table = try KernelTable.parse(entries: blob, validHooks: 0b11011, hookEntry: hooks, underflow: underflows)
        #expect(table.chains == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "KUBE-SERVICES", "KUBE-POSTROUTING"])
        #expect(table.rules == [
            .init(chain: "PREROUTING", jump: "KUBE-SERVICES", comments: ["kubernetes service portals"]),
            .init(chain: "OUTPUT", jump: nil, comments: ["kubernetes service portals"]),
            .init(chain: "OUTPUT", jump: nil, comments: []),
            .init(chain: "OUTPUT", jump: "KUBE-SERVICES", comments: ["other"]),
            .init(chain: "POSTROUTING", jump: "KUBE-POSTROUTING", comments: ["x", "kubernetes postrouting rules (and more)"]),
            .init(chain: "KUBE-SERVICES", jump: nil, comments: ["in a user chain"]),
            .init(chain: "KUBE-SERVICES", jump: nil, comments: []),
        ])
        let snapshot = TableSnapshot.kernel(table)
        #expect(snapshot.hasJump(chain: "PREROUTING", target: "KUBE-SERVICES", comment: "kubernetes service portals"))
        // A goto is not a jump; a jump with another comment is not the one looked for.
        #expect(!snapshot.hasJump(chain: "OUTPUT", target: "KUBE-SERVICES", comment: "kubernetes service portals"))
        #expect(snapshot.hasJump(chain: "OUTPUT", target: "KUBE-SERVICES", comment: "other"))
        #expect(snapshot.hasJump(chain: "POSTROUTING", target: "KUBE-POSTROUTING", comment: "kubernetes postrouting rules"))
        #expect(!snapshot.hasJump(chain: "PREROUTING", target: "KUBE-POSTROUTING", comment: "kubernetes postrouting rules"))
        #expect(snapshot.chainNames == table.chains)
    }

    /// The same questions of iptables-save's text of such a table get the same answers.
    @Test func savedTextAnswersAlike() {
        let saved = TableSnapshot.saved("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            :KUBE-SERVICES - [0:0]
            :KUBE-POSTROUTING - [0:0]
            -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -A OUTPUT -m comment --comment "kubernetes service portals" -g KUBE-SERVICES
            -A OUTPUT
            -A OUTPUT -m comment --comment other -j KUBE-SERVICES
            -A POSTROUTING -m comment --comment x -m comment --comment "kubernetes postrouting rules (and more)" -j KUBE-POSTROUTING
            -A KUBE-SERVICES -m comment --comment "in a user chain" -j MARK --set-xmark 0x4000/0x4000
            -A KUBE-SERVICES -j RETURN
            COMMIT

            """)
        let (blob, hooks, underflows) = Self.natTable()
        let kernel = TableSnapshot.kernel(try! KernelTable.parse(entries: blob, validHooks: 0b11011, hookEntry: hooks, underflow: underflows))
        #expect(saved.chainNames == kernel.chainNames)
        for chain in ["PREROUTING", "OUTPUT", "POSTROUTING", "INPUT"] {
            for target in ["KUBE-SERVICES", "KUBE-POSTROUTING"] {
                for comment in ["kubernetes service portals", "other", "kubernetes postrouting rules", "none"] {
                    #expect(saved.hasJump(chain: chain, target: target, comment: comment) == kernel.hasJump(chain: chain, target: target, comment: comment),
                            "\(chain) \(target) \(comment)")
                }
            }
        }
    }

    /// Bytes that are not a well-formed table give an error, never a crash or a hang.
    @Test func malformedTablesAreErrors() {
        let (blob, hooks, underflows) = Self.natTable()
        func parse(_ bytes: [UInt8], hooks: [UInt32] = hooks) -> Bool {
            (try? KernelTable.parse(entries: bytes, validHooks: 0b11011, hookEntry: hooks, underflow: underflows)) != nil
        }
        #expect(parse(blob))
        // Cut anywhere inside: the last entry overruns.
        for cut in [1, 40, 111, 150, blob.count / 2 + 3] { #expect(!parse(Array(blob.prefix(blob.count - cut))), "cut \(cut)") }
        // A next offset of 0 (would loop forever) or past the end; a target offset outside its entry.
        var zero = blob
        zero[90] = 0; zero[91] = 0
        #expect(!parse(zero))
        var long = blob
        long[91] = 0xff
        #expect(!parse(long))
        var target = blob
        target[88] = 0xff; target[89] = 0x0f
        #expect(!parse(target))
        // A match whose size overruns the entry.
        var match = blob
        match[112] = 0xff; match[113] = 0x0f
        #expect(!parse(match))
        // A hook entry that is not an entry's offset.
        var badHooks = hooks
        badHooks[0] = 8
        #expect(!parse(blob, hooks: badHooks))
        #expect(throws: IPTablesError.self) { try KernelTable.parse(entries: blob, validHooks: 1, hookEntry: [0], underflow: [0]) }
        #expect(parse([], hooks: [0, 0, 0, 0, 0]) == false)
    }
}

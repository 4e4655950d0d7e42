import Foundation
import NFTables
@testable import NodectlKit
import Testing

/// `nodectl proxy rules|trace` over nftables: the interpreter runs packets through recorded
/// `nft -j` tables (NFTablesFixtures) of two layouts, and through small hand-written tables
/// that isolate one kernel rule (jump/goto/return, policy, maps, loops).
@Suite struct ProxyRulesNFTablesTests {
    static func ruleset(_ json: String, family: String = "ip", table: String) throws -> NFTablesRuleset {
        try NFTablesRuleset(json: Data(json.utf8), family: family, table: table)
    }

    static var current: NFTablesTracer {
        get throws {
            NFTablesTracer(rulesets: [try ruleset(NFTablesFixtures.nodekitProxyIP, table: "nodekit-proxy")],
                           localAddresses: [IPAddress("10.99.0.1")!])
        }
    }

    static var folded: NFTablesTracer {
        get throws {
            NFTablesTracer(rulesets: [try ruleset(NFTablesFixtures.foldedIP, table: "nk-folded"),
                                      try ruleset(NFTablesFixtures.foldedIP6, family: "ip6", table: "nk-folded")],
                           localAddresses: [IPAddress("10.99.0.1")!])
        }
    }

    static func packet(_ daddr: String, _ port: Int, _ proto: Int = 6, from saddr: String? = nil) -> NFTablesTracer.Packet {
        NFTablesTracer.Packet(saddr: saddr.map { IPAddress($0)! }, daddr: IPAddress(daddr)!, proto: proto, dport: port)
    }

    /// Endpoint → total probability over the paths that reach it (for one fully known packet
    /// the paths are exclusive, so the shares sum to 1).
    static func shares(_ paths: [NFTablesTracer.Path]) -> [String: Double] {
        var out: [String: Double] = [:]
        for p in paths where p.verdict == "DNAT" { out[p.endpoint!, default: 0] += p.probability }
        return out
    }

    // MARK: The backend's current layout (endpoint chains, numgen goto rules)

    @Test func rulesOfTheCurrentLayout() throws {
        let services = try NFTablesRulesReader.read(try Self.current)
        #expect(services.map(\.name) == ["172.30.0.20:80/tcp", "default/sticky", "default/web:http", "prod/lb"])
        let byName = Dictionary(uniqueKeysWithValues: services.map { ($0.name, $0) })

        let web = try #require(byName["default/web:http"])
        #expect(web.frontends.map(\.description) == ["172.30.0.10:80", "*:30080 (NodePort)"])
        #expect(web.endpoints == ["10.1.0.2:8080", "10.1.0.3:8080", "10.1.0.4:8080"])
        #expect(web.affinitySeconds == nil && !web.rejects)

        // No chain carries the name of a Service without endpoints: it is named by address.
        #expect(byName["172.30.0.20:80/tcp"]?.rejects == true)
        #expect(byName["172.30.0.20:80/tcp"]?.endpoints == [])

        let sticky = try #require(byName["default/sticky"])
        #expect(sticky.proto == "udp" && sticky.affinitySeconds == 600)
        #expect(sticky.endpoints == ["10.1.0.5:5353", "10.1.0.6:5353"])

        // externalTrafficPolicy Local: external frontends reach only the local endpoint;
        // the LoadBalancer IP only from its source range.
        let lb = try #require(byName["prod/lb"])
        #expect(lb.endpoints == ["10.1.0.7:8443", "10.1.0.8:8443"])
        let frontends = Dictionary(uniqueKeysWithValues: lb.frontends.map { ($0.address ?? "*", $0) })
        #expect(frontends["172.30.0.40"]?.endpoints == nil)
        #expect(frontends["192.0.2.50"]?.endpoints == ["10.1.0.7:8443"])
        #expect(frontends["198.51.100.7"]?.kind == .loadBalancerIP)
        #expect(frontends["198.51.100.7"]?.sourceRanges == ["203.0.113.0/24"])
        #expect(frontends["198.51.100.7"]?.endpoints == ["10.1.0.7:8443"])
        #expect(frontends["*"]?.kind == .nodePort && frontends["*"]?.port == 30443)
    }

    @Test func clusterIPFromAPodIsBalancedWithoutMasquerade() throws {
        let paths = try Self.current.trace(Self.packet("172.30.0.10", 80, from: "10.1.0.9"))
        #expect(paths.allSatisfy { $0.verdict == "DNAT" && !$0.masquerade && $0.conditions.isEmpty })
        let shares = Self.shares(paths)
        #expect(Set(shares.keys) == ["10.1.0.2:8080", "10.1.0.3:8080", "10.1.0.4:8080"])
        for share in shares.values { #expect(abs(share - 1.0 / 3) < 1e-9) }
        #expect(paths.allSatisfy { $0.chains.contains("service-CDGGSHYL-default/web/tcp/http") })
    }

    @Test(arguments: [
        ("192.168.7.7", "10.1.0.3:8080", true),   // from outside the cluster CIDR
        ("10.1.0.3", "10.1.0.3:8080", true),      // hairpin: the endpoint reaches itself
        ("10.1.0.2", "10.1.0.3:8080", false),     // another pod
    ])
    func masqueradeOfClusterIPTraffic(source: String, endpoint: String, masquerade: Bool) throws {
        let paths = try Self.current.trace(Self.packet("172.30.0.10", 80, from: source))
        let path = try #require(paths.first { $0.endpoint == endpoint })
        #expect(path.masquerade == masquerade, "\(path.steps)")
        #expect(abs(Self.shares(paths).values.reduce(0, +) - 1) < 1e-9)
    }

    @Test func unknownSourceBecomesConsistentConditions() throws {
        let paths = try Self.current.trace(Self.packet("172.30.0.10", 80))
        // 3 endpoints × (outside the cluster CIDR | inside and hairpin | inside, not hairpin).
        #expect(paths.count == 9)
        for p in paths {
            #expect(p.masquerade == (p.conditions.contains("ip saddr != 10.1.0.0/16")
                                     || p.conditions.contains { $0.hasPrefix("ip saddr 10.1.0.") && !$0.hasSuffix("/16") }), "\(p.conditions)")
            // Outside 10.1.0.0/16 cannot also be one of its pods: no such path is made.
            #expect(!(p.conditions.contains("ip saddr != 10.1.0.0/16") && p.conditions.contains { $0.hasPrefix("ip saddr 10.1.0.") }))
        }
    }

    @Test func noEndpointsIsRejectedInTheFilterHook() throws {
        let paths = try Self.current.trace(Self.packet("172.30.0.20", 80, from: "10.1.0.9"))
        #expect(paths.map(\.verdict) == ["REJECT"])
        #expect(paths[0].steps.last == "reject-chain: reject with tcp reset")
        #expect(paths[0].steps.contains { $0.hasPrefix("service-endpoints-check:") })
        // UDP to the same address is no Service: not proxied.
        #expect(try Self.current.trace(Self.packet("172.30.0.20", 80, 17, from: "10.1.0.9")).map(\.verdict) == ["ACCEPT"])
    }

    @Test func stickyServiceFollowsTheAffinitySet() throws {
        // The recorded sets are empty: a known client is not in them, and is balanced.
        let fresh = try Self.current.trace(Self.packet("172.30.0.30", 53, 17, from: "10.1.0.9"))
        #expect(Self.shares(fresh) == ["10.1.0.5:5353": 0.5, "10.1.0.6:5353": 0.5])
        #expect(fresh.allSatisfy { $0.affinitySeconds == 600 })
        // Any client: a path per affinity entry it may hold, each reaching that endpoint.
        let any = try Self.current.trace(Self.packet("172.30.0.30", 53, 17))
        let remembered = any.filter { p in p.conditions.contains { $0.hasPrefix("the client is in @affinity-") } }
        #expect(!remembered.isEmpty && remembered.allSatisfy { $0.probability == 1 })
        #expect(Set(remembered.compactMap(\.endpoint)) == ["10.1.0.5:5353", "10.1.0.6:5353"])
    }

    @Test(arguments: [
        ("203.0.113.9", ["DNAT"], ["10.1.0.7:8443"]),
        ("8.8.8.8", ["DROP"], []),
    ])
    func loadBalancerSourceRanges(source: String, verdicts: [String], endpoints: [String]) throws {
        let paths = try Self.current.trace(Self.packet("198.51.100.7", 443, from: source))
        #expect(paths.map(\.verdict) == verdicts)
        #expect(paths.compactMap(\.endpoint) == endpoints)
    }

    @Test func nodePortOnlyOnLocalAddresses() throws {
        let local = try Self.current.trace(Self.packet("10.99.0.1", 30080, from: "192.168.7.7"))
        #expect(Set(local.compactMap(\.endpoint)) == ["10.1.0.2:8080", "10.1.0.3:8080", "10.1.0.4:8080"])
        #expect(local.allSatisfy { $0.masquerade })
        #expect(try Self.current.trace(Self.packet("10.99.0.2", 30080, from: "192.168.7.7")).map(\.verdict) == ["ACCEPT"])
        // Local policy: external traffic stays on this node, and keeps the client address.
        let lb = try Self.current.trace(Self.packet("10.99.0.1", 30443, from: "192.168.7.7"))
        #expect(lb.map(\.endpoint) == ["10.1.0.7:8443"] && lb.allSatisfy { !$0.masquerade })
    }

    @Test func fromTheNodeItselfUsesTheOutputHook() throws {
        let packet = NFTablesTracer.Packet(saddr: IPAddress("10.99.0.1"), daddr: IPAddress("192.0.2.50"), proto: 6, dport: 443, fromNode: true)
        let paths = try Self.current.trace(packet)
        // Traffic from the node to an external IP keeps cluster semantics (both endpoints), masqueraded.
        #expect(Set(paths.compactMap(\.endpoint)) == ["10.1.0.7:8443", "10.1.0.8:8443"])
        #expect(paths.allSatisfy { $0.masquerade && $0.steps.contains("nat-output: jump services") })
    }

    @Test func traceSummaryNamesTheServiceAndCommonSteps() throws {
        let t = try NFTablesRulesReader.trace(try Self.current, Self.packet("172.30.0.10", 80, from: "10.1.0.9"), destination: "172.30.0.10:80")
        #expect(t.verdict == "DNAT" && t.service == "default/web:http")
        #expect(t.endpoints == ["10.1.0.2:8080", "10.1.0.3:8080", "10.1.0.4:8080"])
        #expect(t.reasons.first == "nat-prerouting: jump services")
        #expect(t.reasons.contains { $0.contains("vmap @service-ips → goto service-CDGGSHYL") })
        #expect(t.paths?.count == 3)
        let text = try ProxyView.render(t, format: .table)
        #expect(text.hasPrefix("172.30.0.10:80/tcp: DNAT via default/web:http -> 10.1.0.2:8080, 10.1.0.3:8080, 10.1.0.4:8080\n"))
        #expect(text.contains("(33.3% of packets)"))
        let none = try NFTablesRulesReader.trace(try Self.current, Self.packet("1.2.3.4", 80), destination: "1.2.3.4:80")
        #expect(none.verdict == "none" && none.service == nil)
        #expect(none.reasons.last?.contains("not proxied") == true)
    }

    // MARK: The folded layout (numgen maps in dnat, hairpin set in postrouting, unnamed chains)

    @Test func rulesOfTheFoldedLayout() throws {
        let services = try NFTablesRulesReader.read(try Self.folded)
        #expect(services.map(\.name) == ["172.30.0.10:80/tcp", "172.30.0.11:53/udp", "172.30.0.12:443/tcp", "172.30.0.20:80/tcp", "[fd00:30::10]:80/tcp"])
        let web = services[0]
        // The NodePort DNATs in the same chain as the cluster IP: one Service.
        #expect(web.frontends.map(\.description) == ["172.30.0.10:80", "*:30080 (NodePort)"])
        #expect(web.endpoints == ["10.1.0.2:8080", "10.1.0.3:8080"])
        #expect(services[1].endpoints == ["10.1.0.4:5353", "10.1.0.5:5353"])
        #expect(services[2].affinitySeconds == 10800 && services[2].endpoints == ["10.1.0.6:8443"])
        #expect(services[3].rejects)
        #expect(services[4].endpoints == ["[fd00:1::2]:8080", "[fd00:1::3]:8080"])
        #expect(services[4].frontends.map(\.description) == ["[fd00:30::10]:80"])
    }

    @Test func numgenMapEnumeratesEveryEndpoint() throws {
        let paths = try Self.folded.trace(Self.packet("172.30.0.11", 53, 17, from: "10.1.0.9"))
        #expect(Self.shares(paths) == ["10.1.0.4:5353": 0.5, "10.1.0.5:5353": 0.5])
        #expect(paths.allSatisfy { $0.dnatChain == "s2" })
    }

    @Test(arguments: [("10.1.0.2", true), ("10.1.0.9", false)])
    func hairpinSetInPostrouting(source: String, masquerade: Bool) throws {
        let paths = try Self.folded.trace(Self.packet("172.30.0.10", 80, from: source))
        let toSelf = try #require(paths.first { $0.endpoint == "10.1.0.2:8080" })
        #expect(toSelf.masquerade == masquerade, "\(toSelf.steps)")
        #expect(paths.first { $0.endpoint == "10.1.0.3:8080" }?.masquerade == false)
    }

    @Test func ipv6TableIsUsedForIPv6Packets() throws {
        let paths = try Self.folded.trace(Self.packet("fd00:30::10", 80))
        #expect(Self.shares(paths) == ["[fd00:1::2]:8080": 0.5, "[fd00:1::3]:8080": 0.5])
    }

    // MARK: Kernel semantics on small tables

    /// A table with one prerouting nat base chain `pre` and the given regular chains.
    static func table(base: [String], policy: String = "accept", chains: [String: [String]]) throws -> NFTablesTracer {
        var items = [#"{"table":{"family":"ip","name":"t","handle":1}}"#,
                     #"{"chain":{"family":"ip","table":"t","name":"pre","handle":2,"type":"nat","hook":"prerouting","prio":-100,"policy":"\#(policy)"}}"#]
        for name in chains.keys.sorted() { items.append(#"{"chain":{"family":"ip","table":"t","name":"\#(name)","handle":3}}"#) }
        for rule in base { items.append(#"{"rule":{"family":"ip","table":"t","chain":"pre","handle":9,"expr":[\#(rule)]}}"#) }
        for (name, rules) in chains.sorted(by: { $0.key < $1.key }) {
            for rule in rules { items.append(#"{"rule":{"family":"ip","table":"t","chain":"\#(name)","handle":9,"expr":[\#(rule)]}}"#) }
        }
        let json = #"{"nftables":[\#(items.joined(separator: ","))]}"#
        return NFTablesTracer(rulesets: [try ruleset(json, table: "t")], localAddresses: [])
    }

    static let dport80 = #"{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":80}}"#
    static func dnat(_ addr: String, _ port: Int) -> String { #"{"dnat":{"addr":"\#(addr)","port":\#(port)}}"# }
    static func verdict(_ kind: String, _ target: String) -> String { #"{"\#(kind)":{"target":"\#(target)"}}"# }

    @Test func jumpReturnsButGotoDoesNot() throws {
        // jump: the callee returns and the caller's next rule runs; goto: the caller is done.
        let jumped = try Self.table(base: [Self.verdict("jump", "a"), Self.dnat("10.0.0.1", 1)],
                                    chains: ["a": [#"{"return":null}"#, Self.dnat("10.0.0.9", 9)]])
        #expect(try jumped.trace(Self.packet("1.1.1.1", 80)).map(\.endpoint) == ["10.0.0.1:1"])
        let gone = try Self.table(base: [Self.verdict("goto", "a"), Self.dnat("10.0.0.1", 1)], chains: ["a": []])
        #expect(try gone.trace(Self.packet("1.1.1.1", 80)).map(\.verdict) == ["ACCEPT"])
    }

    @Test func failedMatchSkipsOnlyItsRuleAndPolicyDropApplies() throws {
        let t = try Self.table(base: [Self.dport80 + "," + Self.dnat("10.0.0.1", 1)], policy: "drop", chains: [:])
        #expect(try t.trace(Self.packet("1.1.1.1", 80)).map(\.verdict) == ["DNAT"])
        #expect(try t.trace(Self.packet("1.1.1.1", 81)).map(\.verdict) == ["DROP"])
        #expect(try t.trace(Self.packet("1.1.1.1", 80, 17)).map(\.verdict) == ["DROP"], "tcp dport does not match UDP")
    }

    @Test func numgenVerdictMapAndRangeElements() throws {
        let vmap = #"{"vmap":{"key":{"numgen":{"mode":"random","mod":4,"offset":0}},"data":{"set":[[{"range":[0,2]},{"goto":{"target":"a"}}],[3,{"goto":{"target":"b"}}]]}}}"#
        let t = try Self.table(base: [vmap], chains: ["a": [Self.dnat("10.0.0.1", 1)], "b": [Self.dnat("10.0.0.2", 2)]])
        #expect(Self.shares(try t.trace(Self.packet("1.1.1.1", 80))) == ["10.0.0.1:1": 0.75, "10.0.0.2:2": 0.25])
    }

    @Test func loopsAndMissingObjectsAreErrors() throws {
        let loop = try Self.table(base: [Self.verdict("jump", "a")], chains: ["a": [Self.verdict("jump", "a")]])
        #expect(throws: NFTablesReadError.self) { try loop.trace(Self.packet("1.1.1.1", 80)) }
        let missing = try Self.table(base: [Self.verdict("goto", "nowhere")], chains: [:])
        let error = #expect(throws: NFTablesReadError.self) { try missing.trace(Self.packet("1.1.1.1", 80)) }
        #expect(error?.description.contains("nowhere") == true)
        let noSet = try Self.table(base: [#"{"vmap":{"key":{"meta":{"key":"l4proto"}},"data":"@absent"}}"#], chains: [:])
        #expect(throws: NFTablesReadError.self) { try noSet.trace(Self.packet("1.1.1.1", 80)) }
    }

    @Test(arguments: ["", "not json", #"{"x":1}"#, #"{"nftables":[{"table":{"family":"ip","name":"other","handle":1}}]}"#])
    func malformedOrMissingTableIsAnError(json: String) throws {
        let error = #expect(throws: NFTablesReadError.self) { try Self.ruleset(json, table: "nodekit-proxy") }
        #expect(error?.description.contains("nodekit-proxy") == true)
    }
}

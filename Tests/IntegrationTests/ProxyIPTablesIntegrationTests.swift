import Foundation
import IPTables
import LinuxSystem
import NFTables
import Proxy
import Testing
import TestSupport

/// Real packets through real iptables rules written by ``IPTablesProxier`` with
/// `iptables-restore --noflush`, for both iptables variants, in a private network namespace
/// (see ``ProxyNetnsLab``).
@Suite(.serialized, .enabled(if: ProxyNetnsLab.skipReason == nil, "\(ProxyNetnsLab.skipReason ?? "")"))
struct ProxyIPTablesIntegrationTests {
    static let web = ServicePortName(namespace: "default", name: "web", port: "http", protocol: .tcp)
    static let empty = ServicePortName(namespace: "default", name: "empty", port: "", protocol: .tcp)
    static let clusterIP = "172.30.0.10"
    static let nodePort = 30080

    func state(_ lab: ProxyNetnsLab, endpoints: [Int], affinity: UInt32? = nil) -> ProxyState {
        var s = ProxyState()
        var info = ServicePortInfo(clusterIPs: [IPAddress(Self.clusterIP)!], port: 80, protocol: .tcp, nodePort: UInt16(Self.nodePort))
        info.affinityTimeoutSeconds = affinity
        s.services[Self.web] = info
        s.endpoints[Self.web] = endpoints.map { EndpointInfo(ip: IPAddress(lab.serverAddress($0))!, port: 8080) }
        s.services[Self.empty] = ServicePortInfo(clusterIPs: [IPAddress("172.30.0.20")!], port: 80, protocol: .tcp, nodePort: 30090)
        return s
    }

    func inNode<T>(_ lab: ProxyNetnsLab, _ body: () throws -> T) throws -> T {
        try NetworkNamespace(path: "/var/run/netns/\(lab.node)").run(body)
    }

    func replies(_ lab: ProxyNetnsLab, _ address: String, _ port: Int, count: Int) throws -> [String: Int] {
        var seen: [String: Int] = [:]
        for _ in 0..<count { seen[try lab.connect(address, port).reply, default: 0] += 1 }
        return seen
    }

    static var variants: [IPTablesVariant] {
        IPTablesVariant.allCases.filter { ExecIPTables.locate($0.binary(.restore, ipv6: false)) != nil }
    }

    @Test(arguments: variants)
    func clusterIPAndNodePortBalanceAffinityRerouteReject(_ variant: IPTablesVariant) throws {
        let lab = try ProxyNetnsLab(servers: 3)
        defer { lab.destroy() }
        let ipt = ExecIPTables(variant: variant)
        let proxier = IPTablesProxier(family: .ip, ipt: ipt)
        try inNode(lab) { try proxier.sync(state(lab, endpoints: [0, 1, 2]), changed: [], kind: .full) }
        let saved = try inNode(lab) { try ipt.save(table: "nat") }
        #expect(saved.contains(":KUBE-SERVICES") && saved.contains("-j KUBE-SVC-"), "nat table: \(saved)")

        // Balanced: 60 connections over 3 endpoints; each gets a fair share (p(<8) is ~1e-4).
        let cluster = try replies(lab, Self.clusterIP, 80, count: 60)
        #expect(Set(cluster.keys) == ["server0", "server1", "server2"], "ClusterIP replies: \(cluster)")
        #expect(cluster.values.allSatisfy { $0 >= 8 }, "ClusterIP replies: \(cluster)")
        let nodePort = try replies(lab, lab.nodeAddress, Self.nodePort, count: 45)
        #expect(Set(nodePort.keys) == ["server0", "server1", "server2"], "NodePort replies: \(nodePort)")

        // Removing an endpoint (partial restore: -D/-A of only this Service's rules) re-routes.
        try inNode(lab) { try proxier.sync(state(lab, endpoints: [0, 2]), changed: [Self.web], kind: .partial) }
        let rerouted = try replies(lab, Self.clusterIP, 80, count: 30)
        #expect(Set(rerouted.keys) == ["server0", "server2"], "after removing server1: \(rerouted)")
        let afterRemoval = try inNode(lab) { try ipt.save(table: "nat") }
        #expect(afterRemoval.components(separatedBy: ":KUBE-SEP-").count - 1 == 2, "stale KUBE-SEP chains left: \(afterRemoval)")

        // No endpoints: rejected at once, twice in a row (a TCP reset is not rate-limited).
        for attempt in 0..<2 {
            let rejected = try lab.connect("172.30.0.20", 80)
            #expect(rejected.reply.isEmpty && rejected.error.contains("refused") && rejected.seconds < 1.0,
                    "no-endpoint ClusterIP, attempt \(attempt): \(rejected)")
            let rejectedNodePort = try lab.connect(lab.nodeAddress, 30090)
            #expect(rejectedNodePort.error.contains("refused"), "no-endpoint NodePort, attempt \(attempt): \(rejectedNodePort)")
        }

        // The empty Service gains an endpoint in a partial sync: its REJECT goes, traffic flows.
        var withEndpoint = state(lab, endpoints: [0, 2])
        withEndpoint.endpoints[Self.empty] = [EndpointInfo(ip: IPAddress(lab.serverAddress(1))!, port: 8080)]
        try inNode(lab) { try proxier.sync(withEndpoint, changed: [Self.empty], kind: .partial) }
        #expect(try lab.connect("172.30.0.20", 80).reply == "server1")
        #expect(try lab.connect(lab.nodeAddress, 30090).reply == "server1")

        // Session affinity: every connection from the client sticks to one endpoint.
        try inNode(lab) { try proxier.sync(state(lab, endpoints: [0, 1, 2], affinity: 600), changed: [Self.web, Self.empty], kind: .partial) }
        let sticky = try replies(lab, Self.clusterIP, 80, count: 15)
        #expect(sticky.count == 1 && sticky.keys.first?.hasPrefix("server") == true, "with ClientIP affinity: \(sticky)")

        // A new proxier (a restarted process) sweeps chains it did not create itself.
        let restarted = IPTablesProxier(family: .ip, ipt: ipt)
        try inNode(lab) { try restarted.sync(state(lab, endpoints: [1]), changed: [], kind: .full) }
        let swept = try inNode(lab) { try ipt.save(table: "nat") }
        #expect(swept.components(separatedBy: ":KUBE-SEP-").count - 1 == 1, "after restart: \(swept)")
        // It read the jumps of both tables (one iptables-save of all tables): none added twice.
        let sweptFilter = try inNode(lab) { try ipt.save(table: "filter") }
        for (text, jump) in [(swept, "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
                             (sweptFilter, "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD")] {
            #expect(text.components(separatedBy: "\n").filter { $0 == jump }.count == 1, "after restart: \(text)")
        }
        #expect(try lab.connect(Self.clusterIP, 80).reply == "server1")

        let failures = try inNode(lab) { ProxyCleanup.removeAll(iptables: [ipt]) }
        #expect(failures.isEmpty, "\(failures)")
        for table in ["nat", "filter"] {
            let after = try inNode(lab) { try ipt.save(table: table) }
            #expect(!after.contains("KUBE-"), "\(table) after cleanup: \(after)")
        }
    }

    /// iptables-legacy's tables read from the kernel (getsockopt, no process) give a full sync
    /// what iptables-legacy-save gives it: the chains, and which jumps the built-in chains have.
    /// Checked on tables iptables-legacy-restore loaded in a fresh namespace (jumps with and
    /// without comments, a goto, rules without a target, chains of other tools) and on what a
    /// full sync leaves; a table the namespace has not loaded reads as absent and stays unloaded.
    @Test func legacyKernelReadMatchesTheSave() throws {
        guard Self.variants.contains(.legacy) else { return }
        let lab = try ProxyNetnsLab(servers: 1)
        defer { lab.destroy() }
        let ipt = ExecIPTables(variant: .legacy)
        let loaded = try inNode(lab) { () throws -> String in
            guard let raw = try KernelTable.read("raw") else {
                return try String(decoding: FileOps.read("/proc/thread-self/net/ip_tables_names"), as: UTF8.self)
            }
            return "raw read as \(raw)"
        }
        #expect(!loaded.contains("raw"), "reading an unloaded table loaded it: \(loaded)")
        try inNode(lab) {
            try ipt.restore("""
                *nat
                :KUBE-SERVICES - [0:0]
                :KUBE-POSTROUTING - [0:0]
                :KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]
                :OTHER - [0:0]
                -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
                -A OUTPUT -m comment --comment "kubernetes service portals" -g KUBE-SERVICES
                -A OUTPUT -p tcp --dport 80 -j OTHER
                -A OUTPUT -s 10.1.2.3/32
                -A POSTROUTING -m comment --comment "kubernetes postrouting rules, and more" -j KUBE-POSTROUTING
                -A KUBE-SERVICES -m comment --comment "kubernetes service portals" -j KUBE-SVC-AAAAAAAAAAAAAAAA
                -A KUBE-SVC-AAAAAAAAAAAAAAAA -j RETURN
                -A OTHER -j MARK --set-xmark 0x1/0x1
                COMMIT
                *filter
                :KUBE-FORWARD - [0:0]
                -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
                -A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-FORWARD
                COMMIT

                """)
        }
        func compare(_ when: String) throws {
            let (kernel, saved) = try inNode(lab) { () throws -> ([TableSnapshot], [TableSnapshot]) in
                let kernel = try ipt.startRead(tables: ["nat", "filter"])()
                let saved = try ["nat", "filter"].map { TableSnapshot.saved(try ipt.save(table: $0)) }
                return (kernel, saved)
            }
            for (k, s) in zip(kernel, saved) {
                guard case .kernel = k else {
                    Issue.record("\(when): iptables-legacy was not read from the kernel")
                    return
                }
                #expect(k.chainNames == s.chainNames, "\(when)")
                for chain in KernelTable.hookNames {
                    for target in ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL", "OTHER", "KUBE-SVC-AAAAAAAAAAAAAAAA"] {
                        for comment in ["kubernetes service portals", "kubernetes postrouting rules", "kubernetes forwarding rules",
                                        "kubernetes load balancer firewall", "none", ""] {
                            #expect(k.hasJump(chain: chain, target: target, comment: comment) == s.hasJump(chain: chain, target: target, comment: comment),
                                    "\(when): \(chain) -> \(target) \"\(comment)\"")
                        }
                    }
                }
            }
        }
        try compare("loaded by a restore")
        // What a full sync leaves (libiptc's layout of our chains), read by a new proxier.
        let proxier = IPTablesProxier(family: .ip, ipt: ipt)
        try inNode(lab) { try proxier.sync(state(lab, endpoints: [0]), changed: [], kind: .full) }
        try compare("after a full sync")
        let restarted = IPTablesProxier(family: .ip, ipt: ipt)
        try inNode(lab) { try restarted.sync(state(lab, endpoints: [0]), changed: [], kind: .full) }
        let nat = try inNode(lab) { try ipt.save(table: "nat") }
        // The restarted proxier read its jumps from the kernel: none added twice, the leftover
        // per-Service chain of the first restore swept.
        #expect(nat.components(separatedBy: "\n").filter { $0 == "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES" }.count == 1, "\(nat)")
        #expect(!nat.contains("KUBE-SVC-AAAAAAAAAAAAAAAA"), "\(nat)")
        #expect(try lab.connect(Self.clusterIP, 80).reply == "server0")
        _ = try inNode(lab) { ProxyCleanup.removeAll(iptables: [ipt]) }
    }
}

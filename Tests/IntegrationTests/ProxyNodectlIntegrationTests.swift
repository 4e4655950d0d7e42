import Foundation
import IPTables
import LinuxSystem
import NFTables
import NodectlKit
import Proxy
import Testing
import TestSupport

/// `nodectl proxy rules|trace` against rules the proxier really programmed (iptables and
/// nftables backends, from a --config-dir directory) in the lab's node namespace: the readers
/// parse the kernel's own iptables-save / `nft -j` output, and what trace predicts matches
/// where packets go.
@Suite(.serialized, .enabled(if: ProxyNetnsLab.skipReason == nil, "\(ProxyNetnsLab.skipReason ?? "")"))
struct ProxyNodectlIntegrationTests {
    static func manifests(_ lab: ProxyNetnsLab) -> String {
        """
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: default}
        spec:
          type: NodePort
          clusterIP: 172.30.0.10
          clusterIPs: [172.30.0.10]
          ports: [{name: http, port: 80, nodePort: 30080, protocol: TCP}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        endpoints:
        - addresses: [\(lab.serverAddress(0))]
          conditions: {ready: true}
        - addresses: [\(lab.serverAddress(1))]
          conditions: {ready: true}
        ports: [{name: http, port: 8080, protocol: TCP}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: empty, namespace: default}
        spec:
          clusterIP: 172.30.0.20
          clusterIPs: [172.30.0.20]
          ports: [{port: 80, protocol: TCP}]

        """
    }

    @Test func rulesAndTraceMatchTheKernelAndTheTraffic() throws {
        let lab = try ProxyNetnsLab(servers: 2)
        defer { lab.destroy() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nodectl-proxy-\(lab.suffix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.manifests(lab).write(to: directory.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)

        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        let ipt = ExecIPTables(variant: .nft)
        let backend = IPTablesProxier(family: .ip, ipt: ipt)
        defer { try? namespace.run { try backend.cleanup() } }
        let proxier = Proxier(nodeName: "node", backends: [backend],
                              runner: SyncRunner(minSyncPeriod: .zero, syncPeriod: .seconds(30), clock: SystemProxyClock()))
        let scan = try ConfigDirectorySource(directory: directory.path, proxier: proxier).rescan()
        #expect(scan.errors.isEmpty && scan.services == 2, "\(scan)")
        let report = try namespace.run { proxier.syncRules() }
        #expect(report.succeeded, "\(report.error ?? "")")

        let saved = try namespace.run { try ipt.save(table: "filter") + ipt.save(table: "nat") }
        let services = IPTablesRulesReader.read(saved)
        #expect(services.map(\.name) == ["default/empty", "default/web:http"], "read: \(services)")
        let web = try #require(services.last)
        #expect(Set(web.frontends.map(\.description)) == ["172.30.0.10:80", "*:30080 (NodePort)"])
        #expect(web.endpoints == [lab.serverAddress(0), lab.serverAddress(1)].map { "\($0):8080" })
        #expect(services.first?.rejects == true)

        let toCluster = ProxyTrace.trace(address: "172.30.0.10", port: 80, proto: "tcp", services: services)
        #expect(toCluster.verdict == "DNAT" && toCluster.service == "default/web:http")
        var reached = Set<String>()
        for _ in 0..<12 { reached.insert(try lab.connect("172.30.0.10", 80).reply) }
        #expect(reached == ["server0", "server1"], "trace said \(toCluster.endpoints); traffic reached \(reached)")

        let toNodePort = ProxyTrace.trace(address: lab.nodeAddress, port: 30080, proto: "tcp", services: services)
        #expect(toNodePort.match == .nodePort && toNodePort.endpoints.count == 2)
        #expect(["server0", "server1"].contains(try lab.connect(lab.nodeAddress, 30080).reply))

        let toEmpty = ProxyTrace.trace(address: "172.30.0.20", port: 80, proto: "tcp", services: services)
        #expect(toEmpty.verdict == "REJECT" && toEmpty.service == "default/empty")
        let rejected = try lab.connect("172.30.0.20", 80, timeout: 2)
        #expect(rejected.reply.isEmpty, "a Service without endpoints must not answer")
    }

    /// The nftables backend (the default mode), read by the nodectl executable itself.
    @Test func nftablesRulesAndTraceMatchTheKernelAndTheTraffic() throws {
        let lab = try ProxyNetnsLab(servers: 2)
        defer { lab.destroy() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nodectl-proxy-nft-\(lab.suffix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.manifests(lab).write(to: directory.appendingPathComponent("web.yaml"), atomically: true, encoding: .utf8)

        let table = "nk-nodectl-\(lab.suffix)"
        let namespace = try NetworkNamespace(path: "/var/run/netns/\(lab.node)")
        let backend = NFTablesProxier(family: .ip, nft: NetlinkNFTables(), tableName: table)
        defer { try? namespace.run { try backend.cleanup() } }
        let proxier = Proxier(nodeName: "node", backends: [backend],
                              runner: SyncRunner(minSyncPeriod: .zero, syncPeriod: .seconds(30), clock: SystemProxyClock()))
        let scan = try ConfigDirectorySource(directory: directory.path, proxier: proxier).rescan()
        #expect(scan.errors.isEmpty && scan.services == 2, "\(scan)")
        let report = try namespace.run { proxier.syncRules() }
        #expect(report.succeeded, "\(report.error ?? "")")

        let kernel = ["--netns", "/var/run/netns/\(lab.node)", "--table", table]
        let rules = try NodectlBinary.run(["proxy", "rules", "-o", "json"] + kernel)
        #expect(rules.status == 0, "\(rules.stderr)")
        let services = try JSONDecoder().decode([ProgrammedService].self, from: Data(rules.stdout.utf8))
        // The table has no chain for a Service without endpoints: it is named by its address.
        #expect(services.map(\.name) == ["172.30.0.20:80/tcp", "default/web:http"], "read: \(services)")
        let web = try #require(services.last)
        #expect(web.frontends.map(\.description) == ["172.30.0.10:80", "*:30080 (NodePort)"])
        #expect(web.endpoints == [lab.serverAddress(0), lab.serverAddress(1)].map { "\($0):8080" })
        #expect(services.first?.rejects == true)

        func trace(_ destination: String) throws -> ProxyTrace {
            let r = try NodectlBinary.run(["proxy", "trace", destination, "--from", lab.clientAddress, "-o", "json"] + kernel)
            #expect(r.status == 0, "\(r.stderr)")
            return try JSONDecoder().decode(ProxyTrace.self, from: Data(r.stdout.utf8))
        }
        let toCluster = try trace("172.30.0.10:80")
        #expect(toCluster.verdict == "DNAT" && toCluster.service == "default/web:http")
        #expect(Set(toCluster.endpoints) == Set(web.endpoints))
        var reached = Set<String>()
        for _ in 0..<12 { reached.insert(try lab.connect("172.30.0.10", 80).reply) }
        #expect(reached == ["server0", "server1"], "trace said \(toCluster.endpoints); traffic reached \(reached)")

        let toNodePort = try trace("\(lab.nodeAddress):30080")
        #expect(toNodePort.verdict == "DNAT" && toNodePort.endpoints.count == 2)
        #expect(["server0", "server1"].contains(try lab.connect(lab.nodeAddress, 30080).reply))

        let toEmpty = try trace("172.30.0.20:80")
        #expect(toEmpty.verdict == "REJECT")
        #expect(try lab.connect("172.30.0.20", 80, timeout: 2).reply.isEmpty, "a Service without endpoints must not answer")
        #expect(try trace("172.30.0.10:81").verdict == "none")

        // Bad input: one line on stderr, non-zero exit.
        for arguments in [["proxy", "rules", "--netns", "/var/run/netns/\(lab.node)", "--table", "no-such-table"],
                          ["proxy", "trace", "172.30.0:80"] + kernel,
                          ["proxy", "trace", "172.30.0.10:80", "--from", "::1"] + kernel] {
            let r = try NodectlBinary.run(arguments)
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "\(arguments): \(r.stderr)")
        }
    }
}

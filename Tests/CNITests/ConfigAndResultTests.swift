import CNI
import Netlink
import Testing

@Suite("network config parsing")
struct NetworkConfigTests {
    @Test("reference bridge and host-local field names")
    func referenceFields() throws {
        let json = try JSONValue.parse("""
        {"cniVersion": "0.4.0", "name": "k8s", "type": "bridge", "bridge": "cbr0", "mtu": 1450,
         "isGateway": true, "isDefaultGateway": true, "ipMasq": true, "hairpinMode": true,
         "ipam": {"type": "host-local", "subnet": "10.244.1.0/24", "rangeStart": "10.244.1.10",
                  "rangeEnd": "10.244.1.100", "gateway": "10.244.1.254", "routes": [{"dst": "10.96.0.0/12"}],
                  "dataDir": "/tmp/x"}}
        """)
        let c = try BridgeNetworkConfig(json: json)
        #expect(c.bridge == "cbr0")
        #expect(c.mtu == 1450)
        #expect(c.isGateway && c.isDefaultGateway && c.ipMasq && c.hairpinMode)
        #expect(c.dataDir == "/tmp/x")
        let r = c.rangeSets[0][0]
        #expect(r.rangeStart == IPAddress("10.244.1.10"))
        #expect(r.rangeEnd == IPAddress("10.244.1.100"))
        #expect(r.gateway == IPAddress("10.244.1.254"))
        #expect(c.routes.map(\.dst.description) == ["10.96.0.0/12", "0.0.0.0/0"])
        #expect(c.clusterCIDRs.map(\.description) == ["10.244.1.0/24"])
    }

    @Test("ranges and defaults")
    func rangesAndDefaults() throws {
        let c = try BridgeNetworkConfig(json: JSONValue.parse("""
        {"cniVersion": "1.0.0", "name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/16"}], [{"subnet": "fd00::/64"}]]},
         "nodeRoutes": [{"dst": "10.1.0.0/24", "gw": "192.168.0.2"}], "clusterCIDR": "10.0.0.0/8"}
        """))
        #expect(c.bridge == "cni0")
        #expect(!c.isGateway)
        #expect(c.dataDir == BridgeNetworkConfig.defaultDataDir)
        #expect(c.rangeSets.count == 2)
        #expect(c.rangeSets[0][0].gateway == IPAddress("10.0.0.1"))
        #expect(c.rangeSets[0][0].rangeEnd == IPAddress("10.0.255.254"))
        #expect(c.rangeSets[1][0].rangeEnd == IPAddress("fd00::ffff:ffff:ffff:ffff"))
        #expect(c.nodeRoutes == [RouteSpec(dst: IPPrefix("10.1.0.0/24")!, gw: IPAddress("192.168.0.2"))])
        #expect(c.clusterCIDRs == [IPPrefix("10.0.0.0/8")!])
    }

    @Test("invalid configs get their code", arguments: [
        (#"[1]"#, 6),
        (#"{"cniVersion": "0.2.0", "name": "n", "ipam": {"subnet": "10.0.0.0/24"}}"#, 1),
        (#"{"cniVersion": "1.0.0", "ipam": {"subnet": "10.0.0.0/24"}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n"}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "ipam": {}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "ipam": {"subnet": "10.0.0.0/31"}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "ipam": {"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "ipam": {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.3"}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "ipam": {"type": "dhcp"}}"#, 2),
        (#"{"cniVersion": "1.0.0", "name": "n", "mtu": 10, "ipam": {"subnet": "10.0.0.0/24"}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "bridge": "a-very-long-bridge-name", "ipam": {"subnet": "10.0.0.0/24"}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "hairpinMode": "yes", "ipam": {"subnet": "10.0.0.0/24"}}"#, 7),
        (#"{"cniVersion": "1.0.0", "name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}}"#, 7),
    ])
    func invalid(text: String, code: Int) throws {
        let error = try #require(throws: CNIError.self) { try BridgeNetworkConfig(json: JSONValue.parse(text)) }
        #expect(error.code == code, "\(error)")
    }

    @Test("routes file: JSON list of {dst, gw}")
    func routesFile() throws {
        let routes = try RouteSpec.parseRoutesFile(Array(#"[{"dst": "10.244.2.0/24", "gw": "192.168.1.12"}, {"dst": "10.244.3.7/24"}]"#.utf8), path: "f")
        #expect(routes == [RouteSpec(dst: IPPrefix("10.244.2.0/24")!, gw: IPAddress("192.168.1.12")), RouteSpec(dst: IPPrefix("10.244.3.0/24")!)])
        let error = try #require(throws: CNIError.self) { try RouteSpec.parseRoutesFile(Array(#"{"dst": 1}"#.utf8), path: "f") }
        #expect(error.code == CNIError.invalidNetworkConfig)
    }
}

@Suite("results and versions")
struct ResultTests {
    static let sample = CNIResult(
        cniVersion: "1.0.0",
        interfaces: [.init(name: "cni0", mac: "aa:bb:cc:dd:ee:01"), .init(name: "veth1", mac: "aa:bb:cc:dd:ee:02"),
                     .init(name: "eth0", mac: "aa:bb:cc:dd:ee:03", mtu: 1450, sandbox: "/var/run/netns/p")],
        ips: [.init(address: IPPrefix("10.244.0.5/24")!, gateway: IPAddress("10.244.0.1"), interface: 2),
              .init(address: IPPrefix("fd00::5/64")!, gateway: IPAddress("fd00::1"), interface: 2)],
        routes: [.init(dst: IPPrefix("0.0.0.0/0")!, gw: IPAddress("10.244.0.1"))])

    @Test("1.0.0 has no ips[].version; 0.4.0 has it; both read back to the same result")
    func conversion() throws {
        let v1 = Self.sample.json(version: "1.0.0")
        #expect(v1["ips"]?.arrayValue?[0]["version"] == nil)
        #expect(v1["interfaces"]?.arrayValue?[2]["mtu"] == .number(1450))
        let v04 = Self.sample.json(version: "0.4.0")
        #expect(v04["cniVersion"] == .string("0.4.0"))
        #expect(v04["ips"]?.arrayValue?.map { $0["version"] } == [.string("4"), .string("6")])
        var back = try CNIResult(json: JSONValue.parse(v04.description))
        #expect(back.cniVersion == "0.4.0")
        back.cniVersion = "1.0.0"
        back.interfaces[2].mtu = 1450
        #expect(back == Self.sample)
        #expect(try CNIResult(json: JSONValue.parse(v1.description)) == Self.sample)
    }

    @Test("error JSON has cniVersion, code, msg, details")
    func errorJSON() throws {
        let json = CNIError(CNIError.rangeExhausted, "no free IP", details: "range 10.0.0.2-10.0.0.6").json(cniVersion: "1.0.0")
        #expect(json.description == #"{"cniVersion":"1.0.0","code":100,"msg":"no free IP","details":"range 10.0.0.2-10.0.0.6"}"#)
        #expect(CNIError(json: json) == CNIError(100, "no free IP", details: "range 10.0.0.2-10.0.0.6"))
    }

    @Test("JSON parser keeps order and escapes; rejects junk", arguments: [
        (#"{"b":1,"a":[true,false,null,"x\"\n\u00e9"],"c":{"d":-1.5}}"#, #"{"b":1,"a":[true,false,null,"x\"\né"],"c":{"d":-1.5}}"#),
        ("  [ ]  ", "[]"),
    ])
    func json(input: String, output: String) throws {
        #expect(try JSONValue.parse(input).description == output)
    }

    @Test("malformed JSON is an error with an offset", arguments: ["", "{", #"{"a" 1}"#, "[1,]", "tru", #""abc"#, "{} x", String(repeating: "[", count: 600)])
    func badJSON(input: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(input) }
    }
}

@Suite("plugin command dispatch")
struct PluginCommandTests {
    /// A kernel that must not be reached: these commands fail or finish before touching it.
    struct UnreachableKernel: PodNetworkKernel {
        func hostNetlink() throws(CNIError) -> any RouteNetlinkOperations { throw CNIError(999, "kernel reached") }
        func openPodNamespace(_ path: String) throws(CNIError) -> PodNamespace { throw CNIError(999, "kernel reached") }
        func enableForwarding(ipv6: Bool) throws(CNIError) { throw CNIError(999, "kernel reached") }
        func ensureMasquerade(network: String, podCIDRs: [IPPrefix], clusterCIDRs: [IPPrefix]) throws(CNIError) { throw CNIError(999, "kernel reached") }
        func readFile(_ path: String) throws(CNIError) -> [UInt8]? { throw CNIError(999, "kernel reached") }
    }

    static let config = #"{"cniVersion": "0.4.0", "name": "n", "ipam": {"subnet": "10.0.0.0/24"}}"#

    @Test("VERSION lists the supported versions in the requested cniVersion")
    func version() throws {
        let out = PluginCommand.run(environment: ["CNI_COMMAND": "VERSION"], stdin: Array(Self.config.utf8), kernel: UnreachableKernel())
        #expect(out.exitCode == 0)
        let json = try JSONValue.parse(out.stdout)
        #expect(json["cniVersion"] == .string("0.4.0"))
        #expect(json["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) == CNIVersion.supported)
    }

    @Test("environment errors are code 4", arguments: [
        [String: String](),
        ["CNI_COMMAND": "ADD", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0"],
        ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0"],
        ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x"],
        ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "-bad", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0"],
        ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0:1"],
        ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "a-name-longer-than-15"],
        ["CNI_COMMAND": "NOPE"],
    ])
    func environment(env: [String: String]) throws {
        let out = PluginCommand.run(environment: env, stdin: Array(Self.config.utf8), kernel: UnreachableKernel())
        #expect(out.exitCode != 0)
        #expect(CNIError(json: try JSONValue.parse(out.stdout))?.code == CNIError.invalidEnvironment)
    }

    @Test("bad JSON is code 6, CHECK without prevResult is code 7")
    func decode() throws {
        let env = ["CNI_COMMAND": "CHECK", "CNI_CONTAINERID": "c", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0"]
        let bad = PluginCommand.run(environment: env, stdin: Array("{".utf8), kernel: UnreachableKernel())
        #expect(CNIError(json: try JSONValue.parse(bad.stdout))?.code == CNIError.decodingFailure)
        let noPrev = PluginCommand.run(environment: env, stdin: Array(Self.config.utf8), kernel: UnreachableKernel())
        let error = try #require(CNIError(json: try JSONValue.parse(noPrev.stdout)))
        #expect(error.code == CNIError.invalidNetworkConfig)
        #expect(try JSONValue.parse(noPrev.stdout)["cniVersion"] == .string("0.4.0"))
    }

    @Test("host veth names are stable, distinct and valid")
    func vethNames() {
        let a = BridgePlugin.hostVethName(containerID: "abc", ifname: "eth0")
        #expect(a == BridgePlugin.hostVethName(containerID: "abc", ifname: "eth0"))
        #expect(a != BridgePlugin.hostVethName(containerID: "abd", ifname: "eth0"))
        #expect(a != BridgePlugin.hostVethName(containerID: "abc", ifname: "eth1"))
        #expect(a.count == 12 && a.hasPrefix("veth"))
    }
}

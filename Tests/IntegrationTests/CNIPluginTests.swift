import CNI
import Foundation
import LinuxSystem
import Netlink
import Synchronization
import Testing
import TestSupport

/// A "node" netns with the plugin installed in a private bin dir, a private IPAM dir and
/// cache dir, and a runtime that runs plugins inside the node netns.
final class CNITestbed: @unchecked Sendable {
    static let pluginBinary = Host.repositoryRoot.appendingPathComponent(".build/debug/nodekit-cni").path
    static var skipReason: String? {
        if let reason = NetnsFixture.skipReason { return reason }
        if !FileManager.default.isExecutableFile(atPath: pluginBinary) { return "needs \(pluginBinary) (swift build --product nodekit-cni)" }
        return nil
    }

    let tag: String
    let node: NetnsFixture
    let nodeNamespace: NetworkNamespace
    let dir: String
    let bridge: String
    let subnet: String
    let runtime: CNIRuntime
    var pods: [NetnsFixture] = []

    init(_ tag: String, subnet: String = "10.98.0.0/24") throws {
        self.tag = tag
        self.subnet = subnet
        node = try NetnsFixture("n\(tag)")
        nodeNamespace = try NetworkNamespace(path: node.path)
        dir = "/tmp/nk-cni-\(Host.runSuffix)-\(tag)"
        bridge = "nkb\(tag)"
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/bin/nodekit-cni", withDestinationPath: Self.pluginBinary)
        runtime = CNIRuntime(pluginDirs: [dir + "/bin", "/usr/lib/cni"], cacheDir: dir + "/cache", namespace: nodeNamespace)
    }

    func pod(_ index: Int) throws -> NetnsFixture {
        let pod = try NetnsFixture("p\(tag)", index)
        pods.append(pod)
        return pod
    }

    /// nodekit-cni's config as a one-plugin conflist.
    func conflist(version: String = "1.0.0", extra: String = "") throws -> NetworkConfigList {
        try NetworkConfigList(bytes: Array("""
        {"cniVersion": "\(version)", "name": "nk\(tag)", "plugins": [{
          "type": "nodekit-cni", "bridge": "\(bridge)", "isGateway": true, "isDefaultGateway": true,
          "hairpinMode": true, "mtu": 1450 \(extra),
          "ipam": {"type": "host-local", "subnet": "\(subnet)", "dataDir": "\(dir)/ipam"}}]}
        """.utf8))
    }

    /// Debian's reference bridge + host-local with the same network.
    func referenceConflist() throws -> NetworkConfigList {
        try NetworkConfigList(bytes: Array("""
        {"cniVersion": "1.0.0", "name": "nk\(tag)", "plugins": [{
          "type": "bridge", "bridge": "\(bridge)", "isGateway": true, "isDefaultGateway": true,
          "hairpinMode": true, "mtu": 1450,
          "ipam": {"type": "host-local", "subnet": "\(subnet)", "dataDir": "\(dir)/ipam-ref"}}]}
        """.utf8))
    }

    /// Runs the plugin binary directly in the node netns (for raw error output).
    func invokePlugin(_ environment: [String: String], stdin: String) throws -> (status: Int32, json: JSONValue?) {
        let env = environment.map { "\($0.key)=\($0.value)" } + ["CNI_PATH=\(dir)/bin"]
        let out = try nodeNamespace.run {
            try ChildProcess.run(Self.pluginBinary, arguments: [Self.pluginBinary], environment: env, input: Array(stdin.utf8))
        }
        return (out.status, try? JSONValue.parse(out.stdout))
    }

    func hostNetlink() throws -> RouteNetlink { RouteNetlink(socket: try MnlSocket(namespace: nodeNamespace)) }
    func netlink(_ pod: NetnsFixture) throws -> RouteNetlink { RouteNetlink(socket: try MnlSocket(namespace: NetworkNamespace(path: pod.path))) }

    func tearDown() {
        for pod in pods { pod.delete() }
        node.delete()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite("nodekit-cni in network namespaces", .serialized, .enabled(if: CNITestbed.skipReason == nil, "\(CNITestbed.skipReason ?? "")"))
struct CNIPluginTests {
    @Test("ADD, CHECK and DEL: pod interface, address, default route; host bridge, veth on it, hairpin")
    func addCheckDelete() throws {
        let bed = try CNITestbed("a")
        defer { bed.tearDown() }
        let pod = try bed.pod(0)
        let list = try bed.conflist()
        let rt = RuntimeConfig(containerID: "ctr-a-\(Host.runSuffix)", netns: pod.path)

        let result = try bed.runtime.add(list, rt)
        #expect(result.interfaces.map(\.name) == [bed.bridge, BridgePlugin.hostVethName(containerID: rt.containerID, ifname: "eth0"), "eth0"])
        #expect(result.interfaces[2].sandbox == pod.path)
        let ip = try #require(result.ips.first)
        #expect(ip.interface == 2)
        #expect(ip.gateway == IPAddress("10.98.0.1"))
        #expect(IPPrefix("10.98.0.0/24")!.contains(ip.address.address))
        #expect(ip.address.address != IPAddress("10.98.0.1"))

        let inPod = try bed.netlink(pod)
        let eth0 = try #require(try inPod.link(named: "eth0"))
        #expect(eth0.isUp)
        #expect(eth0.mtu == 1450)
        #expect(eth0.macString == result.interfaces[2].mac)
        #expect(try inPod.addresses(family: 2).contains { $0.index == eth0.index && $0.prefix == ip.address })
        #expect(try inPod.routes(family: 2).contains { $0.destination.length == 0 && $0.gateway == IPAddress("10.98.0.1") })

        let host = try bed.hostNetlink()
        let bridge = try #require(try host.link(named: bed.bridge))
        #expect(bridge.kind == "bridge")
        #expect(bridge.isUp)
        #expect(try host.addresses(family: 2).contains { $0.index == bridge.index && $0.prefix == IPPrefix("10.98.0.1/24") })
        let veth = try #require(try host.link(named: result.interfaces[1].name))
        #expect(veth.masterIndex == bridge.index)
        #expect(veth.isUp)
        let hairpin = try bed.node.exec(["cat", "/sys/class/net/\(veth.name)/brport/hairpin_mode"])
        #expect(hairpin.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let forwarding = try bed.node.exec(["cat", "/proc/sys/net/ipv4/ip_forward"])
        #expect(forwarding.stdout.hasPrefix("1"))

        try bed.runtime.check(list, rt)

        try bed.runtime.delete(list, rt)
        #expect(try inPod.link(named: "eth0") == nil)
        #expect(try host.link(named: veth.name) == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(bed.dir)/ipam/\(list.name)/\(ip.address.address)"))
        // DEL is idempotent, and CHECK of a deleted attachment fails.
        try bed.runtime.delete(list, rt)
        #expect(throws: CNIError.self) { try bed.runtime.check(list, rt) }
    }

    @Test("CHECK fails with code 102 when the pod's address was removed")
    func checkDetectsDrift() throws {
        let bed = try CNITestbed("k")
        defer { bed.tearDown() }
        let pod = try bed.pod(0)
        let list = try bed.conflist()
        let rt = RuntimeConfig(containerID: "ctr-k", netns: pod.path)
        let result = try bed.runtime.add(list, rt)
        let inPod = try bed.netlink(pod)
        let eth0 = try #require(try inPod.link(named: "eth0"))
        try inPod.deleteAddress(index: eth0.index, prefix: result.ips[0].address)
        let error = try #require(throws: CNIError.self) { try bed.runtime.check(list, rt) }
        #expect(error.code == CNIError.checkFailed)
        try bed.runtime.delete(list, rt)
    }

    @Test("50 concurrent ADDs get 50 different addresses")
    func concurrentAdds() throws {
        let bed = try CNITestbed("c", subnet: "10.97.0.0/24")
        defer { bed.tearDown() }
        let count = 50
        let pods = try (0..<count).map { try bed.pod($0) }
        let list = try bed.conflist()
        let results = Mutex<[Int: Result<CNIResult, CNIError>]>([:])
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let rt = RuntimeConfig(containerID: "ctr-c-\(i)", netns: pods[i].path)
            let r = Result { () throws(CNIError) in try bed.runtime.add(list, rt) }
            results.withLock { $0[i] = r }
        }
        let all = results.withLock { $0 }
        var addresses: [IPAddress] = []
        for i in 0..<count {
            let result = try #require(all[i]).get()
            addresses.append(result.ips[0].address.address)
        }
        #expect(Set(addresses).count == count)
        #expect(!addresses.contains(IPAddress("10.97.0.1")!))
        let reserved = try FileManager.default.contentsOfDirectory(atPath: "\(bed.dir)/ipam/\(list.name)").filter { IPAddress($0) != nil }
        #expect(reserved.count == count)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            _ = try? bed.runtime.delete(list, RuntimeConfig(containerID: "ctr-c-\(i)", netns: pods[i].path))
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: "\(bed.dir)/ipam/\(list.name)").filter { IPAddress($0) != nil }
        #expect(left.isEmpty)
    }

    @Test("DEL after the netns is gone succeeds and releases the address")
    func deleteAfterNetnsGone() throws {
        let bed = try CNITestbed("g")
        defer { bed.tearDown() }
        let pod = try bed.pod(0)
        let list = try bed.conflist()
        let rt = RuntimeConfig(containerID: "ctr-g", netns: pod.path)
        let result = try bed.runtime.add(list, rt)
        pod.delete()
        try bed.runtime.delete(list, rt)
        #expect(!FileManager.default.fileExists(atPath: "\(bed.dir)/ipam/\(list.name)/\(result.ips[0].address.address)"))
        #expect(try bed.hostNetlink().link(named: result.interfaces[1].name) == nil)
    }

    @Test("GC releases reservations of attachments that are not valid; STATUS reports exhaustion")
    func gcAndStatus() throws {
        let bed = try CNITestbed("s", subnet: "10.96.0.0/29")
        defer { bed.tearDown() }
        let list = try bed.conflist()
        // A /29 has 5 usable addresses after network, gateway and broadcast.
        for i in 0..<5 { _ = try bed.runtime.add(list, RuntimeConfig(containerID: "ctr-s-\(i)", netns: try bed.pod(i).path)) }
        let error = try #require(throws: CNIError.self) { try bed.runtime.status(list) }
        #expect(error.code == CNIError.pluginNotAvailable)
        try bed.runtime.gc(list, valid: [Attachment(containerID: "ctr-s-0", ifname: "eth0")])
        let left = try FileManager.default.contentsOfDirectory(atPath: "\(bed.dir)/ipam/\(list.name)").filter { IPAddress($0) != nil }
        #expect(left.count == 1)
        try bed.runtime.status(list)
    }

    @Test("two pods reach each other over the bridge: ping and TCP with busybox nc")
    func podToPod() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else {
            Issue.record("needs /bin/busybox (busybox-static)")
            return
        }
        let bed = try CNITestbed("t")
        defer { bed.tearDown() }
        let list = try bed.conflist()
        let a = try bed.pod(0), b = try bed.pod(1)
        let ra = try bed.runtime.add(list, RuntimeConfig(containerID: "ctr-t-a", netns: a.path))
        _ = try bed.runtime.add(list, RuntimeConfig(containerID: "ctr-t-b", netns: b.path))
        let addressA = ra.ips[0].address.address.description

        let ping = try b.exec(["/bin/busybox", "ping", "-c", "1", "-W", "2", addressA])
        #expect(ping.status == 0, "ping from pod b to \(addressA): \(ping.stdout) \(ping.stderr)")
        // Node to pod through the bridge gateway.
        let nodePing = try bed.node.exec(["/bin/busybox", "ping", "-c", "1", "-W", "2", addressA])
        #expect(nodePing.status == 0)

        let server = try spawn("ip", ["netns", "exec", a.name, "/bin/busybox", "sh", "-c", "echo hello-from-a | /bin/busybox nc -l -p 7070"])
        defer { server.kill(); _ = try? server.wait() }
        var reply = ""
        // The listener starts asynchronously; retry the connection a bounded number of times.
        for _ in 0..<50 where !reply.contains("hello-from-a") {
            reply = try b.exec(["/bin/busybox", "nc", "-w", "2", addressA, "7070"], input: Data()).stdout
            if !reply.contains("hello-from-a") { usleep(100_000) }
        }
        #expect(reply.contains("hello-from-a"))
    }

    @Test("bad input gets its CNI error code", arguments: [
        ("bad JSON", "ADD", "{not json", 6),
        ("unsupported cniVersion", "ADD", #"{"cniVersion":"0.2.0","name":"x","ipam":{"subnet":"10.95.0.0/24"}}"#, 1),
        ("invalid subnet", "ADD", #"{"cniVersion":"1.0.0","name":"x","ipam":{"subnet":"10.95.0.0/33"}}"#, 7),
        ("unsupported IPAM type", "ADD", #"{"cniVersion":"1.0.0","name":"x","ipam":{"type":"dhcp"}}"#, 2),
        ("rangeStart outside subnet", "ADD", #"{"cniVersion":"1.0.0","name":"x","ipam":{"subnet":"10.95.0.0/24","rangeStart":"10.94.0.5"}}"#, 7),
        ("missing netns", "ADD", #"{"cniVersion":"1.0.0","name":"x","bridge":"nkbx","ipam":{"subnet":"10.95.0.0/24"}}"#, 3),
        ("CHECK without prevResult", "CHECK", #"{"cniVersion":"1.0.0","name":"x","ipam":{"subnet":"10.95.0.0/24"}}"#, 7),
        ("unknown command", "FROB", #"{"cniVersion":"1.0.0","name":"x","ipam":{"subnet":"10.95.0.0/24"}}"#, 4),
    ])
    func badInput(name: String, command: String, config: String, code: Int) throws {
        let bed = try CNITestbed("e")
        defer { bed.tearDown() }
        let netns = name == "missing netns" ? "/var/run/netns/nk-absent-\(Host.runSuffix)" : try bed.pod(0).path
        let (status, json) = try bed.invokePlugin(["CNI_COMMAND": command, "CNI_CONTAINERID": "ctr-e", "CNI_NETNS": netns, "CNI_IFNAME": "eth0"], stdin: config)
        #expect(status != 0)
        let error = try #require(json.flatMap(CNIError.init(json:)), "no error JSON for \(name)")
        #expect(error.code == code, "\(name): \(error)")
        #expect(!error.msg.isEmpty)
        #expect(json?["cniVersion"]?.stringValue != nil)
    }

    @Test("missing CNI_IFNAME is code 4; an exhausted range is code 100")
    func environmentAndExhaustion() throws {
        let bed = try CNITestbed("x", subnet: "10.94.0.0/30")
        defer { bed.tearDown() }
        let config = try bed.conflist().plugins[0]
        var stdin = config
        stdin.set("name", .string("nkx"))
        stdin.set("cniVersion", .string("1.0.0"))
        let missing = try bed.invokePlugin(["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": try bed.pod(0).path], stdin: stdin.description)
        #expect(missing.json.flatMap(CNIError.init(json:))?.code == CNIError.invalidEnvironment)
        // A /30 has one usable address once the gateway is reserved.
        let first = try bed.invokePlugin(["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": bed.pods[0].path, "CNI_IFNAME": "eth0"], stdin: stdin.description)
        #expect(first.status == 0)
        let second = try bed.invokePlugin(["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c2", "CNI_NETNS": try bed.pod(1).path, "CNI_IFNAME": "eth0"], stdin: stdin.description)
        #expect(second.status != 0)
        #expect(second.json.flatMap(CNIError.init(json:))?.code == CNIError.rangeExhausted)
        // The failed ADD left no veth behind.
        #expect(try bed.netlink(bed.pods[1]).link(named: "eth0") == nil)
    }
}

import CNI
import CRI
import Foundation
import Testing
import TestSupport

/// Two pods on a real containerd whose CRI plugin calls nodekit-cni (hack/containerd.sh installs
/// the built binary and cni/10-nodekit.conflist): each gets an address from the fixture's pod
/// CIDR, and one reaches the other over TCP.
@Suite(.serialized, .enabled(if: ContainerdFixture.skipReason == nil && CNITestbed.skipReason == nil,
                             Comment(rawValue: ContainerdFixture.skipReason ?? CNITestbed.skipReason ?? "")))
struct CNIContainerdTests {
    @Test("two pods on containerd reach each other over TCP through nodekit-cni")
    func podsTalkOverTCP() async throws {
        let fixture = try ContainerdFixture.start()
        // shutdown() purges the fixture's network too: its bridge and masquerade table.
        defer { try? fixture.shutdown() }
        let conflist = try String(contentsOfFile: fixture.stateDir + "/cni/net.d/10-nodekit.conflist", encoding: .utf8)
        #expect(conflist.contains("\"nodekit-cni\""), "containerd.sh did not install the nodekit-cni network")

        try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: fixture.socketPath)) { client in
            var pods: [(sandbox: String, container: String, ip: String)] = []
            for (name, command) in [("server", ["sh", "-c", "while true; do echo hello-over-tcp | nc -l -p 8080; done"]),
                                    ("client", ["sh", "-c", "sleep 1000"])] {
                let sandboxConfig = fixture.sandboxConfig(name: "cni-\(name)")
                var run = Runtime_V1_RunPodSandboxRequest()
                run.config = sandboxConfig
                let sandboxID = try await client.runPodSandbox(run).podSandboxID
                var statusRequest = Runtime_V1_PodSandboxStatusRequest()
                statusRequest.podSandboxID = sandboxID
                let ip = try await client.podSandboxStatus(statusRequest).status.network.ip
                var create = Runtime_V1_CreateContainerRequest()
                create.podSandboxID = sandboxID
                create.config = ContainerdFixture.busyboxContainer(name: name, command: command)
                create.sandboxConfig = sandboxConfig
                let containerID = try await client.createContainer(create).containerID
                var start = Runtime_V1_StartContainerRequest()
                start.containerID = containerID
                _ = try await client.startContainer(start)
                pods.append((sandboxID, containerID, ip))
            }
            let (server, caller) = (pods[0], pods[1])
            let subnet = fixture.podCIDR.split(separator: ".").prefix(3).joined(separator: ".") + "."
            #expect(server.ip.hasPrefix(subnet) && caller.ip.hasPrefix(subnet), "pod IPs \(server.ip), \(caller.ip) not in \(fixture.podCIDR)")
            #expect(server.ip != caller.ip)

            var reply = ""
            // The server's nc starts asynchronously after StartContainer; retry briefly.
            for _ in 0..<30 where !reply.contains("hello-over-tcp") {
                var exec = Runtime_V1_ExecSyncRequest()
                exec.containerID = caller.container
                exec.cmd = ["sh", "-c", "nc -w 2 \(server.ip) 8080 </dev/null"]
                exec.timeout = 5
                reply = String(decoding: try await client.execSync(exec).stdout, as: UTF8.self)
                if !reply.contains("hello-over-tcp") { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(reply.contains("hello-over-tcp"), "no TCP reply from \(server.ip):8080")

            for pod in pods {
                var stop = Runtime_V1_StopPodSandboxRequest()
                stop.podSandboxID = pod.sandbox
                _ = try await client.stopPodSandbox(stop)
                var remove = Runtime_V1_RemovePodSandboxRequest()
                remove.podSandboxID = pod.sandbox
                _ = try await client.removePodSandbox(remove)
            }
            // DEL released both addresses.
            let left = try FileManager.default.contentsOfDirectory(atPath: fixture.stateDir + "/cni/ipam/\("nodekit-" + fixture.bridge)").filter { $0.first?.isNumber == true }
            #expect(left.isEmpty, "IPAM reservations left: \(left)")
        }
    }

    @Test("hostPort, node-to-pod and pod-to-outside (masqueraded) through containerd, nodekit-cni and portmap")
    func hostPortNodeToPodAndOutside() async throws {
        // The fixture's purge kills the pod and removes its network namespace, bridge and tables.
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        // "Outside" is a namespace of the test's own behind a veth in 198.18.0.0/15 (RFC 2544
        // benchmarking space): traffic to it leaves the cluster CIDR, so it is masqueraded, yet it
        // never leaves this machine.
        let outside = try NetnsFixture("out")
        let octet = Int.random(in: 0..<64) * 4
        let hostSide = String("nkoh\(Host.runSuffix)".prefix(15))
        let (hostIP, outsideIP) = ("198.18.77.\(octet + 1)", "198.18.77.\(octet + 2)")
        defer {
            _ = try? run("sh", ["-c", "ip netns pids \(outside.name) | xargs -r kill -9"])
            _ = try? run("ip", ["link", "delete", hostSide])
            outside.delete()
        }
        try runChecked("ip", ["link", "add", hostSide, "type", "veth", "peer", "name", "eth0", "netns", outside.name])
        try runChecked("ip", ["addr", "add", "\(hostIP)/30", "dev", hostSide])
        try runChecked("ip", ["link", "set", hostSide, "up"])
        try runChecked("ip", ["-n", outside.name, "addr", "add", "\(outsideIP)/30", "dev", "eth0"])
        try runChecked("ip", ["-n", outside.name, "link", "set", "eth0", "up"])
        // The outside server answers each connection with the source address it saw.
        let echoPeer = "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 9090)); s.listen(8)\nwhile True:\n  c,a=s.accept(); c.sendall(('peer=%s\\n' % a[0]).encode()); c.close()\n"
        try runChecked("sh", ["-c", "ip netns exec \(outside.name) timeout 120 python3 -c \"$0\" >/dev/null 2>&1 &", echoPeer])

        let hostPort = Int32.random(in: 20000..<29000)
        try await CRIClient.with(endpoint: RuntimeEndpoint(parsing: fixture.socketPath)) { client in
            var sandboxConfig = fixture.sandboxConfig(name: "cni-hostport")
            var mapping = Runtime_V1_PortMapping()
            mapping.protocol = .tcp
            mapping.containerPort = 8080
            mapping.hostPort = hostPort
            sandboxConfig.portMappings = [mapping]
            var runRequest = Runtime_V1_RunPodSandboxRequest()
            runRequest.config = sandboxConfig
            let sandboxID = try await client.runPodSandbox(runRequest).podSandboxID
            // StopPodSandbox runs CNI DEL, which removes portmap's iptables rules (the fixture's
            // purge kills tasks without it): do it whether or not the checks pass.
            do { try await Self.checkHostPortPod(client: client, sandboxID: sandboxID, sandboxConfig: sandboxConfig,
                                                 hostPort: hostPort, hostIP: hostIP, outsideIP: outsideIP, outside: outside) }
            catch { Issue.record(error) }
            var stop = Runtime_V1_StopPodSandboxRequest()
            stop.podSandboxID = sandboxID
            _ = try await client.stopPodSandbox(stop)
            let rules = try run("iptables-save", ["-t", "nat"]).stdout
            #expect(!rules.contains("dport \(hostPort)"), "portmap's DNAT for hostPort \(hostPort) is still there after CNI DEL")
            Self.removePortmapSkeleton()
        }
    }

    static func checkHostPortPod(client: CRIClient, sandboxID: String, sandboxConfig: Runtime_V1_PodSandboxConfig,
                                 hostPort: Int32, hostIP: String, outsideIP: String, outside: NetnsFixture) async throws {
            var statusRequest = Runtime_V1_PodSandboxStatusRequest()
            statusRequest.podSandboxID = sandboxID
            let podIP = try await client.podSandboxStatus(statusRequest).status.network.ip
            var create = Runtime_V1_CreateContainerRequest()
            create.podSandboxID = sandboxID
            create.config = ContainerdFixture.busyboxContainer(name: "web", command: ["sh", "-c", "while true; do echo hello-from-pod | nc -l -p 8080; done"])
            create.sandboxConfig = sandboxConfig
            let containerID = try await client.createContainer(create).containerID
            var start = Runtime_V1_StartContainerRequest()
            start.containerID = containerID
            _ = try await client.startContainer(start)

            // Node to pod, straight to the pod IP over the bridge.
            let direct = try await Self.fetch(podIP, 8080)
            #expect(direct.contains("hello-from-pod"), "node to pod \(podIP):8080 answered \(direct)")
            // hostPort from outside the node: the outside namespace connects to the node's address.
            let viaHostPort = try await Self.fetch(hostIP, Int(hostPort), from: outside)
            #expect(viaHostPort.contains("hello-from-pod"), "hostPort \(hostIP):\(hostPort) from outside answered \(viaHostPort)")

            // Pod to outside: the reply names the source the outside saw, the node's address, not the pod's.
            var reply = ""
            for _ in 0..<20 where !reply.contains("peer=") {
                var exec = Runtime_V1_ExecSyncRequest()
                exec.containerID = containerID
                exec.cmd = ["sh", "-c", "nc -w 2 \(outsideIP) 9090 </dev/null"]
                exec.timeout = 5
                reply = String(decoding: try await client.execSync(exec).stdout, as: UTF8.self)
                if !reply.contains("peer=") { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(reply.contains("peer=\(hostIP)"), "pod to outside: reply \(reply.debugDescription), expected the masqueraded source \(hostIP), not \(podIP)")
    }

    /// portmap's DEL leaves its shared chains (CNI-HOSTPORT-*) and their jumps, as on a real node;
    /// a test removes them once no pod's chain (CNI-DN-*) uses them any more.
    static func removePortmapSkeleton() {
        guard let rules = try? run("iptables-save", ["-t", "nat"]).stdout, !rules.contains(":CNI-DN-") else { return }
        let script = """
        iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
        iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
        iptables -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
        for c in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do iptables -t nat -F $c; iptables -t nat -X $c; done
        """
        _ = try? run("sh", ["-c", script + " 2>/dev/null; true"])
    }

    /// Connects to `ip:port` (from the host, or inside `namespace`) and returns what the server
    /// sends, retrying while the server is starting.
    static func fetch(_ ip: String, _ port: Int, from namespace: NetnsFixture? = nil) async throws -> String {
        let client = "import socket\ns=socket.create_connection(('\(ip)', \(port)), 2); s.settimeout(2); print(s.recv(200).decode())"
        var last = ""
        for _ in 0..<30 {
            let result = try namespace?.exec(["python3", "-c", client]) ?? run("python3", ["-c", client])
            if result.status == 0 && !result.stdout.isEmpty { return result.stdout }
            last = result.stderr.split(separator: "\n").last.map(String.init) ?? "exit \(result.status)"
            try await Task.sleep(for: .milliseconds(200))
        }
        return "nothing (\(last))"
    }
}

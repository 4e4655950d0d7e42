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
        defer {
            try? fixture.shutdown()
            // ipMasq's nftables table is the plugin's, not containerd's: remove it too.
            _ = try? run("nft", ["delete", "table", "ip", "nodekit-cni-nodekit"])
        }
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
            let left = try FileManager.default.contentsOfDirectory(atPath: fixture.stateDir + "/cni/ipam/nodekit").filter { $0.first?.isNumber == true }
            #expect(left.isEmpty, "IPAM reservations left: \(left)")
        }
    }
}

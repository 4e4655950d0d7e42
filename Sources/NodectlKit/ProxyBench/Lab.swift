import Foundation
import LinuxSystem

/// A failure of the proxy benchmark, with the step that failed.
struct ProxyBenchError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs a command to completion (no shell), returning its output; throws naming the command
/// when it cannot start or, with `check`, exits non-zero.
@discardableResult
func benchRun(_ path: String, _ arguments: [String], input: [UInt8] = [], check: Bool = true) throws -> ChildProcess.Output {
    let output: ChildProcess.Output
    do { output = try ChildProcess.run(path, arguments: [path] + arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], input: input) } catch {
        throw ProxyBenchError("\(path) \(arguments.joined(separator: " ")): \(error)")
    }
    if check && output.status != 0 {
        let err = String(decoding: output.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw ProxyBenchError("\(path) \(arguments.joined(separator: " ")) exited \(output.status): \(err)")
    }
    return output
}

/// The first of `names` found in the usual system directories.
func benchTool(_ names: String...) -> String? {
    for name in names {
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
    }
    return nil
}

/// Three network namespaces: a client, a node (where proxy rules go) and a server that answers
/// every endpoint address:
///
/// ```
///  client 10.78.0.2 ── veth ── 10.78.0.1 node 10.79.0.1 ── veth ── 10.79.0.2 server
///                                          route 10.128.0.0/10 → server     local 10.128.0.0/10
/// ```
///
/// The server holds `local 10.128.0.0/10` on its loopback (a range apart from the ClusterIPs in
/// 10.96.0.0/12 and the links in 10.78-79.0.0/24), so one listener on port 8080 accepts
/// connections to any endpoint address. ``resetNode()`` deletes and recreates the node
/// namespace, which removes every rule, set and virtual server a backend left there.
final class ProxyBenchLab {
    let node: String
    let client: String
    let server: String
    let ip: String

    init(suffix: String) throws {
        guard let ip = benchTool("ip") else { throw ProxyBenchError("the proxy benchmark needs iproute2's ip") }
        self.ip = ip
        node = "nkb-node-\(suffix)"
        client = "nkb-client-\(suffix)"
        server = "nkb-server-\(suffix)"
        do {
            for ns in [client, server] {
                try benchRun(ip, ["netns", "add", ns])
                try benchRun(ip, ["-n", ns, "link", "set", "lo", "up"])
            }
            try benchRun(ip, ["-n", server, "route", "add", "local", "10.128.0.0/10", "dev", "lo"])
            try createNode()
        } catch {
            destroy()
            throw error
        }
    }

    private func createNode() throws {
        let steps: [[String]] = [
            ["netns", "add", node],
            ["-n", node, "link", "set", "lo", "up"],
            ["-n", node, "link", "add", "c0", "type", "veth", "peer", "name", "eth0", "netns", client],
            ["-n", node, "addr", "add", "10.78.0.1/24", "dev", "c0"],
            ["-n", node, "link", "set", "c0", "up"],
            ["-n", client, "addr", "add", "10.78.0.2/24", "dev", "eth0"],
            ["-n", client, "link", "set", "eth0", "up"],
            ["-n", client, "route", "add", "default", "via", "10.78.0.1"],
            ["-n", node, "link", "add", "s0", "type", "veth", "peer", "name", "eth0", "netns", server],
            ["-n", node, "addr", "add", "10.79.0.1/24", "dev", "s0"],
            ["-n", node, "link", "set", "s0", "up"],
            ["-n", server, "addr", "add", "10.79.0.2/24", "dev", "eth0"],
            ["-n", server, "link", "set", "eth0", "up"],
            ["-n", server, "route", "add", "default", "via", "10.79.0.1"],
            ["-n", node, "route", "add", "10.128.0.0/10", "via", "10.79.0.2"],
            // Routing runs before the nat OUTPUT hook: without a default route a ClusterIP is unreachable.
            ["-n", node, "route", "add", "default", "via", "10.78.0.2"],
        ]
        for step in steps { try benchRun(ip, step) }
        try NetworkNamespace(path: "/var/run/netns/\(node)").run { try Sysctl.write("net.ipv4.ip_forward", "1") }
    }

    /// A fresh node namespace (the old one's rules, sets and virtual servers go with it).
    func resetNode() throws {
        // Namespace teardown runs later in a kernel work queue; deleting the veths first frees
        // their peers' names in the client and server at once.
        for link in ["c0", "s0"] { try benchRun(ip, ["-n", node, "link", "del", link]) }
        try benchRun(ip, ["netns", "del", node])
        try createNode()
    }

    func destroy() {
        for ns in [node, client, server] { _ = try? benchRun(ip, ["netns", "del", ns], check: false) }
    }
}

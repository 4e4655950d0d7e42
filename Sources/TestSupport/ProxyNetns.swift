import Foundation

/// A small network for proxy tests, all in namespaces it creates (names carry
/// ``Host/runSuffix``):
///
/// ```
///  client 10.78.0.2 ── veth ── 10.78.0.1 node 10.77.0.1 (bridge) ── veth ── server i 10.77.0.(10+i)
/// ```
///
/// The node forwards, has a default route (routing runs before the nat OUTPUT hook, so even
/// ClusterIP traffic needs one) and is where proxy rules go. Each server runs busybox
/// `nc -ll -p PORT -e echo NAME`, so a connection reads back which server answered.
/// ``destroy()`` removes everything; call it in a `defer`.
public final class ProxyNetnsLab: @unchecked Sendable {
    public let suffix: String
    public let node: String
    public let client: String
    public let servers: [String]
    public let clientAddress = "10.78.0.2"
    public let nodeAddress = "10.78.0.1"
    private var listeners: [Process] = []

    public func serverAddress(_ i: Int) -> String { "10.77.0.\(10 + i)" }

    /// Why the lab cannot run here, or nil.
    public static var skipReason: String? {
        if !Host.isRoot { return "needs root for network namespaces" }
        for tool in ["ip", "busybox", "nft"] where Host.which(tool) == nil { return "needs \(tool)" }
        return nil
    }

    public init(servers count: Int, port: Int = 8080) throws {
        suffix = Host.runSuffix + String(UInt16.random(in: 0..<UInt16.max), radix: 36)
        node = "pxn-\(suffix)"
        client = "pxc-\(suffix)"
        let suffix = self.suffix
        servers = (0..<count).map { "pxs\($0)-\(suffix)" }
        do { try build(port: port) } catch {
            destroy()
            throw error
        }
    }

    private func ip(_ args: [String], in ns: String? = nil) throws {
        if let ns { try runChecked("ip", ["netns", "exec", ns, "ip"] + args) } else { try runChecked("ip", args) }
    }

    private func build(port: Int) throws {
        for ns in [node, client] + servers { try ip(["netns", "add", ns]) }
        for ns in [node, client] + servers { try ip(["link", "set", "lo", "up"], in: ns) }
        try runChecked("ip", ["netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        try ip(["link", "add", "br0", "type", "bridge"], in: node)
        try ip(["addr", "add", "10.77.0.1/24", "dev", "br0"], in: node)
        try ip(["link", "set", "br0", "up"], in: node)
        // Client link.
        try ip(["link", "add", "c0", "type", "veth", "peer", "name", "eth0", "netns", client], in: node)
        try ip(["addr", "add", "\(nodeAddress)/24", "dev", "c0"], in: node)
        try ip(["link", "set", "c0", "up"], in: node)
        try ip(["addr", "add", "\(clientAddress)/24", "dev", "eth0"], in: client)
        try ip(["link", "set", "eth0", "up"], in: client)
        try ip(["route", "add", "default", "via", nodeAddress], in: client)
        try ip(["route", "add", "default", "via", clientAddress], in: node)
        for (i, ns) in servers.enumerated() {
            try ip(["link", "add", "s\(i)", "type", "veth", "peer", "name", "eth0", "netns", ns], in: node)
            try ip(["link", "set", "s\(i)", "master", "br0", "up"], in: node)
            try ip(["addr", "add", "\(serverAddress(i))/24", "dev", "eth0"], in: ns)
            try ip(["link", "set", "eth0", "up"], in: ns)
            try ip(["route", "add", "default", "via", "10.77.0.1"], in: ns)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Host.which("ip")!)
            p.arguments = ["netns", "exec", ns, "busybox", "nc", "-ll", "-p", String(port), "-e", "busybox", "echo", "server\(i)"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            listeners.append(p)
        }
        // Wait (bounded) until every listener accepts.
        for i in servers.indices {
            var up = false
            for _ in 0..<50 where !up {
                up = (try? connect(serverAddress(i), port))?.reply == "server\(i)"
                if !up { usleep(20_000) }
            }
            if !up { throw ProxyLabError(message: "busybox nc listener in \(servers[i]) did not accept on \(serverAddress(i)):\(port)") }
        }
    }

    /// The outcome of one TCP connection from the client namespace.
    public struct Connection: Sendable {
        /// What the server wrote (its name), trimmed; empty when the connection failed.
        public var reply: String
        public var error: String
        public var seconds: Double
    }

    /// Connects from the client namespace to `address:port` and reads the reply.
    public func connect(_ address: String, _ port: Int, timeout: Int = 3) throws -> Connection {
        let start = Date()
        let r = try run("ip", ["netns", "exec", client, "busybox", "nc", "-w", String(timeout), address, String(port)], input: Data())
        return Connection(reply: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                          error: r.stderr.trimmingCharacters(in: .whitespacesAndNewlines),
                          seconds: Date().timeIntervalSince(start))
    }

    /// Runs a command inside the node namespace.
    @discardableResult
    public func inNode(_ command: [String]) throws -> CommandResult {
        try runChecked("ip", ["netns", "exec", node] + command)
    }

    /// Stops the servers and deletes every namespace (and so every link and rule in them).
    public func destroy() {
        for p in listeners where p.isRunning {
            // SIGKILL: children of the test runner may start with SIGTERM blocked.
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        listeners = []
        for ns in [node, client] + servers { _ = try? run("ip", ["netns", "del", ns]) }
    }
}

/// A lab setup failure.
public struct ProxyLabError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

import Foundation

/// A named network namespace for one test, created with `ip netns add` (tests may use `ip`;
/// the product never does) and deleted by ``delete()``, which is idempotent. Names carry
/// ``Host/runSuffix`` so parallel or aborted runs do not collide.
public final class NetnsFixture: Sendable {
    public let name: String
    /// The bind-mount path, usable as CNI_NETNS.
    public var path: String { "/var/run/netns/" + name }

    /// Creates `nk<prefix>-<runSuffix>-<index>` (at most 15+ chars is fine for netns names).
    public init(_ prefix: String, _ index: Int = 0) throws {
        name = "nk\(prefix)-\(Host.runSuffix)-\(index)"
        try runChecked("ip", ["netns", "add", name])
        try runChecked("ip", ["-n", name, "link", "set", "lo", "up"])
    }

    /// Runs a command inside the namespace (`ip netns exec`, which also remounts /sys for it).
    @discardableResult
    public func exec(_ command: [String], input: Data? = nil) throws -> CommandResult {
        try run("ip", ["netns", "exec", name] + command, input: input)
    }

    /// Deletes the namespace; a missing one is fine.
    public func delete() {
        _ = try? run("ip", ["netns", "delete", name])
    }

    /// Why network-namespace tests cannot run here, or nil.
    public static var skipReason: String? {
        if !Host.isRoot { return "needs root for network namespaces" }
        if Host.which("ip") == nil { return "needs iproute2's ip to create test namespaces" }
        return nil
    }
}

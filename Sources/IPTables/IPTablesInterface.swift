import Foundation

/// Which iptables binary family to drive: the nf_tables-backed `iptables` or `iptables-legacy`.
public enum IPTablesVariant: String, Sendable, CaseIterable {
    case nft
    case legacy

    /// The restore command for a family (`iptables-restore`, `ip6tables-legacy-restore`, ...).
    public func restoreCommand(ipv6: Bool) -> String {
        let base = ipv6 ? "ip6tables" : "iptables"
        return self == .legacy ? "\(base)-legacy-restore" : "\(base)-restore"
    }

    /// The rule command for a family (`iptables`, `iptables-legacy`, ...).
    public func command(ipv6: Bool) -> String {
        let base = ipv6 ? "ip6tables" : "iptables"
        return self == .legacy ? "\(base)-legacy" : base
    }
}

/// An error from iptables.
public struct IPTablesError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The process boundary of the iptables backend. Implementations are thread-safe.
public protocol IPTablesInterface: Sendable {
    /// Loads `text` with one `iptables-restore --noflush` run: atomic per table.
    func restore(_ text: String) throws(IPTablesError)
    /// Makes sure `rule` (iptables arguments after `-A CHAIN`) is in `chain` of `table`,
    /// inserting it first when absent (the jumps from built-in chains, as upstream does).
    func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError)
    /// Removes `rule` from `chain` if present.
    func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError)
    /// Flushes and deletes chains (those that exist), in a table.
    func deleteChains(table: String, _ chains: [String]) throws(IPTablesError)
}

/// Runs the real binaries (`iptables-restore` once per sync).
public struct ExecIPTables: IPTablesInterface {
    public let variant: IPTablesVariant
    public let ipv6: Bool

    public init(variant: IPTablesVariant = .nft, ipv6: Bool = false) {
        self.variant = variant
        self.ipv6 = ipv6
    }

    private func run(_ command: String, _ args: [String], input: String? = nil) throws(IPTablesError) -> (Int32, String) {
        let p = Process()
        let path = ["/usr/sbin/", "/sbin/", "/usr/bin/"].map { $0 + command }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw IPTablesError("\(command) not found") }
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let inPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errPipe
        do { try p.run() } catch { throw IPTablesError("\(command): cannot start: \(error)") }
        // Write stdin on another thread while stderr drains, so neither pipe can fill up.
        let data = Data((input ?? "").utf8)
        let writer = Thread {
            inPipe.fileHandleForWriting.write(data)
            try? inPipe.fileHandleForWriting.close()
        }
        writer.start()
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func restore(_ text: String) throws(IPTablesError) {
        let cmd = variant.restoreCommand(ipv6: ipv6)
        let (status, err) = try run(cmd, ["--noflush", "--counters", "-w", "5"], input: text)
        if status != 0 { throw IPTablesError("\(cmd) --noflush failed (exit \(status)): \(err)") }
    }

    public func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        let cmd = variant.command(ipv6: ipv6)
        let (status, _) = try run(cmd, ["-w", "5", "-t", table, "-C", chain] + rule)
        if status == 0 { return }
        let (s2, err) = try run(cmd, ["-w", "5", "-t", table, "-I", chain] + rule)
        if s2 != 0 { throw IPTablesError("\(cmd) -t \(table) -I \(chain) \(rule.joined(separator: " ")) failed: \(err)") }
    }

    public func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        let cmd = variant.command(ipv6: ipv6)
        while try run(cmd, ["-w", "5", "-t", table, "-D", chain] + rule).0 == 0 {}
    }

    public func deleteChains(table: String, _ chains: [String]) throws(IPTablesError) {
        let cmd = variant.command(ipv6: ipv6)
        for c in chains { _ = try run(cmd, ["-w", "5", "-t", table, "-F", c]) }
        for c in chains { _ = try run(cmd, ["-w", "5", "-t", table, "-X", c]) }
    }
}

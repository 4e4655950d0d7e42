import ArgumentParser
import Foundation
import IPTables
import LinuxSystem
import Proxy

/// Where the time of an iptables full sync goes, for `nodectl bench iptables-profile` (see
/// docs/proxy-bench-iptables.md): rendering and writing the text, one restore of our text and
/// one of upstream's layout of the same rules (the benchmark's baseline), the proxier's
/// streamed full sync, a second full sync over the populated tables, and the two partial
/// syncs. Each restore into empty tables starts from a flush of nat and filter.
enum IPTablesBenchProfile {
    /// Runs in the calling process's network namespace, whose nat and filter tables it flushes
    /// (the parent gives it a fresh namespace).
    /// `textsDirectory`: where to also write both restore texts (`ours.txt`, `upstream.txt`),
    /// so that the tool can be profiled on each alone.
    static func run(variant: IPTablesVariant, services: Int, endpoints: Int, textsDirectory: String? = nil) throws -> [ProxyBenchProfile.Step] {
        let clock = ContinuousClock()
        let workload = ProxyWorkload(services: services, endpoints: endpoints)
        var state = ProxyState()
        let build = clock.measure { state = workload.state() }
        let ipt = ExecIPTables(variant: variant)
        let proxier = IPTablesProxier(family: .ip, ipt: ipt)
        // The two restores of whole texts are the tool's (the rows name it), not the table
        // writer the proxier uses for iptables-legacy.
        let tool = ExecIPTables(variant: variant, writesTables: false)
        var ours = "", upstream = ""
        let render = clock.measure { ours = proxier.fullRestoreText(state) }
        upstream = proxier.upstreamLayoutRestoreText(state)
        if let textsDirectory {
            try FileOps.writeAtomically(textsDirectory + "/ours.txt", Array(ours.utf8))
            try FileOps.writeAtomically(textsDirectory + "/upstream.txt", Array(upstream.utf8))
        }
        let restoreTool = variant.binary(.restore, ipv6: false)

        // Without --noflush a restore replaces the named tables whole: both end up empty.
        func empty() throws {
            guard let path = ExecIPTables.locate(restoreTool) else { throw ProxyBenchError("\(restoreTool) not found") }
            try benchRun(path, [], input: Array("*filter\nCOMMIT\n*nat\nCOMMIT\n".utf8))
        }
        func restore(_ text: String) throws -> Duration {
            try empty()
            return try clock.measure { try tool.restore(text) }
        }
        let upstreamRestore = try restore(upstream)
        let oursRestore = try restore(ours)
        try empty()
        let full = try clock.measure { try proxier.sync(state, changed: [], kind: .full) }
        let resync = try clock.measure { try proxier.sync(state, changed: [], kind: .full) }
        let (partialAdd, partialEndpoint) = try workload.timePartialSyncs(&state) { try proxier.sync($0, changed: $1, kind: .partial) }
        try proxier.cleanup()

        let size = "\(ours.utf8.count / 1024) KiB, \(ours.split(separator: "\n").count) lines"
        return [
            .init(name: "build the ProxyState", seconds: build.seconds),
            .init(name: "render + write the full text (not streamed)", seconds: render.seconds, note: size),
            .init(name: "\(restoreTool): upstream's layout into empty tables (baseline)", seconds: upstreamRestore.seconds),
            .init(name: "\(restoreTool): our text into empty tables", seconds: oursRestore.seconds),
            .init(name: "proxier full sync into empty tables (streamed)", seconds: full.seconds),
            .init(name: "proxier full sync over the populated tables", seconds: resync.seconds),
            .init(name: "proxier partial sync, +1 Service", seconds: partialAdd.seconds),
            .init(name: "proxier partial sync, 1 endpoint", seconds: partialEndpoint.seconds),
        ]
    }
}

/// `nodectl bench iptables-profile` (hidden): where the time of an iptables full sync goes, in
/// the current network namespace (run it with `ip netns exec` in a fresh one: it flushes the
/// namespace's nat and filter tables).
struct IPTablesProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "iptables-profile", shouldDisplay: false)

    @Option(help: "nft or legacy.") var variant: String = "legacy"
    @Option var services: Int
    @Option var endpoints: Int = 2
    @Option(help: "A directory to write both restore texts into (ours.txt, upstream.txt).") var texts: String?

    func run() throws {
        guard let v = IPTablesVariant(rawValue: variant) else { throw ValidationError("--variant is nft or legacy, not \(variant)") }
        print("iptables-\(v.rawValue) full sync, N = \(services), M = \(endpoints)")
        for step in try IPTablesBenchProfile.run(variant: v, services: services, endpoints: endpoints, textsDirectory: texts) {
            let ms = String(format: "%9.1f ms", step.seconds * 1000)
            print("\(ms)  \(step.name)\(step.note.isEmpty ? "" : "  (\(step.note))")")
        }
    }
}

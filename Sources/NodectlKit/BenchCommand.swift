import ArgumentParser
import Foundation
import IPTables
import IPVS
import LinuxSystem
import Proxy

/// `nodectl bench …`: benchmarks a user runs on their own node.
public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure this node: proxy modes side by side.",
        subcommands: [ProxyBenchCommand.self, ProxyBenchWorkerCommand.self, NFTablesProfileCommand.self, IPTablesProfileCommand.self, ProxyBenchMergeCommand.self])

    public init() {}
}

/// `nodectl bench proxy`: N Services × M endpoints through each backend into a private network
/// namespace; sync times, object counts, the programming process's peak RSS, first-packet
/// connect latency, and the upstream-method baseline, as a table, JSON and an SVG chart.
public struct ProxyBenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Benchmark the nftables, iptables and IPVS proxy backends at 1k-30k Services (needs root).")

    @Flag(help: "N = 1k and 5k only, fewer connects, short baseline timeout.")
    var quick = false
    @Option(help: "Comma-separated backends: nftables, iptables, iptables-legacy (the iptables backend driving iptables-legacy), ipvs.")
    var backends = "nftables,iptables,ipvs"
    @Option(help: "Comma-separated Service counts (default 1000,5000,10000,30000; --quick 1000,5000).")
    var services: String?
    @Option(help: "Comma-separated endpoints per Service.")
    var endpoints = "2,10"
    @Option(help: "TCP connects per point, each paired with one straight to an endpoint (default 3000; --quick 200).")
    var connects: Int?
    @Option(help: "Seconds a baseline load may take before it is reported as timed out (default 300; --quick 10).")
    var baselineTimeout: Int?
    @Option(help: "Where this runs, shown beside each row (e.g. vm).")
    var environment = "host"
    @Option(help: "Write the results as JSON to this file.")
    var json: String?
    @Option(help: "Write an SVG chart (sync time and p99 against N) to this file.")
    var svg: String?

    public init() {}

    static func numbers(_ text: String, _ what: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--\(what) takes positive integers separated by commas, not \"\(text)\"")
        }
        return values.map { $0! }
    }

    public func validate() throws {
        for b in backends.split(separator: ",") where !["nftables", "iptables", "iptables-legacy", "ipvs"].contains(b) {
            throw ValidationError("unknown backend \"\(b)\" (nftables, iptables, iptables-legacy, ipvs)")
        }
        _ = try Self.numbers(services ?? "1", "services")
        _ = try Self.numbers(endpoints, "endpoints")
        if let connects, connects <= 0 { throw ValidationError("--connects must be positive") }
    }

    public func run() throws {
        guard getuid() == 0 else { throw ValidationError("nodectl bench proxy needs root (it creates network namespaces)") }
        let counts = try Self.numbers(services ?? (quick ? "1000,5000" : "1000,5000,10000,30000"), "services")
        let endpointCounts = try Self.numbers(endpoints, "endpoints")
        // Thousands of connects per point: a p99 of 1000 samples rests on its 10 slowest.
        let connectCount = connects ?? (quick ? 200 : 3000)
        let timeout = baselineTimeout ?? (quick ? 10 : 300)
        let selfPath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let lab = try ProxyBenchLab(suffix: String(ProcessInfo.processInfo.processIdentifier))
        defer { lab.destroy() }
        let probe = ProxyBenchProbe()
        defer { probe.shutdown() }
        let client = try NetworkNamespace(path: "/var/run/netns/\(lab.client)")
        try probe.listen(in: try NetworkNamespace(path: "/var/run/netns/\(lab.server)"), port: Int(ProxyWorkload.endpointPort))
        // The path without rules must work, or every latency below would be a failure; its
        // latency is the floor (namespaces, veths, the probe's own cost) the rows compare with.
        _ = try probe.connect(from: client, host: "10.128.0.1", port: Int(ProxyWorkload.endpointPort))
        let direct = probe.measure(from: client, count: connectCount, port: Int(ProxyWorkload.endpointPort)) {
            ProxyWorkload(services: 1000, endpoints: 2).endpointIP(Int.random(in: 0..<1000), Int.random(in: 0..<2)).description
        }
        guard direct.failures == 0 else { throw ProxyBenchError("connects straight to endpoints failed: \(direct.firstError ?? "")") }

        var report = ProxyBenchReport(kernel: Self.kernel(), cpus: ProcessInfo.processInfo.activeProcessorCount,
                                      date: ISO8601DateFormatter().string(from: Date()), quick: quick,
                                      directConnectP50Micros: direct.p50, directConnectP99Micros: direct.p99, rows: [], skipped: [])
        for backend in backends.split(separator: ",").map(String.init) {
            if let reason = try unavailable(backend, lab: lab) {
                report.skipped.append("\(backend): \(reason)")
                FileHandle.standardError.write(Data("skipping \(backend): \(reason)\n".utf8))
                continue
            }
            for m in endpointCounts {
                for n in counts {
                    let workload = ProxyWorkload(services: n, endpoints: m)
                    try lab.resetNode()
                    let (method, baseline) = try runBaseline(backend, workload, lab: lab, timeout: timeout)
                    try lab.resetNode()
                    let out = try benchRun(lab.ip, ["netns", "exec", lab.node, selfPath, "bench", "proxy-worker",
                                                    "--backend", backend, "--services", "\(n)", "--endpoints", "\(m)"])
                    let result: ProgramResult
                    do { result = try JSONDecoder().decode(ProgramResult.self, from: Data(out.stdout)) } catch {
                        throw ProxyBenchError("\(backend) worker at N=\(n) M=\(m) printed no result: \(String(decoding: out.stdout, as: UTF8.self))")
                    }
                    let (latency, floor) = probe.measurePaired(
                        from: client, count: connectCount, port: Int(ProxyWorkload.servicePort),
                        target: { ProxyWorkload.clusterIP(Int.random(in: 0..<n)).description },
                        floorPort: Int(ProxyWorkload.endpointPort),
                        floorTarget: { workload.endpointIP(Int.random(in: 0..<n), Int.random(in: 0..<m)).description })
                    if let error = latency.firstError {
                        FileHandle.standardError.write(Data("\(backend) N=\(n) M=\(m): \(latency.failures) of \(connectCount) connects failed, first: \(error)\n".utf8))
                    }
                    let row = ProxyBenchRow(
                        backend: backend, environment: environment, services: n, endpoints: m,
                        fullSyncSeconds: result.fullSyncSeconds, partialAddSeconds: result.partialAddSeconds,
                        partialEndpointSeconds: result.partialEndpointSeconds, objects: result.objects, objectKind: result.objectKind,
                        peakRSSKiB: result.peakRSSKiB,
                        connectP50Micros: latency.p50.isNaN ? nil : latency.p50, connectP99Micros: latency.p99.isNaN ? nil : latency.p99,
                        connects: connectCount, connectFailures: latency.failures,
                        floorP50Micros: floor.p50.isNaN ? nil : floor.p50, floorP99Micros: floor.p99.isNaN ? nil : floor.p99,
                        loadAverage: Self.loadAverage(),
                        baselineMethod: method, baselineSeconds: baseline, baselineTimeoutSeconds: timeout,
                        ratio: baseline.map { result.fullSyncSeconds / $0 })
                    report.rows.append(row)
                    // Each point as soon as it is measured, so a run cut short still reports.
                    let p50 = row.connectP50Micros.map { ProxyBenchOutput.fixed($0, 0) } ?? "-"
                    let p99 = row.connectP99Micros.map { ProxyBenchOutput.fixed($0, 0) } ?? "-"
                    let base = row.baselineSeconds.map(ProxyBenchOutput.milliseconds) ?? "> \(timeout) s"
                    var line = "\(backend) N=\(n) M=\(m): full \(ProxyBenchOutput.milliseconds(row.fullSyncSeconds))"
                    line += ", +1 service \(ProxyBenchOutput.milliseconds(row.partialAddSeconds))"
                    line += ", 1 endpoint \(ProxyBenchOutput.milliseconds(row.partialEndpointSeconds))"
                    line += ", \(row.objects) \(row.objectKind), peak RSS \(row.peakRSSKiB / 1024) MiB"
                    let floorText = row.floorP99Micros.map { ProxyBenchOutput.fixed($0, 0) } ?? "-"
                    line += ", connect p50/p99 \(p50)/\(p99) µs (floor p99 \(floorText) µs"
                    line += row.p99OverFloor.map { ", p99/floor \(ProxyBenchOutput.fixed($0, 2))" } ?? ""
                    line += "), baseline \(base), load \(row.loadAverage.map { ProxyBenchOutput.fixed($0, 1) } ?? "-")\n"
                    FileHandle.standardError.write(Data(line.utf8))
                }
            }
        }
        print(ProxyBenchOutput.table(report), terminator: "")
        if let json { try ProxyBenchOutput.json(report).write(to: URL(fileURLWithPath: json)) }
        if let svg { try Data(ProxyBenchSVG.render(report).utf8).write(to: URL(fileURLWithPath: svg)) }
    }

    /// The 1-minute load average (/proc/loadavg), or nil when it cannot be read.
    static func loadAverage() -> Double? {
        (try? String(decoding: FileOps.read("/proc/loadavg"), as: UTF8.self)).flatMap { text in
            text.split(separator: " ").first.flatMap { Double($0) }
        }
    }

    static func kernel() -> String {
        (try? String(decoding: FileOps.read("/proc/sys/kernel/osrelease"), as: UTF8.self))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    /// Why `backend` cannot run here, or nil.
    func unavailable(_ backend: String, lab: ProxyBenchLab) throws -> String? {
        switch backend {
        case "ipvs":
            do {
                _ = try NetworkNamespace(path: "/var/run/netns/\(lab.node)").run { try NetlinkIPVS() }
            } catch let error as IPVSError where error.isUnavailable {
                return "this kernel has no IPVS; run hack/vm-test.sh bench for IPVS numbers from a VM"
            }
            for tool in ["ipset", "ipvsadm"] where benchTool(tool) == nil { return "needs \(tool)" }
        case "iptables":
            if benchTool("iptables-restore") == nil { return "needs iptables-restore" }
        case "iptables-legacy":
            if benchTool("iptables-legacy-restore") == nil { return "needs iptables-legacy-restore" }
        default:
            if benchTool("nft") == nil { return "needs nft (for the baseline)" }
        }
        return nil
    }

    /// Loads the workload the way upstream applies it, with one process, into the node
    /// namespace; the seconds it took, or nil when it ran past `timeout`.
    func runBaseline(_ backend: String, _ workload: ProxyWorkload, lab: ProxyBenchLab, timeout: Int) throws -> (String, Double?) {
        let (method, tool, arguments, text): (String, String, [String], String)
        switch backend {
        case "iptables":
            let restore = IPTablesProxier(family: .ip, ipt: ExecIPTables()).upstreamLayoutRestoreText(workload.state())
            (method, tool, arguments, text) = ("iptables-restore (upstream layout)", benchTool("iptables-restore")!, ["--noflush"], restore)
        case "iptables-legacy":
            let restore = IPTablesProxier(family: .ip, ipt: ExecIPTables(variant: .legacy)).upstreamLayoutRestoreText(workload.state())
            (method, tool, arguments, text) = ("iptables-legacy-restore (upstream layout)", benchTool("iptables-legacy-restore")!, ["--noflush"], restore)
        case "ipvs":
            (method, tool, arguments, text) = (IPVSBaseline.method, benchTool("sh")!, ["-e", "-s"], try IPVSBaseline.script(workload.state()))
        default:
            (method, tool, arguments, text) = ("nft -f (upstream shape)", benchTool("nft")!, ["-f", "-"], workload.upstreamNFTables(table: "kube-proxy"))
        }
        guard let timeoutTool = benchTool("timeout") else { throw ProxyBenchError("the baseline needs coreutils' timeout") }
        let clock = ContinuousClock()
        var output: ChildProcess.Output?
        let elapsed = try clock.measure {
            output = try benchRun(timeoutTool, ["--signal=KILL", "\(timeout)", lab.ip, "netns", "exec", lab.node, tool] + arguments,
                                  input: Array(text.utf8), check: false)
        }
        guard let output else { return (method, nil) }
        // timeout(1) exits 124, or 137 when it had to SIGKILL.
        if output.status == 124 || output.status == 137 { return (method, nil) }
        if output.status != 0 {
            throw ProxyBenchError("baseline \(method) exited \(output.status): \(String(decoding: output.stderr, as: UTF8.self).prefix(400))")
        }
        return (method, elapsed.seconds)
    }
}

/// `nodectl bench proxy-worker` (hidden): the child process that programs one backend, so that
/// its peak RSS is the programming's own. Prints a ``ProgramResult`` as JSON.
struct ProxyBenchWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proxy-worker", shouldDisplay: false)

    @Option var backend: String
    @Option var services: Int
    @Option var endpoints: Int

    func run() throws {
        let result = try ProxyBenchWorker.run(backend: backend, services: services, endpoints: endpoints)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }
}

/// `nodectl bench nft-profile` (hidden): where the time of an nftables full sync goes, in the
/// current network namespace (run it with `ip netns exec` in a fresh one).
struct NFTablesProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nft-profile", shouldDisplay: false)

    @Option var services: Int
    @Option var endpoints: Int = 2

    func run() throws {
        print("nftables full sync, N = \(services), M = \(endpoints)")
        for step in try ProxyBenchProfile.nftables(services: services, endpoints: endpoints) {
            let ms = String(format: "%9.1f ms", step.seconds * 1000)
            print("\(ms)  \(step.name)\(step.note.isEmpty ? "" : "  (\(step.note))")")
        }
    }
}

/// `nodectl bench proxy-merge` (hidden): joins the JSON of several `bench proxy` runs (say, one
/// per backend, or the VM's IPVS rows) into one table, JSON and SVG. The header (kernel, date,
/// no-rules floor) is the first file's.
struct ProxyBenchMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proxy-merge", shouldDisplay: false)

    @Argument(help: "JSON files written by `nodectl bench proxy --json`.")
    var inputs: [String]
    @Option var json: String?
    @Option var svg: String?

    func run() throws {
        var merged: ProxyBenchReport?
        for path in inputs {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ProxyBenchError("cannot read \(path): \(error.localizedDescription)")
            }
            let report: ProxyBenchReport
            do { report = try JSONDecoder().decode(ProxyBenchReport.self, from: data) } catch {
                throw ProxyBenchError("\(path) is not a bench proxy JSON report: \(error)")
            }
            if merged == nil { merged = report } else {
                merged!.rows += report.rows
                merged!.skipped += report.skipped
            }
        }
        guard let merged else { throw ValidationError("proxy-merge needs at least one JSON file") }
        print(ProxyBenchOutput.table(merged), terminator: "")
        if let json { try ProxyBenchOutput.json(merged).write(to: URL(fileURLWithPath: json)) }
        if let svg { try Data(ProxyBenchSVG.render(merged).utf8).write(to: URL(fileURLWithPath: svg)) }
    }
}

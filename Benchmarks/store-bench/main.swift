// store-bench: the embedded store against a real etcd 3.4 on the same disk, side by side.
//
//   swift run -c release store-bench [--quick] [--dir DIR] [--no-etcd | --etcd HOST:PORT]
//       creates/s and reads/s with 1 and 64 clients, p50/p99 latency, and watch delivery latency
//       to 1,000 watchers, for each backend; prints one table.
//   store-bench group [--dir DIR] [--writers 1,16,64] [--writes N] [--rate R] [--rounds 3]
//                     [--commit-delay 0,1000]
//       group commit alone: for each writer count and commit delay (microseconds; default the
//       store's), `--rounds` runs of the embedded store on a fresh directory, the delays
//       alternating; prints fsyncs per write, writes/s, p50/p99 latency and process CPU per write
//       for every run.
//       `--rate` paces the writers to R writes/s in all (an open load like an API server's)
//       instead of each writing again as soon as its last write returns.
//   store-bench crash-writer --dir DIR [--clients N]
//       a write storm against the embedded store in DIR that prints "key revision" for every
//       acknowledged create, until killed (the crash test kills it with SIGKILL).
import EtcdStore
import Foundation
import Store
import Synchronization

struct Options {
    var quick = false
    var directory = "/var/tmp/nodekit-store-bench"
    var etcd = true
    var clients = 32
    var mode = "bench"
    /// Benchmark this running etcd instead of starting one.
    var etcdEndpoint: String?
    /// Group mode: writer counts, writes per run, pacing, rounds.
    var writers = [1, 16, 64]
    var writes = 4000
    var rate: Double?
    var rounds = 3
    /// Group mode: commit delays in microseconds (nil: the store's default only).
    var commitDelays: [Int]?

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        if let first = rest.first, !first.hasPrefix("-") {
            mode = first
            rest = rest.dropFirst()
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": quick = true
            case "--no-etcd": etcd = false
            case "--dir": directory = try value(&rest, argument)
            case "--etcd": etcdEndpoint = try value(&rest, argument)
            case "--clients":
                guard let count = Int(try value(&rest, argument)), count > 0 else { throw UsageError("--clients needs a positive number") }
                clients = count
            case "--writers": writers = try list(&rest, argument, minimum: 1)
            case "--commit-delay": commitDelays = try list(&rest, argument, minimum: 0)
            case "--writes":
                guard let count = Int(try value(&rest, argument)), count > 0 else { throw UsageError("--writes needs a positive number") }
                writes = count
            case "--rounds":
                guard let count = Int(try value(&rest, argument)), count > 0 else { throw UsageError("--rounds needs a positive number") }
                rounds = count
            case "--rate":
                guard let value = Double(try value(&rest, argument)), value > 0, value.isFinite else { throw UsageError("--rate needs a positive number of writes per second") }
                rate = value
            default: throw UsageError("unknown argument \(argument)")
            }
        }
        guard ["bench", "crash-writer", "group"].contains(mode) else { throw UsageError("unknown mode \(mode) (bench, group or crash-writer)") }
    }

    private func list(_ rest: inout ArraySlice<String>, _ flag: String, minimum: Int) throws -> [Int] {
        let text = try value(&rest, flag)
        let values = text.split(separator: ",").map { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? -1) >= minimum }) else {
            throw UsageError("\(flag) needs a comma-separated list of numbers of at least \(minimum), not \(text)")
        }
        return values.map { $0! }
    }

    private func value(_ rest: inout ArraySlice<String>, _ flag: String) throws -> String {
        guard let value = rest.popFirst() else { throw UsageError("\(flag) needs a value") }
        return value
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Latency samples in seconds.
struct Samples {
    var values: [Double] = []
    mutating func add(_ duration: Duration) { values.append(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18) }
    mutating func merge(_ other: Samples) { values += other.values }
    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }
}

struct Row {
    var backend: String
    var test: String
    var rate: Double?
    var p50: Double
    var p99: Double
}

func ms(_ seconds: Double) -> String { seconds.isNaN ? "-" : String(format: "%.2f", seconds * 1000) }

/// Runs `operations` calls of `body` spread over `clients` concurrent tasks; returns ops/s and
/// the latency of each call. With an `interval`, call i is not started before start + i ×
/// interval (paced; its latency counts from when it starts, not from when it was due).
func measure(clients: Int, operations: Int, interval: Duration? = nil, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> (Double, Samples) {
    let start = ContinuousClock.now
    let samples = try await withThrowingTaskGroup(of: Samples.self) { group in
        for client in 0..<clients {
            group.addTask {
                var samples = Samples()
                var index = client
                while index < operations {
                    if let interval {
                        let due = start + interval * index
                        if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
                    }
                    let begin = ContinuousClock.now
                    try await body(index)
                    samples.add(ContinuousClock.now - begin)
                    index += clients
                }
                return samples
            }
        }
        var all = Samples()
        for try await part in group { all.merge(part) }
        return all
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (Double(operations) / seconds, samples)
}

/// Delivery latency from just before a write to each of `watchers` watchers receiving it.
func watchLatency(_ store: any Store, watchers: Int, writes: Int, prefix: String) async throws -> Samples {
    final class Shared: Sendable {
        let sent = Mutex<[String: ContinuousClock.Instant]>([:])
        let delivered = Mutex<(count: Int, samples: Samples)>((0, Samples()))
    }
    let shared = Shared()
    var watches: [StoreWatch] = []
    for _ in 0..<watchers { watches.append(try await store.watch(.prefix(prefix))) }
    try await withThrowingTaskGroup(of: Void.self) { group in
        for watch in watches {
            group.addTask {
                var seen = 0
                for try await message in watch {
                    guard case let .events(events) = message else { continue }
                    let now = ContinuousClock.now
                    for event in events {
                        guard let start = shared.sent.withLock({ $0[event.kv.key] }) else { continue }
                        shared.delivered.withLock {
                            $0.count += 1
                            $0.samples.add(now - start)
                        }
                        seen += 1
                    }
                    if seen >= writes { return }
                }
            }
        }
        for index in 0..<writes {
            let key = prefix + String(index)
            shared.sent.withLock { $0[key] = ContinuousClock.now }
            _ = try await store.create(key, value: Array(repeating: 0x61, count: 256), ttl: nil)
            // One write at a time: wait until every watcher has it, so this measures delivery,
            // not queueing behind earlier writes.
            let deadline = ContinuousClock.now + .seconds(30)
            while shared.delivered.withLock({ $0.count }) < (index + 1) * watchers {
                if ContinuousClock.now > deadline { throw UsageError("watch delivery stalled at write \(index)") }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        try await group.waitForAll()
    }
    for watch in watches { watch.cancel() }
    return shared.delivered.withLock { $0.samples }
}

func benchmark(_ name: String, _ store: any Store, quick: Bool) async throws -> [Row] {
    var rows: [Row] = []
    let value = Array(repeating: UInt8(0x62), count: 512)
    let single = quick ? 200 : 1000
    let many = quick ? 2000 : 20000
    let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    let (rate1, lat1) = try await measure(clients: 1, operations: single) { index in
        _ = try await store.create("/bench/\(runID)/one/\(index)", value: value, ttl: nil)
    }
    rows.append(Row(backend: name, test: "create, 1 client", rate: rate1, p50: lat1.percentile(0.5), p99: lat1.percentile(0.99)))
    let (rate64, lat64) = try await measure(clients: 64, operations: many) { index in
        _ = try await store.create("/bench/\(runID)/many/\(index)", value: value, ttl: nil)
    }
    rows.append(Row(backend: name, test: "create, 64 clients", rate: rate64, p50: lat64.percentile(0.5), p99: lat64.percentile(0.99)))

    let reads = quick ? 2000 : 20000
    let (read1, readLat1) = try await measure(clients: 1, operations: reads) { index in
        guard try await store.get("/bench/\(runID)/many/\(index * 7919 % many)") != nil else { throw UsageError("missing key in read benchmark") }
    }
    rows.append(Row(backend: name, test: "get, 1 client", rate: read1, p50: readLat1.percentile(0.5), p99: readLat1.percentile(0.99)))
    let (read64, readLat64) = try await measure(clients: 64, operations: reads * 4) { index in
        guard try await store.get("/bench/\(runID)/many/\(index * 7919 % many)") != nil else { throw UsageError("missing key in read benchmark") }
    }
    rows.append(Row(backend: name, test: "get, 64 clients", rate: read64, p50: readLat64.percentile(0.5), p99: readLat64.percentile(0.99)))

    let (list, listLat) = try await measure(clients: 1, operations: quick ? 20 : 50) { _ in
        _ = try await store.range(.prefix("/bench/\(runID)/one/", limit: 500))
    }
    rows.append(Row(backend: name, test: "list 500 of \(single)", rate: list, p50: listLat.percentile(0.5), p99: listLat.percentile(0.99)))

    let watchers = 1000
    let delivery = try await watchLatency(store, watchers: watchers, writes: quick ? 5 : 20, prefix: "/bench/\(runID)/watch/")
    rows.append(Row(backend: name, test: "watch delivery, \(watchers) watchers", rate: nil, p50: delivery.percentile(0.5), p99: delivery.percentile(0.99)))
    return rows
}

func runBenchmark(_ options: Options) async throws {
    try? FileManager.default.removeItem(atPath: options.directory)
    try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: options.directory) }
    var rows: [Row] = []

    var local = LocalStoreOptions()
    local.backgroundMaintenance = true
    let embedded = try LocalStore.open(directory: options.directory + "/embedded", options: local)
    rows += try await benchmark("embedded", embedded, quick: options.quick)
    await embedded.close()

    if options.etcd {
        if let endpoint = options.etcdEndpoint {
            let etcd = try EtcdStore(endpoints: EtcdStore.parseEndpoints(endpoint))
            rows += try await benchmark("etcd", etcd, quick: options.quick)
            await etcd.close()
        } else if !FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") {
            print("store-bench: /usr/bin/etcd is not installed; skipping the etcd column")
        } else {
            let member = try await EtcdMember.start(dataDirectory: options.directory + "/etcd")
            defer { member.kill() }
            let etcd = try EtcdStore(endpoints: [EtcdStore.Endpoint(host: "127.0.0.1", port: member.clientPort)])
            let status = try await etcd.status()
            print("store-bench: etcd \(status.version) on 127.0.0.1:\(member.clientPort), data in \(options.directory)/etcd")
            rows += try await benchmark("etcd", etcd, quick: options.quick)
            await etcd.close()
        }
    }

    print("")
    print("backend   test                            ops/s     p50 ms    p99 ms")
    for row in rows {
        let rate = row.rate.map { String(format: "%9.0f", $0) } ?? "        -"
        print(row.backend.padding(toLength: 10, withPad: " ", startingAt: 0)
              + row.test.padding(toLength: 30, withPad: " ", startingAt: 0)
              + rate + ms(row.p50).leftPadded(10) + ms(row.p99).leftPadded(10))
    }
}

/// One etcd member on loopback for the side-by-side run, on random ports (retried when taken).
final class EtcdMember: Sendable {
    let process: Process
    let clientPort: Int

    private init(process: Process, clientPort: Int) {
        self.process = process
        self.clientPort = clientPort
    }

    static func start(dataDirectory: String) async throws -> EtcdMember {
        for _ in 0..<4 {
            let port = Int.random(in: 20000...50000)
            let client = "http://127.0.0.1:\(port)", peer = "http://127.0.0.1:\(port + 1)"
            try? FileManager.default.removeItem(atPath: dataDirectory)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
            process.arguments = ["--name", "bench", "--data-dir", dataDirectory, "--listen-client-urls", client, "--advertise-client-urls", client,
                                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "bench=\(peer)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let member = EtcdMember(process: process, clientPort: port)
            let probe = try EtcdStore(endpoints: [EtcdStore.Endpoint(host: "127.0.0.1", port: port)])
            defer { Task { await probe.close() } }
            for _ in 0..<100 where process.isRunning {
                if (try? await probe.currentRevision()) != nil { return member }
                try await Task.sleep(for: .milliseconds(100))
            }
            member.kill()
        }
        throw UsageError("etcd did not become ready on loopback after 4 attempts")
    }

    func kill() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// Writes from `clients` tasks until killed; each acknowledged create prints "key revision" on
/// its own line with one write(2), so a SIGKILL never leaves a partial line claiming a write.
func crashWriter(_ options: Options) async throws {
    let store = try LocalStore.open(directory: options.directory)
    let out = FileHandle.standardOutput
    // Keys carry a per-run id, so a writer restarted on the same directory never collides.
    let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    out.write(Data("ready \(try await store.currentRevision())\n".utf8))
    try await withThrowingTaskGroup(of: Void.self) { group in
        for client in 0..<options.clients {
            group.addTask {
                var index = 0
                while true {
                    let key = "/crash/\(run)/\(client)/\(index)"
                    let kv = try await store.create(key, value: Array("value-\(client)-\(index)".utf8), ttl: nil)
                    out.write(Data("\(key) \(kv.modRevision)\n".utf8))
                    index += 1
                }
            }
        }
        try await group.waitForAll()
    }
}

/// This process's CPU time (user + system) in seconds.
func processCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// One run of group mode: a fresh embedded store, `writers` tasks creating `writes` keys in all.
func groupRun(_ options: Options, writers: Int, commitDelay: Int?) async throws -> String {
    let directory = options.directory + "/group-\(writers)"
    try? FileManager.default.removeItem(atPath: directory)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var local = LocalStoreOptions()
    local.backgroundMaintenance = false
    if let commitDelay { local.groupCommitDelay = .microseconds(commitDelay) }
    let delayMicroseconds = Int(local.groupCommitDelay / .microseconds(1))
    let store = try LocalStore.open(directory: directory, options: local)
    let value = Array(repeating: UInt8(0x62), count: 512)
    let writes = options.writes
    let cpuStart = processCPU()
    // Paced: write i is due at start + i / rate, taken by writer i % writers.
    let interval = options.rate.map { Duration.nanoseconds(Int64(1e9 / $0)) }
    let (rate, samples) = try await measure(clients: writers, operations: writes, interval: interval) { index in
        _ = try await store.create("/group/\(index % writers)/\(index)", value: value, ttl: nil)
    }
    let cpu = processCPU() - cpuStart
    let statistics = store.statistics()
    let syncs = statistics.logSyncs
    await store.close()
    return String(format: "%7d %8d %7d %6d %8.3f %9.0f %8.2f %8.2f %9.1f", writers, delayMicroseconds,
                  syncs, statistics.delayedFlushes, Double(syncs) / Double(writes),
                  rate, samples.percentile(0.5) * 1000, samples.percentile(0.99) * 1000, cpu * 1e6 / Double(writes))
}

func groupBenchmark(_ options: Options) async throws {
    try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
    print("store-bench group: \(options.writes) creates of 512 bytes per run, " + (options.rate.map { String(format: "paced at %.0f writes/s in all", $0) } ?? "each writer writing again as soon as its write returns"))
    print("writers delay us  fsyncs   held  fsync/w  writes/s   p50 ms   p99 ms  cpu us/w")
    let delays: [Int?] = options.commitDelays ?? [nil]
    for writers in options.writers {
        for _ in 0..<options.rounds {
            for delay in delays { print(try await groupRun(options, writers: writers, commitDelay: delay)) }
        }
    }
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    switch options.mode {
    case "crash-writer": try await crashWriter(options)
    case "group": try await groupBenchmark(options)
    default: try await runBenchmark(options)
    }
} catch {
    FileHandle.standardError.write(Data("store-bench: \(error)\n".utf8))
    exit(1)
}

import Foundation
import Testing
import TestSupport

/// The static pause binary that hack/images.sh builds, or `NODEKIT_PAUSE_BIN`.
private let pauseBinary: String? = {
    let candidate = ProcessInfo.processInfo.environment["NODEKIT_PAUSE_BIN"]
        ?? Host.repositoryRoot.appendingPathComponent("out/images/pause-root/pause").path
    return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
}()

private let buildHint = "no pause binary: run `hack/images.sh build` (or `gcc -static -O2 -Wall -Werror -o out/images/pause-root/pause images/pause/pause.c -lseccomp -lcap`), or set NODEKIT_PAUSE_BIN"

/// The `Key:\tvalue` lines of /proc/PID/status, or nil once the process is gone.
private func procStatus(_ pid: Int32) -> [String: String]? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass; returns whether it held.
private func waitUntil(seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}

/// PIDs whose parent is `parent`, from /proc.
private func children(of parent: Int32) -> [(pid: Int32, name: String, state: String)] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry in
        guard let pid = Int32(entry), let status = procStatus(pid), status["PPid"] == String(parent) else { return nil }
        return (pid, status["Name"] ?? "", status["State"] ?? "")
    }
}

/// Starts pause directly (not in a PID namespace) and waits until it has hardened itself.
private func startHardenedPause(_ binary: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.standardError = FileHandle.nullDevice
    try process.run()
    let pid = process.processIdentifier
    let hardened = waitUntil { procStatus(pid)?["Seccomp"] == "2" }
    if !hardened { process.terminate() }
    try #require(hardened, "pause never reached seccomp mode 2")
    return process
}

@Suite(.serialized, .enabled(if: Host.isRoot, "needs root to drop the bounding set and make PID namespaces"),
       .enabled(if: pauseBinary != nil, Comment(rawValue: buildHint)))
struct PauseIntegrationTests {
    @Test func isStaticAndPrintsItsVersion() throws {
        let binary = try #require(pauseBinary)
        if Host.which("file") != nil {
            #expect(try runChecked("file", ["-L", binary]).stdout.contains("statically linked"))
        }
        let version = try run(binary, ["-v"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("nodekit-pause "))
        #expect(try run(binary, ["--bogus"]).status == 2)
    }

    @Test func dropsEveryCapabilityAndInstallsAFilter() throws {
        let process = try startHardenedPause(try #require(pauseBinary))
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        let status = try #require(procStatus(process.processIdentifier))
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(status[set] == "0000000000000000", "\(set) is \(status[set] ?? "missing")")
        }
        #expect(status["NoNewPrivs"] == "1")
        #expect(status["Seccomp"] == "2")
        #expect(status["Seccomp_filters"] == "1")
    }

    /// Shutdown runs in a signal handler under the filter: a call it needs but the filter lacks
    /// would kill it with SIGSYS instead of exiting 0.
    @Test(arguments: ["TERM", "INT"])
    func exitsZeroOnShutdownSignal(_ signal: String) throws {
        let process = try startHardenedPause(try #require(pauseBinary))
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        if signal == "TERM" { process.terminate() } else { process.interrupt() }
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }

    @Test func reapsOrphansAsPIDOne() throws {
        let binary = try #require(pauseBinary)
        try #require(Host.which("unshare") != nil && Host.which("nsenter") != nil, "needs unshare and nsenter (util-linux)")
        let unshare = Process()
        unshare.executableURL = URL(fileURLWithPath: Host.which("unshare")!)
        unshare.arguments = ["--fork", "--pid", "--kill-child", binary]
        unshare.standardError = FileHandle.nullDevice
        try unshare.run()
        defer { if unshare.isRunning { unshare.terminate() }; unshare.waitUntilExit() }

        var pausePID: Int32 = 0
        try #require(waitUntil {
            guard let child = children(of: unshare.processIdentifier).first else { return false }
            pausePID = child.pid
            return procStatus(child.pid)?["Seccomp"] == "2"
        }, "pause did not start hardened under unshare")
        #expect(procStatus(pausePID)?["NSpid"]?.split(whereSeparator: \.isWhitespace).last == "1", "pause is not PID 1 of its namespace")

        // The shell exits at once; its background sleep is orphaned to the namespace's PID 1.
        // The sleep must not hold the command's output pipes, or runChecked waits for it.
        try runChecked("nsenter", ["-t", String(pausePID), "-p", "--", "/bin/sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 & exit 0"])
        #expect(waitUntil { children(of: pausePID).contains { $0.name == "sleep" } }, "the orphan never reparented to pause")
        // Once it exits, pause must reap it: no child, in particular no zombie, remains.
        #expect(waitUntil { children(of: pausePID).isEmpty }, "pause left \(children(of: pausePID)) unreaped")
        #expect(procStatus(pausePID)?["State"]?.hasPrefix("S") == true, "pause should still be sleeping")

        try runChecked("kill", ["-TERM", String(pausePID)])
        unshare.waitUntilExit()
        #expect(unshare.terminationReason == .exit)
        #expect(unshare.terminationStatus == 0)
    }
}

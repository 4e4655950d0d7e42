import CRI
import Foundation
import LinuxSystem
import Testing
import TestSupport

/// The nodekit binary hack/images.sh runs: `NODEKIT_BIN`, or the debug build `swift test` made.
/// The test never runs `swift build` itself: that would wait forever on the build lock it holds.
private let nodekitBinary: String? = {
    let candidate = ProcessInfo.processInfo.environment["NODEKIT_BIN"]
        ?? Host.repositoryRoot.appendingPathComponent(".build/debug/nodekit").path
    return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
}()

private let toolsPresent = ["containerd", "ctr", "gcc", "file"].allSatisfy { Host.which($0) != nil }
    && FileManager.default.isExecutableFile(atPath: "/bin/busybox")

private let pauseImage = "docker.io/nodekit/pause:latest"
private let busyboxImage = "docker.io/nodekit/busybox:latest"

private func waitUntil(seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}

/// A private containerd and image directory under one temp state dir, removed by `purge`.
private struct Scratch {
    let state = NSTemporaryDirectory() + "nk-img-" + Host.runSuffix
    var socket: String { state + "/containerd/containerd.sock" }
    var images: String { state + "/images" }
    var environment: [String: String] {
        // The reference CNI config keeps this test independent of the nodekit-cni build; ctr run
        // does not call CNI anyway.
        ["NODEKIT_STATE_DIR": state, "NODEKIT_IMAGES_DIR": images, "NODEKIT_BIN": nodekitBinary ?? "", "NODEKIT_CNI_BIN": "/nonexistent"]
    }
    /// Runs `hack/<name>`; throws when it exits non-zero.
    @discardableResult
    func script(_ name: String, _ arguments: [String]) throws -> CommandResult {
        try runChecked(Host.repositoryRoot.appendingPathComponent("hack/" + name).path, arguments, environment: environment)
    }
    func ctr(_ arguments: [String]) throws -> CommandResult {
        try run("ctr", ["-a", socket, "-n", "k8s.io"] + arguments)
    }
    func purge() { _ = try? script("containerd.sh", ["purge"]) }
}

@Suite(.serialized, .enabled(if: Host.isRoot, "needs root to run containerd and containers"),
       .enabled(if: toolsPresent, "needs containerd, ctr, gcc, file and busybox-static (run hack/setup.sh)"),
       .enabled(if: nodekitBinary != nil, "no nodekit binary: run `swift build --product nodekit` or set NODEKIT_BIN"))
struct ImageIntegrationTests {
    @Test func buildIsDeterministic() throws {
        let scratch = Scratch()
        defer { scratch.purge() }
        let first = try scratch.script("images.sh", ["build"]).stdout
        let second = try scratch.script("images.sh", ["build"]).stdout
        #expect(first.contains("built \(pauseImage) manifest sha256:"))
        #expect(first.contains("built \(busyboxImage) manifest sha256:"))
        #expect(first == second)
        let listing = try runChecked("tar", ["-tf", scratch.images + "/pause.tar"]).stdout
        #expect(listing.split(separator: "\n").prefix(2) == ["oci-layout", "index.json"])
    }

    @Test
    func importsRunsAndResolvesBothImages() async throws {
        let scratch = Scratch()
        defer { scratch.purge() }
        #expect(try scratch.script("containerd.sh", ["start"]).stdout.contains(scratch.socket))
        try scratch.script("images.sh", ["build"])
        // Importing twice must be harmless: the same names point at the same manifests.
        for _ in 0..<2 {
            let imported = try scratch.script("images.sh", ["import"]).stdout
            #expect(imported.contains("imported \(pauseImage)") && imported.contains("imported \(busyboxImage)"))
        }
        let names = try scratch.ctr(["images", "ls", "-q"]).stdout.split(separator: "\n").map(String.init)
        #expect(names.contains(pauseImage) && names.contains(busyboxImage), "images: \(names)")

        let busybox = try scratch.ctr([
            "run", "--rm", busyboxImage, "nk-bb-" + Host.runSuffix,
            "sh", "-c", "echo hello-$((6*7)); id -un; stat -c %a /tmp; grep -c nobody /etc/passwd /etc/group",
        ])
        #expect(busybox.status == 0, "ctr run busybox: \(busybox.stderr)")
        #expect(busybox.stdout.split(separator: "\n") == ["hello-42", "root", "1777", "/etc/passwd:1", "/etc/group:1"])

        try runPauseUntilKilled(scratch)
        try await expectCRIResolves(socket: scratch.socket)
    }

    /// The pause image must stay up, hardened, until it is told to stop, then exit 0.
    private func runPauseUntilKilled(_ scratch: Scratch) throws {
        let id = "nk-pause-" + Host.runSuffix
        let ctr = try spawn("ctr", ["-a", scratch.socket, "-n", "k8s.io", "run", "--rm", pauseImage, id])
        var exitStatus: Int32?
        defer {
            if exitStatus == nil {
                _ = try? scratch.ctr(["tasks", "kill", "-s", "SIGKILL", id])
                _ = try? ctr.wait()
            }
        }
        var pid = ""
        try #require(waitUntil {
            let line = try scratch.ctr(["tasks", "ls"]).stdout.split(separator: "\n").first { $0.hasPrefix(id + " ") }
            let fields = line?.split(separator: " ", omittingEmptySubsequences: true) ?? []
            guard fields.count >= 3, fields[2] == "RUNNING" else { return false }
            pid = String(fields[1])
            return true
        }, "the pause task never reached RUNNING")
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Seccomp:\t2"))
        #expect(status.contains("CapEff:\t0000000000000000"))
        #expect(status.contains("CapBnd:\t0000000000000000"))
        // Still up a moment later: pause sleeps rather than exiting or dying under its filter.
        #expect(!waitUntil(seconds: 0.5) { (try? ctr.exitStatusIfExited()).flatMap { $0 }.map { exitStatus = $0 } != nil }, "pause exited on its own")
        try #require(try scratch.ctr(["tasks", "kill", "-s", "SIGTERM", id]).status == 0)
        if exitStatus == nil { exitStatus = try ctr.wait() }
        #expect(exitStatus == 0, "ctr run reports pause's exit status")
    }

    /// The CRI plugin resolves the short names a pod manifest uses to the imported images.
    private func expectCRIResolves(socket: String) async throws {
        let client = try CRIClient(endpoint: socket)
        for (short, full) in [("nodekit/busybox", busyboxImage), ("nodekit/pause", pauseImage)] {
            var request = Runtime_V1_ImageStatusRequest()
            request.image.image = short
            var tags: [String] = []
            // The CRI plugin learns of imported images from containerd's events, asynchronously.
            for _ in 0..<50 {
                tags = try await client.imageStatus(request).image.repoTags
                if tags.contains(full) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(tags.contains(full), "CRI ImageStatus(\(short)) gave tags \(tags)")
        }
        await client.close()
    }
}

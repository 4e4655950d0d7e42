import Foundation
import Store
import Testing
import TestSupport

/// kill -9 in the middle of a write storm loses no acknowledged write.
@Suite(.serialized) struct StoreCrashTests {
    /// The store-bench executable (built with the tests, as a dependency of this target).
    static var writer: String? {
        ["debug", "release"].map { Host.repositoryRoot.path + "/.build/\($0)/store-bench" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(.enabled(if: writer != nil, "needs the store-bench executable (swift build --product store-bench)"))
    func killNineLosesNoAcknowledgedWrite() async throws {
        let directory = try TemporaryStoreDirectory("crash")
        defer { directory.remove() }
        var acknowledged: [(key: String, revision: Int64)] = []
        // Three crashes in a row on the same directory: recovery must also survive a crash right
        // after a recovery.
        for round in 0..<3 {
            let lines = try Self.storm(writer: Self.writer!, directory: directory.path, acknowledgements: 1500 + 500 * round)
            #expect(lines.count >= 1500, "round \(round): only \(lines.count) acknowledgements before the kill")
            acknowledged += lines
        }

        let store = try LocalStore.open(directory: directory.path)
        defer { Task { await store.close() } }
        let all = try await store.range(.prefix("/crash/"))
        let stored = Dictionary(uniqueKeysWithValues: all.kvs.map { ($0.key, $0.modRevision) })
        var missing: [String] = []
        for (key, revision) in acknowledged where stored[key] != revision {
            missing.append("\(key)@\(revision) (stored: \(stored[key].map(String.init) ?? "absent"))")
        }
        #expect(missing.isEmpty, "\(missing.count) acknowledged writes lost or changed, e.g. \(missing.prefix(5))")
        // Revision order: every client's writes carry increasing revisions, and no two writes
        // share one.
        #expect(Set(acknowledged.map(\.revision)).count == acknowledged.count)
        var lastPerClient: [String: Int64] = [:]
        for (key, revision) in acknowledged {
            let client = key.split(separator: "/").dropLast().joined(separator: "/")
            #expect(revision > lastPerClient[client, default: 0], "\(key) at \(revision) is not after its client's previous write")
            lastPerClient[client] = revision
        }
        // Nothing unacknowledged appeared out of thin air: every stored revision is consecutive.
        let revisions = all.kvs.map(\.modRevision).sorted()
        #expect(revisions.last == Int64(revisions.count), "revisions are not 1...n without gaps")
        #expect(try await store.currentRevision() == Int64(revisions.count))
    }

    /// Runs the crash writer until it acknowledged `acknowledgements` writes, SIGKILLs it, and
    /// returns every acknowledged key with its revision.
    static func storm(writer: String, directory: String, acknowledgements: Int) throws -> [(key: String, revision: Int64)] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: writer)
        process.arguments = ["crash-writer", "--dir", directory, "--clients", "48"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        var buffer = Data()
        var lines = 0
        let deadline = Date().addingTimeInterval(60)
        while lines < acknowledgements + 1 && Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            lines += chunk.reduce(0) { $1 == 0x0A ? $0 + 1 : $0 }
        }
        try runChecked("/bin/kill", ["-KILL", String(process.processIdentifier)])
        process.waitUntilExit()
        buffer.append(output.fileHandleForReading.readDataToEndOfFile())
        #expect(process.terminationReason == .uncaughtSignal, "the writer exited on its own: \(process.terminationStatus)")
        var result: [(key: String, revision: Int64)] = []
        for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("ready") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let revision = Int64(fields[1]) else {
                Issue.record("malformed acknowledgement line: \(line)")
                continue
            }
            result.append((String(fields[0]), revision))
        }
        return result
    }
}

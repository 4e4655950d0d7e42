import Foundation
import LinuxSystem

/// Real etcd members on loopback for tests and the store benchmark: each with its own data
/// directory under `baseDirectory` and random free-looking ports (retried when taken).
/// ``stop()`` kills every member and removes the directories; call it in a `defer`.
public final class EtcdCluster: @unchecked Sendable {
    /// One member. `process` is nil once the member was killed.
    public struct Member {
        public let name: String
        public let clientPort: Int
        public let peerPort: Int
        public let dataDirectory: String
        public var process: SpawnedProcess?
        public var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        public var endpoint: String { "127.0.0.1:\(clientPort)" }
    }

    /// The etcd binary (Debian's etcd-server), when installed.
    public static var binary: String? {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") ? "/usr/bin/etcd" : Host.which("etcd")
    }

    public private(set) var members: [Member]
    public let baseDirectory: String
    private let lock = NSLock()

    /// `host:port` of every member, in order.
    public var endpoints: [String] { members.map(\.endpoint) }
    /// `etcd://` URL naming every member.
    public var storeURL: String { "etcd://" + endpoints.joined(separator: ",") }

    private init(members: [Member], baseDirectory: String) {
        self.members = members
        self.baseDirectory = baseDirectory
    }

    /// Starts `count` members forming one cluster and waits until it is healthy.
    public static func start(members count: Int, baseDirectory: String, extraArguments: [String] = []) throws -> EtcdCluster {
        guard let binary else { throw CommandError(command: ["etcd"], result: CommandResult(status: 127, stdout: "", stderr: "etcd is not installed")) }
        var lastError: (any Error)?
        for attempt in 0..<4 {
            let base = UInt16.random(in: 20000...50000)
            let cluster = EtcdCluster(members: (0..<count).map { index in
                Member(name: "m\(index)", clientPort: Int(base) + 2 * index, peerPort: Int(base) + 2 * index + 1,
                       dataDirectory: baseDirectory + "/attempt\(attempt)/m\(index)", process: nil)
            }, baseDirectory: baseDirectory)
            do {
                try cluster.launch(binary: binary, extraArguments: extraArguments, token: "nodekit-\(Host.runSuffix)-\(base)")
                try cluster.waitHealthy(timeout: 30)
                return cluster
            } catch {
                lastError = error
                cluster.stop(removingFiles: false)
            }
        }
        throw lastError!
    }

    private func launch(binary: String, extraArguments: [String], token: String) throws {
        let initialCluster = members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
        for index in members.indices {
            let member = members[index]
            try FileManager.default.createDirectory(atPath: member.dataDirectory, withIntermediateDirectories: true)
            let log = member.dataDirectory + ".log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let process = try spawn(binary, [
                "--name", member.name, "--data-dir", member.dataDirectory,
                "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
                "--listen-peer-urls", "http://127.0.0.1:\(member.peerPort)",
                "--initial-advertise-peer-urls", "http://127.0.0.1:\(member.peerPort)",
                "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", token,
            ] + extraArguments, outputPath: log)
            lock.withLock { members[index].process = process }
        }
    }

    /// Waits until every running member answers `etcdctl endpoint health`.
    public func waitHealthy(timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        let running = lock.withLock { members.filter { $0.process != nil }.map(\.endpoint) }
        while true {
            if lock.withLock({ members.contains { (try? $0.process?.exitStatusIfExited()) != nil } }) {
                throw CommandError(command: ["etcd"], result: CommandResult(status: 1, stdout: "", stderr: "an etcd member exited at startup (port taken?); see \(baseDirectory)"))
            }
            let result = try run("etcdctl", ["--endpoints", running.joined(separator: ","), "--dial-timeout", "1s", "--command-timeout", "2s", "endpoint", "health"],
                                 environment: ["ETCDCTL_API": "3"])
            if result.status == 0 { return }
            if Date() > deadline {
                throw CommandError(command: ["etcdctl", "endpoint", "health"], result: result)
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Kills member `index` with SIGKILL (no graceful shutdown) and waits for it to exit.
    public func kill(member index: Int) throws {
        guard let process = lock.withLock({ () -> SpawnedProcess? in
            let process = members[index].process
            members[index].process = nil
            return process
        }) else { return }
        process.kill(SIGKILL)
        try process.wait()
    }

    /// Kills every member and, unless told otherwise, removes the data directories.
    public func stop(removingFiles: Bool = true) {
        for index in members.indices { try? kill(member: index) }
        if removingFiles { try? FileManager.default.removeItem(atPath: baseDirectory) }
    }
}

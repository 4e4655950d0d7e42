import CRI
import Foundation
import LinuxSystem
import Logging

/// Container log files as the runtime writes them (CRI log format at `ContainerStatus.log_path`):
/// reading their tail, and rotating them the way upstream's container log manager does.
public enum ContainerLogFiles {
    /// The messages of the last `lines` log entries of the file at `path`, joined by newlines,
    /// cut to the last `maxBytes` bytes. Empty when the file is missing or unreadable; lines
    /// that are not in the CRI log format are kept as they are.
    public static func tail(path: String, lines: Int, maxBytes: Int) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        // Only the end matters; a generous window keeps whole lines for the parser.
        let window = data.suffix(max(maxBytes * 4, 64 * 1024))
        var text = String(decoding: window, as: UTF8.self)
        if window.count < data.count, let newline = text.firstIndex(of: "\n") { text = String(text[text.index(after: newline)...]) }
        let messages: [String]
        if let entries = try? ContainerLogEntry.parse(text) {
            messages = entries.map(\.message)
        } else {
            messages = text.split(separator: "\n").map(String.init)
        }
        let joined = messages.suffix(lines).joined(separator: "\n")
        let bytes = Array(joined.utf8)
        return bytes.count <= maxBytes ? joined : String(decoding: bytes.suffix(maxBytes), as: UTF8.self)
    }
}

/// Rotation limits: upstream's `containerLogMaxSize` (10 MiB) and `containerLogMaxFiles` (5,
/// the live file included).
public struct ContainerLogPolicy: Sendable, Hashable {
    public var maxSizeBytes: Int64
    public var maxFiles: Int

    public init(maxSizeBytes: Int64 = 10 * 1024 * 1024, maxFiles: Int = 5) {
        self.maxSizeBytes = maxSizeBytes
        self.maxFiles = max(2, maxFiles)
    }
}

/// Rotates the logs of running containers. One pass (``rotateAll()``) looks at every running
/// container the kubelet made; a log larger than the limit is renamed to
/// `<log>.<yyyyMMdd-HHmmss>` and the runtime is asked (CRI ReopenContainerLog) to write a new
/// file at the old path; if it refuses, the rename is undone. Before rotating, rotated files
/// beyond `maxFiles - 2` are removed, oldest first, so that with the new rotated file and the
/// live one a container keeps at most `maxFiles` files. Rotated files are not compressed
/// (upstream gzips all but the newest).
///
/// Concurrency: an actor; passes do not overlap. The kubelet's loop runs one every 10 s.
public actor ContainerLogRotator {
    let runtime: any ContainerRuntime
    let inspector: RuntimeInspector
    public let policy: ContainerLogPolicy
    let clock: any KubeletClock
    let logger: Logger

    public init(runtime: any ContainerRuntime, policy: ContainerLogPolicy = ContainerLogPolicy(), clock: any KubeletClock = SystemClock(),
                logger: Logger = Logger(label: "nodekit.kubelet")) {
        self.runtime = runtime
        self.inspector = RuntimeInspector(runtime: runtime)
        self.policy = policy
        self.clock = clock
        self.logger = logger
    }

    /// One pass over every running container. Returns the ids of the containers rotated.
    /// Failures are per container: logged, and retried on the next pass.
    @discardableResult
    public func rotateAll() async throws(KubeletError) -> [String] {
        var rotated: [String] = []
        for pod in try await inspector.allPods().values {
            for container in pod.runningContainers where !container.logPath.isEmpty {
                do {
                    if try await rotate(container) { rotated.append(container.id) }
                } catch {
                    logger.warning("log rotation failed", metadata: ["container": "\(container.id)", "path": "\(container.logPath)", "error": "\(error)"])
                }
            }
        }
        return rotated.sorted()
    }

    /// Rotates one container's log if it is over the limit; returns whether it did.
    func rotate(_ container: RuntimeContainer) async throws(KubeletError) -> Bool {
        let path = container.logPath
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
        guard size > policy.maxSizeBytes else { return false }
        try removeExcess(path)
        let rotated = path + "." + Self.suffix(clock.now())
        do { try SystemFile.rename(path, to: rotated) } catch {
            throw KubeletError(.runtime, "rotate log \(path) of container \(container.id)", cause: error)
        }
        var request = Runtime_V1_ReopenContainerLogRequest()
        request.containerID = container.id
        do { _ = try await runtime.reopenContainerLog(request) } catch {
            // The runtime still writes to the renamed file; give it back its name.
            try? SystemFile.rename(rotated, to: path)
            throw KubeletError(.runtime, "reopen log of container \(container.id) after rotating \(path)", cause: error)
        }
        logger.info("rotated container log", metadata: ["container": "\(container.id)", "path": "\(rotated)", "bytes": "\(size)"])
        return true
    }

    /// The rotated files of the log at `path` (`<path>.<suffix>`), oldest first.
    public static func rotatedFiles(of path: String) -> [String] {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent + "."
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix(base) && !$0.hasSuffix(".tmp") }.sorted().map { dir + "/" + $0 }
    }

    func removeExcess(_ path: String) throws(KubeletError) {
        let rotated = Self.rotatedFiles(of: path)
        let keep = policy.maxFiles - 2
        for old in rotated.dropLast(keep) {
            do { try SystemFile.unlink(old) } catch {
                throw KubeletError(.runtime, "remove old rotated log \(old)", cause: error)
            }
        }
    }

    /// `20261125-194501`, upstream's rotation suffix (UTC), made unique within a second by the
    /// caller's rate (one rotation per container per pass).
    static func suffix(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: date)
    }
}

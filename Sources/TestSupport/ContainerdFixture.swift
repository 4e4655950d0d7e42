import CRI
import Foundation
import Synchronization

/// A private containerd for one integration test: its own state dir
/// (`/tmp/nk-it-<runSuffix>-<n>`), socket, CNI config, bridge and pod CIDR, with Nodekit's
/// pause and busybox images imported. Started with `hack/containerd.sh start` and
/// `hack/images.sh import`; ``shutdown()`` runs `hack/containerd.sh purge` (kills tasks, stops
/// containerd and its shims, unmounts, removes the state dir) and deletes the bridge.
///
/// Check ``skipReason`` before ``start()``: tests skip, saying why, without root, containerd or
/// the images built by `hack/images.sh build` (out/images/*.tar).
public final class ContainerdFixture: Sendable {
    public let stateDir: String
    public let socketPath: String
    /// The Linux bridge the pod network of this containerd uses.
    public let bridge: String
    public let podCIDR: String

    private static let counter = Mutex(0)

    /// The images `hack/images.sh build` writes, and the ones tests rely on.
    public static let imageArchives = ["pause.tar", "busybox.tar"]
    public static let busyboxImage = "docker.io/nodekit/busybox:latest"
    public static let pauseImage = "docker.io/nodekit/pause:latest"

    /// Why a containerd cannot be started here, or nil when it can.
    public static var skipReason: String? {
        if !Host.isRoot { return "needs root to run containerd" }
        for tool in ["containerd", "ctr", "runc"] where Host.which(tool) == nil {
            return "needs \(tool) (run hack/setup.sh)"
        }
        let root = Host.repositoryRoot
        for script in ["hack/containerd.sh", "hack/images.sh"]
        where !FileManager.default.isExecutableFile(atPath: root.appendingPathComponent(script).path) {
            return "needs \(script)"
        }
        let images = root.appendingPathComponent("out/images")
        for archive in imageArchives where !FileManager.default.fileExists(atPath: images.appendingPathComponent(archive).path) {
            return "needs out/images/\(archive) (run hack/images.sh build)"
        }
        return nil
    }

    private init(stateDir: String, socketPath: String, bridge: String, podCIDR: String) {
        self.stateDir = stateDir
        self.socketPath = socketPath
        self.bridge = bridge
        self.podCIDR = podCIDR
    }

    /// Starts containerd and imports the images. On failure it cleans up what it started and
    /// throws the failing command's error (with its stderr).
    public static func start() throws -> ContainerdFixture {
        let n = counter.withLock { value in
            value += 1
            return value
        }
        let fixture = ContainerdFixture(
            stateDir: "/tmp/nk-it-\(Host.runSuffix)-\(n)",
            socketPath: "/tmp/nk-it-\(Host.runSuffix)-\(n)/containerd/containerd.sock",
            // Interface names hold 15 bytes; the suffix keeps parallel runs on separate bridges.
            bridge: String("nkt\(n)\(Host.runSuffix)".prefix(15)),
            // A /24 per fixture, away from the default 10.244.0.0/24 of a node's own containerd.
            podCIDR: "10.\(200 + n % 50).\(Int.random(in: 0..<256)).0/24")
        do {
            try fixture.script("hack/containerd.sh", "start")
            try fixture.script("hack/images.sh", "import")
        } catch {
            try? fixture.shutdown()
            throw error
        }
        return fixture
    }

    /// The environment the hack scripts see for this containerd.
    public var environment: [String: String] {
        var environment = ["NODEKIT_STATE_DIR": stateDir, "NODEKIT_BRIDGE": bridge, "NODEKIT_POD_CIDR": podCIDR]
        // Until the nodekit-cni network config exists, use the reference plugins even if a
        // nodekit-cni binary has been built.
        if !FileManager.default.fileExists(atPath: Host.repositoryRoot.appendingPathComponent("cni/10-nodekit.conflist").path) {
            environment["NODEKIT_CNI_BIN"] = "/nonexistent/nodekit-cni"
        }
        return environment
    }

    /// Runs `ctr` against this containerd in the k8s.io namespace.
    @discardableResult
    public func ctr(_ arguments: String...) throws -> CommandResult {
        try runChecked("ctr", ["-a", socketPath, "-n", "k8s.io"] + arguments)
    }

    /// Stops containerd and removes everything it made: tasks, shims, mounts, the state dir and
    /// the bridge. Safe to call twice.
    public func shutdown() throws {
        try script("hack/containerd.sh", "purge")
        if FileManager.default.fileExists(atPath: "/sys/class/net/\(bridge)") {
            try runChecked("ip", ["link", "delete", bridge])
        }
    }

    /// Stops containerd (SIGTERM, as a service manager would) and leaves its shims, tasks and
    /// state in place, so ``startContainerd()`` brings the same containers back.
    public func stopContainerd() throws {
        try script("hack/containerd.sh", "stop")
    }

    /// Starts this fixture's containerd again after ``stopContainerd()``; returns once CRI answers.
    public func startContainerd() throws {
        try script("hack/containerd.sh", "start")
    }

    /// A pod sandbox config for a test pod: unique name and uid, logs under the state dir, no
    /// host namespaces.
    public func sandboxConfig(name: String) -> Runtime_V1_PodSandboxConfig {
        var config = Runtime_V1_PodSandboxConfig()
        config.metadata.name = name
        config.metadata.namespace = "nodekit-it"
        config.metadata.uid = "uid-\(name)-\(Host.runSuffix)"
        config.hostname = String(name.prefix(63))
        config.logDirectory = stateDir + "/pods/" + config.metadata.uid
        config.labels = ["nodekit.io/test": Host.runSuffix]
        return config
    }

    /// A busybox container running `command`, logging to `<name>/0.log` in the pod's log dir.
    public static func busyboxContainer(name: String, command: [String]) -> Runtime_V1_ContainerConfig {
        var config = Runtime_V1_ContainerConfig()
        config.metadata.name = name
        config.image.image = busyboxImage
        config.command = command
        config.logPath = name + "/0.log"
        return config
    }

    /// Runs a hack script with its output in a file: containerd, which `start` leaves running,
    /// would otherwise inherit the output pipe and keep it open, so reading it never ends.
    @discardableResult
    private func script(_ path: String, _ argument: String) throws -> CommandResult {
        let log = "/tmp/nk-it-\(Host.runSuffix)-\(bridge)-\(argument).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let command = "'\(Host.repositoryRoot.appendingPathComponent(path).path)' \(argument) </dev/null >'\(log)' 2>&1"
        var result = try run("/bin/sh", ["-c", command], environment: environment)
        result.stdout = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard result.status == 0 else {
            result.stderr = result.stdout
            throw CommandError(command: [path, argument], result: result)
        }
        return result
    }
}

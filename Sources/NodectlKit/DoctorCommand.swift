import ArgumentParser
import CRI
import Foundation
import LinuxSystem
import Yams

/// One doctor check's outcome.
public struct DoctorCheck: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        /// Works.
        case ok
        /// Missing, but Nodekit has a fallback (e.g. IPVS absent: use nftables or iptables).
        case warn
        /// Nodekit cannot work as configured until it is fixed.
        case fail
    }
    public var name: String
    public var status: Status
    public var detail: String
    /// What to do, empty when the check is ok.
    public var fix: String

    public init(_ name: String, _ status: Status, _ detail: String, fix: String = "") {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// What `nodectl doctor` found on the host, gathered once; the checks are pure functions of it.
public struct DoctorFacts: Sendable, Hashable {
    /// `nft list tables`: nil when nft is not installed, else (exit status, stderr).
    public var nftList: CommandOutcome?
    /// `iptables --version` and `iptables-legacy --version` output, nil when absent or failing.
    public var iptablesVersion: String?
    public var iptablesLegacyVersion: String?
    /// /proc/net/ip_vs exists (the ip_vs module is loaded).
    public var ipvsLoaded: Bool
    /// `ip_vs` is among the kernel's modules (modules.dep of the running kernel).
    public var ipvsModuleAvailable: Bool
    public var cgroupMode: CgroupMode
    public var cgroupControllers: [String]
    /// /proc/filesystems.
    public var filesystems: String
    /// The CRI endpoint tried and what Version answered: "containerd 1.6.20 (CRI v1)" or the error.
    public var criEndpoint: String
    public var criVersion: Result<String, DoctorError>
    /// The CNI config directory, its config files, the plugin types the first one names, and
    /// the directories searched for plugins with what each holds.
    public var cniConfigDirectory: String
    public var cniConfigFiles: [String]
    public var cniPluginTypes: [String]
    public var cniBinDirectories: [String: [String]]
    /// Sysctl values; nil when the key does not exist.
    public var ipForward: String?
    public var bridgeNFCallIPTables: String?

    public struct CommandOutcome: Sendable, Hashable {
        public var status: Int32
        public var stderr: String
        public init(status: Int32, stderr: String) {
            self.status = status
            self.stderr = stderr
        }
    }

    public init(nftList: CommandOutcome?, iptablesVersion: String?, iptablesLegacyVersion: String?, ipvsLoaded: Bool, ipvsModuleAvailable: Bool,
                cgroupMode: CgroupMode, cgroupControllers: [String], filesystems: String, criEndpoint: String, criVersion: Result<String, DoctorError>,
                cniConfigDirectory: String, cniConfigFiles: [String], cniPluginTypes: [String], cniBinDirectories: [String: [String]],
                ipForward: String?, bridgeNFCallIPTables: String?) {
        self.nftList = nftList
        self.iptablesVersion = iptablesVersion
        self.iptablesLegacyVersion = iptablesLegacyVersion
        self.ipvsLoaded = ipvsLoaded
        self.ipvsModuleAvailable = ipvsModuleAvailable
        self.cgroupMode = cgroupMode
        self.cgroupControllers = cgroupControllers
        self.filesystems = filesystems
        self.criEndpoint = criEndpoint
        self.criVersion = criVersion
        self.cniConfigDirectory = cniConfigDirectory
        self.cniConfigFiles = cniConfigFiles
        self.cniPluginTypes = cniPluginTypes
        self.cniBinDirectories = cniBinDirectories
        self.ipForward = ipForward
        self.bridgeNFCallIPTables = bridgeNFCallIPTables
    }
}

/// A failure message carried in ``DoctorFacts``.
public struct DoctorError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The checks: each fact becomes ok, a warning or a failure with its fix.
public enum Doctor {
    public static func evaluate(_ f: DoctorFacts) -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        switch f.nftList {
        case nil:
            checks.append(DoctorCheck("nftables", .fail, "nft is not installed", fix: "apt-get install nftables"))
        case let outcome? where outcome.status == 0:
            checks.append(DoctorCheck("nftables", .ok, "the kernel answers nftables netlink requests (nft list tables)"))
        case let outcome?:
            checks.append(DoctorCheck("nftables", .fail, "nft list tables failed: \(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                                      fix: "modprobe nf_tables (and run as root)"))
        }
        var backends: [String] = []
        if let v = f.iptablesVersion { backends.append(v.contains("nf_tables") ? "iptables-nft (\(firstLine(v)))" : "iptables legacy (\(firstLine(v)))") }
        if let v = f.iptablesLegacyVersion { backends.append("iptables-legacy (\(firstLine(v)))") }
        checks.append(backends.isEmpty
            ? DoctorCheck("iptables", .fail, "no iptables binary found", fix: "apt-get install iptables")
            : DoctorCheck("iptables", .ok, backends.joined(separator: ", ")))
        if f.ipvsLoaded {
            checks.append(DoctorCheck("ipvs", .ok, "ip_vs is loaded"))
        } else if f.ipvsModuleAvailable {
            checks.append(DoctorCheck("ipvs", .warn, "ip_vs is not loaded", fix: "modprobe ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack"))
        } else {
            checks.append(DoctorCheck("ipvs", .warn, "IPVS is not available in this kernel (no ip_vs module)",
                                      fix: "use the nftables or iptables proxy mode, or a kernel built with CONFIG_IP_VS"))
        }
        let needed = ["cpu", "cpuacct", "memory", "pids"].filter { f.cgroupMode != .v2 || $0 != "cpuacct" }
        let missing = needed.filter { !f.cgroupControllers.contains($0) }
        checks.append(missing.isEmpty
            ? DoctorCheck("cgroups", .ok, "\(f.cgroupMode.rawValue) with \(f.cgroupControllers.joined(separator: ","))")
            : DoctorCheck("cgroups", .fail, "\(f.cgroupMode.rawValue): controllers \(missing.joined(separator: ", ")) not enabled",
                          fix: "enable them on the kernel command line (cgroup_enable=memory) or mount them"))
        let hasOverlay = f.filesystems.split(separator: "\n").contains { $0.split(separator: "\t").last == "overlay" }
        checks.append(hasOverlay
            ? DoctorCheck("overlayfs", .ok, "overlay is in /proc/filesystems")
            : DoctorCheck("overlayfs", .fail, "overlay is not in /proc/filesystems", fix: "modprobe overlay"))
        switch f.criVersion {
        case .success(let version):
            checks.append(DoctorCheck("containerd", .ok, "\(f.criEndpoint): \(version)"))
        case .failure(let error):
            checks.append(DoctorCheck("containerd", .fail, "\(f.criEndpoint): \(error)",
                                      fix: "start containerd (hack/containerd.sh) or pass --runtime-endpoint"))
        }
        if f.cniConfigFiles.isEmpty {
            checks.append(DoctorCheck("cni config", .fail, "no .conf or .conflist in \(f.cniConfigDirectory)",
                                      fix: "install cni/10-nodekit.conflist into \(f.cniConfigDirectory)"))
        } else {
            checks.append(DoctorCheck("cni config", .ok, "\(f.cniConfigDirectory)/\(f.cniConfigFiles[0]) (plugins: \(f.cniPluginTypes.joined(separator: ", ")))"))
            let found = Set(f.cniBinDirectories.values.joined())
            let absent = f.cniPluginTypes.filter { !found.contains($0) }
            let dirs = f.cniBinDirectories.keys.sorted().joined(separator: ", ")
            checks.append(absent.isEmpty
                ? DoctorCheck("cni plugins", .ok, "all found in \(dirs)")
                : DoctorCheck("cni plugins", .fail, "\(absent.joined(separator: ", ")) not found in \(dirs)",
                              fix: "apt-get install containernetworking-plugins; install nodekit-cni next to them"))
        }
        checks.append(f.ipForward == "1"
            ? DoctorCheck("net.ipv4.ip_forward", .ok, "1")
            : DoctorCheck("net.ipv4.ip_forward", .fail, f.ipForward.map { "is \($0)" } ?? "cannot be read", fix: "sysctl -w net.ipv4.ip_forward=1"))
        switch f.bridgeNFCallIPTables {
        case "1": checks.append(DoctorCheck("net.bridge.bridge-nf-call-iptables", .ok, "1"))
        case nil:
            checks.append(DoctorCheck("net.bridge.bridge-nf-call-iptables", .fail, "absent: br_netfilter is not loaded",
                                      fix: "modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1"))
        case let value?:
            checks.append(DoctorCheck("net.bridge.bridge-nf-call-iptables", .fail, "is \(value)", fix: "sysctl -w net.bridge.bridge-nf-call-iptables=1"))
        }
        return checks
    }

    static func firstLine(_ s: String) -> String {
        s.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }

    /// One line per check: `ok    name: detail`, or the problem with `fix: ...`.
    public static func render(_ checks: [DoctorCheck]) -> String {
        let width = checks.map(\.name.count).max() ?? 0
        return checks.map { check in
            let name = check.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let line = "\(check.status.rawValue.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0)) \(name)  \(check.detail)"
            return check.fix.isEmpty ? line : line + " (fix: \(check.fix))"
        }.joined(separator: "\n") + "\n"
    }
}

extension DoctorFacts {
    /// Reads this host. Commands run through LinuxSystem's ChildProcess; nothing is changed.
    public static func gather(runtimeEndpoint: String?, cniConfigDirectory: String, cniBinDirectories: [String], timeout: Duration) async -> DoctorFacts {
        func which(_ name: String) -> String? {
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map { "\($0)/\(name)" }.first { FileOps.isExecutable($0) }
        }
        func run(_ tool: String, _ args: [String]) -> ChildProcess.Output? {
            guard let path = which(tool) else { return nil }
            return try? ChildProcess.run(path, arguments: [path] + args, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], input: [])
        }
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        let nft = run("nft", ["list", "tables"]).map { CommandOutcome(status: $0.status, stderr: text($0.stderr)) }
        let ipt = run("iptables", ["--version"]).flatMap { $0.status == 0 ? text($0.stdout) : nil }
        let legacy = run("iptables-legacy", ["--version"]).flatMap { $0.status == 0 ? text($0.stdout) : nil }
        let kernel = (try? Sysctl.read("kernel.osrelease")) ?? ""
        let modulesDep = (try? FileOps.readIfExists("/lib/modules/\(kernel)/modules.dep")).flatMap { $0.map(text) } ?? ""
        let cgroups = Cgroups()
        var endpointText = runtimeEndpoint ?? "default endpoint"
        let version: Result<String, DoctorError>
        do {
            let endpoint = try runtimeEndpoint.map { (s) throws(CRIError) in try RuntimeEndpoint(parsing: s) } ?? RuntimeEndpoint.nodekitDefault()
            endpointText = endpoint.description
            version = try await CRIClient.with(endpoint: endpoint, timeouts: .uniform(timeout)) { client in
                let v = try await client.version(Runtime_V1_VersionRequest(), timeout: timeout)
                return .success("\(v.runtimeName) \(v.runtimeVersion) (CRI \(v.runtimeApiVersion))")
            }
        } catch {
            version = .failure(DoctorError("\(error)"))
        }
        let configs = ((try? FileOps.list(cniConfigDirectory)) ?? []).filter { $0.hasSuffix(".conf") || $0.hasSuffix(".conflist") }.sorted()
        var types: [String] = []
        if let first = configs.first, let bytes = try? FileOps.read(cniConfigDirectory + "/" + first),
           let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] {
            let plugins = (object["plugins"] as? [[String: Any]]) ?? [object]
            types = plugins.compactMap { $0["type"] as? String }
        }
        var bins: [String: [String]] = [:]
        for dir in cniBinDirectories where FileOps.exists(dir) { bins[dir] = (try? FileOps.list(dir)) ?? [] }
        return DoctorFacts(
            nftList: nft, iptablesVersion: ipt, iptablesLegacyVersion: legacy, ipvsLoaded: FileOps.exists("/proc/net/ip_vs"),
            ipvsModuleAvailable: modulesDep.contains("/ip_vs.ko"), cgroupMode: cgroups.mode(),
            cgroupControllers: (try? cgroups.enabledControllers()) ?? [], filesystems: (try? FileOps.read("/proc/filesystems")).map(text) ?? "",
            criEndpoint: endpointText, criVersion: version, cniConfigDirectory: cniConfigDirectory, cniConfigFiles: configs,
            cniPluginTypes: types, cniBinDirectories: bins, ipForward: try? Sysctl.read("net.ipv4.ip_forward"),
            bridgeNFCallIPTables: try? Sysctl.read("net.bridge.bridge-nf-call-iptables"))
    }
}

/// `nodectl doctor`: checks the node's kernel features, runtime, CNI and sysctls; one line per
/// check; exits 1 when any check fails (warnings do not fail).
public struct DoctorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the node: nftables, iptables, IPVS, cgroups, overlayfs, containerd/CRI, CNI, sysctls.")

    @Option(name: .customLong("runtime-endpoint"), help: "CRI socket (default: the Nodekit containerd socket).")
    var runtimeEndpoint: String?
    @Option(name: .customLong("cni-conf-dir"), help: "CNI config directory.")
    var cniConfigDirectory = "/etc/cni/net.d"
    @Option(name: .customLong("cni-bin-dir"), help: "CNI plugin directories (repeatable).")
    var cniBinDirectories: [String] = ["/opt/cni/bin", "/usr/lib/cni"]
    @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table

    public init() {}

    public func run() async throws {
        let facts = await DoctorFacts.gather(runtimeEndpoint: runtimeEndpoint, cniConfigDirectory: cniConfigDirectory,
                                             cniBinDirectories: cniBinDirectories, timeout: .seconds(5))
        let checks = Doctor.evaluate(facts)
        switch output {
        case .table: CRICommand.write(Doctor.render(checks))
        case .json, .yaml: CRICommand.write(try NodectlOutput.render(checks, as: output))
        }
        if checks.contains(where: { $0.status == .fail }) { throw ExitCode.failure }
    }
}

/// JSON (sorted keys, indented) or YAML of any Encodable, for nodectl's own views.
enum NodectlOutput {
    static func render(_ value: some Encodable, as format: OutputFormat) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        if format == .yaml {
            let tree = try JSONDecoder().decode(JSONValue.self, from: data)
            return try Yams.serialize(node: tree.yamlNode())
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

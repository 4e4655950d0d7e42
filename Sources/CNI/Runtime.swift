import LinuxSystem

/// A network configuration list (`.conflist`): a named chain of plugin configs.
public struct NetworkConfigList: Sendable, Equatable {
    public var cniVersion: String
    public var name: String
    public var disableCheck: Bool
    /// Each plugin's config as written (with "type"); the runtime adds name, cniVersion,
    /// prevResult and runtimeConfig when it invokes it.
    public var plugins: [JSONValue]

    /// Parses a conflist. Codes: 6 bad JSON, 1 unsupported version, 7 missing fields.
    public init(json: JSONValue) throws(CNIError) {
        guard case .object = json else { throw CNIError(CNIError.decodingFailure, "conflist is not a JSON object") }
        let version = json["cniVersion"]?.stringValue ?? ""
        guard CNIVersion.supported.contains(version) else {
            throw CNIError(CNIError.incompatibleVersion, "conflist cniVersion \"\(version)\" is not supported")
        }
        guard let name = json["name"]?.stringValue, !name.isEmpty else { throw CNIError(CNIError.invalidNetworkConfig, "conflist needs a \"name\"") }
        guard let plugins = json["plugins"]?.arrayValue, !plugins.isEmpty else {
            throw CNIError(CNIError.invalidNetworkConfig, "conflist \(name) needs a non-empty \"plugins\" list")
        }
        for (i, plugin) in plugins.enumerated() where plugin["type"]?.stringValue?.isEmpty ?? true {
            throw CNIError(CNIError.invalidNetworkConfig, "conflist \(name): plugins[\(i)] has no \"type\"")
        }
        cniVersion = version
        self.name = name
        disableCheck = json["disableCheck"]?.boolValue ?? false
        self.plugins = plugins
    }

    public init(bytes: [UInt8]) throws(CNIError) {
        do { try self.init(json: try JSONValue.parse(bytes)) } catch let error as JSONParseError {
            throw CNIError(CNIError.decodingFailure, "conflist is not valid JSON", details: error.description)
        } catch let error as CNIError {
            throw error
        } catch {
            throw CNIError(CNIError.decodingFailure, "conflist", details: "\(error)")
        }
    }

    /// Reads a conflist file. Code 5 when it cannot be read.
    public static func load(path: String) throws(CNIError) -> NetworkConfigList {
        let bytes: [UInt8]
        do { bytes = try FileOps.read(path) } catch {
            throw CNIError(CNIError.ioFailure, "read conflist \(path)", details: error.description)
        }
        return try NetworkConfigList(bytes: bytes)
    }
}

/// The per-attachment arguments a runtime passes: CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
/// CNI_ARGS and capability arguments (runtimeConfig, e.g. portMappings).
public struct RuntimeConfig: Sendable {
    public var containerID: String
    public var netns: String
    public var ifname: String
    public var args: [(String, String)]
    /// Capability name to value; a plugin receives those it lists in "capabilities".
    public var capabilityArgs: [(String, JSONValue)]

    public init(containerID: String, netns: String, ifname: String = "eth0", args: [(String, String)] = [], capabilityArgs: [(String, JSONValue)] = []) {
        self.containerID = containerID
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.capabilityArgs = capabilityArgs
    }
}

/// A CNI runtime in the manner of libcni: finds plugin executables in `pluginDirs`, runs a
/// conflist's chain with prevResult, caches the ADD result under `cacheDir`, runs DEL in
/// reverse order with the cached result, and CHECK.
///
/// When `namespace` is set, plugins run inside it (as if the runtime lived there); tests use
/// this to keep the "node" side in a netns of their own. Thread-safe; concurrent calls for
/// different attachments are fine (the spec forbids concurrent calls for the same one).
public struct CNIRuntime: Sendable {
    public var pluginDirs: [String]
    public var cacheDir: String
    public var namespace: NetworkNamespace?

    public init(pluginDirs: [String], cacheDir: String = "/var/lib/cni", namespace: NetworkNamespace? = nil) {
        self.pluginDirs = pluginDirs
        self.cacheDir = cacheDir
        self.namespace = namespace
    }

    /// Adds the attachment to every network of the chain in order and returns the last
    /// plugin's result. On failure, runs DEL for the chain (best effort) and throws the error.
    public func add(_ list: NetworkConfigList, _ rt: RuntimeConfig) throws(CNIError) -> CNIResult {
        var prev: JSONValue?
        for plugin in list.plugins {
            do throws(CNIError) {
                prev = try invoke("ADD", plugin: plugin, list: list, rt: rt, prevResult: prev)
            } catch {
                try? delete(list, rt, prevResult: prev)
                throw error
            }
        }
        guard let prev else { throw CNIError(CNIError.decodingFailure, "the chain of \(list.name) returned no result") }
        let result = try CNIResult(json: prev)
        try writeCache(list, rt, result: prev)
        return result
    }

    /// Runs CHECK through the chain with the cached result. Code 3 when nothing is cached.
    public func check(_ list: NetworkConfigList, _ rt: RuntimeConfig) throws(CNIError) {
        if list.disableCheck { return }
        guard let prev = try cachedResult(list, rt) else {
            throw CNIError(CNIError.unknownContainer, "no cached result for \(rt.containerID)/\(rt.ifname) in \(list.name)")
        }
        for plugin in list.plugins { _ = try invoke("CHECK", plugin: plugin, list: list, rt: rt, prevResult: prev) }
    }

    /// Runs DEL for the chain in reverse order with the cached result (when any), then removes
    /// the cache entry. Idempotent when the plugins are.
    public func delete(_ list: NetworkConfigList, _ rt: RuntimeConfig) throws(CNIError) {
        try delete(list, rt, prevResult: try cachedResult(list, rt))
        do { try FileOps.remove(cachePath(list, rt)) } catch {
            throw CNIError(CNIError.ioFailure, "remove cached result", details: error.description)
        }
    }

    private func delete(_ list: NetworkConfigList, _ rt: RuntimeConfig, prevResult: JSONValue?) throws(CNIError) {
        for plugin in list.plugins.reversed() { _ = try invoke("DEL", plugin: plugin, list: list, rt: rt, prevResult: prevResult) }
    }

    /// Asks every plugin of the chain for STATUS (plugins that predate CNI 1.1 are skipped).
    public func status(_ list: NetworkConfigList) throws(CNIError) {
        for plugin in list.plugins where try supportsStatus(plugin, list: list) {
            _ = try invoke("STATUS", plugin: plugin, list: list, rt: nil, prevResult: nil)
        }
    }

    /// Runs GC on every plugin with `valid` as `cni.dev/valid-attachments`.
    public func gc(_ list: NetworkConfigList, valid: [Attachment]) throws(CNIError) {
        let attachments: JSONValue = .array(valid.map { .object([("containerID", .string($0.containerID)), ("ifname", .string($0.ifname))]) })
        for plugin in list.plugins where try supportsStatus(plugin, list: list) {
            var config = plugin
            config.set("cni.dev/valid-attachments", attachments)
            _ = try invoke("GC", plugin: config, list: list, rt: nil, prevResult: nil)
        }
    }

    /// The plugin's VERSION answer.
    public func version(pluginType: String) throws(CNIError) -> JSONValue {
        let config: JSONValue = .object([("cniVersion", .string(CNIVersion.latest))])
        let out = try exec(pluginType, command: "VERSION", stdin: config.bytes, rt: nil)
        return out ?? .null
    }

    /// The cached ADD result of an attachment, or nil.
    public func cachedResult(_ list: NetworkConfigList, _ rt: RuntimeConfig) throws(CNIError) -> JSONValue? {
        let bytes: [UInt8]?
        do { bytes = try FileOps.readIfExists(cachePath(list, rt)) } catch {
            throw CNIError(CNIError.ioFailure, "read cached result", details: error.description)
        }
        guard let bytes else { return nil }
        do { return try JSONValue.parse(bytes)["result"] } catch {
            throw CNIError(CNIError.decodingFailure, "cached result \(cachePath(list, rt)) is not valid JSON", details: error.description)
        }
    }

    /// libcni's cache location: CACHEDIR/results/NETWORK-CONTAINERID-IFNAME.
    public func cachePath(_ list: NetworkConfigList, _ rt: RuntimeConfig) -> String {
        "\(cacheDir)/results/\(list.name)-\(rt.containerID)-\(rt.ifname)"
    }

    private func writeCache(_ list: NetworkConfigList, _ rt: RuntimeConfig, result: JSONValue) throws(CNIError) {
        let entry: JSONValue = .object([
            ("kind", .string("cniCacheV1")), ("containerId", .string(rt.containerID)), ("ifName", .string(rt.ifname)),
            ("networkName", .string(list.name)), ("netns", .string(rt.netns)), ("result", result),
        ])
        do {
            try FileOps.makeDirectories(cacheDir + "/results")
            try FileOps.writeAtomically(cachePath(list, rt), entry.bytes, mode: 0o600)
        } catch {
            throw CNIError(CNIError.ioFailure, "write cached result", details: error.description)
        }
    }

    private func supportsStatus(_ plugin: JSONValue, list: NetworkConfigList) throws(CNIError) -> Bool {
        let type = plugin["type"]?.stringValue ?? ""
        let versions = try version(pluginType: type)["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return versions.contains("1.1.0")
    }

    /// Builds the plugin's stdin config the way libcni does and runs it.
    private func invoke(_ command: String, plugin: JSONValue, list: NetworkConfigList, rt: RuntimeConfig?, prevResult: JSONValue?) throws(CNIError) -> JSONValue? {
        var config = plugin
        config.set("name", .string(list.name))
        config.set("cniVersion", .string(list.cniVersion))
        if let prevResult { config.set("prevResult", prevResult) }
        if let rt, let capabilities = plugin["capabilities"]?.objectValue {
            let wanted = rt.capabilityArgs.filter { arg in capabilities.contains { $0.0 == arg.0 && $0.1 == .bool(true) } }
            if !wanted.isEmpty { config.set("runtimeConfig", .object(wanted)) }
        }
        return try exec(plugin["type"]?.stringValue ?? "", command: command, stdin: config.bytes, rt: rt)
    }

    private func exec(_ type: String, command: String, stdin: [UInt8], rt: RuntimeConfig?) throws(CNIError) -> JSONValue? {
        guard let path = pluginDirs.lazy.map({ $0 + "/" + type }).first(where: FileOps.isExecutable) else {
            throw CNIError(CNIError.pluginNotFound, "plugin \"\(type)\" not found in \(pluginDirs.joined(separator: ":"))")
        }
        var environment = ["CNI_COMMAND=\(command)", "CNI_PATH=\(pluginDirs.joined(separator: ":"))", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        if let rt {
            environment += ["CNI_CONTAINERID=\(rt.containerID)", "CNI_NETNS=\(rt.netns)", "CNI_IFNAME=\(rt.ifname)",
                            "CNI_ARGS=\(rt.args.map { "\($0.0)=\($0.1)" }.joined(separator: ";"))"]
        }
        let run = { () throws(SystemError) -> ChildProcess.Output in
            try ChildProcess.run(path, arguments: [path], environment: environment, input: stdin)
        }
        let output: ChildProcess.Output
        do {
            if let namespace {
                output = try namespace.run { try run() }
            } else {
                output = try run()
            }
        } catch {
            throw CNIError(CNIError.pluginNotFound, "run plugin \(path) \(command)", details: "\(error)")
        }
        let text = output.stdout
        let json: JSONValue? = text.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) ? nil : try? JSONValue.parse(text)
        if output.status != 0 {
            if let json, let error = CNIError(json: json) { throw error }
            let stderr = String(decoding: output.stderr.suffix(500), as: UTF8.self)
            throw CNIError(CNIError.ioFailure, "plugin \(type) \(command) exited \(output.status)", details: stderr + String(decoding: text.prefix(500), as: UTF8.self))
        }
        if json == nil && !text.isEmpty && command == "ADD" {
            throw CNIError(CNIError.decodingFailure, "plugin \(type) ADD printed invalid JSON", details: String(decoding: text.prefix(500), as: UTF8.self))
        }
        return json
    }
}

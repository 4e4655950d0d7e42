/// The plugin's entry point as a pure function of environment and stdin, so tests can run
/// every command in-process: returns what to print on stdout and the exit code.
public enum PluginCommand {
    public struct Output: Sendable {
        /// JSON for stdout (empty for DEL, CHECK, STATUS and GC on success).
        public var stdout: String
        public var exitCode: Int32
    }

    public static func run(environment: [String: String], stdin: [UInt8], kernel: any PodNetworkKernel) -> Output {
        // Errors are reported in the config's cniVersion when it could be read.
        var version = CNIVersion.latest
        do throws(CNIError) {
            let invocation = try PluginInvocation(environment: environment)
            let json: JSONValue
            do { json = try JSONValue.parse(stdin) } catch {
                throw CNIError(CNIError.decodingFailure, "network config on stdin is not valid JSON", details: error.description)
            }
            if let v = json["cniVersion"]?.stringValue, CNIVersion.supported.contains(v) { version = v }
            if invocation.command == "VERSION" {
                let out: JSONValue = .object([("cniVersion", .string(version)), ("supportedVersions", .array(CNIVersion.supported.map { .string($0) }))])
                return Output(stdout: out.description, exitCode: 0)
            }
            let config = try BridgeNetworkConfig(json: json)
            let plugin = BridgePlugin(kernel: kernel)
            switch invocation.command {
            case "ADD":
                let result = try plugin.add(invocation, config: config)
                return Output(stdout: result.json(version: config.cniVersion).description, exitCode: 0)
            case "DEL":
                try plugin.delete(invocation, config: config)
            case "CHECK":
                guard let prev = json["prevResult"] else {
                    throw CNIError(CNIError.invalidNetworkConfig, "CHECK needs prevResult in the network config")
                }
                try plugin.check(invocation, config: config, prevResult: try CNIResult(json: prev))
            case "STATUS":
                try plugin.status(config: config)
            case "GC":
                var valid: Set<Attachment> = []
                for item in json["cni.dev/valid-attachments"]?.arrayValue ?? [] {
                    guard let id = item["containerID"]?.stringValue, let ifname = item["ifname"]?.stringValue else {
                        throw CNIError(CNIError.invalidNetworkConfig, "cni.dev/valid-attachments entries need containerID and ifname")
                    }
                    valid.insert(Attachment(containerID: id, ifname: ifname))
                }
                try plugin.gc(config: config, valid: valid)
            default:
                throw CNIError(CNIError.invalidEnvironment, "CNI_COMMAND \"\(invocation.command)\" is not supported")
            }
            return Output(stdout: "", exitCode: 0)
        } catch {
            return Output(stdout: error.json(cniVersion: version).description, exitCode: 1)
        }
    }
}

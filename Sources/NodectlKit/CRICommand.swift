import ArgumentParser
import CRI
import Foundation

/// `nodectl cri …`: crictl-style views of the node's container runtime.
public struct CRICommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cri",
        abstract: "Show the container runtime's state over CRI (like crictl).",
        subcommands: [Version.self, Info.self, Images.self, Pods.self, PS.self, Inspect.self, Exec.self, Logs.self])

    public init() {}

    /// Options every `cri` subcommand takes.
    public struct Options: ParsableArguments {
        @Option(name: .customLong("runtime-endpoint"),
                help: "CRI socket: unix:///path or /path (default: $NODEKIT_STATE_DIR/containerd/containerd.sock, state dir /run/nodekit)")
        public var runtimeEndpoint: String?

        @Option(help: "Seconds to wait for each CRI call.")
        public var timeout: Int = 10

        public init() {}

        public func endpoint() throws(CRIError) -> RuntimeEndpoint {
            if let runtimeEndpoint { return try RuntimeEndpoint(parsing: runtimeEndpoint) }
            return try RuntimeEndpoint.nodekitDefault()
        }
    }

    /// Connects, runs `body`, closes the connection, and turns every failure into one line on
    /// stderr and exit status 1 (never a stack trace).
    static func run(_ options: Options, _ body: (CRIViews) async throws -> Void) async throws {
        do {
            guard options.timeout > 0 else { throw NodectlError("--timeout must be a positive number of seconds") }
            let endpoint = try options.endpoint()
            try await CRIClient.with(endpoint: endpoint, timeouts: .uniform(.seconds(options.timeout))) { client in
                try await body(CRIViews(runtime: client))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch let error as CRIError {
            switch error.kind {
            case .invalidEndpoint, .socketMissing, .unreachable: throw fail(error.reason)
            case .deadlineExceeded, .runtime: throw fail(error.description)
            }
        } catch {
            throw fail("\(error)")
        }
    }

    /// Prints `nodectl: <message>` to stderr and returns the exit status to throw.
    private static func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("nodectl: \(message)\n".utf8))
        return ExitCode.failure
    }

    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    struct Version: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the runtime's name and version.")
        @OptionGroup var options: Options
        @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table

        func run() async throws {
            try await CRICommand.run(options) { write(try await $0.version(format: output)) }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the runtime's conditions (and its config with -o json|yaml).")
        @OptionGroup var options: Options
        @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table

        func run() async throws {
            try await CRICommand.run(options) { write(try await $0.info(format: output)) }
        }
    }

    struct Images: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List local images.")
        @OptionGroup var options: Options
        @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table
        @Flag(name: .shortAndLong, help: "Print image ids only.") var quiet = false

        func run() async throws {
            try await CRICommand.run(options) { write(try await $0.images(format: output, quiet: quiet)) }
        }
    }

    struct Pods: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pod sandboxes.")
        @OptionGroup var options: Options
        @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table
        @Flag(name: .shortAndLong, help: "Print pod sandbox ids only.") var quiet = false

        func run() async throws {
            try await CRICommand.run(options) { write(try await $0.pods(format: output, quiet: quiet)) }
        }
    }

    struct PS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ps", abstract: "List containers (running ones unless -a).")
        @OptionGroup var options: Options
        @Option(name: .shortAndLong, help: "Output format: table, json or yaml.") var output: OutputFormat = .table
        @Flag(name: .shortAndLong, help: "Show all containers, not only running ones.") var all = false
        @Option(name: .customLong("pod"), help: "Only containers of this pod sandbox id.") var podID: String?
        @Flag(name: .shortAndLong, help: "Print container ids only.") var quiet = false

        func run() async throws {
            try await CRICommand.run(options) {
                write(try await $0.containers(format: output, all: all, podID: podID, quiet: quiet))
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the status of a container or pod sandbox (JSON by default).")
        @OptionGroup var options: Options
        @Option(name: .shortAndLong, help: "Output format: json, yaml or table (a summary).") var output: OutputFormat = .json
        @Argument(help: "Container or pod sandbox id (or unique prefix).") var id: String

        func run() async throws {
            try await CRICommand.run(options) { write(try await $0.inspect(id: id, format: output)) }
        }
    }

    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command in a running container and wait for it (ExecSync).",
            usage: "nodectl cri exec <id> -- <command> [<arg> ...]")
        @OptionGroup var options: Options
        @Option(name: .customLong("exec-timeout"), help: "Seconds the command may run (0: no limit).") var execTimeout: Int64 = 0
        @Argument(help: "Container id (or unique prefix).") var id: String
        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.") var command: [String] = []

        /// The command with the `--` separator removed.
        var commandLine: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

        func run() async throws {
            var status: Int32 = 0
            try await CRICommand.run(options) { views in
                let response = try await views.exec(id: id, command: commandLine, timeoutSeconds: execTimeout)
                FileHandle.standardOutput.write(response.stdout)
                FileHandle.standardError.write(response.stderr)
                status = response.exitCode
            }
            // The command's own exit status becomes nodectl's, as with crictl exec.
            if status != 0 { throw ExitCode(status) }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a container's log (stdout lines to stdout, stderr lines to stderr).")
        @OptionGroup var options: Options
        @Option(help: "Print only the last N lines.") var tail: Int?
        @Flag(name: .shortAndLong, help: "Prefix each line with its timestamp.") var timestamps = false
        @Argument(help: "Container id (or unique prefix).") var id: String

        func run() async throws {
            try await CRICommand.run(options) { views in
                if let tail, tail < 0 { throw NodectlError("--tail must not be negative") }
                for entry in try await views.logs(id: id, tail: tail) {
                    let line = timestamps ? "\(entry.timestamp) \(entry.message)\n" : "\(entry.message)\n"
                    let handle: FileHandle = entry.stream == .stderr ? .standardError : .standardOutput
                    handle.write(Data(line.utf8))
                }
            }
        }
    }
}

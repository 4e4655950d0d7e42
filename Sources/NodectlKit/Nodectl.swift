import ArgumentParser
import Foundation

/// `nodectl`: node diagnostics. The executable runs this root command and nothing else.
public struct Nodectl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nodectl",
        abstract: "Answer questions about a Nodekit node: CRI state, pods, probes, eviction, proxy rules, CNI.",
        subcommands: [CRICommand.self, NetCommand.self, BenchCommand.self, DoctorCommand.self, ProbeCommand.self, EvictCommand.self, ProxyCommand.self])

    public init() {}

    /// Parses `arguments` (nil: the process's), runs the chosen subcommand and exits with its
    /// status. The executable's main.swift calls this rather than `main()`: from top-level code
    /// Swift 6.3 resolves `await Nodectl.main()` to ParsableCommand's synchronous overload,
    /// which refuses to run an async command.
    ///
    /// Usage errors print ArgumentParser's message and usage; a failure while running is one
    /// line on stderr (`nodectl: …`) and exit status 1, never a usage text or a backtrace.
    public static func runAsRoot(_ arguments: [String]? = nil) async {
        var command: any ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { exit(withError: error) }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // Help and version requests run as ArgumentParser's own commands and throw its
            // (internal) error types: those keep ArgumentParser's output and exit codes.
            if error is ExitCode || error is CleanExit || error is ValidationError || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
                exit(withError: error)
            }
            FileHandle.standardError.write(Data("nodectl: \(CommandRunner.oneLine(error))\n".utf8))
            exit(withError: ExitCode.failure)
        }
    }
}

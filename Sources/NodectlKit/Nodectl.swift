import ArgumentParser

/// `nodectl`: node diagnostics. The executable runs this root command and nothing else.
public struct Nodectl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nodectl",
        abstract: "Answer questions about a Nodekit node: CRI state, pods, probes, proxy rules, CNI.",
        subcommands: [CRICommand.self, NetCommand.self, BenchCommand.self, DoctorCommand.self])

    public init() {}

    /// Parses `arguments` (nil: the process's), runs the chosen subcommand and exits with its
    /// status. The executable's main.swift calls this rather than `main()`: from top-level code
    /// Swift 6.3 resolves `await Nodectl.main()` to ParsableCommand's synchronous overload,
    /// which refuses to run an async command.
    public static func runAsRoot(_ arguments: [String]? = nil) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

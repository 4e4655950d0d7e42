import ArgumentParser

/// `nodectl`: node diagnostics. The executable runs this root command and nothing else.
public struct Nodectl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nodectl",
        abstract: "Answer questions about a Nodekit node: CRI state, pods, probes, proxy rules, CNI.",
        subcommands: [CRICommand.self])

    public init() {}
}

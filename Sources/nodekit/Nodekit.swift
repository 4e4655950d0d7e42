// nodekit: the node and control-plane daemons and build tools. Argument parsing and logging
// bootstrap only; each subcommand lives in its own file and calls into a library target.
import ArgumentParser
import Foundation
import Logging

struct Nodekit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodekit",
        abstract: "A Kubernetes node toolkit: kubelet, proxy, control plane and image tools.",
        subcommands: [KubeletCommand.self, ProxyCommand.self, ImageCommand.self, APIServerCommand.self, AgentCommand.self, ServerCommand.self]
    )
}

@main
enum Entry {
    /// Logs go to stderr; NODEKIT_LOG_LEVEL (trace, debug, info, notice, warning, error,
    /// critical) sets the level, info by default.
    static func main() async {
        let level = ProcessInfo.processInfo.environment["NODEKIT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        await Nodekit.main()
    }
}

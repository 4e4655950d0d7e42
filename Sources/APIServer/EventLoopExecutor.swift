import NIOCore
import NIOPosix

/// Where the process runs Swift concurrency's jobs: on NIO's event loops, the threads that also
/// do its network I/O, or on Swift's own cooperative pool.
///
/// On the pool, every request crosses threads twice: the event loop that read it hands the
/// handler to a pool thread, and the response goes back to the event loop, waking it through its
/// eventfd. A 10,000-pod hollow-bench run made about 39,000 such wake-ups (an eventfd write on a
/// pool thread, a read and an `epoll_wait` return on an event loop), 3.5 per pod. With the
/// event loops as the global executor (NIO's
/// `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`), a job enqueued
/// from an event loop stays on it. docs/scheduler-bench.md (seventeenth session) has the
/// figures.
///
/// `NODEKIT_EXECUTOR` chooses: `event-loops` (the default) or `pool`.
public enum EventLoopExecutor {
    public enum Choice: String, Sendable, CaseIterable {
        case eventLoops = "event-loops"
        case pool
    }

    /// The environment variable that chooses.
    public static let variable = "NODEKIT_EXECUTOR"

    public struct InvalidChoice: Error, CustomStringConvertible {
        public var value: String
        public var description: String {
            "\(EventLoopExecutor.variable) must be \(Choice.allCases.map(\.rawValue).joined(separator: " or ")), not \"\(value)\""
        }
    }

    /// The choice `environment` makes: unset or empty is the default, `event-loops`.
    public static func choice(environment: [String: String]) throws(InvalidChoice) -> Choice {
        guard let value = environment[variable], !value.isEmpty else { return .eventLoops }
        guard let choice = Choice(rawValue: value) else { throw InvalidChoice(value: value) }
        return choice
    }

    /// Makes the choice of `environment`, once per process, before any task other than the
    /// caller's has started; returns what the process runs its jobs on, for its start-up log.
    /// The event loops' hook can fail to install (the runtime lacks it, or another hook is in
    /// place); the jobs then stay on the pool, and the description says so.
    public static func install(environment: [String: String]) throws(InvalidChoice) -> String {
        switch try choice(environment: environment) {
        case .pool:
            return "Swift's cooperative pool (\(variable)=pool)"
        case .eventLoops:
            return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
                ? "NIO's event loops (\(System.coreCount) threads)"
                : "Swift's cooperative pool (the event loops' hook could not be installed)"
        }
    }
}

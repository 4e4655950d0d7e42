import NIOCore
import NIOPosix

/// Where the process runs Swift concurrency's jobs: on Swift's own cooperative pool (the
/// default), or on NIO's event loops, the threads that also do its network I/O.
///
/// On the pool, every request crosses threads twice: the event loop that read it hands the
/// handler to a pool thread, and the response goes back to the event loop, waking it through its
/// eventfd. A 10,000-pod hollow-bench run made about 39,000 such wake-ups, 3.5 per pod. With the
/// event loops as the global executor (NIO's
/// `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`), a job enqueued
/// from an event loop stays on it: the scheduler kept pace with pod creation in hollow-bench
/// (+4% pods/s in the median pair, no CPU saved), but a long job holds back the I/O of every
/// connection on its loop (a small GET waited up to 724 ms behind a 15,000-pod list, against 61
/// ms on the pool), so it is not the default. docs/scheduler-bench.md (seventeenth session) has
/// the figures.
///
/// `NODEKIT_EXECUTOR` chooses: `pool` (the default) or `event-loops`.
public enum EventLoopExecutor {
    public enum Choice: String, Sendable, CaseIterable {
        case pool
        case eventLoops = "event-loops"
    }

    /// The environment variable that chooses.
    public static let variable = "NODEKIT_EXECUTOR"

    public struct InvalidChoice: Error, CustomStringConvertible {
        public var value: String
        public var description: String {
            "\(EventLoopExecutor.variable) must be \(Choice.allCases.map(\.rawValue).joined(separator: " or ")), not \"\(value)\""
        }
    }

    /// The choice `environment` makes: unset or empty is the default, `pool`.
    public static func choice(environment: [String: String]) throws(InvalidChoice) -> Choice {
        guard let value = environment[variable], !value.isEmpty else { return .pool }
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
            return "Swift's cooperative pool"
        case .eventLoops:
            return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
                ? "NIO's event loops (\(System.coreCount) threads)"
                : "Swift's cooperative pool (the event loops' hook could not be installed)"
        }
    }
}

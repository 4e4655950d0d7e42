import Foundation
import LinuxSystem

/// The result of running a command to completion.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Errors from ``run(_:_:input:environment:)``.
public struct CommandError: Error, CustomStringConvertible {
    public var command: [String]
    public var result: CommandResult
    public init(command: [String], result: CommandResult) {
        self.command = command
        self.result = result
    }
    public var description: String {
        "\(command.joined(separator: " ")) exited \(result.status): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
}

/// Runs an executable (a path, or a name looked up with ``Host/which(_:)``) and waits for it.
/// Returns its output whatever its exit status; use ``runChecked(_:_:input:environment:)`` to
/// throw on a non-zero exit.
///
/// Spawns through `LinuxSystem.ChildProcess` (posix_spawn, poll, waitpid on the child's pid)
/// rather than Foundation's `Process`, whose `waitUntilExit` was seen to hang here on a child
/// that had already exited while other tests were spawning processes.
@discardableResult
public func run(_ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) throws -> CommandResult {
    let (path, env) = resolve(executable, environment)
    let output = try ChildProcess.run(path, arguments: [path] + arguments, environment: env, input: input.map { Array($0) } ?? [])
    return CommandResult(status: output.status,
                         stdout: String(decoding: output.stdout, as: UTF8.self),
                         stderr: String(decoding: output.stderr, as: UTF8.self))
}

/// Runs a command and throws ``CommandError`` when it exits non-zero.
@discardableResult
public func runChecked(_ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) throws -> CommandResult {
    let result = try run(executable, arguments, input: input, environment: environment)
    guard result.status == 0 else { throw CommandError(command: [executable] + arguments, result: result) }
    return result
}

/// Starts a command in the background (posix_spawn; stdout and stderr appended to `outputPath`,
/// or discarded). The caller ends it with `kill()` and `wait()`, also on failure paths.
public func spawn(_ executable: String, _ arguments: [String], outputPath: String? = nil, environment: [String: String]? = nil) throws -> SpawnedProcess {
    let (path, env) = resolve(executable, environment)
    return try SpawnedProcess(path, arguments: [path] + arguments, environment: env, outputPath: outputPath)
}

/// The executable's path (a name is looked up with ``Host/which(_:)``) and this process's
/// environment with `overrides` applied, as `KEY=VALUE` strings.
private func resolve(_ executable: String, _ overrides: [String: String]?) -> (path: String, environment: [String]) {
    let path = executable.hasPrefix("/") ? executable : (Host.which(executable) ?? executable)
    var env = ProcessInfo.processInfo.environment
    if let overrides { env.merge(overrides) { _, new in new } }
    return (path, env.map { "\($0.key)=\($0.value)" })
}

/// ``run(_:_:input:environment:)`` on a thread of its own. An async test that runs a client
/// (curl, kubectl, python) against a server in the same process must not block one of the few
/// cooperative threads (two on a 2-core machine) while it waits: the server needs them to answer.
public func runOffPool(_ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) async throws -> CommandResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try run(executable, arguments, input: input, environment: environment) })
        }.start()
    }
}

/// Runs CPU-heavy synchronous test work (seconds in a debug build) on a thread of its own while
/// the calling test waits. The unit tests run in parallel on the two cooperative threads of
/// these machines; work that holds one of them for seconds starves the tests beside it, whose
/// wall-clock bounds then fail.
///
/// `body` escapes: the `Thread` keeps its closure until the thread exits, which can be after the
/// caller has resumed (an earlier version lent a non-escaping closure through
/// `withoutActuallyEscaping`, and the runtime trapped when the thread still held it).
public func offPool<T>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UncheckedBox<T>, any Error>) in
        Thread { continuation.resume(with: Result { UncheckedBox(try body()) }) }.start()
    }.value
}

/// Carries ``offPool(_:)``'s result across the thread boundary: the thread hands it over and
/// never touches it again.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

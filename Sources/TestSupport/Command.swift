import Foundation

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
    public var description: String {
        "\(command.joined(separator: " ")) exited \(result.status): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
}

/// Runs an executable (a path, or a name looked up with ``Host/which(_:)``) and waits for it.
/// Returns its output whatever its exit status; use ``runChecked(_:_:input:environment:)`` to
/// throw on a non-zero exit.
@discardableResult
public func run(_ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) throws -> CommandResult {
    let process = Process()
    let path = executable.hasPrefix("/") ? executable : (Host.which(executable) ?? executable)
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(input) }
    try inPipe.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    final class Collected: @unchecked Sendable { var data = Data() }
    let errData = Collected()
    let done = DispatchSemaphore(value: 0)
    let errHandle = errPipe.fileHandleForReading
    Thread.detachNewThread {
        errData.data = errHandle.readDataToEndOfFile()
        done.signal()
    }
    let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
    done.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData.data, as: UTF8.self))
}

/// Runs a command and throws ``CommandError`` when it exits non-zero.
@discardableResult
public func runChecked(_ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String]? = nil) throws -> CommandResult {
    let result = try run(executable, arguments, input: input, environment: environment)
    guard result.status == 0 else { throw CommandError(command: [executable] + arguments, result: result) }
    return result
}

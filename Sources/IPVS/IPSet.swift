import LinuxSystem

/// An ipset failure: the command and what it printed.
public struct IPSetError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The ipset operations the IPVS proxy needs (upstream's KUBE-CLUSTER-IP, KUBE-NODE-PORT-*,
/// KUBE-LOOP-BACK sets). Thread-safe.
public protocol IPSetInterface: Sendable {
    /// Applies `ipset restore -exist` text (create/flush/add/del lines) in one process.
    func restore(_ text: String) throws(IPSetError)
    /// Destroys the named sets; missing ones are ignored.
    func destroy(_ names: [String]) throws(IPSetError)
}

/// ``IPSetInterface`` running the `ipset` command (in the caller's network namespace).
public struct ExecIPSet: IPSetInterface {
    public let path: String

    public init(path: String = "/usr/sbin/ipset") { self.path = path }

    public func restore(_ text: String) throws(IPSetError) {
        try run(["restore", "-exist"], input: Array(text.utf8), operation: "ipset restore")
    }

    public func destroy(_ names: [String]) throws(IPSetError) {
        for name in names {
            do { try run(["destroy", name], input: [], operation: "ipset destroy \(name)") } catch where error.message.contains("does not exist") {
                continue
            }
        }
    }

    private func run(_ arguments: [String], input: [UInt8], operation: String) throws(IPSetError) {
        let output: ChildProcess.Output
        do { output = try ChildProcess.run(path, arguments: [path] + arguments, environment: [], input: input) } catch {
            throw IPSetError("\(operation): cannot run \(path): \(error)")
        }
        guard output.status == 0 else {
            throw IPSetError("\(operation) exited \(output.status): \(String(decoding: output.stderr, as: UTF8.self).trimmingSuffix)")
        }
    }
}

extension String {
    fileprivate var trimmingSuffix: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}

import Foundation
import IPTables
import LinuxSystem
import Synchronization
import Testing
import TestSupport

/// Two fresh network namespaces for proving a table writer equal to the restore tool it stands in
/// for: both start from the same rules (loaded by the tool), then one gets each text from the
/// tool and the other from the writer, and what ``tables(_:)`` reads of each must be equal.
/// Subclasses say what is read. Deleted by ``destroy()``.
class TableWriterNamespacePair: @unchecked Sendable {
    let tool: String
    let writer: String
    /// The restore tool (`iptables-legacy-restore`, `iptables-nft-restore`).
    let restore: String
    private let write: @Sendable ([UInt8]) throws -> Void
    private static let counter = Mutex(0)

    /// Namespaces `PREFIX-a-SUFFIX` (the tool's) and `PREFIX-b-SUFFIX` (the writer's), the suffix
    /// unique to this process and pair.
    init(prefix: String, restore: String, write: @escaping @Sendable ([UInt8]) throws -> Void) throws {
        let n = Self.counter.withLock { c in
            c += 1
            return c
        }
        let suffix = "\(getpid())-\(n)-\(String(UInt16.random(in: 0..<UInt16.max), radix: 36))"
        tool = "\(prefix)-a-\(suffix)"
        writer = "\(prefix)-b-\(suffix)"
        self.restore = restore
        self.write = write
        for ns in [tool, writer] { try Self.ip(["netns", "add", ns]) }
    }

    static func ip(_ args: [String]) throws {
        let path = Host.which("ip")!
        let out = try ChildProcess.run(path, arguments: [path] + args, environment: [], input: [])
        if out.status != 0 { throw IPTablesError("ip \(args.joined(separator: " ")): \(String(decoding: out.stderr, as: UTF8.self))") }
    }

    func destroy() {
        for ns in [tool, writer] { try? Self.ip(["netns", "delete", ns]) }
    }

    func run<T>(_ ns: String, _ body: () throws -> T) throws -> T {
        try NetworkNamespace(path: "/var/run/netns/\(ns)").run(body)
    }

    /// Runs a command (the iptables tools, nft) in `ns`.
    func tool(_ ns: String, _ command: String, _ args: [String], input: String = "") throws -> String {
        let path = ExecIPTables.locate(command)!
        let out = try run(ns) { try ChildProcess.run(path, arguments: [path] + args, environment: [], input: Array(input.utf8)) }
        if out.status != 0 {
            throw IPTablesError("\(command) \(args.joined(separator: " ")) in \(ns): exit \(out.status): \(String(decoding: out.stderr, as: UTF8.self))")
        }
        return String(decoding: out.stdout, as: UTF8.self)
    }

    /// Loads `text` in both namespaces with the tool (the same starting point).
    func loadBoth(_ text: String, counters: Bool = false) throws {
        for ns in [tool, writer] { _ = try self.tool(ns, restore, (counters ? ["--counters"] : []) + ["--noflush"], input: text) }
    }

    /// `text` by the tool in one namespace and by the writer in the other.
    func apply(_ text: String) throws {
        _ = try tool(tool, restore, ["--noflush"], input: text)
        try run(writer) { try write(Array(text.utf8)) }
    }

    /// What is compared of `ns`, one text per view.
    func tables(_ ns: String) throws -> [String] { [] }

    /// The name of view `index` of ``tables(_:)``, for the message of a difference.
    func view(_ index: Int) -> String { "view \(index)" }

    func expectSame(_ when: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let a = try tables(tool), b = try tables(writer)
        for i in a.indices where a[i] != b[i] {
            let la = a[i].split(separator: "\n"), lb = b[i].split(separator: "\n")
            let first = zip(la, lb).enumerated().first { $0.element.0 != $0.element.1 }
            Issue.record("\(when): \(view(i)) differ (\(la.count) vs \(lb.count) lines); first difference at line \(first?.offset ?? min(la.count, lb.count)):\n tool:   \(first.map { String($0.element.0) } ?? "-")\n writer: \(first.map { String($0.element.1) } ?? "-")",
                         sourceLocation: sourceLocation)
        }
    }
}

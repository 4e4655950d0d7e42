#if canImport(Glibc)
import Glibc
#endif
import LinuxSystem
import Synchronization

/// Which iptables binary family to drive: the nf_tables-backed `iptables-nft` or
/// `iptables-legacy` (x_tables). Both program the same rule language into different kernel
/// subsystems, so a node must use the one its other tools use.
public enum IPTablesVariant: String, Sendable, CaseIterable {
    case nft
    case legacy

    /// The binary for `tool` (`iptables`, `iptables-restore`, `iptables-save`) of a family:
    /// `ip6tables-legacy-restore`, `iptables-nft-save`, ...
    public func binary(_ tool: Tool, ipv6: Bool) -> String {
        let base = ipv6 ? "ip6tables" : "iptables"
        let suffix = switch tool {
        case .rules: ""
        case .restore: "-restore"
        case .save: "-save"
        }
        return "\(base)-\(rawValue)\(suffix)"
    }

    public enum Tool: Sendable { case rules, restore, save }

    /// The variant the plain `iptables` command of this host uses (it prints `(nf_tables)` or
    /// `(legacy)` in its version line); nft when that cannot be told.
    public static func detect() -> IPTablesVariant {
        guard let path = ExecIPTables.locate("iptables"),
              let out = try? ChildProcess.run(path, arguments: [path, "--version"], environment: [], input: []) else { return .nft }
        return String(decoding: out.stdout, as: UTF8.self).contains("legacy") ? .legacy : .nft
    }
}

/// An error from iptables: which command failed and what it said.
public struct IPTablesError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The process boundary of the iptables backend. Implementations are thread-safe.
public protocol IPTablesInterface: Sendable {
    /// Loads `text` (iptables-save format, one or more `*table ... COMMIT` blocks) with one
    /// `iptables-restore --noflush` run. Each table block commits atomically; chains not named
    /// in the text are left alone.
    func restore(_ text: String) throws(IPTablesError)
    /// Loads restore text that `write` produces piece by piece, as ``restore(_:)`` does. An
    /// implementation may start consuming it before `write` returns (the real one streams it
    /// into the running `iptables-restore`), so `write` must produce the text in order and in
    /// full; work done inside it overlaps the restore's parsing. The default collects the text
    /// and calls ``restore(_:)``.
    func restore(streaming write: (inout RestoreInput) -> Void) throws(IPTablesError)
    /// The current rules of `table` in iptables-save format (`*table`, `:CHAIN` lines, `-A`
    /// lines, `COMMIT`), without counters.
    func save(table: String) throws(IPTablesError) -> String
    /// Starts reading `tables` as ``save(table:)`` does and returns a function that waits for
    /// them (call it once, from the same thread). An implementation may read them while the
    /// caller goes on: the real one spawns one iptables-save at once, in the calling thread's
    /// network namespace, and collects its output when asked. The default reads
    /// them before it returns.
    func startSave(tables: [String]) -> () throws(IPTablesError) -> [String]
    /// Starts reading what a full sync needs of `tables` (their chains; the rules of their
    /// built-in chains) and returns a function that waits for them (call it once, from the same
    /// thread, which must be in the same network namespace). The default reads them with
    /// ``startSave(tables:)``; the real one reads iptables-legacy's IPv4 tables from the kernel
    /// when asked, without a process.
    func startRead(tables: [String]) -> () throws(IPTablesError) -> [TableSnapshot]
    /// Makes sure `rule` (the arguments after `-A CHAIN`) is in built-in `chain` of `table`,
    /// inserting it first when absent (the jumps into our chains, as upstream installs them).
    func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError)
    /// Removes every copy of `rule` from `chain`; no error when there is none.
    func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError)
}

/// Runs the real binaries: one `iptables-restore --noflush` per restore, input on stdin.
/// Children are spawned with posix_spawn in the caller's network namespace.
///
/// iptables-legacy's IPv4 restores are written by ``TableWriter`` (`IPT_SO_SET_REPLACE` from this
/// process, no tool) unless `writesTables` is false; when it cannot (input outside its grammar,
/// a table the kernel refuses), the tables it did not write go to `iptables-legacy-restore`,
/// and the first time in a process why is printed to stderr. iptables-nft's IPv4 restores are
/// written by ``NFTTableWriter`` (one nf_tables batch from this process) unless `writesTables`
/// is false; when it cannot, nothing was written and the whole text goes to
/// `iptables-nft-restore`, with the same once-per-process message.
public struct ExecIPTables: IPTablesInterface {
    public let variant: IPTablesVariant
    public let ipv6: Bool
    /// Whether IPv4 restores go through ``TableWriter`` (iptables-legacy) or
    /// ``NFTTableWriter`` (iptables-nft).
    public let writesTables: Bool

    public init(variant: IPTablesVariant = .nft, ipv6: Bool = false, writesTables: Bool = true) {
        self.variant = variant
        self.ipv6 = ipv6
        self.writesTables = writesTables
    }

    private var usesWriter: Bool { writesTables && !ipv6 }

    private static let fellBack = Atomic<Bool>(false)

    /// ``TableWriter/apply(_:)`` (legacy) or ``NFTTableWriter/apply(_:)`` (nft), and the tool for
    /// the tables it did not write. A text that does not end in COMMIT (a sync that stops
    /// before it, to change nothing) goes to the tool as it is, which fails as before.
    private func restoreWritingTables(_ text: [UInt8]) throws(IPTablesError) {
        guard text.count >= 7, text.suffix(7).elementsEqual("COMMIT\n".utf8) else { return try restoreWithTool(text) }
        if variant == .nft {
            do throws(IPTablesError) {
                try NFTTableWriter.apply(text)
            } catch {
                // One batch: nothing of the text was written, all of it goes to the tool.
                if !Self.fellBack.exchange(true, ordering: .relaxed) {
                    let line = Array("nodekit: iptables-nft-restore instead of writing the tables (\(error.message)); said once per process\n".utf8)
                    _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
                }
                try restoreWithTool(text)
            }
            return
        }
        do throws(TableWriter.Failure) {
            try TableWriter.apply(text)
        } catch {
            if !Self.fellBack.exchange(true, ordering: .relaxed) {
                let line = Array("nodekit: iptables-legacy-restore instead of writing the table (\(error.message)); said once per process\n".utf8)
                _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            }
            try restoreWithTool(TableWriter.remainder(text, after: error.committed))
        }
    }

    private func restoreWithTool(_ text: [UInt8]) throws(IPTablesError) {
        let command = variant.binary(.restore, ipv6: ipv6)
        guard let path = Self.locate(command) else { throw IPTablesError("\(command) not found (install the iptables package)") }
        let out: ChildProcess.Output
        do {
            out = try ChildProcess.run(path, arguments: [path, "--noflush", "-w", "5"], environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], input: text)
        } catch {
            throw IPTablesError("\(command) --noflush: \(error)")
        }
        if out.status != 0 {
            throw IPTablesError("\(command) --noflush failed (exit \(out.status)): \(String(decoding: out.stderr, as: UTF8.self).trimmingSpaces)")
        }
    }

    /// The absolute path of `command` in the sbin/bin directories, or nil.
    public static func locate(_ command: String) -> String? {
        for dir in ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"] {
            let path = dir + command
            if FileOps.exists(path) { return path }
        }
        return nil
    }

    private func run(_ tool: IPTablesVariant.Tool, _ args: [String], input: String = "") throws(IPTablesError) -> (status: Int32, stdout: String, stderr: String) {
        let command = variant.binary(tool, ipv6: ipv6)
        guard let path = Self.locate(command) else { throw IPTablesError("\(command) not found (install the iptables package)") }
        do {
            let out = try ChildProcess.run(path, arguments: [path] + args, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], input: Array(input.utf8))
            return (out.status, String(decoding: out.stdout, as: UTF8.self),
                    String(decoding: out.stderr, as: UTF8.self).trimmingSpaces)
        } catch {
            throw IPTablesError("\(command) \(args.joined(separator: " ")): \(error)")
        }
    }

    public func restore(_ text: String) throws(IPTablesError) {
        if usesWriter { return try restoreWritingTables(Array(text.utf8)) }
        let r = try run(.restore, ["--noflush", "-w", "5"], input: text)
        if r.status != 0 {
            throw IPTablesError("\(variant.binary(.restore, ipv6: ipv6)) --noflush failed (exit \(r.status)): \(r.stderr)")
        }
    }

    /// Starts `iptables-restore --noflush` first and feeds it 64 KiB at a time while `write`
    /// runs, so the restore parses the beginning of the text while the rest is generated, and
    /// the text is never held whole.
    public func restore(streaming write: (inout RestoreInput) -> Void) throws(IPTablesError) {
        if usesWriter {
            // The writer needs the whole text: it is collected, then written.
            var input = RestoreInput()
            write(&input)
            return try restoreWritingTables(input.bytes)
        }
        let command = variant.binary(.restore, ipv6: ipv6)
        guard let path = Self.locate(command) else { throw IPTablesError("\(command) not found (install the iptables package)") }
        let child: StreamingChildProcess
        do {
            child = try StreamingChildProcess(path, arguments: [path, "--noflush", "-w", "5"], environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        } catch {
            throw IPTablesError("\(command) --noflush: \(error)")
        }
        var input = RestoreInput(flushingAt: RestoreInput.streamChunk) { child.write($0) }
        write(&input)
        input.flush()
        let out: ChildProcess.Output
        do { out = try child.finish() } catch {
            throw IPTablesError("\(command) --noflush: \(error)")
        }
        let stderr = String(decoding: out.stderr, as: UTF8.self).trimmingSpaces
        if out.status != 0 {
            throw IPTablesError("\(command) --noflush failed (exit \(out.status)): \(stderr)")
        }
        if child.unreadInputBytes > 0 {
            // The tool exited 0 without reading all of it: whatever it committed is not what we wrote.
            throw IPTablesError("\(command) --noflush exited before reading \(child.unreadInputBytes) bytes of its input: \(stderr)")
        }
    }

    public func save(table: String) throws(IPTablesError) -> String {
        let r = try run(.save, ["-t", table])
        if r.status != 0 { throw IPTablesError("\(variant.binary(.save, ipv6: ipv6)) -t \(table) failed (exit \(r.status)): \(r.stderr)") }
        return r.stdout
    }

    /// Spawns the read now: one iptables-save for one table (`-t TABLE`), and for several one
    /// iptables-save of every table (no `-t`) whose `*TABLE` sections are split afterwards: one
    /// process start instead of one per table on the first full sync's critical path. A table
    /// the kernel has not loaded has no section (legacy lists only the loaded ones) and reads
    /// as empty, as a table without rules would. The process takes its snapshot when it starts
    /// and then blocks once its 64 KiB stdout pipe is full, until the returned function reads
    /// the rest. A function never called kills and reaps the process.
    public func startSave(tables: [String]) -> () throws(IPTablesError) -> [String] {
        let command = variant.binary(.save, ipv6: ipv6)
        guard let path = Self.locate(command) else {
            return { () throws(IPTablesError) in throw IPTablesError("\(command) not found (install the iptables package)") }
        }
        if tables.isEmpty { return { () throws(IPTablesError) in [] } }
        let args = tables.count == 1 ? ["-t", tables[0]] : []
        let shown = ([command] + args).joined(separator: " ")
        let started = Result { () throws(SystemError) in
            try StreamingChildProcess(path, arguments: [path] + args, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        }
        return { () throws(IPTablesError) in
            let out: ChildProcess.Output
            do { out = try started.get().finish() } catch {
                throw IPTablesError("\(shown): \(error)")
            }
            if out.status != 0 {
                throw IPTablesError("\(shown) failed (exit \(out.status)): \(String(decoding: out.stderr, as: UTF8.self).trimmingSpaces)")
            }
            let text = String(decoding: out.stdout, as: UTF8.self)
            return tables.count == 1 ? [text] : IPTablesSave.sections(text, tables: tables)
        }
    }

    /// iptables-legacy's IPv4 tables are read from the kernel (``KernelTable/read(_:)``) when
    /// the returned function is called, in the calling thread's network namespace: what
    /// iptables-legacy-save would print of them, without starting it (a process start and
    /// about 2 ms of CPU beside the first full sync's restore). Other variants are saved.
    public func startRead(tables: [String]) -> () throws(IPTablesError) -> [TableSnapshot] {
        guard variant == .legacy && !ipv6 else { return startReadBySaving(tables: tables) }
        return { () throws(IPTablesError) in
            // A table the namespace has not loaded has no rules (legacy-save omits it too).
            try tables.map { (table) throws(IPTablesError) in .kernel(try KernelTable.read(table) ?? KernelTable(chains: [], rules: [])) }
        }
    }

    public func ensureRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        if try run(.rules, ["-w", "5", "-t", table, "-C", chain] + rule).status == 0 { return }
        let r = try run(.rules, ["-w", "5", "-t", table, "-I", chain] + rule)
        if r.status != 0 {
            throw IPTablesError("\(variant.binary(.rules, ipv6: ipv6)) -t \(table) -I \(chain) \(rule.joined(separator: " ")) failed: \(r.stderr)")
        }
    }

    public func deleteRule(table: String, chain: String, _ rule: [String]) throws(IPTablesError) {
        // -D deletes one copy per run; a bounded loop removes duplicates a crash may have left.
        var attempts = 0
        while attempts < 16, try run(.rules, ["-w", "5", "-t", table, "-D", chain] + rule).status == 0 { attempts += 1 }
    }
}

extension IPTablesInterface {
    public func startSave(tables: [String]) -> () throws(IPTablesError) -> [String] {
        let saved = Result { () throws(IPTablesError) in try tables.map { (table) throws(IPTablesError) in try save(table: table) } }
        return { () throws(IPTablesError) in try saved.get() }
    }

    public func startRead(tables: [String]) -> () throws(IPTablesError) -> [TableSnapshot] { startReadBySaving(tables: tables) }

    /// ``startRead(tables:)`` through ``startSave(tables:)``: the default, and what the real
    /// implementation does for the variants it cannot read from the kernel.
    public func startReadBySaving(tables: [String]) -> () throws(IPTablesError) -> [TableSnapshot] {
        let saved = startSave(tables: tables)
        return { () throws(IPTablesError) in try saved().map { .saved($0) } }
    }

    public func restore(streaming write: (inout RestoreInput) -> Void) throws(IPTablesError) {
        var input = RestoreInput()
        write(&input)
        try restore(input.text)
    }

    /// Flushes and deletes those of `chains` that exist in `table`, in one restore. Rules in
    /// other chains must not jump to them (remove those first).
    public func deleteChains(table: String, _ chains: [String]) throws(IPTablesError) {
        let present = Set(IPTablesSave.chainNames(try save(table: table)))
        let existing = chains.filter { present.contains($0) }
        if existing.isEmpty { return }
        try restore("*\(table)\n" + existing.map { ":\($0) - [0:0]\n" }.joined() + existing.map { "-X \($0)\n" }.joined() + "COMMIT\n")
    }
}

/// Reading iptables-save output.
public enum IPTablesSave {
    /// The chain names declared (`:CHAIN POLICY [p:b]` lines), in order.
    public static func chainNames(_ saved: String) -> [String] {
        // Bytes, not Characters: a saved nat table of 10k Services is 7 MB.
        lines(saved).compactMap { line in
            line.first == UInt8(ascii: ":") ? String(decoding: line.dropFirst().prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self) : nil
        }
    }

    /// The `*TABLE` ... `COMMIT` section of each of `tables` in `saved` (iptables-save of
    /// every table), in the order asked; "" for a table without a section. The section of a
    /// table is as `iptables-save -t TABLE` prints it, but for its comment lines.
    public static func sections(_ saved: String, tables: [String]) -> [String] {
        var found: [String: String] = [:]
        let bytes = Substring(saved).utf8
        var current: (name: String, start: String.Index)?
        var lineStart = bytes.startIndex
        while lineStart < bytes.endIndex {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            let line = bytes[lineStart..<lineEnd]
            let next = lineEnd < bytes.endIndex ? bytes.index(after: lineEnd) : lineEnd
            if line.first == UInt8(ascii: "*") {
                // A table's header; an unfinished section before it is dropped.
                current = (String(decoding: line.dropFirst(), as: UTF8.self), lineStart)
            } else if let c = current, line.elementsEqual("COMMIT".utf8) {
                // The first section of a name counts (iptables-save prints each table once).
                if found[c.name] == nil { found[c.name] = String(Substring(saved)[c.start..<next]) }
                current = nil
            }
            lineStart = next
        }
        return tables.map { found[$0] ?? "" }
    }

    /// The lines of `saved` as UTF-8 slices (no copies).
    public static func lines(_ saved: String) -> [Substring.UTF8View] {
        Substring(saved).utf8.split(separator: UInt8(ascii: "\n"))
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Restore text as it is written: either kept whole (``text``) or handed on in chunks of about
/// `flushingAt` bytes to a consumer (a running `iptables-restore`). Writing a line in several
/// pieces (`write("-A ")`, `write(chain)`, ...) costs no more than writing it at once.
public struct RestoreInput: TextOutputStream {
    /// The chunk size of a streamed restore: large enough that a write costs little per byte,
    /// small against the text (7 MiB at 10k Services).
    public static let streamChunk = 1 << 16

    private var buffer: [UInt8] = []
    private let flushAt: Int
    private let consume: ((UnsafeRawBufferPointer) -> Void)?

    /// Keeps everything written (``text``).
    public init() {
        flushAt = .max
        consume = nil
    }

    /// Hands the bytes to `consume` whenever `flushingAt` of them are buffered, and on ``flush()``.
    public init(flushingAt: Int, consume: @escaping (UnsafeRawBufferPointer) -> Void) {
        flushAt = flushingAt
        self.consume = consume
        buffer.reserveCapacity(flushingAt + 4096)
    }

    public mutating func write(_ string: String) {
        buffer.append(contentsOf: string.utf8)
        if buffer.count >= flushAt { flush() }
    }

    /// Lets `body` append restore text to the buffer directly (bytes rendered in place, no
    /// String in between), then hands a full chunk on.
    public mutating func withBuffer(_ body: (inout [UInt8]) -> Void) {
        body(&buffer)
        if buffer.count >= flushAt { flush() }
    }

    /// Appends restore text already in bytes, handed on in chunks of about `flushingAt`.
    public mutating func write(bytes: [UInt8]) {
        var start = 0
        while start < bytes.count {
            // After every write the buffer holds less than `flushAt`: there is room.
            let n = Swift.min(bytes.count - start, flushAt - buffer.count)
            buffer.append(contentsOf: bytes[start..<(start + n)])
            start += n
            if buffer.count >= flushAt { flush() }
        }
    }

    /// Hands what is buffered to the consumer (nothing to do when the text is kept whole).
    public mutating func flush() {
        guard let consume, !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { consume($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Everything written, when the text is kept whole.
    public var text: String { String(decoding: buffer, as: UTF8.self) }

    /// Everything written, as bytes, when the text is kept whole.
    public var bytes: [UInt8] { buffer }
}

import LinuxSystem

/// An ipset failure: the command and what it printed.
public struct IPSetError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One set as the kernel reports it: its name, type and, for hash types, how many entries it
/// may hold.
public struct IPSetHeader: Equatable, Sendable {
    /// What a hash set holds when it is created without `maxelem` (the kernel's default, and
    /// the value upstream's IPVS mode passes for every set).
    public static let defaultMaxElements = 65_536

    public var name: String
    /// The set type, e.g. `hash:ip,port` or `bitmap:port`.
    public var type: String
    /// The `maxelem` of a hash set; nil for other types (a bitmap's range bounds it instead).
    public var maxElements: Int?

    public init(name: String, type: String, maxElements: Int?) {
        self.name = name
        self.type = type
        self.maxElements = maxElements
    }

    /// The `maxelem` to create a hash set with so that it holds `count` entries with room to
    /// grow: the kernel's default while `count` is at most 80% of it, so that ordinary clusters
    /// get the very sets upstream creates; beyond that the smallest power of two that leaves 25%
    /// headroom, so that a set growing one entry at a time is replaced only O(log n) times.
    /// `maxelem` is a bound, not an allocation: the kernel's hash grows with the entries.
    public static func maxElements(toHold count: Int) -> Int {
        let wanted = count + count / 4
        var size = defaultMaxElements
        while size < wanted { size *= 2 }
        return size
    }

    /// The sets in `ipset save -t` output (its `create` lines; anything else is skipped). A
    /// hash set whose line has no `maxelem` holds the default.
    public static func parse(save output: String) -> [IPSetHeader] {
        output.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count >= 3, words[0] == "create" else { return nil }
            let type = String(words[2])
            var maxElements: Int? = type.hasPrefix("hash:") ? defaultMaxElements : nil
            if maxElements != nil, let i = words.firstIndex(of: "maxelem"), i + 1 < words.count, let n = Int(words[i + 1]) {
                maxElements = n
            }
            return IPSetHeader(name: String(words[1]), type: type, maxElements: maxElements)
        }
    }
}

/// The ipset operations the IPVS proxy needs (upstream's KUBE-CLUSTER-IP, KUBE-NODE-PORT-*,
/// KUBE-LOOP-BACK sets). Thread-safe.
public protocol IPSetInterface: Sendable {
    /// Applies `ipset restore -exist` text (create/flush/add/del/swap/destroy lines) in one
    /// process. Lines before a failing one stay applied, as `ipset restore` leaves them.
    func restore(_ text: String) throws(IPSetError)
    /// Destroys the named sets; missing ones are ignored.
    func destroy(_ names: [String]) throws(IPSetError)
    /// Every set in the kernel with its creation options, without members (`ipset save -t`).
    func headers() throws(IPSetError) -> [IPSetHeader]
}

/// ``IPSetInterface`` running the `ipset` command (in the caller's network namespace).
public struct ExecIPSet: IPSetInterface {
    public let path: String

    public init(path: String = "/usr/sbin/ipset") { self.path = path }

    public func restore(_ text: String) throws(IPSetError) {
        _ = try run(["restore", "-exist"], input: Array(text.utf8), operation: "ipset restore")
    }

    public func headers() throws(IPSetError) -> [IPSetHeader] {
        IPSetHeader.parse(save: String(decoding: try run(["save", "-t"], input: [], operation: "ipset save -t"), as: UTF8.self))
    }

    public func destroy(_ names: [String]) throws(IPSetError) {
        for name in names {
            do { _ = try run(["destroy", name], input: [], operation: "ipset destroy \(name)") } catch where error.message.contains("does not exist") {
                continue
            }
        }
    }

    /// Runs ipset and returns its standard output.
    private func run(_ arguments: [String], input: [UInt8], operation: String) throws(IPSetError) -> [UInt8] {
        let output: ChildProcess.Output
        do { output = try ChildProcess.run(path, arguments: [path] + arguments, environment: [], input: input) } catch {
            throw IPSetError("\(operation): cannot run \(path): \(error)")
        }
        guard output.status == 0 else {
            throw IPSetError("\(operation) exited \(output.status): \(String(decoding: output.stderr, as: UTF8.self).trimmingSuffix)")
        }
        return output.stdout
    }
}

extension String {
    fileprivate var trimmingSuffix: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// One line of a container log file in the CRI log format the runtime writes at
/// `ContainerStatus.log_path`: `<RFC3339Nano time> <stdout|stderr> <P|F>[:tags] <message>`.
/// `P` marks a partial line (the runtime split a long line); the final piece carries `F`.
public struct ContainerLogLine: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }

    public var timestamp: String
    public var stream: Stream
    public var partial: Bool
    public var message: String

    public init(timestamp: String, stream: Stream, partial: Bool, message: String) {
        self.timestamp = timestamp
        self.stream = stream
        self.partial = partial
        self.message = message
    }

    /// Parses one line (without its newline). Throws ``ContainerLogError`` naming the fault.
    public init(parsing line: Substring) throws(ContainerLogError) {
        let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count >= 3, !fields[0].isEmpty else {
            throw ContainerLogError(line: String(line), reason: "expected `<time> <stream> <P|F> <message>`")
        }
        guard let stream = Stream(rawValue: String(fields[1])) else {
            throw ContainerLogError(line: String(line), reason: "unknown stream \"\(fields[1])\"")
        }
        // The tag field may carry more tags after a colon; the first one is the partial flag.
        let flag = fields[2].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard flag == "P" || flag == "F" else {
            throw ContainerLogError(line: String(line), reason: "unknown tag \"\(fields[2])\" (want P or F)")
        }
        self.init(timestamp: String(fields[0]), stream: stream, partial: flag == "P",
                  message: fields.count > 3 ? String(fields[3]) : "")
    }
}

/// A log line that is not in the CRI log format.
public struct ContainerLogError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: String
    public var reason: String
    public var description: String { "CRI log line \"\(line.prefix(80))\": \(reason)" }
}

/// A whole log entry: partial lines of one stream joined into the line the container wrote.
public struct ContainerLogEntry: Sendable, Equatable {
    /// The time of the entry's first piece.
    public var timestamp: String
    public var stream: ContainerLogLine.Stream
    public var message: String
    /// False only for a trailing entry whose final (`F`) piece is not written yet.
    public var complete: Bool

    public init(timestamp: String, stream: ContainerLogLine.Stream, message: String, complete: Bool = true) {
        self.timestamp = timestamp
        self.stream = stream
        self.message = message
        self.complete = complete
    }

    /// Parses the text of a CRI log file into entries, joining partial lines per stream (the
    /// runtime interleaves stdout and stderr, so each stream keeps its own pending piece).
    /// Throws on the first line not in the CRI log format.
    public static func parse(_ text: String) throws(ContainerLogError) -> [ContainerLogEntry] {
        var entries: [ContainerLogEntry] = []
        var pending: [ContainerLogLine.Stream: ContainerLogEntry] = [:]
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = try ContainerLogLine(parsing: raw)
            var entry = pending.removeValue(forKey: line.stream)
                ?? ContainerLogEntry(timestamp: line.timestamp, stream: line.stream, message: "")
            entry.message += line.message
            if line.partial {
                pending[line.stream] = entry
            } else {
                entries.append(entry)
            }
        }
        for stream in [ContainerLogLine.Stream.stdout, .stderr] {
            if var entry = pending[stream] {
                entry.complete = false
                entries.append(entry)
            }
        }
        return entries
    }
}

import Foundation
import KubeAPI

/// A signal the eviction manager watches, named as upstream's flags name it.
public enum EvictionSignal: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case memoryAvailable = "memory.available"
    case nodeFsAvailable = "nodefs.available"
    case nodeFsInodesFree = "nodefs.inodesFree"
    case imageFsAvailable = "imagefs.available"
    case imageFsInodesFree = "imagefs.inodesFree"
    case pidAvailable = "pid.available"

    /// The resource a signal's pressure starves: `memory`, `ephemeral-storage`, `inodes`, `pids`.
    public var resource: String {
        switch self {
        case .memoryAvailable: return "memory"
        case .nodeFsAvailable, .imageFsAvailable: return "ephemeral-storage"
        case .nodeFsInodesFree, .imageFsInodesFree: return "inodes"
        case .pidAvailable: return "pids"
        }
    }

    /// The node condition a met threshold of this signal sets.
    public var nodeCondition: NodePressureCondition {
        switch self {
        case .memoryAvailable: return .memoryPressure
        case .nodeFsAvailable, .nodeFsInodesFree, .imageFsAvailable, .imageFsInodesFree: return .diskPressure
        case .pidAvailable: return .pidPressure
        }
    }

    /// Whether amounts of this signal are bytes (printed with binary suffixes) or counts.
    public var isBytes: Bool { resource == "memory" || resource == "ephemeral-storage" }

    public static func < (a: EvictionSignal, b: EvictionSignal) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The three pressure conditions the eviction manager reports on the Node.
public enum NodePressureCondition: String, Sendable, Hashable, Codable, CaseIterable {
    case memoryPressure = "MemoryPressure"
    case diskPressure = "DiskPressure"
    case pidPressure = "PIDPressure"
}

/// A threshold amount: an absolute quantity, or a fraction of the signal's capacity.
public enum ThresholdValue: Sendable, Hashable, CustomStringConvertible {
    /// Bytes, inodes or pids.
    case quantity(Int64, text: String)
    /// A fraction in (0, 1]. Kept as Float because upstream parses it as float32, which moves the
    /// resulting byte count by a few bytes; matching it keeps messages identical.
    case percentage(Float, text: String)

    /// The amount for a signal whose capacity is `capacity` (upstream's GetThresholdQuantity).
    public func amount(capacity: Int64) -> Int64 {
        switch self {
        case .quantity(let value, _): return value
        case .percentage(let fraction, _): return Int64(Double(capacity) * Double(fraction))
        }
    }

    public var description: String {
        switch self {
        case .quantity(_, let text), .percentage(_, let text): return text
        }
    }
}

/// One eviction threshold: `signal < value`, hard (no grace period) or soft (acted on only after
/// it has been met for `gracePeriod`), with an optional minimum reclaim.
public struct EvictionThreshold: Sendable, Hashable, CustomStringConvertible {
    public var signal: EvictionSignal
    public var value: ThresholdValue
    /// Zero for a hard threshold.
    public var gracePeriod: Duration
    /// Once met, the threshold stays met until the signal is above value + minReclaim.
    public var minReclaim: ThresholdValue?

    public init(signal: EvictionSignal, value: ThresholdValue, gracePeriod: Duration = .zero, minReclaim: ThresholdValue? = nil) {
        self.signal = signal
        self.value = value
        self.gracePeriod = gracePeriod
        self.minReclaim = minReclaim
    }

    public var isHard: Bool { gracePeriod == .zero }

    public var description: String {
        "\(signal.rawValue)<\(value)" + (isHard ? "" : " (soft, grace \(Int64(gracePeriod.components.seconds))s)")
    }
}

/// The eviction manager's configuration, from the kubelet's flags.
public struct EvictionConfig: Sendable, Hashable {
    public var thresholds: [EvictionThreshold]
    /// How long a pressure condition stays true after its threshold is no longer met (upstream's
    /// `--eviction-pressure-transition-period`, default 5 minutes), so the node does not flap.
    public var pressureTransitionPeriod: Duration
    /// The grace period ceiling for soft evictions (`--eviction-max-pod-grace-period`).
    public var maxPodGracePeriodSeconds: Int64

    public init(thresholds: [EvictionThreshold] = EvictionConfig.defaultHardThresholds,
                pressureTransitionPeriod: Duration = .seconds(300), maxPodGracePeriodSeconds: Int64 = 0) {
        self.thresholds = thresholds
        self.pressureTransitionPeriod = pressureTransitionPeriod
        self.maxPodGracePeriodSeconds = maxPodGracePeriodSeconds
    }

    /// Upstream's default `--eviction-hard` on Linux.
    public static let defaultHardText = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%"

    public static let defaultHardThresholds: [EvictionThreshold] = {
        do { return try EvictionConfig.parse(hard: defaultHardText).thresholds } catch { preconditionFailure("default thresholds: \(error)") }
    }()

    /// Parses the kubelet's flag texts: `hard` and `soft` as `signal<value` lists
    /// (`memory.available<100Mi,nodefs.available<10%`), `softGracePeriods` as `signal=duration`
    /// (`memory.available=1m30s`) and `minimumReclaim` as `signal=value`. As upstream: every soft
    /// threshold needs a grace period, 0% and 100% are ignored, quantities must be positive.
    public static func parse(hard: String = "", soft: String = "", softGracePeriods: String = "", minimumReclaim: String = "",
                             pressureTransitionPeriod: Duration = .seconds(300), maxPodGracePeriodSeconds: Int64 = 0) throws(KubeletError) -> EvictionConfig {
        var thresholds = try parseStatements(hard, flag: "--eviction-hard")
        let softThresholds = try parseStatements(soft, flag: "--eviction-soft")
        let graces = try parsePairs(softGracePeriods, flag: "--eviction-soft-grace-period")
        let reclaims = try parsePairs(minimumReclaim, flag: "--eviction-minimum-reclaim")
        for var threshold in softThresholds {
            guard let text = graces[threshold.signal] else {
                throw KubeletError(.configuration, "grace period must be specified for the soft eviction threshold \(threshold.signal.rawValue)")
            }
            guard let grace = parseDuration(text), grace > .zero else {
                throw KubeletError(.configuration, "invalid eviction grace period specified: \(text), must be a positive duration such as 1m30s")
            }
            threshold.gracePeriod = grace
            thresholds.append(threshold)
        }
        for (signal, text) in reclaims {
            let value = try parseValue(text, signal: signal, what: "minimum reclaim")
            if case .percentage(let f, _) = value, f <= 0 {
                throw KubeletError(.configuration, "eviction percentage minimum reclaim \(signal.rawValue) must be positive: \(text)")
            }
            for i in thresholds.indices where thresholds[i].signal == signal { thresholds[i].minReclaim = value }
        }
        return EvictionConfig(thresholds: thresholds, pressureTransitionPeriod: pressureTransitionPeriod, maxPodGracePeriodSeconds: maxPodGracePeriodSeconds)
    }

    static func parseStatements(_ text: String, flag: String) throws(KubeletError) -> [EvictionThreshold] {
        var seen: Set<EvictionSignal> = []
        var out: [EvictionThreshold] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            guard let lt = item.firstIndex(of: "<") else {
                throw KubeletError(.configuration, "\(flag): invalid eviction threshold \"\(item)\": expected <signal><value>, e.g. memory.available<100Mi")
            }
            let name = String(item[..<lt]), valueText = String(item[item.index(after: lt)...])
            guard let signal = EvictionSignal(rawValue: name) else {
                throw KubeletError(.configuration, "\(flag): unsupported eviction signal \(name)")
            }
            guard seen.insert(signal).inserted else {
                throw KubeletError(.configuration, "\(flag): duplicate eviction threshold for signal \(name)")
            }
            if valueText == "0%" || valueText == "100%" { continue }
            out.append(EvictionThreshold(signal: signal, value: try parseValue(valueText, signal: signal, what: "threshold")))
        }
        return out
    }

    static func parsePairs(_ text: String, flag: String) throws(KubeletError) -> [EvictionSignal: String] {
        var out: [EvictionSignal: String] = [:]
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw KubeletError(.configuration, "\(flag): invalid entry \"\(item)\": expected <signal>=<value>")
            }
            guard let signal = EvictionSignal(rawValue: parts[0]) else {
                throw KubeletError(.configuration, "\(flag): unsupported eviction signal \(parts[0])")
            }
            out[signal] = parts[1]
        }
        return out
    }

    static func parseValue(_ text: String, signal: EvictionSignal, what: String) throws(KubeletError) -> ThresholdValue {
        if text.hasSuffix("%") {
            guard let number = Float(text.dropLast()) else {
                throw KubeletError(.configuration, "eviction \(what) \(signal.rawValue): invalid percentage \"\(text)\"")
            }
            let fraction = number / 100
            if fraction < 0 { throw KubeletError(.configuration, "eviction percentage \(what) \(signal.rawValue) must be >= 0%: \(text)") }
            if fraction > 1 { throw KubeletError(.configuration, "eviction percentage \(what) \(signal.rawValue) must be <= 100%: \(text)") }
            return .percentage(fraction, text: text)
        }
        let quantity: Quantity
        do { quantity = try Quantity(parsing: text) } catch {
            throw KubeletError(.configuration, "eviction \(what) \(signal.rawValue): \(error)")
        }
        if what == "threshold" && quantity.milliValue <= 0 {
            throw KubeletError(.configuration, "eviction threshold \(signal.rawValue) must be positive: \(text)")
        }
        if quantity.milliValue < 0 {
            throw KubeletError(.configuration, "negative eviction \(what) specified for \(signal.rawValue)")
        }
        return .quantity(quantity.value, text: text)
    }

    /// A Go-style duration (`90s`, `1m30s`, `1h`, `500ms`); nil when malformed.
    public static func parseDuration(_ text: String) -> Duration? {
        var rest = Substring(text)
        var total = Duration.zero
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let number = Double(digits), !digits.isEmpty else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { !$0.isNumber && $0 != "." }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "h": scale = 3600
            case "m": scale = 60
            case "s": scale = 1
            case "ms": scale = 0.001
            default: return nil
            }
            total += .milliseconds(Int64((number * scale * 1000).rounded()))
        }
        return total
    }
}

/// Kubernetes' canonical text for an amount: binary suffixes for bytes (`100Mi`, `1536Ki`,
/// `1500` when no suffix divides it exactly), decimal ones for counts (`5k`, `1500`), as
/// `resource.NewQuantity(n, BinarySI|DecimalSI).String()` prints them.
public enum QuantityText {
    public static func binary(_ value: Int64) -> String {
        guard value <= -1024 || value >= 1024 else { return String(value) }
        let suffixes = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        var v = value, index = -1
        while v % 1024 == 0 && index + 1 < suffixes.count { v /= 1024; index += 1 }
        return index < 0 ? String(value) : "\(v)\(suffixes[index])"
    }

    public static func decimal(_ value: Int64) -> String {
        guard value != 0 else { return "0" }
        let suffixes = ["k", "M", "G", "T", "P", "E"]
        var v = value, index = -1
        while v % 1000 == 0 && index + 1 < suffixes.count { v /= 1000; index += 1 }
        return index < 0 ? String(value) : "\(v)\(suffixes[index])"
    }

    /// `binary` for byte signals, `decimal` for counts.
    public static func amount(_ value: Int64, signal: EvictionSignal) -> String {
        signal.isBytes ? binary(value) : decimal(value)
    }
}

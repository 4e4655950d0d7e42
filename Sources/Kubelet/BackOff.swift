import Foundation

/// Per-key exponential back-off, as upstream's `flowcontrol.Backoff` used for CrashLoopBackOff
/// and ImagePullBackOff: the first event starts at `initial`, each next one within the
/// expiry window doubles the delay up to `maximum`; an event more than `2 × maximum` after the
/// previous one (a container that ran for 10 minutes with the defaults) starts over.
///
/// A value type with no clock: callers pass event times and `now`.
public struct BackOff: Sendable, Hashable {
    public let initial: Duration
    public let maximum: Duration
    struct Entry: Sendable, Hashable {
        var delay: Duration
        var lastUpdate: Date
    }
    private var entries: [String: Entry] = [:]

    /// Upstream's kubelet values: 10 s doubling to 300 s.
    public init(initial: Duration = .seconds(10), maximum: Duration = .seconds(300)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Records an event (a restart, a failed pull) at `eventTime` and returns the delay that
    /// the next event of `key` must wait after it.
    @discardableResult
    public mutating func next(_ key: String, eventTime: Date) -> Duration {
        var entry = entries[key] ?? Entry(delay: .zero, lastUpdate: eventTime)
        if entry.delay == .zero || expired(entry, at: eventTime) {
            entry.delay = initial
        } else {
            entry.delay = min(entry.delay * 2, maximum)
        }
        entry.lastUpdate = eventTime
        entries[key] = entry
        return entry.delay
    }

    /// How long `key` must still wait at `now` counting from `eventTime` (the last failure),
    /// or nil when it is not in back-off.
    public func remaining(_ key: String, since eventTime: Date, now: Date) -> Duration? {
        guard let entry = entries[key], !expired(entry, at: now) else { return nil }
        let waited = now.timeIntervalSince(eventTime)
        let left = entry.delay.seconds - waited
        return left > 0 ? .milliseconds(Int64((left * 1000).rounded(.up))) : nil
    }

    /// The current delay for `key`, nil when none is recorded.
    public func delay(_ key: String) -> Duration? { entries[key]?.delay }

    /// Forgets `key` (a pod that went away).
    public mutating func reset(_ key: String) { entries[key] = nil }

    /// Forgets every key with `prefix`.
    public mutating func reset(prefix: String) {
        entries = entries.filter { !$0.key.hasPrefix(prefix) }
    }

    private func expired(_ entry: Entry, at time: Date) -> Bool {
        time.timeIntervalSince(entry.lastUpdate) > (maximum * 2).seconds
    }
}

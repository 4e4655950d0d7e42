import Store
import Synchronization

/// A ``StoreClock`` that only moves when a test says so, for TTL expiry and history retention.
public final class ManualStoreClock: StoreClock {
    private let now: Mutex<Int64>

    /// Starts at `milliseconds` since the Unix epoch.
    public init(milliseconds: Int64 = 1_700_000_000_000) {
        now = Mutex(milliseconds)
    }

    public func nowMilliseconds() -> Int64 { now.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        now.withLock { $0 += seconds * 1000 + attoseconds / 1_000_000_000_000_000 }
    }
}

import Foundation
import Synchronization

/// A wall clock that only moves when a test says so (kubelet back-off, probe schedules,
/// status timestamps). Starts where ``FakeRuntime``'s clock starts, so the two can be advanced
/// together. The kubelet's tests make it a `KubeletClock` (`now()` is the requirement).
public final class ManualClock: Sendable {
    private let current: Mutex<Date>

    /// Starts at `start`: by default 1 700 000 000 s after the epoch, FakeRuntime's start.
    public init(start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward by `duration`.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        current.withLock { $0 += Double(seconds) + Double(attoseconds) / 1e18 }
    }
}

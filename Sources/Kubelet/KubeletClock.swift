import Foundation
import KubeAPI

/// Where the kubelet reads the time: status timestamps, crash-loop and image back-off, probe
/// schedules. Injected so that unit tests step a manual clock and never sleep.
///
/// Implementations are thread-safe; `now()` never goes backwards for a manual clock, while the
/// system clock follows wall time as upstream's does.
public protocol KubeletClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct SystemClock: KubeletClock {
    public init() {}
    public func now() -> Date { Date() }
}

extension Date {
    /// RFC 3339 with second precision in UTC, as Kubernetes serializes `metav1.Time`.
    var rfc3339: String { KubeTime.time(self) }

    /// Nanoseconds since the Unix epoch, the CRI's time unit.
    init(nanoseconds: Int64) {
        self.init(timeIntervalSince1970: Double(nanoseconds) / 1e9)
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

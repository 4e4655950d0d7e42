import Foundation
import Synchronization

/// The kubelet's Prometheus metrics, upstream's names: pod start duration (first seen to all
/// containers running), PLEG relist duration, running pods and containers. Thread-safe.
public final class KubeletMetrics: Sendable {
    struct Histogram: Sendable {
        var buckets: [Double]
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0
        init(buckets: [Double]) {
            self.buckets = buckets
            counts = Array(repeating: 0, count: buckets.count)
        }
        mutating func observe(_ value: Double) {
            for i in buckets.indices where value <= buckets[i] { counts[i] += 1 }
            sum += value
            count += 1
        }
        func render(_ name: String, help: String) -> String {
            var out = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for (bound, n) in zip(buckets, counts) { out += "\(name)_bucket{le=\"\(format(bound))\"} \(n)\n" }
            out += "\(name)_bucket{le=\"+Inf\"} \(count)\n\(name)_sum \(format(sum))\n\(name)_count \(count)\n"
            return out
        }
    }
    struct State: Sendable {
        // Upstream's buckets for kubelet_pod_start_duration_seconds.
        var podStart = Histogram(buckets: [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600])
        var relist = Histogram(buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
        var runningPods = 0
        var runningContainers = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func observePodStart(_ duration: Duration) { state.withLock { $0.podStart.observe(duration.seconds) } }
    public func observeRelist(_ duration: Duration) { state.withLock { $0.relist.observe(duration.seconds) } }
    public func setRunning(pods: Int, containers: Int) {
        state.withLock {
            $0.runningPods = pods
            $0.runningContainers = containers
        }
    }
    /// Pod start durations observed so far (count), for tests and the benchmark.
    public var podStartCount: UInt64 { state.withLock { $0.podStart.count } }

    /// The Prometheus text exposition (version 0.0.4).
    public func render() -> String {
        let s = state.withLock { $0 }
        return s.podStart.render("kubelet_pod_start_duration_seconds", help: "Duration in seconds from the kubelet seeing a pod for the first time to the pod starting to run")
            + s.relist.render("kubelet_pleg_relist_duration_seconds", help: "Duration in seconds for relisting pods in PLEG.")
            + "# HELP kubelet_running_pods Number of pods that have a running pod sandbox\n# TYPE kubelet_running_pods gauge\nkubelet_running_pods \(s.runningPods)\n"
            + "# HELP kubelet_running_containers Number of containers currently running\n# TYPE kubelet_running_containers gauge\nkubelet_running_containers{container_state=\"running\"} \(s.runningContainers)\n"
    }
}

private func format(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
}

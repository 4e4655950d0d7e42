import Foundation
import Synchronization

/// The proxy's Prometheus metrics, with upstream kube-proxy's names and buckets, rendered as
/// text exposition format 0.0.4 for `/metrics`. Thread-safe.
public final class ProxyMetrics: Sendable {
    /// Upstream's sync duration buckets: 1 ms doubling 15 times.
    public static let syncBuckets: [Double] = (0..<15).map { 0.001 * Double(1 << $0) }
    /// Upstream's network programming buckets: 0.25 s to 5 min.
    public static let programmingBuckets: [Double] =
        [0.25, 0.5] + (1...59).map(Double.init) + (0..<12).map { 60 + 5 * Double($0) } + (0..<7).map { 120 + 30 * Double($0) }

    struct Histogram {
        let bounds: [Double]
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0
        init(_ bounds: [Double]) {
            self.bounds = bounds
            counts = Array(repeating: 0, count: bounds.count)
        }
        mutating func observe(_ v: Double) {
            for (i, b) in bounds.enumerated() where v <= b { counts[i] += 1 }
            sum += v
            count += 1
        }
        func render(_ name: String, _ help: String, into out: inout String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for (i, b) in bounds.enumerated() { out += "\(name)_bucket{le=\"\(formatNumber(b))\"} \(counts[i])\n" }
            out += "\(name)_bucket{le=\"+Inf\"} \(count)\n\(name)_sum \(formatNumber(sum))\n\(name)_count \(count)\n"
        }
    }

    private struct State {
        var sync = Histogram(ProxyMetrics.syncBuckets)
        var fullSync = Histogram(ProxyMetrics.syncBuckets)
        var partialSync = Histogram(ProxyMetrics.syncBuckets)
        var programming = Histogram(ProxyMetrics.programmingBuckets)
        var lastTimestamp: Double?
        var lastQueuedTimestamp: Double?
        var endpointChanges: UInt64 = 0
        var serviceChanges: UInt64 = 0
        var failures: [String: UInt64] = [:]
        var services = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Records one sync (its duration, kind, outcome; `wallTime` is when it ended, Unix seconds).
    public func record(_ report: Proxier.SyncReport, wallTime: Double) {
        let seconds = Double(report.duration.components.seconds) + Double(report.duration.components.attoseconds) / 1e18
        state.withLock { s in
            if report.succeeded {
                s.sync.observe(seconds)
                if report.kind == .full { s.fullSync.observe(seconds) } else { s.partialSync.observe(seconds) }
                s.lastTimestamp = wallTime
                s.services = report.serviceCount
                for p in report.networkProgrammingSeconds { s.programming.observe(p) }
            }
            for mode in report.failedModes { s.failures[mode, default: 0] += 1 }
        }
    }

    public func serviceChanged() { state.withLock { $0.serviceChanges += 1 } }
    public func endpointsChanged() { state.withLock { $0.endpointChanges += 1 } }
    /// A sync was requested at `wallTime` (Unix seconds).
    public func queued(wallTime: Double) { state.withLock { $0.lastQueuedTimestamp = wallTime } }

    /// The exposition text.
    public func render() -> String {
        let s = state.withLock { $0 }
        var out = ""
        s.sync.render("kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds", into: &out)
        s.fullSync.render("kubeproxy_sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs", into: &out)
        s.partialSync.render("kubeproxy_sync_partial_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for partial resyncs", into: &out)
        s.programming.render("kubeproxy_network_programming_duration_seconds", "In Cluster Network Programming Latency in seconds", into: &out)
        func gauge(_ name: String, _ help: String, _ v: Double?) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(formatNumber(v ?? 0))\n"
        }
        func counter(_ name: String, _ help: String, _ v: UInt64) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(v)\n"
        }
        gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were successfully synced", s.lastTimestamp)
        gauge("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "The last time a sync of proxy rules was queued", s.lastQueuedTimestamp)
        counter("kubeproxy_sync_proxy_rules_endpoint_changes_total", "Cumulative proxy rules Endpoint changes", s.endpointChanges)
        counter("kubeproxy_sync_proxy_rules_service_changes_total", "Cumulative proxy rules Service changes", s.serviceChanges)
        // Upstream names the failure counter after the backend's tool.
        let failureNames = ["iptables": "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
                            "nftables": "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
                            "ipvs": "kubeproxy_sync_proxy_rules_ipvs_sync_failures_total"]
        for mode in Set(s.failures.keys).union(["nftables"]).sorted() {
            counter(failureNames[mode] ?? "kubeproxy_sync_proxy_rules_\(mode)_sync_failures_total", "Cumulative proxy \(mode) sync failures", s.failures[mode] ?? 0)
        }
        gauge("kubeproxy_sync_proxy_rules_services", "Service ports programmed by the last successful sync", Double(s.services))
        return out
    }
}

/// Prometheus number text: integers without a fraction, others in shortest form.
func formatNumber(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

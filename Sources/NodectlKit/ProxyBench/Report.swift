import Foundation

/// One measured point: a backend at N Services × M endpoints.
struct ProxyBenchRow: Codable, Sendable {
    var backend: String
    /// Where it ran: `host`, or e.g. `vm` for IPVS numbers from the virtme-ng VM.
    var environment: String
    var services: Int
    var endpoints: Int
    var fullSyncSeconds: Double
    var partialAddSeconds: Double
    var partialEndpointSeconds: Double
    var objects: Int
    var objectKind: String
    var peakRSSKiB: Int
    var connectP50Micros: Double?
    var connectP99Micros: Double?
    var connects: Int
    var connectFailures: Int
    /// Connects straight to endpoint addresses, interleaved one by one with the Service
    /// connects of this row (nil in runs from before they were measured).
    var floorP50Micros: Double?
    var floorP99Micros: Double?
    /// The 1-minute load average when the row's connects ended (nil in older runs): figures
    /// taken on a busy machine measure the scheduler as much as the rules.
    var loadAverage: Double?

    /// connectP99Micros / floorP99Micros: how far the rules move the tail from the floor
    /// measured beside it.
    var p99OverFloor: Double? {
        guard let p99 = connectP99Micros, let floor = floorP99Micros, floor > 0 else { return nil }
        return p99 / floor
    }
    /// How upstream applies the same Services: `iptables-restore`, `nft -f` (KEP-3866 shape),
    /// `ipvsadm --restore`.
    var baselineMethod: String
    /// Nil when the baseline did not finish within the timeout.
    var baselineSeconds: Double?
    var baselineTimeoutSeconds: Int
    /// fullSyncSeconds / baselineSeconds (below 1: Nodekit is faster).
    var ratio: Double?
}

/// The whole run, as written to `--json`.
struct ProxyBenchReport: Codable, Sendable {
    var kernel: String
    var cpus: Int
    var date: String
    var quick: Bool
    /// Connect latency straight to endpoint addresses, through no Service rules: the floor.
    var directConnectP50Micros: Double
    var directConnectP99Micros: Double
    var rows: [ProxyBenchRow]
    var skipped: [String]
}

enum ProxyBenchOutput {
    static func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

    static func milliseconds(_ s: Double) -> String { s >= 1 ? fixed(s, 2) + " s" : fixed(s * 1000, 1) + " ms" }

    /// The table printed on stdout.
    static func table(_ report: ProxyBenchReport) -> String {
        var t = Table("BACKEND", "ENV", "N", "M", "FULL SYNC", "+1 SERVICE", "1 ENDPOINT", "OBJECTS", "PEAK RSS",
                      "P50 CONNECT", "P99 CONNECT", "P99 FLOOR", "P99/FLOOR", "BASELINE", "RATIO", "LOAD")
        for r in report.rows {
            t.append([
                r.backend, r.environment, "\(r.services)", "\(r.endpoints)",
                milliseconds(r.fullSyncSeconds), milliseconds(r.partialAddSeconds), milliseconds(r.partialEndpointSeconds),
                "\(r.objects) \(r.objectKind)", "\(r.peakRSSKiB / 1024) MiB",
                r.connectP50Micros.map { fixed($0, 0) + " µs" } ?? "-",
                (r.connectP99Micros.map { fixed($0, 0) + " µs" } ?? "-") + (r.connectFailures > 0 ? " (\(r.connectFailures)/\(r.connects) failed)" : ""),
                r.floorP99Micros.map { fixed($0, 0) + " µs" } ?? "-",
                r.p99OverFloor.map { fixed($0, 2) } ?? "-",
                (r.baselineSeconds.map(milliseconds) ?? "> \(r.baselineTimeoutSeconds) s") + " " + r.baselineMethod,
                r.ratio.map { fixed($0, 2) + "x" } ?? (r.baselineSeconds == nil ? "< " + fixed(r.fullSyncSeconds / Double(r.baselineTimeoutSeconds), 2) + "x" : "-"),
                r.loadAverage.map { fixed($0, 1) } ?? "-",
            ])
        }
        var text = "kernel \(report.kernel), \(report.cpus) CPUs, \(report.date); connect straight to endpoints (no rules): p50 "
            + fixed(report.directConnectP50Micros, 0) + " µs, p99 " + fixed(report.directConnectP99Micros, 0) + " µs\n" + t.render()
        for s in report.skipped { text += "skipped: \(s)\n" }
        return text
    }

    static func json(_ report: ProxyBenchReport) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(report)
    }
}

/// A small SVG line-chart writer: two panels (full sync time, p99 connect latency) against N on
/// a log axis, one line per backend and endpoint count.
enum ProxyBenchSVG {
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func render(_ report: ProxyBenchReport) -> String {
        let panelWidth = 420.0, panelHeight = 300.0, margin = 60.0, legendHeight = 20.0
        var series: [(name: String, points: [(n: Int, sync: Double, p99: Double?)])] = []
        for r in report.rows {
            let name = "\(r.backend) M=\(r.endpoints)" + (r.environment == "host" ? "" : " (\(r.environment))")
            if let i = series.firstIndex(where: { $0.name == name }) {
                series[i].points.append((r.services, r.fullSyncSeconds, r.connectP99Micros))
            } else {
                series.append((name, [(r.services, r.fullSyncSeconds, r.connectP99Micros)]))
            }
        }
        let ns = report.rows.map(\.services)
        let minN = Double(ns.min() ?? 1), maxN = Double(ns.max() ?? 10)
        let width = 2 * panelWidth + 3 * margin
        let height = panelHeight + 2 * margin + legendHeight * Double(series.count)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        func x(_ n: Int, left: Double) -> Double {
            maxN == minN ? left + panelWidth / 2 : left + (log10(Double(n)) - log10(minN)) / (log10(maxN) - log10(minN)) * panelWidth
        }
        let panels: [(title: String, unit: String, value: ((n: Int, sync: Double, p99: Double?)) -> Double?)] = [
            ("Full sync time", "s", { $0.sync }),
            ("First-packet connect p99", "µs", { $0.p99 }),
        ]
        for (index, panel) in panels.enumerated() {
            let left = margin + Double(index) * (panelWidth + margin)
            let top = margin
            let values = series.flatMap { $0.points.compactMap(panel.value) }
            let maxY = max(values.max() ?? 1, 1e-9) * 1.1
            func y(_ v: Double) -> Double { top + panelHeight - v / maxY * panelHeight }
            svg += "<text x=\"\(left)\" y=\"\(top - 20)\" font-size=\"14\" font-weight=\"bold\">\(escape(panel.title)) (\(panel.unit))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(panelWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#888\"/>\n"
            for k in 0...4 {
                let v = maxY * Double(k) / 4
                svg += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(left + panelWidth)\" y2=\"\(y(v))\" stroke=\"#eee\"/>\n"
                svg += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(ProxyBenchOutput.fixed(v, v < 10 ? 2 : 0))</text>\n"
            }
            for n in Set(ns).sorted() {
                svg += "<text x=\"\(x(n, left: left))\" y=\"\(top + panelHeight + 16)\" text-anchor=\"middle\">\(n >= 1000 ? "\(n / 1000)k" : "\(n)")</text>\n"
            }
            svg += "<text x=\"\(left + panelWidth / 2)\" y=\"\(top + panelHeight + 34)\" text-anchor=\"middle\">Services (N, log scale)</text>\n"
            for (s, line) in series.enumerated() {
                let color = colors[s % colors.count]
                let points = line.points.sorted { $0.n < $1.n }.compactMap { p in panel.value(p).map { (x(p.n, left: left), y($0)) } }
                if points.count > 1 {
                    svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + points.map { "\($0.0),\($0.1)" }.joined(separator: " ") + "\"/>\n"
                }
                for p in points { svg += "<circle cx=\"\(p.0)\" cy=\"\(p.1)\" r=\"3\" fill=\"\(color)\"/>\n" }
            }
        }
        for (s, line) in series.enumerated() {
            let yy = margin + panelHeight + 50 + legendHeight * Double(s)
            svg += "<rect x=\"\(margin)\" y=\"\(yy - 10)\" width=\"12\" height=\"12\" fill=\"\(colors[s % colors.count])\"/>\n"
            svg += "<text x=\"\(margin + 18)\" y=\"\(yy)\">\(escape(line.name))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }
}

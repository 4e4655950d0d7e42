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

/// A small SVG line-chart writer: two panels (full sync time, p99 connect latency) against N,
/// every axis logarithmic (the backends' sync times span four decades), one colour per backend
/// and endpoint count: a solid line for Nodekit and, in the sync panel, a dashed line of the
/// same colour for the upstream-method baseline of the same run (where it finished). Rows from
/// elsewhere than the host (the VM's IPVS rows) are labelled with their environment.
enum ProxyBenchSVG {
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// A base-10 log axis over whole decades covering the values it is given.
    struct LogAxis {
        /// log10 of the axis ends.
        let low: Double, high: Double

        init(covering values: [Double]) {
            let logs = values.filter { $0 > 0 }.map(log10)
            let low = (logs.min() ?? 0).rounded(.down)
            var high = (logs.max() ?? 1).rounded(.up)
            if high <= low { high = low + 1 }
            // A point exactly on a decade sits on the edge: leave room above the highest.
            if let top = logs.max(), top == high { high += 1 }
            self.low = low
            self.high = high
        }

        /// The fraction (0 at `low`, 1 at `high`) of `value` along the axis.
        func fraction(_ value: Double) -> Double { (log10(value) - low) / (high - low) }

        /// One tick per decade.
        var decades: [Double] { stride(from: low, through: high, by: 1).map { pow(10, $0) } }
    }

    /// A time in seconds as a short axis label: `10 ms`, `1 s`, `100 µs`.
    static func secondsLabel(_ s: Double) -> String {
        if s >= 1 { return "\(Int(s.rounded())) s" }
        if s >= 1e-3 { return "\(Int((s * 1e3).rounded())) ms" }
        return "\(Int((s * 1e6).rounded())) µs"
    }

    static func render(_ report: ProxyBenchReport) -> String {
        let panelWidth = 420.0, panelHeight = 300.0, margin = 70.0, legendHeight = 18.0, top = 80.0
        struct Point { var n: Int, sync: Double, baseline: Double?, p99: Double? }
        var series: [(name: String, points: [Point])] = []
        for r in report.rows {
            let name = "\(r.backend) M=\(r.endpoints)" + (r.environment == "host" ? "" : " (\(r.environment))")
            let point = Point(n: r.services, sync: r.fullSyncSeconds, baseline: r.baselineSeconds, p99: r.connectP99Micros)
            if let i = series.firstIndex(where: { $0.name == name }) { series[i].points.append(point) } else { series.append((name, [point])) }
        }
        let ns = Set(report.rows.map(\.services)).sorted()
        // N spans a decade or two: place it by its log between the smallest and the largest N.
        let minN = log10(Double(ns.first ?? 1)), maxN = log10(Double(ns.last ?? 10))
        func x(_ n: Int, left: Double) -> Double {
            maxN == minN ? left + panelWidth / 2 : left + 20 + (log10(Double(n)) - minN) / (maxN - minN) * (panelWidth - 40)
        }
        let width = 2 * panelWidth + 3 * margin
        let height = top + panelHeight + 70 + legendHeight * Double(series.count + 2)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        let loads = report.rows.compactMap(\.loadAverage)
        var caption = "nodectl bench proxy, \(report.date), kernel \(report.kernel), \(report.cpus) CPUs"
        if let lo = loads.min(), let hi = loads.max() { caption += ", load \(ProxyBenchOutput.fixed(lo, 1))–\(ProxyBenchOutput.fixed(hi, 1))" }
        svg += "<text x=\"\(margin)\" y=\"24\" font-size=\"13\">\(escape(caption))</text>\n"
        let environments = Set(report.rows.map(\.environment)).subtracting(["host"]).sorted()
        if !environments.isEmpty {
            let note = "Lines marked (" + environments.joined(separator: ", ") + ") ran elsewhere (vm: QEMU TCG, an emulated CPU): compare them with their own baseline, not with host lines."
            svg += "<text x=\"\(margin)\" y=\"42\" font-size=\"11\" fill=\"#555\">\(escape(note))</text>\n"
        }
        let panels: [(title: String, values: (Point) -> [(value: Double, dashed: Bool)], label: (Double) -> String)] = [
            ("Full sync time (solid) and baseline (dashed)", { p in [(value: p.sync, dashed: false)] + (p.baseline.map { [(value: $0, dashed: true)] } ?? []) }, secondsLabel),
            ("First-packet connect p99", { p in p.p99.map { [(value: $0, dashed: false)] } ?? [] }, { secondsLabel($0 / 1e6) }),
        ]
        for (index, panel) in panels.enumerated() {
            let left = margin + Double(index) * (panelWidth + margin)
            let axis = LogAxis(covering: series.flatMap { $0.points.flatMap { panel.values($0).map(\.value) } })
            func y(_ v: Double) -> Double { top + panelHeight - axis.fraction(v) * panelHeight }
            svg += "<text x=\"\(left)\" y=\"\(top - 12)\" font-size=\"14\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(panelWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#888\"/>\n"
            for v in axis.decades {
                svg += "<line x1=\"\(left)\" y1=\"\(y(v))\" x2=\"\(left + panelWidth)\" y2=\"\(y(v))\" stroke=\"#e4e4e4\"/>\n"
                svg += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(escape(panel.label(v)))</text>\n"
            }
            for n in ns {
                svg += "<text x=\"\(x(n, left: left))\" y=\"\(top + panelHeight + 16)\" text-anchor=\"middle\">\(n >= 1000 ? "\(n / 1000)k" : "\(n)")</text>\n"
            }
            svg += "<text x=\"\(left + panelWidth / 2)\" y=\"\(top + panelHeight + 34)\" text-anchor=\"middle\">Services (N), log scale; times log scale</text>\n"
            for (s, line) in series.enumerated() {
                let color = colors[s % colors.count]
                for dashed in [false, true] {
                    let points = line.points.sorted { $0.n < $1.n }.compactMap { p in
                        panel.values(p).first { $0.dashed == dashed }.map { (x(p.n, left: left), y($0.value)) }
                    }
                    // Baselines are paths, Nodekit's lines polylines: one polyline per series and panel.
                    if points.count > 1 && dashed {
                        svg += "<path fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\" d=\"M"
                            + points.map { "\($0.0),\($0.1)" }.joined(separator: " L") + "\"/>\n"
                    } else if points.count > 1 {
                        svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + points.map { "\($0.0),\($0.1)" }.joined(separator: " ") + "\"/>\n"
                    }
                    for p in points {
                        svg += dashed ? "<circle cx=\"\(p.0)\" cy=\"\(p.1)\" r=\"3\" fill=\"white\" stroke=\"\(color)\"/>\n" : "<circle cx=\"\(p.0)\" cy=\"\(p.1)\" r=\"3\" fill=\"\(color)\"/>\n"
                    }
                }
            }
        }
        for (s, line) in series.enumerated() {
            let yy = top + panelHeight + 60 + legendHeight * Double(s)
            svg += "<rect x=\"\(margin)\" y=\"\(yy - 10)\" width=\"12\" height=\"12\" fill=\"\(colors[s % colors.count])\"/>\n"
            svg += "<text x=\"\(margin + 18)\" y=\"\(yy)\">\(escape(line.name))</text>\n"
        }
        let keyY = top + panelHeight + 60 + legendHeight * Double(series.count) + 4
        svg += "<text x=\"\(margin)\" y=\"\(keyY)\" fill=\"#555\">solid: Nodekit's backend; dashed, open points: the same Services loaded the upstream way in the same run (a baseline that timed out has no point)</text>\n"
        svg += "</svg>\n"
        return svg
    }
}

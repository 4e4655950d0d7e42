import Foundation
import Testing
@testable import NodectlKit

@Suite struct ProxyBenchChartTests {
    func row(_ backend: String, _ n: Int, sync: Double, baseline: Double?, p99: Double?, environment: String = "host") -> ProxyBenchRow {
        ProxyBenchRow(backend: backend, environment: environment, services: n, endpoints: 2, fullSyncSeconds: sync,
                      partialAddSeconds: 0.01, partialEndpointSeconds: 0.01, objects: n * 7, objectKind: "rules", peakRSSKiB: 40_000,
                      connectP50Micros: p99.map { $0 / 2 }, connectP99Micros: p99, connects: 100, connectFailures: 0,
                      floorP50Micros: 50, floorP99Micros: 100, loadAverage: 2.5, baselineMethod: "m", baselineSeconds: baseline,
                      baselineTimeoutSeconds: 120, ratio: baseline.map { sync / $0 })
    }

    var report: ProxyBenchReport {
        ProxyBenchReport(kernel: "6.18", cpus: 2, date: "2026-11-26T12:00:00Z", quick: false, directConnectP50Micros: 50, directConnectP99Micros: 100, rows: [
            row("nftables", 1000, sync: 0.05, baseline: 0.5, p99: 120),
            row("nftables", 5000, sync: 0.15, baseline: 28, p99: 130),
            row("nftables", 10000, sync: 0.35, baseline: nil, p99: 140),
            row("iptables-legacy", 1000, sync: 0.1, baseline: 0.09, p99: 150),
            row("iptables-legacy", 5000, sync: 0.5, baseline: 0.6, p99: 300),
            row("iptables-legacy", 10000, sync: 1.1, baseline: 1.4, p99: 600),
            row("ipvs", 1000, sync: 9, baseline: 13, p99: 900, environment: "vm"),
            row("ipvs", 5000, sync: 25, baseline: 55, p99: 950, environment: "vm"),
            row("ipvs", 10000, sync: 101, baseline: 151, p99: nil, environment: "vm"),
        ], skipped: [])
    }

    /// The points of every line, in order: Nodekit's polylines and the baselines' dashed paths.
    func polylines(_ svg: String) -> [(dashed: Bool, points: [(x: Double, y: Double)])] {
        svg.split(separator: "\n").filter { $0.hasPrefix("<polyline") || $0.hasPrefix("<path") }.map { line in
            let dashed = line.hasPrefix("<path")
            let data = line.components(separatedBy: dashed ? " d=\"M" : "points=\"")[1].prefix { $0 != "\"" }
            let points = data.split(separator: " ").map { pair in
                let xy = pair.drop { $0 == "L" }.split(separator: ",").map { Double($0)! }
                return (x: xy[0], y: xy[1])
            }
            #expect(dashed == line.contains("stroke-dasharray"))
            return (dashed, points)
        }
    }

    @Test func oneLinePerBackendWithDashedBaselinesAndLabelledVMRows() {
        let svg = ProxyBenchSVG.render(report)
        #expect(svg.hasPrefix("<svg ") && svg.hasSuffix("</svg>\n"))
        for name in ["nftables M=2", "iptables-legacy M=2", "ipvs M=2 (vm)"] { #expect(svg.contains(">\(name)</text>"), "legend \(name)") }
        #expect(svg.contains("QEMU TCG"), "the VM rows are explained")
        let lines = polylines(svg)
        // Sync panel: three solid lines, three dashed baselines (nftables' has two points: its
        // 10k baseline timed out). p99 panel: three solid lines (ipvs with two points).
        #expect(lines.filter { !$0.dashed }.count == 6)
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 6, "one polyline per series and panel")
        #expect(lines.filter(\.dashed).map(\.points.count) == [2, 3, 3])
        // Larger N further right, larger times higher up (smaller y).
        let legacy = lines[2]
        #expect(!legacy.dashed && legacy.points.count == 3)
        #expect(legacy.points[0].x < legacy.points[1].x && legacy.points[1].x < legacy.points[2].x)
        #expect(legacy.points[0].y > legacy.points[1].y && legacy.points[1].y > legacy.points[2].y)
    }

    /// Both value axes are logarithmic over whole decades: equal ratios are equal distances.
    @Test func logAxisCoversWholeDecades() {
        let axis = ProxyBenchSVG.LogAxis(covering: [0.05, 101])
        #expect(axis.low == -2 && axis.high == 3)
        let decades = [0.01, 0.1, 1, 10, 100, 1000]
        #expect(axis.decades.count == decades.count && zip(axis.decades, decades).allSatisfy { abs($0 / $1 - 1) < 1e-9 })
        #expect(abs((axis.fraction(0.1) - axis.fraction(0.01)) - (axis.fraction(10) - axis.fraction(1))) < 1e-9)
        #expect(abs(axis.fraction(0.01)) < 1e-9 && abs(axis.fraction(1000) - 1) < 1e-9)
        // A maximum exactly on a decade gets room above it; one value still spans a decade.
        #expect(ProxyBenchSVG.LogAxis(covering: [1, 100]).high == 3)
        #expect(ProxyBenchSVG.LogAxis(covering: [0.3]).low == -1 && ProxyBenchSVG.LogAxis(covering: [0.3]).high == 0)
    }

    @Test(arguments: [(0.01, "10 ms"), (1.0, "1 s"), (100.0, "100 s"), (0.0001, "100 µs"), (0.001, "1 ms")])
    func axisLabels(_ seconds: Double, _ label: String) {
        #expect(ProxyBenchSVG.secondsLabel(seconds) == label)
    }

    @Test func namesAreEscaped() {
        var r = report
        r.rows = [row("a<b", 1000, sync: 1, baseline: nil, p99: nil, environment: "x&y")]
        let svg = ProxyBenchSVG.render(r)
        #expect(svg.contains("a&lt;b M=2 (x&amp;y)") && !svg.contains("a<b"))
    }
}

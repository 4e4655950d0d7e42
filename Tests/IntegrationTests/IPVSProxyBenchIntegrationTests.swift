import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport

/// `nodectl bench proxy --quick --backends nftables` end to end, at CI size: checks that the
/// table, the JSON and the SVG come out well-formed and that every connect went through; not
/// the figures.
@Suite(.serialized)
struct IPVSProxyBenchIntegrationTests {
    static let nodectl = Host.repositoryRoot.appendingPathComponent(".build/debug/nodectl").path

    static var skipReason: String? {
        if let reason = ProxyNetnsLab.skipReason { return reason }
        if !FileManager.default.isExecutableFile(atPath: nodectl) { return "needs \(nodectl) (swift build --product nodectl)" }
        return nil
    }

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"), .timeLimit(.minutes(3)))
    func quickNFTablesRun() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nk-bench-\(Host.runSuffix)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("bench.json"), svg = dir.appendingPathComponent("bench.svg")
        let result = try await runOffPool(Self.nodectl, ["bench", "proxy", "--quick", "--backends", "nftables", "--json", json.path, "--svg", svg.path])
        #expect(result.status == 0, "stderr: \(result.stderr)")

        // Table: a header and one row per (M, N): M in 2 and 10, N in 1k and 5k.
        let lines = result.stdout.split(separator: "\n")
        let header = try #require(lines.firstIndex { $0.hasPrefix("BACKEND") }, "no table in: \(result.stdout)")
        let rows = lines[(header + 1)...].filter { $0.hasPrefix("nftables") }
        #expect(rows.count == 4, "rows: \(rows)")

        // JSON: the same four points, each with positive timings and no failed connect.
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let points = try #require(report["rows"] as? [[String: Any]])
        #expect(points.count == 4)
        #expect(Set(points.compactMap { $0["services"] as? Int }) == [1000, 5000])
        #expect(Set(points.compactMap { $0["endpoints"] as? Int }) == [2, 10])
        for point in points {
            #expect((point["fullSyncSeconds"] as? Double ?? 0) > 0, "\(point)")
            #expect((point["partialAddSeconds"] as? Double ?? 0) > 0, "\(point)")
            #expect((point["connectFailures"] as? Int) == 0, "\(point)")
            #expect((point["connectP99Micros"] as? Double ?? 0) >= (point["connectP50Micros"] as? Double ?? .infinity), "\(point)")
            #expect((point["objects"] as? Int ?? 0) > 0, "\(point)")
            #expect((point["peakRSSKiB"] as? Int ?? 0) > 1024, "\(point)")
        }

        // SVG: parses as XML, has an <svg> root and one polyline per series and panel.
        let parser = XMLParser(data: try Data(contentsOf: svg))
        let collector = ElementCounter()
        parser.delegate = collector
        #expect(parser.parse(), "SVG is not well-formed: \(parser.parserError.map { "\($0)" } ?? "")")
        #expect(collector.root == "svg")
        #expect(collector.counts["polyline"] == 4, "2 series (M=2, M=10) × 2 panels: \(collector.counts)")

        // proxy-merge joins runs: the report twice gives twice the rows; a file that is not a
        // report is refused with its name.
        let merged = dir.appendingPathComponent("merged.json")
        let merge = try await runOffPool(Self.nodectl, ["bench", "proxy-merge", json.path, json.path, "--json", merged.path])
        #expect(merge.status == 0, "stderr: \(merge.stderr)")
        let mergedReport = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: merged)) as? [String: Any])
        #expect((mergedReport["rows"] as? [[String: Any]])?.count == 8)
        let bad = try await runOffPool(Self.nodectl, ["bench", "proxy-merge", svg.path])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("bench.svg is not a bench proxy JSON report"), "stderr: \(bad.stderr)")
    }
}

/// Counts elements by name and remembers the root.
final class ElementCounter: NSObject, XMLParserDelegate {
    var root: String?
    var counts: [String: Int] = [:]
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if root == nil { root = name }
        counts[name, default: 0] += 1
    }
}

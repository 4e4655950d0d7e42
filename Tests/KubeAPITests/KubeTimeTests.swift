import Foundation
import KubeAPI
import Testing

/// `KubeTime` writes what Foundation's ISO 8601 formatter writes for metav1.Time, and six
/// digits of the second, rounded down, for metav1.MicroTime.
@Suite struct KubeTimeTests {
    static func reference(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00Z"),
        (-1.0, "1969-12-31T23:59:59Z"),
        (951_782_400.0, "2000-02-29T00:00:00Z"),
        (1_795_910_400.0 + 86_399, "2026-11-29T23:59:59Z"),
        (253_402_300_799.0, "9999-12-31T23:59:59Z"),
        (-62_135_596_800.0, "0001-01-01T00:00:00Z"),
    ])
    func knownInstants(seconds: Double, text: String) {
        #expect(KubeTime.time(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test func agreesWithFoundationOverFourHundredYears() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<4_000 {
            // 1800 to 2200, whole seconds (the formatter's fractions round, ours cut).
            let seconds = Double(Int64.random(in: -5_364_662_400...7_258_118_400, using: &generator))
            let date = Date(timeIntervalSince1970: seconds)
            #expect(KubeTime.time(date) == Self.reference(date), "\(seconds)")
        }
    }

    @Test func microTimeCutsToSixDigits() {
        #expect(KubeTime.microTime(Date(timeIntervalSince1970: 1_795_996_800.25)) == "2026-11-30T00:00:00.250000Z")
        #expect(KubeTime.microTime(Date(timeIntervalSince1970: 1_795_996_800.0000019)) == "2026-11-30T00:00:00.000001Z")
        #expect(KubeTime.microTime(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500000Z")
        #expect(KubeTime.format(seconds: 0, microseconds: 999_999) == "1970-01-01T00:00:00.999999Z")
        let now = Date()
        #expect(KubeTime.microTime(now).hasPrefix(String(KubeTime.time(now).dropLast()) + "."))
    }
}

import Foundation
import Testing
@testable import APIServer

/// Timestamp.format computes the calendar itself; it must write what an RFC 3339 formatter in
/// UTC writes, at every calendar edge.
@Suite struct TimestampTests {
    static let instants: [Double] = [
        0, -1, 59, 86_399, 86_400, 951_782_400 /* 2000-02-29 */, 951_868_800 /* 2000-03-01 */,
        1_709_164_800 /* 2024-02-29 */, 1_798_761_599 /* 2026-12-31T23:59:59 */, 4_107_542_400 /* 2100-03-01 */,
        1_764_120_000.999, -2_208_988_800 /* 1900-01-01 */, 253_402_300_799 /* 9999-12-31T23:59:59 */,
    ]

    @Test(arguments: instants)
    func formatsAsISO8601DateFormatterDoes(_ seconds: Double) {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime]
        reference.timeZone = TimeZone(identifier: "UTC")
        let date = Date(timeIntervalSince1970: seconds)
        #expect(Timestamp.format(date) == reference.string(from: Date(timeIntervalSince1970: seconds.rounded(.down))))
    }

    @Test func fourHundredYearsRoundTrip() {
        // One Gregorian cycle from 1970 on, every 97th day (all months, weekdays and year
        // positions): parse(format(d)) is d.
        for day in stride(from: Int64(0), to: 146_097, by: 97) {
            let date = Date(timeIntervalSince1970: Double(day * 86_400))
            let text = Timestamp.format(date)
            guard Timestamp.parse(text) == date else {
                Issue.record("day \(day): \(text) parses back to \(String(describing: Timestamp.parse(text)))")
                return
            }
        }
    }

    static let texts = [
        "2026-11-26T08:00:00Z", "1970-01-01T00:00:00Z", "2000-02-29T23:59:59Z", "2100-02-28T12:00:00Z", "9999-12-31T23:59:59Z",
        "2026-11-26T08:00:00.5Z", "2026-11-26T08:00:00+01:00", "2026-02-30T00:00:00Z", "2100-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-11-26T24:00:00Z", "2026-11-26T08:60:00Z", "2026-11-26 08:00:00Z", "2026-11-26T08:00:00z", "", "garbage",
    ]

    @Test(arguments: texts)
    func parsesAsISO8601DateFormatterDoes(_ text: String) {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var expected = formatter.date(from: text)
        if expected == nil {
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            expected = formatter.date(from: text)
        }
        #expect(Timestamp.parse(text) == expected)
    }
}

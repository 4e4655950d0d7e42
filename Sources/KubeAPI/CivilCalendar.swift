import Foundation

/// The proleptic Gregorian calendar as days counted from 1970-01-01, for the RFC 3339
/// timestamps that the API server and the protobuf codec read and write without a date
/// formatter (a formatter per call cost more than the rest of a write's metadata handling).
///
/// The 400-year cycle of 146,097 days, with years taken to start on March 1 so that the leap
/// day falls at the end of a year (after Howard Hinnant's "chrono-compatible low-level date
/// algorithms").
public enum CivilCalendar {
    /// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01.
    public static func date(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468 // days from 0000-03-01 to 1970-01-01
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days from 1970-01-01 to a date: the inverse of ``date(daysSinceEpoch:)``.
    public static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// `metav1.Time` and `metav1.MicroTime` as the API writes them: RFC 3339 in UTC,
/// `2006-01-02T15:04:05Z` and `2006-01-02T15:04:05.000000Z`, the finer digits rounded down.
/// Computed from ``CivilCalendar`` rather than with a date formatter: a Foundation formatter cost
/// 15-30 µs a call, more than the rest of a Lease renewal's client work.
public enum KubeTime {
    /// `metav1.Time`: whole seconds.
    public static func time(_ date: Date) -> String {
        format(seconds: Int64(date.timeIntervalSince1970.rounded(.down)), microseconds: nil)
    }

    /// `metav1.MicroTime`: six digits of the second.
    public static func microTime(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        let seconds = t.rounded(.down)
        let micros = min(999_999, Int(((t - seconds) * 1_000_000).rounded(.down)))
        return format(seconds: Int64(seconds), microseconds: micros)
    }

    /// `seconds` since 1970-01-01T00:00:00Z (negative before it), with `microseconds` (0-999,999)
    /// as a six-digit fraction when given. Years outside 0-9999 are written with as many digits
    /// as they have; callers that must refuse them check first.
    public static func format(seconds: Int64, microseconds: Int?) -> String {
        let (quotient, remainder) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let days = remainder < 0 ? quotient - 1 : quotient
        let secondOfDay = remainder < 0 ? remainder + 86_400 : remainder
        let (year, month, day) = CivilCalendar.date(daysSinceEpoch: days)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        func digits(_ value: Int64, _ width: Int) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            var n = value.magnitude
            var count = 1
            var rest = n
            while rest >= 10 {
                rest /= 10
                count += 1
            }
            bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(width, count)))
            var i = bytes.count - 1
            while n > 0 {
                bytes[i] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                i -= 1
            }
        }
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        if let microseconds {
            bytes.append(UInt8(ascii: "."))
            digits(Int64(microseconds), 6)
        }
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

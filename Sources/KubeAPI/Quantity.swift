/// A Kubernetes resource quantity (`"100m"`, `"128Mi"`, `"1e3"`, `"2"`).
///
/// The value is held as an exact rational number of milli-units, which covers every CPU and
/// memory amount the kubelet and the scheduler compare; sub-milli amounts round up as upstream's
/// `MilliValue` does. The original text is kept for round-trips.
public struct Quantity: Codable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The quantity in thousandths of a unit (for cpu: millicores; for memory: millibytes).
    public let milliValue: Int64
    /// The text the quantity was written as.
    public let text: String

    public enum ParseError: Error, CustomStringConvertible, Equatable {
        case invalid(String)
        public var description: String {
            switch self {
            case .invalid(let s): return "quantity \"\(s)\" must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            }
        }
    }

    public init(stringLiteral value: String) {
        do { try self.init(parsing: value) } catch { preconditionFailure("invalid quantity literal \(value)") }
    }

    /// A quantity of `milli` thousandths, written in the canonical decimal form.
    public init(milliValue milli: Int64) {
        self.milliValue = milli
        self.text = milli % 1000 == 0 ? String(milli / 1000) : "\(milli)m"
    }

    /// A whole number of units (bytes, cores, pods), written as an integer.
    public init(value: Int64) {
        self.milliValue = value.multipliedReportingOverflow(by: 1000).overflow ? Int64.max : value * 1000
        self.text = String(value)
    }

    public init(parsing s: String) throws {
        let chars = Array(s.utf8)
        var i = 0
        var negative = false
        if i < chars.count, chars[i] == UInt8(ascii: "+") || chars[i] == UInt8(ascii: "-") {
            negative = chars[i] == UInt8(ascii: "-"); i += 1
        }
        var intPart: [UInt8] = [], fracPart: [UInt8] = []
        var seenDot = false
        while i < chars.count, (chars[i] >= 48 && chars[i] <= 57) || chars[i] == UInt8(ascii: ".") {
            if chars[i] == UInt8(ascii: ".") {
                if seenDot { throw ParseError.invalid(s) }
                seenDot = true
            } else if seenDot { fracPart.append(chars[i]) } else { intPart.append(chars[i]) }
            i += 1
        }
        if intPart.isEmpty && fracPart.isEmpty { throw ParseError.invalid(s) }
        let suffix = String(decoding: chars[i...], as: UTF8.self)
        // Value = digits * base^exp; accumulate as a rational over 10^fracDigits.
        var base10Exp = 0, base2Exp = 0
        switch suffix {
        case "": break
        case "n": base10Exp = -9
        case "u": base10Exp = -6
        case "m": base10Exp = -3
        case "k": base10Exp = 3
        case "M": base10Exp = 6
        case "G": base10Exp = 9
        case "T": base10Exp = 12
        case "P": base10Exp = 15
        case "E": base10Exp = 18
        case "Ki": base2Exp = 10
        case "Mi": base2Exp = 20
        case "Gi": base2Exp = 30
        case "Ti": base2Exp = 40
        case "Pi": base2Exp = 50
        case "Ei": base2Exp = 60
        default:
            guard let first = suffix.first, first == "e" || first == "E", let e = Int(suffix.dropFirst()), abs(e) <= 30 else {
                throw ParseError.invalid(s)
            }
            base10Exp = e
        }
        // milli = digits * 10^(base10Exp + 3 - fracDigits) * 2^base2Exp, rounded up when fractional.
        var digits = (intPart + fracPart).drop { $0 == 48 }
        if digits.isEmpty { digits = [48] }
        if digits.count > 19 { throw ParseError.invalid(s) }
        var mantissa: Int64 = 0
        for d in digits { mantissa = mantissa * 10 + Int64(d - 48) }
        var exp10 = base10Exp + 3 - fracPart.count
        var value = mantissa
        var overflow = false
        func mul(_ by: Int64) {
            let (r, o) = value.multipliedReportingOverflow(by: by)
            if o { overflow = true; value = Int64.max } else { value = r }
        }
        for _ in 0..<base2Exp where !overflow { mul(2) }
        while exp10 > 0 && !overflow { mul(10); exp10 -= 1 }
        if exp10 < 0 {
            var divisor: Int64 = 1
            while exp10 < 0 {
                if divisor > Int64.max / 10 { divisor = Int64.max; break }
                divisor *= 10; exp10 += 1
            }
            let (q, r) = value.quotientAndRemainder(dividingBy: divisor)
            value = q + (r > 0 ? 1 : 0)
        }
        self.milliValue = negative ? -value : value
        self.text = s
    }

    /// The value in whole units, rounded up (upstream's `Value()`).
    public var value: Int64 {
        let (q, r) = milliValue.quotientAndRemainder(dividingBy: 1000)
        return r > 0 ? q + 1 : q
    }

    public var description: String { text }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) { self.init(value: n); return }
        if let d = try? c.decode(Double.self) { self.init(milliValue: Int64((d * 1000).rounded(.up))); return }
        let s = try c.decode(String.self)
        do { try self.init(parsing: s) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "\(error)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }

    public static func == (a: Quantity, b: Quantity) -> Bool { a.milliValue == b.milliValue }
    public func hash(into h: inout Hasher) { h.combine(milliValue) }
}

/// A map of resource name to quantity (`requests`, `limits`, `capacity`, `allocatable`).
public typealias ResourceList = [String: Quantity]

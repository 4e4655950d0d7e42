/// A text table with left-aligned columns separated by three spaces, like crictl's and kubectl's.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) {
        self.header = header
    }

    mutating func append(_ row: [String]) {
        rows.append(row)
    }

    func render() -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        var out = ""
        for row in all {
            var line = ""
            for (index, cell) in row.enumerated() {
                line += cell
                if index < row.count - 1 {
                    line += String(repeating: " ", count: widths[index] - cell.count + 3)
                }
            }
            // An empty last cell would leave the padding of the one before it.
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        return out
    }
}

/// Formatting shared by the views, following crictl's choices.
enum Format {
    /// Ids are shown by their first 13 characters, without a `sha256:` prefix.
    static func shortID(_ id: String) -> String {
        let bare = id.hasPrefix("sha256:") ? String(id.dropFirst(7)) : id
        return String(bare.prefix(13))
    }

    /// `5 seconds ago`, `About a minute ago`, `3 hours ago`: the age of something created at
    /// `created` (nanoseconds since the epoch) at time `now`, in Docker's wording.
    static func age(createdAt created: Int64, now: Int64) -> String {
        humanDuration(nanoseconds: max(0, now - created)) + " ago"
    }

    static func humanDuration(nanoseconds: Int64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        let minutes = Int64((Double(nanoseconds) / 60e9).rounded())
        let hours = Int64((Double(nanoseconds) / 3600e9).rounded())
        switch true {
        case seconds < 1: return "Less than a second"
        case seconds == 1: return "1 second"
        case seconds < 60: return "\(seconds) seconds"
        case minutes == 1: return "About a minute"
        case minutes < 60: return "\(minutes) minutes"
        case hours == 1: return "About an hour"
        case hours < 48: return "\(hours) hours"
        case hours < 24 * 7 * 2: return "\(hours / 24) days"
        case hours < 24 * 30 * 2: return "\(hours / 24 / 7) weeks"
        case hours < 24 * 365 * 2: return "\(hours / 24 / 30) months"
        default: return "\(hours / 24 / 365) years"
        }
    }

    /// Decimal sizes with three significant digits, as crictl prints image sizes: `4.27MB`.
    static func size(_ bytes: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return significant3(value) + units[unit]
    }

    /// Three significant digits without trailing zeros: 4.27, 12.5, 755, 1.
    private static func significant3(_ value: Double) -> String {
        let decimals = value >= 100 ? 0 : value >= 10 ? 1 : 2
        var text = String(Int64((value * pow10(decimals)).rounded()))
        if decimals > 0 {
            while text.count <= decimals { text = "0" + text }
            text.insert(".", at: text.index(text.endIndex, offsetBy: -decimals))
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }

    private static func pow10(_ exponent: Int) -> Double {
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }
}

/// An IPv4 or IPv6 address, stored as an integer in host order so ranges can be walked with
/// arithmetic. Parsing accepts dotted quads and RFC 4291 text (with `::`); descriptions are
/// canonical (RFC 5952 for IPv6).
public enum IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    /// Parses an address, or returns nil when `text` is not one.
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let value = Self.parseV6(String(text)) else { return nil }
            self = .v6(value)
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var value: UInt32 = 0
            for part in parts {
                guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCIIDigit), let octet = UInt32(part), octet <= 255 else { return nil }
                value = value << 8 | octet
            }
            self = .v4(value)
        }
    }

    /// Builds an address from its network-order bytes (4 or 16 of them).
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self = .v6(bytes.reduce(0) { $0 << 8 | UInt128($1) })
        default: return nil
        }
    }

    /// The address family number (AF_INET 2, AF_INET6 10).
    public var family: UInt8 { isV4 ? 2 : 10 }
    public var isV4: Bool { if case .v4 = self { true } else { false } }
    /// The width in bits: 32 or 128.
    public var bitWidth: Int { isV4 ? 32 : 128 }

    /// Network-order bytes, as netlink carries them.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let v): return (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) }
        case .v6(let v): return (0..<16).map { UInt8(truncatingIfNeeded: v >> (120 - 8 * $0)) }
        }
    }

    /// The address `delta` places further on, or nil when it would leave the address space.
    public func advanced(by delta: Int) -> IPAddress? {
        switch self {
        case .v4(let v):
            let next = Int64(v) + Int64(delta)
            return next >= 0 && next <= Int64(UInt32.max) ? .v4(UInt32(next)) : nil
        case .v6(let v):
            if delta >= 0 {
                let (r, o) = v.addingReportingOverflow(UInt128(delta))
                return o ? nil : .v6(r)
            }
            let (r, o) = v.subtractingReportingOverflow(UInt128(-delta))
            return o ? nil : .v6(r)
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v6(let x), .v6(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }

    public var description: String {
        switch self {
        case .v4(let v):
            return (0..<4).map { String((v >> (24 - 8 * UInt32($0))) & 0xff) }.joined(separator: ".")
        case .v6(let v):
            let groups = (0..<8).map { UInt16(truncatingIfNeeded: v >> (112 - 16 * UInt128($0))) }
            // RFC 5952: compress the longest run (length >= 2) of zero groups, the first on ties.
            var bestStart = -1, bestLength = 0, i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                    i = j
                } else {
                    i += 1
                }
            }
            let hex = groups.map { String($0, radix: 16) }
            if bestStart < 0 { return hex.joined(separator: ":") }
            let head = hex[0..<bestStart].joined(separator: ":")
            let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
            return head + "::" + tail
        }
    }

    private static func parseV6(_ text: String) -> UInt128? {
        let halves = text.components(separatedByString: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.reduce(0) { $0 << 16 | UInt128($1) }
    }
}

/// An address with a prefix length, e.g. `10.244.0.5/24` (an interface address) or
/// `10.244.0.0/24` (a subnet). Parsing keeps host bits; ``network`` masks them off.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: Int

    public init(address: IPAddress, length: Int) {
        self.address = address
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`, or returns nil.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]), parts[1].allSatisfy(\.isASCIIDigit),
              let length = Int(parts[1]), length >= 0, length <= address.bitWidth else { return nil }
        self.init(address: address, length: length)
    }

    /// The prefix with host bits cleared.
    public var network: IPPrefix { IPPrefix(address: first, length: length) }

    /// The first address of the prefix (the network address).
    public var first: IPAddress {
        switch address {
        case .v4(let v): return .v4(length == 0 ? 0 : v & (UInt32.max << UInt32(32 - length)))
        case .v6(let v): return .v6(length == 0 ? 0 : v & (UInt128.max << UInt128(128 - length)))
        }
    }

    /// The last address of the prefix (the IPv4 broadcast address).
    public var last: IPAddress {
        switch address {
        case .v4(let v): return .v4(length == 32 ? v : v | (UInt32.max >> UInt32(length)))
        case .v6(let v): return .v6(length == 128 ? v : v | (UInt128.max >> UInt128(length)))
        }
    }

    /// True when `other` lies inside this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        guard other.isV4 == address.isV4 else { return false }
        return IPPrefix(address: other, length: length).first == first
    }

    public var description: String { "\(address)/\(length)" }
}

extension String {
    fileprivate func components(separatedByString separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

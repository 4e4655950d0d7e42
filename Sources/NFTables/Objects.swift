import Netlink

/// The address family of an nftables table. Nodekit's proxy keeps one table per family.
public enum Family: String, Sendable, Hashable, CaseIterable {
    case ip
    case ip6

    /// The NFPROTO_* value the kernel uses for this family.
    public var nfproto: UInt16 { self == .ip ? 2 : 10 }
    /// The nft keyword for the network header, as in `ip daddr` / `ip6 daddr`.
    public var keyword: String { rawValue }
    /// The width of an address of this family, in bytes.
    public var addressLength: Int { self == .ip ? 4 : 16 }
}

/// An IPv4 or IPv6 address in network byte order.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public var family: Family { bytes.count == 4 ? .ip : .ip6 }

    /// Parses dotted-quad IPv4 or RFC 4291 text IPv6 (with `::` compression); nil if malformed.
    public init?(_ text: String) {
        guard let address = Netlink.IPAddress(text) else { return nil }
        bytes = address.bytes
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 4 || bytes.count == 16, "an IP address is 4 or 16 bytes")
        self.bytes = bytes
    }

    public var description: String {
        if bytes.count == 4 {
            // Digits written straight into one buffer: proxy rule text formats every address.
            var text: [UInt8] = []
            text.reserveCapacity(15)
            for (i, b) in bytes.enumerated() {
                if i > 0 { text.append(UInt8(ascii: ".")) }
                if b >= 100 { text.append(UInt8(ascii: "0") + b / 100) }
                if b >= 10 { text.append(UInt8(ascii: "0") + b / 10 % 10) }
                text.append(UInt8(ascii: "0") + b % 10)
            }
            return String(decoding: text, as: UTF8.self)
        }
        // RFC 5952 text, as the netlink layer writes it.
        return Netlink.IPAddress(bytes: bytes)!.description
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        a.bytes.count != b.bytes.count ? a.bytes.count < b.bytes.count : a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}

/// An address prefix such as `10.0.0.0/8`.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    /// Parses `ADDR/LEN` (or a bare address, as a host prefix). The host bits are cleared.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addr = IPAddress(String(parts[0])) else { return nil }
        let maxLength = addr.bytes.count * 8
        var length = maxLength
        if parts.count == 2 {
            guard let l = Int(parts[1]), l >= 0, l <= maxLength else { return nil }
            length = l
        }
        prefixLength = length
        network = IPAddress(bytes: zip(addr.bytes, CIDR.mask(length, bytes: addr.bytes.count)).map { $0 & $1 })
    }

    /// The host prefix of `address` (`/32` or `/128`).
    public init(host address: IPAddress) {
        network = address
        prefixLength = address.bytes.count * 8
    }

    /// The netmask of a prefix, `bytes` long.
    public static func mask(_ length: Int, bytes: Int) -> [UInt8] {
        (0..<bytes).map { i in
            let bits = max(0, min(8, length - i * 8))
            return bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
    }

    public var mask: [UInt8] { CIDR.mask(prefixLength, bytes: network.bytes.count) }
    public var family: Family { network.family }
    public var isHost: Bool { prefixLength == network.bytes.count * 8 }

    public func contains(_ address: IPAddress) -> Bool {
        address.bytes.count == network.bytes.count && zip(address.bytes, mask).map { $0 & $1 } == network.bytes
    }

    public var description: String { isHost ? network.description : "\(network)/\(prefixLength)" }
}

/// A transport protocol a Service port can use.
public enum TransportProtocol: String, Sendable, Hashable, CaseIterable, Comparable {
    case tcp, udp, sctp

    /// The IANA protocol number, as `meta l4proto` reads it.
    public var number: UInt8 {
        switch self {
        case .tcp: 6
        case .udp: 17
        case .sctp: 132
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.number < b.number }
}

/// A netfilter hook a base chain attaches to.
public enum Hook: String, Sendable, Hashable {
    case prerouting, input, forward, output, postrouting

    public var number: UInt32 {
        switch self {
        case .prerouting: 0
        case .input: 1
        case .forward: 2
        case .output: 3
        case .postrouting: 4
        }
    }
}

/// The `type` of a base chain.
public enum ChainType: String, Sendable, Hashable {
    case filter, nat
}

/// A chain. Base chains carry a type, hook and priority; regular chains are jump targets.
public struct Chain: Hashable, Sendable {
    public var name: String
    public var base: Base?

    public struct Base: Hashable, Sendable {
        public var type: ChainType
        public var hook: Hook
        public var priority: Int32
        public init(type: ChainType, hook: Hook, priority: Int32) {
            self.type = type
            self.hook = hook
            self.priority = priority
        }
    }

    public init(_ name: String, base: Base? = nil) {
        self.name = name
        self.base = base
    }
}

/// A part of a set key (or of a lookup key built from the packet).
public enum KeyPart: Hashable, Sendable {
    case saddr(Family)
    case daddr(Family)
    case l4proto
    case dport
    /// `numgen random mod M`: a random number in 0..<M, in host byte order. A set key declares
    /// it with any modulus (only its type and width matter there); nft types it as `mark`.
    case numgen(modulus: UInt32)

    /// The nft datatype name (`type ... : verdict`).
    var typeName: String {
        switch self {
        case .saddr(let f), .daddr(let f): f == .ip ? "ipv4_addr" : "ipv6_addr"
        case .l4proto: "inet_proto"
        case .dport: "inet_service"
        case .numgen: "mark"
        }
    }

    /// nft's datatype number, used to compose the key type of concatenations.
    var typeNumber: UInt32 {
        switch self {
        case .saddr(let f), .daddr(let f): f == .ip ? 7 : 8
        case .l4proto: 12
        case .dport: 13
        case .numgen: 19
        }
    }

    /// The packet expression in nft syntax.
    var expression: String {
        switch self {
        case .saddr(let f): "\(f.keyword) saddr"
        case .daddr(let f): "\(f.keyword) daddr"
        case .l4proto: "meta l4proto"
        case .dport: "th dport"
        case .numgen(let m): "numgen random mod \(m)"
        }
    }

    /// Bytes the value occupies in the packet.
    var length: Int {
        switch self {
        case .saddr(let f), .daddr(let f): f.addressLength
        case .l4proto: 1
        case .dport: 2
        case .numgen: 4
        }
    }
}

/// One value of a set key part.
public enum KeyValue: Hashable, Sendable, Comparable, CustomStringConvertible {
    case address(IPAddress)
    case proto(TransportProtocol)
    case port(UInt16)
    /// A `numgen` result (an endpoint's slot in a Service's endpoint list).
    case index(UInt32)

    public var description: String {
        switch self {
        case .address(let a): a.description
        case .proto(let p): p.rawValue
        case .port(let p): String(p)
        case .index(let i): String(i)
        }
    }

    /// Appends the network-order bytes, padded to a 32-bit register as the kernel compares them.
    func appendRegisterBytes(to out: inout [UInt8]) {
        switch self {
        case .address(let a): out.append(contentsOf: a.bytes)
        case .proto(let p): out.append(contentsOf: [p.number, 0, 0, 0])
        case .port(let p): out.append(contentsOf: [UInt8(p >> 8), UInt8(p & 0xff), 0, 0])
        // numgen writes its result as a host-order u32 into the register.
        case .index(let i): withUnsafeBytes(of: i) { out.append(contentsOf: $0) }
        }
    }

    private var order: (Int, [UInt8]) {
        switch self {
        case .address(let a): (0, [UInt8(a.bytes.count)] + a.bytes)
        case .proto(let p): (1, [p.number])
        case .port(let p): (2, [UInt8(p >> 8), UInt8(p & 0xff)])
        case .index(let i): (3, [UInt8(i >> 24), UInt8(truncatingIfNeeded: i >> 16), UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i)])
        }
    }

    public static func < (a: Self, b: Self) -> Bool {
        a.order.0 != b.order.0 ? a.order.0 < b.order.0 : a.order.1.lexicographicallyPrecedes(b.order.1)
    }
}

/// A named set, verdict map or data map.
public struct NamedSet: Hashable, Sendable {
    public var name: String
    public var key: [KeyPart]
    /// True for a verdict map (`: verdict`).
    public var isVerdictMap: Bool
    /// The value type of a data map (`: ipv4_addr . inet_service`); nil for a set or verdict map.
    public var data: [KeyPart]?
    /// Element lifetime for sets updated from the packet path (session affinity); nil for none.
    public var timeoutSeconds: UInt32?
    /// The most elements the set may hold (`size N`); nil for no limit. The kernel rejects an
    /// element beyond it (ENFILE). With a size and no timeout, the kernel picks a hash table of
    /// fixed width for it instead of one that grows by rehashing while elements are added.
    public var size: UInt32?

    public init(_ name: String, key: [KeyPart], isVerdictMap: Bool, data: [KeyPart]? = nil, timeoutSeconds: UInt32? = nil, size: UInt32? = nil) {
        precondition(!(isVerdictMap && data != nil), "a map holds verdicts or data, not both")
        self.name = name
        self.key = key
        self.isVerdictMap = isVerdictMap
        self.data = data
        self.timeoutSeconds = timeoutSeconds
        self.size = size
    }
}

/// A jump-style verdict.
public enum Verdict: Hashable, Sendable, CustomStringConvertible {
    case accept, drop, `return`
    case jump(String)
    case goto(String)

    public var description: String {
        switch self {
        case .accept: "accept"
        case .drop: "drop"
        case .return: "return"
        case .jump(let c): "jump \(c)"
        case .goto(let c): "goto \(c)"
        }
    }

    /// The chain this verdict transfers to, if any.
    public var target: String? {
        switch self {
        case .jump(let c), .goto(let c): c
        default: nil
        }
    }
}

/// An element of a named set: a key and, in a verdict map, its verdict; in a data map, its data.
public struct Element: Hashable, Sendable {
    public var key: [KeyValue]
    public var verdict: Verdict?
    public var data: [KeyValue]?

    public init(key: [KeyValue], verdict: Verdict? = nil) {
        self.key = key
        self.verdict = verdict
    }

    public init(key: [KeyValue], data: [KeyValue]) {
        self.key = key
        self.data = data
    }

    public var keyDescription: String { key.map(\.description).joined(separator: " . ") }
}

/// One piece of a rule, in evaluation order. Every case renders to nft syntax and lowers to
/// kernel expressions, so the text in logs and golden files is exactly what is programmed.
public enum RuleExpr: Hashable, Sendable {
    /// `ip saddr 10.0.0.0/8` (or `!=` when `negated`).
    case saddr(CIDR, negated: Bool = false)
    /// `ip daddr 10.0.0.1`.
    case daddr(CIDR, negated: Bool = false)
    /// `meta l4proto tcp`.
    case l4proto(TransportProtocol)
    /// `tcp dport 80` (protocol check included).
    case dport(TransportProtocol, UInt16)
    /// `ct state new`.
    case ctStateNew
    /// `ct status dnat`: the connection's destination was translated (IPS_DST_NAT).
    case ctStatusDNAT
    /// `fib daddr type local`.
    case fibDaddrLocal
    /// `fib saddr type local`.
    case fibSaddrLocal
    /// `meta mark & BITS != 0` (or `== 0` when `negated`).
    case markHas(UInt32, negated: Bool = false)
    /// `numgen random mod M 0`: true with probability 1/M, drawn independently per rule.
    case numgenRandomZero(modulus: UInt32)
    /// `ip saddr @set`.
    case saddrInSet(Family, String)
    /// `KEY @set`: true when the key built from the packet (e.g. `ip saddr . ip daddr`) is in the set.
    case inSet([KeyPart], String)
    /// `dnat ip to KEY map @map`: looks the key up in a data map whose values are
    /// `address . port` of the family, and DNATs to the value found (no element: no match).
    case dnatMap(Family, [KeyPart], String)
    /// `KEY vmap @map`: looks the key up and applies the element's verdict.
    case vmap([KeyPart], String)
    /// `meta mark set meta mark or BITS`.
    case markOr(UInt32)
    /// `meta mark set meta mark xor BITS`.
    case markXor(UInt32)
    /// `update @set { ip saddr }`: refreshes the source's timeout in a session-affinity set.
    case updateSaddr(Family, String)
    /// `dnat ip to ADDR:PORT` (the rule must match the protocol first).
    case dnat(IPAddress, UInt16)
    /// `masquerade fully-random`.
    case masquerade
    /// `reject`: ICMP port unreachable, which TCP reports as connection refused.
    case reject
    /// `reject with tcp reset`: a TCP RST (the rule must match TCP first). Unlike ICMP errors,
    /// resets are not subject to the kernel's per-peer ICMP rate limit.
    case rejectTCPReset
    /// A verdict (ends the rule).
    case verdict(Verdict)
}

/// A rule in a chain.
public struct Rule: Hashable, Sendable {
    public var exprs: [RuleExpr]
    public init(_ exprs: [RuleExpr]) { self.exprs = exprs }
    public init(_ exprs: RuleExpr...) { self.exprs = exprs }

    /// The chains this rule can transfer to directly (not through maps).
    public var targets: [String] {
        exprs.compactMap { if case .verdict(let v) = $0 { v.target } else { nil } }
    }

    /// The named sets this rule reads or updates.
    public var setReferences: [String] {
        exprs.compactMap {
            switch $0 {
            case .saddrInSet(_, let s), .vmap(_, let s), .updateSaddr(_, let s), .inSet(_, let s), .dnatMap(_, _, let s): s
            default: nil
            }
        }
    }
}

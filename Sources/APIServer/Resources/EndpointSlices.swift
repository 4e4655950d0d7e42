import KubeAPI

/// discovery.k8s.io/v1 endpointslices.
enum EndpointSlices {
    static let definition = ResourceDefinition(
        group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices",
        columns: [
            .name,
            TableColumn("AddressType") { o, _ in .string(o["addressType"]?.stringValue ?? "") },
            TableColumn("Ports") { o, _ in
                let ports = (o["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }.map(String.init)
                return .string(ports.isEmpty ? "<unset>" : ports.joined(separator: ","))
            },
            TableColumn("Endpoints") { o, _ in
                let addresses = (o["endpoints"]?.arrayValue ?? []).flatMap { ($0["addresses"]?.arrayValue ?? []).compactMap(\.stringValue) }
                if addresses.count > 3 { return .string(addresses.prefix(3).joined(separator: ",") + " + \(addresses.count - 3) more...") }
                return .string(addresses.isEmpty ? "<unset>" : addresses.joined(separator: ","))
            },
            .age,
        ],
        tracksGeneration: true,
        validate: { o, _ in
            let type = o["addressType"]?.stringValue ?? ""
            guard ["IPv4", "IPv6", "FQDN"].contains(type) else {
                return [FieldError(.notSupported, "addressType", value: type, "supported values: \"FQDN\", \"IPv4\", \"IPv6\"")]
            }
            return validateEndpoints(o["endpoints"]?.arrayValue ?? [], addressType: type)
        }
    )

    /// Upstream's limits (pkg/apis/discovery/validation): endpoints per slice, addresses per endpoint.
    static let maxEndpoints = 1000
    static let maxAddresses = 100

    /// Each endpoint has 1 to 100 addresses of the slice's type; IP addresses may not be
    /// unspecified, loopback, link-local or link-local multicast (upstream's
    /// ValidateNonSpecialIP: they make no sense as a Service's backends, and link-local ones
    /// are node-centric, e.g. a metadata service). Messages and field paths as upstream's.
    static func validateEndpoints(_ endpoints: [JSONValue], addressType: String) -> [FieldError] {
        if endpoints.count > maxEndpoints { return [.tooMany("endpoints", count: endpoints.count, max: maxEndpoints)] }
        var errors: [FieldError] = []
        for (index, endpoint) in endpoints.enumerated() {
            let path = "endpoints[\(index)].addresses"
            let addresses = endpoint["addresses"]?.arrayValue ?? []
            if addresses.isEmpty {
                errors.append(FieldError(.required, path, "must contain at least 1 address"))
            } else if addresses.count > maxAddresses {
                errors.append(.tooMany(path, count: addresses.count, max: maxAddresses))
            }
            for (i, value) in addresses.enumerated() {
                let address = value.stringValue ?? ""
                let field = "\(path)[\(i)]"
                switch addressType {
                case "IPv4":
                    if !(IPAddressText.parse(address)?.isIPv4 ?? false) { errors.append(FieldError(.invalid, field, value: address, "must be a valid IPv4 address")) }
                    errors += nonSpecialIP(address, field: field)
                case "IPv6":
                    if !(IPAddressText.parse(address).map { !$0.isIPv4 } ?? false) { errors.append(FieldError(.invalid, field, value: address, "must be a valid IPv6 address")) }
                    errors += nonSpecialIP(address, field: field)
                default:
                    break
                }
            }
        }
        return errors
    }

    /// Upstream's ValidateNonSpecialIP (pkg/apis/core/validation), one error per rule broken.
    static func nonSpecialIP(_ address: String, field: String) -> [FieldError] {
        guard let ip = IPAddressText.parse(address) else { return [FieldError(.invalid, field, value: address, "must be a valid IP address")] }
        var errors: [FieldError] = []
        if ip.isUnspecified { errors.append(FieldError(.invalid, field, value: address, "may not be unspecified (\(address))")) }
        if ip.isLoopback { errors.append(FieldError(.invalid, field, value: address, "may not be in the loopback range (127.0.0.0/8, ::1/128)")) }
        if ip.isLinkLocalUnicast { errors.append(FieldError(.invalid, field, value: address, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")) }
        if ip.isLinkLocalMulticast { errors.append(FieldError(.invalid, field, value: address, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")) }
        return errors
    }
}

/// An IP address parsed as Go's net.ParseIP (netutils.ParseIPSloppy: IPv4 parts may have
/// leading zeros) reads it: 16 bytes, IPv4 held as IPv4-mapped IPv6 (::ffff:a.b.c.d), which
/// Go also treats as IPv4. No zones, no prefixes.
struct IPAddressText: Sendable, Equatable {
    var bytes: [UInt8]

    var isIPv4: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff }

    var isUnspecified: Bool { isIPv4 ? bytes[12...].allSatisfy { $0 == 0 } : bytes.allSatisfy { $0 == 0 } }
    var isLoopback: Bool { isIPv4 ? bytes[12] == 127 : bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1 }
    var isLinkLocalUnicast: Bool { isIPv4 ? bytes[12] == 169 && bytes[13] == 254 : bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 }
    /// IPv4 224.0.0.0/24; IPv6 multicast with link-local scope (ff02::/16, any flags: ffx2::).
    var isLinkLocalMulticast: Bool { isIPv4 ? bytes[12] == 224 && bytes[13] == 0 && bytes[14] == 0 : bytes[0] == 0xff && bytes[1] & 0x0f == 0x02 }

    static func parse(_ text: String) -> IPAddressText? {
        if !text.contains(":") {
            guard let v4 = parseIPv4(Substring(text)) else { return nil }
            return IPAddressText(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + v4)
        }
        return parseIPv6(text).map { IPAddressText(bytes: $0) }
    }

    private static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    /// Eight groups of up to four hex digits, one "::" standing for one or more zero groups, and
    /// an IPv4 address in place of the last two groups.
    private static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4: Bool) -> [UInt8]? {
            guard !part.isEmpty else { return [] }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            var out: [UInt8] = []
            for (index, field) in fields.enumerated() {
                if field.contains(".") {
                    guard allowIPv4, index == fields.count - 1, let v4 = parseIPv4(field) else { return nil }
                    out += v4
                    continue
                }
                guard !field.isEmpty, field.count <= 4, let value = UInt16(field, radix: 16), field.allSatisfy(\.isHexDigit) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xff)]
            }
            return out
        }
        guard let head = groups(halves[0], allowIPv4: halves.count == 1) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1], allowIPv4: true), head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

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
        validate: { o, _ in
            let type = o["addressType"]?.stringValue ?? ""
            return ["IPv4", "IPv6", "FQDN"].contains(type) ? [] : [FieldError(.notSupported, "addressType", value: type, "supported values: \"FQDN\", \"IPv4\", \"IPv6\"")]
        }
    )
}

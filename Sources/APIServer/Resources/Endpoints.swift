import KubeAPI

/// core/v1 endpoints.
enum Endpoints {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "Endpoints", plural: "endpoints", singular: "endpoints", shortNames: ["ep"],
        columns: [
            .name,
            TableColumn("Endpoints", description: "Endpoints of the service") { o, _ in
                var out: [String] = []
                for subset in o["subsets"]?.arrayValue ?? [] {
                    let ports = (subset["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }
                    for address in subset["addresses"]?.arrayValue ?? [] {
                        let ip = address["ip"]?.stringValue ?? ""
                        out += ports.isEmpty ? [ip] : ports.map { "\(ip):\($0)" }
                    }
                }
                if out.count > 3 { return .string(out.prefix(3).joined(separator: ",") + " + \(out.count - 3) more...") }
                return .string(out.isEmpty ? "<none>" : out.joined(separator: ","))
            },
            .age,
        ]
    )
}

import KubeAPI

import Foundation

/// core/v1 secrets. `stringData` is merged into base64 `data` on write, as upstream.
enum Secrets {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "Secret", plural: "secrets",
        columns: [
            .name,
            TableColumn("Type", description: "The type of the secret") { o, _ in .string(o["type"]?.stringValue ?? "Opaque") },
            TableColumn("Data", type: "integer", description: "The number of entries in the secret") { o, _ in .int(o["data"]?.objectValue?.count ?? 0) },
            .age,
        ],
        fieldSelectors: ["type": { $0["type"]?.stringValue ?? "" }],
        defaults: { o in
            if o["type"] == nil { o["type"] = .string("Opaque") }
            if let stringData = o["stringData"]?.objectValue {
                var data = o["data"]?.objectValue ?? [:]
                for (key, value) in stringData {
                    if let s = value.stringValue { data[key] = .string(Data(s.utf8).base64EncodedString()) }
                }
                o["data"] = .object(data)
                o["stringData"] = nil
            }
        },
        validate: { o, _ in
            (o["data"]?.objectValue ?? [:]).compactMap { key, value in
                guard let s = value.stringValue, Data(base64Encoded: s) != nil else {
                    return FieldError(.invalid, "data[\(key)]", "must be base64-encoded")
                }
                return nil
            }
        }
    )
}

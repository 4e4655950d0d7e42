import Foundation
import KubeAPI

/// meta.k8s.io/v1 Table output for `kubectl get`: the resource's columns (Name and Age when it
/// declares none), one row per object, each row carrying the object's metadata (or the whole
/// object, or nothing, by `includeObject`).
enum Table {
    static func wanted(_ accept: String) -> Bool {
        accept.split(separator: ",").first.map { $0.contains("as=Table") } ?? false
    }

    static func columns(_ resource: ResourceDefinition) -> [TableColumn] {
        resource.columns.isEmpty ? [.name, .age] : resource.columns
    }

    static func render(_ objects: [JSONObject], resource: ResourceDefinition, includeObject: String, resourceVersion: Int64,
                       continueToken: String?, withColumns: Bool = true, now: Date = Date()) -> JSONValue {
        let columns = columns(resource)
        let definitions: [JSONValue] = columns.map { c in
            .object(["name": .string(c.name), "type": .string(c.type), "format": .string(c.format),
                     "description": .string(c.description), "priority": .int(c.priority)])
        }
        let rows: [JSONValue] = objects.map { object in
            var row: JSONObject = ["cells": .array(columns.map { $0.cell(object, now) })]
            switch includeObject {
            case "None": break
            case "Object": row["object"] = .object(object)
            default:
                row["object"] = .object(["kind": .string("PartialObjectMetadata"), "apiVersion": .string("meta.k8s.io/v1"), "metadata": .object(object.metadata)])
            }
            return .object(row)
        }
        var metadata: JSONObject = ["resourceVersion": .string(String(resourceVersion))]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        return .object([
            "kind": .string("Table"), "apiVersion": .string("meta.k8s.io/v1"), "metadata": .object(metadata),
            "columnDefinitions": withColumns ? .array(definitions) : .array([]), "rows": .array(rows),
        ])
    }
}

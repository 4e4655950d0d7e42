import Foundation
import KubeAPI

/// meta.k8s.io/v1 Table output for `kubectl get`: the resource's columns (Name and Age when it
/// declares none), one row per object, each row carrying the object's metadata (or the whole
/// object, or nothing, by `includeObject`).
enum Table {
    static func wanted(_ accept: String) -> Bool {
        // An ASCII header (every client's) is searched by its bytes: Foundation's `contains`
        // cost more than the rest of a Lease renewal's routing.
        if let answer = ASCIIText.firstItem(of: accept, contains: "as=Table") { return answer }
        return accept.split(separator: ",").first.map { $0.contains("as=Table") } ?? false
    }

    static func columns(_ resource: ResourceDefinition) -> [TableColumn] {
        resource.columns.isEmpty ? [.name, .age] : resource.columns
    }

    static func render(_ objects: [JSONObject], resource: ResourceDefinition, includeObject: String, resourceVersion: Int64,
                       continueToken: String?, withColumns: Bool = true, now: Date = Date()) -> JSONValue {
        let columns = columns(resource)
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
        return .object([
            "kind": .string("Table"), "apiVersion": .string("meta.k8s.io/v1"), "metadata": .object(listMetadata(resourceVersion, continueToken)),
            "columnDefinitions": withColumns ? .array(definitions(columns)) : .array([]), "rows": .array(rows),
        ])
    }

    /// One object of a Table list: what its cells are computed from, and its JSON as served.
    struct Item: Sendable {
        /// The object; its `metadata.managedFields` may be left out (no column reads them).
        var object: JSONObject
        /// The object as served (compact JSON, sorted keys, resourceVersion set).
        var served: [UInt8]
    }

    /// The Table of a list, encoded: byte for byte `JSONCoding.encode(render(...))` of the same
    /// objects, but a row's object (the metadata, or the whole object) is copied from the
    /// served bytes instead of being rebuilt and encoded again with sorted keys (an object
    /// without a `metadata` object gets `{}`, as `render` gives).
    static func encodeList(_ items: [Item], resource: ResourceDefinition, includeObject: String, resourceVersion: Int64,
                           continueToken: String?, now: Date = Date()) -> [UInt8] {
        let columns = columns(resource)
        var out: [UInt8] = []
        out.reserveCapacity(items.reduce(256) { $0 + (includeObject == "None" ? 0 : $1.served.count) + 64 * columns.count })
        out.append(contentsOf: #"{"apiVersion":"meta.k8s.io/v1","columnDefinitions":"#.utf8)
        out.append(contentsOf: JSONCoding.encode(JSONValue.array(definitions(columns))))
        out.append(contentsOf: #","kind":"Table","metadata":"#.utf8)
        out.append(contentsOf: JSONCoding.encode(listMetadata(resourceVersion, continueToken)))
        out.append(contentsOf: #","rows":["#.utf8)
        for (index, item) in items.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"cells":"#.utf8)
            out.append(contentsOf: JSONCoding.encode(JSONValue.array(columns.map { $0.cell(item.object, now) })))
            switch includeObject {
            case "None":
                break
            case "Object":
                out.append(contentsOf: #","object":"#.utf8)
                out.append(contentsOf: item.served)
            default:
                out.append(contentsOf: #","object":{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":"#.utf8)
                if let metadata = metadataRange(item.served) {
                    out.append(contentsOf: item.served[metadata])
                } else {
                    out.append(contentsOf: "{}".utf8)
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// The byte range of the top-level `metadata` object in `served`; nil when there is none.
    /// Sorted keys put it third (after apiVersion and kind), so the scan stops early.
    static func metadataRange(_ served: [UInt8]) -> Range<Int>? {
        var found: Range<Int>?
        _ = try? JSONScanner.forEachMember(of: served, in: 0..<served.count) { member in
            guard member.key == "metadata" else { return true }
            found = member.value
            return false
        }
        guard let found, served[found.lowerBound] == UInt8(ascii: "{") else { return nil }
        return found
    }

    private static func definitions(_ columns: [TableColumn]) -> [JSONValue] {
        columns.map { c in
            .object(["name": .string(c.name), "type": .string(c.type), "format": .string(c.format),
                     "description": .string(c.description), "priority": .int(c.priority)])
        }
    }

    private static func listMetadata(_ resourceVersion: Int64, _ continueToken: String?) -> JSONObject {
        var metadata: JSONObject = ["resourceVersion": .string(String(resourceVersion))]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        return metadata
    }
}

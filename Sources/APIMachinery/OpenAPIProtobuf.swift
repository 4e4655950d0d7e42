import KubeAPI

/// A minimal protocol buffers writer: varints, fixed64 and length-delimited fields, enough to
/// encode gnostic's OpenAPI v2 messages.
struct GnosticWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func tag(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    mutating func string(_ field: Int, _ value: String?) {
        guard let value, !value.isEmpty else { return }
        bytes(field, Array(value.utf8))
    }

    mutating func strings(_ field: Int, _ values: [String]) {
        for value in values { bytes(field, Array(value.utf8)) }
    }

    mutating func bool(_ field: Int, _ value: Bool?) {
        guard value == true else { return }
        tag(field, 0)
        varint(1)
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A nested message; written even when empty, since presence matters for oneofs.
    mutating func message(_ field: Int, _ build: (inout GnosticWriter) -> Void) {
        var inner = GnosticWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }
}

extension OpenAPI {
    /// The Content-Type of a protobuf `/openapi/v2` response. Clients ask for it under this name
    /// or the older `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, which Go's
    /// mime parser rejects as a response type.
    public static let v2ProtobufMediaType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

    /// `document` (an OpenAPI v2 JSON document such as `v2(registry:resources:)` returns) in
    /// gnostic's `openapi.v2.Document` protobuf encoding, which kubectl 1.27 and 1.28 require for
    /// explain and client-side validation. Covers what those documents use: info, paths with
    /// operations, body/query/path parameters and responses, definitions with types, formats,
    /// references, items, properties, additionalProperties, allOf, defaults and vendor
    /// extensions (carried as YAML; JSON text is valid YAML).
    public static func v2Protobuf(_ document: JSONValue) -> [UInt8] {
        var w = GnosticWriter()
        w.string(1, document["swagger"]?.stringValue)
        if let info = document["info"] {
            w.message(2) { i in
                i.string(1, info["title"]?.stringValue)
                i.string(2, info["version"]?.stringValue)
                i.string(3, info["description"]?.stringValue)
            }
        }
        if case .object(let paths)? = document["paths"] {
            w.message(8) { p in
                for name in paths.keys.sorted() {
                    p.message(2) { named in
                        named.string(1, name)
                        named.message(2) { encodePathItem(paths[name]!, into: &$0) }
                    }
                }
            }
        }
        if case .object(let definitions)? = document["definitions"] {
            w.message(9) { d in
                for name in definitions.keys.sorted() {
                    d.message(1) { named in
                        named.string(1, name)
                        named.message(2) { encodeSchema(definitions[name]!, into: &$0) }
                    }
                }
            }
        }
        return w.bytes
    }

    private static func strings(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap(\.stringValue)
    }

    private static func vendorExtensions(_ object: [String: JSONValue], field: Int, into w: inout GnosticWriter) {
        for name in object.keys.sorted() where name.hasPrefix("x-") {
            w.message(field) { named in
                named.string(1, name)
                named.message(2) { $0.string(2, describe(object[name]!) + "\n") }
            }
        }
    }

    private static func encodePathItem(_ item: JSONValue, into w: inout GnosticWriter) {
        guard case .object(let members) = item else { return }
        for (method, field) in [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("options", 6), ("head", 7), ("patch", 8)] {
            if let operation = members[method] { w.message(field) { encodeOperation(operation, into: &$0) } }
        }
        if case .array(let parameters)? = members["parameters"] {
            for parameter in parameters { w.message(9) { encodeParameter(parameter, into: &$0) } }
        }
        vendorExtensions(members, field: 10, into: &w)
    }

    private static func encodeOperation(_ operation: JSONValue, into w: inout GnosticWriter) {
        guard case .object(let m) = operation else { return }
        w.strings(1, strings(m["tags"]))
        w.string(2, m["summary"]?.stringValue)
        w.string(3, m["description"]?.stringValue)
        w.string(5, m["operationId"]?.stringValue)
        w.strings(6, strings(m["produces"]))
        w.strings(7, strings(m["consumes"]))
        if case .array(let parameters)? = m["parameters"] {
            for parameter in parameters { w.message(8) { encodeParameter(parameter, into: &$0) } }
        }
        if case .object(let responses)? = m["responses"] {
            w.message(9) { r in
                for code in responses.keys.sorted() {
                    r.message(1) { named in
                        named.string(1, code)
                        named.message(2) { value in
                            value.message(1) { response in
                                response.string(1, responses[code]!["description"]?.stringValue)
                                if let schema = responses[code]!["schema"] {
                                    response.message(2) { item in item.message(1) { encodeSchema(schema, into: &$0) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        w.strings(10, strings(m["schemes"]))
        vendorExtensions(m, field: 13, into: &w)
    }

    /// ParametersItem → Parameter → BodyParameter, or NonBodyParameter with a query or path
    /// sub-schema (the only kinds the generated documents use).
    private static func encodeParameter(_ parameter: JSONValue, into w: inout GnosticWriter) {
        guard case .object(let p) = parameter else { return }
        w.message(1) { param in
            if p["in"]?.stringValue == "body" {
                param.message(1) { body in
                    body.string(1, p["description"]?.stringValue)
                    body.string(2, p["name"]?.stringValue)
                    body.string(3, "body")
                    body.bool(4, p["required"].flatMap { if case .bool(let b) = $0 { return b } else { return nil } })
                    if let schema = p["schema"] { body.message(5) { encodeSchema(schema, into: &$0) } }
                }
                return
            }
            let isPath = p["in"]?.stringValue == "path"
            param.message(2) { nonBody in
                nonBody.message(isPath ? 4 : 3) { sub in
                    sub.bool(1, p["required"].flatMap { if case .bool(let b) = $0 { return b } else { return nil } })
                    sub.string(2, p["in"]?.stringValue)
                    sub.string(3, p["description"]?.stringValue)
                    sub.string(4, p["name"]?.stringValue)
                    sub.string(isPath ? 5 : 6, p["type"]?.stringValue)
                    sub.bool(isPath ? 19 : 20, p["uniqueItems"].flatMap { if case .bool(let b) = $0 { return b } else { return nil } })
                }
            }
        }
    }

    private static func encodeSchema(_ schema: JSONValue, into w: inout GnosticWriter) {
        guard case .object(let s) = schema else { return }
        w.string(1, s["$ref"]?.stringValue)
        w.string(2, s["format"]?.stringValue)
        w.string(3, s["title"]?.stringValue)
        w.string(4, s["description"]?.stringValue)
        if let value = s["default"] { w.message(5) { $0.string(2, describe(value) + "\n") } }
        w.bool(16, s["uniqueItems"].flatMap { if case .bool(let b) = $0 { return b } else { return nil } })
        w.strings(19, strings(s["required"]))
        switch s["additionalProperties"] {
        case .object?: w.message(21) { item in item.message(1) { encodeSchema(s["additionalProperties"]!, into: &$0) } }
        case .bool(let allowed)?: w.message(21) { $0.bool(2, allowed) }
        default: break
        }
        if let type = s["type"]?.stringValue { w.message(22) { $0.string(1, type) } }
        switch s["items"] {
        case .object?: w.message(23) { item in item.message(1) { encodeSchema(s["items"]!, into: &$0) } }
        case .array(let list)?: w.message(23) { item in for element in list { item.message(1) { encodeSchema(element, into: &$0) } } }
        default: break
        }
        if case .array(let all)? = s["allOf"] {
            for element in all { w.message(24) { encodeSchema(element, into: &$0) } }
        }
        if case .object(let properties)? = s["properties"] {
            w.message(25) { p in
                for name in properties.keys.sorted() {
                    p.message(1) { named in
                        named.string(1, name)
                        named.message(2) { encodeSchema(properties[name]!, into: &$0) }
                    }
                }
            }
        }
        vendorExtensions(s, field: 31, into: &w)
    }
}

import KubeAPI

/// Server-side field validation (the `fieldValidation` query parameter): which fields of a
/// request body the schema does not know.
public enum FieldValidation {
    /// The paths of fields in `object` that `schema` does not declare, sorted, in upstream's
    /// spelling: `spec.containers[0].imagee`, `metadata.labelz`. Maps (labels, data) and
    /// free-form fields accept any key; values of the wrong JSON type are not reported here
    /// (decoding reports them).
    public static func unknownFields(in object: JSONValue, schema: TypeSchema) -> [String] {
        var found: [String] = []
        walk(object, schema: schema, path: "", into: &found)
        return found.sorted()
    }

    /// The `Status` message fragment upstream uses for unknown fields in Strict mode, e.g.
    /// `unknown field "spec.foo"` (joined with ", " for several).
    public static func strictMessage(_ paths: [String]) -> String {
        paths.map { "unknown field \(quoteJSON($0))" }.joined(separator: ", ")
    }

    private static func walk(_ value: JSONValue, schema: TypeSchema, path: String, into found: inout [String]) {
        guard case .object(let members) = value else { return }
        for name in members.keys.sorted() {
            let child = path.isEmpty ? name : "\(path).\(name)"
            guard let field = schema.field(name) else {
                found.append(child)
                continue
            }
            walk(members[name]!, type: field.type, path: child, into: &found)
        }
    }

    private static func walk(_ value: JSONValue, type: FieldType, path: String, into found: inout [String]) {
        switch (type, value) {
        case (.object(let schema), _):
            walk(value, schema: schema, path: path, into: &found)
        case (.array(let items), .array(let elements)):
            for (i, element) in elements.enumerated() {
                walk(element, type: items, path: "\(path)[\(i)]", into: &found)
            }
        case (.map(let values), .object(let members)):
            for key in members.keys.sorted() {
                walk(members[key]!, type: values, path: "\(path).\(key)", into: &found)
            }
        default:
            return
        }
    }
}

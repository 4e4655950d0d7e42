// Short constructors the built-in schema files are written with: one line per field.

func str(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .string, description: description) }
func int32(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .integer, description: description, format: "int32") }
func int64(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .integer, description: description, format: "int64") }
func bool(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .boolean, description: description) }
func time(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .string, description: description, format: "date-time") }
func quantity(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .quantity, description: description) }
func intOrString(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .intOrString, description: description) }
func anyValue(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .any, description: description) }
func object(_ name: String, _ schema: TypeSchema, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .object(schema), description: description) }
func list(_ name: String, _ schema: TypeSchema, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .array(.object(schema)), description: description) }
func strings(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .array(.string), description: description) }
func int64s(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .array(.integer), description: description, format: "int64") }
func stringMap(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .map(.string), description: description) }
func byteMap(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .map(.string), description: description, format: "byte") }
func quantityMap(_ name: String, _ description: String) -> FieldSchema { FieldSchema(name: name, type: .map(.quantity), description: description) }

/// A structure in the core/v1 API group.
func core(_ name: String, _ description: String, atomic: Bool = false, _ fields: [FieldSchema]) -> TypeSchema {
    TypeSchema(name: "io.k8s.api.core.v1.\(name)", description: description, fields: fields, isAtomic: atomic)
}

/// A structure in apimachinery's meta/v1.
func meta(_ name: String, _ description: String, atomic: Bool = false, _ fields: [FieldSchema]) -> TypeSchema {
    TypeSchema(name: "io.k8s.apimachinery.pkg.apis.meta.v1.\(name)", description: description, fields: fields, isAtomic: atomic)
}

/// A structure in a named group, e.g. `group("apps", "DeploymentSpec", ...)`.
func group(_ group: String, _ name: String, _ description: String, _ fields: [FieldSchema]) -> TypeSchema {
    TypeSchema(name: "\(definitionPrefix(group: group, version: "v1")).\(name)", description: description, fields: fields)
}

/// The OpenAPI definition prefix of a group/version: `io.k8s.api.<first label of group>.<version>`,
/// the way upstream names its packages (core for "", coordination for coordination.k8s.io).
func definitionPrefix(group: String, version: String) -> String {
    let package = group.isEmpty ? "core" : String(group.split(separator: ".").first ?? "")
    return "io.k8s.api.\(package).\(version)"
}

/// A top-level kind: apiVersion, kind and metadata, then `fields`.
func kind(_ group: String, _ version: String, _ kind: String, _ description: String, _ fields: [FieldSchema], listMetadata: Bool = false) -> TypeSchema {
    let gvk = GroupVersionKind(group: group, version: version, kind: kind)
    let head: [FieldSchema] = [
        str("apiVersion", "The versioned schema of this representation of the object."),
        str("kind", "The REST resource this object represents."),
        listMetadata
            ? object("metadata", MetaSchemas.listMeta, "Standard list metadata.")
            : object("metadata", MetaSchemas.objectMeta, "Standard object metadata."),
    ]
    return TypeSchema(name: "\(definitionPrefix(group: group, version: version)).\(kind)", description: description,
                      fields: head + fields, groupVersionKind: gvk)
}

/// A top-level kind defined in meta/v1 (Status, DeleteOptions, Table) but served under `group`.
func metaKind(_ kind: String, _ description: String, _ fields: [FieldSchema], listMetadata: Bool) -> TypeSchema {
    var schema = TypeSchema(name: "io.k8s.apimachinery.pkg.apis.meta.v1.\(kind)", description: description, fields: [
        str("apiVersion", "The versioned schema of this representation of the object."),
        str("kind", "The REST resource this object represents."),
    ] + (listMetadata ? [object("metadata", MetaSchemas.listMeta, "Standard list metadata.")] : []) + fields)
    schema.groupVersionKind = GroupVersionKind(group: "", version: "v1", kind: kind)
    return schema
}

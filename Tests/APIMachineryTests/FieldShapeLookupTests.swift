import Testing
import KubeAPI
@testable import APIMachinery

/// `TypeSchema.fieldShape(_:)` and `fieldType(_:)` answer from lookups made when the fields are
/// set; they must give what `FieldShape(field(name))` and `field(name)?.type` give, for every
/// field of every built-in schema, and follow a change of `fields`.
@Suite struct FieldShapeLookupTests {
    /// A type's structure down to `depth` levels of nested schemas (their names only below).
    static func describe(_ type: FieldType, depth: Int = 2) -> String {
        switch type {
        case .string: return "string"
        case .integer: return "integer"
        case .number: return "number"
        case .boolean: return "boolean"
        case .intOrString: return "intOrString"
        case .quantity: return "quantity"
        case .any: return "any"
        case .object(let schema):
            guard depth > 0 else { return "object(\(schema.name))" }
            return "object(\(schema.name){" + schema.fields.map { "\($0.name):" + describe($0.type, depth: depth - 1) }.joined(separator: ",") + "})"
        case .array(let items): return "array(" + describe(items, depth: depth) + ")"
        case .map(let values): return "map(" + describe(values, depth: depth) + ")"
        }
    }

    static func describe(_ shape: FieldShape) -> String {
        "\(describe(shape.type)) \(shape.listType) \(shape.mapKeys) atomic=\(shape.isAtomic)"
    }

    @Test func everyBuiltinFieldMatchesItsSchema() {
        var checked = 0
        for (_, schema) in SchemaRegistry.builtin.definitions {
            for field in schema.fields {
                let shape = schema.fieldShape(field.name)
                #expect(shape.map(Self.describe) == Self.describe(FieldShape(field)), "\(schema.name).\(field.name)")
                #expect(schema.fieldType(field.name).map { Self.describe($0) } == Self.describe(field.type), "\(schema.name).\(field.name)")
                checked += 1
            }
            #expect(schema.fieldShape("no-such-field") == nil)
            #expect(schema.fieldType("no-such-field") == nil)
        }
        // The registry has hundreds of structures; an empty walk would pass vacuously.
        #expect(checked > 500)
    }

    @Test func mapListKeysAreSortedOnce() throws {
        // ContainerPort's list in a container: keyed by containerPort and protocol.
        let pod = try #require(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod"))
        let spec = try #require(pod.fieldType("spec")?.objectSchema)
        let container = try #require(spec.fieldType("containers")?.objectSchema)
        let ports = try #require(container.fieldShape("ports"))
        #expect(ports.listType == .map)
        #expect(ports.mapKeys == ["containerPort", "protocol"])
    }

    @Test func lookupsFollowChangedFields() {
        var schema = TypeSchema(name: "t", description: "", fields: [
            FieldSchema(name: "a", type: .string, description: ""),
            FieldSchema(name: "b", type: .array(.string), description: "", listType: .set),
        ])
        #expect(schema.fieldShape("b")?.listType == .set)
        schema.fields = [
            FieldSchema(name: "b", type: .array(.object(TypeSchema(name: "item", description: "", fields: [FieldSchema(name: "k", type: .string, description: "")]))),
                        description: "", listType: .map, listMapKeys: ["k"]),
            FieldSchema(name: "c", type: .integer, description: ""),
        ]
        #expect(schema.fieldShape("a") == nil)
        #expect(schema.fieldType("a") == nil)
        #expect(schema.fieldShape("b")?.listType == .map)
        #expect(schema.fieldShape("b")?.mapKeys == ["k"])
        #expect(schema.fieldType("c").map { Self.describe($0) } == "integer")
        schema.fields[1].type = .boolean
        #expect(schema.fieldType("c").map { Self.describe($0) } == "boolean")
        #expect(schema.fieldShape("c").map { Self.describe($0.type) } == "boolean")
    }
}

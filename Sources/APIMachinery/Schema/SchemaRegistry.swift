/// The type schemas of the kinds an API server serves, looked up by apiVersion and kind.
/// Immutable and `Sendable`; `builtin` holds Nodekit's built-in kinds.
public struct SchemaRegistry: Sendable {
    private var byKey: [String: TypeSchema]
    /// The top-level kinds, in registration order.
    public private(set) var kinds: [TypeSchema]

    /// A registry of `kinds`; each must carry its group, version and kind (later duplicates
    /// replace earlier ones).
    public init(kinds: [TypeSchema]) {
        var byKey: [String: TypeSchema] = [:]
        var ordered: [TypeSchema] = []
        for schema in kinds {
            guard let gvk = schema.groupVersionKind else { continue }
            let key = SchemaRegistry.key(apiVersion: gvk.apiVersion, kind: gvk.kind)
            if byKey[key] != nil { ordered.removeAll { $0.groupVersionKind == gvk } }
            ordered.append(schema)
            byKey[key] = schema
        }
        self.byKey = byKey
        self.kinds = ordered
    }

    /// The schema of `kind` in `apiVersion` (`v1`, `apps/v1`, ...), or nil when not registered.
    public func schema(apiVersion: String, kind: String) -> TypeSchema? {
        byKey[SchemaRegistry.key(apiVersion: apiVersion, kind: kind)]
    }

    public func schema(for gvk: GroupVersionKind) -> TypeSchema? {
        schema(apiVersion: gvk.apiVersion, kind: gvk.kind)
    }

    private static func key(apiVersion: String, kind: String) -> String { apiVersion + "|" + kind }

    /// Every named structure reachable from the registered kinds (each once, by definition
    /// name), the kinds themselves included.
    public var definitions: [String: TypeSchema] {
        var result: [String: TypeSchema] = [:]
        func visit(_ schema: TypeSchema) {
            if result[schema.name] != nil { return }
            result[schema.name] = schema
            for field in schema.fields { visitType(field.type) }
        }
        func visitType(_ type: FieldType) {
            switch type {
            case .object(let schema): visit(schema)
            case .array(let items), .map(let items): visitType(items)
            default: break
            }
        }
        for schema in kinds { visit(schema) }
        return result
    }

    /// Nodekit's built-in kinds (issue 6): core/v1, apps/v1, batch/v1, coordination.k8s.io/v1,
    /// discovery.k8s.io/v1, policy/v1, the Scale, Eviction and Binding subresource kinds, and
    /// meta/v1's Status, DeleteOptions and Table.
    public static let builtin = SchemaRegistry(kinds: [
        CoreSchemas.namespace, CoreSchemas.pod, CoreSchemas.service, CoreSchemas.endpoints, CoreSchemas.node,
        CoreSchemas.configMap, CoreSchemas.secret, CoreSchemas.serviceAccount, CoreSchemas.event,
        WorkloadSchemas.deployment, WorkloadSchemas.replicaSet, WorkloadSchemas.daemonSet, WorkloadSchemas.statefulSet,
        WorkloadSchemas.job, WorkloadSchemas.lease, WorkloadSchemas.endpointSlice,
        WorkloadSchemas.podDisruptionBudget, WorkloadSchemas.eviction, WorkloadSchemas.scale, CoreSchemas.binding,
        MetaSchemas.status, MetaSchemas.deleteOptions, MetaSchemas.table,
    ])
}

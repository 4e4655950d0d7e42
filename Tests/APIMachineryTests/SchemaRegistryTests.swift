import Testing
import KubeAPI
@testable import APIMachinery

@Suite struct SchemaRegistryTests {
    static let kinds: [(String, String, String)] = [
        ("v1", "Namespace", "io.k8s.api.core.v1.Namespace"), ("v1", "Pod", "io.k8s.api.core.v1.Pod"),
        ("v1", "Service", "io.k8s.api.core.v1.Service"), ("v1", "Endpoints", "io.k8s.api.core.v1.Endpoints"),
        ("v1", "Node", "io.k8s.api.core.v1.Node"), ("v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"),
        ("v1", "Secret", "io.k8s.api.core.v1.Secret"), ("v1", "ServiceAccount", "io.k8s.api.core.v1.ServiceAccount"),
        ("v1", "Event", "io.k8s.api.core.v1.Event"),
        ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"), ("apps/v1", "ReplicaSet", "io.k8s.api.apps.v1.ReplicaSet"),
        ("apps/v1", "DaemonSet", "io.k8s.api.apps.v1.DaemonSet"), ("apps/v1", "StatefulSet", "io.k8s.api.apps.v1.StatefulSet"),
        ("batch/v1", "Job", "io.k8s.api.batch.v1.Job"),
        ("coordination.k8s.io/v1", "Lease", "io.k8s.api.coordination.v1.Lease"),
        ("discovery.k8s.io/v1", "EndpointSlice", "io.k8s.api.discovery.v1.EndpointSlice"),
        ("policy/v1", "PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget"),
        ("policy/v1", "Eviction", "io.k8s.api.policy.v1.Eviction"),
        ("v1", "Status", "io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
        ("v1", "DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
        ("v1", "Table", "io.k8s.apimachinery.pkg.apis.meta.v1.Table"),
    ]

    @Test(arguments: kinds)
    func builtinKindIsRegistered(apiVersion: String, kind: String, definition: String) throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: apiVersion, kind: kind))
        #expect(schema.name == definition)
        #expect(schema.groupVersionKind?.apiVersion == apiVersion)
        #expect(schema.groupVersionKind?.kind == kind)
        #expect(schema.field("apiVersion") != nil && schema.field("kind") != nil)
    }

    @Test func unknownKindsAreNotRegistered() {
        #expect(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Widget") == nil)
        #expect(SchemaRegistry.builtin.schema(apiVersion: "apps/v2", kind: "Deployment") == nil)
        #expect(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "pod") == nil)
    }

    /// Walks a dotted path of field names (list items are entered implicitly).
    static func field(_ apiVersion: String, _ kind: String, _ path: String) -> FieldSchema? {
        guard var schema = SchemaRegistry.builtin.schema(apiVersion: apiVersion, kind: kind) else { return nil }
        let names = path.split(separator: ".").map(String.init)
        for name in names.dropLast() {
            guard let next = schema.field(name)?.type.objectSchema else { return nil }
            schema = next
        }
        return names.last.flatMap { schema.field($0) }
    }

    /// Upstream's list semantics (k8s.io/api types.go tags and markers): (kind path, strategy,
    /// merge key, list type, map keys).
    static let listFacts: [(String, String, String?, String?, ListType, [String])] = [
        ("v1/Pod", "spec.containers", "merge", "name", .map, ["name"]),
        ("v1/Pod", "spec.initContainers", "merge", "name", .map, ["name"]),
        ("v1/Pod", "spec.volumes", "merge,retainKeys", "name", .map, ["name"]),
        ("v1/Pod", "spec.containers.ports", "merge", "containerPort", .map, ["containerPort", "protocol"]),
        ("v1/Pod", "spec.containers.env", "merge", "name", .map, ["name"]),
        ("v1/Pod", "spec.containers.volumeMounts", "merge", "mountPath", .map, ["mountPath"]),
        ("v1/Pod", "spec.containers.command", nil, nil, .atomic, []),
        ("v1/Pod", "spec.tolerations", nil, nil, .atomic, []),
        ("v1/Pod", "spec.imagePullSecrets", "merge", "name", .map, ["name"]),
        ("v1/Pod", "spec.topologySpreadConstraints", "merge", "topologyKey", .map, ["topologyKey", "whenUnsatisfiable"]),
        ("v1/Pod", "status.conditions", "merge", "type", .map, ["type"]),
        ("v1/Pod", "status.podIPs", "merge", "ip", .map, ["ip"]),
        ("v1/Pod", "status.hostIPs", "merge", "ip", .atomic, []),
        ("v1/Pod", "status.containerStatuses", nil, nil, .atomic, []),
        ("v1/Pod", "metadata.finalizers", "merge", nil, .set, []),
        ("v1/Pod", "metadata.ownerReferences", "merge", "uid", .map, ["uid"]),
        ("v1/Pod", "metadata.managedFields", nil, nil, .atomic, []),
        ("v1/Service", "spec.ports", "merge", "port", .map, ["port", "protocol"]),
        ("v1/Service", "spec.clusterIPs", nil, nil, .atomic, []),
        ("v1/Node", "spec.podCIDRs", "merge", nil, .set, []),
        ("v1/Node", "spec.taints", nil, nil, .atomic, []),
        ("v1/Node", "status.addresses", "merge", "type", .map, ["type"]),
        ("v1/Endpoints", "subsets", nil, nil, .atomic, []),
        ("v1/ServiceAccount", "secrets", "merge", "name", .map, ["name"]),
        ("apps/v1/Deployment", "spec.template.spec.containers", "merge", "name", .map, ["name"]),
        ("apps/v1/Deployment", "status.conditions", "merge", "type", .map, ["type"]),
        ("batch/v1/Job", "status.conditions", "merge", "type", .atomic, []),
        ("discovery.k8s.io/v1/EndpointSlice", "endpoints", nil, nil, .atomic, []),
        ("discovery.k8s.io/v1/EndpointSlice", "endpoints.addresses", nil, nil, .set, []),
    ]

    @Test(arguments: listFacts)
    func listSemanticsFollowUpstream(kindPath: String, path: String, strategy: String?, mergeKey: String?, listType: ListType, keys: [String]) throws {
        let kind = String(kindPath.split(separator: "/").last!)
        let apiVersion = String(kindPath.dropLast(kind.count + 1))
        let field = try #require(Self.field(apiVersion, kind, path), "\(kindPath) \(path)")
        #expect(field.patchStrategy == strategy)
        #expect(field.patchMergeKey == mergeKey)
        #expect(field.effectiveListType == listType)
        #expect(field.effectiveMapKeys == keys)
    }

    @Test func objectPatchStrategies() throws {
        #expect(Self.field("apps/v1", "Deployment", "spec.strategy")?.patchStrategy == "retainKeys")
        #expect(Self.field("policy/v1", "PodDisruptionBudget", "spec.selector")?.replacesWhole == true)
        #expect(Self.field("v1", "Pod", "spec.nodeSelector")?.isAtomic == true)
        #expect(Self.field("v1", "Service", "spec.selector")?.isAtomic == true)
        #expect(Self.field("apps/v1", "Deployment", "spec.selector")?.type.objectSchema?.isAtomic == true)
    }

    /// Every field of every reachable structure has a description, and one definition name
    /// never stands for two different structures.
    @Test func definitionsAreDescribedAndConsistent() {
        let definitions = SchemaRegistry.builtin.definitions
        #expect(definitions.count > 100)
        var seen: [String: [String]] = [:]
        func check(_ schema: TypeSchema) {
            let names = schema.fields.map(\.name)
            if let previous = seen[schema.name] {
                #expect(previous == names, "\(schema.name) is defined twice with different fields")
                return
            }
            seen[schema.name] = names
            #expect(!schema.description.isEmpty, "\(schema.name)")
            #expect(Set(names).count == names.count, "\(schema.name) has a duplicate field")
            for field in schema.fields {
                #expect(!field.description.isEmpty, "\(schema.name).\(field.name)")
                if case .array = field.type { #expect(field.listType != nil, "\(schema.name).\(field.name) has no list type") }
                var type = field.type
                while true {
                    switch type {
                    case .object(let nested): check(nested); type = .any
                    case .array(let items), .map(let items): type = items
                    default: type = .any
                    }
                    if case .any = type { break }
                }
            }
        }
        for kind in SchemaRegistry.builtin.kinds { check(kind) }
        #expect(seen["io.k8s.api.core.v1.Container"] != nil)
        #expect(seen["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] != nil)
    }
}

import Foundation
import KubeAPI

/// One built-in resource: everything the server needs to route, store, default, validate,
/// discover and print it. Adding a resource is one small file under Resources/ that returns one
/// of these, plus its line in ``ResourceRegistry/builtIn``.
struct ResourceDefinition: Sendable {
    var group: String
    var version: String
    var kind: String
    var plural: String
    var singular: String
    var shortNames: [String]
    var categories: [String]
    var namespaced: Bool
    var verbs: [String]
    /// Subresources served, by name: status, scale, binding, eviction, log, exec, finalize.
    var subresources: [String]
    /// Columns of `kubectl get` (Accept: ...;as=Table); empty means Name and Age.
    var columns: [TableColumn]
    /// Field selectors beyond metadata.name and metadata.namespace, each reading one field.
    var fieldSelectors: [String: @Sendable (JSONObject) -> String]
    /// Namespaces and services need DNS-1123 labels; most objects DNS-1123 subdomains.
    var nameRule: NameRule
    /// Fills defaults on create and update (as upstream's defaulting functions).
    var defaults: @Sendable (inout JSONObject) -> Void
    /// Checks the object (with the old one on update); empty means valid.
    var validate: @Sendable (_ object: JSONObject, _ old: JSONObject?) -> [FieldError]
    /// Whether `metadata.generation` is kept: 1 on create, one more for each change beyond
    /// metadata and status, and for a graceful delete. Upstream's strategies do this for the
    /// workloads, PodDisruptionBudgets, EndpointSlices and Pods (since 1.33); the others (Leases,
    /// Nodes, ConfigMaps, Services, ...) have no generation.
    var tracksGeneration: Bool

    static let allVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    enum NameRule: Sendable { case subdomain, label }

    init(group: String, version: String, kind: String, plural: String, singular: String? = nil,
                shortNames: [String] = [], categories: [String] = [], namespaced: Bool = true,
                verbs: [String] = ResourceDefinition.allVerbs, subresources: [String] = [], columns: [TableColumn] = [],
                fieldSelectors: [String: @Sendable (JSONObject) -> String] = [:], nameRule: NameRule = .subdomain,
                tracksGeneration: Bool = false,
                defaults: @escaping @Sendable (inout JSONObject) -> Void = { _ in },
                validate: @escaping @Sendable (JSONObject, JSONObject?) -> [FieldError] = { _, _ in [] }) {
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.singular = singular ?? kind.lowercased()
        self.shortNames = shortNames
        self.categories = categories
        self.namespaced = namespaced
        self.verbs = verbs
        self.subresources = subresources
        self.columns = columns
        self.fieldSelectors = fieldSelectors
        self.nameRule = nameRule
        self.defaults = defaults
        self.validate = validate
        self.tracksGeneration = tracksGeneration
    }

    var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    var listKind: String { kind + "List" }
    /// `pods` for core, `deployments.apps` otherwise: how upstream names a resource in messages.
    var qualifiedPlural: String { group.isEmpty ? plural : "\(plural).\(group)" }
    var hasStatus: Bool { subresources.contains("status") }

    /// Store keys: /registry/<group>/<plural>/<namespace>/<name> (core is spelled "core").
    func storagePrefix(namespace: String?) -> String {
        let base = "/registry/\(group.isEmpty ? "core" : group)/\(plural)/"
        guard namespaced, let namespace, !namespace.isEmpty else { return base }
        return base + namespace + "/"
    }

    func storageKey(namespace: String?, name: String) -> String {
        storagePrefix(namespace: namespace) + name
    }
}

/// One column of a meta/v1 Table, with how to compute its cell.
struct TableColumn: Sendable {
    var name: String
    var type: String
    var format: String
    var description: String
    /// 0: always shown; 1: only with `-o wide`.
    var priority: Int
    var cell: @Sendable (JSONObject, Date) -> JSONValue

    init(_ name: String, type: String = "string", format: String = "", priority: Int = 0, description: String = "",
                cell: @escaping @Sendable (JSONObject, Date) -> JSONValue) {
        self.name = name
        self.type = type
        self.format = format
        self.description = description.isEmpty ? name : description
        self.priority = priority
        self.cell = cell
    }

    static let name = TableColumn("Name", format: "name", description: "Name must be unique within a namespace.") { o, _ in .string(o.name) }
    static let age = TableColumn("Age", description: "CreationTimestamp is a timestamp representing the server time when this object was created.") { o, now in
        .string(Timestamp.age(o.metadata["creationTimestamp"]?.stringValue, now: now))
    }
}

/// The resources this server serves, looked up by group, version and plural.
struct ResourceRegistry: Sendable {
    let resources: [ResourceDefinition]

    init(_ resources: [ResourceDefinition]) { self.resources = resources }

    /// Every built-in resource. One line per resource; the definition lives in Resources/.
    static let builtIn = ResourceRegistry([
        Namespaces.definition, Pods.definition, Services.definition, Endpoints.definition, Nodes.definition,
        ConfigMaps.definition, Secrets.definition, ServiceAccounts.definition, Events.definition,
        Deployments.definition, ReplicaSets.definition, DaemonSets.definition, StatefulSets.definition,
        Jobs.definition, Leases.definition, EndpointSlices.definition, PodDisruptionBudgets.definition,
    ])

    func lookup(group: String, version: String, plural: String) -> ResourceDefinition? {
        resources.first { $0.group == group && $0.version == version && $0.plural == plural }
    }

    func lookup(group: String, kind: String) -> ResourceDefinition? {
        resources.first { $0.group == group && $0.kind == kind }
    }

    /// Group names in the order discovery lists them (core first, as "").
    var groups: [String] {
        var seen: [String] = []
        for r in resources where !seen.contains(r.group) { seen.append(r.group) }
        return seen
    }

    func versions(of group: String) -> [String] {
        var seen: [String] = []
        for r in resources where r.group == group && !seen.contains(r.version) { seen.append(r.version) }
        return seen
    }
}

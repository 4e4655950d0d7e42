/// What the API server serves for one resource, as OpenAPI needs it: the kind, where it lives
/// in the URL space and which verbs and subresources it answers.
public struct ResourceDescriptor: Sendable, Hashable {
    public var group: String
    public var version: String
    public var kind: String
    /// The URL name, e.g. `pods`.
    public var plural: String
    public var namespaced: Bool
    /// Kubernetes verbs: get, list, watch, create, update, patch, delete, deletecollection.
    public var verbs: [String]
    /// Subresources served: status, scale, binding, eviction, log, exec, finalize.
    public var subresources: [String]

    public init(group: String, version: String, kind: String, plural: String, namespaced: Bool,
                verbs: [String] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                subresources: [String] = []) {
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.verbs = verbs
        self.subresources = subresources
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var groupVersionKind: GroupVersionKind { GroupVersionKind(group: group, version: version, kind: kind) }

    /// The URL prefix of the group-version without the leading slash: `api/v1`, `apis/apps/v1`.
    public var groupVersionPath: String { group.isEmpty ? "api/\(version)" : "apis/\(group)/\(version)" }
}

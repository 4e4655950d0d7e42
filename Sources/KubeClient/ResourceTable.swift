import KubeAPI

/// Where a kind lives in the REST API: its plural resource name and whether it is namespaced.
public struct ResourceInfo: Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var plural: String
    public var namespaced: Bool

    public init(apiVersion: String, kind: String, plural: String, namespaced: Bool) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
    }

    /// `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
    public var groupVersionPath: String {
        apiVersion.utf8.contains(UInt8(ascii: "/")) ? "/apis/" + apiVersion : "/api/" + apiVersion
    }

    /// The collection path (`name` nil) or object path, with an optional subresource.
    /// Cluster-scoped kinds ignore `namespace`; a namespaced kind with a nil namespace gives
    /// the all-namespaces collection.
    public func path(namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var p = groupVersionPath
        if namespaced, let ns = namespace, !ns.isEmpty { p += "/namespaces/\(PathEscaping.segment(ns))" }
        p += "/\(plural)"
        if let name { p += "/\(PathEscaping.segment(name))" }
        if let subresource { p += "/\(subresource)" }
        return p
    }
}

/// The built-in kinds of Kubernetes 1.33 mapped to their resources, keyed by
/// (apiVersion, kind). Plural names and scopes follow the API server's discovery documents.
public enum ResourceTable {
    /// The resource of `(apiVersion, kind)`, or nil for a kind the table does not know.
    public static func lookup(apiVersion: String, kind: String) -> ResourceInfo? {
        byKey[Key(apiVersion: apiVersion, kind: kind)]
    }

    /// The resource of a typed object, or an `UnknownKind` error naming it.
    public static func info<T: KubeObject>(for type: T.Type) throws(KubeClientError) -> ResourceInfo {
        guard let info = lookup(apiVersion: T.apiVersion, kind: T.kind) else {
            throw KubeClientError(code: 0, reason: "UnknownKind", message: "no REST resource is known for kind \(T.kind) in \(T.apiVersion)")
        }
        return info
    }

    /// Every known resource.
    public static var all: [ResourceInfo] { entries }

    private struct Key: Hashable {
        var apiVersion: String
        var kind: String
    }

    private static let byKey: [Key: ResourceInfo] = Dictionary(entries.map { (Key(apiVersion: $0.apiVersion, kind: $0.kind), $0) }, uniquingKeysWith: { a, _ in a })

    // (apiVersion, kind, plural, namespaced)
    private static let entries: [ResourceInfo] = [
        ("v1", "Binding", "bindings", true),
        ("v1", "ComponentStatus", "componentstatuses", false),
        ("v1", "ConfigMap", "configmaps", true),
        ("v1", "Endpoints", "endpoints", true),
        ("v1", "Event", "events", true),
        ("v1", "LimitRange", "limitranges", true),
        ("v1", "Namespace", "namespaces", false),
        ("v1", "Node", "nodes", false),
        ("v1", "PersistentVolume", "persistentvolumes", false),
        ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", true),
        ("v1", "Pod", "pods", true),
        ("v1", "PodTemplate", "podtemplates", true),
        ("v1", "ReplicationController", "replicationcontrollers", true),
        ("v1", "ResourceQuota", "resourcequotas", true),
        ("v1", "Secret", "secrets", true),
        ("v1", "Service", "services", true),
        ("v1", "ServiceAccount", "serviceaccounts", true),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", false),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", false),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", false),
        ("apiregistration.k8s.io/v1", "APIService", "apiservices", false),
        ("apps/v1", "ControllerRevision", "controllerrevisions", true),
        ("apps/v1", "DaemonSet", "daemonsets", true),
        ("apps/v1", "Deployment", "deployments", true),
        ("apps/v1", "ReplicaSet", "replicasets", true),
        ("apps/v1", "StatefulSet", "statefulsets", true),
        ("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", false),
        ("authentication.k8s.io/v1", "TokenReview", "tokenreviews", false),
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", true),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false),
        ("authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", false),
        ("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true),
        ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true),
        ("batch/v1", "CronJob", "cronjobs", true),
        ("batch/v1", "Job", "jobs", true),
        ("certificates.k8s.io/v1", "CertificateSigningRequest", "certificatesigningrequests", false),
        ("coordination.k8s.io/v1", "Lease", "leases", true),
        ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", true),
        ("events.k8s.io/v1", "Event", "events", true),
        ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", "flowschemas", false),
        ("flowcontrol.apiserver.k8s.io/v1", "PriorityLevelConfiguration", "prioritylevelconfigurations", false),
        ("networking.k8s.io/v1", "Ingress", "ingresses", true),
        ("networking.k8s.io/v1", "IngressClass", "ingressclasses", false),
        ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true),
        ("node.k8s.io/v1", "RuntimeClass", "runtimeclasses", false),
        ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false),
        ("rbac.authorization.k8s.io/v1", "Role", "roles", true),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true),
        ("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", false),
        ("storage.k8s.io/v1", "CSIDriver", "csidrivers", false),
        ("storage.k8s.io/v1", "CSINode", "csinodes", false),
        ("storage.k8s.io/v1", "CSIStorageCapacity", "csistoragecapacities", true),
        ("storage.k8s.io/v1", "StorageClass", "storageclasses", false),
        ("storage.k8s.io/v1", "VolumeAttachment", "volumeattachments", false),
    ].map { ResourceInfo(apiVersion: $0.0, kind: $0.1, plural: $0.2, namespaced: $0.3) }
}

/// Percent-encoding for path segments and query values (RFC 3986 unreserved characters pass).
enum PathEscaping {
    static func segment(_ s: String) -> String { escape(s) }
    static func query(_ s: String) -> String { escape(s) }

    private static func escape(_ s: String) -> String {
        // Names and namespaces are DNS labels and subdomains: usually nothing to escape.
        if s.utf8.allSatisfy(isUnreserved) { return s }
        var out = ""
        for b in s.utf8 {
            if isUnreserved(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    /// RFC 3986's unreserved characters, which a path segment or query value carries as they are.
    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

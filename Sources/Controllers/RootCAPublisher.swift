import KubeAPI
import KubeClient

/// Upstream's root CA certificate publisher (kube-controller-manager's
/// `root-ca-cert-publisher`): the ConfigMap `kube-root-ca.crt` in every namespace holds the
/// cluster CA under `ca.crt`, with the `kubernetes.io/description` annotation, so pods' projected
/// `kube-api-access-*` volumes can verify the API server.
///
/// `sync(key:)` takes a namespace name: it creates the ConfigMap when missing, and puts `data`
/// back to exactly `{"ca.crt": CA}` (and the annotation) when someone edited it. A namespace
/// that is gone or terminating is left alone. Run it on namespace add/update and on any change
/// or deletion of a `kube-root-ca.crt` ConfigMap. Stateless and safe to call concurrently for
/// different namespaces.
public struct RootCAPublisher: Sendable {
    public static let configMapName = "kube-root-ca.crt"
    public static let descriptionAnnotation = "kubernetes.io/description"
    public static let description = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

    let client: any KubeAPIClient
    /// The CA bundle in PEM.
    public let rootCA: String

    public init(client: any KubeAPIClient, rootCA: String) {
        self.client = client
        self.rootCA = rootCA
    }

    public func sync(key namespace: String) async throws(ControllerError) {
        let wanted = ["ca.crt": rootCA]
        let existing: ConfigMap
        do { existing = try await client.get(ConfigMap.self, namespace: namespace, name: Self.configMapName) } catch {
            guard error.isNotFound else { throw ControllerError("get ConfigMap \(namespace)/\(Self.configMapName)", "read failed", cause: error) }
            let map = ConfigMap(metadata: ObjectMeta(name: Self.configMapName, namespace: namespace,
                                                     annotations: [Self.descriptionAnnotation: Self.description]), data: wanted)
            do { _ = try await client.create(map) } catch {
                // Upstream does not retry for a namespace that is gone or terminating; a map
                // created meanwhile is checked on its own event.
                if error.isNotFound || error.isAlreadyExists || Self.isNamespaceTerminating(error) { return }
                throw ControllerError("create ConfigMap \(namespace)/\(Self.configMapName)", "create failed", cause: error)
            }
            return
        }
        if existing.data == wanted, !(existing.metadata.annotations?[Self.descriptionAnnotation] ?? "").isEmpty { return }
        var repaired = existing
        repaired.data = wanted
        var annotations = repaired.metadata.annotations ?? [:]
        annotations[Self.descriptionAnnotation] = Self.description
        repaired.metadata.annotations = annotations
        do { _ = try await client.update(repaired) } catch {
            if error.isNotFound { return }
            throw ControllerError("update ConfigMap \(namespace)/\(Self.configMapName)", "update failed", cause: error)
        }
    }

    /// The API server's refusal to create in a namespace being deleted (cause NamespaceTerminating).
    static func isNamespaceTerminating(_ error: KubeClientError) -> Bool {
        error.status?.details?.causes?.contains { $0.reason == "NamespaceTerminating" } ?? false
    }
}

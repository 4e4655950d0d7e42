import KubeAPI

/// Reads the ConfigMaps and Secrets pods refer to (env `configMapKeyRef`/`secretKeyRef`,
/// `envFrom`, configMap/secret volumes and projections).
///
/// Contract: returns nil when the object does not exist (HTTP 404), throws when it cannot tell
/// (the API server is unreachable). Thread-safe; called by pod workers in parallel.
public protocol PodObjectReader: Sendable {
    func configMap(namespace: String, name: String) async throws(KubeletError) -> ConfigMap?
    func secret(namespace: String, name: String) async throws(KubeletError) -> Secret?
    /// The token of a projected serviceAccountToken source (cached and refreshed as upstream's
    /// token manager does). Throws when none can be had (standalone: always).
    func serviceAccountToken(_ request: ServiceAccountTokenRequest) async throws(KubeletError) -> String
    /// The Services whose variables containers of `namespace` get (``ServiceEnvironment``); nil
    /// without an API server.
    func services(namespace: String, serviceLinks: Bool) async throws(KubeletError) -> [Service]?
    /// Drops what was cached for pod `uid` (its tokens); called once the pod is removed.
    func podRemoved(uid: String) async
}

/// The standalone kubelet's reader: there is no API server, so no object exists.
public struct NoPodObjects: PodObjectReader {
    public init() {}
    public func configMap(namespace: String, name: String) async throws(KubeletError) -> ConfigMap? { nil }
    public func secret(namespace: String, name: String) async throws(KubeletError) -> Secret? { nil }
}

/// The ConfigMaps and Secrets one pod refers to, read once per sync so that building container
/// configs and volumes stays synchronous. A name missing from both `configMaps` and
/// `missingConfigMaps` was not referenced.
public struct PodObjects: Sendable, Hashable {
    public var configMaps: [String: ConfigMap] = [:]
    public var secrets: [String: Secret] = [:]
    public var missingConfigMaps: Set<String> = []
    public var missingSecrets: Set<String> = []
    /// Tokens of projected serviceAccountToken sources, by ``VolumeManager/tokenKey(volume:path:)``.
    public var serviceAccountTokens: [String: String] = [:]
    /// Upstream's service environment variables for the pod's containers.
    public var serviceEnvironment: [String: String] = [:]
    /// True when the kubelet has an API server to read from (standalone: false), for messages.
    public var hasAPIServer: Bool

    public init(configMaps: [String: ConfigMap] = [:], secrets: [String: Secret] = [:], hasAPIServer: Bool = false) {
        self.configMaps = configMaps
        self.secrets = secrets
        self.hasAPIServer = hasAPIServer
    }

    /// Every ConfigMap and Secret name `pod` refers to, from env, envFrom, volumes and
    /// projected volumes.
    public static func references(of pod: Pod) -> (configMaps: Set<String>, secrets: Set<String>) {
        var configMaps = Set<String>()
        var secrets = Set<String>()
        for container in (pod.spec.initContainers ?? []) + pod.spec.containers {
            for source in container.envFrom ?? [] {
                if let name = source.configMapRef?.name { configMaps.insert(name) }
                if let name = source.secretRef?.name { secrets.insert(name) }
            }
            for variable in container.env ?? [] {
                if let name = variable.valueFrom?.configMapKeyRef?.name { configMaps.insert(name) }
                if let name = variable.valueFrom?.secretKeyRef?.name { secrets.insert(name) }
            }
        }
        for volume in pod.spec.volumes ?? [] {
            if let name = volume.configMap?.name { configMaps.insert(name) }
            if let name = volume.secret?.secretName { secrets.insert(name) }
            for source in volume.projected?.sources ?? [] {
                if let name = source.configMap?.name { configMaps.insert(name) }
                if let name = source.secret?.name { secrets.insert(name) }
            }
        }
        configMaps.remove("")
        secrets.remove("")
        return (configMaps, secrets)
    }

    /// Reads every object `pod` refers to through `reader`. Throws only when the reader cannot
    /// tell whether an object exists; a missing object is recorded as missing.
    public static func fetch(for pod: Pod, from reader: any PodObjectReader, hasAPIServer: Bool) async throws(KubeletError) -> PodObjects {
        let namespace = pod.metadata.namespace ?? "default"
        let (configMapNames, secretNames) = references(of: pod)
        var objects = PodObjects(hasAPIServer: hasAPIServer)
        for name in configMapNames.sorted() {
            if let found = try await reader.configMap(namespace: namespace, name: name) {
                objects.configMaps[name] = found
            } else {
                objects.missingConfigMaps.insert(name)
            }
        }
        for name in secretNames.sorted() {
            if let found = try await reader.secret(namespace: namespace, name: name) {
                objects.secrets[name] = found
            } else {
                objects.missingSecrets.insert(name)
            }
        }
        objects.serviceAccountTokens = try await ServiceAccountTokenManager.tokens(for: pod, from: reader)
        objects.serviceEnvironment = try await ServiceEnvironment.variables(for: pod, from: reader)
        return objects
    }

    /// The message for a referenced object that does not exist, as upstream words it.
    func notFound(_ kind: String, _ name: String) -> String {
        hasAPIServer ? "\(kind) \"\(name)\" not found" : "\(kind) \"\(name)\" not found (the kubelet runs without an API server)"
    }

    /// The value of `key` in ConfigMap `name`: nil with `optional` when the map or key is
    /// missing, an error naming them otherwise.
    func configMapValue(_ name: String, key: String, optional: Bool, what: String) throws(KubeletError) -> String? {
        guard let map = configMaps[name] else {
            if optional { return nil }
            throw KubeletError(.containerConfig, "\(what): \(notFound("configmap", name))")
        }
        guard let bytes = map.bytes(forKey: key) else {
            if optional { return nil }
            throw KubeletError(.containerConfig, "\(what): couldn't find key \(key) in ConfigMap \(map.metadata.namespace ?? "default")/\(name)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value of `key` in Secret `name`, as ``configMapValue(_:key:optional:what:)``.
    func secretValue(_ name: String, key: String, optional: Bool, what: String) throws(KubeletError) -> String? {
        guard let secret = secrets[name] else {
            if optional { return nil }
            throw KubeletError(.containerConfig, "\(what): \(notFound("secret", name))")
        }
        guard let bytes = secret.bytes(forKey: key) else {
            if optional { return nil }
            throw KubeletError(.containerConfig, "\(what): couldn't find key \(key) in Secret \(secret.metadata.namespace ?? "default")/\(name)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

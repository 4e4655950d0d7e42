import Foundation
import KubeAPI

/// Upstream's ServiceAccount admission plugin, on pod creation (plugin/pkg/admission/serviceaccount):
///
/// - A mirror pod (annotation `kubernetes.io/config.mirror`) is not changed; it is refused
///   (403) when it names a service account, refers to a Secret, or projects a
///   serviceAccountToken.
/// - Any other pod gets `spec.serviceAccountName` "default" when it names none, and is refused
///   (403, `error looking up service account NS/NAME: serviceaccount "NAME" not found`) when
///   that account does not exist. Upstream looks "default" up 10 times, 100-200 ms apart, since
///   the ServiceAccount controller may be about to create it; other names once.
/// - Unless `automountServiceAccountToken` is false (the pod's setting wins over the account's),
///   every init and app container without a mount at
///   `/var/run/secrets/kubernetes.io/serviceaccount` gets a read-only mount of the projected
///   volume `kube-api-access-<5 random characters>` (a token of 3607 s, `ca.crt` from the
///   ConfigMap `kube-root-ca.crt`, the namespace from the downward API), and the volume is added.
///   A volume already named `kube-api-access-*` is reused.
/// - A pod without imagePullSecrets gets the account's.
///
/// Stateless; the store is read for the account only.
enum ServiceAccountAdmission {
    static let defaultServiceAccountName = "default"
    static let volumeNamePrefix = "kube-api-access-"
    static let mountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
    /// Upstream's WarnOnlyBoundTokenExpirationSeconds: a token a little over an hour, so the API
    /// server can tell (and warn about) a client still using it after an hour.
    static let tokenExpirationSeconds: Int64 = 3607
    static let rootCAConfigMapName = "kube-root-ca.crt"
    static let mirrorAnnotation = "kubernetes.io/config.mirror"
    /// Upstream's ProjectedVolumeSourceDefaultMode (0644), set explicitly as upstream does.
    static let defaultMode: Int64 = 0o644

    /// Admits the pod `pod` being created in its namespace (see the type's contract). Throws a
    /// 403 Forbidden naming the pod and the reason. `retryInterval` is the pause between the
    /// lookups of a missing "default" account (nil: upstream's random 100-200 ms).
    static func admit(_ pod: inout JSONObject, storage: RESTStorage, retryInterval: Duration? = nil) async throws(APIError) {
        if pod.metadata["annotations"]?[mirrorAnnotation] != nil {
            try validateMirror(pod)
            return
        }
        var spec = pod["spec"]?.objectValue ?? [:]
        if (spec["serviceAccountName"]?.stringValue ?? "").isEmpty {
            spec["serviceAccountName"] = .string(defaultServiceAccountName)
        }
        let name = spec["serviceAccountName"]?.stringValue ?? defaultServiceAccountName
        let account = try await lookUp(namespace: pod.namespace, name: name, pod: pod.name, storage: storage,
                                       retryInterval: retryInterval ?? .milliseconds(Int.random(in: 100..<200)))
        if shouldAutomount(account: account, spec: spec) {
            mountToken(&spec, volumeName: volumeNamePrefix + RESTStorage.randomSuffix())
        }
        if (spec["imagePullSecrets"]?.arrayValue ?? []).isEmpty, let secrets = account["imagePullSecrets"]?.arrayValue, !secrets.isEmpty {
            spec["imagePullSecrets"] = .array(secrets.compactMap { $0["name"]?.stringValue }.map { .object(["name": .string($0)]) })
        }
        pod["spec"] = .object(spec)
    }

    /// The service account `name`, looked up as upstream does (10 tries for "default").
    static func lookUp(namespace: String, name: String, pod: String, storage: RESTStorage, retryInterval: Duration) async throws(APIError) -> JSONObject {
        let attempts = name == defaultServiceAccountName ? 10 : 1
        for attempt in 0..<attempts {
            if attempt > 0 { try? await Task.sleep(for: retryInterval) }
            do {
                return try await storage.get(ServiceAccounts.definition, namespace: namespace, name: name)
            } catch where error.code == 404 {
                continue
            } catch {
                throw forbidden(pod, "error looking up service account \(namespace)/\(name): \(error.status.message ?? error.description)")
            }
        }
        throw forbidden(pod, "error looking up service account \(namespace)/\(name): serviceaccount \"\(name)\" not found")
    }

    /// The pod's `automountServiceAccountToken` if set, else the account's, else true.
    static func shouldAutomount(account: JSONObject, spec: JSONObject) -> Bool {
        spec["automountServiceAccountToken"]?.boolValue ?? account["automountServiceAccountToken"]?.boolValue ?? true
    }

    /// Adds the token mount to every init and app container that has no mount at the token
    /// path, and the projected volume when some container got the mount (upstream's shape and
    /// order: init containers first, volume appended last). `volumeName` is used unless the pod
    /// already has a `kube-api-access-*` volume.
    static func mountToken(_ spec: inout JSONObject, volumeName: String) {
        var volumes = spec["volumes"]?.arrayValue ?? []
        let existing = volumes.lazy.compactMap { $0["name"]?.stringValue }.first { $0.hasPrefix(volumeNamePrefix) }
        let name = existing ?? volumeName
        let mount: JSONValue = .object(["name": .string(name), "readOnly": .bool(true), "mountPath": .string(mountPath)])
        var needsVolume = false
        for field in ["initContainers", "containers"] {
            guard let containers = spec[field]?.arrayValue else { continue }
            spec[field] = .array(containers.map { value in
                guard var container = value.objectValue else { return value }
                var mounts = container["volumeMounts"]?.arrayValue ?? []
                guard !mounts.contains(where: { $0["mountPath"]?.stringValue == mountPath }) else { return value }
                mounts.append(mount)
                container["volumeMounts"] = .array(mounts)
                needsVolume = true
                return .object(container)
            })
        }
        if existing == nil && needsVolume {
            volumes.append(.object(["name": .string(name), "projected": tokenVolumeSource()]))
            spec["volumes"] = .array(volumes)
        }
    }

    /// Upstream's TokenVolumeSource, as the API serves it.
    static func tokenVolumeSource() -> JSONValue {
        .object([
            "defaultMode": .int(defaultMode),
            "sources": .array([
                .object(["serviceAccountToken": .object(["expirationSeconds": .int(tokenExpirationSeconds), "path": .string("token")])]),
                .object(["configMap": .object(["name": .string(rootCAConfigMapName),
                                               "items": .array([.object(["key": .string("ca.crt"), "path": .string("ca.crt")])])])]),
                .object(["downwardAPI": .object(["items": .array([.object([
                    "path": .string("namespace"),
                    "fieldRef": .object(["apiVersion": .string("v1"), "fieldPath": .string("metadata.namespace")]),
                ])])])]),
            ]),
        ])
    }

    /// A mirror pod may not name a service account, refer to a Secret or project a token.
    static func validateMirror(_ pod: JSONObject) throws(APIError) {
        let spec = pod["spec"]?.objectValue ?? [:]
        if !(spec["serviceAccountName"]?.stringValue ?? "").isEmpty {
            throw forbidden(pod.name, "a mirror pod may not reference service accounts")
        }
        if referencesSecrets(spec) {
            throw forbidden(pod.name, "a mirror pod may not reference secrets")
        }
        for volume in spec["volumes"]?.arrayValue ?? [] {
            for source in volume[path: ["projected", "sources"]]?.arrayValue ?? [] where source["serviceAccountToken"] != nil {
                throw forbidden(pod.name, "a mirror pod may not use ServiceAccountToken volume projections")
            }
        }
    }

    /// Whether a pod spec names any Secret: image pull secrets, secret volumes and projections,
    /// volume plugins' secret references, env secretKeyRef and envFrom secretRef (upstream's
    /// VisitPodSecretNames over all containers).
    static func referencesSecrets(_ spec: JSONObject) -> Bool {
        if !(spec["imagePullSecrets"]?.arrayValue ?? []).isEmpty { return true }
        for volume in spec["volumes"]?.arrayValue ?? [] {
            if volume["secret"] != nil || volume[path: ["azureFile", "secretName"]] != nil { return true }
            if (volume[path: ["projected", "sources"]]?.arrayValue ?? []).contains(where: { $0["secret"] != nil }) { return true }
            for plugin in ["cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos"] where volume[path: [plugin, "secretRef"]] != nil {
                return true
            }
            if volume[path: ["csi", "nodePublishSecretRef"]] != nil { return true }
        }
        for field in ["initContainers", "containers", "ephemeralContainers"] {
            for container in spec[field]?.arrayValue ?? [] {
                if (container["envFrom"]?.arrayValue ?? []).contains(where: { $0["secretRef"] != nil }) { return true }
                if (container["env"]?.arrayValue ?? []).contains(where: { $0[path: ["valueFrom", "secretKeyRef"]] != nil }) { return true }
            }
        }
        return false
    }

    /// Upstream's admission.NewForbidden for pods.
    static func forbidden(_ pod: String, _ why: String) -> APIError {
        APIError(code: 403, reason: "Forbidden", message: "pods \"\(pod)\" is forbidden: \(why)", details: StatusDetails(name: pod, kind: "pods"))
    }

    /// Makes the `default` ServiceAccount in each of `namespaces` unless it exists: the server's
    /// own namespaces, so that a server running without the controller manager (tests,
    /// `nodekit apiserver` alone) still admits pods there. Idempotent.
    static func bootstrapDefaultAccounts(namespaces: [String], storage: RESTStorage) async throws(APIError) {
        for namespace in namespaces {
            let body: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("ServiceAccount"),
                                           "metadata": .object(["name": .string(defaultServiceAccountName), "namespace": .string(namespace)])])
            do {
                _ = try await storage.create(ServiceAccounts.definition, namespace: namespace, body: body, options: WriteOptions())
            } catch where error.reason == "AlreadyExists" {}
        }
    }
}

import Foundation
import KubeAPI
import KubeClient
import Logging

/// The pods the API server binds to this node (upstream's `api` config source): a list, then a
/// watch, of pods with `fieldSelector=spec.nodeName=<node>`, re-watched from the last seen
/// resourceVersion when a stream ends and re-listed after an error (410 Gone included).
///
/// ``snapshot()`` answers only after the first list succeeded (it throws before, so the kubelet
/// deletes nothing as an orphan while it cannot know). It leaves out mirror pods (the API
/// copies of static pods, which the file source runs) and pods already Succeeded or Failed
/// (their containers are not restarted).
///
/// ``run()`` keeps the cache current until its task is cancelled; ``apply(_:)`` and
/// ``replace(_:)`` are its single steps, public for tests.
public actor APIServerPodSource: PodSource {
    public nonisolated var name: String { "api" }
    public nonisolated let nodeName: String
    let client: any KubeAPIClient
    let logger: Logger
    var pods: [String: Pod] = [:]
    var listed = false
    /// The last list or watch failure, for the snapshot's error.
    var lastFailure: String?

    public init(client: any KubeAPIClient, nodeName: String, logger: Logger = Logger(label: "nodekit.kubelet")) {
        self.client = client
        self.nodeName = nodeName
        self.logger = logger
    }

    public func snapshot() async throws(KubeletError) -> PodSourceSnapshot {
        guard listed else {
            throw KubeletError(.apiServer, "pods of node \(nodeName) not listed from the API server yet\(lastFailure.map { ": \($0)" } ?? "")")
        }
        let wanted = pods.values.filter { pod in
            pod.metadata.annotations?[KubeletLabels.configMirror] == nil
                && pod.status?.phase != "Succeeded" && pod.status?.phase != "Failed"
        }
        return PodSourceSnapshot(pods: wanted.map(Self.marked).sorted { $0.key < $1.key })
    }

    /// The pod with the kubelet's source annotation added (upstream sets `config.source`).
    static func marked(_ pod: Pod) -> Pod {
        var pod = pod
        var annotations = pod.metadata.annotations ?? [:]
        annotations[KubeletLabels.configSource] = "api"
        pod.metadata.annotations = annotations
        return pod
    }

    /// Replaces the cache with a full list.
    public func replace(_ items: [Pod]) {
        pods = Dictionary(items.compactMap { pod in pod.metadata.uid.map { ($0, pod) } }, uniquingKeysWith: { _, last in last })
        listed = true
        lastFailure = nil
    }

    /// Applies one watch event.
    public func apply(_ event: WatchEvent<Pod>) {
        switch event {
        case .added(let pod), .modified(let pod):
            if let uid = pod.metadata.uid { pods[uid] = pod }
        case .deleted(let pod):
            if let uid = pod.metadata.uid { pods[uid] = nil }
        case .bookmark:
            break
        }
    }

    func failed(_ error: any Error) { lastFailure = "\(error)" }

    /// List, then watch, until the calling task is cancelled; failures wait `retryDelay`.
    public func run(retryDelay: Duration = .seconds(1)) async {
        let selector = "spec.nodeName=\(nodeName)"
        while !Task.isCancelled {
            do {
                let list = try await client.list(Pod.self, namespace: nil, options: ListOptions(fieldSelector: selector))
                replace(list.items)
                var version = list.metadata.resourceVersion
                while !Task.isCancelled {
                    // The server ends the watch after timeoutSeconds, so a half-open connection
                    // cannot hold the source forever.
                    let stream = try await client.watch(Pod.self, namespace: nil, options: ListOptions(
                        fieldSelector: selector, resourceVersion: version, timeoutSeconds: 300, allowWatchBookmarks: true))
                    for try await event in stream {
                        if let rv = event.resourceVersion { version = rv }
                        apply(event)
                    }
                }
            } catch {
                if Task.isCancelled { return }
                failed(error)
                logger.warning("pod list/watch failed; re-listing", metadata: ["node": "\(nodeName)", "error": "\(error)"])
                try? await Task.sleep(for: retryDelay)
            }
        }
    }
}

/// ConfigMaps and Secrets read through the API server (a GET per object when a container or
/// volume is set up), Services for environment variables, and service-account tokens.
public struct APIPodObjects: PodObjectReader {
    let client: any KubeAPIClient
    /// The tokens of pods' projected serviceAccountToken sources (ServiceAccountTokenManager.swift).
    let tokens: ServiceAccountTokenManager

    /// `tokenRequester` makes TokenRequests (default: through `client`); `clock` times their refresh.
    public init(client: any KubeAPIClient, tokenRequester: (any ServiceAccountTokenRequester)? = nil, clock: any KubeletClock = SystemClock()) {
        self.client = client
        tokens = ServiceAccountTokenManager(requester: tokenRequester ?? KubeClientTokenRequester(client: client), clock: clock)
    }

    public func configMap(namespace: String, name: String) async throws(KubeletError) -> ConfigMap? {
        do { return try await client.get(ConfigMap.self, namespace: namespace, name: name) } catch {
            if error.isNotFound { return nil }
            throw KubeletError(.apiServer, "get configmap \(namespace)/\(name)", cause: error)
        }
    }

    public func secret(namespace: String, name: String) async throws(KubeletError) -> Secret? {
        do { return try await client.get(Secret.self, namespace: namespace, name: name) } catch {
            if error.isNotFound { return nil }
            throw KubeletError(.apiServer, "get secret \(namespace)/\(name)", cause: error)
        }
    }
}

/// Writes what the kubelet knows back to the API server:
/// - each pod's status, through the `status` subresource as a JSON merge patch of `status`
///   alone, without a resourceVersion (the kubelet owns the status; it must not conflict with
///   spec or metadata writers), and only when it changed since the last write;
/// - a mirror pod per static pod: same namespace and name, annotation
///   `kubernetes.io/config.mirror` = the static pod's hash, owned by the Node; a mirror pod of
///   an older version of the manifest (another hash) is replaced, one without a static pod is
///   deleted;
/// - the final delete (grace 0, UID precondition) of a pod the kubelet finished terminating.
///
/// ``sync(pods:)`` is the single step; ``deletePod(_:)`` is called after a graceful
/// termination. Failures are logged and retried on the next step.
public actor PodStatusManager {
    let client: any KubeAPIClient
    public nonisolated let nodeName: String
    let logger: Logger
    /// The last status written, by pod UID in the API (the mirror pod's for static pods).
    var written: [String: PodStatus] = [:]

    public init(client: any KubeAPIClient, nodeName: String, logger: Logger = Logger(label: "nodekit.kubelet")) {
        self.client = client
        self.nodeName = nodeName
        self.logger = logger
    }

    /// One step for every pod the kubelet runs (each with its current status): mirror pods
    /// first, then status patches. Returns the number of API writes made.
    @discardableResult
    public func sync(pods: [Pod]) async -> Int {
        var writes = 0
        let statics = pods.filter { ($0.metadata.annotations?[KubeletLabels.configSource] ?? "api") != "api" }
        writes += await syncMirrorPods(statics)
        for pod in pods {
            guard let status = pod.status, let name = pod.metadata.name else { continue }
            let namespace = pod.metadata.namespace ?? "default"
            let key = pod.metadata.uid ?? "\(namespace)/\(name)"
            if written[key] == status { continue }
            do {
                let patch = try JSONValue.encode(["status": status])
                try await client.mergePatchDiscardingResult(Pod.self, namespace: namespace, name: name, patch, subresource: "status")
                written[key] = status
                writes += 1
            } catch {
                logger.warning("pod status update failed", metadata: ["pod": "\(namespace)/\(name)", "error": "\(error)"])
            }
        }
        let live = Set(pods.compactMap { $0.metadata.uid })
        written = written.filter { live.contains($0.key) }
        return writes
    }

    /// Creates, replaces or deletes mirror pods so that each static pod has exactly one of
    /// its current version.
    func syncMirrorPods(_ statics: [Pod]) async -> Int {
        let existing: [Pod]
        do {
            existing = try await client.list(Pod.self, namespace: nil, options: ListOptions(fieldSelector: "spec.nodeName=\(nodeName)")).items
                .filter { $0.metadata.annotations?[KubeletLabels.configMirror] != nil }
        } catch {
            logger.warning("list mirror pods failed", metadata: ["node": "\(nodeName)", "error": "\(error)"])
            return 0
        }
        var writes = 0
        var wanted: [String: Pod] = [:]
        for pod in statics { wanted["\(pod.metadata.namespace ?? "default")/\(pod.metadata.name ?? "")"] = pod }
        var current: Set<String> = []
        for mirror in existing {
            let key = "\(mirror.metadata.namespace ?? "default")/\(mirror.metadata.name ?? "")"
            if let pod = wanted[key], mirror.metadata.annotations?[KubeletLabels.configMirror] == pod.metadata.uid, mirror.metadata.deletionTimestamp == nil {
                current.insert(key)
                continue
            }
            do {
                try await client.delete(Pod.self, namespace: mirror.metadata.namespace, name: mirror.metadata.name ?? "",
                                        options: DeleteOptions(gracePeriodSeconds: 0, preconditions: Preconditions(uid: mirror.metadata.uid)))
                writes += 1
            } catch where !error.isNotFound {
                logger.warning("delete mirror pod failed", metadata: ["pod": "\(key)", "error": "\(error)"])
            } catch {}
        }
        let node = try? await client.get(Node.self, namespace: nil, name: nodeName)
        for (key, pod) in wanted where !current.contains(key) {
            do {
                _ = try await client.create(Self.mirror(of: pod, node: node))
                writes += 1
            } catch {
                logger.warning("create mirror pod failed", metadata: ["pod": "\(key)", "error": "\(error)"])
            }
        }
        return writes
    }

    /// The mirror pod of static pod `pod`: its spec and labels, the mirror annotation with its
    /// hash, and the Node as owner (when the Node exists). No UID or status: the server makes
    /// the first, the status step writes the second.
    public static func mirror(of pod: Pod, node: Node?) -> Pod {
        var mirror = Pod(metadata: ObjectMeta(name: pod.metadata.name, namespace: pod.metadata.namespace ?? "default",
                                              labels: pod.metadata.labels, annotations: pod.metadata.annotations),
                         spec: pod.spec)
        var annotations = mirror.metadata.annotations ?? [:]
        annotations[KubeletLabels.configMirror] = pod.metadata.uid ?? ""
        mirror.metadata.annotations = annotations
        if let node, let uid = node.metadata.uid, let name = node.metadata.name {
            mirror.metadata.ownerReferences = [OwnerReference(apiVersion: "v1", kind: "Node", name: name, uid: uid, controller: true)]
        }
        return mirror
    }

    /// Deletes a pod the kubelet has finished terminating (grace 0, only if it is still the
    /// same pod by UID). A pod already gone is not an error.
    public func deletePod(_ pod: Pod) async throws(KubeletError) {
        do {
            try await client.delete(Pod.self, namespace: pod.metadata.namespace ?? "default", name: pod.metadata.name ?? "",
                                    options: DeleteOptions(gracePeriodSeconds: 0, preconditions: Preconditions(uid: pod.metadata.uid)))
        } catch {
            if error.isNotFound { return }
            throw KubeletError(.apiServer, "delete terminated pod \(pod.key) from the API server", cause: error)
        }
    }
}

/// The kubelet's API-server parts made from one kubeconfig and sharing one client: the pod
/// source, the ConfigMap/Secret reader and the status manager. Call ``shutdown()`` at the end.
public struct KubeletAPIConnection: Sendable {
    public let source: APIServerPodSource
    public let objects: APIPodObjects
    public let statusManager: PodStatusManager
    let client: HTTPKubeClient

    public init(kubeconfigPath: String, nodeName: String, logger: Logger) throws(KubeletError) {
        do { client = try HTTPKubeClient(kubeconfigPath: kubeconfigPath) } catch {
            throw KubeletError(.configuration, "load kubeconfig \(kubeconfigPath)", cause: error)
        }
        source = APIServerPodSource(client: client, nodeName: nodeName, logger: logger)
        objects = APIPodObjects(client: client)
        statusManager = PodStatusManager(client: client, nodeName: nodeName, logger: logger)
    }

    public func shutdown() async { await client.shutdown() }
}

import Foundation
import KubeAPI
import KubeClient
import Logging

/// One TokenRequest for a pod's projected serviceAccountToken source: the pod's service
/// account, the source's audience and lifetime, bound to the pod by name and UID.
public struct ServiceAccountTokenRequest: Sendable, Hashable {
    public var namespace: String
    public var serviceAccount: String
    /// Empty: the API server's own audiences (upstream sends none when the source names none).
    public var audiences: [String]
    public var expirationSeconds: Int64
    public var podName: String
    public var podUID: String

    public init(namespace: String, serviceAccount: String, audiences: [String], expirationSeconds: Int64, podName: String, podUID: String) {
        self.namespace = namespace
        self.serviceAccount = serviceAccount
        self.audiences = audiences
        self.expirationSeconds = expirationSeconds
        self.podName = podName
        self.podUID = podUID
    }

    /// The cache key (upstream's keyFunc: nothing secret in it, safe to log).
    var key: String { "\"\(serviceAccount)\"/\"\(namespace)\"/\(audiences)/\(expirationSeconds)/Pod/\(podName)/\(podUID)" }

    /// The TokenRequest body (authentication.k8s.io/v1).
    var body: JSONValue {
        .object([
            "apiVersion": .string("authentication.k8s.io/v1"), "kind": .string("TokenRequest"),
            "spec": .object([
                "audiences": .array(audiences.map { .string($0) }),
                "expirationSeconds": .number(Double(expirationSeconds)),
                "boundObjectRef": .object(["apiVersion": .string("v1"), "kind": .string("Pod"), "name": .string(podName), "uid": .string(podUID)]),
            ]),
        ])
    }
}

/// A token the API server issued: the JWT, when it expires, and the lifetime it was issued for
/// (the answer's `spec.expirationSeconds`, which the server may have changed).
public struct ServiceAccountToken: Sendable, Hashable {
    public var token: String
    public var expirationTimestamp: Date
    public var expirationSeconds: Int64

    public init(token: String, expirationTimestamp: Date, expirationSeconds: Int64) {
        self.token = token
        self.expirationTimestamp = expirationTimestamp
        self.expirationSeconds = expirationSeconds
    }

    /// Reads a TokenRequest answer (`status.token`, `status.expirationTimestamp`, `spec.expirationSeconds`).
    static func decode(_ bytes: [UInt8], request: ServiceAccountTokenRequest) throws(KubeletError) -> ServiceAccountToken {
        let what = "token request for service account \(request.namespace)/\(request.serviceAccount) (pod \(request.podName))"
        guard let answer = try? JSONValue.parse(bytes), let token = answer["status"]?["token"]?.stringValue, !token.isEmpty,
              let stamp = answer["status"]?["expirationTimestamp"]?.stringValue, let expiry = ISO8601DateFormatter().date(from: stamp) else {
            throw KubeletError(.apiServer, "\(what): the answer has no status.token and status.expirationTimestamp")
        }
        var seconds = request.expirationSeconds
        if case .number(let n)? = answer["spec"]?["expirationSeconds"] { seconds = Int64(n) }
        return ServiceAccountToken(token: token, expirationTimestamp: expiry, expirationSeconds: seconds)
    }
}

/// Makes TokenRequests (POST `serviceaccounts/NAME/token`).
///
/// Contract: returns the issued token, or throws a KubeletError naming the account and pod.
/// Thread-safe.
public protocol ServiceAccountTokenRequester: Sendable {
    func requestToken(_ request: ServiceAccountTokenRequest) async throws(KubeletError) -> ServiceAccountToken
}

/// TokenRequests through the kubelet's API client; only an HTTP client (a real API server) can
/// make them.
public struct KubeClientTokenRequester: ServiceAccountTokenRequester {
    let client: any KubeAPIClient

    public init(client: any KubeAPIClient) { self.client = client }

    public func requestToken(_ request: ServiceAccountTokenRequest) async throws(KubeletError) -> ServiceAccountToken {
        let what = "request a token for service account \(request.namespace)/\(request.serviceAccount) (pod \(request.podName))"
        guard let http = client as? HTTPKubeClient else {
            throw KubeletError(.apiServer, "\(what): the kubelet's API client cannot make token requests")
        }
        // Namespace and account names are DNS labels and subdomains: nothing to escape.
        let path = "/api/v1/namespaces/\(request.namespace)/serviceaccounts/\(request.serviceAccount)/token"
        let answer: [UInt8]
        do { answer = try await http.postRaw(path, body: Array(try JSONEncoder().encode(request.body))) } catch {
            throw KubeletError(.apiServer, what, cause: error)
        }
        return try ServiceAccountToken.decode(answer, request: request)
    }
}

/// Upstream's kubelet token manager: the tokens of projected serviceAccountToken sources, cached
/// by request and fetched again when 80% of the token's lifetime has passed or it is older than
/// 24 hours (each less a jitter of up to 10 s, so a node's pods do not all refresh at once).
///
/// A failed refresh keeps handing out the cached token until it expires, then fails. Expired
/// tokens are dropped on every call; ``forget(podUID:)`` drops a removed pod's at once.
/// Concurrency: an actor; requests for different keys may run while one is in flight.
public actor ServiceAccountTokenManager {
    public static let maxTTL: TimeInterval = 24 * 3600
    public static let maxJitter: TimeInterval = 10

    let requester: any ServiceAccountTokenRequester
    let clock: any KubeletClock
    let jitter: @Sendable () -> TimeInterval
    let logger: Logger
    var cache: [String: (request: ServiceAccountTokenRequest, token: ServiceAccountToken)] = [:]

    /// `jitter` gives the seconds taken off each refresh deadline (upstream: random, whole
    /// seconds below 10); tests pass a constant.
    public init(requester: any ServiceAccountTokenRequester, clock: any KubeletClock = SystemClock(),
                jitter: @escaping @Sendable () -> TimeInterval = { Double(Int.random(in: 0..<Int(ServiceAccountTokenManager.maxJitter))) },
                logger: Logger = Logger(label: "nodekit.kubelet")) {
        self.requester = requester
        self.clock = clock
        self.jitter = jitter
        self.logger = logger
    }

    /// The token for `request`: the cached one while it needs no refresh, else a new one.
    public func token(for request: ServiceAccountTokenRequest) async throws(KubeletError) -> ServiceAccountToken {
        let now = clock.now()
        cache = cache.filter { $0.value.token.expirationTimestamp > now }
        let cached = cache[request.key]?.token
        if let cached, !Self.requiresRefresh(cached, now: now, jitter: jitter()) { return cached }
        do {
            let fresh = try await requester.requestToken(request)
            cache[request.key] = (request, fresh)
            return fresh
        } catch {
            guard let cached, clock.now() < cached.expirationTimestamp else {
                if cached != nil { throw KubeletError(.apiServer, "token \(request.key) expired and refresh failed: \(error.description)") }
                throw KubeletError(.apiServer, "failed to fetch token: \(error.description)")
            }
            logger.warning("couldn't update token; keeping the current one", metadata: ["cacheKey": "\(request.key)", "error": "\(error)"])
            return cached
        }
    }

    /// Upstream's requiresRefresh: issued = expiry − lifetime; refresh once `now` is past
    /// issued + 24 h − jitter, or past expiry − 20% of the lifetime − jitter.
    public static func requiresRefresh(_ token: ServiceAccountToken, now: Date, jitter: TimeInterval) -> Bool {
        let lifetime = TimeInterval(token.expirationSeconds)
        let issued = token.expirationTimestamp.addingTimeInterval(-lifetime)
        if now > issued.addingTimeInterval(maxTTL - jitter) { return true }
        return now > token.expirationTimestamp.addingTimeInterval(-TimeInterval(token.expirationSeconds * 20 / 100) - jitter)
    }

    /// Drops every cached token bound to pod `podUID`.
    public func forget(podUID: String) {
        cache = cache.filter { $0.value.request.podUID != podUID }
    }

    /// How many tokens are cached (for tests and metrics).
    public var cachedCount: Int { cache.count }

    /// The token requests of `pod`'s projected serviceAccountToken sources, by
    /// ``VolumeManager/tokenKey(volume:path:)``.
    public static func requests(for pod: Pod) -> [String: ServiceAccountTokenRequest] {
        var requests: [String: ServiceAccountTokenRequest] = [:]
        for volume in pod.spec.volumes ?? [] {
            for source in volume.projected?.sources ?? [] {
                guard let projection = source.serviceAccountToken else { continue }
                let audience = projection.audience ?? ""
                requests[VolumeManager.tokenKey(volume: volume.name, path: projection.path)] = ServiceAccountTokenRequest(
                    namespace: pod.metadata.namespace ?? "default",
                    serviceAccount: (pod.spec.serviceAccountName ?? "").isEmpty ? "default" : pod.spec.serviceAccountName ?? "default",
                    audiences: audience.isEmpty ? [] : [audience],
                    expirationSeconds: projection.expirationSeconds ?? 3600,
                    podName: pod.metadata.name ?? "", podUID: pod.metadata.uid ?? "")
            }
        }
        return requests
    }

    /// The tokens of every projected serviceAccountToken source of `pod`, through `reader`.
    static func tokens(for pod: Pod, from reader: any PodObjectReader) async throws(KubeletError) -> [String: String] {
        var tokens: [String: String] = [:]
        for (key, request) in requests(for: pod).sorted(by: { $0.key < $1.key }) {
            tokens[key] = try await reader.serviceAccountToken(request)
        }
        return tokens
    }
}

extension PodObjectReader {
    /// Without an API server there is nothing to ask for a token.
    public func serviceAccountToken(_ request: ServiceAccountTokenRequest) async throws(KubeletError) -> String {
        throw KubeletError(.apiServer, "cannot request a token for service account \(request.namespace)/\(request.serviceAccount) of pod \(request.podName): the kubelet runs without an API server")
    }

    /// Without an API server no Service is known: no service environment variables.
    public func services(namespace: String, serviceLinks: Bool) async throws(KubeletError) -> [Service]? { nil }

    public func podRemoved(uid: String) async {}
}

extension APIPodObjects {
    public func serviceAccountToken(_ request: ServiceAccountTokenRequest) async throws(KubeletError) -> String {
        try await tokens.token(for: request).token
    }

    /// The `kubernetes` Service of namespace default and, with `serviceLinks`, every Service of
    /// `namespace` (upstream lists them all from its informer and keeps these).
    public func services(namespace: String, serviceLinks: Bool) async throws(KubeletError) -> [Service]? {
        var found: [Service] = []
        do {
            if let master = try? await client.get(Service.self, namespace: "default", name: "kubernetes") { found.append(master) }
            if serviceLinks { found += try await client.list(Service.self, namespace: namespace).items }
        } catch {
            throw KubeletError(.apiServer, "failed to list services when setting up env vars in namespace \(namespace)", cause: error)
        }
        return found
    }

    public func podRemoved(uid: String) async { await tokens.forget(podUID: uid) }
}

extension PodWorker {
    /// Rewrites the projected volumes that hold service-account tokens when the token manager
    /// hands out a new token (a refresh), so a running pod always reads a valid token; the
    /// other files of those volumes are projected again with it. Failures are logged and retried
    /// on the next step (the cached token stays valid until it expires).
    func refreshServiceAccountTokens(sandboxIP: String) async {
        guard let objectReader, volumePaths != nil, !ServiceAccountTokenManager.requests(for: pod).isEmpty else { return }
        do {
            let tokens = try await ServiceAccountTokenManager.tokens(for: pod, from: objectReader)
            guard volumes.tokenFilesDiffer(pod: pod, tokens: tokens) else { return }
            var objects = try await podObjects()
            objects.serviceAccountTokens = tokens
            let result = volumes.refresh(pod: pod, runtime: ContainerConfigBuilder.Runtime(podIP: sandboxIP, podIPs: [sandboxIP]), objects: objects)
            if let failure = result.failures.first { throw KubeletError(.volume, failure) }
            logger.info("refreshed service account token volumes", metadata: ["pod": "\(pod.key)", "volumes": "\(result.rewritten.joined(separator: ","))"])
        } catch {
            logger.warning("refresh of service account token volumes failed", metadata: ["pod": "\(pod.key)", "error": "\(error)"])
        }
    }
}

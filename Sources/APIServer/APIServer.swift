import EtcdStore
import Foundation
import KubeAPI
import Logging
import NIOCore
import NIOSSL
import Store
import Synchronization

/// How to run the API server (`nodekit apiserver` flags).
public struct APIServerConfiguration: Sendable {
    /// Holds pki/ (CA, serving and admin certificates, token), kubeconfig and, by default, store/.
    public var dataDirectory: String
    public var bindAddress: String = "0.0.0.0"
    /// HTTPS port; 0 picks a free one (tests).
    public var securePort: Int = 6443
    /// Plain HTTP on 127.0.0.1, without authentication checks beyond loopback; nil: off.
    public var insecurePort: Int?
    /// The address other nodes reach this server at; also a SAN of the serving certificate.
    public var advertiseAddress: String?
    public var serviceClusterIPRange: String = "10.96.0.0/12"
    public var nodePortRange: ClosedRange<Int> = 30000...32767
    public var watch = WatchSettings()
    /// Larger request bodies get 413 RequestEntityTooLarge (upstream's limit is 3 MiB).
    public var maxBodyBytes: Int = 3 << 20
    /// How often ClusterIP and NodePort allocations are repaired after startup (upstream's
    /// IPRepairInterval, 3 minutes); a leaked key is freed on the third pass that finds it.
    public var allocationRepairInterval: Duration = .seconds(180)
    /// More DNS names and IPs for the serving certificate.
    public var extraSANs: [String] = []

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

    public var kubeconfigPath: String { dataDirectory + "/kubeconfig" }
    public var pkiDirectory: String { dataDirectory + "/pki" }
}

/// The ports a running server listens on.
public struct APIServerEndpoints: Sendable {
    public var securePort: Int
    public var insecurePort: Int?
}

/// The Kubernetes API server: HTTPS with client-certificate and token authentication, the
/// built-in resources over a ``Store``, discovery, OpenAPI, tables, watch and subresources.
///
/// Lifecycle: `init` loads or creates the PKI; ``bootstrap()`` creates the default namespaces and
/// the `kubernetes` service and repairs service allocations; ``run(onListening:)`` serves until
/// the calling task is cancelled and writes DIR/kubeconfig (mode 0600) once the port is bound.
public final class APIServer: Sendable {
    public let configuration: APIServerConfiguration
    public let store: any Store
    public let pki: ClusterPKI
    let handler: APIHandler
    let allocator: ServiceAllocator
    let logger: Logger
    private let readiness = ReadyFlag()

    public init(store: any Store, configuration: APIServerConfiguration, logger: Logger = Logger(label: "nodekit.apiserver")) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        var dnsNames = [ProcessInfo.processInfo.hostName]
        var ips = Self.hostAddresses()
        if let advertise = configuration.advertiseAddress { ips.append(advertise) }
        for san in configuration.extraSANs {
            if ClusterPKI.ipBytes(san) != nil { ips.append(san) } else { dnsNames.append(san) }
        }
        if configuration.bindAddress != "0.0.0.0" && configuration.bindAddress != "::" { ips.append(configuration.bindAddress) }
        pki = try ClusterPKI.loadOrCreate(directory: configuration.pkiDirectory, dnsNames: dnsNames, ipAddresses: ips)
        allocator = try ServiceAllocator(store: store, serviceCIDR: configuration.serviceClusterIPRange, nodePorts: configuration.nodePortRange)
        let storage = RESTStorage(store: store, registry: .builtIn, allocator: allocator, now: { Date() })
        let readiness = self.readiness
        handler = APIHandler(storage: storage, registry: .builtIn, tokens: [pki.token], watchSettings: configuration.watch,
                             kubelet: KubeletConnector(), ready: { readiness.value.load(ordering: .relaxed) },
                             serviceAccountTokens: try ServiceAccountTokens.loadOrCreate(directory: configuration.pkiDirectory))
    }

    /// The host's IPv4 and IPv6 addresses (for the serving certificate's SANs).
    static func hostAddresses() -> [String] {
        Foundation.Host.current().addresses.filter { ClusterPKI.ipBytes($0) != nil && !$0.hasPrefix("fe80") }
    }

    /// Creates what a cluster expects to exist: namespaces default, kube-system, kube-public and
    /// kube-node-lease, and the `kubernetes` service on the range's first address. Frees service
    /// allocations no service holds. Idempotent; call before serving.
    public func bootstrap() async throws {
        let storage = handler.storage
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let body: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("Namespace"), "metadata": .object(["name": .string(name)])])
            try await Self.createIfMissing(storage, Namespaces.definition, namespace: nil, body: body)
        }
        let service: JSONValue = .object([
            "apiVersion": .string("v1"), "kind": .string("Service"),
            "metadata": .object(["name": .string("kubernetes"), "namespace": .string("default"),
                                 "labels": .object(["component": .string("apiserver"), "provider": .string("kubernetes")])]),
            "spec": .object(["clusterIP": .string(allocator.firstAddress),
                             "ports": .array([.object(["name": .string("https"), "port": .int(443), "protocol": .string("TCP"), "targetPort": .int(configuration.securePort)])])]),
        ])
        try await Self.createIfMissing(storage, Services.definition, namespace: "default", body: service)
        try await ServiceAccountAdmission.bootstrapDefaultAccounts(namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"], storage: storage)
        try await repairAllocations()
        readiness.value.store(true, ordering: .relaxed)
    }

    /// One pass of the ClusterIP and NodePort repair (``ServiceAllocator/repair()``), logged as
    /// upstream's repair controller logs it.
    func repairAllocations() async throws {
        let result = try await allocator.repair()
        for key in result.flagged { logger.info("service allocation may have leaked: flagging for later clean up", metadata: ["key": "\(key)"]) }
        for key in result.freed { logger.warning("service allocation appears to have leaked: cleaning up", metadata: ["key": "\(key)"]) }
        for (key, service) in result.retaken.sorted(by: { $0.key < $1.key }) {
            logger.warning("service allocation for service \(service) is not allocated; repairing", metadata: ["key": "\(key)"])
        }
        for (key, service) in result.reassigned.sorted(by: { $0.key < $1.key }) {
            logger.warning("service allocation is held by service \(service), not the recorded owner; repairing", metadata: ["key": "\(key)"])
        }
        for (key, services) in result.duplicates.sorted(by: { $0.key < $1.key }) {
            logger.error("service allocation was assigned to multiple services; please recreate", metadata: ["key": "\(key)", "services": "\(services.joined(separator: ", "))"])
        }
        for (key, service) in result.outOfRange.sorted(by: { $0.key < $1.key }) {
            logger.error("service allocation for service \(service) is not within the configured range; please recreate", metadata: ["key": "\(key)"])
        }
    }

    private static func createIfMissing(_ storage: RESTStorage, _ resource: ResourceDefinition, namespace: String?, body: JSONValue) async throws(APIError) {
        do {
            _ = try await storage.create(resource, namespace: namespace, body: body, options: WriteOptions())
        } catch {
            if error.reason != "AlreadyExists" { throw error }
        }
    }

    /// The TLS context: the serving certificate, client certificates verified against the
    /// cluster CA when presented (a request without one may still carry a token), ALPN http/1.1.
    func tlsContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(pki.servingCertificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(pki.servingKeyPEM.utf8), format: .pem)))
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(pki.caCertificatePEM.utf8), format: .pem)])
        tls.certificateVerification = .optionalVerification
        tls.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: tls)
    }

    /// Serves HTTPS (and the loopback HTTP port when configured) until the task is cancelled.
    /// `onListening` gets the bound ports after DIR/kubeconfig is written.
    public func run(onListening: @escaping @Sendable (APIServerEndpoints) -> Void = { _ in }) async throws {
        let secure = HTTPServer(handler: handler, tls: try tlsContext(), maxBodyBytes: configuration.maxBodyBytes, logger: logger)
        let ports = BoundPorts()
        let wantsInsecure = configuration.insecurePort != nil
        let configuration = self.configuration
        let pki = self.pki
        let logger = self.logger
        let reportIfComplete: @Sendable () -> Void = {
            let snapshot = ports.state.withLock { $0 }
            guard let securePort = snapshot.secure, !wantsInsecure || snapshot.insecure != nil else { return }
            let host = ["0.0.0.0", "::", ""].contains(configuration.bindAddress) ? "127.0.0.1" : configuration.bindAddress
            let server = host.contains(":") ? "https://[\(host)]:\(securePort)" : "https://\(host):\(securePort)"
            do {
                try Self.writePrivateFile(configuration.kubeconfigPath, pki.kubeconfig(server: server))
            } catch {
                logger.error("cannot write kubeconfig", metadata: ["path": "\(configuration.kubeconfigPath)", "error": "\(error)"])
            }
            logger.info("serving", metadata: ["secure": "\(server)", "kubeconfig": "\(configuration.kubeconfigPath)"])
            onListening(APIServerEndpoints(securePort: securePort, insecurePort: snapshot.insecure))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await secure.run(host: configuration.bindAddress, port: configuration.securePort) { port in
                    ports.state.withLock { $0.secure = port }
                    reportIfComplete()
                }
            }
            if let insecurePort = configuration.insecurePort {
                // Plain HTTP is served on loopback only and treated as the admin (as upstream's
                // old insecure port was): whoever can reach loopback is on this machine.
                let plain = HTTPServer(handler: handler.trustingEveryone(), tls: nil, maxBodyBytes: configuration.maxBodyBytes, logger: logger)
                group.addTask {
                    try await plain.run(host: "127.0.0.1", port: insecurePort) { port in
                        ports.state.withLock { $0.insecure = port }
                        reportIfComplete()
                    }
                }
            }
            let repairInterval = configuration.allocationRepairInterval
            group.addTask { [self] in
                // Repair passes after bootstrap's first; each lets a leaked key age one pass.
                while true {
                    try await Task.sleep(for: repairInterval)
                    do { try await repairAllocations() } catch { logger.warning("service allocation repair failed", metadata: ["error": "\(error)"]) }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    static func writePrivateFile(_ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Opens the store a `--store` URL names, defaulting to the embedded store in DIR/store.
    public static func openConfiguredStore(url: String?, dataDirectory: String) throws -> any Store {
        let location = url ?? (dataDirectory + "/store")
        if !location.contains("://") {
            try FileManager.default.createDirectory(atPath: location, withIntermediateDirectories: true)
        }
        return try openStore(location)
    }
}

/// Whether bootstrap finished (what /readyz reports).
private final class ReadyFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The ports bound so far, shared by the listeners' start-up callbacks.
private final class BoundPorts: Sendable {
    let state = Mutex<(secure: Int?, insecure: Int?)>((nil, nil))
}

extension APIHandler {
    /// The handler for the loopback plain-HTTP port: every request runs as the admin.
    func trustingEveryone() -> APIHandler {
        APIHandler(storage: storage, registry: registry, tokens: tokens, watchSettings: watchSettings, kubelet: kubelet, ready: ready,
                   anonymousUser: UserInfo(name: ClusterPKI.adminUser, groups: [ClusterPKI.adminGroup, "system:authenticated"]),
                   serviceAccountTokens: serviceAccountTokens)
    }
}

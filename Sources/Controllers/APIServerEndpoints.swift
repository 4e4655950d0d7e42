import Foundation
import KubeAPI
import KubeClient
import Logging

/// Keeps the `default/kubernetes` Service's Endpoints and EndpointSlice naming every live API
/// server, as upstream's lease endpoint reconciler (`--endpoint-reconciler-type=lease`, the
/// default): each server renews a record of its address every 10 s with a 15 s lifetime, and
/// writes the endpoints from the records still alive. Pods reach the API through the Service's
/// ClusterIP (`KUBERNETES_SERVICE_HOST`) only through these endpoints, since the Service has no
/// selector.
///
/// The records are Leases `kube-system/nodekit-apiserver-<address>` labelled
/// ``recordLabel``, the address as holderIdentity (upstream keeps them as etcd keys with a TTL,
/// outside the API). A record is alive while its renewTime plus leaseDurationSeconds is ahead of
/// the local clock, so servers' clocks are assumed close.
///
/// All servers share one port in the endpoints (upstream requires the same secure port on every
/// server); each writes its own.
public struct APIServerEndpointReconciler: Sendable {
    public static let recordLabel = "nodekit.io/apiserver-endpoint"
    public static let serviceName = "kubernetes"
    public var interval: Duration = .seconds(10)
    public var recordLifetime: TimeInterval = 15
    /// This server's address as pods reach it (the advertise address).
    public let address: String
    /// This server's secure port.
    public let port: Int32
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger

    public init(client: any KubeAPIClient, address: String, port: Int32, clock: any ControllerClock = WallClock(),
                logger: Logger = Logger(label: "nodekit.apiserver-endpoints")) {
        self.client = client
        self.address = address
        self.port = port
        self.clock = clock
        self.logger = logger
    }

    var recordName: String {
        "nodekit-apiserver-" + address.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
    }

    /// One pass: renews this server's record, then writes the endpoints if they differ from the
    /// live records' addresses. Idempotent.
    public func reconcile() async throws(ControllerError) {
        try await renewRecord()
        try await writeEndpoints(addresses: try await liveAddresses(including: address))
    }

    /// Deletes this server's record and writes the endpoints without it (a server that stops).
    public func remove() async throws(ControllerError) {
        do { try await client.delete(Lease.self, namespace: "kube-system", name: recordName, options: DeleteOptions()) } catch {
            if !error.isNotFound { throw ControllerError("delete Lease kube-system/\(recordName)", "delete failed", cause: error) }
        }
        try await writeEndpoints(addresses: try await liveAddresses(including: nil).filter { $0 != address })
    }

    /// Reconciles every `interval` until cancelled (failures are logged and retried at the next
    /// pass); then removes this server from the endpoints.
    public func run() async {
        while !Task.isCancelled {
            do { try await reconcile() } catch {
                logger.warning("kubernetes Service endpoints: pass failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
        // The cancelled task's requests would not be sent: remove from a task of its own.
        let reconciler = self
        await Task {
            do { try await reconciler.remove() } catch {
                reconciler.logger.warning("kubernetes Service endpoints: cannot remove this server; its record expires", metadata: ["error": "\(error)"])
            }
        }.value
    }

    private func renewRecord() async throws(ControllerError) {
        let now = LeaderElector.microTime(clock.now())
        let spec = LeaseSpec(holderIdentity: address, leaseDurationSeconds: Int32(recordLifetime), renewTime: now)
        do {
            var lease = try await client.get(Lease.self, namespace: "kube-system", name: recordName)
            lease.spec = spec
            lease.metadata.labels = (lease.metadata.labels ?? [:]).merging([Self.recordLabel: "true"]) { _, new in new }
            _ = try await client.update(lease)
        } catch where error.isNotFound {
            do {
                _ = try await client.create(Lease(metadata: ObjectMeta(name: recordName, namespace: "kube-system", labels: [Self.recordLabel: "true"]), spec: spec))
            } catch {
                throw ControllerError("create Lease kube-system/\(recordName)", "create failed", cause: error)
            }
        } catch {
            throw ControllerError("renew Lease kube-system/\(recordName)", "update failed", cause: error)
        }
    }

    /// The addresses of live records, sorted, with `extra` added.
    private func liveAddresses(including extra: String?) async throws(ControllerError) -> [String] {
        let leases: [Lease]
        do { leases = try await client.list(Lease.self, namespace: "kube-system", options: ListOptions(labelSelector: Self.recordLabel)).items } catch {
            throw ControllerError("list Leases kube-system -l \(Self.recordLabel)", "list failed", cause: error)
        }
        let now = clock.now()
        var addresses = Set(leases.compactMap { lease -> String? in
            guard let spec = lease.spec, let holder = spec.holderIdentity, !holder.isEmpty,
                  let renewed = spec.renewTime.flatMap(Date.init(kubeTimestamp:)) else { return nil }
            return renewed.addingTimeInterval(TimeInterval(spec.leaseDurationSeconds ?? Int32(recordLifetime))) > now ? holder : nil
        })
        if let extra { addresses.insert(extra) }
        return addresses.sorted()
    }

    private func writeEndpoints(addresses: [String]) async throws(ControllerError) {
        let ports = [EndpointPort(name: "https", protocol: "TCP", port: port)]
        let subsets = addresses.isEmpty ? nil : [EndpointSubset(addresses: addresses.map { EndpointAddress(ip: $0) }, ports: ports)]
        do {
            var endpoints = try await client.get(Endpoints.self, namespace: "default", name: Self.serviceName)
            if endpoints.subsets != subsets {
                endpoints.subsets = subsets
                _ = try await client.update(endpoints)
                logger.info("kubernetes Service endpoints", metadata: ["addresses": "\(addresses)", "port": "\(port)"])
            }
        } catch where error.isNotFound {
            // Upstream marks them so that the EndpointSlice mirroring controller leaves them alone.
            let meta = ObjectMeta(name: Self.serviceName, namespace: "default", labels: ["endpointslice.kubernetes.io/skip-mirror": "true"])
            do { _ = try await client.create(Endpoints(metadata: meta, subsets: subsets)) } catch {
                throw ControllerError("create Endpoints default/\(Self.serviceName)", "create failed", cause: error)
            }
        } catch {
            throw ControllerError("write Endpoints default/\(Self.serviceName)", "update failed", cause: error)
        }
        let family = address.contains(":") ? "IPv6" : "IPv4"
        let endpoints = addresses.map { Endpoint(addresses: [$0], conditions: EndpointConditions(ready: true)) }
        do {
            var slice = try await client.get(EndpointSlice.self, namespace: "default", name: Self.serviceName)
            if slice.endpoints != endpoints || slice.ports != ports || slice.addressType != family {
                slice.endpoints = endpoints
                slice.ports = ports
                slice.addressType = family
                _ = try await client.update(slice)
            }
        } catch where error.isNotFound {
            let meta = ObjectMeta(name: Self.serviceName, namespace: "default", labels: [EndpointSlice.serviceNameLabel: Self.serviceName])
            do { _ = try await client.create(EndpointSlice(metadata: meta, addressType: family, endpoints: endpoints, ports: ports)) } catch {
                throw ControllerError("create EndpointSlice default/\(Self.serviceName)", "create failed", cause: error)
            }
        } catch {
            throw ControllerError("write EndpointSlice default/\(Self.serviceName)", "update failed", cause: error)
        }
    }
}

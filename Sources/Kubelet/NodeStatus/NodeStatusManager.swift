import CRI
import Foundation
import KubeAPI
import KubeClient
import LinuxSystem
import Logging

/// Keeps the Node object and its Lease current, as upstream's kubelet does: the status every
/// `syncNodeStatus()` (upstream: 10 s, and at least every 5 min), the Lease in
/// `kube-node-lease` every `renewLease()` (10 s, `leaseDurationSeconds` 40).
///
/// Single steps with an injected clock; `nodekit agent` runs them on timers. An actor: steps
/// never overlap. Errors are thrown to the caller, who logs them and retries on the next tick.
public actor NodeStatusManager {
    public static let leaseNamespace = "kube-node-lease"
    public static let leaseDurationSeconds: Int32 = 40

    public nonisolated let nodeName: String
    let client: any KubeAPIClient
    let runtime: any ContainerRuntime
    let config: NodeStatusConfig
    let facts: NodeSystemFacts
    let measure: @Sendable () throws(KubeletError) -> NodeCapacity
    let pressure: @Sendable () async -> Set<NodePressureCondition>
    let clock: any KubeletClock
    let logger: Logger

    /// `measure` reads the node's capacity (``NodeStatusManager/hostCapacity(rootDirectory:maxPods:)``
    /// on a real node); `pressure` is the eviction manager's `pressureConditions`.
    public init(nodeName: String, client: any KubeAPIClient, runtime: any ContainerRuntime, config: NodeStatusConfig,
                facts: NodeSystemFacts, measure: @escaping @Sendable () throws(KubeletError) -> NodeCapacity,
                pressure: @escaping @Sendable () async -> Set<NodePressureCondition>, clock: any KubeletClock = SystemClock(),
                logger: Logger = Logger(label: "nodekit.nodestatus")) {
        self.nodeName = nodeName
        self.client = client
        self.runtime = runtime
        self.config = config
        self.facts = facts
        self.measure = measure
        self.pressure = pressure
        self.clock = clock
        self.logger = logger
    }

    /// This host's capacity: online CPUs, MemTotal, the size of the filesystem under
    /// `rootDirectory`, and `maxPods`.
    public static func hostCapacity(rootDirectory: String, maxPods: Int64 = 110) throws(KubeletError) -> NodeCapacity {
        do {
            let meminfo = Cgroups.parseMeminfo(String(decoding: try FileOps.read("/proc/meminfo"), as: UTF8.self))
            let fs = try FilesystemStats.of(HostStatsProvider.existingAncestor(rootDirectory))
            return NodeCapacity(cpuMilli: Int64(ProcessInfo.processInfo.activeProcessorCount) * 1000,
                                memoryBytes: meminfo["MemTotal"] ?? 0, ephemeralStorageBytes: fs.capacityBytes, pods: maxPods)
        } catch {
            throw KubeletError(.configuration, "measuring node capacity", cause: error)
        }
    }

    /// The runtime's version, readiness and images, as the status reports them.
    public func runtimeFacts() async -> RuntimeFacts {
        var version = "unknown://unknown"
        var reasons: [String] = []
        do {
            let v = try await runtime.version(Runtime_V1_VersionRequest(), timeout: .seconds(5))
            version = "\(v.runtimeName)://\(v.runtimeVersion)"
            let status = try await runtime.status(Runtime_V1_StatusRequest(), timeout: .seconds(5))
            for condition in status.status.conditions where !condition.status {
                reasons.append("container runtime \(condition.type == "NetworkReady" ? "network " : "")not ready: \(condition.type)=false reason:\(condition.reason) message:\(condition.message)")
            }
        } catch {
            reasons.append("container runtime is down: \(error)")
        }
        let images = (try? await runtime.listImages(Runtime_V1_ListImagesRequest(), timeout: .seconds(10)).images) ?? []
        return RuntimeFacts(runtimeVersion: version, notReadyReasons: reasons, images: images.map {
            ContainerImage(names: $0.repoDigests + $0.repoTags, sizeBytes: Int64(clamping: $0.size))
        })
    }

    /// Creates the Node when it does not exist (labels kubernetes.io/hostname, os and arch) and
    /// returns it.
    @discardableResult
    public func registerNode() async throws(KubeClientError) -> Node {
        do { return try await client.get(Node.self, namespace: nil, name: nodeName) } catch where error.isNotFound {}
        let node = Node(metadata: ObjectMeta(name: nodeName, labels: [
            "kubernetes.io/hostname": facts.hostname.isEmpty ? nodeName : facts.hostname,
            "kubernetes.io/os": "linux", "kubernetes.io/arch": facts.architecture,
        ]))
        do { return try await client.create(node) } catch where error.isAlreadyExists {
            return try await client.get(Node.self, namespace: nil, name: nodeName)
        }
    }

    /// One status sync: reads the Node, builds its status and writes the `status` subresource,
    /// retrying a conflict up to 5 times (upstream's nodeStatusUpdateRetry). Returns the status written.
    @discardableResult
    public func syncNodeStatus() async throws(KubeletError) -> NodeStatus {
        let capacity = try measure()
        let runtimeFacts = await runtimeFacts()
        let pressure = await pressure()
        var lastError: KubeClientError?
        for _ in 0..<5 {
            do {
                var node = try await client.get(Node.self, namespace: nil, name: nodeName)
                let status = NodeStatusBuilder.build(capacity: capacity, config: config, facts: facts, runtime: runtimeFacts,
                                                     pressure: pressure, now: clock.now(), previous: node.status)
                node.status = status
                _ = try await client.update(node, subresource: "status", options: WriteOptions())
                return status
            } catch where error.isConflict {
                lastError = error
            } catch {
                throw KubeletError(.runtime, "updating status of node \(nodeName)", cause: error)
            }
        }
        throw KubeletError(.runtime, "updating status of node \(nodeName): gave up after 5 conflicts", cause: lastError)
    }

    /// One heartbeat: creates the Lease `kube-node-lease/<node>` (holder the node, 40 s, owned
    /// by the Node) or moves its renewTime to now.
    @discardableResult
    public func renewLease() async throws(KubeletError) -> Lease {
        let now = Self.microTime(clock.now())
        do {
            var lease = try await client.get(Lease.self, namespace: Self.leaseNamespace, name: nodeName)
            var spec = lease.spec ?? LeaseSpec()
            spec.holderIdentity = nodeName
            spec.leaseDurationSeconds = Self.leaseDurationSeconds
            spec.renewTime = now
            lease.spec = spec
            return try await client.update(lease)
        } catch where error.isNotFound {
            var meta = ObjectMeta(name: nodeName, namespace: Self.leaseNamespace)
            if let node = try? await client.get(Node.self, namespace: nil, name: nodeName), let uid = node.metadata.uid {
                meta.ownerReferences = [OwnerReference(apiVersion: "v1", kind: "Node", name: nodeName, uid: uid)]
            }
            let lease = Lease(metadata: meta, spec: LeaseSpec(holderIdentity: nodeName, leaseDurationSeconds: Self.leaseDurationSeconds, renewTime: now))
            do { return try await client.create(lease) } catch {
                throw KubeletError(.runtime, "creating lease \(Self.leaseNamespace)/\(nodeName)", cause: error)
            }
        } catch {
            throw KubeletError(.runtime, "renewing lease \(Self.leaseNamespace)/\(nodeName)", cause: error)
        }
    }

    /// metav1.MicroTime: RFC 3339 in UTC with microseconds.
    public static func microTime(_ date: Date) -> String { KubeTime.microTime(date) }
}

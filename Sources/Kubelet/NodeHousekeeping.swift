import Foundation
import KubeAPI

/// The node-level loops the kubelet drives besides its pods: the eviction manager (every
/// 10 s), container GC (every minute) and image GC (every 5 minutes), as upstream schedules
/// them. Built by the caller (the `nodekit kubelet` command) and handed to
/// ``Kubelet/attach(_:)``.
public struct NodeHousekeeping: Sendable {
    public var eviction: EvictionManager?
    public var containerGC: ContainerGC?
    public var imageGC: ImageGC?

    public init(eviction: EvictionManager? = nil, containerGC: ContainerGC? = nil, imageGC: ImageGC? = nil) {
        self.eviction = eviction
        self.containerGC = containerGC
        self.imageGC = imageGC
    }
}

/// The kubelet as the eviction manager's pod host: the pods it runs, and eviction as a
/// termination with the manager's grace period that leaves the pod Failed with the manager's
/// status (reason Evicted), which the status manager then writes.
extension Kubelet: EvictionPodHost {
    /// Pods that are running or about to (not Succeeded, Failed or being deleted).
    public func activePods() async -> [Pod] {
        var active: [Pod] = []
        for worker in workers.values where await !worker.terminating {
            let pod = await worker.podWithStatus
            if pod.status?.phase != "Succeeded" && pod.status?.phase != "Failed" { active.append(pod) }
        }
        return active.sorted { $0.key < $1.key }
    }

    public func evict(_ pod: Pod, gracePeriodSeconds: Int64, status: PodStatus) async throws(KubeletError) {
        guard let uid = pod.metadata.uid, let worker = workers[uid] else {
            throw KubeletError(.runtime, "evict pod \(pod.key): the kubelet does not run it")
        }
        await worker.markTerminating()
        try await worker.terminate(gracePeriod: max(0, gracePeriodSeconds), remove: false)
        await worker.setFinalStatus(status)
    }

    /// Installs the node-level loops; ``run()`` steps them at upstream's periods.
    public func attach(_ housekeeping: NodeHousekeeping) {
        nodeHousekeeping = housekeeping
    }

    /// One eviction-manager step (no-op without one); returns what it decided.
    @discardableResult
    public func evictionStep() async -> [EvictionDecision] {
        guard let eviction = nodeHousekeeping.eviction else { return [] }
        return await eviction.synchronize(now: clock.now())
    }

    /// One container GC pass (no-op without a collector).
    public func containerGCStep() async {
        guard let gc = nodeHousekeeping.containerGC else { return }
        do { try await gc.garbageCollect(now: clock.now()) } catch {
            logger.warning("container garbage collection failed", metadata: ["error": "\(error)"])
        }
    }

    /// One image GC pass (no-op without a collector).
    public func imageGCStep() async {
        guard let gc = nodeHousekeeping.imageGC else { return }
        do { try await gc.garbageCollect(now: clock.now()) } catch {
            logger.warning("image garbage collection failed", metadata: ["error": "\(error)"])
        }
    }
}

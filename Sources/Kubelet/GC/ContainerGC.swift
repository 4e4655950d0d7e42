import CRI
import Foundation
import Logging

/// Node-level container garbage collection, as upstream's container GC: exited containers
/// beyond the newest `maxPerPodContainer` of each pod's container are removed once older than
/// `minimumAge`; every exited container of a pod the kubelet no longer runs is removed; and
/// sandboxes that are not ready and hold no containers are removed, except the newest one of a
/// pod the kubelet still runs (its IP and logs may be wanted).
///
/// Containers of a desired pod are otherwise the pod worker's business; this collector only
/// catches what workers leave (pods deleted while the kubelet was down, crash-loop leftovers).
/// Stateless and safe to call concurrently with pod workers: removing an already removed
/// container is a no-op in CRI.
public struct ContainerGC: Sendable {
    public struct Policy: Sendable, Hashable {
        public var minimumAge: Duration
        public var maxPerPodContainer: Int
        /// Upstream's defaults: no minimum age, one dead instance kept per container.
        public init(minimumAge: Duration = .zero, maxPerPodContainer: Int = 1) {
            self.minimumAge = minimumAge
            self.maxPerPodContainer = maxPerPodContainer
        }
    }

    /// What one collection removed.
    public struct Result: Sendable, Hashable {
        public var removedContainers: [String]
        public var removedSandboxes: [String]
    }

    public let policy: Policy
    let runtime: any ContainerRuntime
    /// The UIDs of pods the kubelet runs now.
    let activePodUIDs: @Sendable () async -> Set<String>
    let logger: Logger

    public init(policy: Policy = Policy(), runtime: any ContainerRuntime, activePodUIDs: @escaping @Sendable () async -> Set<String>,
                logger: Logger = Logger(label: "nodekit.containergc")) {
        self.policy = policy
        self.runtime = runtime
        self.activePodUIDs = activePodUIDs
        self.logger = logger
    }

    /// One collection at `now`. With `removeAllDead` (eviction's node-level reclaim) every
    /// exited container goes, whatever the per-container limit and age.
    @discardableResult
    public func garbageCollect(now: Date, removeAllDead: Bool = false) async throws(KubeletError) -> Result {
        let containers: [Runtime_V1_Container]
        let sandboxes: [Runtime_V1_PodSandbox]
        do {
            containers = try await runtime.listContainers(Runtime_V1_ListContainersRequest(), timeout: .seconds(30)).containers
            sandboxes = try await runtime.listPodSandbox(Runtime_V1_ListPodSandboxRequest(), timeout: .seconds(30)).items
        } catch {
            throw KubeletError(.runtime, "listing containers for container GC", cause: error)
        }
        let active = await activePodUIDs()
        var result = Result(removedContainers: [], removedSandboxes: [])

        let exited = containers.filter { $0.state == .containerExited }
        let groups = Dictionary(grouping: exited) { "\($0.labels[KubeletLabels.podUID] ?? "")/\($0.metadata.name)" }
        for (_, group) in groups {
            let newestFirst = group.sorted { $0.createdAt > $1.createdAt }
            let podUID = newestFirst.first?.labels[KubeletLabels.podUID] ?? ""
            let keep = removeAllDead || !active.contains(podUID) ? 0 : max(0, policy.maxPerPodContainer)
            for container in newestFirst.dropFirst(keep) {
                let age = now.timeIntervalSince(Date(nanoseconds: container.createdAt))
                guard removeAllDead || !active.contains(podUID) || age >= policy.minimumAge.seconds else { continue }
                var request = Runtime_V1_RemoveContainerRequest()
                request.containerID = container.id
                do { _ = try await runtime.removeContainer(request, timeout: .seconds(30)) } catch {
                    logger.warning("removing dead container failed", metadata: ["container": "\(container.id)", "error": "\(error)"])
                    continue
                }
                result.removedContainers.append(container.id)
            }
        }

        let removed = Set(result.removedContainers)
        let holding = Set(containers.filter { !removed.contains($0.id) }.map(\.podSandboxID))
        let byPod = Dictionary(grouping: sandboxes) { $0.labels[KubeletLabels.podUID] ?? $0.metadata.uid }
        for (podUID, podSandboxes) in byPod {
            let newestFirst = podSandboxes.sorted { $0.createdAt > $1.createdAt }
            for (index, sandbox) in newestFirst.enumerated() where sandbox.state == .sandboxNotready && !holding.contains(sandbox.id) {
                if index == 0 && active.contains(podUID) && !removeAllDead { continue }
                var request = Runtime_V1_RemovePodSandboxRequest()
                request.podSandboxID = sandbox.id
                do { _ = try await runtime.removePodSandbox(request, timeout: .seconds(30)) } catch {
                    logger.warning("removing dead sandbox failed", metadata: ["sandbox": "\(sandbox.id)", "error": "\(error)"])
                    continue
                }
                result.removedSandboxes.append(sandbox.id)
            }
        }
        return result
    }
}

/// The eviction manager's node-level reclaim over the two collectors: all dead containers,
/// then every unused image old enough.
public struct NodeReclaimer: NodeLevelReclaimer {
    public let containers: ContainerGC
    public let images: ImageGC
    let clock: any KubeletClock

    public init(containers: ContainerGC, images: ImageGC, clock: any KubeletClock = SystemClock()) {
        self.containers = containers
        self.images = images
        self.clock = clock
    }

    public func deleteAllUnusedContainers() async throws(KubeletError) {
        try await containers.garbageCollect(now: clock.now(), removeAllDead: true)
    }

    public func deleteAllUnusedImages() async throws(KubeletError) {
        try await images.deleteUnusedImages(now: clock.now())
    }
}

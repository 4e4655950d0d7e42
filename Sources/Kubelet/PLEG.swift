import CRI
import Foundation

/// A change the PLEG saw between two relists, for one pod.
public struct PodLifecycleEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case containerStarted = "ContainerStarted"
        case containerDied = "ContainerDied"
        case containerRemoved = "ContainerRemoved"
        case containerChanged = "ContainerChanged"
        case sandboxChanged = "SandboxChanged"
    }
    public var podUID: String
    public var kind: Kind
    /// The container or sandbox id.
    public var id: String
    public init(podUID: String, kind: Kind, id: String) {
        self.podUID = podUID
        self.kind = kind
        self.id = id
    }
}

/// The pod lifecycle event generator: relists the runtime and reports what changed since the
/// last relist, as upstream's generic PLEG. The kubelet wakes a pod's worker on its events.
///
/// `relist()` is the single step (the kubelet calls it every second); it is serialized by the
/// actor. The first relist reports every container it finds (as started or died), which is
/// how a restarted kubelet picks up what is already running.
public actor PLEG {
    let inspector: RuntimeInspector
    let clock: any KubeletClock
    public private(set) var pods: [String: RuntimePod] = [:]
    /// Wall time the last successful relist took and when it ended.
    public private(set) var lastRelistDuration: Duration?
    public private(set) var lastRelist: Date?

    public init(runtime: any ContainerRuntime, clock: any KubeletClock) {
        inspector = RuntimeInspector(runtime: runtime)
        self.clock = clock
    }

    /// Lists the runtime once and returns the events since the previous relist, sorted by pod.
    public func relist() async throws(KubeletError) -> [PodLifecycleEvent] {
        let started = ContinuousClock.now
        let current = try await inspector.allPods()
        let events = Self.diff(old: pods, new: current)
        pods = current
        lastRelistDuration = ContinuousClock.now - started
        lastRelist = clock.now()
        return events
    }

    /// The events that turn `old` into `new`.
    public static func diff(old: [String: RuntimePod], new: [String: RuntimePod]) -> [PodLifecycleEvent] {
        var events: [PodLifecycleEvent] = []
        for uid in Set(old.keys).union(new.keys).sorted() {
            let before = Dictionary((old[uid]?.containers ?? []).map { ($0.id, $0.state) }, uniquingKeysWith: { a, _ in a })
            let after = Dictionary((new[uid]?.containers ?? []).map { ($0.id, $0.state) }, uniquingKeysWith: { a, _ in a })
            for id in Set(before.keys).union(after.keys).sorted() {
                switch (before[id], after[id]) {
                case (let b, .running?) where b != .running:
                    events.append(PodLifecycleEvent(podUID: uid, kind: .containerStarted, id: id))
                case (let b, .exited?) where b != .exited:
                    events.append(PodLifecycleEvent(podUID: uid, kind: .containerDied, id: id))
                case (_?, nil):
                    events.append(PodLifecycleEvent(podUID: uid, kind: .containerRemoved, id: id))
                case (let b, let a?) where b != a:
                    events.append(PodLifecycleEvent(podUID: uid, kind: .containerChanged, id: id))
                default:
                    break
                }
            }
            let sandboxesBefore = Dictionary((old[uid]?.sandboxes ?? []).map { ($0.id, $0.ready) }, uniquingKeysWith: { a, _ in a })
            let sandboxesAfter = Dictionary((new[uid]?.sandboxes ?? []).map { ($0.id, $0.ready) }, uniquingKeysWith: { a, _ in a })
            for id in Set(sandboxesBefore.keys).union(sandboxesAfter.keys).sorted() where sandboxesBefore[id] != sandboxesAfter[id] {
                events.append(PodLifecycleEvent(podUID: uid, kind: .sandboxChanged, id: id))
            }
        }
        return events
    }
}

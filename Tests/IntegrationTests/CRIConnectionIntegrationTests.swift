import CRI
import Foundation
import Synchronization
import Testing
import TestSupport

/// The kubelet's one CRI client under load, against a real containerd: the connection drop seen
/// under pod churn (docs/kubelet.md) and the connection budget that prevents it.
@Suite(.serialized, .enabled(if: ContainerdFixture.skipReason == nil,
                             Comment(rawValue: ContainerdFixture.skipReason ?? "")))
struct CRIConnectionIntegrationTests {
    /// Collects a client's connection events.
    final class EventLog: Sendable {
        private let events = Mutex<[CRIConnectionEvent]>([])

        func record(_ event: CRIConnectionEvent) {
            events.withLock { $0.append(event) }
        }

        var all: [CRIConnectionEvent] { events.withLock { $0 } }

        var failures: [String] {
            all.compactMap { if case .failed(_, let error) = $0 { error } else { nil } }
        }

        var rotations: Int {
            all.count { if case .rotated = $0 { true } else { false } }
        }
    }

    final class Errors: Sendable {
        private let messages = Mutex<[String]>([])

        func add(_ message: String) {
            messages.withLock { $0.append(message) }
        }

        var all: [String] { messages.withLock { $0 } }
    }

    final class Flag: Sendable {
        private let value = Atomic(false)

        var isSet: Bool { value.load(ordering: .acquiring) }

        func set() {
            value.store(true, ordering: .releasing)
        }
    }

    /// Sequential Version calls; returns the failures, each with its index.
    private func callVersion(_ client: CRIClient, times: Int) async -> [String] {
        var failures: [String] = []
        for index in 0..<times {
            do {
                _ = try await client.version(Runtime_V1_VersionRequest())
            } catch {
                failures.append("call \(index): \(error)")
            }
        }
        return failures
    }

    /// The cause, shown: with no budget, one connection carrying quick calls is closed by the
    /// client's own HTTP/2 layer (NIOHTTP2Errors.ExcessiveControlFrames) once containerd's PINGs,
    /// about one per call, pass swift-nio-http2's 200 control frames per 30 s. Version is
    /// idempotent, so the call caught in the drop is sent again on a fresh connection.
    @Test func unbudgetedConnectionDropsOnControlFrameLimit() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let log = EventLog()
        let client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath),
                                   budget: CRIConnectionBudget(callsPerWindow: 100_000, window: .seconds(30)),
                                   events: log.record)
        let failures = await callVersion(client, times: 400)
        await client.close()
        #expect(log.failures.contains { $0.contains("ExcessiveControlFrames") }, "events: \(log.all)")
        // The frame that trips the limit is not passed on, so the observer counts up to 200.
        let closedAfter = log.all.compactMap { if case .closed(_, let frames) = $0 { frames } else { nil } }
        #expect(closedAfter.contains { $0 >= 190 }, "control frames per closed connection: \(closedAfter)")
        #expect(log.all.contains { if case .rotated(_, let reason) = $0 { reason.contains("Stream unexpectedly closed") } else { false } },
                "events: \(log.all)")
        #expect(failures.isEmpty)
    }

    /// The fix: with the default budget, the same load never trips the limit.
    @Test func budgetedClientKeepsEveryCall() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let log = EventLog()
        let client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath), events: log.record)
        let failures = await callVersion(client, times: 600)
        await client.close()
        #expect(failures.isEmpty)
        #expect(log.failures.isEmpty, "events: \(log.all)")
        #expect(log.rotations >= 600 / CRIConnectionBudget.containerd.callsPerWindow - 1)
        let frames = log.all.compactMap { if case .closed(_, let frames) = $0 { frames } else { nil } }
        #expect(frames.allSatisfy { $0 <= CRIConnectionBudget.containerd.callsPerWindow + 2 }, "control frames per connection: \(frames)")
    }

    /// Pod churn on one client: pods started, exec'd into, stopped with a grace period and
    /// removed, several at once, beside a relist loop. Every call succeeds and no connection
    /// fails.
    @Test func podChurnOnOneClient() async throws {
        let fixture = try ContainerdFixture.start()
        defer { try? fixture.shutdown() }
        let log = EventLog()
        let client = try CRIClient(endpoint: RuntimeEndpoint(parsing: fixture.socketPath), events: log.record)
        let errors = Errors()
        let churning = Flag()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // The PLEG's relist: lists and statuses, quickly and often.
                while !churning.isSet {
                    do {
                        let containers = try await client.listContainers(Runtime_V1_ListContainersRequest()).containers
                        _ = try await client.listPodSandbox(Runtime_V1_ListPodSandboxRequest())
                        for container in containers {
                            var status = Runtime_V1_ContainerStatusRequest()
                            status.containerID = container.id
                            _ = try? await client.containerStatus(status)
                        }
                    } catch {
                        errors.add("relist: \(error)")
                    }
                }
            }
            group.addTask {
                await withTaskGroup(of: Void.self) { pods in
                    for worker in 0..<4 {
                        pods.addTask {
                            for round in 0..<3 {
                                do {
                                    try await Self.churnPod(client, fixture, name: "churn-\(worker)-\(round)")
                                } catch {
                                    errors.add("pod \(worker)/\(round): \(error)")
                                }
                            }
                        }
                    }
                }
                churning.set()
            }
        }
        await client.close()
        let failed = errors.all
        #expect(failed.isEmpty)
        #expect(log.failures.isEmpty, "events: \(log.all)")
    }

    private static func churnPod(_ client: CRIClient, _ fixture: ContainerdFixture, name: String) async throws {
        let sandbox = fixture.sandboxConfig(name: name)
        var run = Runtime_V1_RunPodSandboxRequest()
        run.config = sandbox
        let sandboxID = try await client.runPodSandbox(run).podSandboxID
        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandboxID
        // Ignores SIGTERM, so StopContainer waits out its grace period on the connection.
        create.config = ContainerdFixture.busyboxContainer(name: "c", command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"])
        create.sandboxConfig = sandbox
        let containerID = try await client.createContainer(create).containerID
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = containerID
        _ = try await client.startContainer(start)
        for _ in 0..<3 {
            var exec = Runtime_V1_ExecSyncRequest()
            exec.containerID = containerID
            exec.cmd = ["sh", "-c", "echo ok"]
            exec.timeout = 10
            let result = try await client.execSync(exec)
            #expect(result.exitCode == 0 && String(decoding: result.stdout, as: UTF8.self) == "ok\n")
        }
        var stop = Runtime_V1_StopContainerRequest()
        stop.containerID = containerID
        stop.timeout = 2
        let stopStarted = ContinuousClock.now
        _ = try await client.stopContainer(stop)
        // A stop cut short by a dropped connection would return early.
        #expect(ContinuousClock.now - stopStarted >= .milliseconds(1900))
        var remove = Runtime_V1_RemoveContainerRequest()
        remove.containerID = containerID
        _ = try await client.removeContainer(remove)
        var stopPod = Runtime_V1_StopPodSandboxRequest()
        stopPod.podSandboxID = sandboxID
        _ = try await client.stopPodSandbox(stopPod)
        var removePod = Runtime_V1_RemovePodSandboxRequest()
        removePod.podSandboxID = sandboxID
        _ = try await client.removePodSandbox(removePod)
    }
}

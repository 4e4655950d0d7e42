import CRI
import Foundation
import KubeAPI
import NIOCore
import NIOHTTP1
import NIOPosix
import UpgradeProxy

/// The kubelet's HTTP endpoints (plain HTTP, as the read-only port): `/healthz`, `/pods`
/// (a PodList of the desired pods with their status), `/metrics` (Prometheus text) and
/// `/containerLogs/<namespace>/<pod>/<container>` (the messages of the container's CRI log,
/// `?previous=true` for the instance before the newest), `/probes/<namespace>/<pod>/<container>`
/// (the container's probe states and last runs, for `nodectl probe`) and `/stats/summary` (node
/// and pod resource usage in upstream's summary shape, when a stats provider is given).
/// `/containerLogs/...?follow=true` streams the log as it grows, until the container stops or the
/// client goes. `/exec`, `/attach` and `/portForward` (upgrade requests, see ``StreamRequest``)
/// are relayed to the runtime's stream server.
///
/// Each connection is served in its own task; requests on one connection are answered in order.
public struct KubeletServer: Sendable {
    public let kubelet: Kubelet
    public let host: String
    public let port: Int
    /// Serves `/stats/summary`; without it that path is 404.
    public let stats: (any StatsProvider)?

    public init(kubelet: Kubelet, host: String = "0.0.0.0", port: Int = 10250, stats: (any StatsProvider)? = nil) {
        self.kubelet = kubelet
        self.host = host
        self.port = port
        self.stats = stats
    }

    /// Binds, calls `onBound` with the bound port (useful with port 0), and serves until the
    /// task is cancelled.
    public func run(onBound: @Sendable (Int) -> Void = { _ in }) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(UpgradeInterceptor { head, _ in await streamDecision(head) })
                    return (channel, try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel))
                }
            }
        onBound(server.channel.localAddress?.port ?? port)
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await (channel, connection) in connections {
                        group.addTask { await serve(connection, channel: channel) }
                    }
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, channel: any Channel) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let h): head = h
                case .body: break
                case .end:
                    guard let request = head else { continue }
                    if let follow = LogFollowRequest(method: request.method, uri: request.uri) {
                        // A followed log ends the connection: its length is not known up front.
                        try await followLogs(follow, version: request.version, outbound: outbound, channel: channel)
                        return
                    }
                    let (status, type, body) = await respond(method: request.method, uri: request.uri)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: type)
                    headers.add(name: "Content-Length", value: String(body.utf8.count))
                    try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                    try await outbound.write(.end(nil))
                    head = nil
                }
            }
        }
    }

    /// The response to one request: status, content type, body.
    public func respond(method: HTTPMethod, uri: String) async -> (HTTPResponseStatus, String, String) {
        guard method == .GET || method == .HEAD else { return (.methodNotAllowed, "text/plain", "method not allowed\n") }
        let components = URLComponents(string: uri)
        let path = components?.path ?? uri
        let query = Dictionary((components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
        switch path {
        case "/healthz":
            return (.ok, "text/plain", "ok")
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4", kubelet.metrics.render())
        case "/pods", "/pods/":
            let list = ObjectList(items: await kubelet.pods())
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            guard let data = try? encoder.encode(list) else { return (.internalServerError, "text/plain", "cannot encode pods\n") }
            return (.ok, "application/json", String(decoding: data, as: UTF8.self))
        case "/stats/summary", "/stats/summary/":
            guard let stats else { return (.notFound, "text/plain", "stats are not served by this kubelet\n") }
            do {
                return (.ok, "application/json", try Self.json(try await stats.summary()))
            } catch {
                return (.internalServerError, "text/plain", "reading stats: \(error)\n")
            }
        default:
            let parts = path.split(separator: "/").map(String.init)
            if parts.count == 4, parts[0] == "probes" {
                return await probes(namespace: parts[1], pod: parts[2], container: parts[3])
            }
            if parts.count == 4, parts[0] == "containerLogs" {
                return await containerLogs(namespace: parts[1], pod: parts[2], container: parts[3], previous: query["previous"] == "true")
            }
            return (.notFound, "text/plain", "404 page not found\n")
        }
    }

    func containerLogs(namespace: String, pod: String, container: String, previous: Bool) async -> (HTTPResponseStatus, String, String) {
        guard let worker = await kubelet.worker(namespace: namespace, name: pod) else {
            return (.notFound, "text/plain", "pod \(namespace)/\(pod) not found\n")
        }
        let runtimePod = await worker.runtimePod
        guard let instance = previous ? runtimePod.previous(container) : runtimePod.latest(container) else {
            return (.notFound, "text/plain", "container \(container) of pod \(namespace)/\(pod) has no \(previous ? "previous " : "")instance\n")
        }
        guard let data = FileManager.default.contents(atPath: instance.logPath) else {
            return (.notFound, "text/plain", "log \(instance.logPath) of container \(container) cannot be read\n")
        }
        var out = ""
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let entry = try? ContainerLogLine(parsing: line) else { continue }
            out += entry.message + (entry.partial ? "" : "\n")
        }
        return (.ok, "text/plain", out)
    }

    /// The probe view of one container, as `nodectl probe` reads it.
    public struct ProbeReport: Codable, Sendable, Hashable {
        public struct State: Codable, Sendable, Hashable {
            public var result: String
            public var runCount: Int
            public var periodSeconds: Double
            public var failureThreshold: Int
            public var successThreshold: Int
        }
        public var namespace: String
        public var pod: String
        public var container: String
        public var containerID: String
        public var started: Bool
        public var ready: Bool
        public var restartReason: String?
        public var states: [String: State]
        /// Oldest first, at most ``ContainerProbes/historyLimit``.
        public var history: [ProbeRecord]
    }

    func probes(namespace: String, pod: String, container: String) async -> (HTTPResponseStatus, String, String) {
        guard let worker = await kubelet.worker(namespace: namespace, name: pod) else {
            return (.notFound, "text/plain", "pod \(namespace)/\(pod) not found\n")
        }
        guard let probes = await worker.probes(of: container) else {
            return (.notFound, "text/plain", "container \(container) of pod \(namespace)/\(pod) has no running instance with probes\n")
        }
        var states: [String: ProbeReport.State] = [:]
        for (kind, state) in probes.states {
            states[kind.rawValue] = ProbeReport.State(result: state.result.rawValue, runCount: state.runCount, periodSeconds: state.timing.period.seconds,
                                                      failureThreshold: state.timing.failureThreshold, successThreshold: state.timing.successThreshold)
        }
        let report = ProbeReport(namespace: namespace, pod: pod, container: container, containerID: probes.containerID, started: probes.started,
                                 ready: probes.ready, restartReason: probes.restartReason, states: states, history: probes.history)
        do { return (.ok, "application/json", try Self.json(report)) } catch {
            return (.internalServerError, "text/plain", "cannot encode probes: \(error)\n")
        }
    }

    /// Sorted-key JSON with RFC 3339 dates.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

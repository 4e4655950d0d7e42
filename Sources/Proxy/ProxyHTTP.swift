import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server for the proxy's endpoints: every GET or HEAD is answered by
/// `respond(path)` with status, content type and body. ``bind(host:port:respond:)`` returns once
/// listening; ``close()`` stops it. Thread-safe.
public final class ProxyHTTPServer: Sendable {
    public typealias Responder = @Sendable (String) -> (HTTPResponseStatus, String, String)
    private let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    /// The bound port (useful with port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Binds `host:port` and serves until ``close()``. Throws when the address cannot be bound.
    public static func bind(host: String, port: Int, respond: @escaping Responder) throws -> ProxyHTTPServer {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(respond: respond))
                }
            }
            .bind(host: host, port: port).wait()
        return ProxyHTTPServer(channel: channel)
    }

    /// Stops listening (connections being served finish). Idempotent.
    public func close() { try? channel.close().wait() }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let respond: Responder
        var head: HTTPRequestHead?
        init(respond: @escaping Responder) { self.respond = respond }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h
            case .body: break
            case .end:
                guard let request = head else { return }
                head = nil
                let (status, type, body) = request.method == .GET || request.method == .HEAD
                    ? respond(URLComponents(string: request.uri)?.path ?? request.uri)
                    : (.methodNotAllowed, "text/plain", "method not allowed\n")
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: type)
                headers.add(name: "X-Content-Type-Options", value: "nosniff")
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
                if request.method != .HEAD {
                    context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
                }
                let keepAlive = request.isKeepAlive
                context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                    if !keepAlive { context.close(promise: nil) }
                }
            }
        }
    }
}

/// Upstream's proxy health (`/healthz`, `/livez` on the healthz port): healthy unless a sync
/// has been wanted for longer than `healthTimeout` without one succeeding (upstream uses twice
/// the sync period). Thread-safe; the wall clock is injected.
public final class ProxyHealth: Sendable {
    public let healthTimeout: Double
    private let wallClock: ProxyWallClock
    private struct State {
        var lastUpdated: Double?
        var oldestPendingQueued: Double?
    }
    private let state: Mutex<State>

    public init(healthTimeout: Double, wallClock: ProxyWallClock = .system) {
        self.healthTimeout = healthTimeout
        self.wallClock = wallClock
        // A sync is wanted from the start: a proxy that never syncs turns unhealthy.
        state = Mutex(State(oldestPendingQueued: wallClock.now()))
    }

    /// A change arrived that needs a sync.
    public func queued() {
        let now = wallClock.now()
        state.withLock { if $0.oldestPendingQueued == nil { $0.oldestPendingQueued = now } }
    }

    /// A sync succeeded: everything queued before it is programmed.
    public func updated() {
        let now = wallClock.now()
        state.withLock {
            $0.lastUpdated = now
            $0.oldestPendingQueued = nil
        }
    }

    /// Whether the proxy is healthy now.
    public var isHealthy: Bool {
        let now = wallClock.now()
        return state.withLock { s in s.oldestPendingQueued.map { now <= $0 + healthTimeout } ?? true }
    }

    /// Upstream's body: `{"lastUpdated": ..., "currentTime": ..., "nodeEligible": true}` (RFC 3339
    /// times; lastUpdated is the zero time before the first sync), 200 when healthy, 503 if not.
    public func response() -> (HTTPResponseStatus, String, String) {
        let now = wallClock.now()
        let last = state.withLock { $0.lastUpdated }
        let body = "{\"lastUpdated\": \"\(last.map(Self.rfc3339) ?? "0001-01-01T00:00:00Z")\",\"currentTime\": \"\(Self.rfc3339(now))\",\"nodeEligible\": true}"
        return (isHealthy ? .ok : .serviceUnavailable, "application/json", body)
    }

    static func rfc3339(_ seconds: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }
}

/// The healthCheckNodePort servers of Services with externalTrafficPolicy Local: one listener
/// per port answering upstream's JSON, `{"service":{"namespace":..,"name":..},"localEndpoints":N,
/// "serviceProxyHealthy":true}`, 200 when N > 0 and 503 otherwise, so load balancers send
/// traffic only to nodes with local endpoints.
///
/// ``sync(_:)`` (called after each proxy sync) opens and closes listeners to match the state.
/// Thread-safe.
public final class ServiceHealthServer: Sendable {
    public let bindAddress: String
    /// The Service and its local endpoint count behind each port.
    public struct Entry: Equatable, Sendable {
        public var namespace: String
        public var name: String
        public var localEndpoints: Int
    }
    private struct State {
        var entries: [UInt16: Entry] = [:]
        var listeners: [UInt16: ProxyHTTPServer] = [:]
    }
    private let state = Mutex(State())

    public init(bindAddress: String = "0.0.0.0") { self.bindAddress = bindAddress }

    /// What each health check port should answer for `state`.
    public static func entries(_ state: ProxyState) -> [UInt16: Entry] {
        var out: [UInt16: Entry] = [:]
        for (name, info) in state.services where info.externalPolicyLocal && info.healthCheckNodePort != 0 {
            let local = EndpointSelection(service: info, endpoints: state.endpoints[name] ?? []).local.count
            let previous = out[info.healthCheckNodePort]?.localEndpoints ?? 0
            out[info.healthCheckNodePort] = Entry(namespace: name.namespace, name: name.name, localEndpoints: max(previous, local))
        }
        return out
    }

    /// Matches the listeners to `state`. Returns one message per port that could not be bound
    /// (retried on the next call).
    @discardableResult
    public func sync(_ proxyState: ProxyState) -> [String] {
        let wanted = Self.entries(proxyState)
        let (stale, missing) = state.withLock { s -> ([ProxyHTTPServer], [UInt16]) in
            s.entries = wanted
            let stale = s.listeners.filter { wanted[$0.key] == nil }
            for port in stale.keys { s.listeners[port] = nil }
            return (Array(stale.values), wanted.keys.filter { s.listeners[$0] == nil }.sorted())
        }
        for l in stale { l.close() }
        var errors: [String] = []
        for port in missing {
            do {
                let server = try ProxyHTTPServer.bind(host: bindAddress, port: Int(port)) { [weak self] _ in
                    self?.response(port: port) ?? (.serviceUnavailable, "text/plain", "shutting down\n")
                }
                state.withLock { $0.listeners[port] = server }
            } catch {
                errors.append("health check node port \(bindAddress):\(port): \(error)")
            }
        }
        return errors
    }

    /// The answer on `port` now.
    public func response(port: UInt16) -> (HTTPResponseStatus, String, String) {
        guard let e = state.withLock({ $0.entries[port] }) else { return (.notFound, "text/plain", "404 page not found\n") }
        let body = "{\"service\":{\"namespace\":\(jsonString(e.namespace)),\"name\":\(jsonString(e.name))},\"localEndpoints\":\(e.localEndpoints),\"serviceProxyHealthy\":true}"
        return (e.localEndpoints > 0 ? .ok : .serviceUnavailable, "application/json", body)
    }

    /// Ports being listened on.
    public var ports: [UInt16] { state.withLock { $0.listeners.keys.sorted() } }

    /// Closes every listener.
    public func shutdown() {
        let all = state.withLock { s in
            defer { s.listeners = [:] }
            return Array(s.listeners.values)
        }
        for l in all { l.close() }
    }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One HTTP request as the transport sends it.
struct HTTPRequest: Sendable {
    var method: HTTPMethod
    /// Path and query, already escaped.
    var uri: String
    var headers: [(String, String)]
    var body: [UInt8]?
}

/// What the connection handler reports for the request in flight.
enum ResponseEvent: Sendable {
    case head(HTTPResponseHead)
    case body(ByteBuffer)
    case end
}

/// A request handed to the pipeline together with the stream its response goes to.
struct HTTPExchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var sink: AsyncThrowingStream<ResponseEvent, any Error>.Continuation
}

/// Carries one exchange at a time over an HTTP/1.1 connection: writes the request and routes
/// response parts to that exchange's sink. A closed or failed connection finishes the sink
/// with an error, so no caller waits on a dead connection.
final class HTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var sink: AsyncThrowingStream<ResponseEvent, any Error>.Continuation?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        sink = exchange.sink
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let body = exchange.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): sink?.yield(.head(h))
        case .body(let b): sink?.yield(.body(b))
        case .end:
            sink?.yield(.end)
            sink?.finish()
            sink = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink?.finish(throwing: KubeClientError.transport("connection closed before the response ended"))
        sink = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        sink?.finish(throwing: KubeClientError.transport("connection failed: \(error)"))
        sink = nil
        context.close(promise: nil)
    }
}

/// Keep-alive HTTP/1.1 (optionally TLS) connections to one server.
///
/// Requests take an idle connection or open a new one; a connection goes back to the idle set
/// only after a complete response that did not ask to close it. Watches take a connection of
/// their own and close it when they end. Thread-safe.
final class HTTPTransport: Sendable {
    let server: ServerAddress
    private let group: any EventLoopGroup
    private let sslContext: NIOSSLContext?
    private let serverName: String?
    private let pool = IdlePool()
    let requestTimeout: Duration

    init(server: ServerAddress, tls: TLSMaterial, requestTimeout: Duration, group: any EventLoopGroup) throws(KubeClientError) {
        self.server = server
        self.group = group
        self.requestTimeout = requestTimeout
        if server.tls {
            do {
                var config = TLSConfiguration.makeClientConfiguration()
                if tls.insecureSkipVerify {
                    config.certificateVerification = .none
                } else if let ca = tls.caPEM {
                    config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
                }
                if let cert = tls.clientCertificatePEM, let key = tls.clientKeyPEM {
                    config.certificateChain = try NIOSSLCertificate.fromPEMBytes(cert).map { .certificate($0) }
                    config.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
                }
                sslContext = try NIOSSLContext(configuration: config)
            } catch {
                throw KubeClientError(code: 0, reason: "BadRequest", message: "TLS configuration for \(server): \(error)")
            }
            // SNI carries names only; for an IP address NIOSSL checks the certificate against
            // the peer's address instead.
            let name = tls.serverName ?? server.host
            serverName = Self.isIPAddress(name) ? nil : name
        } else {
            sslContext = nil
            serverName = nil
        }
    }

    static func isIPAddress(_ s: String) -> Bool {
        (try? SocketAddress(ipAddress: s, port: 0)) != nil
    }

    /// Closes the idle connections. In-flight requests finish on their own connections.
    func shutdown() async {
        for channel in await pool.drain() { try? await channel.close() }
    }

    /// Sends `request` and returns the status, headers and whole body.
    func execute(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, ByteBuffer) {
        // A pooled connection may have been closed by the server since its last use; then the
        // request was not processed and is sent once more on a fresh connection.
        for attempt in 0..<2 {
            let (channel, reused) = try await acquire(fresh: attempt > 0)
            do {
                let (head, body) = try await exchange(request, on: channel)
                let keepAlive = head.isKeepAlive && channel.isActive
                if keepAlive { await pool.put(channel) } else { channel.close(promise: nil) }
                return (head, body)
            } catch let error as KubeClientError {
                channel.close(promise: nil)
                if reused && error.isTransport && error.message.hasPrefix(Self.staleMarker) { continue }
                throw error
            } catch {
                channel.close(promise: nil)
                throw KubeClientError.transport("\(request.method) \(request.uri): \(error)")
            }
        }
        throw KubeClientError.transport("\(request.method) \(request.uri): no usable connection")
    }

    private static let staleMarker = "stale connection"

    private func exchange(_ request: HTTPRequest, on channel: any Channel) async throws -> (HTTPResponseHead, ByteBuffer) {
        let (stream, continuation) = AsyncThrowingStream<ResponseEvent, any Error>.makeStream()
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(requestTimeout.components.seconds) * 1_000_000_000 + requestTimeout.components.attoseconds / 1_000_000_000)) {
            continuation.finish(throwing: KubeClientError.transport("\(request.method) \(request.uri): no complete response within \(self.requestTimeout)"))
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        try await channel.writeAndFlush(HTTPExchange(head: head(for: request), body: request.body.map { ByteBuffer(bytes: $0) }, sink: continuation))
        var head: HTTPResponseHead?
        var body = ByteBuffer()
        do {
            for try await event in stream {
                switch event {
                case .head(let h): head = h
                case .body(var b): body.writeBuffer(&b)
                case .end:
                    guard let head else { throw KubeClientError.transport("\(request.method) \(request.uri): response without a status line") }
                    return (head, body)
                }
            }
        } catch let error as KubeClientError where head == nil && error.message.hasPrefix("connection closed") {
            throw KubeClientError.transport("\(Self.staleMarker): \(request.method) \(request.uri): \(error.message)")
        }
        throw KubeClientError.transport("\(request.method) \(request.uri): response ended early")
    }

    /// Sends `request` on a connection of its own and streams the response. Returns once the
    /// status line is in; the body events follow in the returned stream. Terminating the
    /// stream's consumer closes the connection.
    func stream(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, AsyncThrowingStream<ResponseEvent, any Error>) {
        let (channel, _) = try await acquire(fresh: true)
        let (stream, continuation) = AsyncThrowingStream<ResponseEvent, any Error>.makeStream()
        continuation.onTermination = { _ in channel.close(promise: nil) }
        do {
            try await channel.writeAndFlush(HTTPExchange(head: head(for: request), body: request.body.map { ByteBuffer(bytes: $0) }, sink: continuation))
            var iterator = stream.makeAsyncIterator()
            guard case .head(let h)? = try await iterator.next() else {
                throw KubeClientError.transport("\(request.method) \(request.uri): connection closed before the status line")
            }
            let rest = AsyncThrowingStream<ResponseEvent, any Error> {
                try await iterator.next()
            }
            return (h, rest)
        } catch let error as KubeClientError {
            channel.close(promise: nil)
            throw error
        } catch {
            channel.close(promise: nil)
            throw KubeClientError.transport("\(request.method) \(request.uri): \(error)")
        }
    }

    private func head(for request: HTTPRequest) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: server.basePath + request.uri)
        head.headers.add(name: "Host", value: server.authority)
        for (name, value) in request.headers { head.headers.replaceOrAdd(name: name, value: value) }
        if let body = request.body { head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        return head
    }

    private func acquire(fresh: Bool) async throws(KubeClientError) -> (any Channel, Bool) {
        if !fresh, let idle = await pool.take() { return (idle, true) }
        do {
            let sslContext = self.sslContext
            let serverName = self.serverName
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(HTTPExchangeHandler())
                    }
                }
                .connect(host: server.host, port: server.port).get()
            return (channel, false)
        } catch {
            throw KubeClientError.transport("connect to \(server): \(error)")
        }
    }
}

/// The idle keep-alive connections, most recently used first.
private actor IdlePool {
    private var idle: [any Channel] = []
    private let limit = 16

    func take() -> (any Channel)? {
        while let c = idle.popLast() {
            if c.isActive { return c }
        }
        return nil
    }

    func put(_ channel: any Channel) {
        if idle.count < limit { idle.append(channel) } else { channel.close(promise: nil) }
    }

    func drain() -> [any Channel] {
        defer { idle = [] }
        return idle
    }
}

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIORecords
import NIOSSL
import Synchronization

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

/// A request handed to the pipeline together with where its response goes.
struct HTTPExchange: Sendable {
    enum Reply: Sendable {
        /// The status, headers and whole body, once the response ended.
        case whole(EventLoopPromise<(HTTPResponseHead, ByteBuffer)>)
        /// Each part as it arrives (watches).
        case parts(AsyncThrowingStream<ResponseEvent, any Error>.Continuation)
    }

    var head: HTTPRequestHead
    var body: ByteBuffer?
    var reply: Reply
}

/// Carries one exchange at a time over an HTTP/1.1 connection: writes the request and hands
/// the response to that exchange's reply. A closed or failed connection, a failed write or a
/// whole response not complete within `requestTimeout` fails the reply, so no caller waits on
/// a dead connection.
///
/// A whole response is gathered here and handed over once (no stream per request), and the
/// timeout is one repeating check per connection rather than a timer per request.
final class HTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPExchange
    typealias OutboundOut = HTTPClientRequestPart

    /// The message of a failure before any response byte arrived on a connection that was
    /// closed: on a reused keep-alive connection the request was not processed.
    static let staleMarker = "stale connection"

    private let requestTimeout: TimeAmount
    private var reply: HTTPExchange.Reply?
    private var method = HTTPMethod.GET
    private var uri = ""
    private var started = NIODeadline.uptimeNanoseconds(0)
    private var responseHead: HTTPResponseHead?
    private var body = ByteBuffer()
    private var timeoutCheck: Scheduled<Void>?

    init(requestTimeout: Duration) {
        let nanoseconds = Int64(requestTimeout.components.seconds) * 1_000_000_000 + requestTimeout.components.attoseconds / 1_000_000_000
        self.requestTimeout = .nanoseconds(max(nanoseconds, 1))
    }

    /// What the failure messages name: the request in flight.
    private var request: String { "\(method.rawValue) \(uri)" }

    func handlerAdded(context: ChannelHandlerContext) { scheduleTimeoutCheck(context) }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeoutCheck?.cancel()
        timeoutCheck = nil
    }

    /// Checks the exchange in flight often enough that a timeout fires at most a tenth late
    /// (and at most 1 s late), until the handler leaves the pipeline.
    private func scheduleTimeoutCheck(_ context: ChannelHandlerContext) {
        let period = TimeAmount.nanoseconds(min(requestTimeout.nanoseconds / 10, 1_000_000_000) + 1)
        timeoutCheck = context.eventLoop.assumeIsolated().scheduleTask(in: period) { [self] in
            guard timeoutCheck != nil else { return }
            if case .whole? = reply, NIODeadline.now() - started >= requestTimeout {
                fail(KubeClientError.transport("\(request): no complete response within \(Self.describe(requestTimeout))"))
                context.close(promise: nil)
            }
            scheduleTimeoutCheck(context)
        }
    }

    static func describe(_ t: TimeAmount) -> String {
        t.nanoseconds % 1_000_000_000 == 0 ? "\(t.nanoseconds / 1_000_000_000) seconds" : "\(Double(t.nanoseconds) / 1e9) seconds"
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        reply = exchange.reply
        method = exchange.head.method
        uri = exchange.head.uri
        started = .now()
        responseHead = nil
        body.clear()
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let body = exchange.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [self] error in
            fail(KubeClientError.transport("\(request): cannot send the request: \(error)"))
        }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(.end(nil)), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            responseHead = h
            if case .parts(let sink)? = reply { sink.yield(.head(h)) }
        case .body(var b):
            switch reply {
            case .whole?: body.writeBuffer(&b)
            case .parts(let sink)?: sink.yield(.body(b))
            case nil: break
            }
        case .end:
            let finished = reply
            reply = nil
            switch finished {
            case .whole(let promise)?:
                if let head = responseHead {
                    promise.succeed((head, body))
                    body = ByteBuffer()
                } else {
                    promise.fail(KubeClientError.transport("\(request): response without a status line"))
                }
            case .parts(let sink)?:
                sink.yield(.end)
                sink.finish()
            case nil: break
            }
        }
    }

    /// Fails the exchange in flight, if any.
    private func fail(_ error: KubeClientError) {
        let failed = reply
        reply = nil
        switch failed {
        case .whole(let promise)?: promise.fail(error)
        case .parts(let sink)?: sink.finish(throwing: error)
        case nil: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if responseHead == nil, case .whole? = reply {
            fail(KubeClientError.transport("\(Self.staleMarker): \(request): connection closed before the response ended"))
        } else {
            fail(KubeClientError.transport("connection closed before the response ended"))
        }
        timeoutCheck?.cancel()
        timeoutCheck = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(KubeClientError.transport("connection failed: \(error)"))
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
    /// `server.authority` (the Host header), computed once rather than per request.
    private let authority: String
    private let group: any EventLoopGroup
    private let sslContext: NIOSSLContext?
    private let serverName: String?
    private let pool = IdlePool()
    let requestTimeout: Duration

    init(server: ServerAddress, tls: TLSMaterial, requestTimeout: Duration, group: any EventLoopGroup) throws(KubeClientError) {
        self.server = server
        self.authority = server.authority
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
        for channel in pool.drain() { try? await channel.close() }
    }

    /// Sends `request` and returns the status, headers and whole body.
    func execute(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, ByteBuffer) {
        // A pooled connection may have been closed by the server since its last use; then the
        // request was not processed and is sent once more on a fresh connection.
        for attempt in 0..<2 {
            let (channel, reused) = try await acquire(fresh: attempt > 0)
            let promise = channel.eventLoop.makePromise(of: (HTTPResponseHead, ByteBuffer).self)
            // A write that fails (the pooled connection closed after `acquire` handed it out,
            // and its handlers are gone) fails the reply too; without this the reply would
            // never complete. Nothing was sent, so on a reused connection it counts as stale.
            let written = channel.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenFailure { error in
                promise.fail(KubeClientError.transport("\(HTTPExchangeHandler.staleMarker): \(request.method) \(request.uri): write failed: \(error)"))
            }
            channel.writeAndFlush(HTTPExchange(head: head(for: request), body: request.body.map { ByteBuffer(bytes: $0) }, reply: .whole(promise)), promise: written)
            do {
                let (head, body) = try await promise.futureResult.get()
                if head.isKeepAlive && channel.isActive { pool.put(channel) } else { channel.close(promise: nil) }
                return (head, body)
            } catch let error as KubeClientError {
                channel.close(promise: nil)
                if reused && error.isTransport && error.message.hasPrefix(HTTPExchangeHandler.staleMarker) { continue }
                throw error
            } catch {
                channel.close(promise: nil)
                throw KubeClientError.transport("\(request.method) \(request.uri): \(error)")
            }
        }
        throw KubeClientError.transport("\(request.method) \(request.uri): no usable connection")
    }

    /// Sends `request` on a connection of its own and streams the response. Returns once the
    /// status line is in; the body events follow in the returned stream. Terminating the
    /// stream's consumer closes the connection.
    func stream(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, AsyncThrowingStream<ResponseEvent, any Error>) {
        let (channel, _) = try await acquire(fresh: true)
        let (stream, continuation) = AsyncThrowingStream<ResponseEvent, any Error>.makeStream()
        continuation.onTermination = { _ in channel.close(promise: nil) }
        do {
            try await channel.writeAndFlush(HTTPExchange(head: head(for: request), body: request.body.map { ByteBuffer(bytes: $0) }, reply: .parts(continuation)))
            let iterator = PulledIterator(stream.makeAsyncIterator())
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
        head.headers.reserveCapacity(request.headers.count + 2)
        head.headers.add(name: "Host", value: authority)
        // The client's headers are distinct and never Host or Content-Length: added, not
        // searched for first.
        for (name, value) in request.headers { head.headers.add(name: name, value: value) }
        if let body = request.body { head.headers.add(name: "Content-Length", value: String(body.count)) }
        return head
    }

    /// The HTTP/1.1 handlers of a connection, above TLS if any: with TLS, a `RecordCoalescer`
    /// that joins a request's writes (NIO's encoder writes head, body and end separately) into
    /// one buffer, so a request is one TLS record and one SSL_write; NIO's request encoder; NIO's
    /// response decoder (which also sees each request head, to know a HEAD request's response
    /// has no body); and the exchange handler.
    ///
    /// There is no outbound header validator: header values come from the client's own
    /// constants and its configuration, which HTTPKubeClient checks once (at init).
    static func addHTTPHandlers(to pipeline: ChannelPipeline.SynchronousOperations, requestTimeout: Duration, coalescingRecords: Bool) throws {
        if coalescingRecords { try pipeline.addHandler(RecordCoalescer()) }
        try pipeline.addHandler(HTTPRequestEncoder())
        try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: .init())))
        try pipeline.addHandler(HTTPExchangeHandler(requestTimeout: requestTimeout))
    }

    private func acquire(fresh: Bool) async throws(KubeClientError) -> (any Channel, Bool) {
        if !fresh, let idle = pool.take() { return (idle, true) }
        do {
            let sslContext = self.sslContext
            let serverName = self.serverName
            let requestTimeout = self.requestTimeout
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                        }
                        try Self.addHTTPHandlers(to: channel.pipeline.syncOperations, requestTimeout: requestTimeout, coalescingRecords: sslContext != nil)
                    }
                }
                .connect(host: server.host, port: server.port).get()
            return (channel, false)
        } catch {
            throw KubeClientError.transport("connect to \(server): \(error)")
        }
    }
}

/// The idle keep-alive connections, most recently used first. A lock rather than an actor:
/// taking and returning a connection are two array operations, not worth two executor hops
/// per request.
private final class IdlePool: Sendable {
    private let idle = Mutex<[any Channel]>([])
    private let limit = 16

    func take() -> (any Channel)? {
        idle.withLock { idle in
            while let c = idle.popLast() {
                if c.isActive { return c }
            }
            return nil
        }
    }

    func put(_ channel: any Channel) {
        let kept = idle.withLock { idle in
            guard idle.count < limit else { return false }
            idle.append(channel)
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    func drain() -> [any Channel] {
        idle.withLock { idle in
            defer { idle = [] }
            return idle
        }
    }
}

/// An async iterator that a stream built by unfolding pulls from: the closure of
/// `AsyncThrowingStream(unfolding:)` is `@Sendable`, so it cannot mutate an iterator it
/// captures as a variable, and owns this box instead.
///
/// Not thread-safe: one consumer at a time, as such a stream calls its closure (the same rule
/// as `LineReader`).
final class PulledIterator<Base: AsyncIteratorProtocol>: @unchecked Sendable {
    private var base: Base

    init(_ base: Base) { self.base = base }

    func next() async throws -> Base.Element? { try await base.next() }
}

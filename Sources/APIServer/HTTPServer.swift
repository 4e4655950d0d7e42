import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIORecords
import NIOSSL
import Synchronization
import UpgradeProxy

/// The HTTP/1.1 layer: accepts connections (TLS or plain), reads requests with a body limit,
/// authenticates the TLS client certificate, hands each request to the ``APIHandler`` and writes
/// its response, streaming chunked bodies for watches and logs. Requests on one connection are
/// answered in order; connections are served concurrently.
struct HTTPServer: Sendable {
    let handler: APIHandler
    let tls: NIOSSLContext?
    let maxBodyBytes: Int
    let logger: Logger

    /// Binds `host:port`, reports the bound port and serves until the task is cancelled (or
    /// the listening socket closes). Cancelling closes every connection; `run` returns once
    /// they are closed.
    func run(host: String, port: Int, onBound: @Sendable (Int) -> Void) async throws {
        let server = self
        let connections = OpenConnections()
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard connections.insert(channel) else { throw ChannelError.ioOnClosedChannel }
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = server.tls {
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                        try pipeline.addHandler(RecordCoalescer())
                    }
                    // Outbound header validation checks every response's headers for CR/LF; the
                    // server writes only its own constants and Warning texts quoted as Go's
                    // strconv.Quote does (control characters escaped), so it is skipped.
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true, withOutboundHeaderValidation: false)
                    try pipeline.addHandler(UpgradeInterceptor { head, channel in await server.upgradeDecision(head, channel: channel) })
                    try pipeline.addHandler(APIConnectionHandler(server: server))
                }
            }
            .bind(host: host, port: port).get()
        onBound(listener.localAddress?.port ?? port)
        await withTaskCancellationHandler {
            try? await listener.closeFuture.get()
        } onCancel: {
            listener.close(promise: nil)
        }
        for channel in connections.closeAll() {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
    }

    /// The user named by a verified TLS client certificate, if one was presented.
    func certificateUser(_ channel: any Channel) async -> UserInfo? {
        guard let certificate = try? await channel.nioSSL_peerCertificate().get(),
              let der = try? certificate.toDERBytes(),
              let identity = ClusterPKI.identity(fromDER: der) else { return nil }
        return UserInfo(name: identity.user, groups: identity.groups + ["system:authenticated"])
    }

    /// A response's head: its content type, no caching, its own headers, and the framing
    /// (Content-Length for a whole body, chunked for a stream).
    static func head(of response: APIResponse, for request: HTTPRequestHead) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headers.count + 3)
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Cache-Control", value: "no-cache, private")
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        switch response.body {
        case .bytes(let bytes): headers.add(name: "Content-Length", value: String(bytes.count))
        case .stream: headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        return HTTPResponseHead(version: request.version, status: response.status, headers: headers)
    }
}

/// The connections a listener accepted and that are still open. After `closeAll` it accepts
/// no more. Thread-safe.
private final class OpenConnections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }
    private let state = Mutex(State())

    /// False once the listener is closing (the connection is then refused).
    func insert(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { state in
            guard !state.closing else { return false }
            state.open[id] = channel
            return true
        }
        if accepted { channel.closeFuture.whenComplete { [self] _ in _ = state.withLock { $0.open.removeValue(forKey: id) } } }
        return accepted
    }

    /// The open connections; no more are accepted.
    func closeAll() -> [any Channel] {
        state.withLock { state in
            state.closing = true
            return Array(state.open.values)
        }
    }
}

/// One connection's requests, the last handler of its pipeline: gathers each request (head,
/// body up to the limit, end) on the event loop, runs the ``APIHandler`` in a task, and writes
/// the response from the event loop when it is ready. `HTTPServerPipelineHandler` (below it)
/// holds the next request back until a response has ended, so one request at a time is in
/// flight and responses go out in order.
///
/// A whole body is written as head, body and end in one flush (one TLS record through the
/// `RecordCoalescer`). A stream's chunks are written as they come by a task that waits for a
/// write to finish whenever the channel is not writable (so a slow reader holds the stream
/// back); closing the connection cancels that task, which ends the stream and its producer.
/// After a request that is not keep-alive, or whose body was over the limit (the connection's
/// framing is then unreliable), the connection is closed once the response is written.
final class APIConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: HTTPServer
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false
    private var user: UserInfo?
    private var checkedCertificate = false

    init(server: HTTPServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            tooLarge = false
        case .body(let buffer):
            if body.count + buffer.readableBytes > server.maxBodyBytes {
                tooLarge = true
                body = []
            } else if !tooLarge {
                body.append(contentsOf: buffer.readableBytesView)
            }
        case .end:
            guard let request = head else { return }
            head = nil
            let payload = body
            body = []
            handle(request, body: payload, context: context)
        }
    }

    private func handle(_ request: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let server = self.server
        let channel = context.channel
        let tooLarge = self.tooLarge
        let checksCertificate = server.tls != nil && !checkedCertificate
        let known = user
        let answer = context.eventLoop.makePromise(of: (APIResponse, UserInfo?).self)
        answer.completeWithTask {
            let user = checksCertificate ? await server.certificateUser(channel) : known
            if tooLarge { return (.error(.tooLarge(limit: server.maxBodyBytes)), user) }
            let response = await server.handler.handle(APIRequest(method: request.method, uri: request.uri, headers: request.headers, body: body, user: user))
            return (response, user)
        }
        answer.futureResult.assumeIsolated().whenSuccess { [self] response, user in
            if checksCertificate {
                self.user = user
                checkedCertificate = true
            }
            write(response, for: request, closing: tooLarge || !request.isKeepAlive, context: context)
        }
    }

    private func write(_ response: APIResponse, for request: HTTPRequestHead, closing: Bool, context: ChannelHandlerContext) {
        let head = HTTPServer.head(of: response, for: request)
        switch response.body {
        case .bytes(let bytes):
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil) }
            if closing {
                context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        case .stream(let chunks):
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
            let channel = context.channel
            let writer = Task {
                for await chunk in chunks {
                    let part = HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: chunk)))
                    if channel.isWritable {
                        channel.writeAndFlush(part, promise: nil)
                    } else {
                        do { try await channel.writeAndFlush(part) } catch { return }
                    }
                }
                if closing {
                    let ended = channel.eventLoop.makePromise(of: Void.self)
                    ended.futureResult.whenComplete { _ in channel.close(promise: nil) }
                    channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: ended)
                } else {
                    channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
                }
            }
            channel.closeFuture.whenComplete { _ in writer.cancel() }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.debug("connection ended", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

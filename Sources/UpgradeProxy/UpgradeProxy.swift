import NIOCore
import NIOHTTP1
import NIOPosix

/// Where an HTTP upgrade request (exec, attach, port-forward) is relayed: a plain-HTTP server and
/// the path and query the request is sent with.
public struct UpgradeTarget: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// Path and query, already percent-encoded.
    public var uri: String

    public init(host: String, port: Int, uri: String) {
        self.host = host
        self.port = port
        self.uri = uri
    }
}

/// What a server does with one request that asks for a protocol upgrade.
public enum UpgradeDecision: Sendable {
    /// Send the request head to the target and relay bytes both ways, unchanged, until either
    /// side closes. The target's answer (101 or an error) reaches the client verbatim, so a
    /// client that falls back from WebSocket to SPDY on a refused upgrade still can.
    case relay(UpgradeTarget)
    /// Answer with this response and close the connection.
    case respond(HTTPResponseStatus, contentType: String, body: [UInt8])
    /// Not a streaming request: hand it on to the server's ordinary request handling.
    case pass
}

/// Decides what to do with an upgrade request; given the request head (without body) and the
/// client's channel (for its TLS peer certificate). Called once per upgrade request.
public typealias UpgradeDecider = @Sendable (HTTPRequestHead, any Channel) async -> UpgradeDecision

/// A channel handler placed right after `configureHTTPServerPipeline`: requests carrying
/// `Connection: Upgrade` are held back and given to the decider; other requests pass untouched.
///
/// To relay, it connects to the target on the same event loop, writes the request head there
/// (Host set to the target, `Authorization` dropped: the client's credentials are for this
/// server only), removes the HTTP handlers from the client's pipeline and glues the two sockets
/// together. Bytes the client sends before the target answers are dropped by the HTTP decoder;
/// the streaming protocols here wait for the 101 before sending.
public final class UpgradeInterceptor: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case collecting(HTTPRequestHead)
        case deciding
        case done
    }

    private let decide: UpgradeDecider
    private let connectTimeout: TimeAmount
    private var state = State.idle

    public init(connectTimeout: TimeAmount = .seconds(5), decide: @escaping UpgradeDecider) {
        self.decide = decide
        self.connectTimeout = connectTimeout
    }

    /// True when the head asks for a protocol switch (`Connection: Upgrade` and an `Upgrade` header).
    public static func isUpgrade(_ head: HTTPRequestHead) -> Bool {
        guard !head.headers["Upgrade"].isEmpty else { return false }
        return head.headers[canonicalForm: "Connection"].contains { $0.lowercased() == "upgrade" }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)) where Self.isUpgrade(head):
            state = .collecting(head)
        case (.idle, _):
            context.fireChannelRead(data)
        case (.collecting(let head), .end):
            state = .deciding
            startDecision(context: context, head: head)
        case (.collecting, _), (.deciding, _), (.done, _):
            // Upgrade requests carry no body worth keeping; later parts wait for the decision.
            break
        }
    }

    private func startDecision(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let decide = self.decide
        let channel = context.channel
        let promise = context.eventLoop.makePromise(of: UpgradeDecision.self)
        promise.completeWithTask { await decide(head, channel) }
        promise.futureResult.assumeIsolated().whenSuccess { decision in
            self.apply(decision, head: head, context: context)
        }
    }

    private func apply(_ decision: UpgradeDecision, head: HTTPRequestHead, context: ChannelHandlerContext) {
        switch decision {
        case .pass:
            state = .idle
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(.end(nil)))
        case .respond(let status, let contentType, let body):
            respond(status, contentType: contentType, body: body, head: head, context: context)
        case .relay(let target):
            relay(to: target, head: head, context: context)
        }
    }

    private func respond(_ status: HTTPResponseStatus, contentType: String, body: [UInt8], head: HTTPRequestHead, context: ChannelHandlerContext) {
        state = .done
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func relay(to target: UpgradeTarget, head: HTTPRequestHead, context: ChannelHandlerContext) {
        let client = context.channel
        ClientBootstrap(group: context.eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: target.host, port: target.port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    let text = "error dialing backend \(target.host):\(target.port): \(error)\n"
                    self.respond(.serviceUnavailable, contentType: "text/plain; charset=utf-8", body: Array(text.utf8), head: head, context: context)
                case .success(let backend):
                    do {
                        try self.glue(client: client, backend: backend, target: target, head: head, context: context)
                    } catch {
                        backend.close(promise: nil)
                        client.close(promise: nil)
                    }
                }
            }
    }

    private func glue(client: any Channel, backend: any Channel, target: UpgradeTarget, head: HTTPRequestHead, context: ChannelHandlerContext) throws {
        state = .done
        try backend.pipeline.syncOperations.addHandler(ByteRelay(partner: client))
        backend.writeAndFlush(ByteBuffer(bytes: Self.serialize(head, target: target)), promise: nil)
        let pipeline = context.pipeline.syncOperations
        try pipeline.addHandler(ByteRelay(partner: backend), position: .after(self))
        // The HTTP codec would misread the relayed protocol: take it out of the client's pipeline.
        try? pipeline.removeHandler(pipeline.handler(type: HTTPResponseEncoder.self), promise: nil)
        try? pipeline.removeHandler(pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self), promise: nil)
        try? pipeline.removeHandler(pipeline.handler(type: HTTPServerPipelineHandler.self), promise: nil)
        try? pipeline.removeHandler(pipeline.handler(type: HTTPServerProtocolErrorHandler.self), promise: nil)
        try? pipeline.removeHandler(pipeline.handler(type: NIOHTTPResponseHeadersValidator.self), promise: nil)
        pipeline.removeHandler(context: context, promise: nil)
        client.read()
    }

    /// The request head as sent to the target: its path, Host set to the target, no credentials.
    static func serialize(_ head: HTTPRequestHead, target: UpgradeTarget) -> [UInt8] {
        var text = "\(head.method.rawValue) \(target.uri) HTTP/1.1\r\n"
        text += "Host: \(target.host.contains(":") ? "[\(target.host)]" : target.host):\(target.port)\r\n"
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if lower == "host" || lower == "authorization" { continue }
            text += "\(name): \(value)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }
}

/// Copies every byte read on one channel to its partner; closing either closes both.
final class ByteRelay: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel

    init(partner: any Channel) {
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner.write(unwrapInboundIn(data), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

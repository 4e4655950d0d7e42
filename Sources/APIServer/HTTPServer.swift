import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIORecords
import NIOPosix
import NIOSSL
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

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Binds `host:port`, reports the bound port and serves until the task is cancelled.
    func run(host: String, port: Int, onBound: @Sendable (Int) -> Void) async throws {
        let tls = self.tls
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                        try channel.pipeline.syncOperations.addHandler(RecordCoalescer())
                    }
                    // Outbound header validation checks every response's headers for CR/LF; the
                    // server writes only its own constants and Warning texts quoted as Go's
                    // strconv.Quote does (control characters escaped), so it is skipped.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true, withOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(UpgradeInterceptor { head, channel in await upgradeDecision(head, channel: channel) })
                    return (channel, try Connection(wrappingChannelSynchronously: channel))
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

    private func serve(_ connection: Connection, channel: any Channel) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                var tooLarge = false
                var user: UserInfo?
                var checkedCertificate = false
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        body = []
                        tooLarge = false
                    case .body(var buffer):
                        if body.count + buffer.readableBytes > maxBodyBytes {
                            tooLarge = true
                            body = []
                        } else if !tooLarge, let bytes = buffer.readBytes(length: buffer.readableBytes) {
                            body += bytes
                        }
                    case .end:
                        guard let request = head else { continue }
                        head = nil
                        if tls != nil && !checkedCertificate {
                            checkedCertificate = true
                            user = await certificateUser(channel)
                        }
                        let response: APIResponse
                        if tooLarge {
                            response = .error(.tooLarge(limit: maxBodyBytes))
                        } else {
                            response = await handler.handle(APIRequest(method: request.method, uri: request.uri, headers: request.headers, body: body, user: user))
                        }
                        try await write(response, for: request, to: outbound, channel: channel)
                        // After an oversized body the connection's framing is unreliable: close it.
                        if tooLarge || !request.isKeepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// The user named by a verified TLS client certificate, if one was presented.
    func certificateUser(_ channel: any Channel) async -> UserInfo? {
        guard let certificate = try? await channel.nioSSL_peerCertificate().get(),
              let der = try? certificate.toDERBytes(),
              let identity = ClusterPKI.identity(fromDER: der) else { return nil }
        return UserInfo(name: identity.user, groups: identity.groups + ["system:authenticated"])
    }

    private func write(_ response: APIResponse, for request: HTTPRequestHead, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, channel: any Channel) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Cache-Control", value: "no-cache, private")
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        switch response.body {
        case .bytes(let bytes):
            headers.add(name: "Content-Length", value: String(bytes.count))
            // One write of the three parts: one flush, so one TLS record and one syscall where
            // three writes made three of each.
            var parts: [HTTPServerResponsePart] = [.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers))]
            if request.method != .HEAD { parts.append(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) }
            parts.append(.end(nil))
            try await outbound.write(contentsOf: parts)
        case .stream(let chunks):
            headers.add(name: "Transfer-Encoding", value: "chunked")
            try await outbound.write(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers)))
            // The stream ends on its own (timeout, store closed); a client hang-up closes the
            // channel, which cancels the writer and so ends the stream and its producer.
            let writer = Task {
                for await chunk in chunks {
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk))))
                }
                try await outbound.write(.end(nil))
            }
            channel.closeFuture.whenComplete { _ in writer.cancel() }
            try await withTaskCancellationHandler {
                try await writer.value
            } onCancel: {
                writer.cancel()
            }
        }
    }
}

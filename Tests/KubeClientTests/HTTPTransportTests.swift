import Foundation
@testable import KubeClient
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// How the loopback test server answers each request.
enum TestServerMode: Sendable {
    /// 200 with the body in two chunks, keep-alive.
    case answer
    /// Reads the request and never answers.
    case silent
    /// Closes the connection as soon as a request arrives.
    case hangUp
}

/// A plain-HTTP server on a loopback port for transport tests; counts the connections it
/// accepted. Stopped with `close()`.
final class TestHTTPServer: Sendable {
    let channel: any Channel
    private let accepted: Counter
    var connectionsAccepted: Int { accepted.value.withLock { $0 } }
    var port: Int { channel.localAddress?.port ?? 0 }

    final class Counter: Sendable { let value = Mutex(0) }

    init(mode: TestServerMode) async throws {
        let accepted = Counter()
        self.accepted = accepted
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                accepted.value.withLock { $0 += 1 }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    try child.pipeline.syncOperations.addHandler(Responder(mode: mode))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async { try? await channel.close() }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let mode: TestServerMode
        init(mode: TestServerMode) { self.mode = mode }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            switch mode {
            case .silent: return
            case .hangUp: context.close(promise: nil)
            case .answer:
                var head = HTTPResponseHead(version: .http1_1, status: .ok)
                head.headers.add(name: "Transfer-Encoding", value: "chunked")
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "{\"a\":")))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "1}")))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

/// The transport's exchange handler: whole responses gathered and handed over once, keep-alive
/// reuse, and the failures that must end a request instead of leaving it waiting.
@Suite struct HTTPTransportTests {
    func transport(_ server: TestHTTPServer, timeout: Duration = .seconds(30)) throws -> HTTPTransport {
        try HTTPTransport(server: ServerAddress(tls: false, host: "127.0.0.1", port: server.port), tls: TLSMaterial(), requestTimeout: timeout,
                          group: MultiThreadedEventLoopGroup.singleton)
    }

    @Test func wholeResponseAcrossChunksAndOneKeptAliveConnection() async throws {
        let server = try await TestHTTPServer(mode: .answer)
        let t = try transport(server)
        for _ in 0..<3 {
            let (head, body) = try await t.execute(HTTPRequest(method: .GET, uri: "/x", headers: [], body: nil))
            #expect(head.status == .ok)
            #expect(String(buffer: body) == #"{"a":1}"#)
        }
        #expect(server.connectionsAccepted == 1)
        await t.shutdown()
        await server.close()
    }

    @Test func aSilentServerTimesOutWithTheRequestNamed() async throws {
        let server = try await TestHTTPServer(mode: .silent)
        let t = try transport(server, timeout: .milliseconds(300))
        let start = ContinuousClock.now
        let error = await #expect(throws: KubeClientError.self) {
            _ = try await t.execute(HTTPRequest(method: .GET, uri: "/slow", headers: [], body: nil))
        }
        #expect(error?.message.contains("GET /slow: no complete response within 0.3 seconds") == true, "\(String(describing: error))")
        // Never a hang (the message above shows the 0.3 s timeout fired). Wide slack: the
        // parallel unit run at load 14 resumed this test 16 s late once.
        #expect(ContinuousClock.now - start < .seconds(60))
        await t.shutdown()
        await server.close()
    }

    @Test func aHangUpBeforeTheResponseIsATransportError() async throws {
        let server = try await TestHTTPServer(mode: .hangUp)
        let t = try transport(server)
        let error = await #expect(throws: KubeClientError.self) {
            _ = try await t.execute(HTTPRequest(method: .POST, uri: "/gone", headers: [], body: [1, 2, 3]))
        }
        #expect(error?.isTransport == true)
        #expect(error?.message.contains("POST /gone: connection closed before the response ended") == true, "\(String(describing: error))")
        await t.shutdown()
        await server.close()
    }

    @Test(arguments: ["to\nken", "to\rken", "tok\u{0}en", "tok\u{7F}en"])
    func controlCharactersInConfiguredHeadersAreRefusedAtInit(_ token: String) {
        let config = KubeClientConfig(server: ServerAddress(tls: false, host: "127.0.0.1", port: 1), token: token)
        #expect(throws: KubeClientError.self) { _ = try HTTPKubeClient(config: config) }
    }

    @Test func ordinaryHeaderValuesPass() throws {
        #expect(HTTPKubeClient.isValidHeaderValue("Bearer abc.def-ghi_jkl\tx"))
        #expect(HTTPKubeClient.isValidHeaderValue("nodekit/1.0 (linux) ünïcode"))
        let config = KubeClientConfig(server: ServerAddress(tls: false, host: "127.0.0.1", port: 1), token: "abc")
        _ = try HTTPKubeClient(config: config)
    }
}

import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import Probe

/// An HTTP server on 127.0.0.1 with fixed routes, for probe tests.
final class ProbeHTTPServer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static func start() async throws -> (any Channel, Int) {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(ProbeHTTPServer()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return (channel, channel.localAddress!.port!)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let (status, headers, body): (HTTPResponseStatus, [(String, String)], String)
        switch head.uri {
        case "/ok": (status, headers, body) = (.ok, [], "fine")
        case "/fail": (status, headers, body) = (.serviceUnavailable, [], "down")
        case "/redirect": (status, headers, body) = (.found, [("Location", "/ok")], "")
        case "/away": (status, headers, body) = (.found, [("Location", "http://elsewhere.invalid/x")], "moved")
        case "/agent": (status, headers, body) = (.ok, [], head.headers.first(name: "User-Agent") ?? "")
        case "/slow": return
        default: (status, headers, body) = (.notFound, [], "")
        }
        var h = HTTPHeaders(headers)
        h.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: h))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

struct FakeExecutor: ProbeExecutor {
    var exitCode: Int32
    var output: String
    var fail = false
    func execSync(containerID: String, command: [String], timeout: Duration) async throws -> (exitCode: Int32, output: String) {
        if fail { throw ProbeResolutionError(message: "container \(containerID) is not running") }
        return (exitCode, output)
    }
}

@Suite(.serialized) struct ProberTests {
    let prober = Prober(executor: FakeExecutor(exitCode: 0, output: "ok"))

    func http(_ path: String, port: Int) -> ProbeTarget {
        .http(scheme: "HTTP", host: "127.0.0.1", port: port, path: path, headers: [("User-Agent", "kube-probe/1.32")])
    }

    @Test func httpStatuses() async throws {
        let (server, port) = try await ProbeHTTPServer.start()
        defer { server.close(promise: nil) }
        // Generous timeouts: these cases test results, not speed, and the machine may be loaded.
        let ok = await prober.run(http("/ok", port: port), timeout: .seconds(10))
        #expect(ok.result == .success && ok.statusCode == 200 && ok.output == "fine")
        let fail = await prober.run(http("/fail", port: port), timeout: .seconds(10))
        #expect(fail.result == .failure && fail.message == "HTTP probe failed with statuscode: 503")
        let redirect = await prober.run(http("/redirect", port: port), timeout: .seconds(10))
        #expect(redirect.result == .success && redirect.statusCode == 200)
        let away = await prober.run(http("/away", port: port), timeout: .seconds(10))
        #expect(away.result == .success && away.message.hasPrefix("Probe terminated redirects"))
        let agent = await prober.run(http("/agent", port: port), timeout: .seconds(10))
        #expect(agent.output == "kube-probe/1.32")
    }

    @Test func httpTimeoutIsAFailureWithinTheTimeout() async throws {
        let (server, port) = try await ProbeHTTPServer.start()
        defer { server.close(promise: nil) }
        let outcome = await prober.run(http("/slow", port: port), timeout: .milliseconds(300))
        #expect(outcome.result == .failure)
        #expect(outcome.message.contains("deadline exceeded"))
        // Bounded by the timeout plus slack for a loaded machine: a failure, never a hang.
        #expect(outcome.elapsed < .seconds(10))
    }

    @Test func tcpOpenAndClosedPorts() async throws {
        let (server, port) = try await ProbeHTTPServer.start()
        let open = await prober.run(.tcp(host: "127.0.0.1", port: port), timeout: .seconds(10))
        #expect(open.result == .success)
        try await server.close()
        let closed = await prober.run(.tcp(host: "127.0.0.1", port: port), timeout: .seconds(10))
        #expect(closed.result == .failure)
        #expect(closed.message == "dial tcp 127.0.0.1:\(port): connect: connection refused")
        let refusedHTTP = await prober.run(http("/ok", port: port), timeout: .seconds(10))
        #expect(refusedHTTP.result == .failure && refusedHTTP.message.contains("connection refused"))
    }

    @Test func execExitCodes() async {
        let ok = await prober.run(.exec(command: ["true"]), containerID: "c1", timeout: .seconds(1))
        #expect(ok.result == .success && ok.exitCode == 0)
        let failing = Prober(executor: FakeExecutor(exitCode: 2, output: "bad"))
        let bad = await failing.run(.exec(command: ["cat", "/tmp/x"]), containerID: "c1", timeout: .seconds(1))
        #expect(bad.result == .failure && bad.exitCode == 2 && bad.output == "bad")
        #expect(bad.message == "command [cat /tmp/x] exited with 2")
        let broken = Prober(executor: FakeExecutor(exitCode: 0, output: "", fail: true))
        #expect(await broken.run(.exec(command: ["true"]), containerID: "c1", timeout: .seconds(1)).result == .unknown)
    }

    @Test func grpcHealth() async throws {
        struct Health: Grpc_Health_V1_Health.SimpleServiceProtocol {
            func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
                var r = Grpc_Health_V1_HealthCheckResponse()
                r.status = request.service == "down" ? .notServing : .serving
                return r
            }
        }
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
        let server = GRPCServer(transport: transport, services: [Health()])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            let address = try #require(try await transport.listeningAddress.ipv4)
            let up = await prober.run(.grpc(host: "127.0.0.1", port: address.port, service: ""), timeout: .seconds(10))
            #expect(up.result == .success)
            let down = await prober.run(.grpc(host: "127.0.0.1", port: address.port, service: "down"), timeout: .seconds(10))
            #expect(down.result == .failure && down.message == "service unhealthy (responded with \"NOT_SERVING\")")
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

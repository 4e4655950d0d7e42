import APIServer
import Foundation
@testable import KubeClient
import KubeAPI
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import NIORecords
import Store
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

private final class CompletionFlag: Sendable { let value = Mutex(false) }

/// Whether `future` has completed (on an embedded loop its callbacks run at once).
func isCompleted<T>(_ future: EventLoopFuture<T>) -> Bool {
    let flag = CompletionFlag()
    future.whenComplete { _ in flag.value.withLock { $0 = true } }
    return flag.value.withLock { $0 }
}

/// The connection's handlers above TLS: NIO's request encoder under a `RecordCoalescer`, so a
/// request reaches TLS as one write (one record, one SSL_write), with NIO's bytes.
@Suite struct HTTPTransportPipelineTests {
    static func podCreate(_ reply: HTTPExchange.Reply) -> HTTPExchange {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/v1/namespaces/default/pods")
        head.headers.add(name: "Host", value: "127.0.0.1:6443")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: "14")
        return HTTPExchange(head: head, body: ByteBuffer(string: #"{"kind":"Pod"}"#), reply: reply)
    }

    static func podGet(_ reply: HTTPExchange.Reply) -> HTTPExchange {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/v1/namespaces/default/pods/p?resourceVersion=0")
        head.headers.add(name: "Host", value: "127.0.0.1:6443")
        head.headers.add(name: "Accept", value: "application/json")
        return HTTPExchange(head: head, body: nil, reply: reply)
    }

    static func exchange(_ name: String, _ reply: HTTPExchange.Reply) -> HTTPExchange {
        name == "GET" ? podGet(reply) : podCreate(reply)
    }

    /// The bytes NIO's request encoder writes for `exchange`'s parts, each write on its own.
    static func encoderWrites(_ exchange: HTTPExchange) throws -> [[UInt8]] {
        let channel = EmbeddedChannel(handler: HTTPRequestEncoder())
        channel.write(HTTPClientRequestPart.head(exchange.head), promise: nil)
        if let body = exchange.body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        var out: [[UInt8]] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let b) = data else { Issue.record("file region written"); continue }
            out.append(Array(b.readableBytesView))
        }
        _ = try channel.finish()
        return out
    }

    /// Writes one exchange through the transport's handlers; returns the writes that reached
    /// the bottom of the pipeline (where the TLS handler sits) and whether the write's promise
    /// completed.
    static func transportWrites(_ name: String, coalescingRecords: Bool) throws -> (writes: [[UInt8]], written: Bool) {
        let channel = EmbeddedChannel()
        try HTTPTransport.addHTTPHandlers(to: channel.pipeline.syncOperations, requestTimeout: .seconds(30), coalescingRecords: coalescingRecords)
        let reply = channel.eventLoop.makePromise(of: (HTTPResponseHead, ByteBuffer).self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(exchange(name, .whole(reply)), promise: written)
        var out: [[UInt8]] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let b) = data else { Issue.record("file region written"); continue }
            out.append(Array(b.readableBytesView))
        }
        let completed = isCompleted(written.futureResult)
        #expect(!isCompleted(reply.futureResult))
        _ = try? channel.finish()
        return (out, completed)
    }

    @Test(arguments: ["POST with a body", "GET"])
    func aRequestIsOneWriteBelowTheCoalescerWithNIOsBytes(_ name: String) throws {
        let unused = EmbeddedEventLoop().makePromise(of: (HTTPResponseHead, ByteBuffer).self)
        defer { unused.fail(ChannelError.ioOnClosedChannel) }
        let nio = try Self.encoderWrites(Self.exchange(name, .whole(unused)))
        let (writes, written) = try Self.transportWrites(name, coalescingRecords: true)
        #expect(writes.count == 1, "\(name): \(writes.count) writes")
        #expect(String(decoding: writes.joined(), as: UTF8.self) == String(decoding: nio.joined(), as: UTF8.self), "\(name)")
        #expect(written, "\(name): the write's promise completes with the one write")
        // Without the coalescer the encoder's parts go down one by one (head, body, an empty
        // buffer carrying the end's promise): TLS would seal each non-empty one as a record.
        let (plain, _) = try Self.transportWrites(name, coalescingRecords: false)
        #expect(plain.count == (name == "GET" ? 2 : 3), "\(name): \(plain.count) writes")
        #expect(Array(plain.joined()) == Array(nio.joined()), "\(name)")
    }

    /// The response decoder still learns each request's method: a HEAD response's
    /// Content-Length announces no body, and the next response on the connection parses.
    @Test func responsesParseIncludingAfterHEAD() throws {
        let channel = EmbeddedChannel()
        try HTTPTransport.addHTTPHandlers(to: channel.pipeline.syncOperations, requestTimeout: .seconds(30), coalescingRecords: true)
        for (method, response, expected) in [
            (HTTPMethod.HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", ""),
            (.GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n", #"{"a":1}"#),
            (.POST, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", "{}"),
        ] {
            let promise = channel.eventLoop.makePromise(of: (HTTPResponseHead, ByteBuffer).self)
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: "/x")
            head.headers.add(name: "Host", value: "h")
            channel.writeAndFlush(HTTPExchange(head: head, body: nil, reply: .whole(promise)), promise: nil)
            while try channel.readOutbound(as: IOData.self) != nil {}
            try channel.writeInbound(ByteBuffer(string: response))
            let (status, body) = try promise.futureResult.wait()
            #expect(status.status.code == (method == .POST ? 201 : 200), "\(method)")
            #expect(String(buffer: body) == expected, "\(method)")
        }
        _ = try channel.finish()
    }

    /// Writes up to one record's payload are joined until a flush; a write that would overflow
    /// the record sends what is pending first; a record-sized write passes through; every
    /// promise completes with the write that carries its bytes.
    @Test func theCoalescerJoinsUpToOneRecord() throws {
        let channel = EmbeddedChannel(handler: RecordCoalescer())
        let record = RecordCoalescer.recordPayload
        let sizes = [10, 20, record - 40, 11, record, 5]
        let promises = sizes.map { _ in channel.eventLoop.makePromise(of: Void.self) }
        for (i, size) in sizes.enumerated() {
            channel.write(ByteBuffer(repeating: UInt8(i), count: size), promise: promises[i])
        }
        channel.flush()
        var writes: [ByteBuffer] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { writes.append(b) }
        // 10 + 20 + (record - 40) joined; 11 more would overflow, so they start the next one;
        // the record-sized write passes alone; the last 5 bytes wait for the flush.
        #expect(writes.map(\.readableBytes) == [record - 10, 11, record, 5])
        #expect(writes.first.map { Array($0.readableBytesView) } == [UInt8](repeating: 0, count: 10) + [UInt8](repeating: 1, count: 20) + [UInt8](repeating: 2, count: record - 40))
        for p in promises { #expect(isCompleted(p.futureResult)) }
        _ = try channel.finish()
    }
}

/// The API server's connection handling over plain HTTP on loopback (its insecure port), byte
/// for byte as a client sends them: pipelined requests are answered in order on one
/// connection, a request that is not keep-alive closes it after its response, and stopping the
/// server closes a connection whose watch is still open.
@Suite struct APIServerConnectionTests {
    /// Bytes received on one raw connection until the server closes it.
    final class Received: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<[UInt8]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0 += buffer.readableBytesView }
        }
        var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
    }

    /// The API server on loopback with plain HTTP (``withLoopbackAPIServer(plainHTTP:watch:_:)``);
    /// `body` gets the plain port.
    static func withPlainServer(_ body: (Int) async throws -> Void) async throws {
        try await withLoopbackAPIServer(plainHTTP: true) { loopback in
            try await body(try #require(loopback.endpoints.insecurePort))
        }
    }

    static func connect(_ port: Int) async throws -> (any Channel, Received) {
        let received = Received()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) } }
            .connect(host: "127.0.0.1", port: port).get()
        return (channel, received)
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndConnectionCloseCloses() async throws {
        try await Self.withPlainServer { port in
            let (channel, received) = try await Self.connect(port)
            let configMap = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1"}}"#
            let requests = "GET /version HTTP/1.1\r\nHost: a\r\n\r\n"
                + "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                + "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: \(configMap.utf8.count)\r\n\r\n"
                + configMap
                + "GET /api/v1/namespaces/default/configmaps/missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            try await channel.writeAndFlush(ByteBuffer(string: requests))
            // The server closes after the fourth response; a hang fails here instead.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await channel.closeFuture.get() }
                group.addTask {
                    try await Task.sleep(for: .seconds(30))
                    throw TimedOut(what: "the server closing the connection after Connection: close")
                }
                try await group.next()
                group.cancelAll()
            }
            let text = received.text
            // Each status line follows the previous body directly (Content-Length framing).
            let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { "HTTP/1.1 " + ($0.components(separatedBy: "\r\n").first ?? "") }
            #expect(statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 201 Created", "HTTP/1.1 404 Not Found"], "\(text)")
            let order = ["gitVersion", "\r\n\r\nok", "\"name\":\"c1\"", "\"reason\":\"NotFound\""].map { text.range(of: $0)?.lowerBound }
            #expect(order.allSatisfy { $0 != nil }, "\(text)")
            #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "responses out of order: \(text)")
        }
    }

    @Test func stoppingTheServerClosesAnOpenWatch() async throws {
        var watchChannel: (any Channel)?
        try await Self.withPlainServer { port in
            let (channel, received) = try await Self.connect(port)
            try await channel.writeAndFlush(ByteBuffer(string: "GET /api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=600 HTTP/1.1\r\nHost: a\r\n\r\n"))
            let start = ContinuousClock.now
            while !received.text.contains("\r\n\r\n"), ContinuousClock.now - start < .seconds(30) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(received.text.hasPrefix("HTTP/1.1 200 OK"), "\(received.text)")
            #expect(received.text.contains("Transfer-Encoding: chunked") || received.text.contains("transfer-encoding: chunked"), "\(received.text)")
            watchChannel = channel
        }
        let channel = try #require(watchChannel)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await channel.closeFuture.get() }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw TimedOut(what: "the watch's connection closing when the server stopped")
            }
            try await group.next()
            group.cancelAll()
        }
    }
}

/// A watch body decoded on its consumer's task: a consumer that stops listening releases the
/// body, which is what closes the watch's connection (HTTPTransport.stream closes it when the
/// body stream terminates).
@Suite struct WatchConsumerTests {
    final class Flag: Sendable {
        let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
    }

    /// Holds the body's producer, as the connection's handler does.
    final class Producer: Sendable {
        let continuation = Mutex<AsyncThrowingStream<ResponseEvent, any Error>.Continuation?>(nil)
        func finish() { continuation.withLock { $0?.finish() } }
    }

    /// A body whose producer stays alive (as the connection's handler holds it) and reports
    /// its termination; the events stream is the only thing handed out.
    static func events(_ lines: [String], terminated: Flag, producer: Producer) -> AsyncThrowingStream<[WatchEvent<ConfigMap>], any Error> {
        let (body, continuation) = AsyncThrowingStream<ResponseEvent, any Error>.makeStream()
        continuation.onTermination = { _ in terminated.value.withLock { $0 = true } }
        for line in lines { continuation.yield(.body(ByteBuffer(string: line))) }
        producer.continuation.withLock { $0 = continuation }
        return WatchDecoder.eventBatches(ConfigMap.self, from: body)
    }

    @Test func aConsumerThatStopsReleasesTheBody() async throws {
        let terminated = Flag()
        let producer = Producer()
        do {
            let stream = Self.events([WatchBatchTests.event("ADDED", "a", 5), WatchBatchTests.event("ADDED", "b", 6)], terminated: terminated, producer: producer)
            for try await batch in stream {
                #expect(WatchBatchTests.names(batch) == ["a"])
                break
            }
            #expect(!terminated.isSet, "the body is still in use while the consumer holds its stream")
        }
        #expect(terminated.isSet, "dropping the events stream terminates the body")
        producer.finish()
    }

    @Test func aCancelledConsumerReleasesTheBody() async throws {
        let terminated = Flag()
        let producer = Producer()
        let stream = Self.events([WatchBatchTests.event("ADDED", "a", 5)], terminated: terminated, producer: producer)
        let consumer = Task {
            var seen = 0
            for try await _ in stream { seen += 1 }
            return seen
        }
        try await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        let seen = try await consumer.value
        #expect(seen == 1)
        #expect(terminated.isSet, "cancelling the consumer terminates the body")
        producer.finish()
    }
}

@testable import KubeClient
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import Testing

private final class CompletionFlag: Sendable { let value = Mutex(false) }

/// Whether `future` has completed (on an embedded loop its callbacks run at once).
func isCompleted<T>(_ future: EventLoopFuture<T>) -> Bool {
    let flag = CompletionFlag()
    future.whenComplete { _ in flag.value.withLock { $0 = true } }
    return flag.value.withLock { $0 }
}

/// The request serializer: the same bytes as NIO's HTTPRequestEncoder, as one write per
/// request (one TLS record under TLS), and responses parsed as before.
@Suite struct HTTPRequestSerializerTests {
    /// A request as its parts: head fields, body parts, trailers.
    struct Case: Sendable, CustomStringConvertible {
        var method: HTTPMethod
        var uri: String
        var headers: [(String, String)]
        var parts: [String]
        var trailers: [(String, String)]? = nil
        var description: String { "\(method.rawValue) \(uri) \(headers.map(\.0)) \(parts.count) parts" }
    }

    static let cases: [Case] = [
        Case(method: .GET, uri: "/api/v1/pods?limit=500", headers: [("Host", "10.0.0.1:6443"), ("Accept", "application/json"), ("User-Agent", "nodekit")], parts: []),
        Case(method: .POST, uri: "/api/v1/namespaces/default/pods", headers: [("Host", "h"), ("Content-Type", "application/json"), ("Content-Length", "14")], parts: [#"{"kind":"Pod"}"#]),
        Case(method: .PUT, uri: "/x", headers: [("Host", "h"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked")], parts: ["ab", "cde"]),
        Case(method: .PATCH, uri: "/x", headers: [("Host", "h"), ("Content-Type", "application/merge-patch+json")], parts: ["{}", "", "[1]"]),
        Case(method: .POST, uri: "/no-body", headers: [("Host", "h")], parts: []),
        Case(method: .POST, uri: "/chunked-with-trailers", headers: [("Host", "h")], parts: ["x"], trailers: [("X-Check", "1")]),
        Case(method: .DELETE, uri: "/api/v1/namespaces/a/pods/b", headers: [("Host", "h"), ("Content-Length", "2")], parts: ["{}"]),
        Case(method: .DELETE, uri: "/x", headers: [("Host", "h"), ("Transfer-Encoding", "chunked")], parts: ["abc"]),
        Case(method: .TRACE, uri: "/x", headers: [("Host", "h"), ("Content-Length", "3"), ("Transfer-Encoding", "chunked")], parts: []),
        Case(method: .HEAD, uri: "/x", headers: [("Host", "h")], parts: []),
        Case(method: .RAW(value: "PROPFIND"), uri: "/x", headers: [("Host", "h"), ("Depth", "1")], parts: []),
    ]

    /// Writes `c` through `handler` in an embedded channel; returns each outbound write's bytes.
    static func writes(_ c: Case, through handler: any ChannelHandler, version: HTTPVersion = .http1_1) throws -> [[UInt8]] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        var head = HTTPRequestHead(version: version, method: c.method, uri: c.uri)
        for (name, value) in c.headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        for part in c.parts { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: part))), promise: nil) }
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(HTTPClientRequestPart.end(c.trailers.map { HTTPHeaders($0) }), promise: written)
        var out: [[UInt8]] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let b) = data else { Issue.record("file region written"); continue }
            out.append(Array(b.readableBytesView))
        }
        #expect(isCompleted(written.futureResult))
        _ = try channel.finish()
        return out
    }

    @Test(arguments: cases)
    func sameBytesAsNIOsEncoderInOneWrite(_ c: Case) throws {
        let nio = try Self.writes(c, through: HTTPRequestEncoder())
        let ours = try Self.writes(c, through: HTTPRequestSerializer())
        #expect(String(decoding: ours.joined(), as: UTF8.self) == String(decoding: nio.joined(), as: UTF8.self))
        #expect(ours.count == 1)
    }

    @Test(arguments: [HTTPVersion.http1_0, HTTPVersion(major: 2, minor: 0)])
    func otherVersionsFrameAsNIODoes(_ version: HTTPVersion) throws {
        for c in Self.cases {
            let nio = try Self.writes(c, through: HTTPRequestEncoder(), version: version)
            let ours = try Self.writes(c, through: HTTPRequestSerializer(), version: version)
            #expect(Array(ours.joined()) == Array(nio.joined()), "\(c)")
        }
    }

    /// The connection's pipeline (without TLS), an exchange written, its outbound writes and
    /// the reply's future.
    static func exchange(_ exchange: (EventLoopPromise<(HTTPResponseHead, ByteBuffer)>) -> HTTPExchange, pipeline: (ChannelPipeline.SynchronousOperations) throws -> Void)
        throws -> (EmbeddedChannel, [IOData], EventLoopFuture<(HTTPResponseHead, ByteBuffer)>) {
        let channel = EmbeddedChannel()
        try pipeline(channel.pipeline.syncOperations)
        let promise = channel.eventLoop.makePromise(of: (HTTPResponseHead, ByteBuffer).self)
        channel.writeAndFlush(exchange(promise), promise: nil)
        var out: [IOData] = []
        while let data = try channel.readOutbound(as: IOData.self) { out.append(data) }
        return (channel, out, promise.futureResult)
    }

    static func podCreate(_ promise: EventLoopPromise<(HTTPResponseHead, ByteBuffer)>) -> HTTPExchange {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/v1/namespaces/default/pods")
        head.headers.add(name: "Host", value: "127.0.0.1:6443")
        head.headers.add(name: "Content-Length", value: "2")
        return HTTPExchange(head: head, body: ByteBuffer(string: "{}"), reply: .whole(promise))
    }

    /// The session-start pipeline wrote a request with a body as three writes (head, body, an
    /// empty end), two of them non-empty: two TLS records. The transport's pipeline writes one.
    @Test func aRequestIsOneWriteOnTheConnection() throws {
        let (old, oldWrites, _) = try Self.exchange(Self.podCreate) { p in
            try p.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
            try p.addHandler(HTTPExchangeHandler(requestTimeout: .seconds(30)))
        }
        let (new, newWrites, reply) = try Self.exchange(Self.podCreate) { p in
            try HTTPTransport.addHTTPHandlers(to: p, requestTimeout: .seconds(30))
        }
        #expect(oldWrites.count == 3)
        #expect(newWrites.count == 1)
        #expect(newWrites.map(\.readableBytes).reduce(0, +) == oldWrites.map(\.readableBytes).reduce(0, +))
        #expect(!isCompleted(reply))
        _ = try? old.finish()
        _ = try? new.finish()
    }

    /// The response decoder still learns each request's method: a HEAD response's
    /// Content-Length announces no body, and the next response on the connection parses.
    @Test func responsesParseAsBeforeIncludingAfterHEAD() throws {
        let channel = EmbeddedChannel()
        try HTTPTransport.addHTTPHandlers(to: channel.pipeline.syncOperations, requestTimeout: .seconds(30))
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

    @Test func promisesOfEveryPartCompleteWithTheOneWrite() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPRequestSerializer())
        let promises = (0..<3).map { _ in channel.eventLoop.makePromise(of: Void.self) }
        var head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/x")
        head.headers.add(name: "Content-Length", value: "1")
        channel.write(HTTPClientRequestPart.head(head), promise: promises[0])
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "a"))), promise: promises[1])
        #expect(!isCompleted(promises[0].futureResult))
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: promises[2])
        for p in promises { #expect(isCompleted(p.futureResult)) }
        _ = try channel.finish()
    }
}

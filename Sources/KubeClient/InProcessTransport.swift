import KubeAPI
import NIOCore
import NIOHTTP1

/// How `HTTPKubeClient` sends a request: over HTTP/1.1 (``HTTPTransport``), or to an API
/// server in the same process (``InProcessTransport``).
protocol RequestTransport: Sendable {
    /// Sends `request` and returns the status, headers and whole body.
    func execute(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, ByteBuffer)
    /// Sends `request` and streams the response body: returns once the status is known.
    /// Terminating the stream's consumer ends the response.
    func stream(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, AsyncThrowingStream<ResponseEvent, any Error>)
    func shutdown() async
}

extension HTTPTransport: RequestTransport {}

/// Requests handed to an ``InProcessAPI`` and its answers turned into what the HTTP path
/// yields: the same heads, whole bodies and body events, so decoding and errors do not change.
struct InProcessTransport: RequestTransport {
    let server: any InProcessAPI

    func execute(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, ByteBuffer) {
        let response = await server.respond(to: Self.request(request))
        switch response.body {
        case .bytes(let bytes):
            return (Self.head(response), ByteBuffer(bytes: bytes))
        case .stream(let chunks):
            // A whole answer was asked for (a log without follow is one): gather it.
            var buffer = ByteBuffer()
            for await chunk in chunks { buffer.writeBytes(chunk) }
            return (Self.head(response), buffer)
        }
    }

    func stream(_ request: HTTPRequest) async throws(KubeClientError) -> (HTTPResponseHead, AsyncThrowingStream<ResponseEvent, any Error>) {
        let response = await server.respond(to: Self.request(request))
        switch response.body {
        case .bytes(let bytes):
            let (events, continuation) = AsyncThrowingStream<ResponseEvent, any Error>.makeStream()
            if !bytes.isEmpty { continuation.yield(.body(ByteBuffer(bytes: bytes))) }
            continuation.yield(.end)
            continuation.finish()
            return (Self.head(response), events)
        case .stream(let chunks):
            // Pulled as the consumer asks: cancelling it, or dropping the stream, ends the
            // iteration of the server's stream and with it the server's watch.
            let iterator = PulledIterator(chunks.makeAsyncIterator())
            let events = AsyncThrowingStream<ResponseEvent, any Error> {
                guard let chunk = try await iterator.next() else { return nil }
                return .body(ByteBuffer(bytes: chunk))
            }
            return (Self.head(response), events)
        }
    }

    func shutdown() async {}

    static func request(_ request: HTTPRequest) -> InProcessRequest {
        InProcessRequest(method: request.method.rawValue, uri: request.uri, headers: request.headers, body: request.body ?? [])
    }

    static func head(_ response: InProcessResponse) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: HTTPHeaders(response.headers))
    }
}

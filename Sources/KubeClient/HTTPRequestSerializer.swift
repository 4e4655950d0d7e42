import NIOCore
import NIOHTTP1

/// Serialises each request (head, body parts, end) into one buffer and passes it on as one
/// write when the request ends, so that under TLS a request is one record and one SSL_write
/// rather than one per part (NIOSSL encrypts each buffered write separately).
///
/// The bytes are those of NIO's `HTTPRequestEncoder` with its default configuration: the
/// same start line and header order, the same framing corrections (TRACE loses its
/// Content-Length and Transfer-Encoding; POST, PUT and PATCH without Content-Length become
/// chunked; a Content-Length drops any Transfer-Encoding) and the same chunk framing.
/// HTTPSerializerTests compares the two byte for byte.
///
/// The promises of a request's writes complete together, when its one buffer is written.
/// Writes after `.end` without a new `.head` are passed through unchanged.
final class HTTPRequestSerializer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = IOData

    private var pending: ByteBuffer?
    private var promises: [EventLoopPromise<Void>] = []
    private var isChunked = false

    init() {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            var buffer = pending ?? context.channel.allocator.buffer(capacity: 0)
            buffer.reserveCapacity(minimumWritableBytes: Self.estimatedSize(head))
            isChunked = Self.write(head, into: &buffer)
            pending = buffer
            if let promise { promises.append(promise) }
        case .body(let part):
            guard pending != nil else {
                context.write(wrapOutboundOut(part), promise: promise)
                return
            }
            guard append(part) else {
                let error = KubeClientError.transport("HTTP request serializer: a file region cannot be sent as a request body")
                promise?.fail(error)
                context.fireErrorCaught(error)
                return
            }
            if let promise { promises.append(promise) }
        case .end(let trailers):
            guard var buffer = pending else {
                if let promise { context.write(wrapOutboundOut(.byteBuffer(ByteBuffer())), promise: promise) }
                return
            }
            if isChunked {
                buffer.writeStaticString("0\r\n")
                Self.write(trailers ?? [:], into: &buffer)
            }
            pending = nil
            if let promise { promises.append(promise) }
            let done = Self.combine(promises, on: context.eventLoop)
            promises.removeAll(keepingCapacity: true)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: done)
        }
    }

    /// A request cut short (the channel closes with parts buffered) fails its promises.
    func handlerRemoved(context: ChannelHandlerContext) {
        pending = nil
        let failed = promises
        promises = []
        for p in failed { p.fail(ChannelError.ioOnClosedChannel) }
    }

    /// False for a file region, which is refused.
    private func append(_ part: IOData) -> Bool {
        guard case .byteBuffer(var bytes) = part else {
            // A file region cannot be copied into the buffer; the transport never sends one.
            return false
        }
        // Empty chunks are not framed: a zero-size chunk would end the body (as NIO does).
        if isChunked && bytes.readableBytes > 0 {
            pending!.writeString(String(bytes.readableBytes, radix: 16))
            pending!.writeStaticString("\r\n")
            pending!.writeBuffer(&bytes)
            pending!.writeStaticString("\r\n")
        } else {
            pending!.writeBuffer(&bytes)
        }
        return true
    }

    private static func combine(_ promises: [EventLoopPromise<Void>], on loop: any EventLoop) -> EventLoopPromise<Void>? {
        switch promises.count {
        case 0: return nil
        case 1: return promises[0]
        default:
            let all = loop.makePromise(of: Void.self)
            all.futureResult.whenComplete { result in
                for p in promises { p.completeWith(result) }
            }
            return all
        }
    }

    /// Start line, headers, blank line, and the body's size when the head announces it.
    static func estimatedSize(_ head: HTTPRequestHead) -> Int {
        var n = head.uri.utf8.count + 32
        for (name, value) in head.headers { n += name.utf8.count + value.utf8.count + 4 }
        if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > 0, length < 1 << 24 { n += length }
        return n
    }

    /// Writes `head` with NIO's framing corrections; returns whether the body is chunked.
    @discardableResult
    static func write(_ head: HTTPRequestHead, into buffer: inout ByteBuffer) -> Bool {
        var headers = head.headers
        let chunked: Bool
        switch head.method {
        case .TRACE:
            if headers.contains(name: "content-length") { headers.remove(name: "content-length") }
            if headers.contains(name: "transfer-encoding") { headers.remove(name: "transfer-encoding") }
            chunked = false
        case .POST, .PUT, .PATCH:
            if headers.contains(name: "content-length") {
                // Checked first so that the common case does not copy the headers.
                if headers.contains(name: "transfer-encoding") { headers.remove(name: "transfer-encoding") }
                chunked = false
            } else if head.version.major == 1 && head.version.minor >= 1 {
                headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
                chunked = true
            } else {
                chunked = false
            }
        default:
            if headers.contains(name: "content-length") {
                // Checked first so that the common case does not copy the headers.
                if headers.contains(name: "transfer-encoding") { headers.remove(name: "transfer-encoding") }
                chunked = false
            } else {
                chunked = head.version.major == 1 && head.version.minor >= 1 && headers["transfer-encoding"].first == "chunked"
            }
        }
        buffer.writeString(head.method.rawValue)
        buffer.writeStaticString(" ")
        buffer.writeString(head.uri)
        switch (head.version.major, head.version.minor) {
        case (1, 1): buffer.writeStaticString(" HTTP/1.1\r\n")
        case (1, 0): buffer.writeStaticString(" HTTP/1.0\r\n")
        case (let major, let minor): buffer.writeString(" HTTP/\(major).\(minor)\r\n")
        }
        write(headers, into: &buffer)
        return chunked
    }

    /// Each field as `name: value` and CRLF, then the blank line.
    static func write(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        for (name, value) in headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }
}

import NIOCore

/// Joins the writes between two flushes into one buffer, up to one TLS record's payload, so
/// that TLS seals one record where it sealed one per write. It sits directly above the TLS
/// handler. NIO's HTTP/1 encoders write a message's head, body and end separately, and a chunk
/// of a watch as its size line, its data and a CRLF; NIOSSL seals each buffered non-empty
/// write as a record of its own (its own seal, header and tag, and its own decryption at the
/// peer). Larger writes pass through as they are.
///
/// The promises of joined writes complete with the one write that carries them. Not
/// thread-safe: like every channel handler, it is used on its channel's event loop only.
public final class RecordCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// TLS's largest record payload (RFC 8446 section 5.1).
    public static let recordPayload = 16_384

    private var pending: ByteBuffer?
    private var promises: [EventLoopPromise<Void>] = []

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        if var joined = pending, joined.readableBytes + buffer.readableBytes <= Self.recordPayload {
            pending = nil
            joined.writeBuffer(&buffer)
            pending = joined
        } else if buffer.readableBytes < Self.recordPayload {
            forwardPending(context: context)
            pending = buffer
        } else {
            forwardPending(context: context)
            context.write(data, promise: promise)
            return
        }
        if let promise { promises.append(promise) }
    }

    public func flush(context: ChannelHandlerContext) {
        forwardPending(context: context)
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        forwardPending(context: context)
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        forwardPending(context: context)
    }

    /// Passes the joined writes on (not flushed), completing their promises with its result.
    private func forwardPending(context: ChannelHandlerContext) {
        guard let buffer = pending else { return }
        pending = nil
        let waiting = promises
        promises = []
        if waiting.isEmpty {
            context.write(wrapOutboundOut(buffer), promise: nil)
        } else if waiting.count == 1 {
            context.write(wrapOutboundOut(buffer), promise: waiting[0])
        } else {
            let promise = context.eventLoop.makePromise(of: Void.self)
            for other in waiting { promise.futureResult.cascade(to: other) }
            context.write(wrapOutboundOut(buffer), promise: promise)
        }
    }
}

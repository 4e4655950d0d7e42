import NIOCore
import NIOHTTP1
import NIOPosix

/// Opens HTTP requests to kubelets (plain HTTP, as Nodekit's kubelet serves) and streams the
/// answer back as an API response. A kubelet's non-200 answer becomes a Status with its code.
struct KubeletConnector: Sendable {
    var connectTimeout: TimeAmount = .seconds(5)

    func get(host: String, port: Int, path: String) async throws(APIError) -> APIResponse {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(connectTimeout)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw APIError.serviceUnavailable("cannot reach the kubelet at \(host):\(port): \(error)")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Connection", value: "close")
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        let (statusStream, statusContinuation) = AsyncStream<HTTPResponseStatus>.makeStream()
        let task = Task {
            try? await channel.executeThenClose { inbound, outbound in
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)))
                try await outbound.write(.end(nil))
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        statusContinuation.yield(head.status)
                        statusContinuation.finish()
                    case .body(var buffer):
                        if let bytes = buffer.readBytes(length: buffer.readableBytes) { continuation.yield(bytes) }
                    case .end:
                        return
                    }
                }
            }
            statusContinuation.finish()
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        var statusIterator = statusStream.makeAsyncIterator()
        guard let status = await statusIterator.next() else {
            throw APIError.serviceUnavailable("the kubelet at \(host):\(port) closed the connection without an answer")
        }
        guard status == .ok else {
            var text: [UInt8] = []
            for await chunk in stream { text += chunk }
            let message = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let reason = status.code == 404 ? "NotFound" : "InternalError"
            throw APIError(code: status.code == 404 ? 404 : 500, reason: reason, message: "kubelet \(host):\(port): \(message)")
        }
        return APIResponse(status: .ok, contentType: "text/plain", body: .stream(stream))
    }
}

import CRI
import Foundation
import NIOCore
import NIOHTTP1

/// `GET /containerLogs/<namespace>/<pod>/<container>?follow=true`.
struct LogFollowRequest: Sendable, Hashable {
    var namespace: String
    var pod: String
    var container: String

    /// nil unless the request is a followed container log.
    init?(method: HTTPMethod, uri: String) {
        guard method == .GET, let components = URLComponents(string: uri) else { return nil }
        let parts = components.path.split(separator: "/").map(String.init)
        guard parts.count == 4, parts[0] == "containerLogs",
              components.queryItems?.contains(where: { $0.name == "follow" && ["true", "1"].contains($0.value ?? "") }) == true else { return nil }
        namespace = parts[1]
        pod = parts[2]
        container = parts[3]
    }
}

/// Reads what a growing CRI log file gained since the last read, and turns it into the messages
/// of its complete lines. A file that shrank (rotated and reopened) is read again from the start.
struct CRILogTail: Sendable {
    let path: String
    private var offset: UInt64 = 0
    private var pending: [UInt8] = []

    init(path: String) {
        self.path = path
    }

    /// The messages of the lines completed since the last call, joined as the log shows them
    /// (a newline after each full line, none after a partial one); empty when nothing new.
    mutating func next() -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return "" }
        if size < offset {
            offset = 0
            pending = []
        }
        guard size > offset, (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.read(upToCount: Int(size - offset)) else { return "" }
        offset += UInt64(data.count)
        pending += data
        guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { return "" }
        let complete = pending[...lastNewline]
        pending = Array(pending[(lastNewline + 1)...])
        var out = ""
        for line in String(decoding: complete, as: UTF8.self).split(separator: "\n") {
            guard let entry = try? ContainerLogLine(parsing: line) else { continue }
            out += entry.message + (entry.partial ? "" : "\n")
        }
        return out
    }
}

extension KubeletServer {
    /// How often a followed log is checked for new lines.
    static let logFollowInterval = Duration.milliseconds(200)

    /// Streams the container's log from its start, then what it writes, until that container
    /// instance stops (what it wrote last is still sent) or the client closes the connection.
    func followLogs(_ request: LogFollowRequest, version: HTTPVersion, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
                    channel: any Channel) async throws {
        let name = "\(request.namespace)/\(request.pod)"
        guard let worker = await kubelet.worker(namespace: request.namespace, name: request.pod) else {
            return try await writeWhole(.notFound, "pod \(name) not found\n", version: version, outbound: outbound)
        }
        guard let instance = await worker.runtimePod.latest(request.container) else {
            return try await writeWhole(.notFound, "container \(request.container) of pod \(name) has no instance\n", version: version, outbound: outbound)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        try await outbound.write(.head(HTTPResponseHead(version: version, status: .ok, headers: headers)))
        var tail = CRILogTail(path: instance.logPath)
        while channel.isActive {
            let text = tail.next()
            if !text.isEmpty {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
                continue
            }
            let current = await worker.runtimePod.latest(request.container)
            if current?.id != instance.id || current?.state != .running {
                let rest = tail.next()
                if !rest.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: rest)))) }
                break
            }
            try await Task.sleep(for: Self.logFollowInterval)
        }
        try await outbound.write(.end(nil))
    }

    private func writeWhole(_ status: HTTPResponseStatus, _ text: String, version: HTTPVersion,
                            outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        try await outbound.write(.head(HTTPResponseHead(version: version, status: status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
        try await outbound.write(.end(nil))
    }
}

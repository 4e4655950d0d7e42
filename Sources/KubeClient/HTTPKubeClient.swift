import Foundation
import KubeAPI
import NIOCore
import NIOHTTP1
import NIOPosix

/// `KubeAPIClient` over the Kubernetes REST API (HTTP/1.1, JSON, optionally TLS with the
/// kubeconfig's CA and client certificate), with keep-alive connection reuse.
///
/// Thread-safe; share one instance per server. Call `shutdown()` when done to close idle
/// connections.
public final class HTTPKubeClient: KubeAPIClient {
    public let config: KubeClientConfig
    private let transport: any RequestTransport
    /// User-Agent and Authorization, built and checked once.
    private let identityHeaders: [(String, String)]

    /// Throws for a configuration whose header values (user agent, token, basic auth) hold
    /// control characters, which would break the request framing.
    public init(config: KubeClientConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(KubeClientError) {
        self.config = config
        var headers = [("User-Agent", config.userAgent)]
        if let token = config.token {
            headers.append(("Authorization", "Bearer \(token)"))
        } else if let basic = config.basicAuth {
            headers.append(("Authorization", "Basic " + Data("\(basic.username):\(basic.password)".utf8).base64EncodedString()))
        }
        headers.append(("Host", config.server.authority))
        // The pipeline does not validate outbound headers per request (HTTPTransport); the
        // values that come from outside are checked here instead, as NIO's validator would.
        for (name, value) in headers where !Self.isValidHeaderValue(value) {
            throw KubeClientError(code: 0, reason: "BadRequest", message: "client configuration for \(config.server): the \(name) header value holds a control character")
        }
        identityHeaders = headers.filter { $0.0 != "Host" }
        transport = try HTTPTransport(server: config.server, tls: config.tls, requestTimeout: config.requestTimeout, group: group)
    }

    /// A client of an API server in this process (`nodekit server`'s own), which `config`
    /// describes: requests go to `server` without TLS, HTTP framing or a socket, and are made
    /// as the identity that `server` gives them. `config` still names the server (its address,
    /// namespace, user agent) for whoever reads it from the client.
    public init(config: KubeClientConfig, inProcess server: any InProcessAPI) {
        self.config = config
        identityHeaders = [("User-Agent", config.userAgent)]
        transport = InProcessTransport(server: server)
    }

    /// RFC 9110 field values: no control characters but HTAB (NIO's outbound check).
    static func isValidHeaderValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// Loads `kubeconfigPath` and connects to its current (or the given) context.
    public convenience init(kubeconfigPath: String, context: String? = nil) throws {
        try self.init(config: Kubeconfig.load(path: kubeconfigPath, context: context))
    }

    public func shutdown() async { await transport.shutdown() }

    // MARK: KubeAPIClient

    public func get<T: KubeObject>(_ type: T.Type, namespace: String?, name: String) async throws(KubeClientError) -> T {
        let path = try RequestBuilder.path(T.self, namespace: namespace, name: name)
        return try await send(RequestBuilder.request(.GET, path), as: T.self)
    }

    public func list<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> ObjectList<T> {
        let path = try RequestBuilder.path(T.self, namespace: namespace)
        let request = RequestBuilder.request(.GET, path, query: RequestBuilder.query(options, watch: false))
        let body = try await sendRaw(request)
        return try ResponseDecoder.decode(ObjectList<T>.self, from: body, operation: "\(request.method) \(request.uri)",
                                          omitting: options.omitManagedFields ? ManagedFields.inList : nil)
    }

    public func create<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError) -> T {
        let path = try RequestBuilder.path(T.self, namespace: object.metadata.namespace)
        return try await send(RequestBuilder.request(.POST, path, query: RequestBuilder.query(options), body: RequestBuilder.encode(object)), as: T.self)
    }

    public func update<T: KubeObject>(_ object: T, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T {
        guard let name = object.metadata.name, !name.isEmpty else {
            throw KubeClientError(code: 0, reason: "BadRequest", message: "update \(T.kind): metadata.name is empty")
        }
        let path = try RequestBuilder.path(T.self, namespace: object.metadata.namespace, name: name, subresource: subresource)
        return try await send(RequestBuilder.request(.PUT, path, query: RequestBuilder.query(options), body: RequestBuilder.encode(object)), as: T.self)
    }

    public func patch<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError) -> T {
        let path = try RequestBuilder.path(T.self, namespace: namespace, name: name, subresource: subresource)
        let request = RequestBuilder.request(.PATCH, path, query: RequestBuilder.query(options), body: try RequestBuilder.encode(patch), contentType: patchType.rawValue)
        return try await send(request, as: T.self)
    }

    public func createDiscardingResult<T: KubeObject>(_ object: T, options: WriteOptions) async throws(KubeClientError) {
        let path = try RequestBuilder.path(T.self, namespace: object.metadata.namespace)
        _ = try await sendRaw(RequestBuilder.request(.POST, path, query: RequestBuilder.query(options), body: RequestBuilder.encode(object)))
    }

    public func patchDiscardingResult<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, patch: JSONValue, patchType: PatchKind, subresource: String?, options: WriteOptions) async throws(KubeClientError) {
        let path = try RequestBuilder.path(T.self, namespace: namespace, name: name, subresource: subresource)
        _ = try await sendRaw(RequestBuilder.request(.PATCH, path, query: RequestBuilder.query(options), body: try RequestBuilder.encode(patch), contentType: patchType.rawValue))
    }

    public func delete<T: KubeObject>(_ type: T.Type, namespace: String?, name: String, options: DeleteOptions) async throws(KubeClientError) {
        let path = try RequestBuilder.path(T.self, namespace: namespace, name: name)
        _ = try await sendRaw(RequestBuilder.request(.DELETE, path, body: RequestBuilder.encode(options)))
    }

    public func watch<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        let body = try await openWatch(T.self, namespace: namespace, options: options)
        return WatchDecoder.events(T.self, from: body, omitting: options.omitManagedFields ? ManagedFields.inWatchEvent : nil)
    }

    public func watchBatches<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<[WatchEvent<T>], any Error> {
        let body = try await openWatch(T.self, namespace: namespace, options: options)
        return WatchDecoder.eventBatches(T.self, from: body, omitting: options.omitManagedFields ? ManagedFields.inWatchEvent : nil)
    }

    /// Sends a watch request and returns the response body once the server accepted it.
    private func openWatch<T: KubeObject>(_ type: T.Type, namespace: String?, options: ListOptions) async throws(KubeClientError) -> AsyncThrowingStream<ResponseEvent, any Error> {
        let path = try RequestBuilder.path(T.self, namespace: namespace)
        let request = authorize(RequestBuilder.request(.GET, path, query: RequestBuilder.query(options, watch: true)))
        let (head, body) = try await transport.stream(request)
        if head.status.code >= 300 {
            var buffer = ByteBuffer()
            do {
                for try await case .body(var chunk) in body { buffer.writeBuffer(&chunk) }
            } catch {
                throw KubeClientError(code: Int(head.status.code), reason: head.status.reasonPhrase, message: "watch \(path): \(error)")
            }
            throw ResponseDecoder.error(status: head.status, body: buffer, operation: "GET \(path)?watch")
        }
        return body
    }

    public func create(binding: Binding, options: WriteOptions) async throws(KubeClientError) {
        guard let name = binding.metadata.name, let ns = binding.metadata.namespace else {
            throw KubeClientError(code: 0, reason: "BadRequest", message: "binding needs the pod's metadata.name and metadata.namespace")
        }
        let path = try RequestBuilder.path(Pod.self, namespace: ns, name: name, subresource: "binding")
        _ = try await sendRaw(RequestBuilder.request(.POST, path, query: RequestBuilder.query(options), body: RequestBuilder.encode(binding)))
    }

    public func evict(_ eviction: Eviction) async throws(KubeClientError) {
        guard let name = eviction.metadata.name, let ns = eviction.metadata.namespace else {
            throw KubeClientError(code: 0, reason: "BadRequest", message: "eviction needs the pod's metadata.name and metadata.namespace")
        }
        let path = try RequestBuilder.path(Pod.self, namespace: ns, name: name, subresource: "eviction")
        _ = try await sendRaw(RequestBuilder.request(.POST, path, body: RequestBuilder.encode(eviction)))
    }

    /// GET an arbitrary path (`/version`, `/healthz`, discovery) and return the body bytes.
    public func getRaw(_ path: String) async throws(KubeClientError) -> [UInt8] {
        var buffer = try await sendRaw(RequestBuilder.request(.GET, path))
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// POST a JSON `body` to an arbitrary path (a subresource no typed method covers, such as
    /// `serviceaccounts/NAME/token`) and return the response body bytes.
    public func postRaw(_ path: String, body: [UInt8]) async throws(KubeClientError) -> [UInt8] {
        var buffer = try await sendRaw(RequestBuilder.request(.POST, path, body: body))
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    // MARK: Plumbing

    private func authorize(_ request: HTTPRequest) -> HTTPRequest {
        var r = request
        r.headers.append(contentsOf: identityHeaders)
        return r
    }

    private func sendRaw(_ request: HTTPRequest) async throws(KubeClientError) -> ByteBuffer {
        let (head, body) = try await transport.execute(authorize(request))
        guard head.status.code < 300 else {
            throw ResponseDecoder.error(status: head.status, body: body, operation: "\(request.method) \(request.uri)")
        }
        return body
    }

    private func send<R: Decodable>(_ request: HTTPRequest, as: R.Type) async throws(KubeClientError) -> R {
        let body = try await sendRaw(request)
        return try ResponseDecoder.decode(R.self, from: body, operation: "\(request.method) \(request.uri)")
    }
}

/// Builds request paths, query strings and bodies; pure, so tests check it byte for byte.
enum RequestBuilder {
    static func path<T: KubeObject>(_ type: T.Type, namespace: String?, name: String? = nil, subresource: String? = nil) throws(KubeClientError) -> String {
        let info = try ResourceTable.info(for: T.self)
        if info.namespaced, name != nil, namespace?.isEmpty ?? true {
            throw KubeClientError(code: 0, reason: "BadRequest", message: "\(T.kind) \(name ?? "") is namespaced: a namespace is required")
        }
        if let name, name.isEmpty {
            throw KubeClientError(code: 0, reason: "BadRequest", message: "\(T.kind): the name is empty")
        }
        return info.path(namespace: namespace, name: name, subresource: subresource)
    }

    static func query(_ o: ListOptions, watch: Bool) -> [(String, String)] {
        var q: [(String, String)] = []
        if watch { q.append(("watch", "true")) }
        if let v = o.labelSelector, !v.isEmpty { q.append(("labelSelector", v)) }
        if let v = o.fieldSelector, !v.isEmpty { q.append(("fieldSelector", v)) }
        if let v = o.resourceVersion { q.append(("resourceVersion", v)) }
        if let v = o.resourceVersionMatch, !watch { q.append(("resourceVersionMatch", v)) }
        if let v = o.limit, !watch { q.append(("limit", String(v))) }
        if let v = o.continueToken, !watch { q.append(("continue", v)) }
        if let v = o.timeoutSeconds { q.append(("timeoutSeconds", String(v))) }
        if watch && o.allowWatchBookmarks { q.append(("allowWatchBookmarks", "true")) }
        return q
    }

    static func query(_ o: WriteOptions) -> [(String, String)] {
        var q: [(String, String)] = []
        if o.dryRun { q.append(("dryRun", "All")) }
        if let m = o.fieldManager { q.append(("fieldManager", m)) }
        if let f = o.force { q.append(("force", f ? "true" : "false")) }
        return q
    }

    static func request(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil, contentType: String = "application/json") -> HTTPRequest {
        var uri = path
        if !query.isEmpty {
            uri += "?" + query.map { "\($0.0)=\(PathEscaping.query($0.1))" }.joined(separator: "&")
        }
        var headers: [(String, String)] = []
        // Room for the identity headers HTTPKubeClient appends (User-Agent, Authorization),
        // so a request's header array is allocated once rather than grown.
        headers.reserveCapacity(4)
        headers.append(("Accept", "application/json"))
        if body != nil { headers.append(("Content-Type", contentType)) }
        return HTTPRequest(method: method, uri: uri, headers: headers, body: body)
    }

    static func encode<V: Encodable>(_ value: V) throws(KubeClientError) -> [UInt8] {
        do { return try JSONValue.encodeJSON(value) } catch {
            throw KubeClientError.encode("cannot encode \(V.self): \(error)")
        }
    }

    /// A patch or other free-form body: written directly, without a trip through
    /// JSONEncoder's containers (the same JSON, keys in the dictionary's order). Never throws;
    /// typed as the generic overload so that call sites read the same.
    static func encode(_ value: JSONValue) throws(KubeClientError) -> [UInt8] {
        value.serialized(sortedKeys: false)
    }
}

/// Where `ListOptions.omitManagedFields` finds managedFields in a response.
enum ManagedFields {
    static let inList = JSONOmissions([["items", "*", "metadata", "managedFields"]])
    static let inWatchEvent = JSONOmissions([["object", "metadata", "managedFields"]])
}

/// Turns response bodies into values or errors.
enum ResponseDecoder {
    /// `operation` names the request in the error; it is built only when there is one.
    static func decode<R: Decodable>(_ type: R.Type, from body: ByteBuffer, operation: @autoclosure () -> String, omitting omissions: JSONOmissions? = nil) throws(KubeClientError) -> R {
        do { return try JSONValue.decode(R.self, fromJSON: body.readableBytesView, omitting: omissions) } catch {
            throw KubeClientError.decode("\(operation()): cannot decode \(R.self): \(describe(error))")
        }
    }

    /// The error for a non-2xx response: the server's Status when the body is one, otherwise
    /// the HTTP status with the start of the body.
    static func error(status: HTTPResponseStatus, body: ByteBuffer, operation: String) -> KubeClientError {
        let code = Int(status.code)
        if let s = try? JSONValue.decode(WireStatus.self, fromJSON: body.readableBytesView).statusValue, s.reason != nil || s.message != nil {
            return KubeClientError(status: s, httpCode: code)
        }
        let text = String(decoding: body.readableBytesView.prefix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return KubeClientError(code: code, reason: reason(forCode: code, fallback: status.reasonPhrase), message: "\(operation): \(text.isEmpty ? status.reasonPhrase : text)")
    }

    /// A metav1.Status as servers send it: every field optional (`metadata` is often left out),
    /// so a Status body is never mistaken for an unreadable one.
    struct WireStatus: Decodable {
        var kind: String?
        var status: String?
        var message: String?
        var reason: String?
        var details: StatusDetails?
        var code: Int32?

        var statusValue: Status? {
            guard kind == nil || kind == "Status" else { return nil }
            return Status(status: status ?? "Failure", message: message, reason: reason, details: details, code: code)
        }
    }

    /// Upstream's `StatusReason` for codes the server sent without a Status body.
    static func reason(forCode code: Int, fallback: String) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 413: return "RequestEntityTooLarge"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return fallback
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let ctx)?: return "missing field \(path(ctx.codingPath + [key]))"
        case .typeMismatch(let type, let ctx)?: return "field \(path(ctx.codingPath)): expected \(type)"
        case .valueNotFound(let type, let ctx)?: return "field \(path(ctx.codingPath)): expected \(type), found null"
        case .dataCorrupted(let ctx)?: return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        default: return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}

/// Splits a watch body into newline-delimited JSON events and decodes them.
enum WatchDecoder {
    /// Decodes one event line. Throws `KubeClientError` for an ERROR event (carrying its Status)
    /// and for a line that is not an event. The object is decoded straight from the line's
    /// bytes, according to the event's type.
    static func decode<T: KubeObject>(_ type: T.Type, line: some Collection<UInt8>, omitting omissions: JSONOmissions? = nil) throws(KubeClientError) -> WatchEvent<T> {
        let envelope: Envelope<T>
        do { envelope = try JSONValue.decode(Envelope<T>.self, fromJSON: line, omitting: omissions) } catch {
            throw KubeClientError.decode("watch \(T.kind): not a watch event: \(error): \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        switch envelope.content {
        case .notAnEvent:
            throw KubeClientError.decode("watch \(T.kind): not a watch event: \(String(decoding: line.prefix(200), as: UTF8.self))")
        case .event(let event):
            return event
        case .error(let status?):
            throw KubeClientError(status: status)
        case .error(nil):
            throw KubeClientError.decode("watch \(T.kind): ERROR event without a Status")
        case .unknown(let kind):
            throw KubeClientError.decode("watch \(T.kind): unknown event type \(kind)")
        case .undecodable(let kind, let error):
            throw KubeClientError.decode("watch \(T.kind) \(kind): \(ResponseDecoder.describe(error))")
        }
    }

    /// A watch event line: `type` read first, then `object` decoded as that type needs. An
    /// object that does not decode is kept as an error (the line itself was an event).
    struct Envelope<T: KubeObject>: Decodable {
        enum Content {
            case notAnEvent
            case event(WatchEvent<T>)
            case error(Status?)
            case unknown(String)
            case undecodable(String, any Error)
        }

        enum CodingKeys: String, CodingKey { case type, object }

        /// A BOOKMARK's object: only its resourceVersion is read.
        struct Bookmark: Decodable {
            struct Metadata: Decodable { var resourceVersion: String? }
            var metadata: Metadata?
        }

        var content: Content

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            guard let kind = try? c.decodeIfPresent(String.self, forKey: .type) else {
                content = .notAnEvent
                return
            }
            do {
                switch kind {
                case "ADDED": content = .event(.added(try c.decode(T.self, forKey: .object)))
                case "MODIFIED": content = .event(.modified(try c.decode(T.self, forKey: .object)))
                case "DELETED": content = .event(.deleted(try c.decode(T.self, forKey: .object)))
                case "BOOKMARK":
                    let bookmark = try? c.decodeIfPresent(Bookmark.self, forKey: .object)
                    content = .event(.bookmark(resourceVersion: bookmark?.metadata?.resourceVersion ?? ""))
                case "ERROR": content = .error(try c.decode(ResponseDecoder.WireStatus.self, forKey: .object).statusValue)
                default: content = .unknown(kind)
                }
            } catch {
                content = .undecodable(kind, error)
            }
        }
    }

    static func events<T: KubeObject>(_ type: T.Type, from body: AsyncThrowingStream<ResponseEvent, any Error>, omitting omissions: JSONOmissions? = nil) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        let reader = LineReader(body)
        return AsyncThrowingStream {
            guard let line = try await reader.nextLine() else { return nil }
            return try decode(T.self, line: line, omitting: omissions)
        }
    }

    /// The events of a watch body grouped as they arrived: one element per chunk of the body
    /// that completed at least one line, holding every event that chunk completed, in order.
    static func eventBatches<T: KubeObject>(_ type: T.Type, from body: AsyncThrowingStream<ResponseEvent, any Error>, omitting omissions: JSONOmissions? = nil) -> AsyncThrowingStream<[WatchEvent<T>], any Error> {
        let reader = LineReader(body)
        return AsyncThrowingStream {
            guard let lines = try await reader.nextLines() else { return nil }
            var batch: [WatchEvent<T>] = []
            batch.reserveCapacity(lines.count)
            for line in lines { batch.append(try decode(T.self, line: line, omitting: omissions)) }
            return batch
        }
    }

    /// Splits a watch body into its non-blank lines, on the task of whoever consumes the
    /// decoded stream: the connection's chunks go straight to the consumer, which decodes
    /// them as it asks for events (no task and no second stream between them, so one task
    /// switch per chunk rather than two). The stream ends when the body ends, with the first
    /// error of the body or of the decoding; a consumer that stops listening drops the reader
    /// and with it the body, which closes the connection.
    ///
    /// Not thread-safe: one consumer at a time, as an AsyncThrowingStream built by unfolding
    /// calls it.
    final class LineReader: @unchecked Sendable {
        private var chunks: AsyncThrowingStream<ResponseEvent, any Error>.AsyncIterator
        private var pending: [UInt8] = []
        private var ended = false
        private var lines: [ArraySlice<UInt8>] = []
        private var nextIndex = 0

        init(_ body: AsyncThrowingStream<ResponseEvent, any Error>) { chunks = body.makeAsyncIterator() }

        private static func isBlank(_ line: ArraySlice<UInt8>) -> Bool {
            line.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
        }

        /// The lines the next chunks complete (never empty): those of the first chunk that
        /// completes any; at the end of the body a last line without its newline; nil after.
        /// Used by itself or through `nextLine`, not both.
        func nextLines() async throws -> [ArraySlice<UInt8>]? {
            while !ended {
                guard let event = try await chunks.next() else {
                    ended = true
                    let rest = pending[...]
                    pending = []
                    return Self.isBlank(rest) ? nil : [rest]
                }
                guard case .body(let chunk) = event else { continue }
                pending.append(contentsOf: chunk.readableBytesView)
                var start = 0
                var found: [ArraySlice<UInt8>] = []
                while let nl = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[start..<nl]
                    start = nl + 1
                    if !Self.isBlank(line) { found.append(line) }
                }
                // The lines keep the bytes they were cut from; what follows the last newline
                // starts the next buffer.
                if start == pending.count {
                    pending = []
                } else if start > 0 {
                    pending = Array(pending[start...])
                }
                if !found.isEmpty { return found }
            }
            return nil
        }

        /// The next non-blank line, in order across chunks; nil at the end of the body.
        func nextLine() async throws -> ArraySlice<UInt8>? {
            if nextIndex == lines.count {
                guard let more = try await nextLines() else { return nil }
                lines = more
                nextIndex = 0
            }
            defer { nextIndex += 1 }
            return lines[nextIndex]
        }
    }
}

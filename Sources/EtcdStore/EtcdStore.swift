import FoundationEssentials
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Store
import Synchronization

/// The etcd v3 backend: the ``Store`` protocol over etcd's gRPC API (KV Range/Txn/DeleteRange/
/// Compact, Watch, Lease grant, Maintenance status), for HA control planes.
///
/// Endpoints: calls go to one endpoint at a time; when it is unreachable or answers
/// `UNAVAILABLE` (no leader, leader changed), the call moves to the next endpoint and retries,
/// for up to ``Options/failoverBudget``. A write retried after a connection broke mid-call can
/// have been applied by the first attempt: the retry then fails its compare and reports
/// ``StoreError/conflict(key:current:)`` with the value this client wrote (as with kine and the
/// etcd clientv3 retry policy). Watches stay on the endpoint they started on; when it fails the
/// watch ends with ``StoreError/unavailable(_:)`` and the client re-watches from its last
/// revision.
public final class EtcdStore: Store {
    /// Settings of an ``EtcdStore``.
    public struct Options: Sendable {
        /// The deadline of one attempt of a unary call.
        public var callTimeout: Duration = .seconds(5)
        /// How long a call keeps trying endpoints before it fails as unavailable.
        public var failoverBudget: Duration = .seconds(15)
        public init() {}
    }

    /// One `host:port`.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    private typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

    private struct Connection {
        let client: Client
        let runner: Task<Void, Never>
    }

    private struct State {
        var current = 0
        var connections: [Int: Connection] = [:]
        var closed = false
        var watchTasks: [Int: Task<Void, Never>] = [:]
        var nextWatchTask = 0
    }

    public let endpoints: [Endpoint]
    private let options: Options
    private let state = Mutex(State())

    /// A store over the etcd cluster at `endpoints` (tried in order). Connections open lazily.
    public init(endpoints: [Endpoint], options: Options = Options()) throws(StoreError) {
        guard !endpoints.isEmpty else { throw StoreError.invalidArgument("etcd backend needs at least one endpoint") }
        self.endpoints = endpoints
        self.options = options
    }

    /// Parses `host:port[,host:port...]`.
    public static func parseEndpoints(_ list: String) throws(StoreError) -> [Endpoint] {
        var result: [Endpoint] = []
        for item in list.split(separator: ",") {
            let text = item.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed().map(String.init).joined()
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
                  colon > text.startIndex else {
                throw StoreError.invalidArgument("etcd endpoint \"\(text)\" is not host:port")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            result.append(Endpoint(host: host, port: port))
        }
        if result.isEmpty { throw StoreError.invalidArgument("no etcd endpoints in \"\(list)\"") }
        return result
    }

    // MARK: Connections and failover

    private func connection(_ index: Int) throws(StoreError) -> Client {
        try state.withLock { (state: inout State) throws(StoreError) -> Client in
            if state.closed { throw StoreError.unavailable("store is closed") }
            if let existing = state.connections[index] { return existing.client }
            let endpoint = endpoints[index]
            let target: any ResolvableTarget = Self.isIPv4(endpoint.host)
                ? ResolvableTargets.IPv4(addresses: [SocketAddress.IPv4(host: endpoint.host, port: endpoint.port)])
                : ResolvableTargets.DNS(host: endpoint.host, port: endpoint.port)
            let transport: HTTP2ClientTransport.Posix
            do {
                transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: .plaintext)
            } catch {
                throw StoreError.unavailable("etcd endpoint \(endpoint): \(error)")
            }
            let client = GRPCClient(transport: transport)
            let runner = Task { _ = try? await client.runConnections() }
            state.connections[index] = Connection(client: client, runner: runner)
            return client
        }
    }

    private static func isIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".")
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    private var callOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = self.options.callTimeout
        options.waitForReady = false
        return options
    }

    /// Runs `body` against the current endpoint, moving to the next one on errors that mean
    /// "this member cannot serve now", until the failover budget is spent.
    private func withFailover<R: Sendable>(_ operation: String, _ body: (Client, CallOptions) async throws -> R) async throws(StoreError) -> R {
        try await withFailoverReportingRetry(operation, body).result
    }

    /// ``withFailover(_:_:)`` that also says whether an attempt failed after the request may have
    /// reached the server, so a write can tell its own retried effect from someone else's.
    private func withFailoverReportingRetry<R: Sendable>(_ operation: String, _ body: (Client, CallOptions) async throws -> R) async throws(StoreError) -> (result: R, retried: Bool) {
        let deadline = ContinuousClock.now + options.failoverBudget
        var lastError: (any Error)?
        var attempt = 0
        while true {
            let index = state.withLock { $0.current }
            do {
                let client = try connection(index)
                return (try await body(client, callOptions), attempt > 0)
            } catch let error as StoreError {
                throw error
            } catch let error as RPCError where Self.isRetryable(error) {
                lastError = error
            } catch {
                throw Self.mapError(error, operation: operation)
            }
            attempt += 1
            // Move on from the failing endpoint, unless another call already did.
            state.withLock { state in
                if state.current == index { state.current = (index + 1) % endpoints.count }
            }
            if ContinuousClock.now >= deadline {
                throw StoreError.unavailable("etcd \(operation): no endpoint of \(endpoints) could serve: \(lastError.map { "\($0)" } ?? "")")
            }
            // A full round over the endpoints failed: give the cluster time to elect a leader.
            if attempt % endpoints.count == 0 {
                do { try await Task.sleep(for: .milliseconds(200)) } catch { throw StoreError.unavailable("etcd \(operation): cancelled") }
            }
        }
    }

    private static func isRetryable(_ error: RPCError) -> Bool {
        switch error.code {
        case .unavailable, .deadlineExceeded, .unknown, .aborted: true
        default: false
        }
    }

    /// Maps an etcd error to ``StoreError``. etcd reports compaction and future revisions as
    /// OUT_OF_RANGE with fixed messages (mvcc.ErrCompacted, mvcc.ErrFutureRev).
    static func mapError(_ error: any Error, operation: String, requested: Int64 = 0, compactRevision: Int64 = 0, current: Int64 = 0) -> StoreError {
        if let error = error as? StoreError { return error }
        if let rpc = error as? RPCError {
            if rpc.message.contains("required revision has been compacted") {
                return .compacted(requested: requested, compactRevision: compactRevision)
            }
            if rpc.message.contains("required revision is a future revision") {
                return .futureRevision(requested: requested, current: current)
            }
            if rpc.code == .invalidArgument { return .invalidArgument("etcd \(operation): \(rpc.message)") }
        }
        return .unavailable("etcd \(operation): \(error)")
    }

    // MARK: Conversions

    static func bytes(_ key: String) -> Data { Data(key.utf8) }

    /// The smallest key above every key that starts with `prefix` (etcd's range_end for a prefix).
    static func prefixEnd(_ prefix: String) -> Data {
        var end = Data(prefix.utf8)
        while let last = end.last {
            if last < 0xFF {
                end[end.endIndex - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return Data([0])
    }

    static func keyValue(_ kv: Mvccpb_KeyValue) -> KeyValue {
        KeyValue(key: String(decoding: kv.key, as: UTF8.self), value: Array(kv.value), createRevision: kv.createRevision,
                 modRevision: kv.modRevision, version: kv.version)
    }

    private static func rangeOp(_ key: String) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        var range = Etcdserverpb_RangeRequest()
        range.key = bytes(key)
        op.requestRange = range
        return op
    }

    private static func modCompare(_ key: String, _ revision: Int64) -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = bytes(key)
        compare.target = .mod
        compare.result = .equal
        compare.modRevision = revision
        return compare
    }

    private func lease(for ttl: Duration?, key: String) async throws(StoreError) -> Int64 {
        guard let ttl else { return 0 }
        // etcd leases have whole seconds; round up so a key never expires early.
        let (seconds, attoseconds) = ttl.components
        var request = Etcdserverpb_LeaseGrantRequest()
        request.ttl = max(1, seconds + (attoseconds > 0 ? 1 : 0))
        let response = try await withFailover("lease grant for \(key)") { client, options in
            try await Etcdserverpb_Lease.Client(wrapping: client).leaseGrant(request, options: options)
        }
        if !response.error.isEmpty { throw StoreError.unavailable("etcd lease grant for \(key): \(response.error)") }
        return response.id
    }

    // MARK: Store

    public func currentRevision() async throws(StoreError) -> Int64 {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data([0])
        request.countOnly = true
        let response = try await withFailover("current revision") { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).range(request, options: options)
        }
        return response.header.revision
    }

    /// The member's status (etcd's Maintenance/Status) from the current endpoint.
    public func status() async throws(StoreError) -> (version: String, leader: UInt64, revision: Int64, databaseSize: Int64) {
        let response = try await withFailover("status") { client, options in
            try await Etcdserverpb_Maintenance.Client(wrapping: client).status(Etcdserverpb_StatusRequest(), options: options)
        }
        return (response.version, response.leader, response.header.revision, response.dbSize)
    }

    public func create(_ key: String, value: [UInt8], ttl: Duration?) async throws(StoreError) -> KeyValue {
        if key.isEmpty { throw StoreError.invalidArgument("empty key") }
        let leaseID = try await lease(for: ttl, key: key)
        var put = Etcdserverpb_PutRequest()
        put.key = Self.bytes(key)
        put.value = Data(value)
        put.lease = leaseID
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.modCompare(key, 0)]
        txn.success = [Etcdserverpb_RequestOp.with { $0.requestPut = put }]
        txn.failure = [Self.rangeOp(key)]
        let (response, retried) = try await withFailoverReportingRetry("create \(key)") { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).txn(txn, options: options)
        }
        guard response.succeeded else {
            let current = response.responses.first?.responseRange.kvs.first.map(Self.keyValue)
            // etcd closes a connection now and then (seen every ~200 calls from this client with
            // Debian's 3.4.23) after applying the call: the retry then finds our own create.
            if retried, let current, current.version == 1, current.value == value { return current }
            throw StoreError.conflict(key: key, current: current)
        }
        let revision = response.header.revision
        return KeyValue(key: key, value: value, createRevision: revision, modRevision: revision, version: 1)
    }

    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64, ttl: Duration?) async throws(StoreError) -> KeyValue {
        if key.isEmpty { throw StoreError.invalidArgument("empty key") }
        // A compare against mod revision 0 would succeed for a missing key and create it.
        if expectedModRevision <= 0 {
            guard let current = try await get(key) else { throw StoreError.notFound(key: key) }
            throw StoreError.conflict(key: key, current: current)
        }
        let leaseID = try await lease(for: ttl, key: key)
        var put = Etcdserverpb_PutRequest()
        put.key = Self.bytes(key)
        put.value = Data(value)
        put.lease = leaseID
        put.prevKv = true
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.modCompare(key, expectedModRevision)]
        txn.success = [Etcdserverpb_RequestOp.with { $0.requestPut = put }]
        txn.failure = [Self.rangeOp(key)]
        let (response, retried) = try await withFailoverReportingRetry("update \(key)") { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).txn(txn, options: options)
        }
        guard response.succeeded else {
            guard let current = response.responses.first?.responseRange.kvs.first.map(Self.keyValue) else { throw StoreError.notFound(key: key) }
            // As in create: a retried update that finds its own value one modification later.
            if retried, current.value == value, current.modRevision > expectedModRevision { return current }
            throw StoreError.conflict(key: key, current: current)
        }
        let previous = response.responses.first?.responsePut.prevKv
        return KeyValue(key: key, value: value, createRevision: previous?.createRevision ?? 0, modRevision: response.header.revision,
                        version: (previous?.version ?? 0) + 1)
    }

    public func delete(_ key: String, expectedModRevision: Int64?) async throws(StoreError) -> DeleteResult {
        if key.isEmpty { throw StoreError.invalidArgument("empty key") }
        var deleteRequest = Etcdserverpb_DeleteRangeRequest()
        deleteRequest.key = Self.bytes(key)
        deleteRequest.prevKv = true
        guard let expectedModRevision else {
            let response = try await withFailover("delete \(key)") { client, options in
                try await Etcdserverpb_KV.Client(wrapping: client).deleteRange(deleteRequest, options: options)
            }
            guard let previous = response.prevKvs.first else { throw StoreError.notFound(key: key) }
            return DeleteResult(revision: response.header.revision, previous: Self.keyValue(previous))
        }
        if expectedModRevision <= 0 {
            guard let current = try await get(key) else { throw StoreError.notFound(key: key) }
            throw StoreError.conflict(key: key, current: current)
        }
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.modCompare(key, expectedModRevision)]
        txn.success = [Etcdserverpb_RequestOp.with { $0.requestDeleteRange = deleteRequest }]
        txn.failure = [Self.rangeOp(key)]
        let response = try await withFailover("delete \(key)") { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).txn(txn, options: options)
        }
        guard response.succeeded else {
            guard let current = response.responses.first?.responseRange.kvs.first else { throw StoreError.notFound(key: key) }
            throw StoreError.conflict(key: key, current: Self.keyValue(current))
        }
        guard let previous = response.responses.first?.responseDeleteRange.prevKvs.first else {
            // The compare held, so the key existed; a missing prev_kv means etcd misbehaved.
            throw StoreError.unavailable("etcd delete \(key): no previous value in the response")
        }
        return DeleteResult(revision: response.header.revision, previous: Self.keyValue(previous))
    }

    public func range(_ request: RangeRequest) async throws(StoreError) -> RangeResult {
        if request.key.isEmpty && !request.prefix { throw StoreError.invalidArgument("empty key") }
        if let start = request.startKey, !start.utf8.starts(with: request.key.utf8) || !request.prefix {
            throw StoreError.invalidArgument("start key \(start) is not under prefix \(request.key)")
        }
        if request.limit < 0 { throw StoreError.invalidArgument("negative limit \(request.limit)") }
        var message = Etcdserverpb_RangeRequest()
        if request.prefix {
            message.key = Self.bytes(request.startKey ?? request.key)
            message.rangeEnd = request.key.isEmpty ? Data([0]) : Self.prefixEnd(request.key)
        } else {
            message.key = Self.bytes(request.key)
        }
        message.limit = Int64(request.limit)
        message.revision = request.revision
        message.countOnly = request.countOnly
        let response: Etcdserverpb_RangeResponse
        do {
            response = try await withFailover("range \(request.key)") { client, options in
                try await Etcdserverpb_KV.Client(wrapping: client).range(message, options: options)
            }
        } catch {
            throw try await refine(error, requested: request.revision)
        }
        return RangeResult(kvs: response.kvs.map(Self.keyValue), more: response.more, count: Int(response.count),
                           revision: request.revision > 0 ? request.revision : response.header.revision)
    }

    /// Fills in the revisions etcd's compaction and future-revision errors leave out.
    private func refine(_ error: StoreError, requested: Int64) async throws(StoreError) -> StoreError {
        switch error {
        case .compacted:
            return .compacted(requested: requested, compactRevision: 0)
        case .futureRevision:
            return .futureRevision(requested: requested, current: (try? await currentRevision()) ?? 0)
        default:
            return error
        }
    }

    public func compact(to revision: Int64) async throws(StoreError) {
        var request = Etcdserverpb_CompactionRequest()
        request.revision = revision
        do {
            _ = try await withFailover("compact to \(revision)") { client, options in
                try await Etcdserverpb_KV.Client(wrapping: client).compact(request, options: options)
            }
        } catch {
            throw try await refine(error, requested: revision)
        }
    }

    // MARK: Watch

    /// Hands the first watch response (created, or cancelled as compacted) to the caller of
    /// ``watch(_:)`` exactly once.
    private final class Startup: Sendable {
        private let continuation: Mutex<CheckedContinuation<Void, any Error>?>
        init(_ continuation: CheckedContinuation<Void, any Error>) { self.continuation = Mutex(continuation) }
        func resume(_ result: Result<Void, any Error>) {
            continuation.withLock { $0.take() }?.resume(with: result)
        }
    }

    /// Where a watch stream stopped.
    private enum StreamEnd {
        /// The consumer stopped, or the server cancelled the watch (the error, if any, is final).
        case finished(StoreError?)
        /// The connection failed; resume from `next` on an endpoint that works.
        case broken(any Error)
    }

    /// Watches `request` over etcd's bidirectional Watch stream. When the stream breaks (the
    /// member died, or the connection closed), the watch resumes from the revision after the last
    /// one delivered on the next endpoint, so consumers see no gap; it ends with
    /// ``StoreError/unavailable(_:)`` only when no endpoint serves within the failover budget.
    public func watch(_ request: WatchRequest) async throws(StoreError) -> StoreWatch {
        if request.key.isEmpty && !request.prefix { throw StoreError.invalidArgument("empty key") }
        // etcd confirms a watch ("created") before it notices that the start revision is
        // compacted, and only then cancels it. A read at the start revision tells at once; the
        // watch is still opened then, for the compaction revision its cancel carries.
        let startCompacted = try await isCompacted(request)
        let (stream, continuation) = AsyncThrowingStream<WatchMessage, any Error>.makeStream()
        let (controls, control) = AsyncStream<Etcdserverpb_WatchRequest>.makeStream()
        let taskID = try state.withLock { (state: inout State) throws(StoreError) -> Int in
            if state.closed { throw StoreError.unavailable("store is closed") }
            state.nextWatchTask += 1
            return state.nextWatchTask
        }
        do {
            try await withCheckedThrowingContinuation { (started: CheckedContinuation<Void, any Error>) in
                let startup = Startup(started)
                let task = Task { [weak self] in
                    guard let self else { return }
                    let error = await self.runWatch(request, startCompacted: startCompacted, controls: controls, continuation: continuation, startup: startup)
                    startup.resume(.failure(error ?? StoreError.unavailable("etcd watch \(request.key) ended before it was created")))
                    if let error { continuation.finish(throwing: error) } else { continuation.finish() }
                    self.state.withLock { _ = $0.watchTasks.removeValue(forKey: taskID) }
                }
                state.withLock { $0.watchTasks[taskID] = task }
                continuation.onTermination = { _ in
                    control.finish()
                    task.cancel()
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.unavailable("etcd watch \(request.key): \(error)")
        }
        return StoreWatch(
            stream: stream,
            requestProgress: { control.yield(Etcdserverpb_WatchRequest.with { $0.progressRequest = Etcdserverpb_WatchProgressRequest() }) },
            cancel: { continuation.finish() })
    }

    /// Whether the watch's start revision is below etcd's compaction revision.
    private func isCompacted(_ request: WatchRequest) async throws(StoreError) -> Bool {
        guard request.startRevision > 0 else { return false }
        do {
            _ = try await range(RangeRequest(key: request.key, prefix: request.prefix, limit: 1, revision: request.startRevision, countOnly: true))
            return false
        } catch {
            switch error {
            case .compacted: return true
            case .futureRevision: return false
            default: throw error
            }
        }
    }

    /// Runs streams until the watch ends; returns the error to end it with (nil: ended normally).
    private func runWatch(_ request: WatchRequest, startCompacted: Bool, controls: AsyncStream<Etcdserverpb_WatchRequest>,
                          continuation: AsyncThrowingStream<WatchMessage, any Error>.Continuation, startup: Startup) async -> StoreError? {
        // The progress requests are shared by every stream this watch opens in turn.
        let forwarder = ControlForwarder()
        let forwarding = Task {
            for await message in controls { forwarder.send(message) }
            forwarder.finish()
        }
        defer { forwarding.cancel() }
        let next = Mutex(request.startRevision)
        var deadline = ContinuousClock.now + options.failoverBudget
        var failures = 0
        while !Task.isCancelled {
            let index = state.withLock { $0.current }
            let end: StreamEnd
            do {
                let client = try connection(index)
                let created = Position(0)
                end = await watchStream(client, endpoint: endpoints[index], request: request, startCompacted: startCompacted, next: next, forwarder: forwarder,
                                        continuation: continuation, startup: startup) { created.advance(to: 1) }
                if created.next == 1 {
                    // The stream worked: a later break gets a fresh failover budget.
                    deadline = ContinuousClock.now + options.failoverBudget
                    failures = 0
                }
            } catch {
                return error
            }
            switch end {
            case let .finished(error):
                return error
            case let .broken(error):
                failures += 1
                state.withLock { state in
                    if state.current == index { state.current = (index + 1) % endpoints.count }
                }
                if ContinuousClock.now >= deadline {
                    return StoreError.unavailable("etcd watch \(request.key): no endpoint of \(endpoints) could serve: \(error)")
                }
                if failures % endpoints.count == 0 {
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
        return nil
    }

    /// Feeds progress requests to whichever stream is current.
    private final class ControlForwarder: Sendable {
        private let writer = Mutex<(continuation: AsyncStream<Etcdserverpb_WatchRequest>.Continuation?, finished: Bool)>((nil, false))

        /// A fresh message source for a new stream; the previous one ends.
        func attach() -> AsyncStream<Etcdserverpb_WatchRequest> {
            let (stream, continuation) = AsyncStream<Etcdserverpb_WatchRequest>.makeStream()
            let previous = writer.withLock { state -> AsyncStream<Etcdserverpb_WatchRequest>.Continuation? in
                let previous = state.continuation
                state.continuation = continuation
                if state.finished { continuation.finish() }
                return previous
            }
            previous?.finish()
            return stream
        }

        func send(_ message: Etcdserverpb_WatchRequest) {
            _ = writer.withLock { $0.continuation }?.yield(message)
        }

        func finish() {
            let current = writer.withLock { state -> AsyncStream<Etcdserverpb_WatchRequest>.Continuation? in
                state.finished = true
                return state.continuation
            }
            current?.finish()
        }
    }

    /// One Watch stream from revision `next`; advances `next` past every revision delivered.
    private func watchStream(_ client: Client, endpoint: Endpoint, request: WatchRequest, startCompacted: Bool, next: borrowing Mutex<Int64>, forwarder: ControlForwarder,
                             continuation: AsyncThrowingStream<WatchMessage, any Error>.Continuation, startup: Startup,
                             created: @escaping @Sendable () -> Void) async -> StreamEnd {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Self.bytes(request.key)
        if request.prefix { create.rangeEnd = request.key.isEmpty ? Data([0]) : Self.prefixEnd(request.key) }
        create.startRevision = next.withLock { $0 }
        create.progressNotify = request.progressNotify
        create.prevKv = true
        let startRevision = create.startRevision
        let createRequest = Etcdserverpb_WatchRequest.with { $0.createRequest = create }
        let controls = forwarder.attach()
        let position = Position(startRevision)
        do {
            let end = try await Etcdserverpb_Watch.Client(wrapping: client).watch(requestProducer: { writer in
                try await writer.write(createRequest)
                for await message in controls { try await writer.write(message) }
            }, onResponse: { response -> StreamEnd in
                for try await message in response.messages {
                    if message.created {
                        // "Now" becomes a concrete revision, so a resumed stream starts right after it.
                        if startRevision == 0 { position.advance(to: message.header.revision + 1) }
                        created()
                        // Hold the caller until the cancel with the compaction revision arrives.
                        if !startCompacted { startup.resume(.success(())) }
                        continue
                    }
                    if message.canceled {
                        if message.compactRevision > 0 {
                            let error = StoreError.compacted(requested: position.next, compactRevision: message.compactRevision)
                            startup.resume(.failure(error))
                            return .finished(error)
                        }
                        return .broken(StoreError.unavailable("etcd watch on \(endpoint) cancelled: \(message.cancelReason)"))
                    }
                    if message.events.isEmpty {
                        position.advance(to: message.header.revision + 1)
                        continuation.yield(.progress(revision: message.header.revision))
                    } else {
                        startup.resume(.success(()))
                        let events = message.events.map(Self.event)
                        position.advance(to: events.last!.revision + 1)
                        if case .terminated = continuation.yield(.events(events)) { return .finished(nil) }
                    }
                }
                return .broken(StoreError.unavailable("etcd watch stream on \(endpoint) ended"))
            })
            next.withLock { $0 = max($0, position.next) }
            return end
        } catch {
            next.withLock { $0 = max($0, position.next) }
            if Task.isCancelled { return .finished(nil) }
            return .broken(error)
        }
    }

    /// The next revision a watch expects, shared with the response handler.
    private final class Position: Sendable {
        private let value: Mutex<Int64>
        init(_ start: Int64) { value = Mutex(start) }
        var next: Int64 { value.withLock { $0 } }
        func advance(to revision: Int64) { value.withLock { $0 = max($0, revision) } }
    }

    static func event(_ event: Mvccpb_Event) -> StoreEvent {
        StoreEvent(kind: event.type == .delete ? .delete : .put, kv: keyValue(event.kv),
                   previous: event.hasPrevKv ? keyValue(event.prevKv) : nil)
    }

    // MARK: Closing

    public func close() async {
        let (connections, watches) = state.withLock { state -> ([Connection], [Task<Void, Never>]) in
            if state.closed { return ([], []) }
            state.closed = true
            let result = (Array(state.connections.values), Array(state.watchTasks.values))
            state.connections = [:]
            state.watchTasks = [:]
            return result
        }
        for watch in watches { watch.cancel() }
        for connection in connections {
            connection.client.beginGracefulShutdown()
            await connection.runner.value
        }
    }
}

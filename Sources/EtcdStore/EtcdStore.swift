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
        let deadline = ContinuousClock.now + options.failoverBudget
        var lastError: (any Error)?
        var attempt = 0
        while true {
            let index = state.withLock { $0.current }
            do {
                let client = try connection(index)
                return try await body(client, callOptions)
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
        let response = try await withFailover("create \(key)") { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).txn(txn, options: options)
        }
        guard response.succeeded else {
            throw StoreError.conflict(key: key, current: response.responses.first?.responseRange.kvs.first.map(Self.keyValue))
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
        let response = try await withFailover("update \(key)") { client, options in
            try await Etcdserverpb_KV.Client(wrapping: client).txn(txn, options: options)
        }
        guard response.succeeded else {
            guard let current = response.responses.first?.responseRange.kvs.first else { throw StoreError.notFound(key: key) }
            throw StoreError.conflict(key: key, current: Self.keyValue(current))
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

    public func watch(_ request: WatchRequest) async throws(StoreError) -> StoreWatch {
        if request.key.isEmpty && !request.prefix { throw StoreError.invalidArgument("empty key") }
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Self.bytes(request.key)
        if request.prefix { create.rangeEnd = request.key.isEmpty ? Data([0]) : Self.prefixEnd(request.key) }
        create.startRevision = request.startRevision
        create.progressNotify = request.progressNotify
        create.prevKv = true
        let (stream, continuation) = AsyncThrowingStream<WatchMessage, any Error>.makeStream()
        let (requests, requester) = AsyncStream<Etcdserverpb_WatchRequest>.makeStream()
        requester.yield(Etcdserverpb_WatchRequest.with { $0.createRequest = create })

        let index = state.withLock { $0.current }
        let client = try connection(index)
        let endpoint = endpoints[index]
        let startRevision = request.startRevision
        let taskID = state.withLock { state in
            state.nextWatchTask += 1
            return state.nextWatchTask
        }
        do {
            try await withCheckedThrowingContinuation { (started: CheckedContinuation<Void, any Error>) in
                let startup = Startup(started)
                let task = Task { [weak self] in
                    do {
                        try await Etcdserverpb_Watch.Client(wrapping: client).watch(requestProducer: { writer in
                            for await message in requests { try await writer.write(message) }
                        }, onResponse: { response in
                            for try await message in response.messages {
                                if message.created {
                                    startup.resume(.success(()))
                                    continue
                                }
                                if message.canceled {
                                    let error: StoreError = message.compactRevision > 0
                                        ? .compacted(requested: startRevision, compactRevision: message.compactRevision)
                                        : .unavailable("etcd watch on \(endpoint) cancelled: \(message.cancelReason)")
                                    startup.resume(.failure(error))
                                    continuation.finish(throwing: error)
                                    return
                                }
                                if message.events.isEmpty {
                                    continuation.yield(.progress(revision: message.header.revision))
                                } else {
                                    continuation.yield(.events(message.events.map(Self.event)))
                                }
                            }
                        })
                        startup.resume(.failure(StoreError.unavailable("etcd watch on \(endpoint) ended before it was created")))
                        continuation.finish()
                    } catch {
                        let mapped = Self.mapError(error, operation: "watch \(request.key) on \(endpoint)")
                        startup.resume(.failure(mapped))
                        continuation.finish(throwing: mapped)
                    }
                    self?.state.withLock { _ = $0.watchTasks.removeValue(forKey: taskID) }
                }
                state.withLock { $0.watchTasks[taskID] = task }
                continuation.onTermination = { _ in
                    requester.finish()
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
            requestProgress: { requester.yield(Etcdserverpb_WatchRequest.with { $0.progressRequest = Etcdserverpb_WatchProgressRequest() }) },
            cancel: { continuation.finish() })
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

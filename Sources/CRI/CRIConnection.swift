import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOHTTP2
import Synchronization

/// What happened to one of a ``CRIClient``'s HTTP/2 connections to the runtime, for logs and
/// tests. Connections are numbered from 1 per client, in the order they were dialled.
public enum CRIConnectionEvent: Sendable, Equatable, CustomStringConvertible {
    /// A connection to the runtime's socket is up.
    case opened(connection: Int)
    /// The runtime sent GOAWAY: it will take no new streams on this connection.
    case goAwayReceived(connection: Int, code: String, debugData: String)
    /// The client sent GOAWAY: a graceful close, or a protocol violation it saw (the code says).
    case goAwaySent(connection: Int, code: String)
    /// A connection-level error (HTTP/2 protocol or DoS heuristics, socket error); the
    /// connection closes after it and calls in flight on it fail.
    case failed(connection: Int, error: String)
    /// The connection closed, having received `controlFrames` PING and SETTINGS frames.
    case closed(connection: Int, controlFrames: Int)
    /// New calls move to a fresh connection: the current one started `calls` calls within the
    /// last ``CRIConnectionBudget/window``, or a call on it failed because it closed.
    case rotated(calls: Int, reason: String)

    public var description: String {
        switch self {
        case .opened(let connection):
            "CRI connection \(connection) opened"
        case .goAwayReceived(let connection, let code, let debugData):
            "CRI connection \(connection): GOAWAY from the runtime (\(code))" + (debugData.isEmpty ? "" : ": \(debugData)")
        case .goAwaySent(let connection, let code):
            "CRI connection \(connection): GOAWAY sent (\(code))"
        case .failed(let connection, let error):
            "CRI connection \(connection) failed: \(error)"
        case .closed(let connection, let controlFrames):
            "CRI connection \(connection) closed after \(controlFrames) PING/SETTINGS frames from the runtime"
        case .rotated(let calls, let reason):
            "CRI client moves new calls to a new connection after \(calls) calls: \(reason)"
        }
    }
}

/// How many calls one HTTP/2 connection may start within a sliding window before the client
/// sends new calls on a fresh connection.
///
/// Why: containerd's gRPC server (grpc-go) estimates bandwidth-delay product by sending a PING
/// for each request DATA frame that arrives while no such PING is unanswered, that is, up to one
/// PING per call. swift-nio-http2 (1.46) counts every inbound PING and SETTINGS frame against a
/// denial-of-service limit of 200 within 30 s and, past it, closes the connection with
/// ENHANCE_YOUR_CALM; every call in flight then fails with "Stream unexpectedly closed"
/// (docs/kubelet.md). grpc-swift-nio-transport does not expose that limit, so the client keeps
/// each connection under it: at most ``callsPerWindow`` calls start on one connection within
/// ``window`` (two frames per call would still stay under 200).
public struct CRIConnectionBudget: Sendable, Equatable {
    public var callsPerWindow: Int
    public var window: Duration

    /// 90 calls per 30 s: NIO's window, and half its 200 frames less the SETTINGS exchange.
    public static let containerd = CRIConnectionBudget(callsPerWindow: 90, window: .seconds(30))

    public init(callsPerWindow: Int, window: Duration) {
        self.callsPerWindow = max(1, callsPerWindow)
        self.window = window
    }
}

/// The start times of the last ``CRIConnectionBudget/callsPerWindow`` calls on one connection
/// (a ring), to decide whether one more may start there.
struct CallWindow: Sendable {
    let budget: CRIConnectionBudget
    private var starts: [ContinuousClock.Instant] = []
    private var oldest = 0

    init(budget: CRIConnectionBudget) {
        self.budget = budget
    }

    /// The number of calls recorded (at most the budget).
    var count: Int { starts.count }

    /// Records a call starting at `now` and returns true, or returns false without recording
    /// when the budget's number of calls already started within its window before `now`.
    mutating func admit(at now: ContinuousClock.Instant) -> Bool {
        if starts.count < budget.callsPerWindow {
            starts.append(now)
            return true
        }
        if now - starts[oldest] < budget.window { return false }
        starts[oldest] = now
        oldest = (oldest + 1) % starts.count
        return true
    }

    mutating func reset() {
        starts.removeAll(keepingCapacity: true)
        oldest = 0
    }
}

/// One gRPC client (one HTTP/2 connection at a time, re-dialled by grpc-swift after a drop) and
/// the task running its connections.
final class RuntimeConnection: Sendable {
    let generation: Int
    let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    let runtime: Runtime_V1_RuntimeService.Client<HTTP2ClientTransport.Posix>
    let image: Runtime_V1_ImageService.Client<HTTP2ClientTransport.Posix>
    let connections: Task<Void, Never>
    private let ended: Flag

    /// Whether the connection task has ended (after ``GRPCClient/beginGracefulShutdown()`` and
    /// the last call on it).
    var isDone: Bool { ended.isSet }

    /// Makes the transport and starts its connection task, which dials on the first call.
    init(generation: Int, path: String, numbering: ConnectionNumbers, events: (@Sendable (CRIConnectionEvent) -> Void)?) throws {
        self.generation = generation
        let config = HTTP2ClientTransport.Posix.Config.defaults { config in
            guard let events else { return }
            config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                let connection = numbering.next()
                return channel.eventLoop.makeCompletedFuture {
                    let http2 = try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self)
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionObserver(connection: connection, report: events), position: .after(http2))
                    events(.opened(connection: connection))
                }
            }
        }
        // The authority is sent as :authority; containerd ignores it but HTTP/2 needs one.
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: path, authority: "localhost"),
            transportSecurity: .plaintext, config: config)
        let grpc = GRPCClient(transport: transport)
        self.grpc = grpc
        self.runtime = Runtime_V1_RuntimeService.Client(wrapping: grpc)
        self.image = Runtime_V1_ImageService.Client(wrapping: grpc)
        let ended = Flag()
        self.ended = ended
        // runConnections throws only when the transport fails for good; each call then reports
        // its own error, so there is nothing more to do with this one.
        self.connections = Task {
            try? await grpc.runConnections()
            ended.set()
        }
    }
}

final class Flag: Sendable {
    private let value = Atomic(false)

    var isSet: Bool { value.load(ordering: .acquiring) }

    func set() {
        value.store(true, ordering: .releasing)
    }
}

/// Numbers a client's connections, shared by reference with its transports' callbacks.
final class ConnectionNumbers: Sendable {
    private let value = Mutex<Int>(0)

    func next() -> Int {
        value.withLock { value in
            value += 1
            return value
        }
    }
}

/// Sits right after NIO's HTTP/2 handler on a connection channel and reports connection-level
/// frames and errors (the handlers after it do not pass errors on).
private final class ConnectionObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let connection: Int
    private let report: @Sendable (CRIConnectionEvent) -> Void
    /// Touched on the channel's event loop only.
    private var controlFrames = 0

    init(connection: Int, report: @Sendable @escaping (CRIConnectionEvent) -> Void) {
        self.connection = connection
        self.report = report
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data).payload {
        case .goAway(_, let code, let debugData):
            report(.goAwayReceived(connection: connection, code: "\(code)", debugData: debugData.map { String(buffer: $0) } ?? ""))
        case .ping, .settings:
            controlFrames += 1
        default:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .goAway(_, let code, _) = unwrapOutboundIn(data).payload {
            report(.goAwaySent(connection: connection, code: "\(code)"))
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream errors end one stream only; NIO passes them down the connection too.
        if !(error is NIOHTTP2Errors.StreamError) {
            report(.failed(connection: connection, error: "\(type(of: error)): \(error)"))
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        report(.closed(connection: connection, controlFrames: controlFrames))
        context.fireChannelInactive()
    }
}

/// A client's connections: the current one, which takes new calls within its budget, and the
/// retired ones still finishing calls. Thread-safe.
final class ConnectionPool: Sendable {
    private struct State {
        var current: RuntimeConnection
        var window: CallWindow
        var retired: [RuntimeConnection] = []
        var nextGeneration = 2
        var shutDown = false
    }

    private let path: String
    private let budget: CRIConnectionBudget
    private let events: (@Sendable (CRIConnectionEvent) -> Void)?
    private let numbering = ConnectionNumbers()
    private let state: Mutex<State>

    init(path: String, budget: CRIConnectionBudget, events: (@Sendable (CRIConnectionEvent) -> Void)?) throws {
        self.path = path
        self.budget = budget
        self.events = events
        let first = try RuntimeConnection(generation: 1, path: path, numbering: numbering, events: events)
        state = Mutex(State(current: first, window: CallWindow(budget: budget)))
    }

    /// The connection for a call starting at `now`; opens a fresh one when the current one has
    /// used its budget. After ``shutDown()`` it returns the (closing) current connection, whose
    /// calls then fail.
    func lease(now: ContinuousClock.Instant = .now) -> RuntimeConnection {
        var old: RuntimeConnection?
        let connection = state.withLock { state in
            if state.shutDown || state.window.admit(at: now) { return state.current }
            // A transport that was made once is made again; should it fail, stay.
            old = replace(&state)
            if old != nil {
                state.window.reset()
                _ = state.window.admit(at: now)
            }
            return state.current
        }
        if let old {
            events?(.rotated(calls: budget.callsPerWindow,
                             reason: "one connection takes at most \(budget.callsPerWindow) calls per \(budget.window.formattedSeconds)"))
            old.grpc.beginGracefulShutdown()
        }
        return connection
    }

    /// Moves new calls off `connection`, whose connection closed under a call, unless that
    /// happened already.
    func retire(_ connection: RuntimeConnection, reason: String) {
        let old: RuntimeConnection? = state.withLock { state in
            guard !state.shutDown, state.current === connection, let old = replace(&state) else { return nil }
            state.window.reset()
            return old
        }
        if let old {
            events?(.rotated(calls: 0, reason: "a call failed: \(reason)"))
            old.grpc.beginGracefulShutdown()
        }
    }

    /// Marks the pool shut down and returns every connection (current and retired) to close.
    func shutDown() -> [RuntimeConnection] {
        state.withLock { state in
            state.shutDown = true
            return [state.current] + state.retired
        }
    }

    var isShutDown: Bool { state.withLock { $0.shutDown } }

    /// Makes a new current connection and files the old one under `retired` (dropping retired
    /// ones that have ended); returns the old one, or nil if the transport cannot be made.
    private func replace(_ state: inout State) -> RuntimeConnection? {
        guard let fresh = try? RuntimeConnection(generation: state.nextGeneration, path: path, numbering: numbering, events: events)
        else { return nil }
        state.nextGeneration += 1
        let old = state.current
        state.retired.removeAll { $0.isDone }
        state.retired.append(old)
        state.current = fresh
        return old
    }
}

/// An API server in the same process, reached without a socket. A request goes to the server's
/// own handler, so it is authorized, admitted, stored and watched as any client's request is;
/// only TLS, HTTP/1.1 framing and loopback TCP are left out. `nodekit server` gives its control
/// plane (the scheduler, the controllers and the local node agent) such a client to its own API
/// server; `HTTPKubeClient(config:inProcess:)` speaks through it.
///
/// The contract is HTTP's: a method, a request target (path and query, escaped as on the wire),
/// headers and a body in; a status code, headers and a whole or streamed body out.
public protocol InProcessAPI: Sendable {
    /// Never throws: failures are answered as the server answers them over HTTP (a Status).
    func respond(to request: InProcessRequest) async -> InProcessResponse
}

public struct InProcessRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String, uri: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
    }
}

public struct InProcessResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// The chunks of a watch or a log as the server produces them. The consumer that stops
        /// iterating (or is cancelled) ends the server's side, as closing a connection would.
        case stream(AsyncStream<[UInt8]>)
    }

    public var status: Int
    public var headers: [(String, String)]
    public var body: Body

    public init(status: Int, headers: [(String, String)], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

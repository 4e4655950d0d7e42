import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Runs a command in a running container and waits for it, for exec probes. The kubelet
/// implements it with CRI `ExecSync`; tests use a fake.
public protocol ProbeExecutor: Sendable {
    /// Runs `command` in `containerID`, giving up after `timeout`. Throws when the runtime cannot
    /// run it (the probe's result is then unknown); a non-zero exit is not an error.
    func execSync(containerID: String, command: [String], timeout: Duration) async throws -> (exitCode: Int32, output: String)
}

/// The result of one probe run and what was seen on the way, for logs and `nodectl probe`.
public struct ProbeOutcome: Sendable, Hashable {
    public var result: ProbeResult
    /// One line saying why: upstream's probe messages, e.g. `HTTP probe failed with statuscode: 503`.
    public var message: String
    /// The HTTP status code, for HTTP probes that got a response.
    public var statusCode: Int?
    /// The exit code, for exec probes that ran.
    public var exitCode: Int32?
    /// The command's output or the start of the HTTP body (at most 10 KiB).
    public var output: String
    public var elapsed: Duration

    public init(result: ProbeResult, message: String, statusCode: Int? = nil, exitCode: Int32? = nil, output: String = "", elapsed: Duration = .zero) {
        self.result = result
        self.message = message
        self.statusCode = statusCode
        self.exitCode = exitCode
        self.output = output
        self.elapsed = elapsed
    }
}

/// Runs probes. Safe to share: it holds only the event loop group and the exec runner.
///
/// Every run finishes within the probe's timeout (plus scheduling slack): a target that does
/// not answer is a failure, never a hang.
public struct Prober: Sendable {
    let executor: (any ProbeExecutor)?
    let group: any EventLoopGroup
    /// Upstream reads at most 10 KiB of an HTTP probe's body.
    static let maxBody = 10 * 1024
    static let maxRedirects = 10

    public init(executor: (any ProbeExecutor)?, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.executor = executor
        self.group = group
    }

    /// Runs `target` once. `containerID` is used by exec probes.
    public func run(_ target: ProbeTarget, containerID: String = "", timeout: Duration) async -> ProbeOutcome {
        let start = ContinuousClock.now
        var outcome: ProbeOutcome
        switch target {
        case .exec(let command):
            outcome = await runExec(command, containerID: containerID, timeout: timeout)
        case .http(let scheme, let host, let port, let path, let headers):
            outcome = await runHTTP(scheme: scheme, host: host, port: port, path: path, headers: headers, timeout: timeout)
        case .tcp(let host, let port):
            outcome = await runTCP(host: host, port: port, timeout: timeout)
        case .grpc(let host, let port, let service):
            outcome = await GRPCHealthProbe.check(host: host, port: port, service: service, timeout: timeout)
        }
        outcome.elapsed = ContinuousClock.now - start
        return outcome
    }

    func runExec(_ command: [String], containerID: String, timeout: Duration) async -> ProbeOutcome {
        guard let executor else { return ProbeOutcome(result: .unknown, message: "exec probes need a container runtime") }
        do {
            let (code, output) = try await executor.execSync(containerID: containerID, command: command, timeout: timeout)
            if code == 0 { return ProbeOutcome(result: .success, message: "command succeeded", exitCode: 0, output: output) }
            return ProbeOutcome(result: .failure, message: "command \(Self.quote(command)) exited with \(code)", exitCode: code, output: output)
        } catch {
            return ProbeOutcome(result: .unknown, message: "exec probe could not run: \(error)")
        }
    }

    func runTCP(host: String, port: Int, timeout: Duration) async -> ProbeOutcome {
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return ProbeOutcome(result: .success, message: "connected to \(ProbeTarget.hostPort(host, port))")
        } catch {
            return ProbeOutcome(result: .failure, message: "dial tcp \(ProbeTarget.hostPort(host, port)): \(Self.describe(error))")
        }
    }

    func runHTTP(scheme: String, host: String, port: Int, path: String, headers: [(String, String)], timeout: Duration) async -> ProbeOutcome {
        var target = (host: host, port: port, path: path, tls: scheme == "HTTPS")
        let deadline = ContinuousClock.now + timeout
        for _ in 0...Self.maxRedirects {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            let response: HTTPProbeResponse
            let current = target
            do {
                response = try await withTimeout(remaining) { [group] in
                    try await HTTPProbeResponse.fetch(group: group, host: current.host, port: current.port, path: current.path, tls: current.tls, headers: headers)
                }
            } catch is TimeoutError {
                return ProbeOutcome(result: .failure, message: "Get \"\(Self.url(target)) \": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
            } catch {
                return ProbeOutcome(result: .failure, message: "Get \"\(Self.url(target))\": \(Self.describe(error))")
            }
            if (300..<400).contains(response.status), let location = response.location, let next = Self.redirect(from: target, to: location) {
                if next.host != target.host {
                    // Upstream stops at a redirect to another host and reports success with a warning.
                    return ProbeOutcome(result: .success, message: "Probe terminated redirects, Response body: \(response.body)", statusCode: response.status, output: response.body)
                }
                target = next
                continue
            }
            if (200..<400).contains(response.status) {
                return ProbeOutcome(result: .success, message: "HTTP probe succeeded with statuscode: \(response.status)", statusCode: response.status, output: response.body)
            }
            return ProbeOutcome(result: .failure, message: "HTTP probe failed with statuscode: \(response.status)", statusCode: response.status, output: response.body)
        }
        return ProbeOutcome(result: .failure, message: "Get \"\(Self.url(target))\": stopped after \(Self.maxRedirects) redirects or the timeout")
    }

    static func url(_ t: (host: String, port: Int, path: String, tls: Bool)) -> String {
        "\(t.tls ? "https" : "http")://\(ProbeTarget.hostPort(t.host, t.port))\(t.path)"
    }

    static func redirect(from t: (host: String, port: Int, path: String, tls: Bool), to location: String) -> (host: String, port: Int, path: String, tls: Bool)? {
        if location.hasPrefix("/") { return (t.host, t.port, location, t.tls) }
        guard let url = URL(string: location), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = url.host else { return nil }
        let tls = scheme == "https"
        let path = url.path.isEmpty ? "/" : url.path + (url.query.map { "?" + $0 } ?? "")
        return (host, url.port ?? (tls ? 443 : 80), path, tls)
    }

    static func quote(_ command: [String]) -> String { "[" + command.joined(separator: " ") + "]" }

    static func describe(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError, let first = e.connectionErrors.first { return describe(first.error) }
        if let e = error as? IOError { return "connect: \(String(cString: strerror(e.errnoCode)).lowercased())" }
        if error is ChannelError, case .connectTimeout = error as! ChannelError { return "i/o timeout" }
        return "\(error)"
    }
}

struct TimeoutError: Error {}

/// Runs `body`, cancelling it and throwing ``TimeoutError`` after `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimeoutError()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// One HTTP/1.1 GET with `Connection: close`, reading the status, Location and up to 10 KiB.
struct HTTPProbeResponse: Sendable {
    var status: Int
    var location: String?
    var body: String

    static func fetch(group: any EventLoopGroup, host: String, port: Int, path: String, tls: Bool, headers: [(String, String)]) async throws -> HTTPProbeResponse {
        let sslContext: NIOSSLContext? = try tls ? {
            var config = TLSConfiguration.makeClientConfiguration()
            // Upstream's HTTPS probes do not verify the serving certificate.
            config.certificateVerification = .none
            return try NIOSSLContext(configuration: config)
        }() : nil
        let channel = try await ClientBootstrap(group: group).connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let sslContext {
                    let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: nil)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
            head.headers.add(name: "Host", value: ProbeTarget.hostPort(host, port))
            for (name, value) in headers { head.headers.replaceOrAdd(name: name, value: value) }
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            // Head and end in one write: a server that answers on the head and closes at once
            // (busybox httpd) would otherwise close the channel before a second write, and a
            // healthy container would fail its probe ("I/O on closed channel") under load.
            try await outbound.write(contentsOf: [.head(head), .end(nil)])
            var response = HTTPProbeResponse(status: 0, location: nil, body: "")
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    response.status = Int(h.status.code)
                    response.location = h.headers.first(name: "Location")
                case .body(var chunk):
                    let room = Prober.maxBody - body.readableBytes
                    if room > 0, let slice = chunk.readSlice(length: min(room, chunk.readableBytes)) { body.writeImmutableBuffer(slice) }
                case .end:
                    response.body = String(buffer: body)
                    return response
                }
            }
            response.body = String(buffer: body)
            return response
        }
    }
}

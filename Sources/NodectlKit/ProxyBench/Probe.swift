import LinuxSystem
import NIOCore
import NIOPosix

/// Data-path latency: real TCP connects from the client namespace to ClusterIPs, answered by
/// one listener in the server namespace.
///
/// NIO creates a socket on the thread that calls `bind(to:)`/`connect(to:)`, so calling them inside
/// ``NetworkNamespace/run(_:)`` puts the socket in that namespace; the event loop then serves it
/// from any thread.
final class ProxyBenchProbe {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var listener: Channel?

    /// Listens on 0.0.0.0:`port` in `namespace`, accepting and closing every connection.
    func listen(in namespace: NetworkNamespace, port: Int) throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in channel.close() }
        let address = try SocketAddress(ipAddress: "0.0.0.0", port: port)
        listener = try namespace.run { try bootstrap.bind(to: address).wait() }
    }

    /// Connects to `host:port` from `namespace` and returns the time from the connect call to an
    /// established connection (SYN, SYN-ACK, ACK: the first packet's round trip through the rules).
    func connect(from namespace: NetworkNamespace, host: String, port: Int, timeout: TimeAmount = .seconds(2)) throws -> Duration {
        let bootstrap = ClientBootstrap(group: group).connectTimeout(timeout)
        // A literal address: connect(host:) would resolve first and create the socket later on
        // the event loop thread, outside the namespace.
        let address = try SocketAddress(ipAddress: host, port: port)
        return try namespace.run {
            let clock = ContinuousClock()
            let start = clock.now
            let channel = try bootstrap.connect(to: address).wait()
            let elapsed = clock.now - start
            try? channel.close().wait()
            return elapsed
        }
    }

    /// `count` connects to targets drawn by `target`; the p50 and p99 in microseconds and the
    /// number of failed connects.
    func measure(from namespace: NetworkNamespace, count: Int, port: Int, target: () -> String) -> (p50: Double, p99: Double, failures: Int, firstError: String?) {
        var samples: [Double] = []
        var failures = 0
        var firstError: String?
        for _ in 0..<count {
            do { samples.append(try connect(from: namespace, host: target(), port: port).seconds * 1e6) } catch {
                failures += 1
                if firstError == nil { firstError = "\(error)" }
            }
        }
        samples.sort()
        func quantile(_ q: Double) -> Double {
            samples.isEmpty ? .nan : samples[min(samples.count - 1, Int((Double(samples.count) * q).rounded(.up)) - 1)]
        }
        return (quantile(0.5), quantile(0.99), failures, firstError)
    }

    func shutdown() {
        try? listener?.close().wait()
        try? group.syncShutdownGracefully()
    }
}

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
        try namespace.run { try connectHere(host: host, port: port, timeout: timeout) }
    }

    /// ``connect(from:host:port:timeout:)`` from the calling thread's namespace.
    private func connectHere(host: String, port: Int, timeout: TimeAmount = .seconds(2)) throws -> Duration {
        let bootstrap = ClientBootstrap(group: group).connectTimeout(timeout)
        // A literal address: connect(host:) would resolve first and create the socket later on
        // the event loop thread, outside the namespace.
        let address = try SocketAddress(ipAddress: host, port: port)
        let clock = ContinuousClock()
        let start = clock.now
        let channel = try bootstrap.connect(to: address).wait()
        let elapsed = clock.now - start
        try? channel.close().wait()
        return elapsed
    }

    /// `count` connects to targets drawn by `target`; the p50 and p99 in microseconds and the
    /// number of failed connects. All of them run on one thread that enters the namespace once
    /// (a thread and a setns per connect added their own jitter to every sample).
    func measure(from namespace: NetworkNamespace, count: Int, port: Int, target: () -> String) -> Quantiles {
        var samples = Samples()
        do {
            try namespace.run { for _ in 0..<count { samples.add { try connectHere(host: target(), port: port) } } }
        } catch {
            samples.fail(error)
        }
        return samples.quantiles
    }

    /// `count` connects to Service targets interleaved one by one with `count` connects to
    /// endpoint addresses straight (the floor: the same namespaces, veths and probe, no DNAT),
    /// so that load on the machine during the run weighs on both alike.
    func measurePaired(from namespace: NetworkNamespace, count: Int, port: Int, target: () -> String,
                       floorPort: Int, floorTarget: () -> String) -> (service: Quantiles, floor: Quantiles) {
        var service = Samples()
        var floor = Samples()
        do {
            try namespace.run {
                for _ in 0..<count {
                    service.add { try connectHere(host: target(), port: port) }
                    floor.add { try connectHere(host: floorTarget(), port: floorPort) }
                }
            }
        } catch {
            service.fail(error)
        }
        return (service.quantiles, floor.quantiles)
    }

    typealias Quantiles = (p50: Double, p99: Double, failures: Int, firstError: String?)

    private struct Samples {
        var micros: [Double] = []
        var failures = 0
        var firstError: String?

        mutating func add(_ connect: () throws -> Duration) {
            do { micros.append(try connect().seconds * 1e6) } catch { fail(error) }
        }

        mutating func fail(_ error: any Error) {
            failures += 1
            if firstError == nil { firstError = "\(error)" }
        }

        var quantiles: Quantiles {
            let sorted = micros.sorted()
            func quantile(_ q: Double) -> Double {
                sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)]
            }
            return (quantile(0.5), quantile(0.99), failures, firstError)
        }
    }

    func shutdown() {
        try? listener?.close().wait()
        try? group.syncShutdownGracefully()
    }
}

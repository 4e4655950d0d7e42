#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Delivers SIGINT and SIGTERM to a daemon as events instead of killing it, so it can stop
/// its work and close its store before exiting.
///
/// ``stream()`` sets both signals' disposition to ignore (a dispatch source still sees them:
/// libdispatch reads pending signals itself) and yields each one's name as it arrives. Call it
/// once, early in `main`. The signal sources live as long as the stream; once it ends they are
/// cancelled and both signals stay ignored.
public enum TerminationSignals {
    public static func stream() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        var sources: [any DispatchSourceSignal] = []
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(name) }
            source.resume()
            sources.append(source)
        }
        // Dispatch sources are thread-safe but not marked Sendable; only cancel() is called here.
        nonisolated(unsafe) let owned = sources
        continuation.onTermination = { _ in
            for source in owned { source.cancel() }
        }
        return stream
    }
}

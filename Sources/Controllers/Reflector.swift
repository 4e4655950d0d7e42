import Foundation
import KubeAPI
import KubeClient
import Logging

/// List-then-watch of one kind, delivered to callbacks: the full list after every (re)list,
/// then the watch events in batches. Re-watches from the last seen resourceVersion when a stream ends,
/// and re-lists after an error (410 Gone included), waiting `retryDelay` between failures.
///
/// `run()` returns only when its task is cancelled. The callbacks are awaited in order, one
/// at a time.
struct Reflector<T: KubeObject>: Sendable {
    let client: any KubeAPIClient
    let namespace: String?
    let logger: Logger
    var retryDelay: Duration = .seconds(1)
    /// Watch requests ask the server to end the stream after this long, so a half-open
    /// connection cannot stall the reflector forever.
    var watchTimeoutSeconds = 300

    /// Delivers the list, then the watch events that arrived together in one call (in order,
    /// never empty, bookmarks left out), so a consumer on an actor makes one hop per batch.
    func run(listed: @Sendable ([T]) async -> Void, events: @Sendable ([WatchEvent<T>]) async -> Void) async {
        while !Task.isCancelled {
            var version: String?
            do {
                let list = try await client.list(T.self, namespace: namespace, options: ListOptions())
                version = list.metadata.resourceVersion
                await listed(list.items)
                while !Task.isCancelled {
                    let stream = try await client.watchBatches(T.self, namespace: namespace, options: ListOptions(resourceVersion: version, timeoutSeconds: watchTimeoutSeconds, allowWatchBookmarks: true))
                    for try await batch in stream {
                        // One pass, no key path (a key path literal is instantiated on each use
                        // in generic code) and no copy unless a bookmark is to be left out.
                        var bookmarks = 0
                        for event in batch {
                            if let rv = event.resourceVersion { version = rv }
                            if case .bookmark = event { bookmarks += 1 }
                        }
                        if bookmarks == batch.count { continue }
                        await events(bookmarks == 0 ? batch : batch.filter { if case .bookmark = $0 { false } else { true } })
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("list/watch failed; re-listing", metadata: ["kind": "\(T.kind)", "error": "\(error)"])
                try? await Task.sleep(for: retryDelay)
            }
        }
    }
}

import APIServer
import Foundation
import Logging
import ProcessAllocator

/// What `nodekit server` and `nodekit apiserver` set up for the whole process before anything
/// else runs: mimalloc on 2 MiB pages, and where Swift concurrency's jobs run
/// (`NODEKIT_EXECUTOR`). Returns the start-up log line's metadata naming both.
func prepareControlPlaneProcess() throws -> Logger.Metadata {
    ProcessAllocator.preferLargePages()
    let executor = try EventLoopExecutor.install(environment: ProcessInfo.processInfo.environment)
    return ["allocator": "\(ProcessAllocator.description)", "executor": "\(executor)"]
}

import APIServer
import Foundation
import KubeClient
import Store
import Testing
import TestSupport

/// An API server running in process on loopback, as ``withLoopbackAPIServer(plainHTTP:watch:_:)``
/// gives it to its body.
struct LoopbackAPIServer {
    let server: APIServer
    let configuration: APIServerConfiguration
    /// The ports it listens on (port 0 asked for, so these are the ones the kernel chose).
    let endpoints: APIServerEndpoints

    /// The admin kubeconfig the server wrote (HTTPS on `endpoints.securePort`).
    var kubeconfigPath: String { configuration.kubeconfigPath }
}

/// Starts an API server on 127.0.0.1 for the client tests: HTTPS on a port the kernel chooses,
/// with `plainHTTP` also plain HTTP on another (`endpoints.insecurePort`), an in-memory store and
/// a temporary data directory, and `watch` as its watch settings (the server's defaults when
/// nil). Runs `body`, then stops the server, closes the store and removes the directory, also
/// when `body` throws; stopping must take under 30 s (it closes open connections, a watch among
/// them, instead of waiting for them). A server that does not start is an error, not a hang.
func withLoopbackAPIServer(plainHTTP: Bool = false, watch: WatchSettings? = nil,
                           _ body: (LoopbackAPIServer) async throws -> Void) async throws {
    let directory = NSTemporaryDirectory() + "nk-kubeclient-\(Host.runSuffix)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var configuration = APIServerConfiguration(dataDirectory: directory)
    configuration.bindAddress = "127.0.0.1"
    configuration.securePort = 0
    if plainHTTP { configuration.insecurePort = 0 }
    if let watch { configuration.watch = watch }
    let store = LocalStore.inMemory()
    let server = try APIServer(store: store, configuration: configuration)
    try await server.bootstrap()
    let (announced, listening) = AsyncStream<APIServerEndpoints>.makeStream()
    let serving = Task { try await server.run { listening.yield($0); listening.finish() } }
    var endpoints: APIServerEndpoints?
    for await bound in announced { endpoints = bound }
    func stop() async {
        serving.cancel()
        _ = try? await serving.value
        await store.close()
    }
    guard let endpoints else {
        await stop()
        throw KubeClientError(code: 0, reason: "Transport", message: "the in-process API server did not start")
    }
    do {
        try await body(LoopbackAPIServer(server: server, configuration: configuration, endpoints: endpoints))
    } catch {
        await stop()
        throw error
    }
    let start = ContinuousClock.now
    await stop()
    #expect(ContinuousClock.now - start < .seconds(30), "stopping the API server took \(ContinuousClock.now - start)")
}

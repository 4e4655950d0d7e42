import APIServer
import Foundation
import KubeAPI
import KubeClient
import Store
import Testing

/// What only the in-process client has to get right beyond the shared cases in
/// ``RealAPIServerTests`` (which run over both transports): the server's body limit, who the
/// requests are made as, and a watch whose consumer goes away.
@Suite struct InProcessClientTests {
    @Test func requestsAreMadeAsTheAdminWithoutCredentials() async throws {
        try await RealAPIServerTests().withServer(.inProcess) { server, client in
            // No token and no certificate travel in process; the endpoint names the user.
            let namespaces = try await client.list(Namespace.self, namespace: nil).items.compactMap(\.metadata.name)
            #expect(namespaces.contains("default"))
            // The same configuration without its client certificate, over HTTPS, is refused.
            let admin = try Kubeconfig.load(path: server.configuration.kubeconfigPath)
            let anonymous = try HTTPKubeClient(config: KubeClientConfig(server: admin.server, tls: TLSMaterial(caPEM: admin.tls.caPEM)))
            do {
                _ = try await anonymous.list(Namespace.self, namespace: nil)
                Issue.record("a request without credentials was served over HTTPS")
            } catch let error as KubeClientError {
                #expect(error.code == 401, "anonymous list: \(error)")
            }
            await anonymous.shutdown()
        }
    }

    @Test func aBodyOverTheServersLimitIsRefusedAndTheServerGoesOn() async throws {
        try await RealAPIServerTests().withServer(.inProcess) { server, client in
            let limit = server.configuration.maxBodyBytes
            let big = ConfigMap(metadata: ObjectMeta(name: "big", namespace: "default"), data: ["k": String(repeating: "x", count: limit + 1)])
            do {
                _ = try await client.create(big)
                Issue.record("a body over \(limit) bytes was accepted")
            } catch let error as KubeClientError {
                #expect(error.code == 413, "oversized create: \(error)")
            }
            #expect(try await client.create(ConfigMap(metadata: ObjectMeta(name: "small", namespace: "default"))).metadata.uid != nil)
            do {
                _ = try await client.get(ConfigMap.self, namespace: "default", name: "big")
                Issue.record("the refused object was stored")
            } catch let error as KubeClientError {
                #expect(error.isNotFound, "get of the refused object: \(error)")
            }
        }
    }

    @Test func cancellingTheConsumerEndsTheServersWatch() async throws {
        try await RealAPIServerTests().withServer(.inProcess) { server, client in
            let store = try #require(server.store as? LocalStore)
            let before = store.statistics().watchers
            let (seen, sink) = AsyncStream.makeStream(of: String.self)
            let consumer = Task {
                let stream = try await client.watch(ConfigMap.self, namespace: "default", options: ListOptions(resourceVersion: "0"))
                for try await event in stream {
                    if case .added(let object) = event { sink.yield(object.metadata.name ?? "") }
                }
            }
            _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "w", namespace: "default")))
            let first = try await within(.seconds(10), "the watch's first event") {
                var iterator = seen.makeAsyncIterator()
                return await iterator.next()
            }
            #expect(first == "w")
            #expect(store.statistics().watchers == before + 1)
            consumer.cancel()
            try await within(.seconds(10), "the server's watch to end") {
                while store.statistics().watchers > before { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(store.statistics().watchers == before)
        }
    }
}

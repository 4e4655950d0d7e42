import Foundation
import KubeAPI
import Testing
@testable import APIServer

/// Patches race with other writes: one without a resourceVersion is applied again to the new
/// object (upstream's patcher retries), one naming a stale resourceVersion is 409.
@Suite struct PatchConflictTests {
    @Test func concurrentPatchesWithoutAResourceVersionAllApply() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        #expect(try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("shared")).code == 201)
        let writers = 16
        let codes = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<writers {
                group.addTask {
                    try await s.call("PATCH", "/api/v1/namespaces/default/configmaps/shared", body: Data(#"{"metadata":{"labels":{"w\#(i)":"x"}}}"#.utf8),
                                     contentType: "application/merge-patch+json").code
                }
            }
            var codes: [Int] = []
            for try await code in group { codes.append(code) }
            return codes
        }
        #expect(codes == Array(repeating: 200, count: writers))
        let labels = try await s.call("GET", "/api/v1/namespaces/default/configmaps/shared").json[p: "metadata.labels"]?.objectValue ?? [:]
        #expect(Set(labels.keys) == Set((0..<writers).map { "w\($0)" }))
    }

    @Test func aPatchNamingAStaleResourceVersionIsAConflict() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let created = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("pinned"))
        let stale = try #require(created.json[p: "metadata.resourceVersion"]?.stringValue)
        #expect(try await s.call("PATCH", "/api/v1/namespaces/default/configmaps/pinned", body: Data(#"{"data":{"k":"2"}}"#.utf8),
                                 contentType: "application/merge-patch+json").code == 200)
        let conflict = try await s.call("PATCH", "/api/v1/namespaces/default/configmaps/pinned",
                                        body: Data(#"{"metadata":{"resourceVersion":"\#(stale)"},"data":{"k":"3"}}"#.utf8),
                                        contentType: "application/merge-patch+json")
        #expect(conflict.code == 409)
        #expect(conflict.json["reason"]?.stringValue == "Conflict")
        let current = try await s.call("GET", "/api/v1/namespaces/default/configmaps/pinned")
        #expect(current.json[p: "data.k"]?.stringValue == "2")
    }
}

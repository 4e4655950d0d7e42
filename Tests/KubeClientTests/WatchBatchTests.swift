import KubeAPI
import NIOCore
import Testing
@testable import KubeClient

/// Watch events delivered in batches: one batch per chunk of the body that completes lines.
@Suite struct WatchBatchTests {
    static func event(_ type: String, _ name: String, _ rv: Int) -> String {
        #"{"type":"\#(type)","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"\#(name)","resourceVersion":"\#(rv)"}}}"# + "\n"
    }

    static func body(_ chunks: [String], failing: (any Error)? = nil) -> AsyncThrowingStream<ResponseEvent, any Error> {
        AsyncThrowingStream { continuation in
            for chunk in chunks { continuation.yield(.body(ByteBuffer(string: chunk))) }
            continuation.yield(.end)
            continuation.finish(throwing: failing)
        }
    }

    static func names(_ batch: [WatchEvent<ConfigMap>]) -> [String] {
        batch.map { e in
            switch e {
            case .added(let c), .modified(let c), .deleted(let c): c.metadata.name ?? "?"
            case .bookmark: "bookmark"
            }
        }
    }

    @Test func eventsThatArriveTogetherComeAsOneBatch() async throws {
        let a = Self.event("ADDED", "a", 5), b = Self.event("MODIFIED", "b", 6), c = Self.event("DELETED", "c", 7)
        // The first chunk completes a and b and starts c; the second completes c; a blank
        // keep-alive line completes nothing.
        let split = c.index(c.startIndex, offsetBy: 20)
        let chunks = [a + b + String(c[..<split]), String(c[split...]), "\n"]
        var batches: [[String]] = []
        for try await batch in WatchDecoder.eventBatches(ConfigMap.self, from: Self.body(chunks)) {
            batches.append(Self.names(batch))
        }
        #expect(batches == [["a", "b"], ["c"]])
    }

    @Test func perEventStreamKeepsOrderAcrossChunks() async throws {
        let a = Self.event("ADDED", "a", 5), b = Self.event("ADDED", "b", 6)
        let split = b.index(b.startIndex, offsetBy: 7)
        var names: [String] = []
        for try await event in WatchDecoder.events(ConfigMap.self, from: Self.body([a + String(b[..<split]), String(b[split...].dropLast())])) {
            names += Self.names([event])
        }
        // The last line has no newline: it is still delivered when the body ends.
        #expect(names == ["a", "b"])
    }

    @Test func anErrorEventEndsTheBatchStreamWithItsStatus() async throws {
        let error = #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (50)","reason":"Expired","code":410}}"# + "\n"
        var delivered: [[String]] = []
        await #expect(throws: KubeClientError.self) {
            for try await batch in WatchDecoder.eventBatches(ConfigMap.self, from: Self.body([Self.event("ADDED", "a", 5), error])) {
                delivered.append(Self.names(batch))
            }
        }
        #expect(delivered == [["a"]])
    }
}

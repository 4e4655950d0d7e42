import Foundation
import KubeAPI
import NIOCore
import NIOHTTP1
import Testing
@testable import KubeClient

@Suite struct RequestBuildingTests {
    @Test func listQueryCarriesSelectorsAndPaging() throws {
        let options = ListOptions(labelSelector: "app=web,tier in (a,b)", fieldSelector: "spec.nodeName=n1", resourceVersion: "0",
                                  limit: 500, continueToken: "tok/=", timeoutSeconds: 30)
        let r = RequestBuilder.request(.GET, try RequestBuilder.path(Pod.self, namespace: nil), query: RequestBuilder.query(options, watch: false))
        #expect(r.uri == "/api/v1/pods?labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1&resourceVersion=0&limit=500&continue=tok%2F%3D&timeoutSeconds=30")
        #expect(r.body == nil)
        #expect(!r.headers.contains { $0.0 == "Content-Type" })
    }

    @Test func watchQueryDropsListOnlyParameters() throws {
        let options = ListOptions(resourceVersion: "42", resourceVersionMatch: "NotOlderThan", limit: 10, allowWatchBookmarks: true)
        let q = RequestBuilder.query(options, watch: true)
        #expect(q.map { "\($0.0)=\($0.1)" } == ["watch=true", "resourceVersion=42", "allowWatchBookmarks=true"])
    }

    @Test func writeOptionsAndPatchContentType() throws {
        let path = try RequestBuilder.path(Deployment.self, namespace: "default", name: "web", subresource: "status")
        let r = RequestBuilder.request(.PATCH, path, query: RequestBuilder.query(WriteOptions(dryRun: true, fieldManager: "nodekit")),
                                       body: try RequestBuilder.encode(JSONValue.object(["status": .object(["replicas": .number(3)])])),
                                       contentType: PatchKind.merge.rawValue)
        #expect(r.uri == "/apis/apps/v1/namespaces/default/deployments/web/status?dryRun=All&fieldManager=nodekit")
        #expect(r.headers.contains { $0 == ("Content-Type", "application/merge-patch+json") })
        #expect(String(decoding: try #require(r.body), as: UTF8.self) == #"{"status":{"replicas":3}}"#)
    }

    @Test func namespacedObjectNeedsANamespace() {
        #expect(throws: KubeClientError.self) { try RequestBuilder.path(Pod.self, namespace: nil, name: "x") }
        #expect(throws: KubeClientError.self) { try RequestBuilder.path(Node.self, namespace: nil, name: "") }
        #expect((try? RequestBuilder.path(Node.self, namespace: nil, name: "n1")) == "/api/v1/nodes/n1")
    }

    @Test func bodiesOmitUnsetFields() throws {
        let cm = ConfigMap(metadata: ObjectMeta(name: "c", namespace: "d"), data: ["k": "v"])
        let json = String(decoding: try RequestBuilder.encode(cm), as: UTF8.self)
        #expect(!json.contains("null"))
        #expect(json.contains(#""kind":"ConfigMap""#))
        #expect(json.contains(#""apiVersion":"v1""#))
    }
}

@Suite struct ResponseDecodingTests {
    @Test func statusBodyBecomesTheError() {
        let body = ByteBuffer(string: #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#)
        let e = ResponseDecoder.error(status: .notFound, body: body, operation: "GET /api/v1/namespaces/d/pods/x")
        #expect(e.code == 404)
        #expect(e.reason == "NotFound")
        #expect(e.message == "pods \"x\" not found")
        #expect(e.status?.details?.name == "x")
        #expect(e.isNotFound && !e.isConflict && !e.isGone)
    }

    @Test(arguments: [
        (409, "Conflict", true, false, false),
        (409, "AlreadyExists", false, true, false),
        (410, "Expired", false, false, true),
    ])
    func conflictAlreadyExistsAndGoneAreDistinct(code: Int, reason: String, conflict: Bool, exists: Bool, gone: Bool) {
        let body = ByteBuffer(string: #"{"kind":"Status","status":"Failure","reason":"\#(reason)","message":"m","code":\#(code)}"#)
        let e = ResponseDecoder.error(status: HTTPResponseStatus(statusCode: code), body: body, operation: "op")
        #expect(e.isConflict == conflict)
        #expect(e.isAlreadyExists == exists)
        #expect(e.isGone == gone)
    }

    @Test func nonStatusBodyKeepsCodeAndText() {
        let e = ResponseDecoder.error(status: .forbidden, body: ByteBuffer(string: "forbidden: no\n"), operation: "GET /api/v1/nodes")
        #expect(e.code == 403)
        #expect(e.reason == "Forbidden")
        #expect(e.message == "GET /api/v1/nodes: forbidden: no")
        #expect(e.status == nil)
    }

    @Test func decodeFailureNamesTheField() {
        do {
            _ = try ResponseDecoder.decode(Pod.self, from: ByteBuffer(string: #"{"metadata":{"name":"p"},"spec":{}}"#), operation: "GET p")
            Issue.record("decoded a pod without containers")
        } catch {
            #expect(error.reason == "Decode")
            #expect(error.message.contains("spec.containers"), "\(error.message)")
        }
    }

    @Test func listDecodesItemsAndResourceVersion() throws {
        let list = try ResponseDecoder.decode(ObjectList<ConfigMap>.self, from: ByteBuffer(string: #"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"17","continue":"c1"},"items":[{"metadata":{"name":"a","namespace":"d","resourceVersion":"9"},"data":{"x":"y"}}]}"#), operation: "LIST")
        #expect(list.metadata.resourceVersion == "17")
        #expect(list.metadata.continue == "c1")
        #expect(list.items.map(\.metadata.name) == ["a"])
        #expect(list.items[0].data == ["x": "y"])
    }
}

@Suite struct WatchDecodingTests {
    static func lines(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func eventKinds() throws {
        let added = try WatchDecoder.decode(ConfigMap.self, line: Self.lines(#"{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"5"}}}"#))
        guard case .added(let cm) = added else { Issue.record("\(added)"); return }
        #expect(cm.metadata.name == "a")
        #expect(added.resourceVersion == "5")
        let bookmark = try WatchDecoder.decode(Pod.self, line: Self.lines(#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}}"#))
        guard case .bookmark(let rv) = bookmark else { Issue.record("\(bookmark)"); return }
        #expect(rv == "12")
        #expect(bookmark.object == nil)
    }

    @Test func errorEventThrowsItsStatus() {
        do {
            _ = try WatchDecoder.decode(Pod.self, line: Self.lines(#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (50)","reason":"Expired","code":410}}"#))
            Issue.record("an ERROR event must throw")
        } catch {
            #expect(error.isGone)
            #expect(error.message.contains("too old"))
        }
    }

    @Test func garbageLineIsADecodeError() {
        #expect(throws: KubeClientError.self) { try WatchDecoder.decode(Pod.self, line: Self.lines("not json")) }
        #expect(throws: KubeClientError.self) { try WatchDecoder.decode(Pod.self, line: Self.lines(#"{"type":"WHAT","object":{}}"#)) }
    }

    @Test func eventsSplitAcrossChunksAreReassembled() async throws {
        let text = #"{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}"# + "\n" +
            #"{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"},"data":{"k":"v"}}}"# + "\n" +
            #"{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"3"}}}"# + "\n"
        let bytes = Array(text.utf8)
        let (body, c) = AsyncThrowingStream<ResponseEvent, any Error>.makeStream()
        // Chunk boundaries in the middle of events and of multi-byte sequences.
        var i = 0
        for size in [7, 60, 1, 90, 300] where i < bytes.count {
            let end = min(bytes.count, i + size)
            c.yield(.body(ByteBuffer(bytes: bytes[i..<end])))
            i = end
        }
        c.yield(.end)
        c.finish()
        var seen: [String] = []
        for try await e in WatchDecoder.events(ConfigMap.self, from: body) {
            switch e {
            case .added(let o): seen.append("ADDED \(o.metadata.resourceVersion ?? "")")
            case .modified(let o): seen.append("MODIFIED \(o.metadata.resourceVersion ?? "") \(o.data?["k"] ?? "")")
            case .deleted(let o): seen.append("DELETED \(o.metadata.resourceVersion ?? "")")
            case .bookmark(let rv): seen.append("BOOKMARK \(rv)")
            }
        }
        #expect(seen == ["ADDED 1", "MODIFIED 2 v", "DELETED 3"])
    }
}

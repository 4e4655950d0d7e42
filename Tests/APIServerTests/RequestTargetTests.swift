import Foundation
import Testing
@testable import APIServer

/// The request-target parser gives what the URLComponents parser gave, and declines (so the
/// old parser runs) whatever it does not handle itself.
@Suite struct RequestTargetTests {
    static let targets: [String] = [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/pods/web-1/status",
        "/api/v1/pods?watch=1&resourceVersion=42&allowWatchBookmarks=true&fieldSelector=spec.nodeName%21%3D",
        "/api/v1/namespaces/ns/pods?labelSelector=app+in+%28a%2Cb%29&limit=500",
        "/api/v1/namespaces/ns/configmaps?labelSelector=a%3Db&labelSelector=c%3Dd",
        "/api/v1/namespaces/ns/configmaps?dryRun=All&fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
        "/api/v1/namespaces/ns/configmaps?flag&empty=&=v&&x=1",
        "/apis/apps/v1/namespaces/a%20b/deployments/na%C3%AFve",
        "/api/v1/namespaces/ns/pods/p/log?container=c&sinceSeconds=10&timestamps=true",
        "/api/v1/namespaces/ns/pods?continue=eyJydiI6MTIsInN0YXJ0IjoiL3JlZ2lzdHJ5In0&limit=2",
        "/openapi/v3/apis/apps/v1?hash=ABCDEF0123",
        "/api/v1/namespaces/default/pods/x%2Fy",
        "/healthz",
        "/",
    ]

    @Test(arguments: targets)
    func agreesWithURLComponents(_ target: String) throws {
        let fast = try #require(RequestTarget.parse(target))
        let reference = RequestTarget.parseWithURLComponents(target)
        #expect(fast.path == reference.path)
        #expect(fast.query == reference.query)
    }

    /// Targets the fast parser leaves to URLComponents: not origin form, bytes a URI may not
    /// hold unescaped, malformed escapes, fragments, escapes that are not UTF-8.
    @Test(arguments: ["*", "http://host/api", "/api/v1/pods?x=a b", "/api/v1/pods?x={}", "/api/v1/pods?x=%zz", "/api/v1/pods?x=%4",
                      "/api/v1/pods#frag", "/api/v1/pods?x=%FF", "/api/v1/naïve"])
    func declines(_ target: String) {
        #expect(RequestTarget.parse(target) == nil)
    }

    @Test func requestsParseTheirTarget() {
        let request = APIRequest(method: .GET, uri: "/api/v1/namespaces/ns/pods?labelSelector=app+in+%28a%2Cb%29&watch=true")
        #expect(request.path == "/api/v1/namespaces/ns/pods")
        #expect(request.query == ["labelSelector": "app in (a,b)", "watch": "true"])
    }
}

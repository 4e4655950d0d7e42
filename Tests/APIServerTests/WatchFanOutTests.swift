import Foundation
import KubeAPI
import Store
import TestSupport
import Testing
@testable import APIServer

/// The shared watch path: events built from the stored bytes (no decoding), the object cache,
/// and watchers with different selections over real HTTP.
@Suite struct WatchFanOutTests {
    static func object(_ metadata: JSONObject, extra: JSONObject = [:]) -> JSONObject {
        var object: JSONObject = ["apiVersion": .string("v1"), "kind": .string("ConfigMap"), "metadata": .object(metadata)]
        for (key, value) in extra { object[key] = value }
        return object
    }

    static let managedFields: JSONValue = .array([.object([
        "manager": .string("kubectl"), "operation": .string("Update"), "apiVersion": .string("v1"), "time": .string("2026-11-26T01:00:00Z"),
        "fieldsType": .string("FieldsV1"), "fieldsV1": .object(["f:data": .object(["f:k": .object([:])])]),
    ])])

    /// Objects as stored, with metadata members on both sides of resourceVersion, on one side
    /// only, none, and strings that need escapes.
    static let stored: [JSONObject] = [
        object(["name": .string("a"), "namespace": .string("default"), "uid": .string("u-1"), "labels": .object(["app": .string("web")]),
                "managedFields": managedFields, "creationTimestamp": .string("2026-11-26T01:00:00Z")],
               extra: ["data": .object(["k": .string("v")])]),
        object(["name": .string("only-before"), "namespace": .string("default")]),
        object(["uid": .string("only-after"), "selfLink": .string("/x")]),
        object([:]),
        object(["name": .string("esc"), "annotations": .object(["quote\"d": .string("line\nbreak \u{1} é ✓ \\ /")])],
               extra: ["data": .object(["n": .number(1.5), "big": .number(12_345_678_901), "neg": .number(-3)])]),
    ]

    @Test(arguments: stored)
    func servedJSONIsTheEncodingOfTheDecodedObject(_ object: JSONObject) throws {
        let bytes = JSONCoding.encode(object)
        var expected = object
        expected.metadata["resourceVersion"] = .string("4711")
        let served = try #require(StoredObject.servedJSON(bytes, revision: 4711))
        #expect(served == JSONCoding.encode(expected), "\(String(decoding: served, as: UTF8.self))")
    }

    @Test(arguments: [
        "[1,2]",
        #"{"kind":"ConfigMap"}"#,
        #"{"metadata":"name"}"#,
        #"{"metadata":{"name":"a","resourceVersion":"3"}}"#,
        #"{"metadata":{"name":"a""#,
        "",
    ])
    func servedJSONDeclinesOtherShapes(_ text: String) {
        #expect(StoredObject.servedJSON(Array(text.utf8), revision: 5) == nil)
    }

    @Test(arguments: ["ADDED", "MODIFIED", "DELETED", "ERROR", "BOOKMARK"])
    func eventLineIsTheEncodedEvent(_ type: String) {
        let object = Self.stored[0]
        let whole = JSONCoding.encode(JSONValue.object(["type": .string(type), "object": .object(object)])) + [10]
        #expect(WatchStream.eventLine(type, encodedObject: JSONCoding.encode(object)) == whole)
    }

    static func cacheKey(_ name: String, _ revision: Int64, plural: String = "configmaps") -> ObjectCache.Key {
        ObjectCache.Key(storageKey: "/registry/core/\(plural)/default/\(name)", revision: revision)
    }

    @Test func cacheKeepsTheTwoNewestRevisionsOfAKey() {
        let cache = ObjectCache()
        func key(_ name: String, _ revision: Int64, plural: String = "configmaps") -> ObjectCache.Key { Self.cacheKey(name, revision, plural: plural) }
        cache.insert(key("a", 1), object: ["n": .string("a1")], jsonBytes: 10)
        cache.insert(key("a", 1), object: ["n": .string("replaced")], jsonBytes: 10)
        cache.insert(key("a", 1), encoded: Array("a1".utf8))
        #expect(cache.object(key("a", 1)) == ["n": .string("a1")])
        #expect(cache.encoded(key("a", 1)) == Array("a1".utf8))
        cache.insert(key("a", 3), object: ["n": .string("a3")], jsonBytes: 10)
        cache.insert(key("a", 2), object: ["n": .string("a2")], jsonBytes: 10)
        // Revisions 2 and 3 are the newest two; 1 went, and an older one finds no place.
        #expect(cache.object(key("a", 1)) == nil)
        #expect(cache.object(key("a", 2)) == ["n": .string("a2")])
        #expect(cache.object(key("a", 3)) == ["n": .string("a3")])
        cache.insert(key("a", 1), object: ["n": .string("a1")], jsonBytes: 10)
        #expect(cache.object(key("a", 1)) == nil)
        #expect(cache.encoded(key("a", 4)) == nil)
        #expect(cache.count == 2)
    }

    @Test func aSupersededRevisionKeepsItsAttributesInsteadOfItsObject() throws {
        let cache = ObjectCache()
        let resource = try #require(ResourceRegistry.builtIn.lookup(group: "", version: "v1", plural: "pods"))
        func key(_ name: String, _ revision: Int64) -> ObjectCache.Key { Self.cacheKey(name, revision, plural: "pods") }
        func pod(_ node: String?) -> JSONObject {
            var spec: JSONObject = [:]
            if let node { spec["nodeName"] = .string(node) }
            return ["metadata": .object(["name": .string("p"), "namespace": .string("default"), "labels": .object(["app": .string("web")])]), "spec": .object(spec)]
        }
        let created = SelectorAttributes(pod(nil), resource: resource)
        #expect(created.fields["spec.nodeName"] == "" && created.fields["metadata.name"] == "p" && created.labels == ["app": "web"])
        cache.insert(key("p", 1), object: pod(nil), encoded: Array("p1".utf8), attributes: created)
        let alone = cache.bytes
        cache.insert(key("p", 2), object: pod("n1"), jsonBytes: 100, attributes: SelectorAttributes(pod("n1"), resource: resource))
        // Revision 1 is superseded: its decoded object goes, its attributes and encoding stay.
        #expect(cache.object(key("p", 1)) == nil)
        #expect(cache.attributes(key("p", 1)) == created)
        #expect(cache.encoded(key("p", 1)) == Array("p1".utf8))
        #expect(cache.object(key("p", 2)) == pod("n1"))
        #expect(cache.attributes(key("p", 2))?.fields["spec.nodeName"] == "n1")
        // Decoded again (a lagging watcher), the superseded revision is not stored whole.
        cache.insert(key("p", 1), object: pod(nil), jsonBytes: 2)
        #expect(cache.object(key("p", 1)) == nil)
        #expect(cache.bytes < alone + 100 * ObjectCache.decodedBytesPerJSONByte + 2 * 64 + 1024)
        // Without attributes, a superseded revision keeps its object (selectors need it).
        cache.insert(key("q", 1), object: pod(nil), jsonBytes: 10)
        cache.insert(key("q", 2), object: pod("n1"), jsonBytes: 10)
        #expect(cache.object(key("q", 1)) == pod(nil))
    }

    /// The cache's estimate is the sum of its revisions' costs: the encoding's bytes, 8 per JSON
    /// byte for a decoded object, the attributes' estimate, and 64 per revision; each revision's
    /// cost follows what it holds as objects, encodings and attributes come and go.
    @Test func cacheBytesFollowWhatEachRevisionHolds() throws {
        let cache = ObjectCache()
        let resource = try #require(ResourceRegistry.builtIn.lookup(group: "", version: "v1", plural: "pods"))
        func key(_ revision: Int64) -> ObjectCache.Key { Self.cacheKey("p", revision, plural: "pods") }
        func pod(_ node: String) -> JSONObject {
            ["metadata": .object(["name": .string("p"), "namespace": .string("default")]), "spec": .object(["nodeName": .string(node)])]
        }
        let a1 = SelectorAttributes(pod("n1"), resource: resource), a2 = SelectorAttributes(pod("n2"), resource: resource)
        let perByte = ObjectCache.decodedBytesPerJSONByte
        cache.insert(key(1), object: pod("n1"), jsonBytes: 10)
        #expect(cache.bytes == 10 * perByte + 64)
        // The encoding arrives: its bytes, and the object's estimate from the encoding's length.
        cache.insert(key(1), encoded: Array("abcd".utf8))
        #expect(cache.bytes == 4 + 4 * perByte + 64)
        // A newer revision; the older one has no attributes, so it keeps its object.
        cache.insert(key(2), object: pod("n2"), jsonBytes: 10, attributes: a2)
        #expect(cache.object(key(1)) != nil)
        #expect(cache.bytes == (4 + 4 * perByte + 64) + (10 * perByte + a2.estimatedBytes + 64))
        // Its attributes arrive: its object goes.
        cache.insert(key(1), object: pod("n1"), jsonBytes: 10, attributes: a1)
        #expect(cache.object(key(1)) == nil)
        #expect(cache.bytes == (4 + a1.estimatedBytes + 64) + (10 * perByte + a2.estimatedBytes + 64))
        // A third revision: the first goes, the second keeps its attributes and drops its object.
        cache.insert(key(3), object: pod("n3"), encoded: Array("0123456789".utf8))
        #expect(cache.count == 2 && cache.object(key(2)) == nil && cache.attributes(key(2)) == a2)
        #expect(cache.bytes == (a2.estimatedBytes + 64) + (10 + 10 * perByte + 64))
        // An older revision than both kept changes nothing.
        cache.insert(key(1), object: pod("n1"), jsonBytes: 10)
        #expect(cache.bytes == (a2.estimatedBytes + 64) + (10 + 10 * perByte + 64))
    }

    /// A watch tests superseded revisions by their attributes, a list tests objects: every
    /// field selector gives the same answer both ways.
    @Test(arguments: [
        "metadata.namespace=default", "metadata.namespace!=default", "metadata.namespace=", "metadata.namespace=other",
        "metadata.name=p", "metadata.name!=p", "spec.nodeName=n1", "spec.nodeName=", "spec.nodeName!=",
        "status.phase=Running,metadata.namespace=other", "metadata.namespace!=kube-system,spec.nodeName=n1",
    ])
    func fieldSelectorsMatchAttributesAsTheyMatchObjects(_ selector: String) throws {
        let resource = try #require(ResourceRegistry.builtIn.lookup(group: "", version: "v1", plural: "pods"))
        let query = try FieldSelectorQuery(parsing: selector, resource: resource)
        var matched = 0
        for namespace in ["default", "other", ""] {
            for node in ["n1", nil] {
                var pod: JSONObject = ["metadata": .object(["name": .string("p"), "namespace": .string(namespace)]), "status": .object(["phase": .string("Running")])]
                if let node { pod["spec"] = .object(["nodeName": .string(node)]) }
                let attributes = SelectorAttributes(pod, resource: resource)
                #expect(attributes.namespace == namespace)
                #expect(query.matches(attributes) == query.matches(pod, resource: resource), "\(selector) on \(namespace)/\(node ?? "-")")
                if query.matches(pod, resource: resource) { matched += 1 }
            }
        }
        // Only metadata.name!=p matches none of the pods: the comparisons are not vacuous.
        #expect(matched > 0 || selector == "metadata.name!=p", "\(selector)")
    }

    @Test func cacheDropsTheKeysWrittenLeastRecentlyPastItsBudget() {
        // Each decoded entry of 10 JSON bytes is estimated at 10 * 8 + 64 = 144 bytes.
        let entry = 10 * ObjectCache.decodedBytesPerJSONByte + 64
        let cache = ObjectCache(budgetBytes: 3 * entry)
        func key(_ name: String, _ revision: Int64, plural: String = "configmaps") -> ObjectCache.Key { Self.cacheKey(name, revision, plural: plural) }
        for name in ["b", "c", "d"] { cache.insert(key(name, 1), object: ["n": .string(name)], jsonBytes: 10) }
        cache.insert(key("lease", 1, plural: "leases"), object: ["n": .string("lease")], jsonBytes: 10)
        #expect(cache.count == 4)
        #expect(cache.bytes == 4 * entry)
        // b written again goes over the budget: c, the key written least recently, goes (b
        // was written after it and keeps both revisions).
        cache.insert(key("b", 2), object: ["n": .string("b2")], jsonBytes: 10)
        #expect(cache.object(key("c", 1)) == nil)
        #expect(cache.object(key("b", 1)) == ["n": .string("b")])
        #expect(cache.object(key("b", 2)) == ["n": .string("b2")])
        #expect(cache.object(key("d", 1)) == ["n": .string("d")])
        cache.insert(key("e", 1), object: ["n": .string("e")], jsonBytes: 10)
        #expect(cache.object(key("d", 1)) == nil)
        #expect(cache.object(key("b", 2)) == ["n": .string("b2")])
        #expect(cache.object(key("e", 1)) == ["n": .string("e")])
        // The lease is in its own resource's budget.
        #expect(cache.object(key("lease", 1, plural: "leases")) == ["n": .string("lease")])
        #expect(cache.bytes == 4 * entry)
        #expect(cache.count == 4)
    }

    @Test func aWriteInFlightServesItsObjectUntilItEnds() {
        let cache = ObjectCache()
        let key = "/registry/core/configmaps/default/a"
        let stored = JSONCoding.encode(Self.stored[0])
        let first = cache.beginWrite(key, stored: stored, object: Self.stored[0])
        let second = cache.beginWrite(key, stored: Array("{}".utf8), object: [:])
        #expect(cache.objectBeingWritten(key, value: stored) == Self.stored[0])
        #expect(cache.objectBeingWritten(key, value: Array("{}".utf8)) == [:])
        #expect(cache.objectBeingWritten(key, value: Array("{\"a\":1}".utf8)) == nil)
        #expect(cache.objectBeingWritten("/registry/core/configmaps/default/b", value: stored) == nil)
        cache.endWrite(key, token: first)
        #expect(cache.objectBeingWritten(key, value: stored) == nil)
        #expect(cache.objectBeingWritten(key, value: Array("{}".utf8)) == [:])
        cache.endWrite(key, token: second)
        #expect(cache.objectBeingWritten(key, value: Array("{}".utf8)) == nil)
    }

    static func summary(_ events: [JSONValue]) -> [String] {
        events.map { "\($0["type"]?.stringValue ?? ""):\($0[p: "object.metadata.name"]?.stringValue ?? "")" }
    }

    @Test func watchersWithDifferentSelectorsGetTheirEventsInTheSameBytes() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let list = try await s.call("GET", "/api/v1/namespaces/default/configmaps")
        let rv = try #require(list.json[p: "metadata.resourceVersion"]?.stringValue)
        _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("a", labels: ["team": "a"]))
        _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("b", labels: ["team": "b"]))
        _ = try await s.call("POST", "/api/v1/namespaces", json: .object(["apiVersion": .string("v1"), "kind": .string("Namespace"), "metadata": .object(["name": .string("other")])]))
        _ = try await s.call("POST", "/api/v1/namespaces/other/configmaps", json: Objects.configMap("elsewhere", namespace: "other", labels: ["team": "a"]))
        var a = try await s.call("GET", "/api/v1/namespaces/default/configmaps/a").json.objectValue!
        a[path: ["metadata", "labels", "team"]] = .string("b")
        #expect(try await s.call("PUT", "/api/v1/namespaces/default/configmaps/a", json: .object(a)).code == 200)
        #expect(try await s.call("DELETE", "/api/v1/namespaces/default/configmaps/b").code == 200)

        let base = "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=\(rv)"
        // Started together: the plain watch builds its events from the stored bytes, the others
        // decode them; each object is decoded and encoded once for all of them.
        async let plain = s.call("GET", base)
        async let teamA = s.call("GET", base + "&labelSelector=team%3Da")
        async let teamB = s.call("GET", base + "&labelSelector=team%3Db")
        async let anyTeam = s.call("GET", base + "&labelSelector=team")
        let (p, ta, tb, any) = try await (plain, teamA, teamB, anyTeam)
        #expect(Self.summary(p.events) == ["ADDED:a", "ADDED:b", "MODIFIED:a", "DELETED:b"])
        #expect(Self.summary(ta.events) == ["ADDED:a", "DELETED:a"])
        #expect(Self.summary(tb.events) == ["ADDED:b", "ADDED:a", "DELETED:b"])
        #expect(any.body == p.body, "a selector matching every object sends the same bytes as no selector")
        // Each line is the canonical encoding of its event (sorted keys, as encodeEvent writes).
        for line in p.text.split(separator: "\n") {
            let parsed = try JSONValue.parse(Array(line.utf8))
            #expect(JSONCoding.encode(parsed) == Array(line.utf8))
        }
        // A DELETED event carries the revision of the delete, after the object's last change.
        let revisions = p.events.compactMap { Int($0[p: "object.metadata.resourceVersion"]?.stringValue ?? "") }
        #expect(revisions == revisions.sorted() && Set(revisions).count == 4)
        // The object leaving team a's selection is sent as upstream's cacher sends it: its
        // previous content (team a) with the resourceVersion of the change.
        #expect(ta.events.last?[p: "object.metadata.labels.team"]?.stringValue == "a")
        #expect(ta.events.last?[p: "object.metadata.resourceVersion"] == p.events[2][p: "object.metadata.resourceVersion"])
    }

    @Test func aReadAfterAWriteServesTheWrittenRevision() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let created = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("c", data: ["k": "1"]))
        var object = created.json.objectValue!
        object["data"] = .object(["k": .string("2")])
        let updated = try await s.call("PUT", "/api/v1/namespaces/default/configmaps/c", json: .object(object))
        let read = try await s.call("GET", "/api/v1/namespaces/default/configmaps/c")
        #expect(read.json == updated.json)
        #expect(read.json[p: "data.k"]?.stringValue == "2")
        #expect(read.json[p: "metadata.resourceVersion"] != created.json[p: "metadata.resourceVersion"])
        // What the store holds decodes to the same object: the cache never serves another.
        let kv = try #require(try await s.store.get("/registry/core/configmaps/default/c"))
        var stored = try JSONValue.parse(kv.value).objectValue!
        stored.metadata["resourceVersion"] = .string(String(kv.modRevision))
        #expect(JSONValue.object(stored) == read.json)
    }
}

import Foundation
import KubeAPI
import NIOCore
import Testing
@testable import KubeClient

/// `ListOptions.omitManagedFields`: the parser skips managedFields instead of building them,
/// and leaves everything else as a full parse gives it.
@Suite struct ManagedFieldsOmissionTests {
    static let entry = #"{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-11-26T01:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{}}}}}"#

    static func pod(_ name: String, rv: String) -> String {
        #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"\#(name)","namespace":"d","resourceVersion":"\#(rv)","labels":{"app":"web"},"managedFields":[\#(entry)]},"spec":{"containers":[{"name":"c","image":"busybox"}],"nodeName":"n1"}}"#
    }

    /// The document without the members at `path` ("*": every array element).
    static func removing(_ path: [String], from value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch value {
        case .object(var members) where first != "*":
            if rest.isEmpty { members[first] = nil } else if let child = members[first] { members[first] = removing(rest, from: child) }
            return .object(members)
        case .array(let items) where first == "*":
            return .array(items.map { rest.isEmpty ? $0 : removing(rest, from: $0) })
        default:
            return value
        }
    }

    @Test(arguments: [
        (#"{"items":[\#(pod("a", rv: "1")),\#(pod("b", rv: "2"))],"metadata":{"managedFields":"kept: not an item's"}}"#, ["items", "*", "metadata", "managedFields"]),
        (#"{"type":"MODIFIED","object":\#(pod("a", rv: "3"))}"#, ["object", "metadata", "managedFields"]),
        (pod("a", rv: "4"), ["metadata", "managedFields"]),
        (#"{"items":[],"metadata":{}}"#, ["items", "*", "metadata", "managedFields"]),
        (#"{"object":{"metadata":{"managedFields":[{"x":"esc\"aped \\ \u00e9"}],"name":"n"},"spec":{"template":{"metadata":{"managedFields":[1]}}}}}"#, ["object", "metadata", "managedFields"]),
    ])
    func parseOmittingIsParseWithoutThePath(_ text: String, _ path: [String]) throws {
        let full = try JSONValue.parse(Array(text.utf8))
        let omitted = try JSONValue.parse(Array(text.utf8), omitting: JSONOmissions([path]))
        #expect(omitted == Self.removing(path, from: full))
        #expect(omitted != full || !text.contains("managedFields"), "something was omitted")
    }

    @Test(arguments: [
        #"{"metadata":{"managedFields":[{"a":}]}}"#,
        #"{"metadata":{"managedFields":[{"a":"unterminated}]}}"#,
        #"{"metadata":{"managedFields":[tru]}}"#,
        #"{"metadata":{"managedFields":{"a" 1}}}"#,
        #"{"metadata":{"managedFields":"\x"}}"#,
    ])
    func malformedJSONInAnOmittedValueIsStillAnError(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8), omitting: JSONOmissions([["metadata", "managedFields"]])) }
    }

    @Test func watchAndListDecodingLeaveManagedFieldsOutOnlyWhenAsked() throws {
        let line = Array(#"{"type":"ADDED","object":\#(Self.pod("a", rv: "7"))}"#.utf8)
        let plain: WatchEvent<Pod> = try WatchDecoder.decode(Pod.self, line: line)
        #expect(plain.object?.metadata.managedFields?.count == 1)
        let stripped: WatchEvent<Pod> = try WatchDecoder.decode(Pod.self, line: line, omitting: ManagedFields.inWatchEvent)
        #expect(stripped.object?.metadata.managedFields == nil)
        #expect(stripped.object?.metadata.labels == ["app": "web"])
        #expect(stripped.object?.metadata.resourceVersion == "7")
        #expect(stripped.object?.spec.nodeName == "n1")

        let list = ByteBuffer(string: #"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[\#(Self.pod("a", rv: "7")),\#(Self.pod("b", rv: "8"))]}"#)
        let full = try ResponseDecoder.decode(ObjectList<Pod>.self, from: list, operation: "LIST")
        #expect(full.items.allSatisfy { $0.metadata.managedFields?.count == 1 })
        let light = try ResponseDecoder.decode(ObjectList<Pod>.self, from: list, operation: "LIST", omitting: ManagedFields.inList)
        #expect(light.items.map(\.metadata.name) == ["a", "b"])
        #expect(light.items.allSatisfy { $0.metadata.managedFields == nil })
        #expect(light.metadata.resourceVersion == "9")
    }

    @Test func scannerReportsEachMemberWithItsBytes() throws {
        let text = Array(#" {"a":1, "b\"q":{"x":[1,{"y":"}"}]},"c":"z"} "#.utf8)
        var seen: [(String, String)] = []
        let complete = try JSONScanner.forEachMember(of: text, in: 0..<text.count) { member in
            seen.append((member.key, String(decoding: text[member.value], as: UTF8.self)))
            #expect(text[member.keyStart] == UInt8(ascii: "\""))
            return true
        }
        #expect(complete)
        #expect(seen.map { $0.0 } == ["a", "b\"q", "c"])
        #expect(seen.map { $0.1 } == ["1", #"{"x":[1,{"y":"}"}]}"#, #""z""#])
        var visited = 0
        let stopped = try JSONScanner.forEachMember(of: text, in: 0..<text.count) { _ in
            visited += 1
            return false
        }
        #expect(!stopped && visited == 1)
        #expect(throws: JSONParseError.self) { try JSONScanner.forEachMember(of: Array("[1]".utf8), in: 0..<3) { _ in true } }
    }

    @Test(arguments: ClientTransport.allCases) func omittingClientListsAndWatchesWithoutManagedFields(_ transport: ClientTransport) async throws {
        try await RealAPIServerTests().withServer(transport) { _, client in
            _ = try await client.create(ConfigMap(metadata: ObjectMeta(name: "m", namespace: "default", labels: ["app": "a"]), data: ["k": "v"]))
            let full = try await client.list(ConfigMap.self, namespace: "default", options: ListOptions(labelSelector: "app=a"))
            #expect(full.items.first?.metadata.managedFields?.isEmpty == false, "the server records managedFields")
            let light = client.omittingManagedFields()
            let listed = try await light.list(ConfigMap.self, namespace: "default", options: ListOptions(labelSelector: "app=a"))
            #expect(listed.items.map(\.metadata.name) == ["m"])
            #expect(listed.items.first?.metadata.managedFields == nil)
            #expect(listed.items.first?.data == ["k": "v"])
            let stream = try await light.watch(ConfigMap.self, namespace: "default", options: ListOptions(resourceVersion: listed.metadata.resourceVersion))
            let _: ConfigMap = try await client.mergePatch(ConfigMap.self, namespace: "default", name: "m", .object(["data": .object(["k": .string("w")])]))
            let event = try await within(.seconds(15), "the watch event") { () -> WatchEvent<ConfigMap>? in
                for try await event in stream { return event }
                return nil
            }
            #expect(event?.object?.data == ["k": "w"])
            #expect(event?.object?.metadata.managedFields == nil)
            // An update of the stripped object keeps the server's managedFields.
            var object = try #require(event?.object)
            object.data = ["k": "u"]
            let updated = try await client.update(object)
            #expect(updated.metadata.managedFields?.isEmpty == false)
        }
    }
}

/// The Decoder over parsed JSON: optional members absent or null, and the coding path in
/// errors (built only when an error needs it).
@Suite struct JSONValueDecoderPathTests {
    @Test func absentAndNullOptionalMembersDecodeAsNil() throws {
        let pod = try JSONValue.decode(Pod.self, fromJSON: Array(#"{"metadata":{"name":"p","namespace":null},"spec":{"containers":[{"name":"c","image":null}],"nodeName":null}}"#.utf8))
        #expect(pod.metadata.name == "p")
        #expect(pod.metadata.namespace == nil)
        #expect(pod.spec.nodeName == nil)
        #expect(pod.spec.containers.first?.image == nil)
        #expect(pod.status == nil)
    }

    @Test(arguments: [
        (#"{"metadata":{"name":5},"spec":{"containers":[]}}"#, ".metadata.name"),
        (#"{"metadata":{},"spec":{"containers":[{"name":"c","ports":[{"containerPort":"80"}]}]}}"#, ".spec.containers[0].ports[0].containerPort"),
        (#"{"metadata":{},"spec":{"containers":[{"name":"c"},{"name":7}]}}"#, ".spec.containers[1].name"),
        (#"{"metadata":{},"spec":{"containers":[],"priority":1.5}}"#, ".spec.priority"),
    ])
    func errorsNameTheFieldPath(_ text: String, _ path: String) {
        do {
            _ = try ResponseDecoder.decode(Pod.self, from: ByteBuffer(string: text), operation: "GET p")
            Issue.record("decoded \(text)")
        } catch {
            #expect(error.message.contains(path), "\(error.message)")
        }
    }
}

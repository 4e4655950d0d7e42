import Foundation
import KubeAPI
import Testing
@testable import APIServer

/// The Table of a list (what `kubectl get` asks for) written from the items' served bytes: the
/// same bytes as rendering the decoded objects and encoding the table.
@Suite struct TableListTests {
    static let now = Date(timeIntervalSince1970: 1_764_150_000)

    /// Pods as served: one Running with a container status and managedFields, one Pending and
    /// bare, one with an escaped annotation; and objects of a kind without columns.
    static var pods: [JSONObject] {
        let running: JSONObject = [
            "apiVersion": .string("v1"), "kind": .string("Pod"),
            "metadata": .object(["name": .string("web-1"), "namespace": .string("default"), "uid": .string("u-1"), "resourceVersion": .string("41"),
                                 "creationTimestamp": .string("2026-11-26T08:00:00Z"), "labels": .object(["app": .string("web")]),
                                 "managedFields": WatchFanOutTests.managedFields]),
            "spec": .object(["nodeName": .string("node-3"), "containers": .array([.object(["name": .string("app"), "image": .string("nginx")])])]),
            "status": .object(["phase": .string("Running"), "podIP": .string("10.244.0.7"),
                               "containerStatuses": .array([.object(["name": .string("app"), "ready": .bool(true), "restartCount": .number(2),
                                                                     "state": .object(["running": .object(["startedAt": .string("2026-11-26T08:00:01Z")])])])])]),
        ]
        let pending: JSONObject = [
            "apiVersion": .string("v1"), "kind": .string("Pod"),
            "metadata": .object(["name": .string("pending"), "namespace": .string("default"), "resourceVersion": .string("42"),
                                 "creationTimestamp": .string("2026-11-20T00:00:00.5Z")]),
            "spec": .object(["containers": .array([.object(["name": .string("a")]), .object(["name": .string("b")])])]),
        ]
        let escaped: JSONObject = [
            "apiVersion": .string("v1"), "kind": .string("Pod"),
            "metadata": .object(["name": .string("esc"), "namespace": .string("default"), "resourceVersion": .string("43"),
                                 "annotations": .object(["q\"uote": .string("line\nbreak é ✓ \\ /")])]),
            "spec": .object([:]), "status": .object(["phase": .string("Succeeded")]),
        ]
        return [running, pending, escaped]
    }

    static let cases: [(includeObject: String, continueToken: String?)] = [
        ("Metadata", nil), ("Metadata", "token-1"), ("Object", nil), ("None", nil), ("", nil),
    ]

    @Test(arguments: cases)
    func encodedListIsTheRenderedTable(includeObject: String, continueToken: String?) {
        for (resource, objects) in [(Pods.definition, Self.pods), (ConfigMaps.definition, WatchFanOutTests.stored)] {
            let items = objects.map { object in
                var cells = object
                // Cells are computed from objects read without managedFields.
                cells.metadata["managedFields"] = nil
                return Table.Item(object: cells, served: JSONCoding.encode(object))
            }
            let rendered = JSONCoding.encode(Table.render(objects, resource: resource, includeObject: includeObject, resourceVersion: 99,
                                                          continueToken: continueToken, now: Self.now))
            let encoded = Table.encodeList(items, resource: resource, includeObject: includeObject, resourceVersion: 99,
                                           continueToken: continueToken, now: Self.now)
            #expect(encoded == rendered, "\(resource.plural) \(includeObject): \(String(decoding: encoded, as: UTF8.self))")
        }
    }

    @Test func emptyListHasColumnsAndNoRows() throws {
        let encoded = Table.encodeList([], resource: Pods.definition, includeObject: "Metadata", resourceVersion: 7, continueToken: nil)
        let table = try JSONValue.parse(encoded)
        #expect(table["rows"] == .array([]))
        #expect(table["columnDefinitions"]?.arrayValue?.count == Pods.definition.columns.count)
        #expect(encoded == JSONCoding.encode(Table.render([], resource: Pods.definition, includeObject: "Metadata", resourceVersion: 7, continueToken: nil)))
    }
}

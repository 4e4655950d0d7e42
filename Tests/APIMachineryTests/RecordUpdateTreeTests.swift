import Testing
import KubeAPI
@testable import APIMachinery

/// `ServerSideApply.recordUpdate` records the usual update (a status write, a Lease renewal, a
/// write of fields nobody else owns) on trees of path elements (`recordUpdateOfTrees`); it must
/// record exactly what the general path (path sets) records, write by write, and fall back to
/// that path for the rest. Each chain applies its writes in turn, as a server would.
@Suite struct RecordUpdateTreeTests {
    static func object(_ text: String) -> JSONValue { try! JSONValue.parse(Array(text.utf8)) }
    static let t0 = "2026-11-26T08:00:00Z"

    struct Write: CustomTestStringConvertible, Sendable {
        var name: String
        var manager: String
        var subresource: String? = nil
        var edits: [([String], JSONValue?)] = []
        /// The client sends the live managedFields back (else it leaves them out).
        var sendsManagedFields = false
        /// Whether the tree path records it (nil: the test does not care).
        var onTrees: Bool?
        var testDescription: String { name }
    }

    static let pod = object(#"""
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d","uid":"u","creationTimestamp":"2026-11-26T08:00:00Z","labels":{"app":"web"},"annotations":{"a":"1"}},
         "spec":{"containers":[{"name":"app","image":"a:1","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]}],"tolerations":[{"key":"k","operator":"Exists"}]},
         "status":{"phase":"Pending","qosClass":"BestEffort"}}
        """#)

    static let runningStatus = object(#"""
        {"phase":"Running","hostIP":"10.0.0.1","podIP":"10.244.0.5","podIPs":[{"ip":"10.244.0.5"}],"qosClass":"BestEffort","startTime":"2026-11-26T08:00:01Z",
         "conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-11-26T08:00:02Z"},{"type":"PodScheduled","status":"True"}],
         "containerStatuses":[{"name":"app","image":"a:1","imageID":"","ready":true,"started":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-26T08:00:01Z"}}}]}
        """#)

    static let podWrites: [Write] = [
        Write(name: "bind: a field nobody owns", manager: "scheduler", edits: [(["spec", "nodeName"], .string("n1"))], onTrees: true),
        Write(name: "first status", manager: "kubelet", subresource: "status", edits: [(["status"], runningStatus)], onTrees: true),
        Write(name: "the same status again", manager: "kubelet", subresource: "status", onTrees: true),
        Write(name: "status: the kubelet's own field", manager: "kubelet", subresource: "status", edits: [(["status", "phase"], .string("Succeeded"))], onTrees: true),
        Write(name: "status: a new condition", manager: "kubelet", subresource: "status",
              edits: [(["status", "conditions"], object(#"[{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"},{"type":"Initialized","status":"True"}]"#))], onTrees: false),
        Write(name: "status: a field removed", manager: "kubelet", subresource: "status", edits: [(["status", "podIP"], nil)], onTrees: false),
        Write(name: "another manager on the kubelet's field", manager: "other", subresource: "status", edits: [(["status", "phase"], .string("Failed"))], onTrees: false),
        Write(name: "a new label", manager: "labeler", edits: [(["metadata", "labels", "x"], .string("1"))], onTrees: true),
        Write(name: "the labeler's label again, sent back with managedFields", manager: "labeler", edits: [(["metadata", "labels", "x"], .string("2"))],
              sendsManagedFields: true, onTrees: true),
        Write(name: "the creator's own label changed", manager: "creator", edits: [(["metadata", "labels", "app"], .string("web2"))], onTrees: true),
        Write(name: "a status change through the main resource (reset)", manager: "creator", edits: [(["status", "phase"], .string("Unknown"))], onTrees: true),
        Write(name: "the creator's label removed", manager: "creator", edits: [(["metadata", "labels", "app"], nil)], onTrees: false),
        Write(name: "the creator on the scheduler's field", manager: "creator", edits: [(["spec", "nodeName"], .string("n2"))], onTrees: false),
        Write(name: "managedFields reset with []", manager: "x", edits: [(["metadata", "managedFields"], .array([]))], onTrees: false),
        Write(name: "managedFields replaced", manager: "x",
              edits: [(["metadata", "managedFields"], object(#"[{"manager":"m","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:nodeName":{}}}}]"#))],
              onTrees: false),
        Write(name: "a new annotation after the reset", manager: "annotator", edits: [(["metadata", "annotations", "b"], .string("2"))], onTrees: true),
        Write(name: "an identity field and nothing else", manager: "x", edits: [(["metadata", "uid"], .string("other"))], onTrees: true),
        Write(name: "a container's image by a new manager", manager: "kubectl",
              edits: [(["spec", "containers"], object(#"[{"name":"app","image":"a:2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]}]"#))],
              onTrees: nil),
        Write(name: "a container added", manager: "kubectl",
              edits: [(["spec", "containers"], object(#"[{"name":"app","image":"a:2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]},{"name":"side","image":"s:1"}]"#))],
              onTrees: nil),
    ]

    static let lease = object(#"""
        {"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1","namespace":"kube-node-lease","uid":"l","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n1","uid":"u"}]},
         "spec":{"holderIdentity":"n1","leaseDurationSeconds":40,"renewTime":"2026-11-26T08:00:00.000000Z"}}
        """#)

    static let leaseWrites: [Write] = [
        Write(name: "renewal", manager: "kubelet", edits: [(["spec", "renewTime"], .string("2026-11-26T08:00:10.000000Z"))], onTrees: true),
        Write(name: "renewal without a change", manager: "kubelet", onTrees: true),
        Write(name: "renewal sent with managedFields", manager: "kubelet", edits: [(["spec", "renewTime"], .string("2026-11-26T08:00:20.000000Z"))],
              sendsManagedFields: true, onTrees: true),
        Write(name: "a field the kubelet does not own yet", manager: "kubelet", edits: [(["spec", "leaseTransitions"], .number(1))], onTrees: false),
        Write(name: "another manager renews", manager: "other", edits: [(["spec", "renewTime"], .string("2026-11-26T08:00:30.000000Z"))], onTrees: false),
        Write(name: "the kubelet renews again", manager: "kubelet", edits: [(["spec", "renewTime"], .string("2026-11-26T08:00:40.000000Z"))], onTrees: false),
        Write(name: "holder removed", manager: "kubelet", edits: [(["spec", "holderIdentity"], nil)], onTrees: false),
    ]

    static func edit(_ object: JSONValue, _ path: [String], _ value: JSONValue?) -> JSONValue {
        RecordUpdateVerbatimTests.edit(object, path, value)
    }

    static func resetFields(_ kind: String, _ subresource: String?) -> [FieldPath] {
        guard kind == "Pod" else { return [] }
        return subresource == "status" ? [["f:spec"]] : [["f:status"]]
    }

    /// Runs `writes` in turn from `created` (created by `creator`), checking each.
    static func run(_ writes: [Write], from created: JSONValue, creator: String, kind: String, schema: TypeSchema?) {
        var old = ServerSideApply.recordUpdate(old: nil, new: created, manager: creator, subresource: nil, schema: schema, now: t0, resetFields: resetFields(kind, nil))
        for (i, write) in writes.enumerated() {
            var new = write.sendsManagedFields ? old : RecordUpdateVerbatimTests.withoutManagedFields(old)
            for (path, value) in write.edits { new = edit(new, path, value) }
            let now = "2026-11-26T09:00:\(i < 10 ? "0" : "")\(i)Z"
            let reset = resetFields(kind, write.subresource)
            let general = ServerSideApply.recordUpdate(old: old, new: new, manager: write.manager, subresource: write.subresource, schema: schema,
                                                       now: now, resetFields: reset, fastPaths: false)
            let recorded = ServerSideApply.recordUpdate(old: old, new: new, manager: write.manager, subresource: write.subresource, schema: schema,
                                                        now: now, resetFields: reset, fastPaths: true)
            #expect(recorded == general, "\(kind): \(write.name)")
            if let onTrees = write.onTrees, let schema {
                var walker = FieldWalker(includeMapNodes: true, ignoring: reset)
                let apiVersion = new["apiVersion"]?.stringValue ?? ""
                let trees = ServerSideApply.recordUpdateOfTrees(old: old, new: new, manager: write.manager, subresource: write.subresource,
                                                                 apiVersion: apiVersion, walker: &walker, schema: schema, now: now)
                #expect((trees != nil) == onTrees, "\(kind): \(write.name) on trees")
            }
            old = general
        }
    }

    @Test func podWritesRecordWhatTheGeneralPathRecords() {
        Self.run(Self.podWrites, from: Self.pod, creator: "creator", kind: "Pod", schema: SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod"))
    }

    @Test func leaseWritesRecordWhatTheGeneralPathRecords() {
        Self.run(Self.leaseWrites, from: Self.lease, creator: "kubelet", kind: "Lease", schema: SchemaRegistry.builtin.schema(apiVersion: "coordination.k8s.io/v1", kind: "Lease"))
    }

    /// Every write of the pod chain again, with the live entries spelled non-canonically (the
    /// tree path declines them) and without a schema (it needs one): the general path's result.
    @Test func declinedWritesRecordWhatTheGeneralPathRecords() {
        let schema = SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod")
        var old = ServerSideApply.recordUpdate(old: nil, new: Self.pod, manager: "creator", schema: schema, now: Self.t0)
        let bound = ServerSideApply.recordUpdate(old: old, new: Self.edit(RecordUpdateVerbatimTests.withoutManagedFields(old), ["spec", "nodeName"], .string("n1")),
                                                 manager: "scheduler", schema: schema, now: Self.t0)
        let items = RecordUpdateVerbatimTests.array(bound["metadata"]?["managedFields"]) ?? []
        #expect(items.count == 2)
        old = Self.edit(bound, ["metadata", "managedFields"], .array(items.map { item in
            guard case .object(var m) = item else { return item }
            m["fieldsV1"] = RecordUpdateVerbatimTests.spelledOtherwise(m["fieldsV1"] ?? .null)
            return .object(m)
        }))
        for write in Self.podWrites {
            var new = write.sendsManagedFields ? old : RecordUpdateVerbatimTests.withoutManagedFields(old)
            for (path, value) in write.edits { new = Self.edit(new, path, value) }
            let reset = Self.resetFields("Pod", write.subresource)
            for schema in [schema, nil] {
                let general = ServerSideApply.recordUpdate(old: old, new: new, manager: write.manager, subresource: write.subresource, schema: schema,
                                                           now: Self.t0, resetFields: reset, fastPaths: false)
                let recorded = ServerSideApply.recordUpdate(old: old, new: new, manager: write.manager, subresource: write.subresource, schema: schema,
                                                            now: Self.t0, resetFields: reset, fastPaths: true)
                #expect(recorded == general, "\(write.name), schema \(schema != nil)")
            }
        }
    }
}

/// A map-list item's FieldsV1 element is written directly; it must be the text the key fields
/// as a JSON object give (`describe`), and `quoteJSON`'s fast path the escaping loop's text.
@Suite struct KeyElementTests {
    static let itemSchema = TypeSchema(name: "test.Item", description: "", fields: [
        FieldSchema(name: "name", type: .string, description: ""),
        FieldSchema(name: "protocol", type: .string, description: "").defaulted(.string("TCP")),
        FieldSchema(name: "port", type: .integer, description: ""),
    ])

    static func shape(_ keys: [String]) -> FieldShape {
        var field = FieldSchema(name: "items", type: .array(.object(itemSchema)), description: "")
        field.listType = .map
        field.listMapKeys = keys
        return FieldShape(field)
    }

    /// The element as it was built before: the key fields in a dictionary, then `describe`.
    static func reference(_ keys: [String], _ item: JSONValue) -> String? {
        guard case .object(let members) = item else { return nil }
        var found: [String: JSONValue] = [:]
        for name in keys {
            if let value = members[name] { found[name] = value } else if let value = itemSchema.field(name)?.defaultValue { found[name] = value } else { return nil }
        }
        return "k:" + describe(.object(found))
    }

    static let items: [JSONValue] = [
        .object(["name": .string("app"), "port": .number(80), "protocol": .string("UDP")]),
        .object(["name": .string("app"), "port": .number(80)]),
        .object(["port": .number(8080.5)]),
        .object(["name": .string(#"q"u\o<t>e&d é ✓ \#u{1}\#u{2028}"#), "port": .bool(true)]),
        .object(["name": .object(["z": .number(1), "a": .array([.null, .string("<")])]), "port": .number(-3)]),
        .object([:]),
        .string("not an object"),
    ]

    static let keySets: [[String]] = [["name"], ["port", "protocol"], ["protocol", "port"], ["port", "name", "port"], ["protocol"], [], ["name", "protocol", "port"]]

    @Test func elementsAreTheKeyObjectsText() {
        for keys in Self.keySets {
            let shape = Self.shape(keys)
            for item in Self.items {
                #expect(shape.keyElement(of: item) == Self.reference(keys, item), "\(keys) \(item)")
            }
        }
    }

    @Test func quotingIsTheEscapingLoopsText() {
        var texts = (0..<128).map { String(UnicodeScalar(UInt8($0))) } + ["", "plain-name_1.2", "kube-api-access-x7k2p", "é", "a\u{2028}b", "\u{7f}", "a<b", "✓ ok"]
        texts += (0..<128).map { "name" + String(UnicodeScalar(UInt8($0))) + "tail" }
        for text in texts {
            #expect(quoteJSON(text) == quoteJSONEscaping(text), "\(Array(text.unicodeScalars.map(\.value)))")
        }
    }
}

@Suite struct PathElementPrefixTests {
    /// `FieldSet.isPathElement` reads bytes where it can; the characters decide as before.
    @Test func prefixesAreReadAsCharacters() {
        let keys = ["f:a", "k:{\"name\":\"x\"}", "v:1", "i:0", "x:a", "f", "", "f:", "i:", "F:a", "f:\u{301}", "f:\u{301}x", "f\u{301}:a", "ff:a", ":f",
                    "é:a", "f:é", "k:\r\n", "v\u{0}:", "f:\u{200D}", "k:\u{1F600}", ".", "f;a"]
        for key in keys {
            #expect(FieldSet.isPathElement(key) == (key.utf8.count >= 2 && ["f:", "k:", "v:", "i:"].contains(key.prefix(2))), "\(Array(key.unicodeScalars.map(\.value)))")
        }
    }
}

import Testing
import KubeAPI
@testable import APIMachinery

@Suite struct FieldSetTests {
    /// An upstream-shaped FieldsV1 document: nodes with "." and leaves.
    static let sample = #"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}},"f:finalizers":{"v:\"a\"":{}},"f:items":{"i:0":{}}}}"#

    @Test func decodesAndEncodesFieldsV1() throws {
        let set = try FieldSet(fieldsV1: json(Self.sample))
        #expect(set.paths == [
            ["f:metadata", "f:labels"], ["f:metadata", "f:labels", "f:app"],
            ["f:spec", "f:containers", #"k:{"name":"nginx"}"#], ["f:spec", "f:containers", #"k:{"name":"nginx"}"#, "f:image"],
            ["f:spec", "f:containers", #"k:{"name":"nginx"}"#, "f:name"], ["f:spec", "f:finalizers", #"v:"a""#], ["f:spec", "f:items", "i:0"],
        ])
        #expect(render(set.fieldsV1) == render(json(Self.sample)))
    }

    static let displays: [(FieldPath, String)] = [
        (["f:spec", "f:replicas"], ".spec.replicas"),
        (["f:spec", "f:containers", #"k:{"name":"app"}"#, "f:image"], #".spec.containers[name="app"].image"#),
        (["f:spec", "f:ports", #"k:{"port":80,"protocol":"TCP"}"#], #".spec.ports[port=80,protocol="TCP"]"#),
        (["f:metadata", "f:finalizers", #"v:"x""#], #".metadata.finalizers[="x"]"#),
        (["f:items", "i:3"], ".items[3]"),
    ]

    @Test(arguments: displays)
    func displayPaths(path: FieldPath, expected: String) {
        #expect(FieldSet.display(path) == expected)
    }

    /// Canonical JSON text as Go's encoding/json writes it (sorted keys, HTML-safe escapes).
    static let texts: [(JSONValue, String)] = [
        (.object(["protocol": .string("TCP"), "containerPort": .number(80)]), #"{"containerPort":80,"protocol":"TCP"}"#),
        (.string("a<b>&\"\\\n\u{01}"), #""a\u003cb\u003e\u0026\"\\\n\u0001""#),
        (.array([.number(1.5), .bool(true), .null]), "[1.5,true,null]"),
    ]

    @Test(arguments: texts)
    func canonicalJSONText(value: JSONValue, expected: String) {
        #expect(describe(value) == expected)
    }

    @Test(arguments: [#"[]"#, #"{"x:bad":{}}"#, #"{"f:a":1}"#])
    func malformedFieldsV1IsRefused(text: String) {
        #expect(throws: PatchError.self) { try FieldSet(fieldsV1: json(text)) }
    }
}

@Suite struct ServerSideApplyTests {
    static let schema = SchemaRegistry.builtin.schema(apiVersion: "apps/v1", kind: "Deployment")
    static let t1 = "2026-11-25T10:00:00Z", t2 = "2026-11-25T11:00:00Z", t3 = "2026-11-25T12:00:00Z"

    static func deployment(replicas: Int = 2, labels: String = #"{"app":"web"}"#, image: String = "nginx:1") -> JSONValue {
        json(#"""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default","labels":\#(labels)},
         "spec":{"replicas":\#(replicas),"selector":{"matchLabels":{"app":"web"}},
                 "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"\#(image)","ports":[{"containerPort":80}]}]}}}}
        """#)
    }

    static func entries(_ object: JSONValue) -> [ManagedFieldsEntry] { ServerSideApply.decodedManagedFields(of: object) }

    static func owner(of path: FieldPath, in object: JSONValue) -> [String] {
        entries(object).filter { $0.fields.contains(path) }.map(\.manager).sorted()
    }

    static let replicas: FieldPath = ["f:spec", "f:replicas"]

    @Test func createRecordsUpstreamShapedFields() throws {
        let created = try ServerSideApply.apply(Self.deployment(), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        let list = Self.entries(created)
        #expect(list.count == 1)
        #expect(list.first?.operation == "Apply" && list.first?.manager == "kubectl" && list.first?.apiVersion == "apps/v1" && list.first?.time == Self.t1)
        let expected = #"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
        #expect(render(list.first!.fields.fieldsV1) == render(json(expected)))
        #expect(created["spec"]?["replicas"] == .number(2))
        let entry = try #require(created["metadata"]?["managedFields"])
        guard case .array(let raw) = entry else { Issue.record("managedFields is not a list"); return }
        #expect(raw.first?["fieldsType"] == .string("FieldsV1") && raw.first?["operation"] == .string("Apply"))
    }

    @Test func reapplyingTheSameIntentChangesNothing() throws {
        let created = try ServerSideApply.apply(Self.deployment(), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        let again = try ServerSideApply.apply(Self.deployment(), to: created, manager: "kubectl", force: false, schema: Self.schema, now: Self.t2)
        #expect(again == created)
    }

    @Test func fieldsNoLongerAppliedAreRemoved() throws {
        let created = try ServerSideApply.apply(Self.deployment(labels: #"{"app":"web","tier":"fe"}"#), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        let changed = try ServerSideApply.apply(Self.deployment(labels: #"{"app":"web"}"#), to: created, manager: "kubectl", force: false, schema: Self.schema, now: Self.t2)
        #expect(changed["metadata"]?["labels"] == json(#"{"app":"web"}"#))
        #expect(Self.entries(changed).first?.time == Self.t2)
    }

    @Test func anotherManagersChangeIsAConflict() throws {
        let created = try ServerSideApply.apply(Self.deployment(), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        let intent = json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":5}}"#)
        do {
            _ = try ServerSideApply.apply(intent, to: created, manager: "autoscaler", force: false, schema: Self.schema, now: Self.t2)
            Issue.record("expected a conflict")
        } catch {
            #expect(error.isConflict && error.httpStatus == 409)
            #expect(error.message == #"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#)
            #expect(error.causes == [FieldCause(field: ".spec.replicas", message: #"conflict with "kubectl""#, reason: "FieldManagerConflict")])
        }
    }

    @Test func sameValueIsSharedOwnership() throws {
        let created = try ServerSideApply.apply(Self.deployment(), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        let intent = json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}"#)
        let shared = try ServerSideApply.apply(intent, to: created, manager: "other", force: false, schema: Self.schema, now: Self.t2)
        #expect(Self.owner(of: Self.replicas, in: shared) == ["kubectl", "other"])
        // kubectl stops applying replicas: the field stays, since "other" still owns it.
        var withoutReplicas = Self.deployment()
        if case .object(var m) = withoutReplicas, case .object(var spec)? = m["spec"] {
            spec.removeValue(forKey: "replicas"); m["spec"] = .object(spec); withoutReplicas = .object(m)
        }
        let after = try ServerSideApply.apply(withoutReplicas, to: shared, manager: "kubectl", force: false, schema: Self.schema, now: Self.t3)
        #expect(after["spec"]?["replicas"] == .number(2))
        #expect(Self.owner(of: Self.replicas, in: after) == ["other"])
    }

    @Test func forceTakesOwnership() throws {
        let created = try ServerSideApply.apply(Self.deployment(), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        let intent = json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":7}}"#)
        let forced = try ServerSideApply.apply(intent, to: created, manager: "autoscaler", force: true, schema: Self.schema, now: Self.t2)
        #expect(forced["spec"]?["replicas"] == .number(7))
        #expect(Self.owner(of: Self.replicas, in: forced) == ["autoscaler"])
        #expect(forced["spec"]?["template"] == created["spec"]?["template"])
    }

    @Test func updateTakesOwnershipAndApplyThenConflicts() throws {
        let created = try ServerSideApply.apply(Self.deployment(), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        var scaled = created
        if case .object(var m) = scaled, case .object(var spec)? = m["spec"] {
            spec["replicas"] = .number(4); m["spec"] = .object(spec); scaled = .object(m)
        }
        let recorded = ServerSideApply.recordUpdate(old: created, new: scaled, manager: "kubectl-scale", schema: Self.schema, now: Self.t2)
        #expect(Self.owner(of: Self.replicas, in: recorded) == ["kubectl-scale"])
        let scaleEntry = Self.entries(recorded).first { $0.manager == "kubectl-scale" }
        #expect(scaleEntry?.operation == "Update" && scaleEntry?.fields.paths == [Self.replicas])
        do {
            _ = try ServerSideApply.apply(Self.deployment(), to: recorded, manager: "kubectl", force: false, schema: Self.schema, now: Self.t3)
            Issue.record("expected a conflict")
        } catch {
            #expect(error.message == #"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1 at 2026-11-25T11:00:00Z: .spec.replicas"#)
        }
    }

    @Test func createByUpdateOwnsEverythingSet() throws {
        let recorded = ServerSideApply.recordUpdate(old: nil, new: Self.deployment(), manager: "kubectl-create", schema: Self.schema, now: Self.t1)
        let entry = try #require(Self.entries(recorded).first)
        #expect(entry.operation == "Update")
        #expect(entry.fields.contains(["f:metadata", "f:labels"]) && entry.fields.contains(["f:metadata", "f:labels", "f:app"]))
        #expect(entry.fields.contains(Self.replicas))
        #expect(!entry.fields.contains(["f:metadata", "f:name"]) && !entry.fields.contains(["f:apiVersion"]))
        // Writing the same object again is a no-op, time included.
        let again = ServerSideApply.recordUpdate(old: recorded, new: recorded, manager: "kubectl-create", schema: Self.schema, now: Self.t2)
        #expect(again == recorded)
    }

    @Test func removedFieldsLeaveEveryManager() throws {
        let created = try ServerSideApply.apply(Self.deployment(labels: #"{"app":"web","x":"1"}"#), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        var edited = created
        if case .object(var m) = edited, case .object(var meta)? = m["metadata"] {
            meta["labels"] = json(#"{"app":"web"}"#); m["metadata"] = .object(meta); edited = .object(m)
        }
        let recorded = ServerSideApply.recordUpdate(old: created, new: edited, manager: "kubectl-edit", schema: Self.schema, now: Self.t2)
        #expect(Self.owner(of: ["f:metadata", "f:labels", "f:x"], in: recorded).isEmpty)
        #expect(Self.entries(recorded).allSatisfy { $0.manager != "kubectl-edit" }, "a pure removal owns nothing")
    }

    @Test func firstApplyOverUntrackedObjectSeesBeforeFirstApply() {
        let untracked = Self.deployment()
        let intent = json(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}}"#)
        #expect {
            try ServerSideApply.apply(intent, to: untracked, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        } throws: { error in
            (error as? PatchError)?.message == #"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
        }
    }

    @Test func setListsMergeAndPrune() throws {
        let cm = SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod")
        let a = json(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","finalizers":["a","b"]}}"#)
        let b = json(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","finalizers":["c"]}}"#)
        let first = try ServerSideApply.apply(a, to: nil, manager: "one", force: false, schema: cm, now: Self.t1)
        let second = try ServerSideApply.apply(b, to: first, manager: "two", force: false, schema: cm, now: Self.t2)
        #expect(second["metadata"]?["finalizers"] == json(#"["a","b","c"]"#))
        let pruned = try ServerSideApply.apply(json(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","finalizers":["a"]}}"#), to: second, manager: "one", force: false, schema: cm, now: Self.t3)
        #expect(pruned["metadata"]?["finalizers"] == json(#"["a","c"]"#))
    }

    /// structured-merge-diff's list merge order, traced by hand through its visitListItems:
    /// shared items follow the applied order, live-only items keep their place, new items go
    /// where the applied list puts them.
    static let orders: [([String], [String], [String])] = [
        (["a", "b", "c"], ["c", "x", "a"], ["b", "c", "x", "a"]),
        (["a", "b"], ["a", "b", "c"], ["a", "b", "c"]),
        (["a", "b"], ["c"], ["a", "b", "c"]),
        ([], ["a", "b"], ["a", "b"]),
        (["a", "b", "c"], ["b"], ["a", "b", "c"]),
    ]

    @Test(arguments: orders)
    func mapListMergeOrder(live: [String], applied: [String], expected: [String]) {
        let items = { (names: [String]) in names.map { JSONValue.object(["name": .string($0)]) } }
        let merged = ServerSideApply.mergeItems(items(live), items(applied), id: { $0["name"]?.stringValue }, merge: { _, new in new })
        #expect(merged.compactMap { $0["name"]?.stringValue } == expected)
    }

    @Test func multipleConflictsAreListedPerManager() throws {
        let created = try ServerSideApply.apply(Self.deployment(), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
        let intent = Self.deployment(replicas: 9, image: "nginx:2")
        do {
            _ = try ServerSideApply.apply(intent, to: created, manager: "ci", force: false, schema: Self.schema, now: Self.t2)
            Issue.record("expected conflicts")
        } catch {
            #expect(error.message == "Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image")
            #expect(error.causes.count == 2)
        }
    }

    @Test func resetFieldsAreNeitherOwnedNorConflicting() throws {
        var intent = Self.deployment()
        if case .object(var m) = intent { m["status"] = json(#"{"replicas":2}"#); intent = .object(m) }
        let created = try ServerSideApply.apply(intent, to: nil, manager: "kubectl", subresource: nil, force: false, schema: Self.schema,
                                                now: Self.t1, resetFields: [["f:status"]])
        #expect(Self.entries(created).allSatisfy { entry in !entry.fields.paths.contains { $0.first == "f:status" } })
        #expect(Self.entries(created).first?.fields.contains(Self.replicas) == true)
        var statusWrite = created
        if case .object(var m) = statusWrite { m["status"] = json(#"{"replicas":3}"#); statusWrite = .object(m) }
        let main = ServerSideApply.recordUpdate(old: created, new: statusWrite, manager: "controller", subresource: nil, schema: Self.schema,
                                                now: Self.t2, resetFields: [["f:status"]])
        #expect(Self.entries(main).allSatisfy { $0.manager != "controller" })
        let status = ServerSideApply.recordUpdate(old: created, new: statusWrite, manager: "controller", subresource: "status", schema: Self.schema,
                                                  now: Self.t2, resetFields: [["f:spec"]])
        let entry = try #require(Self.entries(status).first { $0.manager == "controller" })
        #expect(entry.subresource == "status" && entry.fields.paths == [["f:status", "f:replicas"]])
    }

    static let refused: [(String, String, Bool)] = [
        ("not an object", #"[1]"#, true),
        ("managedFields set", #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","managedFields":[]}}"#, true),
        ("list item without its key", #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#, false),
    ]

    @Test(arguments: refused)
    func badIntentsAreRefused(name: String, body: String, badRequest: Bool) {
        do {
            _ = try ServerSideApply.apply(json(body), to: nil, manager: "kubectl", force: false, schema: Self.schema, now: Self.t1)
            Issue.record("\(name): expected an error")
        } catch {
            #expect(error.isBadRequest == badRequest && !error.isConflict, "\(name): \(error.message)")
        }
    }
}

/// An ordinary write keeps the JSON of the managedFields entries it leaves alone (no decoding
/// and encoding back), with a result identical to decoding and re-encoding every entry.
@Suite struct RecordUpdateVerbatimTests {
    static let schema = SchemaRegistry.builtin.schema(apiVersion: "apps/v1", kind: "Deployment")

    /// Two managers: kubectl-create made the object, the autoscaler then took spec.replicas.
    static var scaled: JSONValue {
        let created = ServerSideApply.recordUpdate(old: nil, new: ServerSideApplyTests.deployment(labels: #"{"app":"web","tier":"fe"}"#),
                                                   manager: "kubectl-create", schema: schema, now: ServerSideApplyTests.t1)
        return ServerSideApply.recordUpdate(old: created, new: withoutManagedFields(edit(created, ["spec", "replicas"], .number(3))),
                                            manager: "autoscaler", schema: schema, now: ServerSideApplyTests.t2)
    }

    static func edit(_ object: JSONValue, _ path: [String], _ value: JSONValue?) -> JSONValue {
        guard case .object(var members) = object, let first = path.first else { return value ?? .null }
        if path.count == 1 { members[first] = value } else { members[first] = edit(members[first] ?? .object([:]), Array(path.dropFirst()), value) }
        return .object(members)
    }

    static func withoutManagedFields(_ object: JSONValue) -> JSONValue { edit(object, ["metadata", "managedFields"], nil) }

    static func array(_ value: JSONValue?) -> [JSONValue]? {
        if case .array(let items)? = value { return items }
        return nil
    }

    /// The same field set written another way: each owned leaf `{}` as `{".":{}}`.
    static func spelledOtherwise(_ fieldsV1: JSONValue) -> JSONValue {
        guard case .object(let members) = fieldsV1 else { return fieldsV1 }
        if members.isEmpty { return .object([".": .object([:])]) }
        return .object(members.mapValues { spelledOtherwise($0) })
    }

    static let writes: [(name: String, manager: String, path: [String], value: JSONValue?)] = [
        ("image: the creator's field", "kubectl-edit", ["spec", "template", "spec", "containers"], .array([.object(["name": .string("nginx"), "image": .string("nginx:2")])])),
        ("replicas: the autoscaler's field", "hpa", ["spec", "replicas"], .number(5)),
        ("a new label: nobody's field", "labeler", ["metadata", "labels", "x"], .string("1")),
        ("a removed label", "kubectl-edit", ["metadata", "labels", "tier"], nil),
        ("a status: nobody's field", "kubectl-edit", ["status"], .object(["replicas": .number(1)])),
        ("the autoscaler again", "autoscaler", ["spec", "replicas"], .number(4)),
        ("the autoscaler, no change", "autoscaler", ["spec", "replicas"], .number(3)),
        ("the creator's own image", "kubectl-create", ["spec", "template", "spec", "containers"], .array([.object(["name": .string("nginx"), "image": .string("nginx:2")])])),
        ("the creator's own label removed", "kubectl-create", ["metadata", "labels", "tier"], nil),
    ]

    @Test(arguments: writes)
    func sameResultAsDecodingEveryEntry(_ write: (name: String, manager: String, path: [String], value: JSONValue?)) throws {
        let old = Self.scaled
        let new = Self.withoutManagedFields(Self.edit(old, write.path, write.value))
        let fast = ServerSideApply.recordUpdate(old: old, new: new, manager: write.manager, schema: Self.schema, now: ServerSideApplyTests.t3)

        // Entries spelled non-canonically are always decoded and encoded again.
        let items = try #require(Self.array(old["metadata"]?["managedFields"]))
        let respelled: [JSONValue] = items.map { item in
            guard case .object(var m) = item else { return item }
            m["fieldsV1"] = Self.spelledOtherwise(m["fieldsV1"] ?? .object([:]))
            return .object(m)
        }
        #expect(respelled.allSatisfy { !FieldSet.isCanonicalFieldsV1($0["fieldsV1"] ?? .null) })
        let decoded = ServerSideApply.recordUpdate(old: Self.edit(old, ["metadata", "managedFields"], .array(respelled)), new: new,
                                                   manager: write.manager, schema: Self.schema, now: ServerSideApplyTests.t3)
        #expect(fast == decoded, "\(write.name)")
        // A write of fields its manager owns already keeps that entry's set (and its time when
        // nothing changed); the entry's JSON is the set's encoding either way.
        let before = ServerSideApply.decodedManagedFields(of: old).first { $0.manager == write.manager }
        let after = ServerSideApply.decodedManagedFields(of: fast).first { $0.manager == write.manager }
        if write.name.hasPrefix("the autoscaler") { #expect(after?.fields == before?.fields, "\(write.name)") }
        if write.name == "the autoscaler, no change" { #expect(after?.time == ServerSideApplyTests.t2) }
        if write.name == "the autoscaler again" { #expect(after?.time == ServerSideApplyTests.t3) }
        #expect(ServerSideApply.withManagedFields(fast, ServerSideApply.decodedManagedFields(of: fast)) == fast, "\(write.name): canonical")
    }

    @Test func untouchedEntriesKeepTheirJSON() throws {
        let old = Self.scaled
        let autoscaler = try #require(Self.array(old["metadata"]?["managedFields"])?.first { $0["manager"] == JSONValue.string("autoscaler") })
        // Entries this server writes are canonical, so a write that leaves them alone keeps them as read.
        for item in Self.array(old["metadata"]?["managedFields"]) ?? [] {
            #expect(ManagedFieldsEntry(header: item) != nil)
            #expect(FieldSet.isCanonicalFieldsV1(item["fieldsV1"] ?? .null))
        }
        let new = Self.withoutManagedFields(Self.edit(old, ["metadata", "labels", "tier"], nil))
        let recorded = ServerSideApply.recordUpdate(old: old, new: new, manager: "kubectl-edit", schema: Self.schema, now: ServerSideApplyTests.t3)
        let after = try #require(Self.array(recorded["metadata"]?["managedFields"]))
        #expect(after.contains(autoscaler))
        let creator = try #require(ServerSideApply.decodedManagedFields(of: recorded).first { $0.manager == "kubectl-create" })
        #expect(!creator.fields.contains(["f:metadata", "f:labels", "f:tier"]))
        #expect(creator.fields.contains(["f:metadata", "f:labels", "f:app"]))
    }

    @Test func fieldsV1TreesAreReadInPlace() throws {
        let sample = try JSONValue.parse(Array(FieldSetTests.sample.utf8))
        #expect(FieldSet.isCanonicalFieldsV1(sample))
        let set = try FieldSet(fieldsV1: sample)
        for path in set.paths { #expect(FieldSet.fieldsV1(sample, owns: path)) }
        #expect(!FieldSet.fieldsV1(sample, owns: ["f:metadata"]))
        #expect(!FieldSet.fieldsV1(sample, owns: ["f:spec", "f:containers"]))
        #expect(!FieldSet.fieldsV1(sample, owns: ["f:spec", "f:nothing"]))
        for text in [#"{}"#, #"{".":{}}"#, #"{"f:a":{".":{}}}"#, #"{"x:a":{}}"#, #"{"f:a":1}"#, #"{"f:a":{".":{"f:b":{}},"f:c":{}}}"#] {
            #expect(!FieldSet.isCanonicalFieldsV1(try JSONValue.parse(Array(text.utf8))), "\(text)")
        }
    }
}

/// The field walk leaves out what no manager owns (apiVersion, kind, identity metadata,
/// managedFields) and a write's reset fields by pruning the walk; the result must be what
/// walking everything and removing those paths afterwards gives.
@Suite struct FieldWalkerPruningTests {
    static let pod = try! JSONValue.parse(Array(#"""
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1", "generation": 3, "resourceVersion": "9",
                      "creationTimestamp": "2026-11-26T08:00:00Z", "selfLink": "/x", "labels": {"app": "web"}, "finalizers": ["a"],
                      "managedFields": [{"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
                                         "fieldsV1": {"f:spec": {"f:nodeName": {}}}}]},
         "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "a:1", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {"startedAt": "2026-11-26T08:00:01Z"}}}]}}
        """#.utf8))

    static func removingPaths(_ entries: [FieldPath: FieldEntry], under prefixes: [FieldPath]) -> [FieldPath: FieldEntry] {
        entries.filter { entry in !prefixes.contains { entry.key.count >= $0.count && Array(entry.key.prefix($0.count)) == $0 } }
    }

    static let schemas: [(apiVersion: String, kind: String)] = [("v1", "Pod"), ("v1", "NoSuchKind")]

    @Test(arguments: schemas)
    func prunedWalkIsTheFilteredWalk(apiVersion: String, kind: String) {
        let schema = SchemaRegistry.builtin.schema(apiVersion: apiVersion, kind: kind)
        var plain = FieldWalker(includeMapNodes: true)
        let all = plain.entries(of: Self.pod, schema: schema)
        #expect(!all.keys.contains { ServerSideApply.isStripped($0) })
        #expect(all.keys.contains(["f:spec"]) || all.keys.contains { $0.first == "f:spec" && $0.count > 1 })
        for ignoring in [[["f:status"]], [["f:spec"]], [["f:spec", "f:nodeName"]], [["f:status"], ["f:metadata", "f:labels"]]] as [[FieldPath]] {
            var walker = FieldWalker(includeMapNodes: true, ignoring: ignoring)
            #expect(walker.entries(of: Self.pod, schema: schema) == Self.removingPaths(all, under: ignoring), "\(kind) ignoring \(ignoring)")
        }
        // With a schema, the stripped members add nothing: the object without them walks the
        // same (without one, metadata is a single leaf holding them).
        guard schema != nil else { return }
        var bare = Self.pod
        if case .object(var members) = bare, case .object(var metadata)? = members["metadata"] {
            for name in ServerSideApply.strippedMetadataNames + ["managedFields"] { metadata[name] = nil }
            members["metadata"] = .object(metadata)
            members["apiVersion"] = nil
            members["kind"] = nil
            bare = .object(members)
        }
        var again = FieldWalker(includeMapNodes: true)
        #expect(again.entries(of: bare, schema: schema) == all)
        #expect(all[["f:metadata", "f:labels", "f:app"]] != nil)
        #expect(all[["f:status", "f:phase"]] == .leaf(.string("Running")))
    }
}

/// A create's managedFields entry is built as a FieldsV1 tree in one walk; it must be what the
/// general path (path sets, then their FieldsV1 form) gives, object for object.
@Suite struct CreateFieldsV1Tests {
    static func object(_ text: String) -> JSONValue { try! JSONValue.parse(Array(text.utf8)) }

    static let objects: [(apiVersion: String, kind: String, text: String)] = [
        ("v1", "Pod", #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d","uid":"u","creationTimestamp":"2026-11-26T08:00:00Z","generation":1,"labels":{"app":"web","tier":"fe"},"annotations":{"a":"b"},"finalizers":["x","y"],"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"r1","controller":true}]},"spec":{"nodeSelector":{"disk":"ssd"},"containers":[{"name":"app","image":"a:1","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}],"env":[{"name":"A","value":"1"}],"resources":{"limits":{"cpu":"1"}}},{"name":"side","image":"b:1","ports":[]}],"tolerations":[{"key":"k","operator":"Exists"}],"volumes":[{"name":"v","emptyDir":{}}]},"status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"True"}]}}"#),
        ("v1", "Pod", #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dup"},"spec":{"containers":[{"name":"a","image":"x"},{"name":"a","args":["1"]}]}}"#),
        ("v1", "Pod", #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bare","namespace":"d"},"spec":{}}"#),
        ("v1", "Pod", #"{"metadata":{},"spec":{"containers":[{"image":"no-name"}]}}"#),
        ("v1", "Service", #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","labels":{}},"spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080,"protocol":"TCP"},{"port":443}],"clusterIPs":["10.0.0.1"],"type":"ClusterIP"}}"#),
        ("coordination.k8s.io/v1", "Lease", #"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1","namespace":"kube-node-lease","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n1","uid":"u"}]},"spec":{"holderIdentity":"n1","leaseDurationSeconds":40,"renewTime":"2026-11-26T08:00:00.000000Z"}}"#),
        ("v1", "ConfigMap", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","unknown":{"x":1}},"data":{"k":"v","e":""},"extra":{"a":[1,2]}}"#),
    ]

    static let resets: [[FieldPath]] = [[], [["f:status"]], [["f:spec"]]]

    @Test(arguments: objects)
    func directTreeIsTheSetsFieldsV1(apiVersion: String, kind: String, text: String) throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: apiVersion, kind: kind))
        let value = Self.object(text)
        for reset in Self.resets {
            var sets = FieldWalker(includeMapNodes: true, ignoring: reset)
            let expected = FieldSet(Set(sets.entries(of: value, schema: schema).keys)).fieldsV1
            var direct = FieldWalker(includeMapNodes: true, ignoring: reset)
            #expect(direct.canBuildFieldsV1Directly)
            #expect(direct.ownedFieldsV1(of: value, schema: schema) == expected, "\(kind) reset \(reset)")
        }
    }

    @Test(arguments: objects)
    func createRecordsWhatTheGeneralPathRecords(apiVersion: String, kind: String, text: String) {
        let schema = SchemaRegistry.builtin.schema(apiVersion: apiVersion, kind: kind)
        let value = Self.object(text)
        // An explicit empty managedFields takes the general path; with none the direct one. (An
        // empty metadata would stop being empty, and so a leaf, with it: directTreeIsTheSetsFieldsV1
        // covers that object.)
        guard case .object(let metadata)? = value["metadata"], !metadata.isEmpty else { return }
        var general = value
        if case .object(var members) = general {
            var metadata = members["metadata"]?.objectValue ?? [:]
            metadata["managedFields"] = .array([])
            members["metadata"] = .object(metadata)
            general = .object(members)
        }
        for (subresource, reset) in [(nil, [["f:status"]]), ("status", [["f:spec"]]), (nil, [])] as [(String?, [FieldPath])] {
            let fast = ServerSideApply.recordUpdate(old: nil, new: value, manager: "creator", subresource: subresource, schema: schema,
                                                    now: "2026-11-26T08:00:00Z", resetFields: reset)
            let slow = ServerSideApply.recordUpdate(old: nil, new: general, manager: "creator", subresource: subresource, schema: schema,
                                                    now: "2026-11-26T08:00:00Z", resetFields: reset)
            #expect(fast == slow, "\(kind) \(subresource ?? "main") reset \(reset)")
            if reset.isEmpty {
                #expect(RecordUpdateVerbatimTests.array(fast["metadata"]?["managedFields"])?.count == 1, "\(kind): one entry is recorded")
            }
        }
    }
}

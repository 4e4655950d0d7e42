import Testing
import TestSupport
import KubeAPI
@testable import APIMachinery

/// `FieldWalker.entryTree(of:comparedWith:schema:)` leaves out members of nested structures
/// that the other object holds equal; the comparison of two such trees must be the comparison
/// of the whole trees (changed and removed paths, their counts), for random pairs of pods and
/// Leases, and `recordUpdate` must still record what the general path records.
@Suite struct ShadowedEntryTreeTests {
    /// SplitMix64, FieldValidationEquivalenceTests' generator: a fixed sequence, so a failure
    /// can be replayed.
    typealias Random = FieldValidationEquivalenceTests.Generator

    static func object(_ text: String) -> JSONValue { try! JSONValue.parse(Array(text.utf8)) }

    static let pod = object(#"""
        {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d","uid":"u","generation":1,"creationTimestamp":"2026-11-26T08:00:00Z","labels":{"app":"web"},"annotations":{"a":"1"}},
         "spec":{"containers":[{"name":"app","image":"a:1","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}],"resources":{"limits":{"cpu":"1"}}}],
                 "securityContext":{"runAsUser":1,"seLinuxOptions":{"level":"s0"}},"tolerations":[{"key":"k","operator":"Exists"}],"dnsConfig":{"nameservers":["1.1.1.1"]}},
         "status":{"phase":"Pending","qosClass":"BestEffort","conditions":[{"type":"PodScheduled","status":"True"}]}}
        """#)

    /// Edits at every depth: top-level members, nested structures (left out when equal), their
    /// members, lists, maps, empty objects, values of the wrong type.
    static let podEdits: [([String], JSONValue?)] = [
        (["metadata", "generation"], .number(2)),
        (["metadata", "labels", "app"], .string("api")),
        (["metadata", "labels", "tier"], .string("x")),
        (["metadata", "labels"], nil),
        (["metadata", "labels"], .object([:])),
        (["metadata", "annotations", "b"], .string("2")),
        (["metadata", "resourceVersion"], .string("7")),
        (["metadata", "ownerReferences"], object(#"[{"apiVersion":"v1","kind":"Node","name":"n","uid":"x"}]"#)),
        (["spec", "nodeName"], .string("n1")),
        (["spec", "nodeName"], nil),
        (["spec", "securityContext", "runAsUser"], .number(2)),
        (["spec", "securityContext", "seLinuxOptions", "level"], .string("s1")),
        (["spec", "securityContext", "seLinuxOptions"], .object([:])),
        (["spec", "securityContext", "seLinuxOptions"], nil),
        (["spec", "securityContext"], .object([:])),
        (["spec", "securityContext"], .string("not an object")),
        (["spec", "dnsConfig", "nameservers"], object(#"["8.8.8.8","1.1.1.1"]"#)),
        (["spec", "dnsConfig", "options"], object(#"[{"name":"ndots","value":"2"}]"#)),
        (["spec", "containers"], object(#"[{"name":"app","image":"a:2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]}]"#)),
        (["spec", "containers"], object(#"[{"name":"app","image":"a:1","ports":[{"containerPort":80},{"containerPort":80,"protocol":"TCP"}]},{"name":"app","image":"dup"}]"#)),
        (["spec", "tolerations"], .array([])),
        (["spec", "unknownField", "x"], .number(1)),
        (["status", "phase"], .string("Running")),
        (["status", "hostIP"], .string("10.0.0.1")),
        (["status", "conditions"], object(#"[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False"}]"#)),
        (["status", "containerStatuses"], object(#"[{"name":"app","ready":true,"state":{"running":{"startedAt":"t"}}}]"#)),
        (["status"], .object([:])),
        (["status"], nil),
        (["spec"], .object(["nodeName": .string("only")])),
    ]

    static let lease = object(#"""
        {"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1","namespace":"kube-node-lease","uid":"l","generation":4,"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n1","uid":"u"}]},
         "spec":{"holderIdentity":"n1","leaseDurationSeconds":40,"renewTime":"2026-11-26T08:00:00.000000Z"}}
        """#)

    static let leaseEdits: [([String], JSONValue?)] = [
        (["metadata", "generation"], .number(5)),
        (["metadata", "labels", "a"], .string("b")),
        (["spec", "renewTime"], .string("2026-11-26T08:00:10.000000Z")),
        (["spec", "holderIdentity"], nil),
        (["spec", "leaseTransitions"], .number(1)),
        (["spec"], .object([:])),
    ]

    static func randomlyEdited(_ object: JSONValue, _ edits: [([String], JSONValue?)], _ random: inout Random) -> JSONValue {
        var result = object
        for _ in 0..<random.below(4) {
            let (path, value) = edits[random.below(edits.count)]
            result = RecordUpdateTreeTests.edit(result, path, value)
        }
        return result
    }

    static func check(_ base: JSONValue, _ edits: [([String], JSONValue?)], schema: TypeSchema, resets: [[FieldPath]], seed: UInt64) {
        var random = Random(seed: seed)
        var shadowedLeftOut = 0
        for round in 0..<300 {
            let old = randomlyEdited(base, edits, &random)
            let new = randomlyEdited(old, edits, &random)
            for reset in resets {
                var walker = FieldWalker(includeMapNodes: true, ignoring: reset)
                let whole = TreeComparison(from: walker.entryTree(of: old, schema: schema), to: walker.entryTree(of: new, schema: schema))
                let shadowedOld = walker.entryTree(of: old, comparedWith: new, schema: schema)
                let shadowedNew = walker.entryTree(of: new, comparedWith: old, schema: schema)
                let shadowed = TreeComparison(from: shadowedOld, to: shadowedNew)
                #expect(shadowed.changed.fieldsV1 == whole.changed.fieldsV1, "round \(round) reset \(reset): changed")
                #expect(shadowed.removed.fieldsV1 == whole.removed.fieldsV1, "round \(round) reset \(reset): removed")
                #expect(shadowed.changedCount == whole.changedCount && shadowed.removedCount == whole.removedCount, "round \(round) reset \(reset): counts")
                if count(shadowedNew) < count(walker.entryTree(of: new, schema: schema)) { shadowedLeftOut += 1 }

                // What the server records: the tree path (with shadows) against the general path.
                let recordedOld = ServerSideApply.recordUpdate(old: nil, new: old, manager: "creator", subresource: nil, schema: schema, now: "t0", resetFields: reset)
                let next = RecordUpdateVerbatimTests.withoutManagedFields(RecordUpdateTreeTests.edit(new, ["metadata", "managedFields"], nil))
                for manager in ["creator", "other"] {
                    let general = ServerSideApply.recordUpdate(old: recordedOld, new: next, manager: manager, subresource: nil, schema: schema, now: "t1", resetFields: reset, fastPaths: false)
                    let fast = ServerSideApply.recordUpdate(old: recordedOld, new: next, manager: manager, subresource: nil, schema: schema, now: "t1", resetFields: reset, fastPaths: true)
                    #expect(fast == general, "round \(round) reset \(reset) manager \(manager)")
                }
            }
        }
        // The walks did leave members out (else this compared nothing new).
        #expect(shadowedLeftOut > 50)
    }

    static func count(_ node: EntryNode) -> Int { node.children.values.reduce(1) { $0 + count($1) } }

    @Test func podComparisonsAreTheWholeTreesComparisons() throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod"))
        Self.check(Self.pod, Self.podEdits, schema: schema, resets: [[], [["f:status"]], [["f:spec"]]], seed: 1)
    }

    @Test func leaseComparisonsAreTheWholeTreesComparisons() throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: "coordination.k8s.io/v1", kind: "Lease"))
        Self.check(Self.lease, Self.leaseEdits, schema: schema, resets: [[]], seed: 2)
    }

    /// Nodes with many children (a ConfigMap's data, a long env list) look their children up
    /// through an index: the trees still give what the path sets give.
    @Test func wideNodesMatchThePathSets() throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "ConfigMap"))
        var data: [String: JSONValue] = [:]
        for i in 0..<100 { data["key-\(i)"] = .string("v\(i)") }
        let old = JSONValue.object(["apiVersion": .string("v1"), "kind": .string("ConfigMap"), "metadata": .object(["name": .string("c"), "namespace": .string("d")]), "data": .object(data)])
        var changedData = data
        for i in stride(from: 0, to: 100, by: 7) { changedData["key-\(i)"] = .string("changed") }
        for i in stride(from: 3, to: 100, by: 11) { changedData["key-\(i)"] = nil }
        for i in 100..<130 { changedData["key-\(i)"] = .string("new") }
        let new = RecordUpdateTreeTests.edit(old, ["data"], .object(changedData))
        var walker = FieldWalker(includeMapNodes: true)
        #expect(walker.ownedFieldsV1(of: new, schema: schema) == FieldSet(Set(walker.entries(of: new, schema: schema).keys)).fieldsV1)
        let paths = FieldComparison(from: walker.entries(of: old, schema: schema), to: walker.entries(of: new, schema: schema))
        let trees = TreeComparison(from: walker.entryTree(of: old, comparedWith: new, schema: schema), to: walker.entryTree(of: new, comparedWith: old, schema: schema))
        #expect(trees.changed.fieldsV1 == paths.changed.fieldsV1)
        #expect(trees.removed.fieldsV1 == paths.removed.fieldsV1)
        #expect(trees.changedCount == paths.changed.paths.count && trees.removedCount == paths.removed.paths.count)
        // 15 changed less 2 of them removed (14, 91), 30 added; 9 removed.
        #expect(paths.changed.paths.count == 13 + 30 && paths.removed.paths.count == 9)
    }

    @Test func childListKeepsOrderAndFindsEveryChild() {
        var list = ChildList<Int>()
        for i in 0..<40 {
            list.descend("k\(i)", make: i) { $0 += 1000 }
            #expect(list.count == i + 1)
        }
        for i in 0..<40 { #expect(list["k\(i)"] == i + 1000) }
        list.descend("k5", make: -1) { $0 += 1 }
        #expect(list["k5"] == 1006 && list.count == 40)
        list["k7"] = nil
        list["k0"] = 7
        list["new"] = 1
        #expect(list["k7"] == nil && list["k8"] == 1008 && list["k0"] == 7 && list["new"] == 1 && list.count == 40)
        #expect(list.map(\.key).prefix(3) == ["k0", "k1", "k2"])
        list.update("absent") { $0 = 0 }
        #expect(list["absent"] == nil)
        var small = ChildList<String>()
        small["a"] = "1"
        small["b"] = "2"
        small["a"] = nil
        #expect(small.map(\.key) == ["b"] && small["b"] == "2" && small["a"] == nil)
    }
}

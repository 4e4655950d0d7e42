import Testing
import TestSupport
import KubeAPI
@testable import APIMachinery

/// `FieldWalker.comparison(from:to:schema:)` compares two objects in one walk of both; it must
/// give what comparing their whole entry trees gives (changed and removed paths, their counts),
/// or nil, and nil only when a list repeats an element. Random pairs of pods, Leases and
/// ConfigMaps, edited at every depth, with each write's reset fields.
@Suite struct FusedComparisonTests {
    typealias Random = FieldValidationEquivalenceTests.Generator

    static func object(_ text: String) -> JSONValue { try! JSONValue.parse(Array(text.utf8)) }

    static let manyEnv = JSONValue.array((0..<20).map { .object(["name": .string("E\($0)"), "value": .string("\($0)")]) })
    static let manyFinalizers = JSONValue.array((0..<20).map { .string("f\($0)") })

    /// ShadowedEntryTreeTests' edits and more: identity metadata (owns nothing) with other
    /// changes, sets (finalizers) short and long, with a repeated value, long map lists, a
    /// running status (new map-list items in several lists), a map-list item without its key.
    static let podEdits: [([String], JSONValue?)] = ShadowedEntryTreeTests.podEdits + [
        (["metadata", "name"], .string("q")),
        (["metadata", "uid"], .string("u2")),
        (["metadata", "finalizers"], object(#"["a","b"]"#)),
        (["metadata", "finalizers"], object(#"["b"]"#)),
        (["metadata", "finalizers"], object(#"["a","a"]"#)),
        (["metadata", "finalizers"], manyFinalizers),
        (["metadata", "managedFields"], object(#"[{"manager":"m","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]"#)),
        (["spec", "containers"], .array([.object(["name": .string("app"), "image": .string("a:1"), "env": manyEnv])])),
        (["spec", "containers"], object(#"[{"name":"app","image":"a:1"},{"image":"no-name"},{"name":"side","image":"s:1"}]"#)),
        (["spec", "nodeSelector"], object(#"{"disk":"ssd"}"#)),
        (["spec", "nodeSelector"], object(#"{}"#)),
        (["status"], RecordUpdateTreeTests.runningStatus),
        (["status", "podIPs"], object(#"[{"ip":"10.0.0.1"},{"ip":"fd00::1"}]"#)),
        (["status", "conditions"], .array([])),
        (["status", "conditions"], .string("wrong type")),
        (["kind"], .string("Other")),
        (["extra"], .number(1)),
    ]

    static let configMap = object(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d","labels":{"a":"1"}},"data":{"k":"v","e":""}}"#)

    static let configMapEdits: [([String], JSONValue?)] = [
        (["data", "k"], .string("w")),
        (["data", "n"], .string("new")),
        (["data"], nil),
        (["data"], .object([:])),
        (["binaryData", "b"], .string("AAAA")),
        (["metadata", "labels", "a"], nil),
        (["metadata", "generation"], .number(3)),
        (["immutable"], .bool(true)),
    ]

    /// Whether a list of `value` (at any depth) repeats an element of the walk: containers by
    /// name, finalizers by value.
    static func repeats(_ value: JSONValue) -> Bool {
        func repeated(_ items: [String]) -> Bool { Set(items).count != items.count }
        if case .array(let items)? = value["metadata"]?["finalizers"], repeated(items.map { describe($0) }) { return true }
        if case .array(let items)? = value["spec"]?["containers"], repeated(items.compactMap { $0["name"]?.stringValue }) { return true }
        return false
    }

    static func check(_ base: JSONValue, _ edits: [([String], JSONValue?)], schema: TypeSchema, resets: [[FieldPath]], seed: UInt64) -> (compared: Int, declined: Int) {
        var random = Random(seed: seed)
        var compared = 0, declined = 0
        for round in 0..<400 {
            let old = ShadowedEntryTreeTests.randomlyEdited(base, edits, &random)
            let new = ShadowedEntryTreeTests.randomlyEdited(old, edits, &random)
            for reset in resets {
                let walker = FieldWalker(includeMapNodes: true, ignoring: reset)
                var trees = walker
                let whole = TreeComparison(from: trees.entryTree(of: old, schema: schema), to: trees.entryTree(of: new, schema: schema))
                guard let fused = walker.comparison(from: old, to: new, schema: schema) else {
                    declined += 1
                    #expect(repeats(old) || repeats(new), "round \(round) reset \(reset): declined without a repeated element")
                    continue
                }
                compared += 1
                #expect(fused.changed.fieldsV1 == whole.changed.fieldsV1, "round \(round) reset \(reset): changed")
                #expect(fused.removed.fieldsV1 == whole.removed.fieldsV1, "round \(round) reset \(reset): removed")
                #expect(fused.changedCount == whole.changedCount && fused.removedCount == whole.removedCount, "round \(round) reset \(reset): counts")
                // Its trees mark something at every node, as the trees' comparison's do.
                #expect(marksEveryNode(fused.changed) && marksEveryNode(fused.removed), "round \(round) reset \(reset): unmarked nodes")
            }
        }
        return (compared, declined)
    }

    static func marksEveryNode(_ node: OwnedNode) -> Bool {
        node.children.allSatisfy { $0.node.marksAny && (!$0.node.children.isEmpty || $0.node.member) && marksEveryNode($0.node) }
    }

    @Test func podComparisonsAreTheWholeTreesComparisons() throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod"))
        let (compared, declined) = Self.check(ShadowedEntryTreeTests.pod, Self.podEdits, schema: schema, resets: [[], [["f:status"]], [["f:spec"]]], seed: 7)
        // Most pairs are compared in one walk; some repeat an element and are declined.
        #expect(compared > 700 && declined > 10, "compared \(compared), declined \(declined)")
    }

    @Test func leaseComparisonsAreTheWholeTreesComparisons() throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: "coordination.k8s.io/v1", kind: "Lease"))
        let (compared, declined) = Self.check(ShadowedEntryTreeTests.lease, ShadowedEntryTreeTests.leaseEdits, schema: schema, resets: [[]], seed: 8)
        #expect(compared == 400 && declined == 0)
    }

    @Test func configMapComparisonsAreTheWholeTreesComparisons() throws {
        let schema = try #require(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "ConfigMap"))
        let (compared, declined) = Self.check(Self.configMap, Self.configMapEdits, schema: schema, resets: [[]], seed: 9)
        #expect(compared == 400 && declined == 0)
    }

    /// The kubelet's first status write and a Lease renewal, as the server records them: what
    /// the general path records (the fused comparison is the tree path's now).
    @Test func statusAndRenewalRecordWhatTheGeneralPathRecords() throws {
        let podSchema = try #require(SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod"))
        let created = ServerSideApply.recordUpdate(old: nil, new: RecordUpdateTreeTests.pod, manager: "creator", subresource: nil, schema: podSchema,
                                                   now: "t0", resetFields: [["f:status"]])
        let running = RecordUpdateTreeTests.edit(created, ["status"], RecordUpdateTreeTests.runningStatus)
        let general = ServerSideApply.recordUpdate(old: created, new: running, manager: "kubelet", subresource: "status", schema: podSchema,
                                                   now: "t1", resetFields: [["f:spec"]], fastPaths: false)
        let fast = ServerSideApply.recordUpdate(old: created, new: running, manager: "kubelet", subresource: "status", schema: podSchema,
                                                now: "t1", resetFields: [["f:spec"]], fastPaths: true)
        #expect(fast == general)
        #expect(ServerSideApply.decodedManagedFields(of: fast).map(\.manager) == ["creator", "kubelet"])
        let walker = FieldWalker(includeMapNodes: true, ignoring: [["f:spec"]])
        let comparison = try #require(walker.comparison(from: created, to: running, schema: podSchema))
        #expect(comparison.removedCount == 0 && comparison.changedCount > 10)
    }
}

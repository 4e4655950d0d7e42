import Testing
import KubeAPI
@testable import APIMachinery

@Suite struct StrategicMergePatchTests {
    static let pod = SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod")
    static let deployment = SchemaRegistry.builtin.schema(apiVersion: "apps/v1", kind: "Deployment")
    static let pdb = SchemaRegistry.builtin.schema(apiVersion: "policy/v1", kind: "PodDisruptionBudget")

    static let livePod = #"""
    {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"web","tier":"fe"},"finalizers":["a","b"]},
     "spec":{"containers":[{"name":"app","image":"app:1","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]},
                           {"name":"side","image":"side:1"}],
             "tolerations":[{"key":"k","operator":"Exists"}],
             "volumes":[{"name":"data","emptyDir":{}}],
             "securityContext":{"runAsUser":1000,"fsGroup":2000}}}
    """#

    /// (name, patch, expected result) against `livePod`, with the Pod schema.
    static let podCases: [(String, String, String)] = [
        ("labels merge, null deletes", #"{"metadata":{"labels":{"tier":null,"env":"prod"}}}"#,
         #"{"metadata":{"labels":{"app":"web","env":"prod"}}}"#),
        ("containers merge by name", #"{"spec":{"containers":[{"name":"app","image":"app:2"}]}}"#,
         #"{"spec":{"containers":[{"name":"app","image":"app:2","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]},{"name":"side","image":"side:1"}]}}"#),
        // Upstream's order normalisation puts items the live list lacks first.
        ("new container goes first", #"{"spec":{"containers":[{"name":"third","image":"t:1"}]}}"#,
         #"{"spec":{"containers":[{"name":"third","image":"t:1"},{"name":"app","image":"app:1","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]},{"name":"side","image":"side:1"}]}}"#),
        ("$patch delete removes a keyed item", #"{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}"#,
         #"{"spec":{"containers":[{"name":"app","image":"app:1","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]}]}}"#),
        ("$patch replace replaces the list", #"{"spec":{"containers":[{"name":"only","image":"o:1"},{"$patch":"replace"}]}}"#,
         #"{"spec":{"containers":[{"name":"only","image":"o:1"}]}}"#),
        ("nested keyed lists merge", #"{"spec":{"containers":[{"name":"app","env":[{"name":"B","value":"2"}],"ports":[{"containerPort":80,"name":"http"}]}]}}"#,
         #"{"spec":{"containers":[{"name":"app","image":"app:1","ports":[{"containerPort":80,"protocol":"TCP","name":"http"}],"env":[{"name":"B","value":"2"},{"name":"A","value":"1"}]},{"name":"side","image":"side:1"}]}}"#),
        ("atomic list is replaced", #"{"spec":{"tolerations":[{"key":"other","operator":"Exists"}]}}"#,
         #"{"spec":{"tolerations":[{"key":"other","operator":"Exists"}]}}"#),
        ("map $patch replace", #"{"spec":{"securityContext":{"$patch":"replace","runAsNonRoot":true}}}"#,
         #"{"spec":{"securityContext":{"runAsNonRoot":true}}}"#),
        ("primitive merge list is a union", #"{"metadata":{"finalizers":["b","c"]}}"#,
         #"{"metadata":{"finalizers":["a","b","c"]}}"#),
        ("$deleteFromPrimitiveList", #"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}"#,
         #"{"metadata":{"finalizers":["b"]}}"#),
        ("$setElementOrder reorders", #"{"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"app"}],"containers":[{"name":"app","image":"app:3"}]}}"#,
         #"{"spec":{"containers":[{"name":"side","image":"side:1"},{"name":"app","image":"app:3","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","value":"1"}]}]}}"#),
        ("volume source switched with $retainKeys", #"{"spec":{"volumes":[{"name":"data","$retainKeys":["name","configMap"],"configMap":{"name":"cm"}}]}}"#,
         #"{"spec":{"volumes":[{"name":"data","configMap":{"name":"cm"}}]}}"#),
        ("new field with directives inside is cleaned", #"{"spec":{"hostAliases":[{"ip":"10.0.0.1","hostnames":["x"]}],"affinity":{"nodeAffinity":{"$patch":"delete"}}}}"#,
         #"{"spec":{"hostAliases":[{"ip":"10.0.0.1","hostnames":["x"]}],"affinity":{}}}"#),
    ]

    /// Only the parts of the result named in `expected` are compared, so each case states what
    /// it is about.
    static func subset(_ expected: JSONValue, of actual: JSONValue) -> Bool {
        guard case .object(let want) = expected, case .object(let have) = actual else { return expected == actual }
        return want.allSatisfy { name, value in have[name].map { subset(value, of: $0) } ?? false }
    }

    @Test(arguments: podCases)
    func podPatches(name: String, patch: String, expected: String) throws {
        let result = try StrategicMergePatch.apply(json(patch), to: json(Self.livePod), schema: Self.pod)
        #expect(Self.subset(json(expected), of: result), "\(name): \(render(result))")
    }

    @Test func untouchedFieldsSurvive() throws {
        let result = try StrategicMergePatch.apply(json(#"{"metadata":{"labels":{"x":"1"}}}"#), to: json(Self.livePod), schema: Self.pod)
        #expect(result["spec"] == json(Self.livePod)["spec"])
        #expect(result["metadata"]?["finalizers"] == json(#"["a","b"]"#))
    }

    @Test func reorderFollowsPatchOrderLikeUpstream() throws {
        let live = json(#"{"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}}"#)
        let result = try StrategicMergePatch.apply(json(#"{"spec":{"containers":[{"name":"c","image":"x"},{"name":"a","image":"y"}]}}"#), to: live, schema: Self.pod)
        let names = (result["spec"]?["containers"]).flatMap { value -> [String]? in
            guard case .array(let items) = value else { return nil }
            return items.compactMap { $0["name"]?.stringValue }
        }
        #expect(names == ["b", "c", "a"])
    }

    /// The shape of patch `kubectl apply` (client side) sends when a manifest changes an image,
    /// drops an env var and reorders containers.
    @Test func kubectlClientSideApplyPatch() throws {
        let live = json(#"""
        {"metadata":{"name":"web","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"old"}},
         "spec":{"replicas":1,"template":{"spec":{"containers":[
            {"name":"nginx","image":"nginx:1","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
            {"name":"side","image":"side:1"}]}}}}
        """#)
        let patch = json(#"""
        {"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},
         "spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"nginx"}],
            "containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":"delete","name":"B"}],"image":"nginx:2","name":"nginx"}]}}}}
        """#)
        let result = try StrategicMergePatch.apply(patch, to: live, schema: Self.deployment)
        #expect(result == json(#"""
        {"metadata":{"name":"web","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},
         "spec":{"replicas":1,"template":{"spec":{"containers":[
            {"name":"side","image":"side:1"},
            {"name":"nginx","image":"nginx:2","env":[{"name":"A","value":"1"}]}]}}}}
        """#))
    }

    @Test func deploymentStrategyRetainKeys() throws {
        let live = json(#"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}},"replicas":2}}"#)
        let result = try StrategicMergePatch.apply(json(#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#), to: live, schema: Self.deployment)
        #expect(result == json(#"{"spec":{"strategy":{"type":"Recreate"},"replicas":2}}"#))
    }

    @Test func retainKeysMustListThePatchedFields() {
        let live = json(#"{"spec":{"strategy":{"type":"RollingUpdate"}}}"#)
        #expect {
            try StrategicMergePatch.apply(json(#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":1}}}}"#), to: live, schema: Self.deployment)
        } throws: { error in
            (error as? PatchError).map { !$0.isBadRequest && $0.message.contains("not in $retainKeys") } ?? false
        }
    }

    @Test func replaceStrategyReplacesObject() throws {
        let live = json(#"{"spec":{"selector":{"matchLabels":{"a":"1"}},"minAvailable":1}}"#)
        let result = try StrategicMergePatch.apply(json(#"{"spec":{"selector":{"matchLabels":{"b":"2"}}}}"#), to: live, schema: Self.pdb)
        #expect(result == json(#"{"spec":{"selector":{"matchLabels":{"b":"2"}},"minAvailable":1}}"#))
    }

    @Test func withoutSchemaListsAreReplaced() throws {
        let live = json(#"{"spec":{"containers":[{"name":"a"},{"name":"b"}]},"x":{"y":1}}"#)
        let result = try StrategicMergePatch.apply(json(#"{"spec":{"containers":[{"name":"a","image":"i"}]},"x":{"z":2}}"#), to: live, schema: nil)
        #expect(result == json(#"{"spec":{"containers":[{"name":"a","image":"i"}]},"x":{"y":1,"z":2}}"#))
    }

    /// (name, patch, bad request?, message fragment)
    static let malformed: [(String, String, Bool, String)] = [
        ("not an object", #"[1]"#, true, "must be a JSON object"),
        ("missing merge key", #"{"spec":{"containers":[{"image":"x"}]}}"#, true, "does not contain declared merge key: name"),
        ("unknown directive", #"{"spec":{"$patch":"explode"}}"#, true, "unknown $patch directive \"explode\""),
        ("retainKeys not a list", #"{"spec":{"volumes":[{"name":"data","$retainKeys":"name"}]}}"#, true, "$retainKeys must be a list"),
        ("setElementOrder not a list", #"{"spec":{"$setElementOrder/containers":{"name":"x"}}}"#, true, "must be a list"),
    ]

    @Test(arguments: malformed)
    func malformedPatchesAreRefused(name: String, patch: String, badRequest: Bool, fragment: String) {
        do {
            let result = try StrategicMergePatch.apply(json(patch), to: json(Self.livePod), schema: Self.pod)
            Issue.record("\(name): expected an error, got \(render(result))")
        } catch {
            #expect(error.isBadRequest == badRequest, "\(name)")
            #expect(error.message.contains(fragment), "\(name): \(error.message)")
        }
    }
}

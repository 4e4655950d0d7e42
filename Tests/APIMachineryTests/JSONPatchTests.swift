import Testing
import KubeAPI
@testable import APIMachinery

@Suite struct JSONPatchTests {
    /// RFC 6902 appendix A examples that succeed: (name, document, patch, result). A.13 (a
    /// duplicate "op" member) cannot be expressed once parsed; the server rejects duplicate keys.
    static let succeeding: [(String, String, String, String)] = [
        ("A.1 add object member", #"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#, #"{"baz":"qux","foo":"bar"}"#),
        ("A.2 add array element", #"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#, #"{"foo":["bar","qux","baz"]}"#),
        ("A.3 remove object member", #"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#, #"{"foo":"bar"}"#),
        ("A.4 remove array element", #"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#, #"{"foo":["bar","baz"]}"#),
        ("A.5 replace", #"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#, #"{"baz":"boo","foo":"bar"}"#),
        ("A.6 move value", #"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#,
         #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#, #"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#),
        ("A.7 move array element", #"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#,
         #"{"foo":["all","cows","eat","grass"]}"#),
        ("A.8 test success", #"{"baz":"qux","foo":["a",2,"c"]}"#,
         #"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#, #"{"baz":"qux","foo":["a",2,"c"]}"#),
        ("A.10 add nested member", #"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#,
         #"{"child":{"grandchild":{}},"foo":"bar"}"#),
        ("A.11 ignore unrecognized members", #"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux","xyz":123}]"#, #"{"baz":"qux","foo":"bar"}"#),
        ("A.14 ~ escape ordering", #"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10}]"#, #"{"/":9,"~1":10}"#),
        ("A.16 add array value", #"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#, #"{"foo":["bar",["abc","def"]]}"#),
        ("copy", #"{"a":{"b":1}}"#, #"[{"op":"copy","from":"/a","path":"/c"}]"#, #"{"a":{"b":1},"c":{"b":1}}"#),
        ("replace whole document", #"{"a":1}"#, #"[{"op":"replace","path":"","value":[1]}]"#, #"[1]"#),
        ("add replaces existing member", #"{"a":1}"#, #"[{"op":"add","path":"/a","value":2}]"#, #"{"a":2}"#),
        ("operations run in order", #"{}"#, #"[{"op":"add","path":"/l","value":[]},{"op":"add","path":"/l/0","value":"x"},{"op":"add","path":"/l/-","value":"y"}]"#,
         #"{"l":["x","y"]}"#),
        ("kubectl label-style escape", #"{"metadata":{"labels":{}}}"#, #"[{"op":"add","path":"/metadata/labels/app.kubernetes.io~1name","value":"web"}]"#,
         #"{"metadata":{"labels":{"app.kubernetes.io/name":"web"}}}"#),
    ]

    @Test(arguments: succeeding)
    func rfc6902AppendixA(name: String, document: String, patch: String, expected: String) throws {
        let result = try JSONPatch.apply(json(patch), to: json(document))
        #expect(render(result) == render(json(expected)), "\(name)")
    }

    /// Patches that must fail: (name, document, patch, bad request?, message fragment).
    static let failing: [(String, String, String, Bool, String)] = [
        ("A.9 test error", #"{"baz":"qux"}"#, #"[{"op":"test","path":"/baz","value":"bar"}]"#, false, "test failed"),
        ("A.12 add to nonexistent target", #"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#, false, "\"baz\" does not exist"),
        ("A.15 string is not a number", #"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":"10"}]"#, false, "test failed"),
        ("not an array", #"{}"#, #"{"op":"add"}"#, true, "must be a JSON array"),
        ("unknown op", #"{}"#, #"[{"op":"merge","path":"/a"}]"#, true, "unknown op \"merge\""),
        ("missing value", #"{}"#, #"[{"op":"add","path":"/a"}]"#, true, "no member \"value\""),
        ("missing path", #"{}"#, #"[{"op":"remove"}]"#, true, "no string member \"path\""),
        ("pointer without slash", #"{}"#, #"[{"op":"add","path":"a","value":1}]"#, true, "must be empty or start with"),
        ("bad escape", #"{}"#, #"[{"op":"add","path":"/a~2","value":1}]"#, true, "not followed by 0 or 1"),
        ("remove missing member", #"{"a":1}"#, #"[{"op":"remove","path":"/b"}]"#, false, "member \"b\" does not exist"),
        ("replace missing member", #"{"a":1}"#, #"[{"op":"replace","path":"/b","value":2}]"#, false, "member \"b\" does not exist"),
        ("index out of bounds", #"{"a":[1]}"#, #"[{"op":"add","path":"/a/2","value":2}]"#, false, "out of bounds"),
        ("leading zero index", #"{"a":[1,2]}"#, #"[{"op":"remove","path":"/a/01"}]"#, false, "out of bounds"),
        ("move into own child", #"{"a":{"b":1}}"#, #"[{"op":"move","from":"/a","path":"/a/b/c"}]"#, false, "into its own child"),
        ("copy from missing", #"{}"#, #"[{"op":"copy","from":"/x","path":"/y"}]"#, false, "does not exist"),
        ("path through scalar", #"{"a":1}"#, #"[{"op":"add","path":"/a/b/c","value":1}]"#, false, "inside a scalar"),
        ("remove whole document", #"{"a":1}"#, #"[{"op":"remove","path":""}]"#, false, "whole document"),
    ]

    @Test(arguments: failing)
    func invalidPatchesFail(name: String, document: String, patch: String, badRequest: Bool, fragment: String) {
        do {
            let result = try JSONPatch.apply(json(patch), to: json(document))
            Issue.record("\(name): expected an error, got \(render(result))")
        } catch {
            #expect(error.isBadRequest == badRequest, "\(name)")
            #expect(error.httpStatus == (badRequest ? 400 : 422), "\(name)")
            #expect(error.message.contains(fragment), "\(name): \(error.message)")
        }
    }

    /// A failing later operation leaves no trace of earlier ones (the caller keeps `original`).
    @Test func failureIsAllOrNothing() {
        let original = json(#"{"a":1}"#)
        #expect(throws: PatchError.self) {
            try JSONPatch.apply(json(#"[{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":5}]"#), to: original)
        }
        #expect(render(original) == #"{"a":1}"#)
    }

    /// RFC 6901 section 5: every pointer of the example document.
    static let pointerDocument = #"{"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\j":5,"k\"l":6," ":7,"m~n":8}"#
    static let pointers: [(String, String)] = [
        ("", pointerDocument), ("/foo", #"["bar","baz"]"#), ("/foo/0", #""bar""#), ("/", "0"), ("/a~1b", "1"),
        ("/c%d", "2"), ("/e^f", "3"), ("/g|h", "4"), ("/i\\j", "5"), ("/k\"l", "6"), ("/ ", "7"), ("/m~0n", "8"),
    ]

    @Test(arguments: pointers)
    func rfc6901Pointers(pointer: String, expected: String) throws {
        let resolved = try JSONPointer(pointer).resolve(in: json(Self.pointerDocument))
        #expect(resolved.map(render) == render(json(expected)))
        #expect(try JSONPointer(pointer).description == pointer)
    }
}

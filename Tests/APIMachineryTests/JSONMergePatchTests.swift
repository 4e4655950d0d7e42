import Testing
import KubeAPI
@testable import APIMachinery

@Suite struct JSONMergePatchTests {
    /// RFC 7386 appendix A, every example: (original, patch, result).
    static let rfc7386: [(String, String, String)] = [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"a":1,"e":null}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ]

    @Test(arguments: rfc7386)
    func rfc7386AppendixA(original: String, patch: String, expected: String) {
        let result = JSONMergePatch.apply(json(patch), to: json(original))
        #expect(render(result) == render(json(expected)))
    }

    /// diff then apply gives back the target, for objects.
    static let diffCases: [(String, String)] = [
        (#"{"a":1,"b":{"c":2,"d":3}}"#, #"{"a":1,"b":{"c":4}}"#),
        (#"{"metadata":{"labels":{"x":"1"}}}"#, #"{"metadata":{"labels":{"y":"2"}},"spec":[1]}"#),
        (#"{"a":[1,2]}"#, #"{"a":[2]}"#),
        (#"{}"#, #"{}"#),
    ]

    @Test(arguments: diffCases)
    func diffRoundTrips(original: String, modified: String) {
        let patch = JSONMergePatch.diff(from: json(original), to: json(modified))
        #expect(render(JSONMergePatch.apply(patch, to: json(original))) == render(json(modified)))
    }
}

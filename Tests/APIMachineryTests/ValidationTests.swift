import Testing
import KubeAPI
@testable import APIMachinery

@Suite struct NameValidationTests {
    static let subdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    static let labelMessage = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    static let keyNameMessage = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    static let valueMessage = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

    static let subdomains: [(String, [String])] = [
        ("web", []), ("web-1.example.com", []), ("1abc", []), ("a", []), (String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 63), []),
        ("", [subdomainMessage]), ("Web", [subdomainMessage]), ("web_1", [subdomainMessage]), ("-web", [subdomainMessage]),
        ("web.", [subdomainMessage]), ("a..b", [subdomainMessage]), ("wéb", [subdomainMessage]),
        (String(repeating: "a", count: 254), ["must be no more than 253 characters"]),
    ]

    @Test(arguments: subdomains)
    func dns1123Subdomain(value: String, expected: [String]) {
        #expect(NameValidation.dns1123Subdomain(value) == expected)
    }

    static let labels: [(String, [String])] = [
        ("default", []), ("kube-system", []), ("0", []),
        ("my.name", ["must not contain dots"]), ("My", [labelMessage]), ("a-", [labelMessage]), ("", [labelMessage]),
        (String(repeating: "a", count: 64), ["must be no more than 63 characters"]),
    ]

    @Test(arguments: labels)
    func dns1123Label(value: String, expected: [String]) {
        #expect(NameValidation.dns1123Label(value) == expected)
    }

    static let keys: [(String, [String])] = [
        ("app", []), ("App_Name.v2", []), ("app.kubernetes.io/name", []), ("example.com/My-Key", []),
        ("/name", ["prefix part must be non-empty"]),
        ("Example.com/name", ["prefix part " + subdomainMessage]),
        ("example.com/", ["name part must be non-empty", keyNameMessage]),
        ("-app", [keyNameMessage]),
        (String(repeating: "k", count: 64), ["name part must be no more than 63 characters"]),
        ("a/b/c", ["a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
    ]

    @Test(arguments: keys)
    func labelKey(value: String, expected: [String]) {
        #expect(NameValidation.labelKey(value) == expected)
        #expect(NameValidation.qualifiedName(value) == expected)
    }

    static let values: [(String, [String])] = [
        ("", []), ("v1", []), ("my_value.2", []),
        ("-x", [valueMessage]), ("a b", [valueMessage]),
        (String(repeating: "v", count: 64), ["must be no more than 63 characters"]),
    ]

    @Test(arguments: values)
    func labelValue(value: String, expected: [String]) {
        #expect(NameValidation.labelValue(value) == expected)
    }

    @Test func annotationsSizeAndKeys() {
        #expect(NameValidation.annotations(["kubectl.kubernetes.io/last-applied-configuration": "{}", "Note": "x"]).isEmpty)
        let big = NameValidation.annotations(["a": String(repeating: "x", count: 256 * 1024)])
        #expect(big == [FieldCause(field: "metadata.annotations", message: "Too long: may not be more than 262144 bytes", reason: "FieldValueTooLong")])
        #expect(NameValidation.annotations(["a": String(repeating: "x", count: 256 * 1024 - 1)]).isEmpty)
        let bad = NameValidation.annotations(["bad key": "v"])
        #expect(bad.count == 1 && bad[0].reason == "FieldValueInvalid" && bad[0].message.hasPrefix("Invalid value: \"bad key\": name part"))
    }

    @Test func labelsReportKeysAndValues() {
        let causes = NameValidation.labels(["ok": "fine", "bad/key/x": "v", "k": "-bad"])
        #expect(causes.count == 2)
        #expect(causes.allSatisfy { $0.field == "metadata.labels" })
    }
}

@Suite struct FieldValidationTests {
    static let pod = SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod")!
    static let deployment = SchemaRegistry.builtin.schema(apiVersion: "apps/v1", kind: "Deployment")!

    /// (body, unknown field paths)
    static let podCases: [(String, [String])] = [
        (#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"any-key":"v"},"annotations":{"x/y":"z"}},"spec":{"containers":[{"name":"c","image":"i"}]}}"#, []),
        (#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","imagee":"i"}]}}"#, ["spec.containers[0].imagee"]),
        (#"{"metadata":{"nmae":"p"},"spek":{}}"#, ["metadata.nmae", "spek"]),
        (#"{"spec":{"containers":[{"name":"a"},{"name":"b","livenessProbe":{"httpGet":{"port":80,"paht":"/"}}}]}}"#, ["spec.containers[1].livenessProbe.httpGet.paht"]),
        (#"{"spec":{"volumes":[{"name":"v","rbd":{"anything":1}}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","operator":"In","valuez":["x"]}]}]}}}}}"#,
         ["spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].valuez"]),
        (#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1"},"requests":{"memory":"1Gi"},"limitz":{}}}]}}"#, ["spec.containers[0].resources.limitz"]),
        (#"{"status":{"phase":"Running","containerStatuses":[{"name":"c","state":{"running":{"startedAt":"x"}},"ready":true,"extra":1}]}}"#,
         ["status.containerStatuses[0].extra"]),
        (#"{"metadata":{"managedFields":[{"manager":"m","fieldsV1":{"f:spec":{}}}]}}"#, []),
    ]

    @Test(arguments: podCases)
    func podUnknownFields(body: String, expected: [String]) {
        #expect(FieldValidation.unknownFields(in: json(body), schema: Self.pod) == expected)
    }

    @Test func deploymentTemplateIsChecked() {
        let body = json(#"{"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i","portz":[]}]}}}}"#)
        #expect(FieldValidation.unknownFields(in: body, schema: Self.deployment) == ["spec.template.spec.containers[0].portz"])
        #expect(FieldValidation.strictMessage(["a", "b.c"]) == #"unknown field "a", unknown field "b.c""#)
    }
}

@Suite struct DuplicateFieldTests {
    static let cases: [(String, [String])] = [
        (#"{"a":1,"b":2}"#, []),
        (#"{"a":1,"a":2}"#, ["a"]),
        // Per object: the same key in sibling or nested objects is no duplicate.
        (#"{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}"#, []),
        (#"{"spec":{"replicas":1,"paused":true,"replicas":2},"kind":"x","kind":"y"}"#, ["replicas", "kind"]),
        // Keys compare after unescaping; values that look like keys are not keys.
        (#"{"a":1,"\u0061":2}"#, ["a"]),
        (#"{"k":"a","a":"k","v":["a","a"]}"#, []),
        (#"{"q\"x":1,"q\"x":2}"#, ["q\"x"]),
        (#"{"emoji\ud83d\ude00":1,"emoji😀":2}"#, ["emoji😀"]),
        (#"{"a":1,"a":2,"a":3}"#, ["a", "a"]),
        // Not JSON: what was found before it stops being JSON, and no crash.
        (#"{"a":1,"a":2,"b":"unterminated"#, ["a"]),
        (#"]]]{"#, []),
        ("", []),
    ]

    @Test(arguments: cases) func duplicates(_ text: String, _ expected: [String]) {
        #expect(FieldValidation.duplicateFields(inJSON: Array(text.utf8)) == expected)
    }

    @Test func messages() {
        #expect(FieldValidation.duplicateMessage("replicas") == #"duplicate field "replicas""#)
        #expect(FieldValidation.strictMessage(["spec.foo"]) == #"unknown field "spec.foo""#)
    }
}

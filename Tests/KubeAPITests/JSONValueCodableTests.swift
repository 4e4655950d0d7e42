import Foundation
import KubeAPI
import Testing

/// JSONValue's Decodable init tries the kinds in turn (objects first); whatever the order, a
/// value inside any container must decode to the same value the direct parser reads.
@Suite struct JSONValueCodableTests {
    static let documents: [String] = [
        #"{"a":{},"b":[],"c":null,"d":true,"e":false,"f":0,"g":-1.5,"h":"text","i":[{},[],null,1,"x",true]}"#,
        #"[[[{"deep":[1,2,{"deeper":"yes"}]}]],"",0.0,1e300,-9007199254740991]"#,
        #"{"manager":"kubectl","operation":"Update","time":"2026-11-26T01:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{}}}}}}"#,
        #""a lone string""#, #"12"#, #"false"#, #"null"#,
    ]

    @Test(arguments: documents)
    func decodesAsTheParserReads(_ text: String) throws {
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) == JSONValue.parse(text))
    }

    @Test func managedFieldsSurviveATypedDecode() throws {
        let entry = Self.documents[2]
        let text = #"{"name":"p","namespace":"default","managedFields":["# + entry + "]}"
        let meta = try JSONDecoder().decode(ObjectMeta.self, from: Data(text.utf8))
        #expect(meta.managedFields == [try JSONValue.parse(entry)])
        #expect(meta.managedFields?.first?["fieldsV1"]?["f:metadata"]?["f:labels"]?["f:app"] == .object([:]))
    }
}

/// JSONValue.decode (a Decoder over the parsed tree) against JSONDecoder on the same bytes.
@Suite struct JSONValueDecoderTests {
    static let pod = #"""
    {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"default","uid":"u-1","resourceVersion":"42","generation":3,
     "labels":{"app":"web"},"annotations":{"a":"b"},"deletionGracePeriodSeconds":30,"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"u-0","controller":true}],
     "managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-11-26T01:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:containers":{}}}}]},
     "spec":{"nodeName":"n1","priority":1000,"terminationGracePeriodSeconds":30,"containers":[{"name":"c","image":"busybox","args":["sh","-c","sleep 1"],
       "ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":2}}}],
       "tolerations":[{"key":"k","operator":"Exists","effect":"NoSchedule","tolerationSeconds":300}]},
     "status":{"phase":"Running","podIP":"10.0.0.2","conditions":[{"type":"Ready","status":"True","lastTransitionTime":null}],
       "containerStatuses":[{"name":"c","ready":true,"restartCount":2,"image":"busybox","imageID":"","state":{"running":{"startedAt":"2026-11-26T01:00:00Z"}}}]}}
    """#

    @Test func decodesAPodAsJSONDecoderDoes() throws {
        let bytes = Array(Self.pod.utf8)
        let expected = try JSONDecoder().decode(Pod.self, from: Data(bytes))
        let decoded = try JSONValue.decode(Pod.self, fromJSON: bytes)
        #expect(decoded == expected)
        #expect(decoded.spec.containers.first?.resources?.limits?["cpu"] == expected.spec.containers.first?.resources?.limits?["cpu"])
        #expect(decoded.metadata.managedFields?.first?["fieldsV1"] == .object(["f:spec": .object(["f:containers": .object([:])])]))
    }

    @Test func wrongShapesFailWithTheFieldPath() throws {
        // A missing required field, a string where a number belongs, a fraction for an integer.
        let cases: [(String, String)] = [
            (#"{"metadata":{},"spec":{}}"#, "containers"),
            (#"{"metadata":{"generation":"three"},"spec":{"containers":[]}}"#, "generation"),
            (#"{"metadata":{"generation":1.5},"spec":{"containers":[]}}"#, "generation"),
            (#"{"metadata":{},"spec":{"containers":[{"name":7}]}}"#, "name"),
        ]
        for (text, field) in cases {
            #expect(throws: DecodingError.self, "\(text)") { _ = try JSONValue.decode(Pod.self, fromJSON: Array(text.utf8)) }
            do {
                _ = try JSONValue.decode(Pod.self, fromJSON: Array(text.utf8))
            } catch let DecodingError.keyNotFound(key, _) {
                #expect(key.stringValue == field)
            } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
                #expect(context.codingPath.last?.stringValue == field, "\(text): \(context.codingPath.map(\.stringValue))")
            }
        }
        #expect(throws: JSONParseError.self) { _ = try JSONValue.decode(Pod.self, fromJSON: Array("{\"metadata\":".utf8)) }
    }

    @Test func integersConvertOnlyWhenTheyFit() throws {
        #expect(try JSONValue.number(255).decode(UInt8.self) == 255)
        #expect(throws: DecodingError.self) { _ = try JSONValue.number(256).decode(UInt8.self) }
        #expect(throws: DecodingError.self) { _ = try JSONValue.number(-1).decode(UInt.self) }
        #expect(try JSONValue.array([.number(1), .null, .number(3)]).decode([Int?].self) == [1, nil, 3])
        #expect(try JSONValue.object(["k": .number(2.5)]).decode([String: Double].self) == ["k": 2.5])
    }
}

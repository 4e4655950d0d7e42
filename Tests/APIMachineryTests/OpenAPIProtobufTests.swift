import Foundation
import Testing
import KubeAPI
@testable import APIMachinery

/// Decodes one level of a protobuf message: (field number, varint value or bytes).
struct ProtobufFields {
    enum Value: Equatable { case varint(UInt64), bytes([UInt8]), fixed64(UInt64) }
    var fields: [(Int, Value)] = []

    init?(_ bytes: [UInt8]) {
        var i = 0
        func varint() -> UInt64? {
            var result: UInt64 = 0, shift: UInt64 = 0
            while i < bytes.count {
                let b = bytes[i]; i += 1
                result |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return result }
                shift += 7
            }
            return nil
        }
        while i < bytes.count {
            guard let key = varint() else { return nil }
            switch key & 7 {
            case 0: guard let v = varint() else { return nil }; fields.append((Int(key >> 3), .varint(v)))
            case 1: guard i + 8 <= bytes.count else { return nil }; fields.append((Int(key >> 3), .fixed64(0))); i += 8
            case 2:
                guard let n = varint(), i + Int(n) <= bytes.count else { return nil }
                fields.append((Int(key >> 3), .bytes(Array(bytes[i..<i + Int(n)])))); i += Int(n)
            default: return nil
            }
        }
    }

    func all(_ field: Int) -> [[UInt8]] {
        fields.compactMap { if $0.0 == field, case .bytes(let b) = $0.1 { return b } else { return nil } }
    }
    func string(_ field: Int) -> String? { all(field).first.map { String(decoding: $0, as: UTF8.self) } }
    func message(_ field: Int) -> ProtobufFields? { all(field).first.flatMap(ProtobufFields.init) }
}

@Suite struct OpenAPIProtobufTests {
    static let resources = [
        ResourceDescriptor(group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true, subresources: ["status"]),
        ResourceDescriptor(group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true, subresources: ["scale"]),
    ]

    /// gnostic openapi.v2.Document field numbers: swagger 1, info 2 (title 1, version 2),
    /// paths 8 (path 2: name 1, value 2), definitions 9 (additional_properties 1: name 1, value 2);
    /// Schema: description 4, type 22 (value 1), properties 25, vendor_extension 31 (name 1,
    /// value 2 → Any.yaml 2).
    @Test func documentUsesGnosticFieldNumbers() throws {
        let json = OpenAPI.v2(registry: .builtin, resources: Self.resources, serverVersion: "v1.32.0")
        let doc = try #require(ProtobufFields(OpenAPI.v2Protobuf(json)))
        #expect(doc.string(1) == "2.0")
        #expect(doc.message(2)?.string(1) == "Kubernetes" && doc.message(2)?.string(2) == "v1.32.0")

        let definitions = try #require(doc.message(9)).all(1).compactMap(ProtobufFields.init)
        #expect(definitions.count == json["definitions"]?.objectValue?.count)
        let pod = try #require(definitions.first { $0.string(1) == "io.k8s.api.core.v1.Pod" }?.message(2))
        #expect(pod.string(4) == "A group of containers run together on a node.")
        #expect(pod.message(22)?.string(1) == "object")
        let extensions = pod.all(31).compactMap(ProtobufFields.init)
        let gvk = try #require(extensions.first { $0.string(1) == "x-kubernetes-group-version-kind" })
        let yaml = try #require(gvk.message(2)?.string(2))
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(yaml.utf8)) == .array([.object(["group": .string(""), "kind": .string("Pod"), "version": .string("v1")])]))
        let properties = try #require(pod.message(25)).all(1).compactMap(ProtobufFields.init)
        let spec = try #require(properties.first { $0.string(1) == "spec" }?.message(2))
        #expect(spec.string(1) == "#/definitions/io.k8s.api.core.v1.PodSpec")

        let paths = try #require(doc.message(8)).all(2).compactMap(ProtobufFields.init)
        let item = try #require(paths.first { $0.string(1) == "/api/v1/namespaces/{namespace}/pods/{name}" }?.message(2))
        let patch = try #require(item.message(8))
        #expect(patch.string(5) == "patchCoreV1NamespacedPod")
        // parameters 8 → ParametersItem.parameter 1 → Parameter.non_body_parameter 2 →
        // query_parameter_sub_schema 3 → name 4.
        let names = patch.all(8).compactMap { ProtobufFields($0)?.message(1) }.compactMap { p in
            p.message(2)?.message(3)?.string(4) ?? p.message(1)?.string(2)
        }
        #expect(names == ["body", "dryRun", "fieldManager", "fieldValidation", "force"])
    }

    @Test func longFieldsUseMultiByteLengths() throws {
        let long = String(repeating: "d", count: 300)
        let bytes = OpenAPI.v2Protobuf(.object(["swagger": .string("2.0"), "info": .object(["title": .string(long)])]))
        let doc = try #require(ProtobufFields(bytes))
        #expect(doc.message(2)?.string(1) == long)
        #expect(bytes.count == 2 + 3 + 3 + 3 + 300, "tag+len for swagger, tag+2-byte len for info and title")
    }
}

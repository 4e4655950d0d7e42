import Foundation
import KubeAPI
import Testing
@testable import APIServer

/// Pieces of the write paths made cheaper in session 9, each against what it replaced.
@Suite struct WritePathTests {
    /// uids as Foundation's `UUID().uuidString.lowercased()` spelled them: random version-4 UUIDs.
    @Test func randomUIDsAreLowerCaseVersion4UUIDs() throws {
        var seen = Set<String>()
        for _ in 0..<2_000 {
            let uid = RESTStorage.randomUID()
            let parsed = try #require(UUID(uuidString: uid), "\(uid)")
            #expect(parsed.uuidString.lowercased() == uid)
            let bytes = Array(uid.utf8)
            #expect(bytes.count == 36)
            #expect(bytes[14] == UInt8(ascii: "4"), "version: \(uid)")
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(bytes[19]), "variant: \(uid)")
            seen.insert(uid)
        }
        #expect(seen.count == 2_000)
    }

    /// Session 10: the Accept header's Table and protobuf tests read ASCII headers by their
    /// bytes; each answer must be Foundation's (the code they replace), and non-ASCII headers
    /// still take Foundation's path.
    @Test func acceptHeaderTestsMatchFoundation() {
        let headers = [
            "", "*/*", "application/json", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
            "application/json,application/json;as=Table;v=v1;g=meta.k8s.io", "as=Table", "as=Tabl", "s=Table", "AS=TABLE", "x as=Table, y",
            ",as=Table", ",,as=Table,x", ",", ",,", "as=Table,", ",x,as=Table", "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf,application/json",
            "application/json, application/vnd.kubernetes.protobuf;q=0.9", "protobu", "rotobuf", "PROTOBUF", "protobufprotobuf", "pprotobuf",
            "application/json;as=Table\u{301}", "application/json;as=Tablé", "é,as=Table", "protobuf\u{301}", "ünïcode;as=Table;protobuf",
        ]
        for header in headers {
            let foundationTable = header.split(separator: ",").first.map { $0.contains("as=Table") } ?? false
            #expect(Table.wanted(header) == foundationTable, "\(header)")
            let ascii = header.utf8.allSatisfy { $0 < 0x80 }
            #expect(ASCIIText.contains(header, "protobuf") == (ascii ? header.contains("protobuf") : nil), "\(header)")
            #expect(ASCIIText.firstItem(of: header, contains: "as=Table") == (ascii ? foundationTable : nil), "\(header)")
        }
        #expect(ASCIIText.contains("abc", "") == true)
        #expect(ASCIIText.contains("", "a") == false)
    }

    /// Session 10: a pod update whose spec equals the old one skips the immutability check's
    /// copies; the check still answers as before for equal, image-only and other changes.
    @Test func podSpecImmutabilityCheck() throws {
        func pod(_ spec: String) -> JSONObject {
            try! JSONValue.parse(Array(("{\"spec\":" + spec + "}").utf8)).objectValue!
        }
        let old = pod(#"{"containers":[{"name":"a","image":"x:1"}],"nodeName":"n1","tolerations":[{"key":"k"}]}"#)
        #expect(Pods.updateChangesFixedFields(old, old) == nil)
        #expect(Pods.updateChangesFixedFields(pod(#"{"nodeName":"n1","tolerations":[{"key":"k"}],"containers":[{"image":"x:1","name":"a"}]}"#), old) == nil)
        #expect(Pods.updateChangesFixedFields(pod(#"{"containers":[{"name":"a","image":"x:2"}],"nodeName":"n1","tolerations":[{"key":"k"}]}"#), old) == nil)
        #expect(Pods.updateChangesFixedFields(pod(#"{"containers":[{"name":"a","image":"x:1"}],"nodeName":"n1","tolerations":[{"key":"k"},{"key":"j"}]}"#), old) == nil)
        #expect(Pods.updateChangesFixedFields(pod(#"{"containers":[{"name":"a","image":"x:1"}],"nodeName":"n2","tolerations":[{"key":"k"}]}"#), old)?.field == "spec")
        #expect(Pods.updateChangesFixedFields(pod(#"{"containers":[{"name":"b","image":"x:1"}],"nodeName":"n1","tolerations":[{"key":"k"}]}"#), old) != nil)
        #expect(Pods.updateChangesFixedFields([:], old) != nil)
        #expect(Pods.updateChangesFixedFields([:], [:]) == nil)
    }
}

@testable import APIMachinery
import Foundation
import KubeAPI
import Testing

/// Bytes of a length-delimited field: tag, length, payload (wire type 2).
private func ld(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
    var w = ProtobufWriter()
    w.bytesField(number, payload)
    return w.bytes
}
private func ld(_ number: Int, _ text: String) -> [UInt8] { ld(number, Array(text.utf8)) }
/// The value at a path of object keys, or nil.
private func lookup(_ value: JSONValue, _ keys: String...) -> JSONValue? {
    var current: JSONValue? = value
    for key in keys { current = current?.objectValue?[key] }
    return current
}
private func varintField(_ number: Int, _ value: UInt64) -> [UInt8] {
    var w = ProtobufWriter()
    w.varintField(number, value)
    return w.bytes
}
/// A framed body as kubectl sends it: magic, runtime.Unknown{typeMeta, raw, "", ""}.
private func framed(_ apiVersion: String, _ kind: String, _ raw: [UInt8]) -> [UInt8] {
    ProtobufCodec.magic + ld(1, ld(1, apiVersion) + ld(2, kind)) + ld(2, raw) + ld(3, []) + ld(4, [])
}

@Suite struct ProtobufCodecTests {
    let codec = ProtobufCodec()

    // MARK: Table

    @Test func tableParsesAndEveryReferenceResolves() throws {
        let schemas = try ProtobufSchemas(table: ProtobufSchemas.table)
        #expect(schemas.all.count > 200)
        for kind in SchemaRegistry.builtin.kinds where kind.shortName != "Table" {
            let gvk = try #require(kind.groupVersionKind)
            #expect(schemas.message(apiVersion: gvk.apiVersion, kind: gvk.kind) != nil, "no protobuf message for \(gvk)")
        }
        #expect(schemas.message(apiVersion: "policy/v1", kind: "DeleteOptions")?.name == "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        #expect(schemas.message(apiVersion: "v1", kind: "NamespaceList") != nil)
        #expect(schemas.message(apiVersion: "apps/v1", kind: "Nope") == nil)
        #expect(schemas.message(apiVersion: "a/b/c", kind: "Pod") == nil)
    }

    /// Every field of every built-in JSON schema has a protobuf field of the same name in the
    /// message of the same definition name (inline embedded messages flattened), so nothing a
    /// JSON client can set is lost when the same object travels as protobuf.
    @Test func everyJSONSchemaFieldHasAFieldNumber() throws {
        let schemas = ProtobufSchemas.builtin
        func jsonNames(_ message: ProtobufMessage) -> Set<String> {
            var names: Set<String> = []
            for field in message.fields {
                if field.isInline, case .message(let child) = field.type, let inner = schemas.message(named: child) {
                    names.formUnion(jsonNames(inner))
                } else {
                    names.insert(field.jsonName)
                }
            }
            return names
        }
        var missing: [String] = []
        for (name, schema) in SchemaRegistry.builtin.definitions where !name.hasSuffix(".Table") && !name.contains(".TableRow") && !name.contains(".TableColumnDefinition") {
            guard let message = schemas.message(named: name) else { missing.append(name); continue }
            let names = jsonNames(message)
            for field in schema.fields where !(schema.groupVersionKind != nil && ["apiVersion", "kind"].contains(field.name)) {
                if !names.contains(field.name) { missing.append("\(name).\(field.name)") }
            }
        }
        #expect(missing.sorted() == [], "JSON schema fields without a protobuf field")
    }

    @Test(arguments: [
        "core.Pod =1", "nope.Pod x=1", "core.Pod x", "core.Pod x=0", "core.Pod x=1:core.Missing",
    ])
    func malformedTableLinesAreRejected(_ line: String) {
        #expect(throws: ProtobufError.self) { try ProtobufSchemas(table: line) }
    }

    // MARK: Hand-built vectors (upstream's wire format)

    @Test func decodesAConfigMapAsKubectlSendsIt() throws {
        // ObjectMeta: name=1 "cfg", generateName=2 "" (Go writes every non-pointer string),
        // namespace=3 "demo", creationTimestamp=8 empty (the zero Time).
        let meta = ld(1, "cfg") + ld(2, "") + ld(3, "demo") + ld(8, [])
        let body = framed("v1", "ConfigMap", ld(1, meta) + ld(2, ld(1, "a") + ld(2, "1")) + ld(2, ld(1, "b") + ld(2, "two")))
        let object = try codec.decodeObject(body)
        #expect(render(object) == render(json("""
        {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"demo","creationTimestamp":null},
         "data":{"a":"1","b":"two"}}
        """)))
    }

    @Test func decodesASecretsBytesAsBase64() throws {
        let body = framed("v1", "Secret", ld(1, ld(1, "sec")) + ld(2, ld(1, "p") + ld(2, "s3cret")) + ld(3, "Opaque"))
        let object = try codec.decodeObject(body)
        #expect(lookup(object, "data", "p") == .string(Data("s3cret".utf8).base64EncodedString()))
        #expect(lookup(object, "type") == .string("Opaque"))
    }

    @Test func pointerZerosStayAndOmitemptyZerosGo() throws {
        // DeploymentSpec: replicas=1 (*int32) 0 stays; minReadySeconds=5 (int32, omitempty) 0 goes;
        // paused=7 (bool, omitempty) false goes.
        let spec = varintField(1, 0) + varintField(5, 0) + varintField(7, 0)
        let object = try codec.decodeObject(framed("apps/v1", "Deployment", ld(1, ld(1, "web")) + ld(2, spec)))
        #expect(render(lookup(object, "spec") ?? .null) == #"{"replicas":0}"#)
        // ContainerPort.containerPort has no omitempty: a zero stays.
        let port = try codec.decodeMessage(varintField(3, 0), as: try #require(ProtobufSchemas.builtin.message(named: "io.k8s.api.core.v1.ContainerPort")))
        #expect(port["containerPort"] == .number(0))
    }

    @Test(arguments: [
        (UInt64(1_700_000_000), UInt64(0), false, "2023-11-14T22:13:20Z"),
        (UInt64(0), UInt64(0), false, "1970-01-01T00:00:00Z"),
        (UInt64(951_782_400), UInt64(0), false, "2000-02-29T00:00:00Z"),
        (UInt64(bitPattern: -86_400), UInt64(0), false, "1969-12-31T00:00:00Z"),
        (UInt64(1_700_000_000), UInt64(123_456_789), true, "2023-11-14T22:13:20.123456Z"),
    ])
    func timestamps(_ seconds: UInt64, _ nanos: UInt64, _ micro: Bool, _ expected: String) throws {
        // LeaseSpec.renewTime=4 is a MicroTime; ObjectMeta.creationTimestamp=8 a Time.
        let timestamp = ld(micro ? 4 : 8, varintField(1, seconds) + varintField(2, nanos))
        let message = try #require(ProtobufSchemas.builtin.message(named: micro ? "io.k8s.api.coordination.v1.LeaseSpec" : "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"))
        let object = try codec.decodeMessage(timestamp, as: message)
        #expect(object[micro ? "renewTime" : "creationTimestamp"] == .string(expected))
        // And back: the same seconds (and microseconds for MicroTime).
        let again = try codec.decodeMessage(try codec.encodeMessage(object, as: message), as: message)
        #expect(again == object)
    }

    @Test func intOrStringAndNegativeInt32() throws {
        let port = try #require(ProtobufSchemas.builtin.message(named: "io.k8s.api.core.v1.ServicePort"))
        // targetPort=4 {type=1 (string), intVal=0, strVal="http"}; port=3 = -1 as a ten-byte varint.
        let named = try codec.decodeMessage(ld(4, varintField(1, 1) + varintField(2, 0) + ld(3, "http")) + varintField(3, UInt64(bitPattern: -1)), as: port)
        #expect(named["targetPort"] == .string("http"))
        #expect(named["port"] == .number(-1))
        let numbered = try codec.decodeMessage(ld(4, varintField(1, 0) + varintField(2, 8080) + ld(3, "")), as: port)
        #expect(numbered["targetPort"] == .number(8080))
    }

    @Test func packedAndUnpackedRepeatedScalars() throws {
        let context = try #require(ProtobufSchemas.builtin.message(named: "io.k8s.api.core.v1.PodSecurityContext"))
        let unpacked = varintField(4, 1000) + varintField(4, 2000)
        var packed = ProtobufWriter()
        packed.varint(1000)
        packed.varint(2000)
        for bytes in [unpacked, ld(4, packed.bytes)] {
            #expect(try codec.decodeMessage(bytes, as: context)["supplementalGroups"] == .array([.number(1000), .number(2000)]))
        }
    }

    @Test func unknownFieldsAreSkipped() throws {
        var fixed32 = ProtobufWriter()
        fixed32.tag(97, .fixed32)
        fixed32.bytes += [1, 2, 3, 4]
        let extra = varintField(99, 7) + ld(98, "ignored") + fixed32.bytes
        let object = try codec.decodeObject(framed("v1", "Namespace", extra + ld(1, ld(1, "demo") + extra) + extra))
        #expect(render(object) == #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"demo"}}"#)
    }

    @Test func rawExtensionHoldsJSONOrAFramedObject() throws {
        let event = try #require(ProtobufSchemas.builtin.message(named: "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"))
        let jsonObject = try codec.decodeMessage(ld(1, "ADDED") + ld(2, ld(1, #"{"kind":"Pod"}"#)), as: event)
        #expect(render(.object(jsonObject)) == #"{"object":{"kind":"Pod"},"type":"ADDED"}"#)
        let inner = framed("v1", "Namespace", ld(1, ld(1, "x")))
        let framedObject = try codec.decodeMessage(ld(1, "ADDED") + ld(2, ld(1, inner)), as: event)
        #expect(lookup(framedObject["object"] ?? .null, "metadata", "name") == .string("x"))
    }

    // MARK: Round trips

    static let objects: [String] = [
        #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"demo","labels":{"a":"b"},"creationTimestamp":"2024-05-01T10:00:00Z","uid":"u-1","resourceVersion":"12","finalizers":["x"]},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}}"#,
        #"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"d"},"type":"Opaque","data":{"k":"AAEC/w=="},"immutable":false}"#,
        #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"demo","generation":3,"annotations":{"x":"y"},"managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}],"ownerReferences":[{"apiVersion":"v1","kind":"X","name":"o","uid":"u","controller":true}]},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":1}},"revisionHistoryLimit":10,"template":{"metadata":{"labels":{"app":"web"}},"spec":{"terminationGracePeriodSeconds":0,"automountServiceAccountToken":false,"containers":[{"name":"web","image":"busybox:1.36","command":["sh","-c"],"ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}],"resources":{"limits":{"cpu":"500m","memory":"64Mi"}},"livenessProbe":{"httpGet":{"path":"/","port":"http"},"periodSeconds":5},"readinessProbe":{"exec":{"command":["true"]}},"securityContext":{"runAsUser":0,"privileged":false}}],"volumes":[{"name":"data","emptyDir":{"sizeLimit":"1Gi"}},{"name":"cfg","configMap":{"name":"cfg","items":[{"key":"a","path":"a.txt"}]}}],"securityContext":{"supplementalGroups":[1,2]}}}},"status":{"observedGeneration":3,"replicas":2,"conditions":[{"type":"Available","status":"True","lastUpdateTime":"2024-05-01T10:00:00Z","lastTransitionTime":"2024-05-01T10:00:01Z"}]}}"#,
        #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"type":"NodePort","clusterIP":"10.0.0.10","clusterIPs":["10.0.0.10"],"ports":[{"name":"http","port":80,"targetPort":8080,"nodePort":30080,"protocol":"TCP"}],"selector":{"app":"web"},"ipFamilies":["IPv4"]}}"#,
        #"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"n1","namespace":"kube-node-lease"},"spec":{"holderIdentity":"n1","leaseDurationSeconds":40,"renewTime":"2024-05-01T10:00:00.123456Z"}}"#,
        #"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"involvedObject":{"kind":"Pod","name":"p"},"reason":"Started","count":2,"type":"Normal","eventTime":"2024-05-01T10:00:00.000001Z","series":{"count":3,"lastObservedTime":"2024-05-01T10:00:02.500000Z"}}"#,
        #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"status":{"capacity":{"cpu":"2","pods":"110"},"addresses":[{"type":"InternalIP","address":"10.0.0.1"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},"nodeInfo":{"kubeletVersion":"v1.32.0"}}}"#,
        #"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},"spec":{"backoffLimit":0,"parallelism":1,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i"}]}},"podFailurePolicy":{"rules":[{"action":"FailJob","onExitCodes":{"operator":"In","values":[42]}}]}},"status":{"active":1,"startTime":"2024-05-01T10:00:00Z"}}"#,
        #"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"s"},"addressType":"IPv4","endpoints":[{"addresses":["10.1.0.2"],"conditions":{"ready":true},"nodeName":"n"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}"#,
        #"{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"b"},"spec":{"minAvailable":"50%","selector":{"matchLabels":{"a":"b"}}},"status":{"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2,"disruptedPods":{"p":"2024-05-01T10:00:00Z"}}}"#,
        #"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p","namespace":"d"},"deleteOptions":{"gracePeriodSeconds":0,"dryRun":["All"]}}"#,
        #"{"apiVersion":"v1","kind":"DeleteOptions","propagationPolicy":"Foreground","preconditions":{"uid":"u","resourceVersion":"5"}}"#,
        #"{"apiVersion":"v1","kind":"Status","metadata":{},"status":"Failure","message":"nope","reason":"NotFound","details":{"name":"x","kind":"pods","causes":[{"reason":"FieldValueInvalid","field":"metadata.name"}]},"code":404}"#,
        #"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":5},"status":{"replicas":2,"selector":"app=web"}}"#,
        #"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}}"#,
        #"{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"resourceVersion":"9","continue":"t"},"items":[{"metadata":{"name":"a"},"data":{"k":"v"},"binaryData":{"b":"AQI="}}]}"#,
        #"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"s"},"spec":{"serviceName":"s","replicas":1,"selector":{},"template":{"spec":{"containers":[{"name":"c","image":"i"}]}},"ordinals":{"start":1}}}"#,
        #"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"},"secrets":[{"name":"t"}],"automountServiceAccountToken":true}"#,
    ]

    @Test(arguments: objects)
    func roundTrips(_ text: String) throws {
        let object = json(text)
        let bytes = try codec.encodeObject(object)
        #expect(Array(bytes.prefix(4)) == [0x6b, 0x38, 0x73, 0x00])
        let decoded = try codec.decodeObject(bytes)
        #expect(render(decoded) == render(object))
        // Encoding is deterministic (map entries sorted by key).
        #expect(try codec.encodeObject(decoded) == bytes)
    }

    @Test(arguments: [
        (#"{"apiVersion":"v1","kind":"ConfigMap","data":{"a":1}}"#, "expected a string"),
        (#"{"apiVersion":"v1","kind":"Secret","data":{"a":"***"}}"#, "expected a base64 string"),
        (#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":1.5}}"#, "expected an integer"),
        (#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":3000000000}}"#, "does not fit in int32"),
        (#"{"apiVersion":"v1","kind":"Namespace","metadata":{"creationTimestamp":"yesterday"}}"#, "is not an RFC 3339 time"),
        (#"{"apiVersion":"v1","kind":"Pod","spec":{"containers":{}}}"#, "expected an array"),
        (#"{"apiVersion":"v1","kind":"Nothing"}"#, "no protobuf message for kind"),
    ])
    func encodingRejectsValuesThatDoNotFit(_ text: String, _ message: String) {
        do {
            _ = try codec.encodeObject(json(text))
            Issue.record("encoded \(text)")
        } catch let error as ProtobufError {
            #expect(error.message.contains(message), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    // MARK: Malformed bodies

    /// Bad bodies and the error kind each must give.
    static let malformedBodies: [([UInt8], ProtobufError.Kind)] = {
        let magic: [UInt8] = ProtobufCodec.magic
        var cases: [([UInt8], ProtobufError.Kind)] = []
        cases.append((Array(#"{"kind":"ConfigMap"}"#.utf8), .magic))
        cases.append(([0x6b, 0x38, 0x73], .magic))
        // A varint whose continuation bit promises more bytes than there are.
        cases.append((magic + [0x0a, 0x80], .truncated))
        // runtime.Unknown's raw field claims 100 bytes and has 2.
        cases.append((magic + [0x12, 100, 1, 2], .truncated))
        // Wire type 7 does not exist.
        cases.append((magic + [0x0f], .wireType))
        // typeMeta sent as a varint.
        cases.append((magic + [0x08, 1], .wireType))
        // A group (wire type 3) in an unknown field.
        cases.append((framed("v1", "ConfigMap", [0x53]), .wireType))
        // ObjectMeta.name (a string) sent as a varint.
        cases.append((framed("v1", "ConfigMap", ld(1, varintField(1, 5))), .wireType))
        cases.append((framed("v1", "Widget", []), .unknownKind))
        cases.append((magic + ld(2, []), .unknownKind))
        let typeMeta: [UInt8] = ld(1, ld(1, "v1") + ld(2, "ConfigMap"))
        cases.append((magic + typeMeta + ld(3, "gzip"), .unsupportedEncoding))
        // An eleven-byte varint in an unknown field (99, wire type 0: key 0x98 0x06).
        let longVarint: [UInt8] = [0x98, 0x06] + [UInt8](repeating: 0xff, count: 10) + [0x01]
        cases.append((framed("v1", "ConfigMap", longVarint), .invalidValue))
        // FieldsV1 that is not JSON (ObjectMeta.managedFields=17, fieldsV1=7, Raw=1).
        let fields: [UInt8] = ld(17, ld(7, ld(1, "{nope")))
        cases.append((framed("v1", "ConfigMap", ld(1, fields)), .invalidValue))
        return cases
    }()

    @Test(arguments: malformedBodies)
    func malformedBodiesAreErrors(_ body: [UInt8], _ kind: ProtobufError.Kind) {
        do {
            let object = try codec.decodeObject(body)
            Issue.record("decoded a malformed body: \(render(object))")
        } catch let error as ProtobufError {
            #expect(error.kind == kind, "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// Every truncation and every single-byte corruption of a valid body either decodes or throws
    /// a `ProtobufError`: none traps or hangs.
    @Test func truncatedAndCorruptedBodiesNeverTrap() throws {
        let body = try codec.encodeObject(json(Self.objects[2]))
        var failures = 0
        for length in 0..<body.count {
            do { _ = try codec.decodeObject(Array(body.prefix(length))) } catch { failures += 1 }
        }
        #expect(failures > 0)
        // A fixed-seed linear congruential generator: the same corruptions on every run.
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        for _ in 0..<2000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var corrupted = body
            corrupted[Int(state >> 33) % body.count] = UInt8(truncatingIfNeeded: state >> 17)
            _ = try? codec.decodeObject(corrupted)
        }
    }
}

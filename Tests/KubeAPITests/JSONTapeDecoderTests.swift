import Foundation
import KubeAPI
import Testing

/// The tape decoder (`JSONValue.decode(_:fromJSON:omitting:)`) against the tree path it
/// replaces (`JSONValue.parse` then `JSONValue.decode`): the same values, compared with `==`
/// and byte for byte through a sorted-keys encoding (which also sees `Quantity`'s text, which
/// `==` ignores), and the same errors.
@Suite struct JSONTapeDecoderTests {
    /// A pod as the API server returns it after binding and a kubelet's status write:
    /// managedFields, the projected token volume, escaped strings, numbers of several shapes.
    static let pod = #"""
    {"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}\n","note":"caf\u00e9 \ud83d\ude00 tab\tquote\" slash\/"},
     "creationTimestamp":"2026-11-26T08:00:00Z","generateName":"web-7c9d-","generation":1,"labels":{"app":"web","pod-template-hash":"7c9d"},
     "managedFields":[{"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{}}}}},"manager":"kube-controller-manager","operation":"Update","time":"2026-11-26T08:00:00Z"},
                      {"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:phase":{}}},"manager":"kubelet","operation":"Update","subresource":"status","time":"2026-11-26T08:00:01Z"}],
     "name":"web-7c9d-abcde","namespace":"default","ownerReferences":[{"apiVersion":"apps/v1","blockOwnerDeletion":true,"controller":true,"kind":"ReplicaSet","name":"web-7c9d","uid":"0b7a4f1e-5c55-4d2b-9a0e-2b1d1f3c4e5f"}],
     "resourceVersion":"123456","uid":"5f1e7a9c-1b2d-4c3e-8f9a-0a1b2c3d4e5f"},
     "spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]}]}]}}},
      "containers":[{"args":["sh","-c","sleep 3600"],"env":[{"name":"POD_IP","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"status.podIP"}}},{"name":"X","value":""}],
        "image":"nodekit/busybox","imagePullPolicy":"IfNotPresent","livenessProbe":{"failureThreshold":3,"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"periodSeconds":10},
        "name":"c","ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}],"readinessProbe":{"tcpSocket":{"port":"http"},"periodSeconds":5},
        "resources":{"limits":{"cpu":2,"memory":"1Gi"},"requests":{"cpu":"100m","memory":"128Mi","ephemeral-storage":1.5}},
        "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",
        "volumeMounts":[{"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","name":"kube-api-access-x1y2z","readOnly":true}]}],
      "dnsPolicy":"ClusterFirst","enableServiceLinks":true,"nodeName":"hollow-17","nodeSelector":{"disk":"ssd"},"preemptionPolicy":"PreemptLowerPriority","priority":0,
      "restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"serviceAccountName":"default","terminationGracePeriodSeconds":30,
      "tolerations":[{"effect":"NoExecute","key":"node.kubernetes.io/not-ready","operator":"Exists","tolerationSeconds":300},{"effect":"NoExecute","key":"node.kubernetes.io/unreachable","operator":"Exists","tolerationSeconds":3e2}],
      "topologySpreadConstraints":[{"labelSelector":{"matchLabels":{"app":"web"}},"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway"}],
      "volumes":[{"name":"kube-api-access-x1y2z","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"items":[{"key":"ca.crt","path":"ca.crt"}],"name":"kube-root-ca.crt"}},{"downwardAPI":{"items":[{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"},"path":"namespace"}]}}]}}]},
     "status":{"conditions":[{"lastProbeTime":null,"lastTransitionTime":"2026-11-26T08:00:01Z","status":"True","type":"Ready"},{"lastTransitionTime":"2026-11-26T08:00:00Z","status":"True","type":"PodScheduled"}],
      "containerStatuses":[{"containerID":"hollow://5f1e/c","image":"nodekit/busybox","imageID":"","lastState":{},"name":"c","ready":true,"restartCount":0,"started":true,"state":{"running":{"startedAt":"2026-11-26T08:00:01Z"}}}],
      "hostIP":"100.64.0.17","hostIPs":[{"ip":"100.64.0.17"}],"phase":"Running","podIP":"10.128.17.2","podIPs":[{"ip":"10.128.17.2"}],"qosClass":"Burstable","startTime":"2026-11-26T08:00:01Z",
      "unknownStatusField":{"deep":[1,2,{"x":null}]}},"unknownTopLevel":[true,false]}
    """#

    static let node = #"""
    {"apiVersion":"v1","kind":"Node","metadata":{"creationTimestamp":"2026-11-26T08:00:00Z","labels":{"kubernetes.io/hostname":"hollow-17","kubernetes.io/os":"linux","nodekit.io/hollow":"true","topology.kubernetes.io/zone":"zone-2"},"name":"hollow-17","resourceVersion":"99","uid":"a-b-c"},
     "spec":{"podCIDR":"10.128.17.0/24","podCIDRs":["10.128.17.0/24"],"taints":[{"effect":"NoSchedule","key":"dedicated","value":"bench"}],"unschedulable":false},
     "status":{"addresses":[{"address":"100.64.0.17","type":"InternalIP"},{"address":"hollow-17","type":"Hostname"}],"allocatable":{"cpu":"4","memory":"32Gi","pods":"110"},
      "capacity":{"cpu":4,"ephemeral-storage":"100Gi","memory":"32Gi","pods":110},
      "conditions":[{"lastHeartbeatTime":"2026-11-26T08:00:00Z","lastTransitionTime":"2026-11-26T08:00:00Z","message":"hollow kubelet is posting ready status","reason":"KubeletReady","status":"True","type":"Ready"},
                    {"lastHeartbeatTime":"2026-11-26T08:00:00Z","lastTransitionTime":"2026-11-26T08:00:00Z","reason":"KubeletHasSufficientMemory","status":"False","type":"MemoryPressure"}],
      "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},"images":[{"names":["nodekit/busybox"],"sizeBytes":1234567}],"nodeInfo":{"architecture":"amd64","bootID":"b","containerRuntimeVersion":"containerd://1.6.20","kernelVersion":"6.18.0","kubeProxyVersion":"","kubeletVersion":"v1.32.0","machineID":"m","operatingSystem":"linux","osImage":"Debian GNU/Linux 12 (bookworm)","systemUUID":"s"}}}
    """#

    static let lease = #"""
    {"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"hollow-17","namespace":"kube-node-lease","resourceVersion":"100","uid":"l-1",
     "ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"hollow-17","uid":"a-b-c"}]},
     "spec":{"holderIdentity":"hollow-17","leaseDurationSeconds":40,"renewTime":"2026-11-26T08:00:10.123456Z","leaseTransitions":0}}
    """#

    static let status = #"""
    {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" already exists","reason":"AlreadyExists","details":{"name":"x","kind":"pods","causes":[{"reason":"FieldValueInvalid","message":"bad","field":"spec.containers[0].name"}],"retryAfterSeconds":1},"code":409}
    """#

    static var podList: String {
        #"{"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"123460","continue":"eyJ2IjoxfQ","remainingItemCount":7},"items":["# + pod + "," + pod + "]}"
    }

    static func encoded<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    /// Both paths decode `text` to the same value.
    static func expectSame<T: Codable & Equatable>(_ type: T.Type, _ text: String, omitting: JSONOmissions? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = Array(text.utf8)
        let tree = try JSONValue.parse(bytes, omitting: omitting).decode(T.self)
        let tape = try JSONValue.decode(T.self, fromJSON: bytes, omitting: omitting)
        #expect(tape == tree, sourceLocation: sourceLocation)
        #expect(try encoded(tape) == encoded(tree), sourceLocation: sourceLocation)
    }

    @Test func objectsDecodeAsTheTreeDecodes() throws {
        try Self.expectSame(Pod.self, Self.pod)
        try Self.expectSame(Node.self, Self.node)
        try Self.expectSame(Lease.self, Self.lease)
        try Self.expectSame(Status.self, Self.status)
        try Self.expectSame(ObjectMeta.self, #"{"name":"n","labels":{},"annotations":null,"finalizers":[],"generation":7.0}"#)
        try Self.expectSame(JSONValue.self, Self.pod)
        try Self.expectSame([String: Quantity].self, #"{"cpu":"250m","memory":134217728,"gpu":0.5,"x":"1e3","y":"1Ki"}"#)
        try Self.expectSame([IntOrString].self, #"[80,"http",-1,2147483647,"2147483648"]"#)
        try Self.expectSame([Int?].self, "[1,null,3]")
        try Self.expectSame([String: Double].self, #"{"a":1,"b":-2.5e-3,"c":1e300}"#)
    }

    @Test func listsKeepEveryItem() throws {
        let bytes = Array(Self.podList.utf8)
        let tree = try JSONValue.parse(bytes).decode(ObjectList<Pod>.self)
        let tape = try JSONValue.decode(ObjectList<Pod>.self, fromJSON: bytes)
        #expect(tape.items == tree.items)
        #expect(tape.items.count == 2)
        #expect(tape.metadata == tree.metadata)
        #expect(try Self.encoded(tape) == Self.encoded(tree))
    }

    @Test func omittedMembersAreAbsentToTheType() throws {
        let omissions = JSONOmissions([["items", "*", "metadata", "managedFields"]])
        let bytes = Array(Self.podList.utf8)
        let tape = try JSONValue.decode(ObjectList<Pod>.self, fromJSON: bytes, omitting: omissions)
        let tree = try JSONValue.parse(bytes, omitting: omissions).decode(ObjectList<Pod>.self)
        #expect(tape.items.allSatisfy { $0.metadata.managedFields == nil })
        #expect(tape.items.map(\.metadata.name) == ["web-7c9d-abcde", "web-7c9d-abcde"])
        #expect(try Self.encoded(tape) == Self.encoded(tree))
        // Without omissions the same list keeps them.
        #expect(try JSONValue.decode(ObjectList<Pod>.self, fromJSON: bytes).items.first?.metadata.managedFields?.count == 2)
    }

    @Test func escapesRepeatedKeysAndUnknownMembers() throws {
        // An escaped key still names its field; the last of a repeated key wins, in typed
        // members and in maps; members no type has are skipped whatever their shape.
        let text = #"{"metadata":{"n\u0061me":"first","name":"second","labels":{"a":"1","a":"2","\u00e9":"e"},"extra":{"x":[[{}]]}},"spec":{"containers":[]},"spec":{"containers":[{"name":"c"}]}}"#
        try Self.expectSame(Pod.self, text)
        let pod = try JSONValue.decode(Pod.self, fromJSON: Array(text.utf8))
        #expect(pod.metadata.name == "second")
        #expect(pod.metadata.labels == ["a": "2", "é": "e"])
        #expect(pod.spec.containers.map(\.name) == ["c"])
    }

    /// Bytes that are not JSON: the same `JSONParseError` (message and offset) as the parser.
    static let malformed: [String] = [
        "", " ", "{", "[", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1,]", #"{"a":1 "b":2}"#, "tru", "nul", "falsey",
        #"{"a":"unterminated"#, "\"tab\there\"", #""\x""#, #""\u12""#, #""\ud800""#, #""\udc00x""#, "01", "-", "1.", "1e", "1e+",
        "{} {}", #"{"a":1}x"#, "[1 2]", #"{1:2}"#, "\u{7f}", String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
    ]

    @Test(arguments: malformed)
    func malformedBytesFailAsTheParserFails(_ text: String) {
        let bytes = Array(text.utf8)
        var parserError: JSONParseError?
        do { _ = try JSONValue.parse(bytes) } catch { parserError = error }
        guard let parserError else {
            Issue.record("the parser accepted \(text)")
            return
        }
        #expect(throws: parserError) { _ = try JSONValue.decode(JSONValue.self, fromJSON: bytes) }
        #expect(throws: parserError) { _ = try JSONValue.decode(Pod.self, fromJSON: bytes) }
    }

    @Test func invalidUTF8FailsAsTheParserFails() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D], [0x22, 0xE2, 0x82, 0x22]] {
            var parserError: JSONParseError?
            do { _ = try JSONValue.parse(bytes) } catch { parserError = error }
            #expect(parserError?.message == "invalid UTF-8 in a string")
            guard let parserError else { continue }
            #expect(throws: parserError) { _ = try JSONValue.decode(JSONValue.self, fromJSON: bytes) }
        }
    }

    /// Every prefix of a real pod: an error (never a crash or a value) from both paths, the
    /// same one.
    @Test func everyTruncationFailsCleanly() {
        let bytes = Array(Self.pod.utf8)
        for end in stride(from: 0, to: bytes.count - 1, by: 3) {
            let prefix = Array(bytes[..<end])
            var parserError: JSONParseError?
            do { _ = try JSONValue.parse(prefix) } catch { parserError = error }
            guard let parserError else {
                Issue.record("the parser accepted the first \(end) bytes")
                continue
            }
            #expect(throws: parserError) { _ = try JSONValue.decode(Pod.self, fromJSON: prefix) }
        }
    }

    /// JSON of the wrong shape: a DecodingError of the same kind at the same coding path.
    static let wrongShapes: [String] = [
        #"{"metadata":{},"spec":{}}"#,
        #"{"metadata":{"generation":"three"},"spec":{"containers":[]}}"#,
        #"{"metadata":{"generation":1.5},"spec":{"containers":[]}}"#,
        #"{"metadata":{"generation":1e30},"spec":{"containers":[]}}"#,
        #"{"metadata":{},"spec":{"containers":[{"name":7}]}}"#,
        #"{"metadata":{},"spec":{"containers":[{"name":"c"},{"name":null}]}}"#,
        #"{"metadata":{"labels":{"a":1}},"spec":{"containers":[]}}"#,
        #"{"metadata":{"labels":[]},"spec":{"containers":[]}}"#,
        #"{"metadata":{},"spec":{"containers":{}}}"#,
        #"{"metadata":{},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"lots"}}}]}}"#,
        #"{"metadata":{},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":true}}}]}}"#,
        #"{"metadata":{},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80},{"containerPort":4294967296}]}]}}"#,
        #"{"metadata":{},"spec":{"containers":[{"name":"c","livenessProbe":{"tcpSocket":{"port":1.5}}}]}}"#,
        #"[]"#, #"null"#, #""pod""#,
    ]

    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String { keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() }
        switch error as? DecodingError {
        case .keyNotFound(let key, let c)?: return "keyNotFound \(path(c.codingPath + [key]))"
        case .typeMismatch(let type, let c)?: return "typeMismatch \(type) \(path(c.codingPath)): \(c.debugDescription)"
        case .valueNotFound(let type, let c)?: return "valueNotFound \(type) \(path(c.codingPath))"
        case .dataCorrupted(let c)?: return "dataCorrupted \(path(c.codingPath)): \(c.debugDescription)"
        default: return "\(type(of: error)): \(error)"
        }
    }

    @Test(arguments: wrongShapes)
    func wrongShapesFailAsTheTreeFails(_ text: String) {
        let bytes = Array(text.utf8)
        var treeError: (any Error)?
        do { _ = try JSONValue.parse(bytes).decode(Pod.self) } catch { treeError = error }
        var tapeError: (any Error)?
        do { _ = try JSONValue.decode(Pod.self, fromJSON: bytes) } catch { tapeError = error }
        #expect(treeError is DecodingError)
        #expect(tapeError is DecodingError)
        #expect(tapeError.map(Self.describe) == treeError.map(Self.describe))
    }
}

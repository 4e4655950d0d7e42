import APIMachinery
import Foundation
import KubeAPI
import Store
import Testing
import TestSupport
@testable import APIServer

/// The spliced encoding of an update (``SplicedEncoding``) is byte for byte the full encoding,
/// for the server's real updates, hand-made edge cases and random trees with random edits, over
/// canonical and non-canonical old bytes.
@Suite struct SplicedEncodingTests {
    /// What `RESTStorage.write` has: the old bytes, the old object decoded from them as the
    /// cache holds it (metadata.resourceVersion set), and the new object derived from that one.
    struct Update {
        var oldBytes: [UInt8]
        var old: JSONObject
        var new: JSONObject

        /// `new` as written: without a resourceVersion.
        var stored: JSONObject {
            var stored = new
            stored.metadata["resourceVersion"] = nil
            return stored
        }

        init(oldBytes: [UInt8], edit: (inout JSONObject) throws -> Void) throws {
            self.oldBytes = oldBytes
            old = try #require(try JSONValue.parse(oldBytes).objectValue)
            old.metadata["resourceVersion"] = .string("42")
            new = old
            try edit(&new)
        }

        init(oldBytes: [UInt8], old: JSONObject, new: JSONObject) {
            self.oldBytes = oldBytes
            self.old = old
            self.new = new
        }

        /// Splices, checks the bytes against the full encoding, returns the bytes copied.
        @discardableResult
        func check(_ label: String, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
            let (spliced, copied) = SplicedEncoding.encodeCounting(stored, old: old, oldBytes: oldBytes)
            let full = JSONCoding.encode(stored)
            #expect(spliced == full, "\(label):\n spliced \(String(decoding: spliced, as: UTF8.self))\n full    \(String(decoding: full, as: UTF8.self))\n old     \(String(decoding: oldBytes, as: UTF8.self))", sourceLocation: sourceLocation)
            return copied
        }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: The server's real updates

    static let kubelet: WriteOptions = {
        var options = WriteOptions()
        options.fieldManager = "kubelet"
        options.subresource = "status"
        return options
    }()

    /// The hollow benchmark's pod (scheduler_perf's template) as created through the server.
    static func benchPod(_ storage: RESTStorage, name: String) async throws -> KeyValue {
        var container: JSONObject = ["name": .string("c"), "image": .string("nodekit/busybox")]
        container["resources"] = .object(["requests": .object(["cpu": .string("100m"), "memory": .string("128Mi")])])
        let body: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("Pod"),
                                       "metadata": .object(["name": .string(name), "namespace": .string("default"), "labels": .object(["app": .string("bench")])]),
                                       "spec": .object(["containers": .array([.object(container)])])])
        var options = WriteOptions()
        options.fieldManager = "hollow-bench"
        _ = try await storage.create(Pods.definition, namespace: "default", body: body, options: options)
        return try await storage.getKV(Pods.definition, namespace: "default", name: name)
    }

    /// pods/binding's change, as `PodBinding.bind` makes it.
    static func bind(_ pod: inout JSONObject, node: String) {
        pod[path: ["spec", "nodeName"]] = .string(node)
        var conditions = (pod[path: ["status", "conditions"]]?.arrayValue ?? []).filter { $0["type"]?.stringValue != "PodScheduled" }
        conditions.append(.object(["type": .string("PodScheduled"), "status": .string("True"),
                                   "lastTransitionTime": .string("2026-11-27T05:00:00Z"), "lastProbeTime": .null]))
        pod[path: ["status", "conditions"]] = .array(conditions)
    }

    /// The hollow kubelet's merge patch marking a pod Running (hollow-bench's runningStatus).
    static func runningPatch(uid: String, ip: String) -> JSONValue {
        let now = JSONValue.string("2026-11-27T05:00:01Z")
        let conditions: [JSONValue] = ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"].map {
            .object(["type": .string($0), "status": .string("True"), "lastTransitionTime": now])
        }
        let container: JSONValue = .object(["name": .string("c"), "image": .string("nodekit/busybox"), "imageID": .string(""), "ready": .bool(true),
                                            "started": .bool(true), "restartCount": .number(0), "containerID": .string("hollow://\(uid)/c"),
                                            "state": .object(["running": .object(["startedAt": now])])])
        return .object(["status": .object([
            "phase": .string("Running"), "hostIP": .string("10.0.0.7"), "hostIPs": .array([.object(["ip": .string("10.0.0.7")])]),
            "podIP": .string(ip), "podIPs": .array([.object(["ip": .string(ip)])]), "startTime": now, "qosClass": .string("Burstable"),
            "conditions": .array(conditions), "containerStatuses": .array([container]),
        ])])
    }

    /// What `RESTStorage.update` writes for `desired` over `old` (less validation and the write).
    static func updated(_ storage: RESTStorage, _ resource: ResourceDefinition, old: JSONObject, desired: JSONObject,
                        scope: RESTStorage.UpdateScope, options: WriteOptions) -> JSONObject {
        var object = storage.merge(desired: desired, old: old, scope: scope, resource)
        resource.defaults(&object)
        return storage.recordManagedFields(old: old, new: object, resource, options: options)
    }

    /// The three writes of a benchmark pod after its create (binding, status) and a Lease
    /// renewal, built by the server's own code from the cached old objects as the write path
    /// has them; `body` gets each (update, what) pair.
    static func realUpdates(_ body: (Update, String) throws -> Void) async throws {
        let server = try await TestServer.start()
        do {
            let storage = server.server.handler.storage
            let kv = try await benchPod(storage, name: "p-1")
            let created = try storage.decode(kv, Pods.definition)
            var bound = created
            bind(&bound, node: "hollow-7")
            try body(Update(oldBytes: kv.value, old: created, new: bound), "binding")

            // The binding written, then the kubelet's status patch over it.
            _ = try await storage.modify(Pods.definition, namespace: "default", name: "p-1", dryRun: false) { pod in bind(&pod, node: "hollow-7") }
            let boundKV = try await storage.getKV(Pods.definition, namespace: "default", name: "p-1")
            let boundOld = try storage.decode(boundKV, Pods.definition)
            let patch = runningPatch(uid: boundOld.metadata["uid"]?.stringValue ?? "", ip: "10.128.0.9")
            let desired = try #require(JSONMergePatch.apply(patch, to: .object(boundOld)).objectValue)
            let running = updated(storage, Pods.definition, old: boundOld, desired: desired, scope: .status, options: kubelet)
            try body(Update(oldBytes: boundKV.value, old: boundOld, new: running), "status")

            // A Lease renewal: a PUT of the whole object as the client read it, renewTime changed.
            let lease: JSONValue = .object(["apiVersion": .string("coordination.k8s.io/v1"), "kind": .string("Lease"),
                                            "metadata": .object(["name": .string("hollow-7"), "namespace": .string("default")]),
                                            "spec": .object(["holderIdentity": .string("hollow-7"), "leaseDurationSeconds": .number(40),
                                                             "renewTime": .string("2026-11-27T05:00:00.000000Z")])])
            var leaseOptions = WriteOptions()
            leaseOptions.fieldManager = "hollow-bench"
            _ = try await storage.create(Leases.definition, namespace: "default", body: lease, options: leaseOptions)
            let leaseKV = try await storage.getKV(Leases.definition, namespace: "default", name: "hollow-7")
            let leaseOld = try storage.decode(leaseKV, Leases.definition)
            var sent = try #require(try JSONValue.parse(JSONCoding.encode(leaseOld)).objectValue)
            sent[path: ["spec", "renewTime"]] = .string("2026-11-27T05:00:10.000000Z")
            let renewed = updated(storage, Leases.definition, old: leaseOld, desired: sent, scope: .main, options: leaseOptions)
            try body(Update(oldBytes: leaseKV.value, old: leaseOld, new: renewed), "lease renewal")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func theServersUpdatesSpliceToTheFullEncoding() async throws {
        try await Self.realUpdates { update, what in
            let copied = update.check(what)
            let size = JSONCoding.encode(update.stored).count
            // Most of each object is unchanged: metadata (managedFields) in a binding, spec in
            // a status write; a renewed Lease is a fresh decode of the body, so only what the
            // byte comparison of strings proves equal is copied.
            switch what {
            case "binding": #expect(copied * 10 > size * 6, "\(what): \(copied) of \(size) bytes copied")
            case "status": #expect(copied * 10 > size * 3, "\(what): \(copied) of \(size) bytes copied")
            default: break  // update.check compared the bytes; a Lease has no share to expect
            }
        }
    }

    /// Over HTTP: after a binding and a status patch, what the store holds is canonical (the
    /// encoding of its own decoded form) and holds both changes.
    @Test func storedBytesAfterBindingAndStatusAreCanonical() async throws {
        let server = try await TestServer.start()
        do {
            let storage = server.server.handler.storage
            _ = try await Self.benchPod(storage, name: "p-2")
            let binding: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("Binding"), "metadata": .object(["name": .string("p-2")]),
                                              "target": .object(["kind": .string("Node"), "name": .string("hollow-3")])])
            let bound = try await server.call("POST", "/api/v1/namespaces/default/pods/p-2/binding", json: binding)
            #expect(bound.code == 201, "\(bound.text)")
            let patched = try await server.call("PATCH", "/api/v1/namespaces/default/pods/p-2/status?fieldManager=kubelet",
                                                json: Self.runningPatch(uid: "u", ip: "10.128.0.3"), contentType: "application/merge-patch+json")
            #expect(patched.code == 200, "\(patched.text)")
            let kv = try #require(try await server.store.get(Pods.definition.storageKey(namespace: "default", name: "p-2")))
            let stored = try JSONValue.parse(kv.value)
            #expect(JSONCoding.encode(stored) == kv.value)
            #expect(stored[path: ["spec", "nodeName"]] == .string("hollow-3"))
            #expect(stored[path: ["status", "phase"]] == .string("Running"))
            #expect(stored[path: ["metadata", "managedFields"]]?.arrayValue?.count == 2)
            #expect(stored[path: ["metadata", "resourceVersion"]] == nil)
            let read = try await server.call("GET", "/api/v1/namespaces/default/pods/p-2")
            #expect(read.body == patched.body)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    // MARK: Edge cases

    static let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"note":"a \"quoted\" \\ back\\slash\nnew line \u0001 é ✓ 😀 and a long tail to pass the threshold"},"labels":{"app":"web","tier":"front"},"managedFields":[{"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}}}},"manager":"m","operation":"Update","time":"2026-11-27T05:00:00Z"}],"name":"p","namespace":"default","uid":"0f0e"},"spec":{"containers":[{"image":"busybox","name":"c","ports":[{"containerPort":80,"protocol":"TCP"}]}],"priority":-5,"weights":[0.5,1e+20,123456789012345,-2.5e-07]},"status":{"conditions":[{"status":"True","type":"A"},{"status":"False","type":"B"}],"phase":"Pending"}}"#

    static let edits: [(String, @Sendable (inout JSONObject) -> Void)] = [
        ("nothing", { _ in }),
        ("binding", { bind(&$0, node: "n-1") }),
        ("label change", { $0.metadata["labels"] = .object(["app": .string("db"), "tier": .string("front")]) }),
        ("label added", { $0[path: ["metadata", "labels", "zone"]] = .string("b") }),
        ("member removed", { $0.metadata["annotations"] = nil }),
        ("top member removed", { $0["status"] = nil }),
        ("member added first", { $0["aaa"] = .string("first") }),
        ("member added last", { $0["zzz"] = .object(["x": .array([.null, .bool(true), .number(-0.0)])]) }),
        ("nested array element changed", { $0[path: ["spec", "containers"]] = .array([.object(["image": .string("busybox"), "name": .string("c"),
                                                                                                  "ports": .array([.object(["containerPort": .number(81), "protocol": .string("TCP")])])])]) }),
        ("array element appended", { pod in
            var conditions = pod[path: ["status", "conditions"]]?.arrayValue ?? []
            conditions.append(.object(["status": .string("True"), "type": .string("C")]))
            pod[path: ["status", "conditions"]] = .array(conditions)
        }),
        ("array elements swapped", { pod in
            let conditions = pod[path: ["status", "conditions"]]?.arrayValue ?? []
            pod[path: ["status", "conditions"]] = .array(conditions.reversed())
        }),
        ("array element removed", { pod in
            pod[path: ["status", "conditions"]] = .array(Array((pod[path: ["status", "conditions"]]?.arrayValue ?? []).dropFirst()))
        }),
        ("string needing escapes", { $0[path: ["metadata", "annotations", "note"]] = .string("tab\there \"q\" \\ \u{7f} \u{1f} / end of a long enough string") }),
        ("numbers", { $0[path: ["spec", "weights"]] = .array([.number(0.1), .number(9e15), .number(-9.5e15), .number(1e-7), .number(3)]) }),
        ("unicode", { $0[path: ["metadata", "labels", "ключ"]] = .string("значение 😀") }),
        ("equal string, other bytes", { $0[path: ["metadata", "annotations", "note"]] = .string("caf\u{e9} and a string long enough to be compared rather than encoded") }),
        ("managedFields entry changed", { pod in
            var entries = pod[path: ["metadata", "managedFields"]]?.arrayValue ?? []
            if case .object(var entry)? = entries.first { entry["time"] = .string("2026-11-27T06:00:00Z"); entries[0] = .object(entry) }
            pod[path: ["metadata", "managedFields"]] = .array(entries)
        }),
        ("equal but rebuilt", { pod in pod = try! JSONValue.parse(JSONCoding.encode(pod)).objectValue! }),
        ("metadata replaced by a copy", { pod in
            var meta = pod.metadata
            meta["resourceVersion"] = nil
            pod["metadata"] = try! JSONValue.parse(JSONCoding.encode(meta))
        }),
    ]

    @Test(arguments: 0..<edits.count)
    func editsOverCanonicalBytes(_ index: Int) throws {
        let (label, edit) = Self.edits[index]
        try Update(oldBytes: Self.bytes(Self.pod), edit: edit).check(label)
        // The same edit over an object without metadata (nothing to take a resourceVersion).
        var bare = try #require(try JSONValue.parse(Self.bytes(Self.pod)).objectValue)
        bare["metadata"] = nil
        try Update(oldBytes: JSONCoding.encode(bare), edit: edit).check(label + " (no metadata)")
    }

    /// Forms a full encode never writes, each under a member that stays unchanged: the splice
    /// must encode those members rather than copy them.
    static let nonCanonical: [String] = [
        #"{"metadata":{"name":"p"},"spec":{"a": 1,"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"b":1,"a":2,"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"a":1,"a":2,"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"url":"http:\/\/x","pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"a":"\u0041\u00e9\u001F","pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"a":"\ud83d\ude00","pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"n":[1.0,1e2,-0,0.10,1E+2,12345678901234567,2.50],"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"\u0061":1,"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"e\u0301":1,"é":2,"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        #"{"metadata":{"name":"p"},"spec":{"x":{"k":[ 1 ,2 ]},"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"x\":{\"k\":[1,\n2]},\"pad\":\"0123456789012345678901234567890123456789012345678901234567890123\"}}",
        #" {"metadata":{"name":"p"},"spec":{"a":1}} "#,
        #"{"spec":{"a":1},"metadata":{"name":"p"}}"#,
        #"{"metadata":{"name":"p","resourceVersion":"7"},"spec":{"a":1,"pad":"0123456789012345678901234567890123456789012345678901234567890123"}}"#,
    ]

    @Test(arguments: 0..<nonCanonical.count)
    func nonCanonicalOldBytes(_ index: Int) throws {
        let text = Self.nonCanonical[index]
        try Update(oldBytes: Self.bytes(text)) { $0.metadata["labels"] = .object(["changed": .string("yes")]) }.check("\(index): \(text)")
        try Update(oldBytes: Self.bytes(text)) { _ in }.check("\(index) unchanged: \(text)")
        try Update(oldBytes: Self.bytes(text)) { $0["status"] = .string("new") }.check("\(index) member added: \(text)")
    }

    /// Keys that are equal as Swift strings but not as bytes (NFC and NFD), and keys whose
    /// order needs their escapes decoded, at the level descended into.
    @Test func keysMatchByTheirBytes() throws {
        let padding = JSONValue.string(String(repeating: "x", count: 80))
        let decomposed = "e\u{301}", composed = "\u{e9}"
        var old: JSONObject = ["metadata": .object([decomposed: padding, "z": padding, "k:{\"a\":1}": padding, "k:{\"a\":1}x": padding, "k:{": padding, "\u{1}": padding])]
        let oldBytes = JSONCoding.encode(old)
        old.metadata["resourceVersion"] = .string("1")
        var new = old
        new.metadata[decomposed] = nil
        new.metadata[composed] = padding
        Update(oldBytes: oldBytes, old: old, new: new).check("NFC key over NFD key")
        new = old
        new.metadata["k:{\"a\":1}"] = .string("changed")
        new.metadata["k:{\"b\""] = .number(1)
        #expect(Update(oldBytes: oldBytes, old: old, new: new).check("escaped keys") > 0)
    }

    // MARK: Random trees, random edits

    /// KubeAPI's SplitMix64: the same trees on every run.
    typealias Generator = SplitMix64

    static let keys = ["a", "b", "metadata", "spec", "z", "A", "_", "k:{\"name\":\"c\"}", "f:a", "\u{e9}", "e\u{301}", "ключ", "😀", "\u{1}x", "a\\b", "a b", "aa", "ab",
                       "f:containers", "f:container", "f:containerPort", "f:containerStatuses", "f:containerStatusez"]
    static let strings = ["", "x", "quote \" and \\ backslash", "line\nbreak\ttab\u{8}\u{c}\r", "\u{0}\u{1f}\u{7f}", "/slash/", "café", "cafe\u{301}", "😀 ✓",
                          String(repeating: "long string ", count: 8), String(repeating: "é", count: 40), "caf\u{e9}" + String(repeating: "!", count: 70),
                          "cafe\u{301}" + String(repeating: "!", count: 70)]
    static let numbers: [Double] = [0, -0.0, 1, -5, 1.5, 1e20, 9e15, 8_999_999_999_999_999, 123_456_789_012_345, 0.1, -2.5e-7, 1e-300, 4_294_967_296]

    static func tree(_ g: inout Generator, depth: Int) -> JSONValue {
        switch Int.random(in: 0..<(depth >= 4 ? 4 : 7), using: &g) {
        case 0: return .string(strings.randomElement(using: &g)!)
        case 1: return .number(numbers.randomElement(using: &g)!)
        case 2: return [.null, .bool(true), .bool(false)].randomElement(using: &g)!
        case 3: return .string(strings.randomElement(using: &g)!)
        case 4: return .array((0..<Int.random(in: 0...5, using: &g)).map { _ in tree(&g, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...7, using: &g) { members[keys.randomElement(using: &g)!] = tree(&g, depth: depth + 1) }
            return .object(members)
        }
    }

    /// One random edit somewhere in `value` (copy-on-write leaves the rest shared with the original).
    static func edit(_ value: inout JSONValue, _ g: inout Generator) {
        let descend = Int.random(in: 0..<3, using: &g) > 0
        switch value {
        case .object(var members) where !members.isEmpty && descend:
            let key = members.keys.sorted().randomElement(using: &g)!
            var child = members[key]!
            edit(&child, &g)
            members[key] = child
            value = .object(members)
        case .array(var elements) where !elements.isEmpty && descend:
            let i = Int.random(in: 0..<elements.count, using: &g)
            edit(&elements[i], &g)
            value = .array(elements)
        case .object(var members):
            switch Int.random(in: 0..<5, using: &g) {
            case 0: members[keys.randomElement(using: &g)!] = tree(&g, depth: 2)
            case 1: if let key = members.keys.sorted().randomElement(using: &g) { members[key] = nil }
            case 2: value = try! JSONValue.parse(value.serialized()); return   // equal, nothing shared
            case 3: value = tree(&g, depth: 1); return
            default: members["\u{e9}"] = members.removeValue(forKey: "e\u{301}") ?? .null
            }
            value = .object(members)
        case .array(var elements):
            switch Int.random(in: 0..<4, using: &g) {
            case 0: elements.append(tree(&g, depth: 2))
            case 1: if !elements.isEmpty { elements.removeFirst() }
            case 2: elements.reverse()
            default: elements.insert(tree(&g, depth: 2), at: 0)
            }
            value = .array(elements)
        default:
            value = tree(&g, depth: 3)
        }
    }

    /// Valid JSON of `value` in forms a full encode never writes, chosen at random: white
    /// space, members unsorted or repeated, `\/` and `\u` escapes, other number spellings.
    static func noisy(_ value: JSONValue, _ g: inout Generator, into out: inout String) {
        func space() { if Int.random(in: 0..<8, using: &g) == 0 { out += [" ", "\n", "\t", "\r\n "].randomElement(using: &g)! } }
        space()
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            let plain = String(decoding: JSONValue.number(d).serialized(), as: UTF8.self)
            switch Int.random(in: 0..<6, using: &g) {
            case 0 where d.rounded() == d && abs(d) < 1e15: out += plain + ".0"
            case 1 where d.rounded() == d && abs(d) < 1e15: out += plain + "e0"
            case 2 where d == 0: out += "-0"
            default: out += plain
            }
        case .string(let s): noisyString(s, &g, into: &out)
        case .array(let elements):
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += "," }
                noisy(element, &g, into: &out)
            }
            space()
            out += "]"
        case .object(let members):
            out += "{"
            var order = members.sorted { $0.key < $1.key }
            if Int.random(in: 0..<4, using: &g) == 0 { order.shuffle(using: &g) }
            var first = true
            for (key, member) in order {
                if Int.random(in: 0..<10, using: &g) == 0 {
                    // A repeated key: the parse keeps the last value.
                    if !first { out += "," }
                    noisyString(key, &g, into: &out)
                    out += ":0"
                    first = false
                }
                if !first { out += "," }
                first = false
                space()
                noisyString(key, &g, into: &out)
                space()
                out += ":"
                noisy(member, &g, into: &out)
            }
            space()
            out += "}"
        }
        space()
    }

    static func noisyString(_ s: String, _ g: inout Generator, into out: inout String) {
        let canonical = String(decoding: JSONValue.string(s).serialized(), as: UTF8.self)
        guard Int.random(in: 0..<3, using: &g) == 0 else { out += canonical; return }
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "/": out += "\\/"
            case "a": out += "\\u0061"
            case "\u{1f}": out += "\\u001F"
            case "\u{e9}": out += "\\u00e9"
            case "\u{1F600}": out += "\\ud83d\\ude00"
            default: out += String(decoding: JSONValue.string(String(scalar)).serialized().dropFirst().dropLast(), as: UTF8.self)
            }
        }
        out += "\""
    }

    @Test func randomTreesAndEdits() throws {
        var g = Generator(seed: 0x5EED_0013)
        var copiedAny = 0
        for round in 0..<3_000 {
            var root: [String: JSONValue] = ["metadata": .object(["name": .string("n\(round)")])]
            for _ in 0..<Int.random(in: 0...5, using: &g) { root[Self.keys.randomElement(using: &g)!] = Self.tree(&g, depth: 1) }
            var oldBytes: [UInt8]
            if round % 3 == 2 {
                var text = ""
                Self.noisy(.object(root), &g, into: &text)
                oldBytes = Array(text.utf8)
            } else {
                oldBytes = JSONCoding.encode(root)
            }
            guard case .object(let parsed)? = try? JSONValue.parse(oldBytes) else {
                Issue.record("round \(round): the old bytes do not parse: \(String(decoding: oldBytes, as: UTF8.self))")
                continue
            }
            var old = parsed
            if old["metadata"]?.objectValue != nil { old.metadata["resourceVersion"] = .string("9") }
            var new = JSONValue.object(old)
            for _ in 0..<Int.random(in: 0...3, using: &g) { Self.edit(&new, &g) }
            guard case .object(let newObject) = new else { continue }
            copiedAny += Update(oldBytes: oldBytes, old: old, new: newObject).check("round \(round)")
        }
        #expect(copiedAny > 0)
    }
}

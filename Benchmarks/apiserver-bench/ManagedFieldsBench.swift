// `apiserver-bench --fields`: the managedFields step of each write path on its own, in process.
//
// A server on the embedded store makes the objects (a pod as created, bound and given the
// kubelet's status; a Lease renewed once), read back as served; then
// `ServerSideApply.recordUpdate` runs on them as the server runs it for a create, the status
// patch and the Lease update, in rounds of calls timed by this thread's CPU clock. Each row
// prints a hash of its result (the object with the managedFields written, at a fixed time, from
// inputs whose run-dependent values are pinned), so two builds that print the same hashes
// recorded the same managedFields for these inputs.
import APIMachinery
import APIServer
import Foundation
import KubeAPI
import KubeClient
import Store

/// This thread's CPU time in seconds (CLOCK_THREAD_CPUTIME_ID): a loop with no suspension
/// point runs on one thread, so this is its CPU alone.
func threadCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// FNV-1a over `bytes`, printed as 16 hex digits.
func fnv1a(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    let text = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - text.count) + text
}

/// `value` with `path` set to `new` (nil removes it); objects are created along the way.
func setting(_ value: JSONValue, _ path: ArraySlice<String>, _ new: JSONValue?) -> JSONValue {
    guard let key = path.first else { return new ?? .null }
    var members = value.objectValue ?? [:]
    if path.count == 1 {
        members[key] = new
    } else {
        members[key] = setting(members[key] ?? .object([:]), path.dropFirst(), new)
    }
    return .object(members)
}

/// `value` with what differs between runs pinned, so that two runs (two builds) record
/// managedFields on equal inputs: uids, timestamps, resourceVersions and the generated name of
/// the service-account token volume (also inside FieldsV1 keys).
func pinned(_ value: JSONValue) -> JSONValue {
    func pin(_ text: String) -> String {
        let bytes = Array(text.utf8)
        if bytes.count == 36, [8, 13, 18, 23].allSatisfy({ bytes[$0] == UInt8(ascii: "-") }) { return "00000000-0000-4000-8000-000000000000" }
        if (bytes.count == 20 || bytes.count == 27), text.hasPrefix("20"), bytes[10] == UInt8(ascii: "T"), text.hasSuffix("Z") {
            return bytes.count == 20 ? "2026-11-26T08:00:00Z" : "2026-11-26T08:00:00.000000Z"
        }
        guard let range = text.range(of: "kube-api-access-") else { return text }
        let suffix = text[range.upperBound...]
        return String(text[..<range.upperBound]) + "xxxxx" + String(suffix.dropFirst(min(5, suffix.count)))
    }
    switch value {
    case .string(let text): return .string(pin(text))
    case .array(let items): return .array(items.map(pinned))
    case .object(let members):
        var out: [String: JSONValue] = [:]
        for (key, member) in members { out[pin(key)] = key == "resourceVersion" ? .string("1000") : pinned(member) }
        return .object(out)
    default: return value
    }
}

/// The manager of the entry of `object`'s managedFields written through `subresource`.
func manager(of object: JSONValue, subresource: String?) throws -> String {
    guard case .array(let entries)? = object["metadata"]?["managedFields"] else { throw UsageError("no managedFields in \(object)") }
    for entry in entries where entry["subresource"]?.stringValue == subresource {
        if let name = entry["manager"]?.stringValue { return name }
    }
    throw UsageError("no managedFields entry for subresource \(subresource ?? "none")")
}

struct FieldsCase {
    var name: String
    var old: JSONValue?
    var new: JSONValue
    var manager: String
    var subresource: String?
    var schema: TypeSchema?
    var resetFields: [FieldPath]

    func run() -> JSONValue {
        ServerSideApply.recordUpdate(old: old, new: new, manager: manager, subresource: subresource, schema: schema,
                                     now: "2026-11-26T17:00:00Z", resetFields: resetFields)
    }
}

func managedFieldsBench(options: Options) async throws {
    let directory = options.directory + "/fields-server"
    let storePath = options.directory + "/fields-store"
    try? FileManager.default.removeItem(atPath: storePath)
    let store = try LocalStore.open(directory: storePath)
    let (configuration, serving, _) = try await startServer(store: store, directory: directory)
    defer { serving.cancel() }
    let clients = try Clients(kubeconfig: configuration.kubeconfigPath, count: 1)
    let client = clients.all[0]
    _ = try await client.create(Namespace(metadata: ObjectMeta(name: "bench")), options: WriteOptions())
    _ = try await client.create(ServiceAccount(metadata: ObjectMeta(name: "default", namespace: "bench")))
    _ = try await client.create(pod(0, namespace: "bench"), options: WriteOptions())
    let podPath = "/api/v1/namespaces/bench/pods/" + podName(0)
    let created = pinned(try JSONValue.parse(try await client.getRaw(podPath)))
    try await client.create(binding: Binding(metadata: ObjectMeta(name: podName(0), namespace: "bench"),
                                             target: ObjectReference(kind: "Node", name: "node-0")), options: WriteOptions())
    let bound = pinned(try JSONValue.parse(try await client.getRaw(podPath)))
    let _: Pod = try await client.mergePatch(Pod.self, namespace: "bench", name: podName(0), podStatusPatch(0), subresource: "status")
    let running = pinned(try JSONValue.parse(try await client.getRaw(podPath)))
    _ = try await client.create(Lease(metadata: ObjectMeta(name: "node-0", namespace: "kube-node-lease"),
                                      spec: LeaseSpec(holderIdentity: "node-0", leaseDurationSeconds: 40, renewTime: microTime(Date()))))
    var lease = try await client.get(Lease.self, namespace: "kube-node-lease", name: "node-0")
    lease.spec?.renewTime = microTime(Date())
    _ = try await client.update(lease)
    let leasePath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-0"
    let renewed = pinned(try JSONValue.parse(try await client.getRaw(leasePath)))
    await clients.shutdown()
    serving.cancel()
    _ = try? await serving.value
    await store.close()

    let podSchema = SchemaRegistry.builtin.schema(apiVersion: "v1", kind: "Pod")
    // A create's object has no managedFields and no resourceVersion yet; an update's old object
    // is the stored one with its resourceVersion, and its new one keeps that resourceVersion.
    let fresh = setting(setting(created, ["metadata", "managedFields"], nil), ["metadata", "resourceVersion"], nil)
    let cases = [
        FieldsCase(name: "create pod", old: nil, new: fresh, manager: try manager(of: created, subresource: nil),
                   schema: podSchema, resetFields: [["f:status"]]),
        FieldsCase(name: "patch pod status", old: bound, new: setting(bound, ["status"], running["status"]),
                   manager: try manager(of: running, subresource: "status"), subresource: "status", schema: podSchema, resetFields: [["f:spec"]]),
        FieldsCase(name: "update lease", old: renewed, new: setting(renewed, ["spec", "renewTime"], .string("2026-11-26T17:00:01.000000Z")),
                   manager: try manager(of: renewed, subresource: nil),
                   schema: SchemaRegistry.builtin.schema(apiVersion: "coordination.k8s.io/v1", kind: "Lease"), resetFields: []),
        // As the server records a renewal: a spec change bumps metadata.generation first, so
        // the write changes a member of metadata too (session 10).
        FieldsCase(name: "update lease, served",
                   old: renewed,
                   new: setting(setting(renewed, ["spec", "renewTime"], .string("2026-11-26T17:00:01.000000Z")), ["metadata", "generation"],
                                .number((renewed["metadata"]?["generation"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 1) + 1)),
                   manager: try manager(of: renewed, subresource: nil),
                   schema: SchemaRegistry.builtin.schema(apiVersion: "coordination.k8s.io/v1", kind: "Lease"), resetFields: []),
    ]
    let calls = options.quick ? 2_000 : 10_000
    let rounds = 5
    print("managedFields (ServerSideApply.recordUpdate), \(calls) calls a round, \(rounds) rounds, microseconds of this thread's CPU per call:")
    for item in cases {
        let hash = fnv1a(item.run().serialized())
        var perCall: [Double] = []
        for _ in 0..<rounds {
            let start = threadCPUSeconds()
            var sink = 0
            for _ in 0..<calls {
                if case .object(let members) = item.run() { sink &+= members.count }
            }
            perCall.append((threadCPUSeconds() - start) / Double(calls) * 1e6)
            if sink == 0 { print("(no object)") }
        }
        let median = perCall.sorted()[rounds / 2]
        print("  " + pad(item.name, 18) + " median " + String(format: "%7.2f", median) + "  rounds "
              + perCall.map { String(format: "%.2f", $0) }.joined(separator: ", ") + "  result hash " + hash)
    }
}

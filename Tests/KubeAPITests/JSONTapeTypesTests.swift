import Foundation
@testable import KubeAPI
import Testing

/// The one-pass tape decoders (JSONTapeTypes.swift) against the tree path, which decodes with
/// every type's synthesized `init(from:)`: the same value (`==` and the same sorted-keys
/// encoding) or the same error (kind, coding path, message), for full objects and for
/// every object inside them with each member removed, null, of another kind, repeated, under
/// an escaped key; with unknown members; and for roots that are not objects.
@Suite struct JSONTapeTypesTests {
    /// Every member of every type, once (built from the declarations, values made up; line
    /// breaks only between members, which JSON allows).
    static let fullPod = #"""
    {"apiVersion":"apiVersion-2","kind":"kind-3","metadata":{"annotations":{"k17":"annotations-18","k17b":"annotations-19"},
    "creationTimestamp":"creationTimestamp-11","deletionGracePeriodSeconds":13,"deletionTimestamp":"deletionTimestamp-12","finalizers":["finalizers-29"],
    "generateName":"generateName-6","generation":10,"labels":{"k14":"labels-15","k14b":"labels-16"},"managedFields":[{"claimName":"c31","readOnly":true}],
    "name":"name-5","namespace":"namespace-7","ownerReferences":[{"apiVersion":"apiVersion-22","blockOwnerDeletion":false,"controller":true,
    "kind":"kind-23","name":"name-24","uid":"uid-25"}],"resourceVersion":"resourceVersion-9","uid":"uid-8"},"spec":{"activeDeadlineSeconds":492,
    "affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"preference":{"matchExpressions":[{"key":"key-552",
    "operator":"operator-553","values":["values-555"]}],"matchFields":[{"key":"key-558","operator":"operator-559","values":["values-561"]}]},
    "weight":548}],"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"key-536","operator":"operator-537",
    "values":["values-539"]}],"matchFields":[{"key":"key-542","operator":"operator-543","values":["values-545"]}]}]}},
    "podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"podAffinityTerm":{"labelSelector":{"matchExpressions":[{"key":"key-598",
    "operator":"operator-599","values":["values-601"]}],"matchLabels":{"k593":"matchLabels-594","k593b":"matchLabels-595"}},
    "namespaceSelector":{"matchExpressions":[{"key":"key-610","operator":"operator-611","values":["values-613"]}],"matchLabels":{"k605":"matchLabels-606",
    "k605b":"matchLabels-607"}},"namespaces":["namespaces-603"],"topologyKey":"topologyKey-614"},"weight":590}],
    "requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchExpressions":[{"key":"key-571","operator":"operator-572",
    "values":["values-574"]}],"matchLabels":{"k566":"matchLabels-567","k566b":"matchLabels-568"}},
    "namespaceSelector":{"matchExpressions":[{"key":"key-583","operator":"operator-584","values":["values-586"]}],"matchLabels":{"k578":"matchLabels-579",
    "k578b":"matchLabels-580"}},"namespaces":["namespaces-576"],"topologyKey":"topologyKey-587"}]},
    "podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"podAffinityTerm":{"labelSelector":{"matchExpressions":[{"key":"key-651",
    "operator":"operator-652","values":["values-654"]}],"matchLabels":{"k646":"matchLabels-647","k646b":"matchLabels-648"}},
    "namespaceSelector":{"matchExpressions":[{"key":"key-663","operator":"operator-664","values":["values-666"]}],"matchLabels":{"k658":"matchLabels-659",
    "k658b":"matchLabels-660"}},"namespaces":["namespaces-656"],"topologyKey":"topologyKey-667"},"weight":643}],
    "requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchExpressions":[{"key":"key-624","operator":"operator-625",
    "values":["values-627"]}],"matchLabels":{"k619":"matchLabels-620","k619b":"matchLabels-621"}},
    "namespaceSelector":{"matchExpressions":[{"key":"key-636","operator":"operator-637","values":["values-639"]}],"matchLabels":{"k631":"matchLabels-632",
    "k631b":"matchLabels-633"}},"namespaces":["namespaces-629"],"topologyKey":"topologyKey-640"}]}},"automountServiceAccountToken":false,
    "containers":[{"args":["args-307"],"command":["command-305"],"env":[{"name":"name-327","value":"value-328",
    "valueFrom":{"configMapKeyRef":{"key":"key-339","name":"name-338","optional":true},"fieldRef":{"apiVersion":"apiVersion-331",
    "fieldPath":"fieldPath-332"},"resourceFieldRef":{"containerName":"containerName-334","divisor":"1Gi","resource":"resource-335"},
    "secretKeyRef":{"key":"key-343","name":"name-342","optional":true}}}],"envFrom":[{"configMapRef":{"name":"name-320","optional":false},
    "prefix":"prefix-318","secretRef":{"name":"name-323","optional":true}}],"image":"image-303","imagePullPolicy":"imagePullPolicy-470",
    "lifecycle":{"postStart":{"exec":{"command":["command-435"]},"httpGet":{"host":"host-439","httpHeaders":[{"name":"name-443","value":"value-444"}],
    "path":"path-437","port":"http","scheme":"scheme-440"},"sleep":{"seconds":449},"tcpSocket":{"host":"host-447","port":"http"}},
    "preStop":{"exec":{"command":["command-453"]},"httpGet":{"host":"host-457","httpHeaders":[{"name":"name-461","value":"value-462"}],"path":"path-455",
    "port":"http","scheme":"scheme-458"},"sleep":{"seconds":467},"tcpSocket":{"host":"host-465","port":"http"}}},
    "livenessProbe":{"exec":{"command":["command-359"]},"failureThreshold":379,"grpc":{"port":373,"service":"service-374"},"httpGet":{"host":"host-363",
    "httpHeaders":[{"name":"name-367","value":"value-368"}],"path":"path-361","port":"http","scheme":"scheme-364"},"initialDelaySeconds":375,
    "periodSeconds":377,"successThreshold":378,"tcpSocket":{"host":"host-371","port":"http"},"terminationGracePeriodSeconds":380,"timeoutSeconds":376},
    "name":"name-302","ports":[{"containerPort":313,"hostIP":"hostIP-315","hostPort":312,"name":"name-311","protocol":"protocol-314"}],
    "readinessProbe":{"exec":{"command":["command-384"]},"failureThreshold":404,"grpc":{"port":398,"service":"service-399"},"httpGet":{"host":"host-388",
    "httpHeaders":[{"name":"name-392","value":"value-393"}],"path":"path-386","port":8080,"scheme":"scheme-389"},"initialDelaySeconds":400,
    "periodSeconds":402,"successThreshold":403,"tcpSocket":{"host":"host-396","port":8080},"terminationGracePeriodSeconds":405,"timeoutSeconds":401},
    "resources":{"limits":{"cpu":"100m","memory":"128Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"restartPolicy":"restartPolicy-348",
    "securityContext":{"allowPrivilegeEscalation":true,"capabilities":{"add":["add-474"],"drop":["drop-476"]},"privileged":false,
    "procMount":"procMount-483","readOnlyRootFilesystem":false,"runAsGroup":479,"runAsNonRoot":true,"runAsUser":478,
    "seccompProfile":{"localhostProfile":"localhostProfile-486","type":"type-485"}},"startupProbe":{"exec":{"command":["command-409"]},
    "failureThreshold":429,"grpc":{"port":423,"service":"service-424"},"httpGet":{"host":"host-413","httpHeaders":[{"name":"name-417",
    "value":"value-418"}],"path":"path-411","port":"http","scheme":"scheme-414"},"initialDelaySeconds":425,"periodSeconds":427,"successThreshold":428,
    "tcpSocket":{"host":"host-421","port":"http"},"terminationGracePeriodSeconds":430,"timeoutSeconds":426},"stdin":false,"stdinOnce":true,
    "terminationMessagePath":"terminationMessagePath-468","terminationMessagePolicy":"terminationMessagePolicy-469","tty":false,
    "volumeMounts":[{"mountPath":"mountPath-353","mountPropagation":"mountPropagation-355","name":"name-351","readOnly":true,"subPath":"subPath-354"}],
    "workingDir":"workingDir-308"}],"dnsConfig":{"nameservers":["nameservers-496"],"options":[{"name":"name-501","value":"value-502"}],
    "searches":["searches-498"]},"dnsPolicy":"dnsPolicy-493","enableServiceLinks":true,"hostAliases":[{"hostnames":["hostnames-680"],"ip":"ip-678"}],
    "hostIPC":false,"hostNetwork":false,"hostPID":true,"hostname":"hostname-527","initContainers":[{"args":["args-117"],"command":["command-115"],
    "env":[{"name":"name-137","value":"value-138","valueFrom":{"configMapKeyRef":{"key":"key-149","name":"name-148","optional":true},
    "fieldRef":{"apiVersion":"apiVersion-141","fieldPath":"fieldPath-142"},"resourceFieldRef":{"containerName":"containerName-144","divisor":"1Gi",
    "resource":"resource-145"},"secretKeyRef":{"key":"key-153","name":"name-152","optional":true}}}],"envFrom":[{"configMapRef":{"name":"name-130",
    "optional":false},"prefix":"prefix-128","secretRef":{"name":"name-133","optional":true}}],"image":"image-113","imagePullPolicy":"imagePullPolicy-280",
    "lifecycle":{"postStart":{"exec":{"command":["command-245"]},"httpGet":{"host":"host-249","httpHeaders":[{"name":"name-253","value":"value-254"}],
    "path":"path-247","port":"http","scheme":"scheme-250"},"sleep":{"seconds":259},"tcpSocket":{"host":"host-257","port":"http"}},
    "preStop":{"exec":{"command":["command-263"]},"httpGet":{"host":"host-267","httpHeaders":[{"name":"name-271","value":"value-272"}],"path":"path-265",
    "port":"http","scheme":"scheme-268"},"sleep":{"seconds":277},"tcpSocket":{"host":"host-275","port":"http"}}},
    "livenessProbe":{"exec":{"command":["command-169"]},"failureThreshold":189,"grpc":{"port":183,"service":"service-184"},"httpGet":{"host":"host-173",
    "httpHeaders":[{"name":"name-177","value":"value-178"}],"path":"path-171","port":"http","scheme":"scheme-174"},"initialDelaySeconds":185,
    "periodSeconds":187,"successThreshold":188,"tcpSocket":{"host":"host-181","port":"http"},"terminationGracePeriodSeconds":190,"timeoutSeconds":186},
    "name":"name-112","ports":[{"containerPort":123,"hostIP":"hostIP-125","hostPort":122,"name":"name-121","protocol":"protocol-124"}],
    "readinessProbe":{"exec":{"command":["command-194"]},"failureThreshold":214,"grpc":{"port":208,"service":"service-209"},"httpGet":{"host":"host-198",
    "httpHeaders":[{"name":"name-202","value":"value-203"}],"path":"path-196","port":8080,"scheme":"scheme-199"},"initialDelaySeconds":210,
    "periodSeconds":212,"successThreshold":213,"tcpSocket":{"host":"host-206","port":8080},"terminationGracePeriodSeconds":215,"timeoutSeconds":211},
    "resources":{"limits":{"cpu":"100m","memory":"128Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"restartPolicy":"restartPolicy-158",
    "securityContext":{"allowPrivilegeEscalation":true,"capabilities":{"add":["add-284"],"drop":["drop-286"]},"privileged":false,
    "procMount":"procMount-293","readOnlyRootFilesystem":false,"runAsGroup":289,"runAsNonRoot":true,"runAsUser":288,
    "seccompProfile":{"localhostProfile":"localhostProfile-296","type":"type-295"}},"startupProbe":{"exec":{"command":["command-219"]},
    "failureThreshold":239,"grpc":{"port":233,"service":"service-234"},"httpGet":{"host":"host-223","httpHeaders":[{"name":"name-227",
    "value":"value-228"}],"path":"path-221","port":"http","scheme":"scheme-224"},"initialDelaySeconds":235,"periodSeconds":237,"successThreshold":238,
    "tcpSocket":{"host":"host-231","port":"http"},"terminationGracePeriodSeconds":240,"timeoutSeconds":236},"stdin":false,"stdinOnce":true,
    "terminationMessagePath":"terminationMessagePath-278","terminationMessagePolicy":"terminationMessagePolicy-279","tty":false,
    "volumeMounts":[{"mountPath":"mountPath-163","mountPropagation":"mountPropagation-165","name":"name-161","readOnly":true,"subPath":"subPath-164"}],
    "workingDir":"workingDir-118"}],"nodeName":"nodeName-508","nodeSelector":{"k503":"nodeSelector-504","k503b":"nodeSelector-505"},
    "overhead":{"cpu":"100m","memory":"128Mi"},"preemptionPolicy":"preemptionPolicy-683","priority":682,"priorityClassName":"priorityClassName-681",
    "restartPolicy":"restartPolicy-490","schedulerName":"schedulerName-668","securityContext":{"fsGroup":519,"runAsGroup":515,"runAsNonRoot":true,
    "runAsUser":514,"seccompProfile":{"localhostProfile":"localhostProfile-526","type":"type-525"},"supplementalGroups":[518],
    "sysctls":[{"name":"name-522","value":"value-523"}]},"serviceAccountName":"serviceAccountName-506","shareProcessNamespace":true,
    "subdomain":"subdomain-528","terminationGracePeriodSeconds":491,"tolerations":[{"effect":"effect-674","key":"key-671","operator":"operator-672",
    "tolerationSeconds":675,"value":"value-673"}],"topologySpreadConstraints":[{"labelSelector":{"matchExpressions":[{"key":"key-695",
    "operator":"operator-696","values":["values-698"]}],"matchLabels":{"k690":"matchLabels-691","k690b":"matchLabels-692"}},"maxSkew":686,
    "minDomains":699,"topologyKey":"topologyKey-687","whenUnsatisfiable":"whenUnsatisfiable-688"}],"volumes":[{"configMap":{"defaultMode":49,
    "items":[{"key":"key-46","mode":48,"path":"path-47"}],"name":"name-43","optional":true},"downwardAPI":{"defaultMode":72,
    "items":[{"fieldRef":{"apiVersion":"apiVersion-65","fieldPath":"fieldPath-66"},"mode":71,"path":"path-63",
    "resourceFieldRef":{"containerName":"containerName-68","divisor":"1Gi","resource":"resource-69"}}]},"emptyDir":{"medium":"medium-37",
    "sizeLimit":"1Gi"},"hostPath":{"path":"path-40","type":"type-41"},"name":"name-35","persistentVolumeClaim":{"claimName":"c109","readOnly":true},
    "projected":{"defaultMode":108,"sources":[{"configMap":{"items":[{"key":"key-80","mode":82,"path":"path-81"}],"name":"name-77","optional":false},
    "downwardAPI":{"items":[{"fieldRef":{"apiVersion":"apiVersion-97","fieldPath":"fieldPath-98"},"mode":103,"path":"path-95",
    "resourceFieldRef":{"containerName":"containerName-100","divisor":"1Gi","resource":"resource-101"}}]},"secret":{"items":[{"key":"key-88","mode":90,
    "path":"path-89"}],"name":"name-85","optional":false},"serviceAccountToken":{"audience":"audience-105","expirationSeconds":106,"path":"path-107"}}]},
    "secret":{"defaultMode":58,"items":[{"key":"key-55","mode":57,"path":"path-56"}],"optional":false,"secretName":"secretName-52"}}]},
    "status":{"conditions":[{"lastProbeTime":"lastProbeTime-708","lastTransitionTime":"lastTransitionTime-709","message":"message-711",
    "reason":"reason-710","status":"status-707","type":"type-706"}],"containerStatuses":[{"containerID":"containerID-795","image":"image-793",
    "imageID":"imageID-794","lastState":{"running":{"startedAt":"startedAt-782"},"terminated":{"containerID":"containerID-790","exitCode":784,
    "finishedAt":"finishedAt-789","message":"message-787","reason":"reason-786","signal":785,"startedAt":"startedAt-788"},
    "waiting":{"message":"message-780","reason":"reason-779"}},"name":"name-762","ready":false,"restartCount":792,"started":true,
    "state":{"running":{"startedAt":"startedAt-768"},"terminated":{"containerID":"containerID-776","exitCode":770,"finishedAt":"finishedAt-775",
    "message":"message-773","reason":"reason-772","signal":771,"startedAt":"startedAt-774"},"waiting":{"message":"message-766","reason":"reason-765"}}}],
    "hostIP":"hostIP-714","hostIPs":[{"ip":"ip-717"}],"initContainerStatuses":[{"containerID":"containerID-758","image":"image-756",
    "imageID":"imageID-757","lastState":{"running":{"startedAt":"startedAt-745"},"terminated":{"containerID":"containerID-753","exitCode":747,
    "finishedAt":"finishedAt-752","message":"message-750","reason":"reason-749","signal":748,"startedAt":"startedAt-751"},
    "waiting":{"message":"message-743","reason":"reason-742"}},"name":"name-725","ready":true,"restartCount":755,"started":false,
    "state":{"running":{"startedAt":"startedAt-731"},"terminated":{"containerID":"containerID-739","exitCode":733,"finishedAt":"finishedAt-738",
    "message":"message-736","reason":"reason-735","signal":734,"startedAt":"startedAt-737"},"waiting":{"message":"message-729","reason":"reason-728"}}}],
    "message":"message-712","nominatedNodeName":"nominatedNodeName-798","phase":"phase-703","podIP":"podIP-718","podIPs":[{"ip":"ip-721"}],
    "qosClass":"qosClass-797","reason":"reason-713","startTime":"startTime-722"}}
    """#
    static let fullNode = #"""
    {"apiVersion":"apiVersion-800","kind":"kind-801","metadata":{"annotations":{"k815":"annotations-816","k815b":"annotations-817"},
    "creationTimestamp":"creationTimestamp-809","deletionGracePeriodSeconds":811,"deletionTimestamp":"deletionTimestamp-810",
    "finalizers":["finalizers-827"],"generateName":"generateName-804","generation":808,"labels":{"k812":"labels-813","k812b":"labels-814"},
    "managedFields":[{"claimName":"c829","readOnly":true}],"name":"name-803","namespace":"namespace-805",
    "ownerReferences":[{"apiVersion":"apiVersion-820","blockOwnerDeletion":false,"controller":true,"kind":"kind-821","name":"name-822","uid":"uid-823"}],
    "resourceVersion":"resourceVersion-807","uid":"uid-806"},"spec":{"podCIDR":"podCIDR-831","podCIDRs":["podCIDRs-833"],"providerID":"providerID-841",
    "taints":[{"effect":"effect-839","key":"key-837","timeAdded":"timeAdded-840","value":"value-838"}],"unschedulable":true},
    "status":{"addresses":[{"address":"address-856","type":"type-855"}],"allocatable":{"cpu":"100m","memory":"128Mi"},"capacity":{"cpu":"100m",
    "memory":"128Mi"},"conditions":[{"lastHeartbeatTime":"lastHeartbeatTime-849","lastTransitionTime":"lastTransitionTime-850","message":"message-852",
    "reason":"reason-851","status":"status-848","type":"type-847"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":859}},"images":[{"names":["names-874"],
    "sizeBytes":875}],"nodeInfo":{"architecture":"architecture-870","bootID":"bootID-863","containerRuntimeVersion":"containerRuntimeVersion-866",
    "kernelVersion":"kernelVersion-864","kubeProxyVersion":"kubeProxyVersion-868","kubeletVersion":"kubeletVersion-867","machineID":"machineID-861",
    "operatingSystem":"operatingSystem-869","osImage":"osImage-865","systemUUID":"systemUUID-862"}}}
    """#
    static let fullLease = #"""
    {"apiVersion":"apiVersion-877","kind":"kind-878","metadata":{"annotations":{"k892":"annotations-893","k892b":"annotations-894"},
    "creationTimestamp":"creationTimestamp-886","deletionGracePeriodSeconds":888,"deletionTimestamp":"deletionTimestamp-887",
    "finalizers":["finalizers-904"],"generateName":"generateName-881","generation":885,"labels":{"k889":"labels-890","k889b":"labels-891"},
    "managedFields":[{"claimName":"c906","readOnly":true}],"name":"name-880","namespace":"namespace-882",
    "ownerReferences":[{"apiVersion":"apiVersion-897","blockOwnerDeletion":true,"controller":false,"kind":"kind-898","name":"name-899","uid":"uid-900"}],
    "resourceVersion":"resourceVersion-884","uid":"uid-883"},"spec":{"acquireTime":"acquireTime-910","holderIdentity":"holderIdentity-908",
    "leaseDurationSeconds":909,"leaseTransitions":912,"preferredHolder":"preferredHolder-914","renewTime":"renewTime-911","strategy":"strategy-913"}}
    """#

    static func encoded<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "unencodable"
    }

    /// What decoding `bytes` as `T` gives, described: a value by its encoding, an error by
    /// ``JSONTapeDecoderTests/describe(_:)`` (kind, coding path, message).
    static func outcome<T: Codable>(_ decode: () throws -> T) -> String {
        do { return "value " + encoded(try decode()) } catch { return "error " + JSONTapeDecoderTests.describe(error) }
    }

    /// The direct path and the tree path agree on `bytes`, and with `thorough` also the
    /// type's synthesized init at the root over the tape, and `==` on the values. Returns
    /// whether they did (an issue names the input).
    @discardableResult
    static func agree<T: JSONTapeDecodable & Codable & Equatable>(_ type: T.Type, _ bytes: [UInt8], thorough: Bool = true) -> Bool {
        let direct = outcome { try JSONValue.decode(T.self, fromJSON: bytes) }
        let tree = outcome { try JSONValue.parse(bytes).decode(T.self) }
        let synthesized = !thorough ? direct : outcome {
            try bytes.withUnsafeBufferPointer { buffer in
                let tape = try JSONTape.build(buffer, omitting: nil)
                return try tape.withUnsafeBufferPointer { entries in
                    let document = JSONTapeDocument(bytes: buffer, entries: entries)
                    return try withExtendedLifetime(document) { try T(from: JSONTapeDecoder(document, 0)) }
                }
            }
        }
        var same = direct == tree && direct == synthesized
        if same, thorough, let a = try? JSONValue.decode(T.self, fromJSON: bytes), let b = try? JSONValue.parse(bytes).decode(T.self) { same = a == b }
        if !same {
            Issue.record("direct: \(direct.prefix(300))\ntree:   \(tree.prefix(300))\nsynthesized: \(synthesized.prefix(300))\ninput: \(String(decoding: bytes.prefix(400), as: UTF8.self))")
        }
        return same
    }

    enum Step { case key(String), index(Int) }

    /// Every object in `value` with its path.
    static func objects(in value: JSONValue, at path: [Step] = [], into result: inout [([Step], [String: JSONValue])]) {
        switch value {
        case .object(let members):
            result.append((path, members))
            for (k, v) in members { objects(in: v, at: path + [.key(k)], into: &result) }
        case .array(let elements):
            for (i, v) in elements.enumerated() { objects(in: v, at: path + [.index(i)], into: &result) }
        default: break
        }
    }

    /// `value` with the value at `path` replaced by `replacement`.
    static func replacing(_ value: JSONValue, at path: ArraySlice<Step>, with replacement: JSONValue) -> JSONValue {
        guard let step = path.first else { return replacement }
        switch (step, value) {
        case (.key(let k), .object(var members)):
            members[k] = replacing(members[k] ?? .null, at: path.dropFirst(), with: replacement)
            return .object(members)
        case (.index(let i), .array(var elements)):
            elements[i] = replacing(elements[i], at: path.dropFirst(), with: replacement)
            return .array(elements)
        default: return value
        }
    }

    /// A value of another kind than `value`.
    static func otherKind(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string: .number(7)
        case .number: .string("x")
        case .bool: .array([])
        case .array: .object(["a": .number(1)])
        case .object: .array([.number(1)])
        case .null: .bool(true)
        }
    }

    /// The inputs made from `text`: the text itself; for each object in it, each member
    /// removed, null and of another kind, the object empty, an array, with an unknown member,
    /// with a member repeated after a different value, and under an escaped key.
    /// Objects under the member paths in `skipping` (checked on their own) are left as they are.
    static func variants(of text: String, skipping: [[String]] = []) throws -> [[UInt8]] {
        let root = try JSONValue.parse(Array(text.utf8))
        var found: [([Step], [String: JSONValue])] = []
        objects(in: root, into: &found)
        var result: [[UInt8]] = []
        func with(_ path: [Step], _ object: JSONValue) { result.append(replacing(root, at: path[...], with: object).serialized()) }
        func keys(_ path: [Step]) -> [String] { path.compactMap { if case .key(let k) = $0 { k } else { nil } } }
        for (path, members) in found where !skipping.contains(where: { keys(path).starts(with: $0) }) {
            for (key, value) in members {
                var removed = members
                removed[key] = nil
                with(path, .object(removed))
                var changed = members
                changed[key] = .null
                with(path, .object(changed))
                changed[key] = otherKind(value)
                with(path, .object(changed))
            }
            with(path, .object([:]))
            with(path, .array([]))
            var unknown = members
            unknown["zzUnknown"] = .object(["deep": .array([.null, .object([:])])])
            with(path, .object(unknown))
            // Repeated and escaped keys cannot be written through JSONValue: edit the text
            // of this object (serialized with sorted keys) where it sits in the document.
            guard let first = members.keys.sorted().first else { continue }
            let marker = "zzMarker"
            let marked = replacing(root, at: path[...], with: .string(marker)).serialized()
            let objectText = String(decoding: JSONValue.object(members).serialized(), as: UTF8.self)
            let repeated = "{\"\(first)\":\(String(decoding: otherKind(members[first]!).serialized(), as: UTF8.self)),\(objectText.dropFirst())"
            let escapedKey = first.unicodeScalars.first!.value < 0x80
                ? "{\"\\u00\(String(format: "%02x", first.unicodeScalars.first!.value))\(first.dropFirst())\"" + objectText.dropFirst(first.utf8.count + 3)
                : objectText
            for edited in [repeated, escapedKey] {
                result.append(Array(String(decoding: marked, as: UTF8.self).replacingOccurrences(of: "\"\(marker)\"", with: edited).utf8))
            }
        }
        return result
    }

    /// `text` and its variants decode the same both ways as a `T` (at most 5 differences
    /// are reported); so do roots that are not objects.
    static func check<T: JSONTapeDecodable & Codable & Equatable>(_ type: T.Type, _ text: String, skipping: [[String]] = []) throws {
        agree(T.self, Array(text.utf8))
        var failures = 0
        for bytes in try variants(of: text, skipping: skipping) where !agree(T.self, bytes, thorough: false) {
            failures += 1
            if failures >= 5 { break }
        }
        for root in ["[]", "null", "\"s\"", "5", "{}"] { agree(T.self, Array(root.utf8)) }
    }

    /// The member of `text` at `path` (keys, and 0 for an array's first element), as JSON.
    static func part(_ text: String, _ path: [String]) throws -> String {
        var value = try JSONValue.parse(Array(text.utf8))
        for step in path {
            switch value {
            case .object(let members): value = try #require(members[step])
            case .array(let elements): value = try #require(elements.first)
            default: Issue.record("no \(path) in the sample")
            }
        }
        return String(decoding: value.serialized(), as: UTF8.self)
    }

    /// The full Pod in parts, each checked as its own type (the variants of a 15 kB document
    /// decoded whole took half a minute in a debug build); the Pod itself is checked whole,
    /// with its own members varied.
    @Test func fullPod() throws {
        let text = Self.fullPod
        try Self.check(Pod.self, text, skipping: [["metadata"], ["spec"], ["status"]])
        try Self.check(ObjectMeta.self, Self.part(text, ["metadata"]))
        try Self.check(PodSpec.self, Self.part(text, ["spec"]), skipping: [["containers"], ["initContainers"], ["volumes"], ["affinity"], ["topologySpreadConstraints"]])
        try Self.check(Container.self, Self.part(text, ["spec", "containers", "0"]))
        try Self.check(Volume.self, Self.part(text, ["spec", "volumes", "0"]))
        try Self.check(Affinity.self, Self.part(text, ["spec", "affinity"]))
        try Self.check(TopologySpreadConstraint.self, Self.part(text, ["spec", "topologySpreadConstraints", "0"]))
        try Self.check(PodStatus.self, Self.part(text, ["status"]))
    }
    @Test func fullNode() throws { try Self.check(Node.self, Self.fullNode) }
    @Test func fullLease() throws { try Self.check(Lease.self, Self.fullLease) }
    @Test func fixtures() throws {
        try Self.check(Pod.self, JSONTapeDecoderTests.pod)
        try Self.check(Node.self, JSONTapeDecoderTests.node)
        try Self.check(Lease.self, JSONTapeDecoderTests.lease)
    }

    /// The full Pod decodes to what Foundation's JSONDecoder gives (synthesized inits only),
    /// with every optional member set: a property the direct decoders forgot would be nil.
    @Test func fullPodHasEveryMember() throws {
        let bytes = Array(Self.fullPod.utf8)
        let direct = try JSONValue.decode(Pod.self, fromJSON: bytes)
        #expect(direct == (try JSONDecoder().decode(Pod.self, from: Data(bytes))))
        let reencoded = try JSONValue.parse(Array(Self.encoded(direct).utf8))
        #expect(reencoded == (try JSONValue.parse(bytes)))
    }
}

/// The tape builder's string scan against the parser: a quote, backslash, escape, control
/// byte or non-ASCII (valid or not) byte at any position of strings of every length up to 40
/// bytes, at three offsets, reads as the parser reads it (the same value or error).
@Suite struct JSONTapeStringScanTests {
    static let specials: [[UInt8]] = [
        Array(#"\""#.utf8), Array(#"\\"#.utf8), Array(#"\n"#.utf8), Array(#"\u00e9"#.utf8), [0x01], [0x1F], [0x7F],
        Array("é".utf8), Array("😀".utf8), [0xFF], [0xC3], Array("\"".utf8),
    ]

    @Test func everyPositionReadsAsTheParserReads() {
        var checked = 0
        for lead in 0..<3 {
            for length in 1...40 {
                for position in 0..<length {
                    for special in Self.specials {
                        var text = Array(repeating: UInt8(ascii: " "), count: lead) + [UInt8(ascii: "[")] + Array("\"".utf8)
                        text += Array(repeating: UInt8(ascii: "a"), count: position) + special + Array(repeating: UInt8(ascii: "b"), count: length - position - 1)
                        text += Array("\",\"x\"]".utf8)
                        var parsed: Result<JSONValue, JSONParseError>
                        do { parsed = .success(try JSONValue.parse(text)) } catch { parsed = .failure(error) }
                        var taped: Result<JSONValue, JSONParseError>
                        do { taped = .success(try JSONValue.decode(JSONValue.self, fromJSON: text)) } catch let error as JSONParseError {
                            taped = .failure(error)
                        } catch {
                            Issue.record("not a JSONParseError: \(error)")
                            continue
                        }
                        if parsed != taped {
                            Issue.record("\(String(decoding: text, as: UTF8.self)): parser \(parsed), tape \(taped)")
                        }
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == 3 * (40 * 41 / 2) * Self.specials.count)
    }
}

import Foundation
import KubeAPI
import KubeClient

/// Where controllers read the time: lease ages, minReadySeconds, toleration deadlines,
/// condition timestamps. Injected so unit tests step a manual clock and never sleep.
/// Implementations are thread-safe.
public protocol ControllerClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct WallClock: ControllerClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// The one error type of this module: what failed (`operation`, naming the object), why
/// (`message`), and the client error underneath when there was one.
public struct ControllerError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var message: String
    public var cause: KubeClientError?

    public init(_ operation: String, _ message: String, cause: KubeClientError? = nil) {
        self.operation = operation
        self.message = message
        self.cause = cause
    }

    public var description: String {
        cause.map { "\(operation): \(message): \($0)" } ?? "\(operation): \(message)"
    }
}

extension Date {
    /// RFC 3339 in UTC with second precision: how `metav1.Time` is serialized.
    public var kubeTimestamp: String { KubeTime.time(self) }

    /// Parses `metav1.Time` and `metav1.MicroTime` (RFC 3339, with any number of fractional
    /// digits). The fraction is read by hand: formatters disagree on more than three digits.
    public init?(kubeTimestamp text: String) {
        var whole = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            let digitsEnd = text[dot...].dropFirst().firstIndex { !$0.isNumber } ?? text.endIndex
            guard let f = Double("0" + text[dot..<digitsEnd]) else { return nil }
            fraction = f
            whole = String(text[..<dot]) + String(text[digitsEnd...])
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let d = formatter.date(from: whole) else { return nil }
        self = d.addingTimeInterval(fraction)
    }
}

/// Pod facts the workload controllers share, with upstream's definitions.
public enum PodFacts {
    /// Running or pending and not being deleted: counts toward a controller's replicas
    /// (upstream's `IsPodActive`).
    public static func isActive(_ pod: Pod) -> Bool {
        let phase = pod.status?.phase
        return phase != "Succeeded" && phase != "Failed" && pod.metadata.deletionTimestamp == nil
    }

    /// The `Ready` condition is `True`.
    public static func isReady(_ pod: Pod) -> Bool {
        pod.status?.conditions?.first { $0.type == "Ready" }?.status == "True"
    }

    /// Ready for at least `minReadySeconds` at `now` (upstream's `IsPodAvailable`).
    public static func isAvailable(_ pod: Pod, minReadySeconds: Int32, now: Date) -> Bool {
        guard let ready = pod.status?.conditions?.first(where: { $0.type == "Ready" }), ready.status == "True" else { return false }
        if minReadySeconds <= 0 { return true }
        guard let since = ready.lastTransitionTime.flatMap(Date.init(kubeTimestamp:)) else { return false }
        return now.timeIntervalSince(since) >= Double(minReadySeconds)
    }

    /// The owner reference with `controller: true`, if any.
    public static func controllerRef(_ meta: ObjectMeta) -> OwnerReference? {
        meta.ownerReferences?.first { $0.controller == true }
    }
}

extension IntOrString {
    /// Resolves an absolute number or a percentage of `total` (upstream's
    /// `GetScaledValueFromIntOrPercent`): percentages round up or down as asked.
    public func scaled(total: Int32, roundUp: Bool, field: String) throws(ControllerError) -> Int32 {
        switch self {
        case .int(let i): return i
        case .string(let s):
            guard s.hasSuffix("%"), let percent = Int64(s.dropLast()), percent >= 0 else {
                throw ControllerError("resolve \(field)", "invalid value \"\(s)\": must be an integer or a percentage")
            }
            let product = percent * Int64(total)
            return Int32(roundUp ? (product + 99) / 100 : product / 100)
        }
    }
}

/// Building objects and patches the controllers write.
enum Build {
    /// An owner reference that makes `owner` the controller of a dependent, blocking the
    /// owner's foreground deletion until the dependent is gone (as upstream's controllers set).
    static func controllerRef(apiVersion: String, kind: String, meta: ObjectMeta) -> OwnerReference {
        OwnerReference(apiVersion: apiVersion, kind: kind, name: meta.name ?? "", uid: meta.uid ?? "", controller: true, blockOwnerDeletion: true)
    }

    /// A pod from a template: its labels, annotations and spec, a generated name under
    /// `generateName`, and the controller reference.
    static func pod(from template: PodTemplateSpec?, namespace: String, generateName: String?, name: String? = nil, owner: OwnerReference) -> Pod {
        var meta = ObjectMeta(name: name, namespace: namespace, labels: template?.metadata?.labels, annotations: template?.metadata?.annotations)
        meta.generateName = name == nil ? generateName : nil
        meta.finalizers = template?.metadata?.finalizers
        meta.ownerReferences = [owner]
        return Pod(metadata: meta, spec: template?.spec ?? PodSpec(containers: []))
    }

    /// A merge patch body `{"status": <status>}` for a status subresource.
    static func statusPatch<S: Encodable>(_ status: S, operation: String) throws(ControllerError) -> JSONValue {
        do { return .object(["status": try JSONValue.encode(status)]) } catch {
            throw ControllerError(operation, "cannot encode status: \(error)")
        }
    }
}

extension KubeClientError {
    /// The object is gone or already exists: the desired effect holds, nothing to retry.
    var isSettled: Bool { isNotFound || isAlreadyExists }
}

/// `controllerRef.controller == true && uid` match.
func isControlled(_ meta: ObjectMeta, by uid: String?) -> Bool {
    guard let uid, let ref = PodFacts.controllerRef(meta) else { return false }
    return ref.uid == uid
}

/// Splits `namespace/name` (or `name`) into its parts.
func splitKey(_ key: String) -> (namespace: String?, name: String) {
    guard let slash = key.firstIndex(of: "/") else { return (nil, key) }
    return (String(key[..<slash]), String(key[key.index(after: slash)...]))
}

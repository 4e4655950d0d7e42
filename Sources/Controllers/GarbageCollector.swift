import Foundation
import KubeAPI
import KubeClient
import Logging

/// One kind the garbage collector and the namespace controller handle, with its typed calls
/// erased: they only read metadata and write metadata patches and deletes.
public struct ManagedKind: Sendable {
    public let apiVersion: String
    public let kind: String
    public let namespaced: Bool
    let list: @Sendable (any KubeAPIClient, String?) async throws(KubeClientError) -> [ObjectMeta]
    let delete: @Sendable (any KubeAPIClient, String?, String, DeleteOptions) async throws(KubeClientError) -> Void
    let patch: @Sendable (any KubeAPIClient, String?, String, JSONValue) async throws(KubeClientError) -> Void

    public static func of<T: KubeObject>(_ type: T.Type, namespaced: Bool = true) -> ManagedKind {
        ManagedKind(apiVersion: T.apiVersion, kind: T.kind, namespaced: namespaced,
                    list: { client, ns throws(KubeClientError) in try await client.list(T.self, namespace: ns).items.map(\.metadata) },
                    delete: { client, ns, name, options throws(KubeClientError) in try await client.delete(T.self, namespace: ns, name: name, options: options) },
                    patch: { client, ns, name, body throws(KubeClientError) in _ = try await client.mergePatch(T.self, namespace: ns, name: name, body) })
    }

    /// The built-in kinds whose objects carry owner references or live in namespaces.
    public static let builtin: [ManagedKind] = [
        .of(Pod.self), .of(ReplicaSet.self), .of(Deployment.self), .of(DaemonSet.self), .of(StatefulSet.self),
        .of(ControllerRevision.self), .of(Job.self), .of(Service.self), .of(EndpointSlice.self), .of(Endpoints.self),
        .of(ConfigMap.self), .of(Secret.self), .of(ServiceAccount.self), .of(Event.self), .of(Lease.self),
        .of(PodDisruptionBudget.self), .of(Node.self, namespaced: false), .of(Namespace.self, namespaced: false),
    ]
}

/// What the garbage collector decided for one object.
public enum GCAction: Equatable, Sendable {
    /// Delete the dependent, with this propagation policy (nil: the server's default).
    case delete(propagation: String?)
    /// Drop the owner references with these uids (owners gone or orphaning the object).
    case removeOwners(Set<String>)
    /// Remove this finalizer from an owner whose deletion is complete.
    case removeFinalizer(String)
}

/// The garbage collector's decisions as pure functions over the objects' metadata.
public enum GarbageCollectorLogic {
    public static let foregroundFinalizer = "foregroundDeletion"
    public static let orphanFinalizer = "orphan"

    /// One object as the collector sees it.
    public struct Item: Hashable, Sendable {
        public var kind: String
        public var meta: ObjectMeta
        public init(kind: String, meta: ObjectMeta) {
            self.kind = kind
            self.meta = meta
        }
        var uid: String { meta.uid ?? "" }
    }

    /// Decides for every object, given all objects of the kinds that could own them.
    /// `knownKinds` are the kinds listed: a reference to another kind is never judged dangling.
    ///
    /// As upstream: a dependent whose owners are all gone is deleted (in the foreground when
    /// an owner it waited for was being deleted in the foreground); references to owners
    /// that are gone are dropped while another owner still holds it; an owner being deleted
    /// with `orphan` has its references removed from its dependents, then the finalizer; an
    /// owner with `foregroundDeletion` has its dependents deleted (themselves in the
    /// foreground when they have dependents), and loses the finalizer once no dependent with
    /// `blockOwnerDeletion` remains.
    public static func decide(_ items: [Item], knownKinds: Set<String>) -> [(Item, GCAction)] {
        var byUID: [String: Item] = [:]
        for item in items where !item.uid.isEmpty { byUID[item.uid] = item }
        var dependents: [String: [Item]] = [:]
        for item in items {
            for ref in item.meta.ownerReferences ?? [] { dependents[ref.uid, default: []].append(item) }
        }
        var actions: [(Item, GCAction)] = []
        for item in items {
            let finalizers = item.meta.finalizers ?? []
            if item.meta.deletionTimestamp != nil {
                let mine = dependents[item.uid] ?? []
                if finalizers.contains(orphanFinalizer) {
                    if mine.isEmpty { actions.append((item, .removeFinalizer(orphanFinalizer))) } else {
                        for d in mine { actions.append((d, .removeOwners([item.uid]))) }
                    }
                    continue
                }
                if finalizers.contains(foregroundFinalizer) {
                    let blocking = mine.filter { d in (d.meta.ownerReferences ?? []).contains { $0.uid == item.uid && $0.blockOwnerDeletion == true } }
                    if blocking.isEmpty { actions.append((item, .removeFinalizer(foregroundFinalizer))) }
                    for d in mine where d.meta.deletionTimestamp == nil {
                        let others = (d.meta.ownerReferences ?? []).filter { $0.uid != item.uid }
                        let otherAlive = others.contains { ref in
                            guard let owner = byUID[ref.uid] else { return !knownKinds.contains(ref.kind) }
                            return owner.meta.deletionTimestamp == nil
                        }
                        // Upstream deletes a dependent in the foreground only when it has
                        // dependents of its own; otherwise in the background.
                        let propagation = (dependents[d.uid] ?? []).isEmpty ? "Background" : "Foreground"
                        actions.append((d, otherAlive ? .removeOwners([item.uid]) : .delete(propagation: propagation)))
                    }
                    continue
                }
            }
            let refs = item.meta.ownerReferences ?? []
            guard !refs.isEmpty, item.meta.deletionTimestamp == nil else { continue }
            var solid: [OwnerReference] = [], dangling: [OwnerReference] = [], waiting: [OwnerReference] = []
            for ref in refs {
                guard knownKinds.contains(ref.kind) else { solid.append(ref); continue }
                guard let owner = byUID[ref.uid], owner.kind == ref.kind else { dangling.append(ref); continue }
                if owner.meta.deletionTimestamp != nil, (owner.meta.finalizers ?? []).contains(foregroundFinalizer) { waiting.append(ref) } else { solid.append(ref) }
            }
            if !solid.isEmpty {
                // Waiting owners are handled above (they delete or release this dependent).
                if !dangling.isEmpty { actions.append((item, .removeOwners(Set(dangling.map(\.uid))))) }
                continue
            }
            if !waiting.isEmpty { continue }
            actions.append((item, .delete(propagation: "Background")))
        }
        return actions
    }
}

/// Deletes objects whose owners are gone (background deletion), completes foreground
/// deletion (dependents first, then the owner's `foregroundDeletion` finalizer) and orphan
/// deletion (owner references removed, then the `orphan` finalizer).
///
/// `sync()` is one full pass over every kind in `kinds`: it lists them, decides with
/// ``GarbageCollectorLogic``, and acts. Idempotent; objects that vanish meanwhile are skipped.
public struct GarbageCollector: Sendable {
    let client: any KubeAPIClient
    let kinds: [ManagedKind]
    let logger: Logger

    public init(client: any KubeAPIClient, kinds: [ManagedKind] = ManagedKind.builtin, logger: Logger = Logger(label: "nodekit.gc")) {
        self.client = client
        self.kinds = kinds
        self.logger = logger
    }

    /// Returns how many actions were taken.
    @discardableResult
    public func sync() async throws(ControllerError) -> Int {
        var items: [GarbageCollectorLogic.Item] = []
        var byKind: [String: ManagedKind] = [:]
        for k in kinds {
            do {
                items += try await k.list(client, nil).map { GarbageCollectorLogic.Item(kind: k.kind, meta: $0) }
                byKind[k.kind] = k
            } catch where error.isNotFound {
                // A list answered 404 means the server does not serve the kind (as upstream, the
                // collector works on what discovery offers); it stays out of knownKinds, so
                // references to it are never judged dangling.
                continue
            } catch {
                throw ControllerError("garbage collection: list \(k.kind)", "list failed", cause: error)
            }
        }
        let actions = GarbageCollectorLogic.decide(items, knownKinds: Set(byKind.keys))
        var done = 0
        for (item, action) in actions {
            guard let k = byKind[item.kind], let name = item.meta.name else { continue }
            let ns = k.namespaced ? item.meta.namespace : nil
            do {
                switch action {
                case .delete(let propagation):
                    try await k.delete(client, ns, name, DeleteOptions(preconditions: Preconditions(uid: item.meta.uid), propagationPolicy: propagation))
                    logger.debug("deleted dependent", metadata: ["kind": "\(item.kind)", "object": "\(ns ?? "")/\(name)"])
                case .removeOwners(let uids):
                    let refs = (item.meta.ownerReferences ?? []).filter { !uids.contains($0.uid) }
                    let body: JSONValue = .object(["metadata": .object([
                        "ownerReferences": refs.isEmpty ? .null : ((try? JSONValue.encode(refs)) ?? .null),
                        "resourceVersion": item.meta.resourceVersion.map(JSONValue.string) ?? .null,
                    ])])
                    try await k.patch(client, ns, name, body)
                case .removeFinalizer(let finalizer):
                    let rest = (item.meta.finalizers ?? []).filter { $0 != finalizer }
                    let body: JSONValue = .object(["metadata": .object([
                        "finalizers": rest.isEmpty ? .null : .array(rest.map(JSONValue.string)),
                        "resourceVersion": item.meta.resourceVersion.map(JSONValue.string) ?? .null,
                    ])])
                    try await k.patch(client, ns, name, body)
                }
                done += 1
            } catch {
                // Gone or changed since the list: the next pass sees the new state.
                if error.isNotFound || error.isConflict { continue }
                throw ControllerError("garbage collection: \(action) on \(item.kind) \(ns ?? "")/\(name)", "write failed", cause: error)
            }
        }
        return done
    }
}

/// Empties a namespace being deleted (every object of every managed namespaced kind), then
/// removes the `kubernetes` finalizer through `namespaces/{name}/finalize` so the API server
/// can remove the namespace.
public struct NamespaceController: Sendable {
    public static let finalizer = "kubernetes"
    let client: any KubeAPIClient
    let kinds: [ManagedKind]
    let logger: Logger

    public init(client: any KubeAPIClient, kinds: [ManagedKind] = ManagedKind.builtin, logger: Logger = Logger(label: "nodekit.namespace")) {
        self.client = client
        self.kinds = kinds.filter(\.namespaced)
        self.logger = logger
    }

    /// Reconciles namespace `key`. Returns true when the namespace is finalized (or gone or
    /// not terminating), false when objects remain (sync again later: pods may take their
    /// grace period to go).
    @discardableResult
    public func sync(key: String) async throws(ControllerError) -> Bool {
        var ns: Namespace
        do { ns = try await client.get(Namespace.self, namespace: nil, name: key) } catch {
            if error.isNotFound { return true }
            throw ControllerError("get Namespace \(key)", "read failed", cause: error)
        }
        guard ns.metadata.deletionTimestamp != nil else { return true }
        var remaining = 0
        for k in kinds {
            let objects: [ObjectMeta]
            do { objects = try await k.list(client, key) } catch where error.isNotFound {
                continue  // a kind the server does not serve holds nothing
            } catch {
                throw ControllerError("empty Namespace \(key): list \(k.kind)", "list failed", cause: error)
            }
            for meta in objects {
                remaining += 1
                guard meta.deletionTimestamp == nil, let name = meta.name else { continue }
                do { try await k.delete(client, key, name, DeleteOptions(propagationPolicy: "Background")) } catch {
                    if !error.isNotFound { throw ControllerError("empty Namespace \(key): delete \(k.kind) \(name)", "delete failed", cause: error) }
                }
            }
        }
        if remaining > 0 {
            // Deletes just issued may have removed everything; a re-check decides.
            for k in kinds {
                if let left = try? await k.list(client, key), !left.isEmpty { return false }
            }
        }
        guard (ns.spec?.finalizers ?? []).contains(Self.finalizer) else { return true }
        ns.spec?.finalizers?.removeAll { $0 == Self.finalizer }
        do { _ = try await client.update(ns, subresource: "finalize", options: WriteOptions()) } catch {
            if error.isNotFound { return true }
            throw ControllerError("finalize Namespace \(key)", "update of namespaces/\(key)/finalize failed", cause: error)
        }
        logger.info("namespace emptied and finalized", metadata: ["namespace": "\(key)"])
        return true
    }
}

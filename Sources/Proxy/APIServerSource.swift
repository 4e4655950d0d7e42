import KubeAPI
import KubeClient
import Logging

/// Feeds a ``Proxier`` from an API server: Services and EndpointSlices by list+watch through
/// two informers, into the same `Proxier.update` calls ``ConfigDirectorySource``
/// makes (one input path into the change trackers).
///
/// As upstream's kube-proxy, both informers leave out objects labelled
/// `service.kubernetes.io/service-proxy-name` (another proxy serves them) and
/// `service.kubernetes.io/headless` (no virtual IP to program).
///
/// ``run()`` runs the informers, and the proxier's sync loop once both have listed, so the
/// first sync programs the whole cluster rather than a partial list. Thread-safe.
public final class APIServerSource: Sendable {
    /// Upstream's selector for kube-proxy's informers.
    public static let labelSelector = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"

    public let services: Informer<Service>
    public let endpointSlices: Informer<EndpointSlice>
    private let proxier: Proxier

    /// Registers the proxier as the informers' handler; nothing is listed until ``run()`` (or
    /// the informers' single steps, in tests).
    public init(client: any KubeAPIClient, proxier: Proxier, logger: Logger = Logger(label: "nodekit.proxy")) {
        self.proxier = proxier
        services = Informer<Service>(client: client, labelSelector: Self.labelSelector, logger: logger)
        endpointSlices = Informer<EndpointSlice>(client: client, labelSelector: Self.labelSelector, logger: logger)
        services.addHandler(InformerHandler(onAdd: { proxier.update($0) },
                                            onUpdate: { _, s in proxier.update(s) },
                                            onDelete: { proxier.delete(serviceKey: $0.key) }))
        endpointSlices.addHandler(InformerHandler(onAdd: { proxier.update($0) },
                                                  onUpdate: { _, s in proxier.update(s) },
                                                  onDelete: { proxier.update($0, deleted: true) }))
    }

    /// True once both informers have applied their first list.
    public var hasSynced: Bool { services.hasSynced && endpointSlices.hasSynced }

    /// Returns once both informers have listed (or the task is cancelled).
    public func waitForSync() async {
        await services.waitForSync()
        await endpointSlices.waitForSync()
    }

    /// Runs both informers and, with `syncing` (the default), the proxier's sync loop after the
    /// first lists, until the task is cancelled.
    public func run(syncing: Bool = true) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.services.run() }
            group.addTask { await self.endpointSlices.run() }
            if syncing {
                group.addTask {
                    await self.waitForSync()
                    if !Task.isCancelled { await self.proxier.run() }
                }
            }
            await group.waitForAll()
        }
    }
}

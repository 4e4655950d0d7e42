import Foundation
import KubeAPI
import KubeClient
import Logging

/// Leader election through a coordination.k8s.io Lease, as upstream's leaderelection
/// package: the holder renews `renewTime` every `retryPeriod`; another candidate takes the
/// Lease only after `leaseDuration` without renewal; a leader that cannot renew within
/// `renewDeadline` stops leading.
public struct LeaderElector: Sendable {
    public var leaseNamespace = "kube-system"
    public var leaseName: String
    public var identity: String
    public var leaseDuration: Duration = .seconds(15)
    public var renewDeadline: Duration = .seconds(10)
    public var retryPeriod: Duration = .seconds(2)
    let client: any KubeAPIClient
    let clock: any ControllerClock
    let logger: Logger

    public init(client: any KubeAPIClient, leaseName: String, identity: String, clock: any ControllerClock = WallClock(), logger: Logger = Logger(label: "nodekit.leader")) {
        self.client = client
        self.leaseName = leaseName
        self.identity = identity
        self.clock = clock
        self.logger = logger
    }

    /// `metav1.MicroTime`: RFC 3339 with microseconds, UTC.
    static func microTime(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        // Foundation prints milliseconds; the API's MicroTime has six digits.
        let text = formatter.string(from: date)
        return text.replacingOccurrences(of: "Z", with: "000Z")
    }

    /// One attempt: creates the Lease, renews it if held by us, or takes it over if its holder
    /// let it expire. Returns whether we hold it now. Conflicts (another candidate won the
    /// race) and transport failures count as not holding it.
    public func tryAcquireOrRenew() async -> Bool {
        let now = clock.now()
        let seconds = Int32(leaseDuration.components.seconds)
        var lease: Lease
        do { lease = try await client.get(Lease.self, namespace: leaseNamespace, name: leaseName) } catch {
            guard error.isNotFound else { return false }
            let spec = LeaseSpec(holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: Self.microTime(now), renewTime: Self.microTime(now), leaseTransitions: 0)
            do {
                _ = try await client.create(Lease(metadata: ObjectMeta(name: leaseName, namespace: leaseNamespace), spec: spec))
                logger.info("acquired lease", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "identity": "\(identity)"])
                return true
            } catch { return false }
        }
        var spec = lease.spec ?? LeaseSpec()
        let holder = spec.holderIdentity ?? ""
        if holder != identity, !holder.isEmpty {
            let renewed = spec.renewTime.flatMap(Date.init(kubeTimestamp:)) ?? .distantPast
            let duration = Double(spec.leaseDurationSeconds ?? seconds)
            if now.timeIntervalSince(renewed) < duration { return false }
        }
        if holder != identity {
            spec.acquireTime = Self.microTime(now)
            spec.leaseTransitions = (spec.leaseTransitions ?? 0) + (holder.isEmpty ? 0 : 1)
        }
        spec.holderIdentity = identity
        spec.leaseDurationSeconds = seconds
        spec.renewTime = Self.microTime(now)
        lease.spec = spec
        do {
            // A full update carrying the resourceVersion read: two candidates cannot both win.
            _ = try await client.update(lease)
            if holder != identity { logger.info("took over lease", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "from": "\(holder)", "identity": "\(identity)"]) }
            return true
        } catch {
            return false
        }
    }

    /// Campaigns until it holds the Lease, runs `lead` while it keeps renewing, and cancels
    /// `lead` when renewal fails for longer than `renewDeadline`; then campaigns again. Returns
    /// when the calling task is cancelled.
    public func run(lead: @escaping @Sendable () async -> Void) async {
        while !Task.isCancelled {
            guard await tryAcquireOrRenew() else {
                try? await Task.sleep(for: retryPeriod)
                continue
            }
            let work = Task { await lead() }
            var lastRenew = clock.now()
            let deadline = Double(renewDeadline.components.seconds)
            while !Task.isCancelled {
                try? await Task.sleep(for: retryPeriod)
                if await tryAcquireOrRenew() { lastRenew = clock.now(); continue }
                if clock.now().timeIntervalSince(lastRenew) > deadline {
                    logger.warning("lost lease; stopping controllers", metadata: ["lease": "\(leaseNamespace)/\(leaseName)", "identity": "\(identity)"])
                    break
                }
            }
            work.cancel()
            await work.value
        }
    }
}

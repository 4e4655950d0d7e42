/// A kernel backend that programs Service rules. Every backend (nftables, iptables) conforms,
/// so the proxier, tests and benchmarks drive them the same way.
///
/// Called from one thread at a time (the proxier serialises syncs).
public protocol ProxyBackend: AnyObject, Sendable {
    /// `nftables`, `iptables`, ...
    var mode: String { get }
    /// Programs `state`. A full sync rewrites everything this backend owns; a partial sync
    /// rewrites only the rules of the Service ports in `changed` (plus shared objects that
    /// refer to them). A failed sync leaves the kernel as it was (transactions are atomic);
    /// the caller's next sync is then full.
    func sync(_ state: ProxyState, changed: Set<ServicePortName>, kind: SyncKind) throws
    /// Removes everything this backend ever created. Idempotent.
    func cleanup() throws
    /// The rules last programmed, as text (for `nodectl proxy rules` and logs).
    func describeRules() -> String
}

import IPTables
import IPVS
import NFTables
import Netlink

/// The kernel interface a proxy programs Services through (`--proxy-mode`).
public enum ProxyMode: String, Sendable, Hashable, CaseIterable {
    case nftables, iptables, ipvs
}

/// A proxy configuration that cannot be turned into backends, with a one-line message naming
/// what is missing (e.g. "IPVS is not available in this kernel: ...").
public struct ProxyConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Builds the backends of one proxy mode, so `nodekit proxy` and `nodekit agent` program the
/// kernel the same way. Each call opens its own kernel handles (netlink sockets) in the
/// calling thread's network namespace.
public struct ProxyBackendFactory: Sendable {
    public var mode: ProxyMode
    /// iptables (and IPVS's masquerade rules): which iptables; nil picks what the host's
    /// `iptables` command uses.
    public var iptablesVariant: IPTablesVariant?
    /// CIDRs of the node addresses that accept NodePorts; empty: every local address but loopback.
    public var nodePortAddresses: [CIDR]
    public var clusterCIDR: CIDR?
    public var masqueradeAll: Bool
    /// IPVS only: the scheduler of every virtual server.
    public var ipvsScheduler: String
    /// nftables only: the table name (nodes sharing one network namespace need their own).
    public var nftablesTable: String

    public init(mode: ProxyMode, iptablesVariant: IPTablesVariant? = nil, nodePortAddresses: [CIDR] = [], clusterCIDR: CIDR? = nil,
                masqueradeAll: Bool = false, ipvsScheduler: String = "rr", nftablesTable: String = NFTablesProxier.defaultTableName) {
        self.mode = mode
        self.nftablesTable = nftablesTable
        self.iptablesVariant = iptablesVariant
        self.nodePortAddresses = nodePortAddresses
        self.clusterCIDR = clusterCIDR
        self.masqueradeAll = masqueradeAll
        self.ipvsScheduler = ipvsScheduler
    }

    /// One backend per address family. The two IPVS backends share one IPVS socket and
    /// kube-ipvs0; each full sync keeps to the virtual servers and addresses of its own family.
    ///
    /// Throws ``ProxyConfigError`` when the mode cannot work on this host (no IPVS in the kernel).
    public func makeBackends() throws(ProxyConfigError) -> [any ProxyBackend] {
        let nft = NFTablesProxier.Config(nodePortAddresses: nodePortAddresses, clusterCIDR: clusterCIDR, masqueradeAll: masqueradeAll)
        let variant = iptablesVariant ?? IPTablesVariant.detect()
        switch mode {
        case .nftables:
            // A kept socket: the proxy runs in one network namespace for its whole life.
            return Family.allCases.map { NFTablesProxier(family: $0, nft: NetlinkNFTables(keepingSocketOpen: true), tableName: nftablesTable, config: nft) }
        case .iptables:
            return Family.allCases.map { IPTablesProxier(family: $0, ipt: ExecIPTables(variant: variant, ipv6: $0 == .ip6), config: nft) }
        case .ipvs:
            let ipvs: NetlinkIPVS
            let device: NetlinkServiceAddressDevice
            do {
                ipvs = try NetlinkIPVS()
                device = try NetlinkServiceAddressDevice()
            } catch {
                throw ProxyConfigError(error.isUnavailable ? "IPVS is not available in this kernel: \(error); use --proxy-mode nftables or iptables"
                                                           : "cannot open IPVS: \(error)")
            }
            let nodeIPs: [NFTables.IPAddress]
            do { nodeIPs = try Self.localAddresses(excluding: [device.name]) } catch {
                throw ProxyConfigError("cannot list the node's addresses for NodePorts: \(error)")
            }
            let config = IPVSProxier.Config(scheduler: ipvsScheduler, nodeIPs: Self.nodePortIPs(nodeIPs, filter: nodePortAddresses),
                                            clusterCIDR: clusterCIDR, masqueradeAll: masqueradeAll)
            // The IPVS proxier's rules match ipsets (`-m set`), which the table writers do not
            // encode: its restores go to the tool, without a writer's try and fallback message.
            return Family.allCases.map {
                IPVSProxier(family: $0, ipvs: ipvs, device: device, iptables: ExecIPTables(variant: variant, ipv6: $0 == .ip6, writesTables: false),
                            ipset: ExecIPSet(), sysctl: ProcSysctlWriter(), config: config)
            }
        }
    }

    /// Deletes stale UDP conntrack entries in the calling thread's network namespace (see
    /// ``ConntrackCleaner``).
    public static func makeConntrackCleaner() throws(ProxyConfigError) -> ConntrackCleaner {
        do { return ConntrackCleaner(conntrack: try NetlinkConntrack()) } catch {
            throw ProxyConfigError("cannot open a conntrack netlink socket: \(error)")
        }
    }

    /// The addresses NodePorts are served on: those in `filter` (all but loopback when empty).
    public static func nodePortIPs(_ addresses: [NFTables.IPAddress], filter: [CIDR]) -> [NFTables.IPAddress] {
        let loopback = [CIDR("127.0.0.0/8")!, CIDR("::1/128")!]
        return addresses.filter { a in
            filter.isEmpty ? !loopback.contains { $0.contains(a) } : filter.contains { $0.contains(a) }
        }.sorted()
    }

    /// Every address of the calling thread's network namespace, except those on the named links.
    static func localAddresses(excluding links: Set<String>) throws(NetlinkError) -> [NFTables.IPAddress] {
        let route = RouteNetlink(socket: try MnlSocket())
        let skipped = Set(try route.links().filter { links.contains($0.name) }.map(\.index))
        return try route.addresses(family: nil).filter { !skipped.contains($0.index) }
            .map { NFTables.IPAddress(bytes: $0.prefix.address.bytes) }
    }
}

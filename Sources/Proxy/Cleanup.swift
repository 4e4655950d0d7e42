import IPTables
import IPVS
import NFTables

/// `nodekit proxy --cleanup`: removes what any proxy backend created in the calling thread's
/// network namespace, whichever process created it.
public enum ProxyCleanup {
    /// The iptables interfaces cleanup visits: both variants whose binaries exist, both families.
    public static func iptablesInterfaces() -> [any IPTablesInterface] {
        IPTablesVariant.allCases.flatMap { variant in
            [false, true].compactMap { ipv6 -> (any IPTablesInterface)? in
                ExecIPTables.locate(variant.binary(.restore, ipv6: ipv6)) == nil ? nil : ExecIPTables(variant: variant, ipv6: ipv6)
            }
        }
    }

    /// The IPVS backends' cleanup, one per family (virtual servers on kube-ipvs0, the link, the
    /// ipsets, the chains in the iptables the host's `iptables` command uses); none when the
    /// kernel has no IPVS.
    public static func ipvsBackends() -> [any ProxyBackend] {
        guard let ipvs = try? NetlinkIPVS(), let device = try? NetlinkServiceAddressDevice() else { return [] }
        let variant = IPTablesVariant.detect()
        return Family.allCases.map {
            IPVSProxier(family: $0, ipvs: ipvs, device: device, iptables: ExecIPTables(variant: variant, ipv6: $0 == .ip6),
                        ipset: ExecIPTables.locate("ipset").map { ExecIPSet(path: $0) }, sysctl: nil)
        }
    }

    /// Runs `others` first (e.g. ``ipvsBackends()``: IPVS mode's chains share names and jumps with
    /// the iptables backend's, which could not delete them while IPVS-mode rules refer to them),
    /// then deletes the nftables table of each family and the KUBE-* chains (and the jumps to
    /// them) in every given iptables. Keeps going after a failure; returns one message per
    /// failure (empty: everything is gone). Idempotent.
    public static func removeAll(nft: any NFTablesInterface = NetlinkNFTables(),
                                 iptables: [any IPTablesInterface] = iptablesInterfaces(),
                                 others: [any ProxyBackend] = []) -> [String] {
        var failures: [String] = []
        for backend in others {
            do { try backend.cleanup() } catch { failures.append("\(backend.mode): \(error)") }
        }
        for family in Family.allCases {
            do { try NFTablesProxier(family: family, nft: nft).cleanup() } catch { failures.append("nftables \(family.rawValue): \(error)") }
        }
        for ipt in iptables {
            let family: Family = (ipt as? ExecIPTables)?.ipv6 == true ? .ip6 : .ip
            do { try IPTablesProxier(family: family, ipt: ipt).cleanup() } catch { failures.append("iptables: \(error)") }
        }
        return failures
    }
}

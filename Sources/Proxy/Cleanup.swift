import IPTables
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

    /// Deletes the nftables table of each family, the KUBE-* chains (and the jumps to them) in
    /// every given iptables, then runs `others` (e.g. the IPVS backend's cleanup). Keeps going
    /// after a failure; returns one message per failure (empty: everything is gone). Idempotent.
    public static func removeAll(nft: any NFTablesInterface = NetlinkNFTables(),
                                 iptables: [any IPTablesInterface] = iptablesInterfaces(),
                                 others: [any ProxyBackend] = []) -> [String] {
        var failures: [String] = []
        for family in Family.allCases {
            do { try NFTablesProxier(family: family, nft: nft).cleanup() } catch { failures.append("nftables \(family.rawValue): \(error)") }
        }
        for ipt in iptables {
            let family: Family = (ipt as? ExecIPTables)?.ipv6 == true ? .ip6 : .ip
            do { try IPTablesProxier(family: family, ipt: ipt).cleanup() } catch { failures.append("iptables: \(error)") }
        }
        for backend in others {
            do { try backend.cleanup() } catch { failures.append("\(backend.mode): \(error)") }
        }
        return failures
    }
}

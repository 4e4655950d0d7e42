import NFTables
import Netlink

/// ipMasq through nftables (libnftnl, one atomic batch): table `ip nodekit-cni-<network>`,
/// chain `postrouting` (nat, srcnat priority) with one rule per pod CIDR,
/// `ip saddr POD ip daddr != CLUSTER masquerade`. Re-applying replaces the rules, so every
/// ADD may call it. IPv6 CIDRs are skipped (the NFTables module's matches are IPv4).
public struct NFTablesMasquerade: MasqueradeProgrammer {
    private let tables: any NFTablesInterface

    public init(tables: any NFTablesInterface = NetlinkNFTables()) {
        self.tables = tables
    }

    /// The transaction ``ensure(network:podCIDRs:clusterCIDRs:)`` applies.
    public static func transaction(network: String, podCIDRs: [IPPrefix], clusterCIDRs: [IPPrefix]) -> Transaction {
        var t = Transaction(family: .ip, table: tableName(network))
        t.add(.addTable)
        t.add(.addChain(Chain("postrouting", base: .init(type: .nat, hook: .postrouting, priority: 100))))
        t.add(.flushChain("postrouting"))
        for pod in podCIDRs where pod.address.isV4 {
            guard let source = CIDR(pod.network.description) else { continue }
            var exprs: [RuleExpr] = [.saddr(source)]
            for cluster in clusterCIDRs where cluster.address.isV4 {
                if let destination = CIDR(cluster.network.description) { exprs.append(.daddr(destination, negated: true)) }
            }
            exprs.append(.masquerade)
            t.add(.addRule(chain: "postrouting", Rule(exprs)))
        }
        return t
    }

    /// nftables table names allow letters, digits, '_' and '-'; other characters become '_'.
    static func tableName(_ network: String) -> String {
        "nodekit-cni-" + String(network.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(40))
    }

    public func ensure(network: String, podCIDRs: [IPPrefix], clusterCIDRs: [IPPrefix]) throws(CNIError) {
        do {
            try tables.apply(Self.transaction(network: network, podCIDRs: podCIDRs, clusterCIDRs: clusterCIDRs))
        } catch {
            throw CNIError(CNIError.kernelFailure, "program masquerade for network \(network)", details: error.description)
        }
    }
}

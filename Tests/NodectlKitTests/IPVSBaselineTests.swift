import Testing
import TestSupport
@testable import NodectlKit

/// The IPVS baseline replays the backend's own ipset text, so it creates the same sized sets
/// (like for like at 10k Services × 10 endpoints, where 100,000 KUBE-LOOP-BACK entries exceed
/// the default maxelem of 65,536).
@Suite("IPVS baseline ipsets")
struct IPVSBaselineTests {
    @Test("small workload: the sets as upstream creates them, no maxelem")
    func smallSets() throws {
        let script = try IPVSBaseline.script(ProxyWorkload(services: 2, endpoints: 2).state())
        #expect(script.contains("ipset restore -exist <<'NODEKIT_EOF'\ncreate KUBE-LOOP-BACK hash:ip,port,ip family inet\n"))
        #expect(!script.contains("maxelem"))
    }

    @Test("70,000 endpoints: KUBE-LOOP-BACK created with maxelem 131072 in the baseline's ipset restore, and all entries added")
    func largeSets() async throws {
        let script = try await offPool { try IPVSBaseline.script(ProxyWorkload(services: 7_000, endpoints: 10).state()) }
        #expect(script.contains("ipset restore -exist <<'NODEKIT_EOF'\ncreate KUBE-LOOP-BACK hash:ip,port,ip family inet maxelem 131072\n"))
        #expect(script.contains("create KUBE-CLUSTER-IP hash:ip,port family inet\n"), "7,000 ClusterIP entries fit the default")
        #expect(!script.contains("swap"), "from empty nothing needs replacing")
        let adds = try await offPool {
            var adds = 0
            script.enumerateLines { line, _ in if line.hasPrefix("add KUBE-LOOP-BACK ") { adds += 1 } }
            return adds
        }
        #expect(adds == 70_000)
    }
}

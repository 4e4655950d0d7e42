import Foundation
import LinuxSystem
import NodectlKit
import Testing
import TestSupport

/// `nodectl doctor`'s fact gathering on this host: facts the brief lists as verified here
/// (ENVIRONMENT.md) must come out as such. Reads only; changes nothing.
@Suite(.serialized) struct DoctorIntegrationTests {
    @Test(.enabled(if: Host.isRoot, "needs root for nft list tables and the sysctls"))
    func gathersThisHostsFacts() async throws {
        let facts = await DoctorFacts.gather(runtimeEndpoint: "unix:///nonexistent-\(Host.runSuffix).sock", cniConfigDirectory: "/nonexistent-\(Host.runSuffix)",
                                             cniBinDirectories: ["/usr/lib/cni"], timeout: .seconds(2))
        let checks = Doctor.evaluate(facts)
        #expect(checks.first { $0.name == "overlayfs" }?.status == .ok)
        #expect(checks.first { $0.name == "cgroups" }?.status == .ok)
        #expect(facts.cgroupMode == Cgroups().mode())
        if Host.which("nft") != nil { #expect(checks.first { $0.name == "nftables" }?.status == .ok) }
        // No containerd at a made-up socket and no CNI config in a made-up directory: both must fail, saying where.
        #expect(checks.first { $0.name == "containerd" }?.status == .fail)
        #expect(checks.first { $0.name == "containerd" }?.detail.contains("nonexistent-\(Host.runSuffix)") == true)
        #expect(checks.first { $0.name == "cni config" }?.status == .fail)
        #expect(facts.ipvsLoaded == FileManager.default.fileExists(atPath: "/proc/net/ip_vs"))
        #expect(facts.ipForward == (try Sysctl.read("net.ipv4.ip_forward")))
    }
}

import LinuxSystem
import NodectlKit
import Testing

/// A healthy node as this project's machines look (IPVS absent), changed per case.
private func facts(_ change: (inout DoctorFacts) -> Void = { _ in }) -> DoctorFacts {
    var f = DoctorFacts(
        nftList: .init(status: 0, stderr: ""), iptablesVersion: "iptables v1.8.9 (nf_tables)\n", iptablesLegacyVersion: "iptables v1.8.9 (legacy)\n",
        ipvsLoaded: false, ipvsModuleAvailable: false, cgroupMode: .hybrid, cgroupControllers: ["cpu", "cpuacct", "memory", "pids"],
        filesystems: "nodev\tsysfs\n\text4\nnodev\toverlay\n", criEndpoint: "unix:///run/nodekit/containerd/containerd.sock",
        criVersion: .success("containerd 1.6.20 (CRI v1)"), cniConfigDirectory: "/etc/cni/net.d", cniConfigFiles: ["10-nodekit.conflist"],
        cniPluginTypes: ["nodekit-cni", "portmap"], cniBinDirectories: ["/usr/lib/cni": ["portmap", "loopback"], "/opt/cni/bin": ["nodekit-cni"]],
        ipForward: "1", bridgeNFCallIPTables: "1")
    change(&f)
    return f
}

private func check(_ checks: [DoctorCheck], _ name: String) -> DoctorCheck? { checks.first { $0.name == name } }

@Suite struct DoctorTests {
    @Test func healthyNodeHasOnlyTheIPVSWarning() {
        let checks = Doctor.evaluate(facts())
        #expect(checks.filter { $0.status != .ok }.map(\.name) == ["ipvs"])
        #expect(check(checks, "ipvs")?.detail == "IPVS is not available in this kernel (no ip_vs module)")
        #expect(check(checks, "iptables")?.detail == "iptables-nft (iptables v1.8.9 (nf_tables)), iptables-legacy (iptables v1.8.9 (legacy))")
        #expect(check(checks, "cgroups")?.detail == "hybrid with cpu,cpuacct,memory,pids")
        #expect(check(checks, "containerd")?.detail.hasSuffix("containerd 1.6.20 (CRI v1)") == true)
    }

    @Test(arguments: [
        ("nftables", "modprobe nf_tables"),
        ("cgroups", "cgroup_enable=memory"),
        ("overlayfs", "modprobe overlay"),
        ("containerd", "hack/containerd.sh"),
        ("cni config", "10-nodekit.conflist"),
        ("cni plugins", "containernetworking-plugins"),
        ("net.ipv4.ip_forward", "sysctl -w net.ipv4.ip_forward=1"),
        ("net.bridge.bridge-nf-call-iptables", "modprobe br_netfilter"),
        ("iptables", "apt-get install iptables"),
    ])
    func eachBrokenFactFailsItsCheckWithAFix(name: String, fixFragment: String) {
        let broken = facts { f in
            switch name {
            case "nftables": f.nftList = .init(status: 1, stderr: "Error: Could not process rule: Operation not supported\n")
            case "cgroups": f.cgroupControllers = ["cpu", "cpuacct", "pids"]
            case "overlayfs": f.filesystems = "nodev\tsysfs\n"
            case "containerd": f.criVersion = .failure(DoctorError("socket /run/nodekit/containerd/containerd.sock does not exist"))
            case "cni config": f.cniConfigFiles = []
            case "cni plugins": f.cniBinDirectories = ["/usr/lib/cni": ["portmap"]]
            case "net.ipv4.ip_forward": f.ipForward = "0"
            case "net.bridge.bridge-nf-call-iptables": f.bridgeNFCallIPTables = nil
            default: f.iptablesVersion = nil; f.iptablesLegacyVersion = nil
            }
        }
        let checks = Doctor.evaluate(broken)
        #expect(check(checks, name)?.status == .fail)
        #expect(check(checks, name)?.fix.contains(fixFragment) == true)
        #expect(checks.filter { $0.status == .fail }.count == 1, "one broken fact fails one check")
    }

    @Test func ipvsLoadableOrLoaded() {
        #expect(check(Doctor.evaluate(facts { $0.ipvsModuleAvailable = true }), "ipvs")?.fix.hasPrefix("modprobe ip_vs") == true)
        #expect(check(Doctor.evaluate(facts { $0.ipvsLoaded = true }), "ipvs")?.status == .ok)
    }

    @Test func cgroupV2NeedsNoCpuacct() {
        let checks = Doctor.evaluate(facts { $0.cgroupMode = .v2; $0.cgroupControllers = ["cpu", "io", "memory", "pids"] })
        #expect(check(checks, "cgroups")?.status == .ok)
    }

    @Test func renderingIsOneLinePerCheck() {
        let text = Doctor.render(Doctor.evaluate(facts { $0.ipForward = "0" }))
        let lines = text.split(separator: "\n")
        #expect(lines.count == 10)
        #expect(lines.contains { $0.hasPrefix("FAIL net.ipv4.ip_forward") && $0.hasSuffix("is 0 (fix: sysctl -w net.ipv4.ip_forward=1)") })
        #expect(lines.contains { $0.hasPrefix("OK   nftables") })
    }
}

import CNI
import Foundation
import LinuxSystem
import Netlink
import Testing
import TestSupport

/// nodekit-cni against Debian's reference bridge + host-local on the same setup: the result
/// shapes agree, and ADD latency is printed side by side.
@Suite("nodekit-cni versus the reference bridge plugin", .serialized, .enabled(if: CNITestbed.skipReason == nil && FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge"), "\(CNITestbed.skipReason ?? "needs /usr/lib/cni/bridge (containernetworking-plugins)")"))
struct CNICompareTests {
    /// The structure of a result: which keys, counts, which interface is the sandbox one, which
    /// interface each IP points at, route destinations. Values like MACs and names differ.
    static func shape(_ result: CNIResult) -> String {
        let interfaces = result.interfaces.map { "iface(mac:\(!$0.mac.isEmpty),sandbox:\($0.sandbox != nil))" }
        let ips = result.ips.map { "ip(v\($0.address.address.isV4 ? 4 : 6)/\($0.address.length),gw:\($0.gateway?.description ?? "-"),if:\($0.interface ?? -1))" }
        let routes = result.routes.map { "route(\($0.dst))" }
        return (interfaces + ips + routes).joined(separator: " ")
    }

    @Test("result shapes agree; ADD latency side by side")
    func compare() throws {
        let bed = try CNITestbed("r", subnet: "10.93.0.0/24")
        defer { bed.tearDown() }
        let ours = try bed.conflist()
        let reference = try bed.referenceConflist()
        let rounds = 10
        var timings: [String: [Double]] = [:]
        var shapes: [String: String] = [:]
        var bridgeNames: [String: String] = [:]
        for (label, list) in [("nodekit-cni", ours), ("bridge+host-local", reference)] {
            for i in 0..<rounds {
                let pod = try bed.pod(label == "nodekit-cni" ? i : 100 + i)
                let rt = RuntimeConfig(containerID: "ctr-\(label.prefix(4))-\(i)", netns: pod.path)
                let start = ContinuousClock.now
                let result = try bed.runtime.add(list, rt)
                let elapsed = ContinuousClock.now - start
                timings[label, default: []].append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
                shapes[label] = Self.shape(result)
                bridgeNames[label] = result.interfaces.first?.name
                try bed.runtime.check(list, rt)
                try bed.runtime.delete(list, rt)
            }
        }
        #expect(shapes["nodekit-cni"] == shapes["bridge+host-local"], "shapes differ:\n ours: \(shapes["nodekit-cni"] ?? "")\n ref:  \(shapes["bridge+host-local"] ?? "")")
        #expect(bridgeNames["nodekit-cni"] == bridgeNames["bridge+host-local"])
        func stats(_ v: [Double]) -> String {
            let s = v.sorted()
            return String(format: "median %6.1f ms  min %6.1f ms  max %6.1f ms", s[s.count / 2], s.first!, s.last!)
        }
        print("CNI ADD latency (runtime → plugin → kernel, \(rounds) pods each, debug build):")
        for label in ["nodekit-cni", "bridge+host-local"] { print("  \(label.padding(toLength: 18, withPad: " ", startingAt: 0)) \(stats(timings[label]!))") }
        print("  result shape: \(shapes["nodekit-cni"] ?? "")")
    }
}

import NFTables
import Proxy

/// The Services a proxy benchmark programs: N ClusterIP Services of one TCP port, M endpoints
/// each, with addresses that a lab's server namespace answers (see ``ProxyBenchLab``).
///
/// ClusterIPs are 10.96.0.0/12 + i + 1; endpoint j of Service i is 10.128.0.0/10 + i·M + j + 1,
/// port 8080. Both ranges hold 30k Services × 10 endpoints with room to spare.
struct ProxyWorkload: Sendable {
    let services: Int
    let endpoints: Int

    static let servicePort: UInt16 = 80
    static let endpointPort: UInt16 = 8080

    static func address(base: UInt32, offset: Int) -> IPAddress {
        let v = base &+ UInt32(offset)
        return IPAddress(bytes: [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)])
    }

    static func clusterIP(_ i: Int) -> IPAddress { address(base: 0x0a60_0000, offset: i + 1) }
    func endpointIP(_ i: Int, _ j: Int) -> IPAddress { Self.address(base: 0x0a80_0000, offset: i * endpoints + j + 1) }

    static func name(_ i: Int) -> ServicePortName {
        ServicePortName(namespace: "bench", name: "svc-\(i)", port: "http", protocol: .tcp)
    }

    func info(_ i: Int) -> ServicePortInfo {
        ServicePortInfo(clusterIPs: [Self.clusterIP(i)], port: Self.servicePort, protocol: .tcp)
    }

    func endpointList(_ i: Int) -> [EndpointInfo] {
        (0..<endpoints).map { EndpointInfo(ip: endpointIP(i, $0), port: Self.endpointPort) }
    }

    /// Services 0..<N.
    func state() -> ProxyState {
        var s = ProxyState()
        for i in 0..<services {
            s.services[Self.name(i)] = info(i)
            s.endpoints[Self.name(i)] = endpointList(i)
        }
        return s
    }

    /// The Service a partial sync adds (index N).
    var addedIndex: Int { services }

    /// Service 0's first endpoint moved to an address no other endpoint uses.
    func changedEndpoints() -> [EndpointInfo] {
        var list = endpointList(0)
        list[0] = EndpointInfo(ip: endpointIP(services + 1, 0), port: Self.endpointPort)
        return list
    }

    /// The bench's two partial syncs, timed: the Service at ``addedIndex`` added to `state`,
    /// then Service 0's endpoints changed (``changedEndpoints()``), each followed by a partial
    /// `sync` of the one Service it changed.
    func timePartialSyncs(_ state: inout ProxyState, sync: (ProxyState, Set<ServicePortName>) throws -> Void) rethrows -> (addService: Duration, changeEndpoint: Duration) {
        let clock = ContinuousClock()
        let added = Self.name(addedIndex)
        state.services[added] = info(addedIndex)
        state.endpoints[added] = endpointList(addedIndex)
        let addService = try clock.measure { try sync(state, [added]) }
        state.endpoints[Self.name(0)] = changedEndpoints()
        let changeEndpoint = try clock.measure { try sync(state, [Self.name(0)]) }
        return (addService, changeEndpoint)
    }

    /// Upstream kube-proxy's nftables shape (KEP-3866) for these Services, as `nft -f` text:
    /// a `service-ips` verdict map, per Service a chain with an anonymous
    /// `numgen random mod M vmap`, per endpoint a chain that marks hairpin traffic and DNATs.
    func upstreamNFTables(table: String) -> String {
        var t = "add table ip \(table)\nflush table ip \(table)\n"
        t += "add chain ip \(table) mark-for-masquerade\n"
        t += "add rule ip \(table) mark-for-masquerade mark set mark or 0x4000\n"
        t += "add chain ip \(table) masquerading\n"
        t += "add rule ip \(table) masquerading mark and 0x4000 == 0 return\n"
        t += "add rule ip \(table) masquerading mark set mark xor 0x4000\n"
        t += "add rule ip \(table) masquerading masquerade fully-random\n"
        t += "add chain ip \(table) services\n"
        t += "add chain ip \(table) nat-prerouting { type nat hook prerouting priority dstnat ; }\n"
        t += "add rule ip \(table) nat-prerouting jump services\n"
        t += "add chain ip \(table) nat-output { type nat hook output priority -100 ; }\n"
        t += "add rule ip \(table) nat-output jump services\n"
        t += "add chain ip \(table) nat-postrouting { type nat hook postrouting priority srcnat ; }\n"
        t += "add rule ip \(table) nat-postrouting jump masquerading\n"
        t += "add map ip \(table) service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\n"
        t += "add rule ip \(table) services ip daddr . meta l4proto . th dport vmap @service-ips\n"
        for i in 0..<services {
            let svc = "service-\(i)-bench/svc-\(i)/tcp/http"
            t += "add chain ip \(table) \(svc)\n"
            var vmap: [String] = []
            for j in 0..<endpoints {
                let ep = endpointIP(i, j)
                let chain = "endpoint-\(i)-\(j)-bench/svc-\(i)/tcp/http__\(ep)/\(Self.endpointPort)"
                t += "add chain ip \(table) \(chain)\n"
                t += "add rule ip \(table) \(chain) ip saddr \(ep) jump mark-for-masquerade\n"
                t += "add rule ip \(table) \(chain) meta l4proto tcp dnat to \(ep):\(Self.endpointPort)\n"
                vmap.append("\(j) : goto \(chain)")
            }
            t += "add rule ip \(table) \(svc) numgen random mod \(endpoints) vmap { \(vmap.joined(separator: " , ")) }\n"
            t += "add element ip \(table) service-ips { \(Self.clusterIP(i)) . tcp . \(Self.servicePort) : goto \(svc) }\n"
        }
        return t
    }
}

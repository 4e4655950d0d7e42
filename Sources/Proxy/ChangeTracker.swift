import KubeAPI
import NFTables

/// An error turning Services or EndpointSlices into proxy state.
public struct ProxyError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Records Service and EndpointSlice changes between syncs, as upstream's
/// ServiceChangeTracker/EndpointsChangeTracker do: for each Service it keeps the state at the
/// last sync (`previous`) and the latest (`current`); a Service whose current state equals its
/// previous one is dropped, so a no-op update causes no partial sync.
///
/// Not thread-safe: the owner (``Proxier``) serialises calls.
public struct ChangeTracker: Sendable {
    /// The node this proxy runs on: endpoints whose `nodeName` equals it are local.
    public var nodeName: String

    private var serviceChanges: [String: (previous: [ServicePortName: ServicePortInfo], current: [ServicePortName: ServicePortInfo])] = [:]
    private var endpointChanges: [String: (previous: [ServicePortName: [EndpointInfo]], current: [ServicePortName: [EndpointInfo]])] = [:]
    /// The slices known per Service key, by slice name: endpoints are the union over slices.
    private var slices: [String: [String: EndpointSlice]] = [:]
    /// The ports last applied per Service key, to compute `previous` for the next change.
    private var appliedServices: [String: [ServicePortName: ServicePortInfo]] = [:]
    private var appliedEndpoints: [String: [ServicePortName: [EndpointInfo]]] = [:]

    public init(nodeName: String) { self.nodeName = nodeName }

    /// True when a change is waiting to be applied.
    public var hasPendingChanges: Bool { !serviceChanges.isEmpty || !endpointChanges.isEmpty }

    /// Records the latest version of a Service (nil `service` with a key: deleted). Returns true
    /// when this call changed what the next sync will program (false for a no-op update).
    @discardableResult
    public mutating func update(serviceKey key: String, _ service: Service?) -> Bool {
        let current = service.map { Self.servicePorts($0) } ?? [:]
        let previous = serviceChanges[key]?.previous ?? appliedServices[key] ?? [:]
        let before = serviceChanges[key]?.current ?? previous
        if previous == current { serviceChanges[key] = nil } else { serviceChanges[key] = (previous, current) }
        return before != current
    }

    @discardableResult
    public mutating func update(_ service: Service) -> Bool { update(serviceKey: service.key, service) }

    /// Records the latest version of an EndpointSlice (`deleted` true: it is gone). Returns true
    /// when this call changed what the next sync will program for the Service's endpoints.
    @discardableResult
    public mutating func update(_ slice: EndpointSlice, deleted: Bool = false) -> Bool {
        guard let service = slice.serviceName, let sliceName = slice.metadata.name else { return false }
        let key = "\(slice.metadata.namespace ?? "default")/\(service)"
        var known = slices[key] ?? [:]
        known[sliceName] = deleted ? nil : slice
        slices[key] = known.isEmpty ? nil : known
        let current = Self.endpoints(namespace: slice.metadata.namespace ?? "default", service: service, slices: Array(known.values), nodeName: nodeName)
        let previous = endpointChanges[key]?.previous ?? appliedEndpoints[key] ?? [:]
        let before = endpointChanges[key]?.current ?? previous
        if previous == current { endpointChanges[key] = nil } else { endpointChanges[key] = (previous, current) }
        return before != current
    }

    /// Applies pending changes to `state` and returns the Service ports whose rules may differ.
    public mutating func apply(to state: inout ProxyState) -> Set<ServicePortName> {
        var changed = Set<ServicePortName>()
        for (key, change) in serviceChanges {
            for name in change.previous.keys { state.services[name] = nil; changed.insert(name) }
            for (name, info) in change.current { state.services[name] = info; changed.insert(name) }
            appliedServices[key] = change.current.isEmpty ? nil : change.current
        }
        for (key, change) in endpointChanges {
            for name in change.previous.keys { state.endpoints[name] = nil; changed.insert(name) }
            for (name, eps) in change.current { state.endpoints[name] = eps; changed.insert(name) }
            appliedEndpoints[key] = change.current.isEmpty ? nil : change.current
        }
        serviceChanges = [:]
        endpointChanges = [:]
        return changed
    }

    /// The ports of a Service as the proxy programs them; empty for headless and ExternalName
    /// Services, which the proxy does not handle.
    public static func servicePorts(_ service: Service) -> [ServicePortName: ServicePortInfo] {
        let spec = service.spec
        if spec.type == "ExternalName" { return [:] }
        let ips = (spec.clusterIPs ?? spec.clusterIP.map { [$0] } ?? []).compactMap(IPAddress.init)
        if ips.isEmpty { return [:] }
        let namespace = service.metadata.namespace ?? "default"
        let name = service.metadata.name ?? ""
        var out: [ServicePortName: ServicePortInfo] = [:]
        let affinity: UInt32? = spec.sessionAffinity == "ClientIP"
            ? UInt32(max(1, spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800)) : nil
        let isLB = spec.type == "LoadBalancer"
        for port in spec.ports ?? [] {
            guard let proto = TransportProtocol(rawValue: (port.protocol ?? "TCP").lowercased()),
                  let p = UInt16(exactly: port.port) else { continue }
            let spn = ServicePortName(namespace: namespace, name: name, port: port.name ?? "", protocol: proto)
            let exposesNodePort = spec.type == "NodePort" || isLB
            out[spn] = ServicePortInfo(
                clusterIPs: ips, port: p, protocol: proto,
                nodePort: exposesNodePort ? UInt16(exactly: port.nodePort ?? 0) ?? 0 : 0,
                externalIPs: (spec.externalIPs ?? []).compactMap(IPAddress.init),
                loadBalancerIngressIPs: isLB ? (service.status?.loadBalancer?.ingress ?? []).filter { $0.ipMode != "Proxy" }.compactMap { $0.ip.flatMap(IPAddress.init) } : [],
                loadBalancerSourceRanges: isLB ? (spec.loadBalancerSourceRanges ?? []).compactMap { CIDR($0.trimmingCharacters(in: " ")) } : [],
                affinityTimeoutSeconds: affinity,
                externalPolicyLocal: spec.externalTrafficPolicy == "Local" && (exposesNodePort || !(spec.externalIPs ?? []).isEmpty),
                internalPolicyLocal: spec.internalTrafficPolicy == "Local",
                healthCheckNodePort: spec.externalTrafficPolicy == "Local" ? UInt16(exactly: spec.healthCheckNodePort ?? 0) ?? 0 : 0)
        }
        return out
    }

    /// The endpoints of each port of a Service, merged over its slices (duplicates dropped).
    public static func endpoints(namespace: String, service: String, slices: [EndpointSlice], nodeName: String) -> [ServicePortName: [EndpointInfo]] {
        var out: [ServicePortName: Set<EndpointInfo>] = [:]
        for slice in slices where slice.addressType == "IPv4" || slice.addressType == "IPv6" {
            for port in slice.ports ?? [] {
                guard let proto = TransportProtocol(rawValue: (port.protocol ?? "TCP").lowercased()),
                      let number = port.port, let p = UInt16(exactly: number), p != 0 else { continue }
                let spn = ServicePortName(namespace: namespace, name: service, port: port.name ?? "", protocol: proto)
                for ep in slice.endpoints {
                    let c = ep.conditions ?? EndpointConditions()
                    for address in ep.addresses {
                        guard let ip = IPAddress(address) else { continue }
                        out[spn, default: []].insert(EndpointInfo(ip: ip, port: p, ready: c.isReady, serving: c.isServing,
                                                                  terminating: c.isTerminating, isLocal: ep.nodeName == nodeName && !nodeName.isEmpty))
                    }
                }
            }
        }
        return out.mapValues { $0.sorted() }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

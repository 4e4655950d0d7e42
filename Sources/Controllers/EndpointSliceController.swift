import Foundation
import KubeAPI
import KubeClient
import Logging

/// The EndpointSlice controller's decisions as pure functions.
public enum EndpointSliceLogic {
    public static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    public static let managedBy = "endpointslice-controller.k8s.io"
    /// Upstream's default `--max-endpoints-per-slice`.
    public static let maxEndpointsPerSlice = 100

    /// One slice's worth of desired state: endpoints that share one resolved port list.
    public struct Group: Hashable, Sendable {
        public var ports: [EndpointPort]
        public var endpoints: [Endpoint]
    }

    /// The endpoints of `service` from `pods`: pods the selector matches that have an IP and
    /// have not finished, grouped by their resolved ports (a named `targetPort` may resolve to
    /// different numbers on different pods), at most `maxEndpointsPerSlice` per group, in a
    /// stable order. A Service without a selector (or of type ExternalName) has none here.
    ///
    /// Conditions as upstream: `serving` is the pod's readiness, `terminating` whether it is
    /// being deleted, `ready` is serving and not terminating; `publishNotReadyAddresses`
    /// makes every endpoint ready.
    public static func desired(service: Service, pods: [Pod]) -> [Group] {
        guard let selector = service.spec.selector, !selector.isEmpty, service.spec.type != "ExternalName" else { return [] }
        var byPorts: [[EndpointPort]: [Endpoint]] = [:]
        for pod in pods.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            guard pod.metadata.namespace == service.metadata.namespace,
                  selector.allSatisfy({ pod.metadata.labels?[$0.key] == $0.value }),
                  let ip = pod.status?.podIP, !ip.isEmpty,
                  pod.status?.phase != "Succeeded", pod.status?.phase != "Failed" else { continue }
            let ports = (service.spec.ports ?? []).compactMap { resolve($0, in: pod) }
            let terminating = pod.metadata.deletionTimestamp != nil
            let serving = service.spec.publishNotReadyAddresses == true || PodFacts.isReady(pod)
            var endpoint = Endpoint(addresses: [ip], conditions: EndpointConditions(ready: serving && !terminating, serving: serving, terminating: terminating),
                                    nodeName: pod.spec.nodeName, targetRef: ObjectReference(kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid))
            endpoint.hostname = pod.spec.hostname
            byPorts[ports, default: []].append(endpoint)
        }
        var groups: [Group] = []
        for (ports, endpoints) in byPorts.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            var i = 0
            repeat {
                groups.append(Group(ports: ports, endpoints: Array(endpoints[i..<min(i + maxEndpointsPerSlice, endpoints.count)])))
                i += maxEndpointsPerSlice
            } while i < endpoints.count
        }
        return groups
    }

    /// A Service port on a pod: a numeric `targetPort` (default: `port`) as is, a named one
    /// through the pod's container ports of that name and protocol; nil when the name is not
    /// found (upstream leaves the port out for that pod).
    static func resolve(_ port: ServicePort, in pod: Pod) -> EndpointPort? {
        let proto = port.protocol ?? "TCP"
        var number: Int32?
        switch port.targetPort {
        case .int(let n)?: number = n
        case .string(let name)?:
            if let n = Int32(name) { number = n } else {
                number = pod.spec.containers.flatMap { $0.ports ?? [] }.first { $0.name == name && ($0.protocol ?? "TCP") == proto }?.containerPort
            }
        case nil: number = port.port
        }
        guard let number else { return nil }
        var p = EndpointPort(name: port.name ?? "", protocol: proto, port: number)
        p.appProtocol = port.appProtocol
        return p
    }

    /// The legacy Endpoints mirror: one subset per port group, ready endpoints in `addresses`,
    /// not-ready ones that are not terminating in `notReadyAddresses` (the Endpoints
    /// controller leaves terminating pods out).
    public static func endpoints(service: Service, groups: [Group]) -> [EndpointSubset] {
        var merged: [[EndpointPort]: EndpointSubset] = [:]
        for g in groups {
            var subset = merged[g.ports] ?? EndpointSubset(ports: g.ports.isEmpty ? nil : g.ports)
            for e in g.endpoints {
                guard let ip = e.addresses.first else { continue }
                let address = EndpointAddress(ip: ip, hostname: e.hostname, nodeName: e.nodeName, targetRef: e.targetRef)
                if e.conditions?.isReady == true {
                    subset.addresses = (subset.addresses ?? []) + [address]
                } else if e.conditions?.isTerminating != true {
                    subset.notReadyAddresses = (subset.notReadyAddresses ?? []) + [address]
                }
            }
            merged[g.ports] = subset
        }
        return merged.sorted { "\($0.key)" < "\($1.key)" }.map(\.value).filter { $0.addresses != nil || $0.notReadyAddresses != nil }
    }
}

/// Keeps each Service's EndpointSlices (labelled `kubernetes.io/service-name`, owned by the
/// Service) and its Endpoints mirror equal to the pods its selector matches.
///
/// `sync(key:)` reconciles one Service from the API's current state; it is idempotent and
/// writes only slices whose content changed. A deleted Service's slices and Endpoints are
/// removed.
public struct EndpointSliceController: Sendable {
    let client: any KubeAPIClient
    let logger: Logger

    public init(client: any KubeAPIClient, logger: Logger = Logger(label: "nodekit.endpointslice")) {
        self.client = client
        self.logger = logger
    }

    public func sync(key: String) async throws(ControllerError) {
        let (namespace, name) = splitKey(key)
        guard let namespace else { throw ControllerError("sync Service \(key)", "key must be namespace/name") }
        var service: Service?
        do { service = try await client.get(Service.self, namespace: namespace, name: name) } catch {
            if !error.isNotFound { throw ControllerError("get Service \(key)", "read failed", cause: error) }
        }
        let existing: [EndpointSlice]
        do {
            existing = try await client.list(EndpointSlice.self, namespace: namespace, options: ListOptions(labelSelector: "\(EndpointSlice.serviceNameLabel)=\(name)")).items
                .filter { $0.metadata.labels?[EndpointSliceLogic.managedByLabel] == EndpointSliceLogic.managedBy && $0.serviceName == name }
        } catch {
            throw ControllerError("list EndpointSlices of Service \(key)", "list failed", cause: error)
        }
        guard let service, service.metadata.deletionTimestamp == nil, let selector = service.spec.selector, !selector.isEmpty else {
            for slice in existing { try await delete(slice) }
            // Endpoints of a Service without selector belong to the user; only a deleted
            // Service's are ours to remove.
            if service == nil { try await deleteEndpoints(namespace: namespace, name: name) }
            return
        }
        let pods: [Pod]
        do { pods = try await client.list(Pod.self, namespace: namespace).items } catch {
            throw ControllerError("list pods for Service \(key)", "list failed", cause: error)
        }
        let desired = EndpointSliceLogic.desired(service: service, pods: pods)
        // A Service with no endpoints keeps one empty slice, as upstream's placeholder.
        let groups = desired.isEmpty ? [EndpointSliceLogic.Group(ports: [], endpoints: [])] : desired
        var unused = existing.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
        for group in groups {
            if let i = unused.firstIndex(where: { ($0.ports ?? []) == group.ports }) {
                let slice = unused.remove(at: i)
                if slice.endpoints != group.endpoints {
                    var updated = slice
                    updated.endpoints = group.endpoints
                    do { _ = try await client.update(updated) } catch {
                        throw ControllerError("update EndpointSlice \(slice.key)", "update failed", cause: error)
                    }
                }
                continue
            }
            var meta = ObjectMeta(namespace: namespace, labels: [EndpointSlice.serviceNameLabel: name, EndpointSliceLogic.managedByLabel: EndpointSliceLogic.managedBy])
            meta.generateName = "\(name)-"
            meta.ownerReferences = [Build.controllerRef(apiVersion: Service.apiVersion, kind: Service.kind, meta: service.metadata)]
            let slice = EndpointSlice(metadata: meta, addressType: "IPv4", endpoints: group.endpoints, ports: group.ports)
            do { _ = try await client.create(slice) } catch {
                throw ControllerError("create EndpointSlice for Service \(key)", "create failed", cause: error)
            }
        }
        for slice in unused { try await delete(slice) }
        try await mirror(service: service, subsets: EndpointSliceLogic.endpoints(service: service, groups: desired))
    }

    func delete(_ slice: EndpointSlice) async throws(ControllerError) {
        do { try await client.delete(EndpointSlice.self, namespace: slice.metadata.namespace, name: slice.metadata.name ?? "") } catch {
            if !error.isNotFound { throw ControllerError("delete EndpointSlice \(slice.key)", "delete failed", cause: error) }
        }
    }

    func deleteEndpoints(namespace: String, name: String) async throws(ControllerError) {
        do { try await client.delete(Endpoints.self, namespace: namespace, name: name) } catch {
            if !error.isNotFound { throw ControllerError("delete Endpoints \(namespace)/\(name)", "delete failed", cause: error) }
        }
    }

    /// Creates or updates the Endpoints object named after the Service.
    func mirror(service: Service, subsets: [EndpointSubset]) async throws(ControllerError) {
        let namespace = service.metadata.namespace ?? "", name = service.metadata.name ?? ""
        var current: Endpoints?
        do { current = try await client.get(Endpoints.self, namespace: namespace, name: name) } catch {
            if !error.isNotFound { throw ControllerError("get Endpoints \(namespace)/\(name)", "read failed", cause: error) }
        }
        let wanted = subsets.isEmpty ? nil : subsets
        if var current {
            guard (current.subsets ?? []) != (wanted ?? []) else { return }
            current.subsets = wanted
            do { _ = try await client.update(current) } catch {
                throw ControllerError("update Endpoints \(namespace)/\(name)", "update failed", cause: error)
            }
            return
        }
        let endpoints = Endpoints(metadata: ObjectMeta(name: name, namespace: namespace, labels: service.metadata.labels), subsets: wanted)
        do { _ = try await client.create(endpoints) } catch {
            if !error.isAlreadyExists { throw ControllerError("create Endpoints \(namespace)/\(name)", "create failed", cause: error) }
        }
    }
}

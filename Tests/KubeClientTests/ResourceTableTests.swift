import KubeAPI
import Testing
@testable import KubeClient

@Suite struct ResourceTableTests {
    @Test(arguments: [
        (Pod.apiVersion, Pod.kind, "default", "web-1", nil, "/api/v1/namespaces/default/pods/web-1"),
        (Pod.apiVersion, Pod.kind, "default", "web-1", "status", "/api/v1/namespaces/default/pods/web-1/status"),
        (Node.apiVersion, Node.kind, "ignored", "n1", nil, "/api/v1/nodes/n1"),
        (Deployment.apiVersion, Deployment.kind, "prod", "web", "scale", "/apis/apps/v1/namespaces/prod/deployments/web/scale"),
        (Lease.apiVersion, Lease.kind, "kube-node-lease", "n1", nil, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"),
        (EndpointSlice.apiVersion, EndpointSlice.kind, "default", "svc-abc", nil, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/svc-abc"),
        (PodDisruptionBudget.apiVersion, PodDisruptionBudget.kind, "a", "b", nil, "/apis/policy/v1/namespaces/a/poddisruptionbudgets/b"),
        (Namespace.apiVersion, Namespace.kind, nil, "kube-system", "finalize", "/api/v1/namespaces/kube-system/finalize"),
    ] as [(String, String, String?, String, String?, String)])
    func objectPaths(apiVersion: String, kind: String, namespace: String?, name: String, subresource: String?, expected: String) throws {
        let info = try #require(ResourceTable.lookup(apiVersion: apiVersion, kind: kind))
        #expect(info.path(namespace: namespace, name: name, subresource: subresource) == expected)
    }

    @Test func namespacedCollectionWithoutNamespaceIsAllNamespaces() throws {
        let info = try ResourceTable.info(for: Pod.self)
        #expect(info.path(namespace: nil) == "/api/v1/pods")
        #expect(info.path(namespace: "kube-system") == "/api/v1/namespaces/kube-system/pods")
    }

    @Test func everyTypedKindHasAResource() throws {
        let kinds: [any KubeObject.Type] = [Pod.self, Node.self, Service.self, EndpointSlice.self, Deployment.self, ReplicaSet.self,
                                            DaemonSet.self, StatefulSet.self, ControllerRevision.self, Job.self, Namespace.self,
                                            ConfigMap.self, Secret.self, ServiceAccount.self, Event.self, Endpoints.self, Lease.self,
                                            PodDisruptionBudget.self]
        for k in kinds {
            #expect(ResourceTable.lookup(apiVersion: k.apiVersion, kind: k.kind) != nil, "\(k.kind)")
        }
    }

    @Test func unknownKindIsATypedError() {
        #expect(ResourceTable.lookup(apiVersion: "example.com/v1", kind: "Widget") == nil)
        do {
            _ = try ResourceTable.info(for: Eviction.self)
            Issue.record("Eviction is a subresource, not a resource")
        } catch {
            #expect(error.reason == "UnknownKind")
            #expect(error.message.contains("Eviction"))
        }
    }

    @Test func namesAreEscaped() throws {
        let info = try ResourceTable.info(for: ConfigMap.self)
        #expect(info.path(namespace: "a b", name: "x/y") == "/api/v1/namespaces/a%20b/configmaps/x%2Fy")
    }
}

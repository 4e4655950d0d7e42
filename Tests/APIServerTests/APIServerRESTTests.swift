import Foundation
import KubeAPI
import Store
import Testing
@testable import APIServer

/// CRUD, conflicts, generation, finalizers, graceful deletion, pagination and selectors over
/// real HTTP against an in-process server.
@Suite(.serialized) struct APIServerRESTTests {
    @Test func configMapCRUDAndConflict() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let created = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("one"))
        #expect(created.code == 201)
        let rv = try #require(created.json[p: "metadata.resourceVersion"]?.stringValue)
        #expect(created.json[p: "metadata.uid"]?.stringValue?.count == 36)
        #expect(created.json[p: "metadata.creationTimestamp"] != nil)

        let again = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("one"))
        #expect(again.code == 409)
        #expect(again.json["reason"]?.stringValue == "AlreadyExists")
        #expect(again.json["kind"]?.stringValue == "Status")

        var changed = created.json.objectValue!
        changed["data"] = .object(["k": .string("v2")])
        let updated = try await s.call("PUT", "/api/v1/namespaces/default/configmaps/one", json: .object(changed))
        #expect(updated.code == 200)
        #expect(updated.json[p: "data.k"]?.stringValue == "v2")
        #expect(updated.json[p: "metadata.resourceVersion"]?.stringValue != rv)

        // The old resourceVersion is now a stale precondition: 409 Conflict.
        let stale = try await s.call("PUT", "/api/v1/namespaces/default/configmaps/one", json: .object(changed))
        #expect(stale.code == 409)
        #expect(stale.json["reason"]?.stringValue == "Conflict")
        #expect(stale.json["message"]?.stringValue?.contains("the object has been modified") == true)

        let deleted = try await s.call("DELETE", "/api/v1/namespaces/default/configmaps/one")
        #expect(deleted.code == 200)
        let gone = try await s.call("GET", "/api/v1/namespaces/default/configmaps/one")
        #expect(gone.code == 404)
        #expect(gone.json["reason"]?.stringValue == "NotFound")
        #expect(gone.json["message"]?.stringValue == "configmaps \"one\" not found")
        #expect(gone.json[p: "details.kind"]?.stringValue == "configmaps")
    }

    @Test func kindsWithoutGenerationNeverGetOne() async throws {
        // Upstream's Lease, ConfigMap (and Node, Service, ...) strategies keep no generation:
        // not on create, not on a change, not on a graceful delete.
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let lease: JSONValue = .object(["apiVersion": .string("coordination.k8s.io/v1"), "kind": .string("Lease"),
                                        "metadata": .object(["name": .string("n1")]),
                                        "spec": .object(["holderIdentity": .string("n1"), "leaseDurationSeconds": .number(40)])])
        let created = try await s.call("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", json: lease)
        #expect(created.code == 201, "\(created.text)")
        #expect(created.json[p: "metadata.generation"] == nil)
        var object = created.json.objectValue!
        object[path: ["spec", "renewTime"]] = .string("2026-11-26T21:00:00.000000Z")
        let renewed = try await s.call("PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/n1", json: .object(object))
        #expect(renewed.code == 200, "\(renewed.text)")
        #expect(renewed.json[p: "spec.renewTime"]?.stringValue == "2026-11-26T21:00:00.000000Z")
        #expect(renewed.json[p: "metadata.generation"] == nil)

        let map = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("m", finalizers: ["example.com/hold"]))
        #expect(map.code == 201)
        #expect(map.json[p: "metadata.generation"] == nil)
        let deleting = try await s.call("DELETE", "/api/v1/namespaces/default/configmaps/m")
        #expect(deleting.json[p: "metadata.deletionTimestamp"] != nil, "\(deleting.text)")
        #expect(deleting.json[p: "metadata.generation"] == nil)
    }

    @Test func generationCountsSpecChangesOnly() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let created = try await s.call("POST", "/apis/apps/v1/namespaces/default/deployments", json: Objects.deployment("web"))
        #expect(created.code == 201)
        #expect(created.json[p: "metadata.generation"]?.intValue == 1)
        #expect(created.json[p: "spec.strategy.type"]?.stringValue == "RollingUpdate")
        #expect(created.json[p: "spec.template.spec.restartPolicy"]?.stringValue == "Always")

        var object = created.json.objectValue!
        object[path: ["metadata", "labels"]] = .object(["tier": .string("front")])
        let relabeled = try await s.call("PUT", "/apis/apps/v1/namespaces/default/deployments/web", json: .object(object))
        #expect(relabeled.json[p: "metadata.generation"]?.intValue == 1)

        object = relabeled.json.objectValue!
        object[path: ["spec", "replicas"]] = .number(3)
        let scaled = try await s.call("PUT", "/apis/apps/v1/namespaces/default/deployments/web", json: .object(object))
        #expect(scaled.json[p: "metadata.generation"]?.intValue == 2)

        object = scaled.json.objectValue!
        object["status"] = .object(["observedGeneration": .number(2), "replicas": .number(3)])
        let status = try await s.call("PUT", "/apis/apps/v1/namespaces/default/deployments/web/status", json: .object(object))
        #expect(status.code == 200)
        #expect(status.json[p: "metadata.generation"]?.intValue == 2)
        #expect(status.json[p: "status.observedGeneration"]?.intValue == 2)

        // The main resource ignores status; the scale subresource reads and writes replicas.
        object = status.json.objectValue!
        object["status"] = .object(["replicas": .number(99)])
        let ignored = try await s.call("PUT", "/apis/apps/v1/namespaces/default/deployments/web", json: .object(object))
        #expect(ignored.json[p: "status.replicas"]?.intValue == 3)
        let scale = try await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web/scale")
        #expect(scale.json["kind"]?.stringValue == "Scale")
        #expect(scale.json[p: "spec.replicas"]?.intValue == 3)
        #expect(scale.json[p: "status.selector"]?.stringValue == "app=web")
        let patched = try await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale",
                                       json: .object(["spec": .object(["replicas": .number(5)])]), contentType: "application/merge-patch+json")
        #expect(patched.code == 200)
        #expect(patched.json[p: "spec.replicas"]?.intValue == 5)
    }

    @Test func patchTypes() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.call("POST", "/apis/apps/v1/namespaces/default/deployments", json: Objects.deployment("p"))
        let merge = try await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/p",
                                     body: Data(#"{"metadata":{"labels":{"a":"b"}}}"#.utf8), contentType: "application/merge-patch+json")
        #expect(merge.code == 200)
        #expect(merge.json[p: "metadata.labels.a"]?.stringValue == "b")
        let strategic = try await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/p",
                                         body: Data(#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:2"}]}}}}"#.utf8),
                                         contentType: "application/strategic-merge-patch+json")
        #expect(strategic.code == 200)
        // Containers merge by name: the original stays, the new one joins.
        #expect(strategic.json[p: "spec.template.spec.containers"]?.arrayValue?.count == 2)
        let jsonPatch = try await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/p",
                                         body: Data(#"[{"op":"replace","path":"/spec/replicas","value":4}]"#.utf8), contentType: "application/json-patch+json")
        #expect(jsonPatch.json[p: "spec.replicas"]?.intValue == 4)
        #expect(jsonPatch.json[p: "metadata.generation"]?.intValue == 3)
        let badTest = try await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/p",
                                       body: Data(#"[{"op":"test","path":"/spec/replicas","value":9}]"#.utf8), contentType: "application/json-patch+json")
        #expect(badTest.code >= 400 && badTest.code < 500)
        #expect(badTest.json["kind"]?.stringValue == "Status")
    }

    @Test func finalizersHoldDeletion() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("held", finalizers: ["example.com/hold"]))
        let marked = try await s.call("DELETE", "/api/v1/namespaces/default/configmaps/held")
        #expect(marked.code == 200)
        #expect(marked.json[p: "metadata.deletionTimestamp"] != nil)
        let still = try await s.call("GET", "/api/v1/namespaces/default/configmaps/held")
        #expect(still.code == 200)
        var object = still.json.objectValue!
        object[path: ["metadata", "finalizers"]] = .array([])
        let released = try await s.call("PUT", "/api/v1/namespaces/default/configmaps/held", json: .object(object))
        #expect(released.code == 200)
        let gone = try await s.call("GET", "/api/v1/namespaces/default/configmaps/held")
        #expect(gone.code == 404)

        // propagationPolicy=Orphan records the orphan finalizer, as upstream does.
        _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("orphaned"))
        let orphan = try await s.call("DELETE", "/api/v1/namespaces/default/configmaps/orphaned?propagationPolicy=Orphan")
        #expect(orphan.json[p: "metadata.finalizers"]?.arrayValue == [.string("orphan")])
    }

    @Test func gracefulPodDeletion() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Objects.pod("pending"))
        _ = try await s.call("DELETE", "/api/v1/namespaces/default/pods/pending")
        #expect(try await s.call("GET", "/api/v1/namespaces/default/pods/pending").code == 404)

        _ = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Objects.pod("running", nodeName: "n1"))
        let marked = try await s.call("DELETE", "/api/v1/namespaces/default/pods/running")
        #expect(marked.json[p: "metadata.deletionGracePeriodSeconds"]?.intValue == 30)
        let still = try await s.call("GET", "/api/v1/namespaces/default/pods/running")
        #expect(still.code == 200)
        #expect(still.json[p: "metadata.deletionTimestamp"] != nil)
        let table = try await s.call("GET", "/api/v1/namespaces/default/pods", accept: "application/json;as=Table;v=v1;g=meta.k8s.io")
        #expect(table.json[p: "rows.0.cells.2"]?.stringValue == "Terminating")
        // The kubelet finishes with grace 0.
        _ = try await s.call("DELETE", "/api/v1/namespaces/default/pods/running", json: .object(["gracePeriodSeconds": .number(0)]))
        #expect(try await s.call("GET", "/api/v1/namespaces/default/pods/running").code == 404)
    }

    @Test func paginationIsOneSnapshot() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        for i in 0..<25 {
            _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap(String(format: "cm-%02d", i)))
        }
        var names: [String] = []
        var token = ""
        var pages = 0
        repeat {
            let page = try await s.call("GET", "/api/v1/namespaces/default/configmaps?limit=10" + (token.isEmpty ? "" : "&continue=\(token)"))
            #expect(page.code == 200)
            names += (page.json["items"]?.arrayValue ?? []).compactMap { $0[p: "metadata.name"]?.stringValue }
            if pages == 0 {
                #expect(page.json[p: "metadata.remainingItemCount"]?.intValue == 15)
                // A write between pages does not show up in later pages of the same list.
                _ = try await s.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("cm-99"))
            }
            token = page.json[p: "metadata.continue"]?.stringValue ?? ""
            pages += 1
        } while !token.isEmpty && pages < 10
        #expect(pages == 3)
        #expect(names == (0..<25).map { String(format: "cm-%02d", $0) })
        let bad = try await s.call("GET", "/api/v1/namespaces/default/configmaps?limit=10&continue=garbage")
        #expect(bad.code == 400)
    }

    @Test func selectors() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Objects.pod("a", labels: ["app": "web", "tier": "front"], nodeName: "n1"))
        _ = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Objects.pod("b", labels: ["app": "web"]))
        _ = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Objects.pod("c", labels: ["app": "db"]))
        func names(_ query: String) async throws -> [String] {
            let r = try await s.call("GET", "/api/v1/pods?" + query)
            return (r.json["items"]?.arrayValue ?? []).compactMap { $0[p: "metadata.name"]?.stringValue }.sorted()
        }
        #expect(try await names("labelSelector=app%3Dweb") == ["a", "b"])
        #expect(try await names("labelSelector=app%20in%20(web,db),!tier") == ["b", "c"])
        #expect(try await names("labelSelector=app!%3Dweb") == ["c"])
        #expect(try await names("fieldSelector=spec.nodeName%3Dn1") == ["a"])
        #expect(try await names("fieldSelector=metadata.name%3Dc") == ["c"])
        #expect(try await names("fieldSelector=status.phase%3DPending,metadata.name!%3Da") == ["b", "c"])
        let unsupported = try await s.call("GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx")
        #expect(unsupported.code == 400)
        #expect(unsupported.json["message"]?.stringValue == "field label not supported: spec.bogus")
    }

    @Test func dryRunWritesNothing() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let dry = try await s.call("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", json: Objects.configMap("dry"))
        #expect(dry.code == 201)
        #expect(dry.json[p: "metadata.name"]?.stringValue == "dry")
        #expect(try await s.call("GET", "/api/v1/namespaces/default/configmaps/dry").code == 404)
    }

    @Test func namespaces() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let missing = try await s.call("POST", "/api/v1/namespaces/nowhere/configmaps", json: Objects.configMap("x", namespace: "nowhere"))
        #expect(missing.code == 404)
        #expect(missing.json["message"]?.stringValue == "namespaces \"nowhere\" not found")
        let ns: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("Namespace"), "metadata": .object(["name": .string("team")])])
        let created = try await s.call("POST", "/api/v1/namespaces", json: ns)
        #expect(created.json[p: "status.phase"]?.stringValue == "Active")
        #expect(created.json[p: "spec.finalizers.0"]?.stringValue == "kubernetes")
        let deleting = try await s.call("DELETE", "/api/v1/namespaces/team")
        #expect(deleting.json[p: "status.phase"]?.stringValue == "Terminating")
        let refused = try await s.call("POST", "/api/v1/namespaces/team/configmaps", json: Objects.configMap("x", namespace: "team"))
        #expect(refused.code == 403)
        // The namespace controller clears spec.finalizers through finalize; then it is gone.
        var object = deleting.json.objectValue!
        object[path: ["spec", "finalizers"]] = .array([])
        let finalized = try await s.call("PUT", "/api/v1/namespaces/team/finalize", json: .object(object))
        #expect(finalized.code == 200)
        #expect(try await s.call("GET", "/api/v1/namespaces/team").code == 404)
    }

    @Test func serviceAllocation() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let kubernetes = try await s.call("GET", "/api/v1/namespaces/default/services/kubernetes")
        #expect(kubernetes.json[p: "spec.clusterIP"]?.stringValue == "10.96.0.1")
        var ips: Set<String> = ["10.96.0.1"]
        for i in 0..<5 {
            let r = try await s.call("POST", "/api/v1/namespaces/default/services", json: Objects.service("s\(i)"))
            #expect(r.code == 201)
            let ip = try #require(r.json[p: "spec.clusterIP"]?.stringValue)
            // Inside 10.96.0.0/12 (10.96.0.0 - 10.111.255.255).
            #expect(ServiceAllocator.parseIPv4(ip).map { $0 >> 20 == ServiceAllocator.parseIPv4("10.96.0.0")! >> 20 } == true)
            #expect(ips.insert(ip).inserted)
            #expect(r.json[p: "spec.ports.0.targetPort"]?.intValue == 80)
        }
        let taken = try await s.call("POST", "/api/v1/namespaces/default/services", json: Objects.service("dup", clusterIP: "10.96.0.1"))
        #expect(taken.code == 422)
        #expect(taken.json["message"]?.stringValue?.contains("provided IP is already allocated") == true)
        let outside = try await s.call("POST", "/api/v1/namespaces/default/services", json: Objects.service("out", clusterIP: "192.168.0.1"))
        #expect(outside.code == 422)
        let nodePort = try await s.call("POST", "/api/v1/namespaces/default/services", json: Objects.service("np", type: "NodePort"))
        let port = try #require(nodePort.json[p: "spec.ports.0.nodePort"]?.intValue)
        #expect((30000...32767).contains(Int(port)))
        // Deleting frees the address: a new service may ask for it.
        let freedIP = try #require(nodePort.json[p: "spec.clusterIP"]?.stringValue)
        _ = try await s.call("DELETE", "/api/v1/namespaces/default/services/np")
        let reused = try await s.call("POST", "/api/v1/namespaces/default/services", json: Objects.service("again", clusterIP: freedIP))
        #expect(reused.code == 201)
    }

    @Test func bindingAndEviction() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        _ = try await s.call("POST", "/api/v1/namespaces/default/pods", json: Objects.pod("web-1", labels: ["app": "web"]))
        let binding: JSONValue = .object(["apiVersion": .string("v1"), "kind": .string("Binding"), "metadata": .object(["name": .string("web-1")]),
                                          "target": .object(["kind": .string("Node"), "name": .string("n1")])])
        #expect(try await s.call("POST", "/api/v1/namespaces/default/pods/web-1/binding", json: binding).code == 201)
        let bound = try await s.call("GET", "/api/v1/namespaces/default/pods/web-1")
        #expect(bound.json[p: "spec.nodeName"]?.stringValue == "n1")
        let twice = try await s.call("POST", "/api/v1/namespaces/default/pods/web-1/binding", json: binding)
        #expect(twice.code == 409)

        // Mark it ready, then a budget of minAvailable 1 blocks its eviction.
        var pod = bound.json.objectValue!
        pod["status"] = .object(["phase": .string("Running"), "conditions": .array([.object(["type": .string("Ready"), "status": .string("True")])])])
        #expect(try await s.call("PUT", "/api/v1/namespaces/default/pods/web-1/status", json: .object(pod)).code == 200)
        let pdb: JSONValue = .object(["apiVersion": .string("policy/v1"), "kind": .string("PodDisruptionBudget"),
                                      "metadata": .object(["name": .string("web-pdb"), "namespace": .string("default")]),
                                      "spec": .object(["minAvailable": .number(1), "selector": .object(["matchLabels": .object(["app": .string("web")])])])])
        #expect(try await s.call("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", json: pdb).code == 201)
        let eviction: JSONValue = .object(["apiVersion": .string("policy/v1"), "kind": .string("Eviction"), "metadata": .object(["name": .string("web-1"), "namespace": .string("default")])])
        let blocked = try await s.call("POST", "/api/v1/namespaces/default/pods/web-1/eviction", json: eviction)
        #expect(blocked.code == 429)
        #expect(blocked.json["reason"]?.stringValue == "TooManyRequests")
        #expect(blocked.json[p: "details.causes.0.message"]?.stringValue?.contains("web-pdb") == true)
        // Without the budget the eviction deletes the pod (gracefully: it is bound).
        _ = try await s.call("DELETE", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web-pdb")
        // A dry run asked in the body's deleteOptions (as kubectl drain and nodectl send it)
        // deletes nothing; a dry-run value other than All is refused.
        var dryRun = eviction.objectValue!
        dryRun["deleteOptions"] = .object(["dryRun": .array([.string("All")])])
        #expect(try await s.call("POST", "/api/v1/namespaces/default/pods/web-1/eviction", json: .object(dryRun)).code == 201)
        #expect(try await s.call("GET", "/api/v1/namespaces/default/pods/web-1").json[p: "metadata.deletionTimestamp"] == nil)
        dryRun["deleteOptions"] = .object(["dryRun": .array([.string("Some")])])
        #expect(try await s.call("POST", "/api/v1/namespaces/default/pods/web-1/eviction", json: .object(dryRun)).code == 400)
        let evicted = try await s.call("POST", "/api/v1/namespaces/default/pods/web-1/eviction", json: eviction)
        #expect(evicted.code == 201)
        #expect(try await s.call("GET", "/api/v1/namespaces/default/pods/web-1").json[p: "metadata.deletionTimestamp"] != nil)
    }
}

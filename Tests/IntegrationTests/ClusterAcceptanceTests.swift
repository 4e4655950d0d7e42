import Foundation
import LinuxSystem
import TestSupport
import Testing

/// Issue 7's workload list against a real `nodekit server` (the cluster of
/// ``ClusterIntegrationTests``), driven with kubectl as a user would: a DaemonSet runs one pod
/// on the node; a StatefulSet creates its pods in order, each after the previous one is Ready,
/// and removes them from the highest ordinal; Jobs complete with bounded parallelism or fail
/// with BackoffLimitExceeded; a Recreate Deployment never runs old and new pods together and
/// `kubectl rollout history|pause|resume|undo` work; deleting a namespace empties it; the
/// garbage collector honours foreground and orphan deletion; a pod no node fits gets upstream's
/// PodScheduled=False message and is scheduled once a node fits.
@Suite(.serialized, .enabled(if: ClusterTestHost.skipReason == nil, "\(ClusterTestHost.skipReason ?? "")"))
struct ClusterAcceptanceTests {
    typealias Cluster = ClusterIntegrationTests.Cluster

    /// A container that stops at once on SIGTERM.
    static let sleeper = #"command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]"#

    static let workloads = """
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: agent, namespace: default}
        spec:
          selector: {matchLabels: {app: agent}}
          template:
            metadata: {labels: {app: agent}}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - {name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: Never, \(sleeper)}
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db, namespace: default}
        spec:
          serviceName: db
          replicas: 3
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db}}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - name: c
                image: docker.io/nodekit/busybox:latest
                imagePullPolicy: Never
                \(sleeper)
                readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
        ---
        apiVersion: batch/v1
        kind: Job
        metadata: {name: work, namespace: default}
        spec:
          completions: 4
          parallelism: 2
          template:
            spec:
              restartPolicy: Never
              containers:
              - {name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: Never, command: [sh, -c, "sleep 1"]}
        ---
        apiVersion: batch/v1
        kind: Job
        metadata: {name: fail, namespace: default}
        spec:
          backoffLimit: 1
          template:
            spec:
              restartPolicy: Never
              containers:
              - {name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: Never, command: [sh, -c, "exit 3"]}
        """

    static func deployment(_ name: String, strategy: String, value: String) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: \(name), namespace: default}
        spec:
          replicas: 2
          strategy: {type: \(strategy)}
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - {name: c, image: docker.io/nodekit/busybox:latest, imagePullPolicy: Never, env: [{name: V, value: "\(value)"}], \(sleeper)}
        """
    }

    @Test func workloadsRolloutsNamespacesGarbageCollectionAndScheduling() async throws {
        let started = ContinuousClock.now
        let cluster = try Cluster()
        defer { cluster.tearDown() }
        try await cluster.eventually("the kubeconfig", within: .seconds(20)) { FileManager.default.fileExists(atPath: cluster.kubeconfig) }
        try await cluster.eventually("node \(cluster.nodeName) Ready", within: .seconds(60)) {
            let r = try await cluster.kubectl(["get", "node", cluster.nodeName, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])
            return r.status == 0 && r.stdout == "True"
        }

        // DaemonSet, StatefulSet and Jobs at once; Job parallelism is sampled while they run.
        try await cluster.ok(["apply", "-f", "-"], input: Self.workloads)
        var mostActive = 0
        try await cluster.eventually("Job work Complete", within: .seconds(60)) {
            mostActive = max(mostActive, Int(try await cluster.ok(["get", "job", "work", "-o", "jsonpath={.status.active}"])) ?? 0)
            return try await cluster.ok(["get", "job", "work", "-o", "jsonpath={.status.conditions[?(@.type==\"Complete\")].status}"]) == "True"
        }
        #expect(try await cluster.ok(["get", "job", "work", "-o", "jsonpath={.status.succeeded}"]) == "4")
        #expect(mostActive <= 2, "Job work ran \(mostActive) pods at once with parallelism 2")
        try await cluster.eventually("Job fail Failed", within: .seconds(60)) {
            try await cluster.ok(["get", "job", "fail", "-o", "jsonpath={.status.conditions[?(@.type==\"Failed\")].status}"]) == "True"
        }
        #expect(try await cluster.ok(["get", "job", "fail", "-o", "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}"]) == "BackoffLimitExceeded")
        #expect(try await cluster.ok(["get", "pods", "-l", "job-name=fail", "-o", "name"]).split(separator: "\n").count == 2,
                "backoffLimit 1 allows two failed pods")

        try await cluster.eventually("DaemonSet agent ready on the node", within: .seconds(60)) {
            try await cluster.ok(["get", "ds", "agent", "-o", "jsonpath={.status.numberReady}"]) == "1"
        }
        #expect(try await cluster.ok(["get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}"]) == cluster.nodeName)

        try await cluster.eventually("StatefulSet db 3 ready", within: .seconds(60)) {
            try await cluster.ok(["get", "sts", "db", "-o", "jsonpath={.status.readyReplicas}"]) == "3"
        }
        // OrderedReady: each pod was created no earlier than its predecessor turned Ready.
        let rows = try await cluster.ok(["get", "pods", "-l", "app=db", "-o",
                                         "jsonpath={range .items[*]}{.metadata.name} {.metadata.creationTimestamp} {.status.conditions[?(@.type==\"Ready\")].lastTransitionTime} {.spec.hostname}{\"\\n\"}{end}"])
        let pods = rows.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.sorted { $0[0] < $1[0] }
        #expect(pods.map { $0[0] } == ["db-0", "db-1", "db-2"])
        #expect(pods.allSatisfy { $0.count == 4 && $0[3] == $0[0] }, "stable hostnames: \(pods)")
        for i in 1..<pods.count where pods[i].count == 4 && pods[i - 1].count == 4 {
            #expect(pods[i][1] >= pods[i - 1][2], "\(pods[i][0]) created at \(pods[i][1]), before \(pods[i - 1][0]) was Ready at \(pods[i - 1][2])")
        }
        // Scale-down from the highest ordinal: db-1 never goes while db-2 is still there.
        try await cluster.ok(["scale", "sts", "db", "--replicas=1"])
        var order: [String] = []
        try await cluster.eventually("StatefulSet db down to db-0", within: .seconds(60)) {
            let names = Set(try await cluster.ok(["get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.name}"]).split(separator: " ").map(String.init))
            #expect(!(names.contains("db-2") && !names.contains("db-1")), "db-1 removed before db-2: \(names)")
            for gone in ["db-2", "db-1"] where !names.contains(gone) && !order.contains(gone) { order.append(gone) }
            return names == ["db-0"]
        }
        #expect(order == ["db-2", "db-1"])

        // Recreate: no moment with pods of two templates that are not being deleted.
        try await cluster.ok(["apply", "-f", "-"], input: Self.deployment("rc", strategy: "Recreate", value: "1"))
        try await cluster.ok(["rollout", "status", "deployment/rc", "--timeout=60s"])
        try await cluster.ok(["set", "env", "deployment/rc", "V=2"])
        try await cluster.eventually("Recreate rollout of rc", within: .seconds(60)) {
            let live = try await cluster.ok(["get", "pods", "-l", "app=rc", "-o",
                                             "jsonpath={range .items[*]}{.metadata.labels.pod-template-hash} {.metadata.deletionTimestamp}{\"\\n\"}{end}"])
                .split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count == 1 }.map { String($0[0]) }
            #expect(Set(live).count <= 1, "Recreate ran two templates at once: \(live)")
            let status = try await cluster.kubectl(["rollout", "status", "deployment/rc", "--timeout=1s"])
            return status.status == 0
        }
        let history = try await cluster.ok(["rollout", "history", "deployment/rc"])
        #expect(history.contains("1 ") && history.contains("2 "), "rollout history: \(history)")
        // Paused: a template change makes no new ReplicaSet; resumed: it rolls out.
        try await cluster.ok(["rollout", "pause", "deployment/rc"])
        let replicaSets = try await cluster.ok(["get", "rs", "-l", "app=rc", "-o", "name"]).split(separator: "\n").count
        try await cluster.ok(["set", "env", "deployment/rc", "V=3"])
        try await Task.sleep(for: .seconds(3))
        #expect(try await cluster.ok(["get", "rs", "-l", "app=rc", "-o", "name"]).split(separator: "\n").count == replicaSets, "a paused Deployment rolled out")
        try await cluster.ok(["rollout", "resume", "deployment/rc"])
        try await cluster.ok(["rollout", "status", "deployment/rc", "--timeout=60s"])
        try await cluster.ok(["rollout", "undo", "deployment/rc"])
        try await cluster.ok(["rollout", "status", "deployment/rc", "--timeout=60s"])
        #expect(try await cluster.ok(["get", "deployment", "rc", "-o", "jsonpath={.spec.template.spec.containers[0].env[0].value}"]) == "2")
        try await cluster.ok(["rollout", "undo", "deployment/rc", "--to-revision=1"])
        try await cluster.ok(["rollout", "status", "deployment/rc", "--timeout=60s"])
        #expect(try await cluster.ok(["get", "deployment", "rc", "-o", "jsonpath={.spec.template.spec.containers[0].env[0].value}"]) == "1")

        // Garbage collection: foreground keeps the owner (finalizer) until its dependents are
        // gone; orphan leaves the ReplicaSet and its pods, without the owner reference.
        try await cluster.ok(["apply", "-f", "-"], input: Self.deployment("gfg", strategy: "RollingUpdate", value: "1"))
        try await cluster.ok(["apply", "-f", "-"], input: Self.deployment("gor", strategy: "RollingUpdate", value: "1"))
        try await cluster.ok(["rollout", "status", "deployment/gfg", "--timeout=60s"])
        try await cluster.ok(["rollout", "status", "deployment/gor", "--timeout=60s"])
        try await cluster.ok(["delete", "deployment", "gfg", "--cascade=foreground", "--wait=false"])
        let finalizers = try await cluster.kubectl(["get", "deployment", "gfg", "-o", "jsonpath={.metadata.finalizers}"])
        #expect(finalizers.status != 0 || finalizers.stdout.contains("foregroundDeletion"), "foreground deletion without its finalizer: \(finalizers.stdout)")
        try await cluster.eventually("gfg and its dependents gone", within: .seconds(60)) {
            let owner = try await cluster.kubectl(["get", "deployment", "gfg"])
            let dependents = try await cluster.ok(["get", "rs,pods", "-l", "app=gfg", "-o", "name"])
            return owner.status != 0 && dependents.isEmpty
        }
        try await cluster.ok(["delete", "deployment", "gor", "--cascade=orphan", "--timeout=60s"])
        try await cluster.eventually("gor's ReplicaSet orphaned", within: .seconds(30)) {
            try await cluster.ok(["get", "rs", "-l", "app=gor", "-o", "jsonpath={.items[*].metadata.ownerReferences}"]).isEmpty
        }
        #expect(try await cluster.ok(["get", "rs", "-l", "app=gor", "-o", "name"]).split(separator: "\n").count == 1)
        #expect(try await cluster.ok(["get", "pods", "-l", "app=gor", "-o", "name"]).split(separator: "\n").count == 2, "orphan deletion removed pods")

        // Deleting a namespace deletes what it holds, then the namespace.
        let namespace = "acc-\(Host.runSuffix)".lowercased()
        try await cluster.ok(["create", "namespace", namespace])
        try await cluster.ok(["-n", namespace, "apply", "-f", "-"], input: Self.deployment("d", strategy: "RollingUpdate", value: "1").replacingOccurrences(of: "namespace: default", with: "namespace: \(namespace)"))
        try await cluster.ok(["-n", namespace, "create", "configmap", "cm", "--from-literal=a=b"])
        try await cluster.ok(["-n", namespace, "rollout", "status", "deployment/d", "--timeout=60s"])
        try await cluster.ok(["delete", "namespace", namespace, "--timeout=60s"])
        #expect(try await cluster.kubectl(["get", "namespace", namespace]).status != 0)
        #expect(try await cluster.ok(["get", "pods,rs,deployments,configmaps", "-n", namespace, "-o", "name"]).isEmpty)

        // A pod no node fits: upstream's message, then scheduled once the node fits.
        try await cluster.ok(["run", "unsched", "--image=docker.io/nodekit/busybox:latest", "--image-pull-policy=Never",
                              "--overrides={\"spec\":{\"nodeSelector\":{\"acceptance\":\"yes\"}}}", "--command", "--", "sleep", "3600"])
        let expected = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
        try await cluster.eventually("unsched marked Unschedulable", within: .seconds(30)) {
            try await cluster.ok(["get", "pod", "unsched", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}"]) == "Unschedulable"
        }
        #expect(try await cluster.ok(["get", "pod", "unsched", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"]) == expected)
        try await cluster.ok(["label", "node", cluster.nodeName, "acceptance=yes"])
        try await cluster.eventually("unsched scheduled after the node was labelled", within: .seconds(30)) {
            try await cluster.ok(["get", "pod", "unsched", "-o", "jsonpath={.spec.nodeName}"]) == cluster.nodeName
        }
        print("cluster acceptance: whole scenario \(ContinuousClock.now - started)")
    }
}

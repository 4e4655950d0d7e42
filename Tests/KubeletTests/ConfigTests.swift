import CRI
import Foundation
import KubeAPI
import Kubelet
import Testing

@Suite struct ConfigTests {
    let node = NodeInfo(nodeName: "node1", hostIP: "192.0.2.10", rootDirectory: "/var/lib/kubelet",
                        resolvConf: "# comment\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch a.test b.test\noptions ndots:2 edns0\n",
                        cpuMilli: 2000, memoryBytes: 4 << 30)

    func pod(_ yaml: String) throws -> Pod {
        try StaticPodSource.decode(yaml, path: "/m/p.yaml", nodeName: "node1")
    }

    @Test(arguments: [
        // (requests cpu, limits cpu, limits memory) -> (shares, quota, period, memory)
        ("", "", "", 2, 0, 0, 0),
        ("100m", "", "", 102, 0, 0, 0),
        ("", "500m", "", 512, 50_000, 100_000, 0),
        ("250m", "2", "128Mi", 256, 200_000, 100_000, 134_217_728),
        ("1m", "1m", "", 2, 1000, 100_000, 0),
    ])
    func resourcesFollowUpstreamFormulas(request: String, limit: String, memory: String, shares: Int64, quota: Int64, period: Int64, bytes: Int64) throws {
        var container = Container(name: "c", image: "x")
        var requests: ResourceList = [:], limits: ResourceList = [:]
        if !request.isEmpty { requests["cpu"] = try Quantity(parsing: request) }
        if !limit.isEmpty { limits["cpu"] = try Quantity(parsing: limit) }
        if !memory.isEmpty { limits["memory"] = try Quantity(parsing: memory) }
        container.resources = ResourceRequirements(requests: requests, limits: limits)
        let r = ContainerConfigBuilder.resources(container)
        #expect(r.cpuShares == shares)
        #expect(r.cpuQuota == quota)
        #expect(r.cpuPeriod == period)
        #expect(r.memoryLimitInBytes == bytes)
    }

    @Test(arguments: [
        ("$(A)-$(B)", "1-2"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("cost $5", "cost $5"),
        ("$(A", "$(A"),
        ("x$(A)y$(A)", "x1y1"),
    ])
    func dollarExpansion(input: String, output: String) {
        #expect(ContainerConfigBuilder.expand(input, ["A": "1", "B": "2"]) == output)
    }

    @Test func containerConfigCarriesEnvFieldRefsLabelsAndSecurity() throws {
        let p = try pod("""
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: shop, labels: {app: web}}
            spec:
              securityContext: {runAsUser: 1000, runAsGroup: 3000}
              containers:
              - name: app
                image: busybox:1.36
                command: [sh, -c, "echo $(GREETING) from $(POD_NAME)"]
                workingDir: /work
                env:
                - {name: GREETING, value: hello}
                - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
                - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
                - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
                - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
                - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
                - {name: COMBINED, value: "$(GREETING)/$(NODE)"}
                securityContext:
                  runAsUser: 0
                  allowPrivilegeEscalation: false
                  readOnlyRootFilesystem: true
                  capabilities: {add: [NET_ADMIN], drop: [ALL]}
                  seccompProfile: {type: RuntimeDefault}
            """)
        let config = try ContainerConfigBuilder.make(pod: p, container: p.spec.containers[0], restartCount: 3, mounts: [],
                                                     runtime: .init(podIP: "10.88.0.5"), node: node)
        let env = Dictionary(uniqueKeysWithValues: config.envs.map { ($0.key, String(decoding: $0.value, as: UTF8.self)) })
        #expect(env["POD_NAME"] == "web-node1")
        #expect(env["NODE"] == "node1")
        #expect(env["IP"] == "10.88.0.5")
        #expect(env["APP"] == "web")
        #expect(env["MEM"] == "4096")
        #expect(env["COMBINED"] == "hello/node1")
        #expect(config.command == ["sh", "-c", "echo hello from web-node1"])
        #expect(config.workingDir == "/work")
        #expect(config.metadata.attempt == 3)
        #expect(config.logPath == "app/3.log")
        #expect(config.labels["io.kubernetes.pod.uid"] == p.metadata.uid)
        #expect(config.labels["io.kubernetes.container.name"] == "app")
        #expect(config.annotations["io.kubernetes.container.restartCount"] == "3")
        #expect(config.annotations["io.kubernetes.container.hash"] == ContainerConfigBuilder.hash(p.spec.containers[0]))
        let sc = config.linux.securityContext
        #expect(sc.runAsUser.value == 0)
        #expect(sc.runAsGroup.value == 3000)
        #expect(sc.noNewPrivs)
        #expect(sc.readonlyRootfs)
        #expect(sc.capabilities.addCapabilities == ["NET_ADMIN"])
        #expect(sc.capabilities.dropCapabilities == ["ALL"])
        #expect(sc.seccomp.profileType == .runtimeDefault)
        #expect(sc.maskedPaths.contains("/proc/kcore"))
    }

    @Test func unsetSeccompIsUnconfinedAndPrivilegedHasNoMaskedPaths() throws {
        let p = try pod("""
            metadata: {name: p}
            spec: {containers: [{name: c, image: x, securityContext: {privileged: true}}]}
            """)
        let config = try ContainerConfigBuilder.make(pod: p, container: p.spec.containers[0], restartCount: 0, mounts: [], runtime: .init(), node: node)
        #expect(config.linux.securityContext.seccomp.profileType == .unconfined)
        #expect(config.linux.securityContext.privileged)
        #expect(config.linux.securityContext.maskedPaths.isEmpty)
    }

    @Test(arguments: ["configMapKeyRef", "secretKeyRef"])
    func objectRefsFailWithoutAnAPIServer(kind: String) throws {
        let p = try pod("""
            metadata: {name: p}
            spec:
              containers:
              - name: c
                image: x
                env: [{name: X, valueFrom: {\(kind): {name: settings, key: k}}}]
            """)
        #expect {
            try ContainerConfigBuilder.make(pod: p, container: p.spec.containers[0], restartCount: 0, mounts: [], runtime: .init(), node: node)
        } throws: { error in
            guard let e = error as? KubeletError else { return false }
            return e.code == .containerConfig && e.message.contains("\"settings\" not found")
        }
    }

    @Test func optionalObjectRefIsSkipped() throws {
        let p = try pod("""
            metadata: {name: p}
            spec:
              containers:
              - name: c
                image: x
                env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: k, optional: true}}}, {name: Y, value: y}]
            """)
        let config = try ContainerConfigBuilder.make(pod: p, container: p.spec.containers[0], restartCount: 0, mounts: [], runtime: .init(), node: node)
        #expect(config.envs.map(\.key) == ["Y"])
    }

    @Test(arguments: [
        ("{}", QOSClass.bestEffort, "/kubepods/besteffort/pod"),
        ("{requests: {cpu: 100m}}", .burstable, "/kubepods/burstable/pod"),
        ("{limits: {cpu: 1, memory: 1Gi}}", .guaranteed, "/kubepods/pod"),
        ("{requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}", .burstable, "/kubepods/burstable/pod"),
    ])
    func qosClassAndCgroupParent(resources: String, qos: QOSClass, prefix: String) throws {
        let p = try pod("metadata: {name: p}\nspec: {containers: [{name: c, image: x, resources: \(resources)}]}")
        #expect(QOSClass(p.spec) == qos)
        let config = try SandboxConfigBuilder.make(pod: p, attempt: 0, node: node)
        #expect(config.linux.cgroupParent == prefix + (p.metadata.uid ?? ""))
    }

    @Test func sandboxConfigHasMetadataLabelsLogDirPortsAndSysctls() throws {
        let p = try pod("""
            metadata: {name: web, namespace: shop, labels: {app: web}, annotations: {note: x}}
            spec:
              securityContext: {sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]}
              containers: [{name: c, image: x, ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, protocol: UDP}]}]
            """)
        let config = try SandboxConfigBuilder.make(pod: p, attempt: 2, node: node)
        let uid = try #require(p.metadata.uid)
        #expect(config.metadata.name == "web-node1")
        #expect(config.metadata.namespace == "shop")
        #expect(config.metadata.uid == uid)
        #expect(config.metadata.attempt == 2)
        #expect(config.hostname == "web-node1")
        #expect(config.logDirectory == "/var/log/pods/shop_web-node1_\(uid)")
        #expect(config.labels["io.kubernetes.pod.name"] == "web-node1")
        #expect(config.labels["io.kubernetes.pod.namespace"] == "shop")
        #expect(config.labels["io.kubernetes.pod.uid"] == uid)
        #expect(config.labels["app"] == "web")
        #expect(config.annotations["note"] == "x")
        #expect(config.annotations["kubernetes.io/config.source"] == "file")
        #expect(config.portMappings.count == 1)
        #expect(config.portMappings.first?.hostPort == 8080)
        #expect(config.portMappings.first?.containerPort == 80)
        #expect(config.linux.sysctls == ["net.ipv4.ip_unprivileged_port_start": "0"])
        #expect(config.linux.securityContext.namespaceOptions.network == .pod)
    }

    @Test func hostNetworkUsesTheNodeNamespaceAndName() throws {
        let p = try pod("metadata: {name: p}\nspec: {hostNetwork: true, containers: [{name: c, image: x}]}")
        let config = try SandboxConfigBuilder.make(pod: p, attempt: 0, node: node)
        #expect(config.linux.securityContext.namespaceOptions.network == .node)
        #expect(config.hostname == "node1")
    }

    @Test(arguments: [
        ("Default", "", ["192.0.2.53", "192.0.2.54"], ["a.test", "b.test"], ["ndots:2", "edns0"]),
        ("ClusterFirst", "", ["192.0.2.53", "192.0.2.54"], ["a.test", "b.test"], ["ndots:2", "edns0"]),
        ("None", "dnsConfig: {nameservers: [1.1.1.1], searches: [x.test], options: [{name: ndots, value: '1'}]}", ["1.1.1.1"], ["x.test"], ["ndots:1"]),
        ("Default", "dnsConfig: {nameservers: [1.1.1.1, 8.8.8.8], options: [{name: ndots, value: '3'}]}", ["192.0.2.53", "192.0.2.54", "1.1.1.1"], ["a.test", "b.test"], ["edns0", "ndots:3"]),
    ])
    func dnsPolicies(policy: String, extra: String, servers: [String], searches: [String], options: [String]) throws {
        let p = try pod("metadata: {name: p}\nspec: {dnsPolicy: \(policy), \(extra.isEmpty ? "" : extra + ",") containers: [{name: c, image: x}]}")
        let dns = try PodDNS.config(for: p, node: node)
        #expect(dns.servers == servers)
        #expect(dns.searches == searches)
        #expect(dns.options == options)
    }

    @Test func clusterFirstUsesClusterDNSWhenConfigured() throws {
        var clustered = node
        clustered.clusterDNS = ["10.96.0.10"]
        let p = try pod("metadata: {name: p, namespace: shop}\nspec: {containers: [{name: c, image: x}]}")
        let dns = try PodDNS.config(for: p, node: clustered)
        #expect(dns.servers == ["10.96.0.10"])
        #expect(dns.searches == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "a.test", "b.test"])
        #expect(dns.options == ["ndots:5"])
    }

    @Test(arguments: [
        ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.36", "IfNotPresent"),
        ("localhost:5000/busybox", "Always"), ("localhost:5000/busybox:1", "IfNotPresent"), ("busybox@sha256:abc", "IfNotPresent"),
    ])
    func defaultPullPolicy(image: String, policy: String) {
        #expect(PodWorker.defaultPullPolicy(image) == policy)
    }
}

// One-pass tape decoding (JSONTapeMembers.swift) for the types clients decode most: Pods,
// Nodes and Leases with everything inside them, ObjectMeta and its parts.
//
// Each conformance reads its struct's stored properties in declaration order, as the
// synthesized `init(from:)` does, with `optional` where that init calls `decodeIfPresent`
// (optional properties) and `required` where it calls `decode`; the value is built with the
// type's initializer and every property is then assigned, so nothing an initializer defaults
// is kept. Adding a stored property to one of these types means adding it here, at its
// position: JSONTapeTypesTests decodes every type here both ways over sample and mutated
// inputs and fails on any difference (a property missing here is a difference).

extension ObjectMeta: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ObjectMeta {
        try decoder.withMembers(members) { m in
            var built = ObjectMeta()
            built.name = try m.optional(0, String.self)
            built.generateName = try m.optional(1, String.self)
            built.namespace = try m.optional(2, String.self)
            built.uid = try m.optional(3, String.self)
            built.resourceVersion = try m.optional(4, String.self)
            built.generation = try m.optional(5, Int64.self)
            built.creationTimestamp = try m.optional(6, String.self)
            built.deletionTimestamp = try m.optional(7, String.self)
            built.deletionGracePeriodSeconds = try m.optional(8, Int64.self)
            built.labels = try m.optional(9, [String: String].self)
            built.annotations = try m.optional(10, [String: String].self)
            built.ownerReferences = try m.optional(11, [OwnerReference].self)
            built.finalizers = try m.optional(12, [String].self)
            built.managedFields = try m.optional(13, [JSONValue].self)
            return built
        }
    }
}

extension OwnerReference: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"])
    static func decode(from decoder: JSONTapeDecoder) throws -> OwnerReference {
        try decoder.withMembers(members) { m in
            let apiVersion = try m.required(0, String.self)
            let kind = try m.required(1, String.self)
            let name = try m.required(2, String.self)
            let uid = try m.required(3, String.self)
            var built = OwnerReference(apiVersion: apiVersion, kind: kind, name: name, uid: uid)
            built.apiVersion = apiVersion
            built.kind = kind
            built.name = name
            built.uid = uid
            built.controller = try m.optional(4, Bool.self)
            built.blockOwnerDeletion = try m.optional(5, Bool.self)
            return built
        }
    }
}

extension LabelSelector: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["matchLabels", "matchExpressions"])
    static func decode(from decoder: JSONTapeDecoder) throws -> LabelSelector {
        try decoder.withMembers(members) { m in
            var built = LabelSelector()
            built.matchLabels = try m.optional(0, [String: String].self)
            built.matchExpressions = try m.optional(1, [LabelSelectorRequirement].self)
            return built
        }
    }
}

extension LabelSelectorRequirement: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["key", "operator", "values"])
    static func decode(from decoder: JSONTapeDecoder) throws -> LabelSelectorRequirement {
        try decoder.withMembers(members) { m in
            let key = try m.required(0, String.self)
            let `operator` = try m.required(1, String.self)
            var built = LabelSelectorRequirement(key: key, operator: `operator`)
            built.key = key
            built.`operator` = `operator`
            built.values = try m.optional(2, [String].self)
            return built
        }
    }
}

extension Pod: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["apiVersion", "kind", "metadata", "spec", "status"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Pod {
        try decoder.withMembers(members) { m in
            let apiVersion = try m.optional(0, String.self)
            let kind = try m.optional(1, String.self)
            let metadata = try m.required(2, ObjectMeta.self)
            let spec = try m.required(3, PodSpec.self)
            var built = Pod(metadata: metadata, spec: spec)
            built.apiVersion = apiVersion
            built.kind = kind
            built.metadata = metadata
            built.spec = spec
            built.status = try m.optional(4, PodStatus.self)
            return built
        }
    }
}

extension PodSpec: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["volumes", "initContainers", "containers", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "dnsConfig", "nodeSelector", "serviceAccountName", "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "hostname", "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority", "preemptionPolicy", "topologySpreadConstraints", "enableServiceLinks", "overhead"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodSpec {
        try decoder.withMembers(members) { m in
            let volumes = try m.optional(0, [Volume].self)
            let initContainers = try m.optional(1, [Container].self)
            let containers = try m.required(2, [Container].self)
            var built = PodSpec(containers: containers)
            built.volumes = volumes
            built.initContainers = initContainers
            built.containers = containers
            built.restartPolicy = try m.optional(3, String.self)
            built.terminationGracePeriodSeconds = try m.optional(4, Int64.self)
            built.activeDeadlineSeconds = try m.optional(5, Int64.self)
            built.dnsPolicy = try m.optional(6, String.self)
            built.dnsConfig = try m.optional(7, PodDNSConfig.self)
            built.nodeSelector = try m.optional(8, [String: String].self)
            built.serviceAccountName = try m.optional(9, String.self)
            built.automountServiceAccountToken = try m.optional(10, Bool.self)
            built.nodeName = try m.optional(11, String.self)
            built.hostNetwork = try m.optional(12, Bool.self)
            built.hostPID = try m.optional(13, Bool.self)
            built.hostIPC = try m.optional(14, Bool.self)
            built.shareProcessNamespace = try m.optional(15, Bool.self)
            built.securityContext = try m.optional(16, PodSecurityContext.self)
            built.hostname = try m.optional(17, String.self)
            built.subdomain = try m.optional(18, String.self)
            built.affinity = try m.optional(19, Affinity.self)
            built.schedulerName = try m.optional(20, String.self)
            built.tolerations = try m.optional(21, [Toleration].self)
            built.hostAliases = try m.optional(22, [HostAlias].self)
            built.priorityClassName = try m.optional(23, String.self)
            built.priority = try m.optional(24, Int32.self)
            built.preemptionPolicy = try m.optional(25, String.self)
            built.topologySpreadConstraints = try m.optional(26, [TopologySpreadConstraint].self)
            built.enableServiceLinks = try m.optional(27, Bool.self)
            built.overhead = try m.optional(28, ResourceList.self)
            return built
        }
    }
}

extension Container: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "restartPolicy", "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Container {
        try decoder.withMembers(members) { m in
            let name = try m.required(0, String.self)
            var built = Container(name: name, image: nil)
            built.name = name
            built.image = try m.optional(1, String.self)
            built.command = try m.optional(2, [String].self)
            built.args = try m.optional(3, [String].self)
            built.workingDir = try m.optional(4, String.self)
            built.ports = try m.optional(5, [ContainerPort].self)
            built.envFrom = try m.optional(6, [EnvFromSource].self)
            built.env = try m.optional(7, [EnvVar].self)
            built.resources = try m.optional(8, ResourceRequirements.self)
            built.restartPolicy = try m.optional(9, String.self)
            built.volumeMounts = try m.optional(10, [VolumeMount].self)
            built.livenessProbe = try m.optional(11, Probe.self)
            built.readinessProbe = try m.optional(12, Probe.self)
            built.startupProbe = try m.optional(13, Probe.self)
            built.lifecycle = try m.optional(14, Lifecycle.self)
            built.terminationMessagePath = try m.optional(15, String.self)
            built.terminationMessagePolicy = try m.optional(16, String.self)
            built.imagePullPolicy = try m.optional(17, String.self)
            built.securityContext = try m.optional(18, SecurityContext.self)
            built.stdin = try m.optional(19, Bool.self)
            built.stdinOnce = try m.optional(20, Bool.self)
            built.tty = try m.optional(21, Bool.self)
            return built
        }
    }
}

extension ContainerPort: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "hostPort", "containerPort", "protocol", "hostIP"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ContainerPort {
        try decoder.withMembers(members) { m in
            let name = try m.optional(0, String.self)
            let hostPort = try m.optional(1, Int32.self)
            let containerPort = try m.required(2, Int32.self)
            var built = ContainerPort(containerPort: containerPort)
            built.name = name
            built.hostPort = hostPort
            built.containerPort = containerPort
            built.`protocol` = try m.optional(3, String.self)
            built.hostIP = try m.optional(4, String.self)
            return built
        }
    }
}

extension EnvVar: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "value", "valueFrom"])
    static func decode(from decoder: JSONTapeDecoder) throws -> EnvVar {
        try decoder.withMembers(members) { m in
            let name = try m.required(0, String.self)
            var built = EnvVar(name: name)
            built.name = name
            built.value = try m.optional(1, String.self)
            built.valueFrom = try m.optional(2, EnvVarSource.self)
            return built
        }
    }
}

extension EnvVarSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"])
    static func decode(from decoder: JSONTapeDecoder) throws -> EnvVarSource {
        try decoder.withMembers(members) { m in
            var built = EnvVarSource()
            built.fieldRef = try m.optional(0, ObjectFieldSelector.self)
            built.resourceFieldRef = try m.optional(1, ResourceFieldSelector.self)
            built.configMapKeyRef = try m.optional(2, KeySelector.self)
            built.secretKeyRef = try m.optional(3, KeySelector.self)
            return built
        }
    }
}

extension ObjectFieldSelector: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["apiVersion", "fieldPath"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ObjectFieldSelector {
        try decoder.withMembers(members) { m in
            let apiVersion = try m.optional(0, String.self)
            let fieldPath = try m.required(1, String.self)
            var built = ObjectFieldSelector(fieldPath: fieldPath)
            built.apiVersion = apiVersion
            built.fieldPath = fieldPath
            return built
        }
    }
}

extension ResourceFieldSelector: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["containerName", "resource", "divisor"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ResourceFieldSelector {
        try decoder.withMembers(members) { m in
            let containerName = try m.optional(0, String.self)
            let resource = try m.required(1, String.self)
            var built = ResourceFieldSelector(resource: resource)
            built.containerName = containerName
            built.resource = resource
            built.divisor = try m.optional(2, Quantity.self)
            return built
        }
    }
}

extension KeySelector: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "key", "optional"])
    static func decode(from decoder: JSONTapeDecoder) throws -> KeySelector {
        try decoder.withMembers(members) { m in
            let name = try m.optional(0, String.self)
            let key = try m.required(1, String.self)
            var built = KeySelector(key: key)
            built.name = name
            built.key = key
            built.optional = try m.optional(2, Bool.self)
            return built
        }
    }
}

extension EnvFromSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["prefix", "configMapRef", "secretRef"])
    static func decode(from decoder: JSONTapeDecoder) throws -> EnvFromSource {
        try decoder.withMembers(members) { m in
            var built = EnvFromSource()
            built.prefix = try m.optional(0, String.self)
            built.configMapRef = try m.optional(1, LocalObjectReference.self)
            built.secretRef = try m.optional(2, LocalObjectReference.self)
            return built
        }
    }
}

extension LocalObjectReference: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "optional"])
    static func decode(from decoder: JSONTapeDecoder) throws -> LocalObjectReference {
        try decoder.withMembers(members) { m in
            var built = LocalObjectReference()
            built.name = try m.optional(0, String.self)
            built.optional = try m.optional(1, Bool.self)
            return built
        }
    }
}

extension ResourceRequirements: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["limits", "requests"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ResourceRequirements {
        try decoder.withMembers(members) { m in
            var built = ResourceRequirements()
            built.limits = try m.optional(0, ResourceList.self)
            built.requests = try m.optional(1, ResourceList.self)
            return built
        }
    }
}

extension VolumeMount: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "readOnly", "mountPath", "subPath", "mountPropagation"])
    static func decode(from decoder: JSONTapeDecoder) throws -> VolumeMount {
        try decoder.withMembers(members) { m in
            let name = try m.required(0, String.self)
            let readOnly = try m.optional(1, Bool.self)
            let mountPath = try m.required(2, String.self)
            var built = VolumeMount(name: name, mountPath: mountPath)
            built.name = name
            built.readOnly = readOnly
            built.mountPath = mountPath
            built.subPath = try m.optional(3, String.self)
            built.mountPropagation = try m.optional(4, String.self)
            return built
        }
    }
}

extension Probe: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold", "terminationGracePeriodSeconds"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Probe {
        try decoder.withMembers(members) { m in
            var built = Probe()
            built.exec = try m.optional(0, ExecAction.self)
            built.httpGet = try m.optional(1, HTTPGetAction.self)
            built.tcpSocket = try m.optional(2, TCPSocketAction.self)
            built.grpc = try m.optional(3, GRPCAction.self)
            built.initialDelaySeconds = try m.optional(4, Int32.self)
            built.timeoutSeconds = try m.optional(5, Int32.self)
            built.periodSeconds = try m.optional(6, Int32.self)
            built.successThreshold = try m.optional(7, Int32.self)
            built.failureThreshold = try m.optional(8, Int32.self)
            built.terminationGracePeriodSeconds = try m.optional(9, Int64.self)
            return built
        }
    }
}

extension ExecAction: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["command"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ExecAction {
        try decoder.withMembers(members) { m in
            var built = ExecAction(command: nil)
            built.command = try m.optional(0, [String].self)
            return built
        }
    }
}

extension HTTPGetAction: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["path", "port", "host", "scheme", "httpHeaders"])
    static func decode(from decoder: JSONTapeDecoder) throws -> HTTPGetAction {
        try decoder.withMembers(members) { m in
            let path = try m.optional(0, String.self)
            let port = try m.required(1, IntOrString.self)
            var built = HTTPGetAction(port: port)
            built.path = path
            built.port = port
            built.host = try m.optional(2, String.self)
            built.scheme = try m.optional(3, String.self)
            built.httpHeaders = try m.optional(4, [HTTPHeader].self)
            return built
        }
    }
}

extension HTTPHeader: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "value"])
    static func decode(from decoder: JSONTapeDecoder) throws -> HTTPHeader {
        try decoder.withMembers(members) { m in
            let name = try m.required(0, String.self)
            let value = try m.required(1, String.self)
            var built = HTTPHeader(name: name, value: value)
            built.name = name
            built.value = value
            return built
        }
    }
}

extension TCPSocketAction: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["port", "host"])
    static func decode(from decoder: JSONTapeDecoder) throws -> TCPSocketAction {
        try decoder.withMembers(members) { m in
            let port = try m.required(0, IntOrString.self)
            var built = TCPSocketAction(port: port)
            built.port = port
            built.host = try m.optional(1, String.self)
            return built
        }
    }
}

extension GRPCAction: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["port", "service"])
    static func decode(from decoder: JSONTapeDecoder) throws -> GRPCAction {
        try decoder.withMembers(members) { m in
            let port = try m.required(0, Int32.self)
            var built = GRPCAction(port: port)
            built.port = port
            built.service = try m.optional(1, String.self)
            return built
        }
    }
}

extension Lifecycle: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["postStart", "preStop"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Lifecycle {
        try decoder.withMembers(members) { m in
            var built = Lifecycle()
            built.postStart = try m.optional(0, LifecycleHandler.self)
            built.preStop = try m.optional(1, LifecycleHandler.self)
            return built
        }
    }
}

extension LifecycleHandler: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["exec", "httpGet", "tcpSocket", "sleep"])
    static func decode(from decoder: JSONTapeDecoder) throws -> LifecycleHandler {
        try decoder.withMembers(members) { m in
            var built = LifecycleHandler()
            built.exec = try m.optional(0, ExecAction.self)
            built.httpGet = try m.optional(1, HTTPGetAction.self)
            built.tcpSocket = try m.optional(2, TCPSocketAction.self)
            built.sleep = try m.optional(3, SleepAction.self)
            return built
        }
    }
}

extension SleepAction: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["seconds"])
    static func decode(from decoder: JSONTapeDecoder) throws -> SleepAction {
        try decoder.withMembers(members) { m in
            let seconds = try m.required(0, Int64.self)
            var built = SleepAction(seconds: seconds)
            built.seconds = seconds
            return built
        }
    }
}

extension SecurityContext: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["capabilities", "privileged", "runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "procMount", "seccompProfile"])
    static func decode(from decoder: JSONTapeDecoder) throws -> SecurityContext {
        try decoder.withMembers(members) { m in
            var built = SecurityContext()
            built.capabilities = try m.optional(0, Capabilities.self)
            built.privileged = try m.optional(1, Bool.self)
            built.runAsUser = try m.optional(2, Int64.self)
            built.runAsGroup = try m.optional(3, Int64.self)
            built.runAsNonRoot = try m.optional(4, Bool.self)
            built.readOnlyRootFilesystem = try m.optional(5, Bool.self)
            built.allowPrivilegeEscalation = try m.optional(6, Bool.self)
            built.procMount = try m.optional(7, String.self)
            built.seccompProfile = try m.optional(8, SeccompProfile.self)
            return built
        }
    }
}

extension Capabilities: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["add", "drop"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Capabilities {
        try decoder.withMembers(members) { m in
            var built = Capabilities()
            built.add = try m.optional(0, [String].self)
            built.drop = try m.optional(1, [String].self)
            return built
        }
    }
}

extension SeccompProfile: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["type", "localhostProfile"])
    static func decode(from decoder: JSONTapeDecoder) throws -> SeccompProfile {
        try decoder.withMembers(members) { m in
            let type = try m.required(0, String.self)
            var built = SeccompProfile(type: type)
            built.type = type
            built.localhostProfile = try m.optional(1, String.self)
            return built
        }
    }
}

extension PodSecurityContext: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["runAsUser", "runAsGroup", "runAsNonRoot", "supplementalGroups", "fsGroup", "sysctls", "seccompProfile"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodSecurityContext {
        try decoder.withMembers(members) { m in
            var built = PodSecurityContext()
            built.runAsUser = try m.optional(0, Int64.self)
            built.runAsGroup = try m.optional(1, Int64.self)
            built.runAsNonRoot = try m.optional(2, Bool.self)
            built.supplementalGroups = try m.optional(3, [Int64].self)
            built.fsGroup = try m.optional(4, Int64.self)
            built.sysctls = try m.optional(5, [Sysctl].self)
            built.seccompProfile = try m.optional(6, SeccompProfile.self)
            return built
        }
    }
}

extension Sysctl: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "value"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Sysctl {
        try decoder.withMembers(members) { m in
            let name = try m.required(0, String.self)
            let value = try m.required(1, String.self)
            var built = Sysctl(name: name, value: value)
            built.name = name
            built.value = value
            return built
        }
    }
}

extension PodDNSConfig: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["nameservers", "searches", "options"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodDNSConfig {
        try decoder.withMembers(members) { m in
            var built = PodDNSConfig()
            built.nameservers = try m.optional(0, [String].self)
            built.searches = try m.optional(1, [String].self)
            built.options = try m.optional(2, [PodDNSConfigOption].self)
            return built
        }
    }
}

extension PodDNSConfigOption: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "value"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodDNSConfigOption {
        try decoder.withMembers(members) { m in
            var built = PodDNSConfigOption()
            built.name = try m.optional(0, String.self)
            built.value = try m.optional(1, String.self)
            return built
        }
    }
}

extension HostAlias: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["ip", "hostnames"])
    static func decode(from decoder: JSONTapeDecoder) throws -> HostAlias {
        try decoder.withMembers(members) { m in
            var built = HostAlias()
            built.ip = try m.optional(0, String.self)
            built.hostnames = try m.optional(1, [String].self)
            return built
        }
    }
}

extension Toleration: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["key", "operator", "value", "effect", "tolerationSeconds"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Toleration {
        try decoder.withMembers(members) { m in
            var built = Toleration()
            built.key = try m.optional(0, String.self)
            built.`operator` = try m.optional(1, String.self)
            built.value = try m.optional(2, String.self)
            built.effect = try m.optional(3, String.self)
            built.tolerationSeconds = try m.optional(4, Int64.self)
            return built
        }
    }
}

extension TopologySpreadConstraint: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector", "minDomains"])
    static func decode(from decoder: JSONTapeDecoder) throws -> TopologySpreadConstraint {
        try decoder.withMembers(members) { m in
            let maxSkew = try m.required(0, Int32.self)
            let topologyKey = try m.required(1, String.self)
            let whenUnsatisfiable = try m.required(2, String.self)
            var built = TopologySpreadConstraint(maxSkew: maxSkew, topologyKey: topologyKey, whenUnsatisfiable: whenUnsatisfiable, labelSelector: nil)
            built.maxSkew = maxSkew
            built.topologyKey = topologyKey
            built.whenUnsatisfiable = whenUnsatisfiable
            built.labelSelector = try m.optional(3, LabelSelector.self)
            built.minDomains = try m.optional(4, Int32.self)
            return built
        }
    }
}

extension Affinity: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["nodeAffinity", "podAffinity", "podAntiAffinity"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Affinity {
        try decoder.withMembers(members) { m in
            var built = Affinity()
            built.nodeAffinity = try m.optional(0, NodeAffinity.self)
            built.podAffinity = try m.optional(1, PodAffinity.self)
            built.podAntiAffinity = try m.optional(2, PodAffinity.self)
            return built
        }
    }
}

extension NodeAffinity: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeAffinity {
        try decoder.withMembers(members) { m in
            var built = NodeAffinity()
            built.requiredDuringSchedulingIgnoredDuringExecution = try m.optional(0, NodeSelector.self)
            built.preferredDuringSchedulingIgnoredDuringExecution = try m.optional(1, [PreferredSchedulingTerm].self)
            return built
        }
    }
}

extension NodeSelector: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["nodeSelectorTerms"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeSelector {
        try decoder.withMembers(members) { m in
            let nodeSelectorTerms = try m.required(0, [NodeSelectorTerm].self)
            var built = NodeSelector(nodeSelectorTerms: nodeSelectorTerms)
            built.nodeSelectorTerms = nodeSelectorTerms
            return built
        }
    }
}

extension NodeSelectorTerm: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["matchExpressions", "matchFields"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeSelectorTerm {
        try decoder.withMembers(members) { m in
            var built = NodeSelectorTerm()
            built.matchExpressions = try m.optional(0, [NodeSelectorRequirement].self)
            built.matchFields = try m.optional(1, [NodeSelectorRequirement].self)
            return built
        }
    }
}

extension NodeSelectorRequirement: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["key", "operator", "values"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeSelectorRequirement {
        try decoder.withMembers(members) { m in
            let key = try m.required(0, String.self)
            let `operator` = try m.required(1, String.self)
            var built = NodeSelectorRequirement(key: key, operator: `operator`)
            built.key = key
            built.`operator` = `operator`
            built.values = try m.optional(2, [String].self)
            return built
        }
    }
}

extension PreferredSchedulingTerm: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["weight", "preference"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PreferredSchedulingTerm {
        try decoder.withMembers(members) { m in
            let weight = try m.required(0, Int32.self)
            let preference = try m.required(1, NodeSelectorTerm.self)
            var built = PreferredSchedulingTerm(weight: weight, preference: preference)
            built.weight = weight
            built.preference = preference
            return built
        }
    }
}

extension PodAffinity: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodAffinity {
        try decoder.withMembers(members) { m in
            var built = PodAffinity()
            built.requiredDuringSchedulingIgnoredDuringExecution = try m.optional(0, [PodAffinityTerm].self)
            built.preferredDuringSchedulingIgnoredDuringExecution = try m.optional(1, [WeightedPodAffinityTerm].self)
            return built
        }
    }
}

extension PodAffinityTerm: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["labelSelector", "namespaces", "namespaceSelector", "topologyKey"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodAffinityTerm {
        try decoder.withMembers(members) { m in
            let labelSelector = try m.optional(0, LabelSelector.self)
            let namespaces = try m.optional(1, [String].self)
            let namespaceSelector = try m.optional(2, LabelSelector.self)
            let topologyKey = try m.required(3, String.self)
            var built = PodAffinityTerm(labelSelector: labelSelector, topologyKey: topologyKey)
            built.labelSelector = labelSelector
            built.namespaces = namespaces
            built.namespaceSelector = namespaceSelector
            built.topologyKey = topologyKey
            return built
        }
    }
}

extension WeightedPodAffinityTerm: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["weight", "podAffinityTerm"])
    static func decode(from decoder: JSONTapeDecoder) throws -> WeightedPodAffinityTerm {
        try decoder.withMembers(members) { m in
            let weight = try m.required(0, Int32.self)
            let podAffinityTerm = try m.required(1, PodAffinityTerm.self)
            var built = WeightedPodAffinityTerm(weight: weight, podAffinityTerm: podAffinityTerm)
            built.weight = weight
            built.podAffinityTerm = podAffinityTerm
            return built
        }
    }
}

extension Volume: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected", "persistentVolumeClaim"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Volume {
        try decoder.withMembers(members) { m in
            let name = try m.required(0, String.self)
            var built = Volume(name: name)
            built.name = name
            built.emptyDir = try m.optional(1, EmptyDirVolumeSource.self)
            built.hostPath = try m.optional(2, HostPathVolumeSource.self)
            built.configMap = try m.optional(3, ConfigMapVolumeSource.self)
            built.secret = try m.optional(4, SecretVolumeSource.self)
            built.downwardAPI = try m.optional(5, DownwardAPIVolumeSource.self)
            built.projected = try m.optional(6, ProjectedVolumeSource.self)
            built.persistentVolumeClaim = try m.optional(7, JSONValue.self)
            return built
        }
    }
}

extension EmptyDirVolumeSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["medium", "sizeLimit"])
    static func decode(from decoder: JSONTapeDecoder) throws -> EmptyDirVolumeSource {
        try decoder.withMembers(members) { m in
            var built = EmptyDirVolumeSource()
            built.medium = try m.optional(0, String.self)
            built.sizeLimit = try m.optional(1, Quantity.self)
            return built
        }
    }
}

extension HostPathVolumeSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["path", "type"])
    static func decode(from decoder: JSONTapeDecoder) throws -> HostPathVolumeSource {
        try decoder.withMembers(members) { m in
            let path = try m.required(0, String.self)
            var built = HostPathVolumeSource(path: path)
            built.path = path
            built.type = try m.optional(1, String.self)
            return built
        }
    }
}

extension KeyToPath: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["key", "path", "mode"])
    static func decode(from decoder: JSONTapeDecoder) throws -> KeyToPath {
        try decoder.withMembers(members) { m in
            let key = try m.required(0, String.self)
            let path = try m.required(1, String.self)
            var built = KeyToPath(key: key, path: path)
            built.key = key
            built.path = path
            built.mode = try m.optional(2, Int32.self)
            return built
        }
    }
}

extension ConfigMapVolumeSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "items", "defaultMode", "optional"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ConfigMapVolumeSource {
        try decoder.withMembers(members) { m in
            var built = ConfigMapVolumeSource()
            built.name = try m.optional(0, String.self)
            built.items = try m.optional(1, [KeyToPath].self)
            built.defaultMode = try m.optional(2, Int32.self)
            built.optional = try m.optional(3, Bool.self)
            return built
        }
    }
}

extension SecretVolumeSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["secretName", "items", "defaultMode", "optional"])
    static func decode(from decoder: JSONTapeDecoder) throws -> SecretVolumeSource {
        try decoder.withMembers(members) { m in
            var built = SecretVolumeSource()
            built.secretName = try m.optional(0, String.self)
            built.items = try m.optional(1, [KeyToPath].self)
            built.defaultMode = try m.optional(2, Int32.self)
            built.optional = try m.optional(3, Bool.self)
            return built
        }
    }
}

extension DownwardAPIVolumeSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["items", "defaultMode"])
    static func decode(from decoder: JSONTapeDecoder) throws -> DownwardAPIVolumeSource {
        try decoder.withMembers(members) { m in
            var built = DownwardAPIVolumeSource()
            built.items = try m.optional(0, [DownwardAPIVolumeFile].self)
            built.defaultMode = try m.optional(1, Int32.self)
            return built
        }
    }
}

extension DownwardAPIVolumeFile: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["path", "fieldRef", "resourceFieldRef", "mode"])
    static func decode(from decoder: JSONTapeDecoder) throws -> DownwardAPIVolumeFile {
        try decoder.withMembers(members) { m in
            let path = try m.required(0, String.self)
            var built = DownwardAPIVolumeFile(path: path)
            built.path = path
            built.fieldRef = try m.optional(1, ObjectFieldSelector.self)
            built.resourceFieldRef = try m.optional(2, ResourceFieldSelector.self)
            built.mode = try m.optional(3, Int32.self)
            return built
        }
    }
}

extension ProjectedVolumeSource: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["sources", "defaultMode"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ProjectedVolumeSource {
        try decoder.withMembers(members) { m in
            var built = ProjectedVolumeSource()
            built.sources = try m.optional(0, [VolumeProjection].self)
            built.defaultMode = try m.optional(1, Int32.self)
            return built
        }
    }
}

extension VolumeProjection: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["configMap", "secret", "downwardAPI", "serviceAccountToken"])
    static func decode(from decoder: JSONTapeDecoder) throws -> VolumeProjection {
        try decoder.withMembers(members) { m in
            var built = VolumeProjection()
            built.configMap = try m.optional(0, ConfigMapProjection.self)
            built.secret = try m.optional(1, SecretProjection.self)
            built.downwardAPI = try m.optional(2, DownwardAPIProjection.self)
            built.serviceAccountToken = try m.optional(3, ServiceAccountTokenProjection.self)
            return built
        }
    }
}

extension ConfigMapProjection: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "items", "optional"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ConfigMapProjection {
        try decoder.withMembers(members) { m in
            var built = ConfigMapProjection()
            built.name = try m.optional(0, String.self)
            built.items = try m.optional(1, [KeyToPath].self)
            built.optional = try m.optional(2, Bool.self)
            return built
        }
    }
}

extension SecretProjection: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "items", "optional"])
    static func decode(from decoder: JSONTapeDecoder) throws -> SecretProjection {
        try decoder.withMembers(members) { m in
            var built = SecretProjection()
            built.name = try m.optional(0, String.self)
            built.items = try m.optional(1, [KeyToPath].self)
            built.optional = try m.optional(2, Bool.self)
            return built
        }
    }
}

extension DownwardAPIProjection: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["items"])
    static func decode(from decoder: JSONTapeDecoder) throws -> DownwardAPIProjection {
        try decoder.withMembers(members) { m in
            var built = DownwardAPIProjection()
            built.items = try m.optional(0, [DownwardAPIVolumeFile].self)
            return built
        }
    }
}

extension ServiceAccountTokenProjection: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["audience", "expirationSeconds", "path"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ServiceAccountTokenProjection {
        try decoder.withMembers(members) { m in
            let audience = try m.optional(0, String.self)
            let expirationSeconds = try m.optional(1, Int64.self)
            let path = try m.required(2, String.self)
            var built = ServiceAccountTokenProjection(path: path)
            built.audience = audience
            built.expirationSeconds = expirationSeconds
            built.path = path
            return built
        }
    }
}

extension PodStatus: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["phase", "conditions", "message", "reason", "hostIP", "hostIPs", "podIP", "podIPs", "startTime", "initContainerStatuses", "containerStatuses", "qosClass", "nominatedNodeName"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodStatus {
        try decoder.withMembers(members) { m in
            var built = PodStatus()
            built.phase = try m.optional(0, String.self)
            built.conditions = try m.optional(1, [PodCondition].self)
            built.message = try m.optional(2, String.self)
            built.reason = try m.optional(3, String.self)
            built.hostIP = try m.optional(4, String.self)
            built.hostIPs = try m.optional(5, [PodIP].self)
            built.podIP = try m.optional(6, String.self)
            built.podIPs = try m.optional(7, [PodIP].self)
            built.startTime = try m.optional(8, String.self)
            built.initContainerStatuses = try m.optional(9, [ContainerStatus].self)
            built.containerStatuses = try m.optional(10, [ContainerStatus].self)
            built.qosClass = try m.optional(11, String.self)
            built.nominatedNodeName = try m.optional(12, String.self)
            return built
        }
    }
}

extension PodIP: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["ip"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodIP {
        try decoder.withMembers(members) { m in
            let ip = try m.required(0, String.self)
            var built = PodIP(ip: ip)
            built.ip = ip
            return built
        }
    }
}

extension PodCondition: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["type", "status", "lastProbeTime", "lastTransitionTime", "reason", "message"])
    static func decode(from decoder: JSONTapeDecoder) throws -> PodCondition {
        try decoder.withMembers(members) { m in
            let type = try m.required(0, String.self)
            let status = try m.required(1, String.self)
            var built = PodCondition(type: type, status: status)
            built.type = type
            built.status = status
            built.lastProbeTime = try m.optional(2, String.self)
            built.lastTransitionTime = try m.optional(3, String.self)
            built.reason = try m.optional(4, String.self)
            built.message = try m.optional(5, String.self)
            return built
        }
    }
}

extension ContainerStatus: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["name", "state", "lastState", "ready", "restartCount", "image", "imageID", "containerID", "started"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ContainerStatus {
        try decoder.withMembers(members) { m in
            let name = try m.required(0, String.self)
            let state = try m.optional(1, ContainerState.self)
            let lastState = try m.optional(2, ContainerState.self)
            let ready = try m.required(3, Bool.self)
            let restartCount = try m.required(4, Int32.self)
            let image = try m.required(5, String.self)
            let imageID = try m.required(6, String.self)
            var built = ContainerStatus(name: name, image: image)
            built.name = name
            built.state = state
            built.lastState = lastState
            built.ready = ready
            built.restartCount = restartCount
            built.image = image
            built.imageID = imageID
            built.containerID = try m.optional(7, String.self)
            built.started = try m.optional(8, Bool.self)
            return built
        }
    }
}

extension ContainerState: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["waiting", "running", "terminated"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ContainerState {
        try decoder.withMembers(members) { m in
            var built = ContainerState()
            built.waiting = try m.optional(0, ContainerStateWaiting.self)
            built.running = try m.optional(1, ContainerStateRunning.self)
            built.terminated = try m.optional(2, ContainerStateTerminated.self)
            return built
        }
    }
}

extension ContainerStateWaiting: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["reason", "message"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ContainerStateWaiting {
        try decoder.withMembers(members) { m in
            var built = ContainerStateWaiting()
            built.reason = try m.optional(0, String.self)
            built.message = try m.optional(1, String.self)
            return built
        }
    }
}

extension ContainerStateRunning: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["startedAt"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ContainerStateRunning {
        try decoder.withMembers(members) { m in
            var built = ContainerStateRunning()
            built.startedAt = try m.optional(0, String.self)
            return built
        }
    }
}

extension ContainerStateTerminated: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["exitCode", "signal", "reason", "message", "startedAt", "finishedAt", "containerID"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ContainerStateTerminated {
        try decoder.withMembers(members) { m in
            let exitCode = try m.required(0, Int32.self)
            var built = ContainerStateTerminated(exitCode: exitCode)
            built.exitCode = exitCode
            built.signal = try m.optional(1, Int32.self)
            built.reason = try m.optional(2, String.self)
            built.message = try m.optional(3, String.self)
            built.startedAt = try m.optional(4, String.self)
            built.finishedAt = try m.optional(5, String.self)
            built.containerID = try m.optional(6, String.self)
            return built
        }
    }
}

extension Node: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["apiVersion", "kind", "metadata", "spec", "status"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Node {
        try decoder.withMembers(members) { m in
            let apiVersion = try m.optional(0, String.self)
            let kind = try m.optional(1, String.self)
            let metadata = try m.required(2, ObjectMeta.self)
            var built = Node(metadata: metadata)
            built.apiVersion = apiVersion
            built.kind = kind
            built.metadata = metadata
            built.spec = try m.optional(3, NodeSpec.self)
            built.status = try m.optional(4, NodeStatus.self)
            return built
        }
    }
}

extension NodeSpec: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["podCIDR", "podCIDRs", "unschedulable", "taints", "providerID"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeSpec {
        try decoder.withMembers(members) { m in
            var built = NodeSpec()
            built.podCIDR = try m.optional(0, String.self)
            built.podCIDRs = try m.optional(1, [String].self)
            built.unschedulable = try m.optional(2, Bool.self)
            built.taints = try m.optional(3, [Taint].self)
            built.providerID = try m.optional(4, String.self)
            return built
        }
    }
}

extension Taint: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["key", "value", "effect", "timeAdded"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Taint {
        try decoder.withMembers(members) { m in
            let key = try m.required(0, String.self)
            let value = try m.optional(1, String.self)
            let effect = try m.required(2, String.self)
            var built = Taint(key: key, effect: effect)
            built.key = key
            built.value = value
            built.effect = effect
            built.timeAdded = try m.optional(3, String.self)
            return built
        }
    }
}

extension NodeStatus: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["capacity", "allocatable", "conditions", "addresses", "daemonEndpoints", "nodeInfo", "images"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeStatus {
        try decoder.withMembers(members) { m in
            var built = NodeStatus()
            built.capacity = try m.optional(0, ResourceList.self)
            built.allocatable = try m.optional(1, ResourceList.self)
            built.conditions = try m.optional(2, [NodeCondition].self)
            built.addresses = try m.optional(3, [NodeAddress].self)
            built.daemonEndpoints = try m.optional(4, NodeDaemonEndpoints.self)
            built.nodeInfo = try m.optional(5, NodeSystemInfo.self)
            built.images = try m.optional(6, [ContainerImage].self)
            return built
        }
    }
}

extension NodeCondition: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["type", "status", "lastHeartbeatTime", "lastTransitionTime", "reason", "message"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeCondition {
        try decoder.withMembers(members) { m in
            let type = try m.required(0, String.self)
            let status = try m.required(1, String.self)
            var built = NodeCondition(type: type, status: status)
            built.type = type
            built.status = status
            built.lastHeartbeatTime = try m.optional(2, String.self)
            built.lastTransitionTime = try m.optional(3, String.self)
            built.reason = try m.optional(4, String.self)
            built.message = try m.optional(5, String.self)
            return built
        }
    }
}

extension NodeAddress: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["type", "address"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeAddress {
        try decoder.withMembers(members) { m in
            let type = try m.required(0, String.self)
            let address = try m.required(1, String.self)
            var built = NodeAddress(type: type, address: address)
            built.type = type
            built.address = address
            return built
        }
    }
}

extension NodeDaemonEndpoints: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["kubeletEndpoint"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeDaemonEndpoints {
        try decoder.withMembers(members) { m in
            var built = NodeDaemonEndpoints(kubeletPort: 0)
            built.kubeletEndpoint = try m.optional(0, DaemonEndpoint.self)
            return built
        }
    }
}

extension NodeDaemonEndpoints.DaemonEndpoint: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["Port"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeDaemonEndpoints.DaemonEndpoint {
        try decoder.withMembers(members) { m in
            let Port = try m.required(0, Int32.self)
            var built = NodeDaemonEndpoints.DaemonEndpoint(port: Port)
            built.Port = Port
            return built
        }
    }
}

extension NodeSystemInfo: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture"])
    static func decode(from decoder: JSONTapeDecoder) throws -> NodeSystemInfo {
        try decoder.withMembers(members) { m in
            let machineID = try m.required(0, String.self)
            let systemUUID = try m.required(1, String.self)
            let bootID = try m.required(2, String.self)
            let kernelVersion = try m.required(3, String.self)
            let osImage = try m.required(4, String.self)
            let containerRuntimeVersion = try m.required(5, String.self)
            let kubeletVersion = try m.required(6, String.self)
            let kubeProxyVersion = try m.required(7, String.self)
            let operatingSystem = try m.required(8, String.self)
            let architecture = try m.required(9, String.self)
            var built = NodeSystemInfo(machineID: machineID, systemUUID: systemUUID, bootID: bootID, kernelVersion: kernelVersion, osImage: osImage, containerRuntimeVersion: containerRuntimeVersion, kubeletVersion: kubeletVersion, kubeProxyVersion: kubeProxyVersion, operatingSystem: operatingSystem, architecture: architecture)
            built.machineID = machineID
            built.systemUUID = systemUUID
            built.bootID = bootID
            built.kernelVersion = kernelVersion
            built.osImage = osImage
            built.containerRuntimeVersion = containerRuntimeVersion
            built.kubeletVersion = kubeletVersion
            built.kubeProxyVersion = kubeProxyVersion
            built.operatingSystem = operatingSystem
            built.architecture = architecture
            return built
        }
    }
}

extension ContainerImage: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["names", "sizeBytes"])
    static func decode(from decoder: JSONTapeDecoder) throws -> ContainerImage {
        try decoder.withMembers(members) { m in
            var built = ContainerImage(names: nil, sizeBytes: nil)
            built.names = try m.optional(0, [String].self)
            built.sizeBytes = try m.optional(1, Int64.self)
            return built
        }
    }
}

extension Lease: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["apiVersion", "kind", "metadata", "spec"])
    static func decode(from decoder: JSONTapeDecoder) throws -> Lease {
        try decoder.withMembers(members) { m in
            let apiVersion = try m.optional(0, String.self)
            let kind = try m.optional(1, String.self)
            let metadata = try m.required(2, ObjectMeta.self)
            var built = Lease(metadata: metadata)
            built.apiVersion = apiVersion
            built.kind = kind
            built.metadata = metadata
            built.spec = try m.optional(3, LeaseSpec.self)
            return built
        }
    }
}

extension LeaseSpec: JSONTapeDecodable {
    private static let members = JSONTapeMembers(["holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions", "strategy", "preferredHolder"])
    static func decode(from decoder: JSONTapeDecoder) throws -> LeaseSpec {
        try decoder.withMembers(members) { m in
            var built = LeaseSpec()
            built.holderIdentity = try m.optional(0, String.self)
            built.leaseDurationSeconds = try m.optional(1, Int32.self)
            built.acquireTime = try m.optional(2, String.self)
            built.renewTime = try m.optional(3, String.self)
            built.leaseTransitions = try m.optional(4, Int32.self)
            built.strategy = try m.optional(5, String.self)
            built.preferredHolder = try m.optional(6, String.self)
            return built
        }
    }
}

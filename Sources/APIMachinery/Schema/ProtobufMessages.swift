/// How one protobuf field's value is written on the wire and shown in JSON.
public enum ProtobufValueType: Sendable, Hashable {
    case string
    case int32
    case int64
    case bool
    /// Length-delimited bytes; base64 in JSON.
    case bytes
    case double
    /// meta/v1 Time: a `{seconds=1}` message (an empty message is the zero time, `null` in JSON);
    /// RFC 3339 with whole seconds in JSON.
    case time
    /// meta/v1 MicroTime: `{seconds=1, nanos=2}`; RFC 3339 with six fractional digits in JSON.
    case microTime
    /// resource.Quantity: `{string=1}`; the string in JSON.
    case quantity
    /// intstr.IntOrString: `{type=1, intVal=2, strVal=3}`; a number or a string in JSON.
    case intOrString
    /// meta/v1 FieldsV1: `{Raw=1}` holding JSON text; that JSON value in JSON.
    case fieldsV1
    /// runtime.RawExtension: `{raw=1}` holding JSON text or a `k8s\0`-framed protobuf object.
    case rawExtension
    /// A message in the table, by OpenAPI definition name (`io.k8s.api.core.v1.PodSpec`).
    case message(String)

    /// Whether the value is a varint, fixed64 or string scalar (not a message).
    var isScalar: Bool {
        switch self {
        case .string, .int32, .int64, .bool, .bytes, .double: return true
        default: return false
        }
    }
}

/// One field of a protobuf message: its number, its JSON name and how it is shaped.
public struct ProtobufField: Sendable {
    public enum Cardinality: Sendable { case single, repeated, map }

    public var number: Int
    /// The JSON key (upstream's proto field names are the JSON names).
    public var jsonName: String
    public var type: ProtobufValueType
    /// `repeated`, or a map written as repeated `{key=1, value=2}` entry messages (keys are strings).
    public var cardinality: Cardinality
    /// An embedded Go struct whose fields JSON shows in the parent object (Volume's volumeSource,
    /// Probe's handler, EphemeralContainer's ephemeralContainerCommon).
    public var isInline: Bool
    /// Whether a zero scalar (empty string, 0, false) read from the wire stays in the JSON. Go's
    /// generated marshallers write every non-pointer scalar, and encoding/json drops the zero
    /// ones tagged `omitempty`; pointer fields are written only when set, so a zero there is
    /// meaningful (replicas: 0, automountServiceAccountToken: false) and is kept.
    public var keepsZero: Bool
}

/// A protobuf message: its definition name and fields, indexed by number and by JSON name.
public struct ProtobufMessage: Sendable {
    public var name: String
    public var fields: [ProtobufField]
    private var byNumber: [Int: Int]
    private var byJSONName: [String: Int]

    init(name: String, fields: [ProtobufField]) {
        self.name = name
        self.fields = fields.sorted { $0.number < $1.number }
        var byNumber: [Int: Int] = [:]
        var byJSONName: [String: Int] = [:]
        for (i, field) in self.fields.enumerated() {
            byNumber[field.number] = i
            if !field.isInline { byJSONName[field.jsonName] = i }
        }
        self.byNumber = byNumber
        self.byJSONName = byJSONName
    }

    public func field(number: Int) -> ProtobufField? { byNumber[number].map { fields[$0] } }
    public func field(jsonName: String) -> ProtobufField? { byJSONName[jsonName].map { fields[$0] } }
}

/// The protobuf messages of the built-in kinds, keyed by the same OpenAPI definition names as
/// `SchemaRegistry`'s type schemas. Immutable and `Sendable`.
///
/// The field numbers are a parallel table rather than an addition to `FieldSchema` because the
/// wire shapes do not map one to one onto the JSON schemas: inline embedded messages (a volume's
/// source, a probe's handler) have no JSON field, several structures the JSON schemas leave as
/// free-form values (volumesAttached, a job's podFailurePolicy rules) are typed messages on the
/// wire, and whether a zero value survives depends on Go pointer-ness, which JSON does not show.
/// `SchemaRegistry.builtin` and this table are checked against each other by the unit tests.
public struct ProtobufSchemas: Sendable {
    private var messages: [String: ProtobufMessage]

    /// The message with OpenAPI definition name `name`, or nil when the table has none.
    public func message(named name: String) -> ProtobufMessage? { messages[name] }

    /// Every message, by definition name.
    public var all: [String: ProtobufMessage] { messages }

    /// The message of a top-level `kind` in `apiVersion`. meta/v1's kinds (Status, DeleteOptions,
    /// WatchEvent) are found whatever group they are sent under, as upstream registers them in
    /// every group version.
    public func message(apiVersion: String, kind: String) -> ProtobufMessage? {
        if ProtobufSchemas.metaKinds.contains(kind) { return messages[ProtobufSchemas.metaPrefix + kind] }
        let parts = apiVersion.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, let version = parts.last, !version.isEmpty else { return nil }
        let group = parts.count == 2 ? parts[0] : ""
        return messages["\(definitionPrefix(group: group, version: version)).\(kind)"]
    }

    static let metaKinds: Set<String> = ["Status", "DeleteOptions", "WatchEvent"]
    static let metaPrefix = "io.k8s.apimachinery.pkg.apis.meta.v1."

    /// The built-in table, parsed once from `ProtobufSchemas.table`.
    public static let builtin: ProtobufSchemas = {
        do {
            return try ProtobufSchemas(table: table)
        } catch {
            // The table is a constant checked by the unit tests; a bad line is a programming error.
            fatalError("built-in protobuf table: \(error)")
        }
    }()

    /// Parses a table in the format of `ProtobufSchemas.table`: one message per line,
    /// `<alias>.<Name> field=number[:type][!] ...`, continued on lines indented further. Types
    /// are `string` (the default), `int32`, `int64`, `bool`, `bytes`, `double`, `time`,
    /// `microtime`, `quantity`, `intorstring`, `fieldsv1`, `raw` or a message `<alias>.<Name>`;
    /// `[]` before a type makes it repeated, `map:` a map from strings; `!` keeps zero values;
    /// `...` before a field name marks an inline embedded message.
    init(table: String) throws(ProtobufError) {
        var messages: [String: ProtobufMessage] = [:]
        var current: (name: String, fields: [ProtobufField])?
        func finish() {
            if let current { messages[current.name] = ProtobufMessage(name: current.name, fields: current.fields) }
        }
        for line in table.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let first = words.first else { continue }
            var tokens = words[...]
            if !line.hasPrefix(" ") {
                finish()
                current = (try ProtobufSchemas.expand(String(first)), [])
                tokens = words.dropFirst()
            }
            guard current != nil else { throw ProtobufError(.schema, "table line before any message: \(line)") }
            for token in tokens { current!.fields.append(try ProtobufSchemas.parseField(String(token))) }
        }
        finish()
        for message in messages.values {
            for field in message.fields {
                if case .message(let name) = field.type, messages[name] == nil {
                    throw ProtobufError(.schema, "\(message.name).\(field.jsonName) refers to \(name), which the table lacks")
                }
            }
        }
        self.messages = messages
    }

    static let aliases: [String: String] = [
        "meta": "io.k8s.apimachinery.pkg.apis.meta.v1", "core": "io.k8s.api.core.v1", "apps": "io.k8s.api.apps.v1",
        "batch": "io.k8s.api.batch.v1", "coordination": "io.k8s.api.coordination.v1", "discovery": "io.k8s.api.discovery.v1",
        "policy": "io.k8s.api.policy.v1", "autoscaling": "io.k8s.api.autoscaling.v1",
    ]

    static func expand(_ short: String) throws(ProtobufError) -> String {
        guard let dot = short.firstIndex(of: "."), let prefix = aliases[String(short[..<dot])] else {
            throw ProtobufError(.schema, "unknown message alias in \"\(short)\"")
        }
        return prefix + short[dot...]
    }

    static func parseField(_ token: String) throws(ProtobufError) -> ProtobufField {
        var text = Substring(token)
        let inline = text.hasPrefix("...")
        if inline { text = text.dropFirst(3) }
        let keepsZero = text.hasSuffix("!")
        if keepsZero { text = text.dropLast() }
        guard let equals = text.firstIndex(of: "=") else { throw ProtobufError(.schema, "field token without a number: \(token)") }
        let name = String(text[..<equals])
        let rest = text[text.index(after: equals)...]
        let numberText = rest.prefix { $0 != ":" }
        guard let number = Int(numberText), number > 0, !name.isEmpty else { throw ProtobufError(.schema, "bad field token: \(token)") }
        var typeText = rest.dropFirst(numberText.count + 1)
        var cardinality = ProtobufField.Cardinality.single
        if typeText.hasPrefix("[]") { cardinality = .repeated; typeText = typeText.dropFirst(2) }
        else if typeText.hasPrefix("map:") { cardinality = .map; typeText = typeText.dropFirst(4) }
        let type: ProtobufValueType
        switch typeText {
        case "", "string": type = .string
        case "int32": type = .int32
        case "int64": type = .int64
        case "bool": type = .bool
        case "bytes": type = .bytes
        case "double": type = .double
        case "time": type = .time
        case "microtime": type = .microTime
        case "quantity": type = .quantity
        case "intorstring": type = .intOrString
        case "fieldsv1": type = .fieldsV1
        case "raw": type = .rawExtension
        default: type = .message(try expand(String(typeText)))
        }
        return ProtobufField(number: number, jsonName: name, type: type, cardinality: cardinality, isInline: inline, keepsZero: keepsZero)
    }

    /// Field numbers and types from upstream's generated.proto files (k8s.io/api v0.34 core, apps,
    /// batch, coordination, discovery, policy and autoscaling v1; apimachinery's meta/v1), with
    /// JSON names and pointer/omitempty facts from the matching types.go. Every message reachable
    /// from the served kinds, their lists, Binding, Eviction, Scale, Status, DeleteOptions and
    /// WatchEvent is here.
    static let table = """
        meta.Status metadata=1:meta.ListMeta status=2 message=3 reason=4 details=5:meta.StatusDetails code=6:int32
        meta.DeleteOptions gracePeriodSeconds=1:int64! preconditions=2:meta.Preconditions orphanDependents=3:bool! propagationPolicy=4!
            dryRun=5:[]string ignoreStoreReadErrorWithClusterBreakingPotential=6:bool!
        meta.ObjectMeta name=1 generateName=2 namespace=3 selfLink=4 uid=5 resourceVersion=6 generation=7:int64
            creationTimestamp=8:time deletionTimestamp=9:time deletionGracePeriodSeconds=10:int64! labels=11:map:string
            annotations=12:map:string ownerReferences=13:[]meta.OwnerReference finalizers=14:[]string
            managedFields=17:[]meta.ManagedFieldsEntry
        meta.ListMeta selfLink=1 resourceVersion=2 continue=3 remainingItemCount=4:int64!
        meta.StatusDetails name=1 group=2 kind=3 causes=4:[]meta.StatusCause retryAfterSeconds=5:int32 uid=6
        meta.Preconditions uid=1! resourceVersion=2!
        meta.OwnerReference kind=1! name=3! uid=4! apiVersion=5! controller=6:bool! blockOwnerDeletion=7:bool!
        meta.ManagedFieldsEntry manager=1 operation=2 apiVersion=3 time=4:time fieldsType=6 fieldsV1=7:fieldsv1 subresource=8
        meta.Condition type=1! status=2! observedGeneration=3:int64 lastTransitionTime=4:time reason=5! message=6!
        meta.LabelSelector matchLabels=1:map:string matchExpressions=2:[]meta.LabelSelectorRequirement
        meta.StatusCause reason=1 message=2 field=3
        meta.LabelSelectorRequirement key=1! operator=2! values=3:[]string
        meta.WatchEvent type=1! object=2:raw
        core.Namespace metadata=1:meta.ObjectMeta spec=2:core.NamespaceSpec status=3:core.NamespaceStatus
        core.NamespaceList metadata=1:meta.ListMeta items=2:[]core.Namespace
        core.Pod metadata=1:meta.ObjectMeta spec=2:core.PodSpec status=3:core.PodStatus
        core.PodList metadata=1:meta.ListMeta items=2:[]core.Pod
        core.Service metadata=1:meta.ObjectMeta spec=2:core.ServiceSpec status=3:core.ServiceStatus
        core.ServiceList metadata=1:meta.ListMeta items=2:[]core.Service
        core.Endpoints metadata=1:meta.ObjectMeta subsets=2:[]core.EndpointSubset
        core.EndpointsList metadata=1:meta.ListMeta items=2:[]core.Endpoints
        core.Node metadata=1:meta.ObjectMeta spec=2:core.NodeSpec status=3:core.NodeStatus
        core.NodeList metadata=1:meta.ListMeta items=2:[]core.Node
        core.ConfigMap metadata=1:meta.ObjectMeta data=2:map:string binaryData=3:map:bytes immutable=4:bool!
        core.ConfigMapList metadata=1:meta.ListMeta items=2:[]core.ConfigMap
        core.Secret metadata=1:meta.ObjectMeta data=2:map:bytes type=3 stringData=4:map:string immutable=5:bool!
        core.SecretList metadata=1:meta.ListMeta items=2:[]core.Secret
        core.ServiceAccount metadata=1:meta.ObjectMeta secrets=2:[]core.ObjectReference imagePullSecrets=3:[]core.LocalObjectReference
            automountServiceAccountToken=4:bool!
        core.ServiceAccountList metadata=1:meta.ListMeta items=2:[]core.ServiceAccount
        core.Event metadata=1:meta.ObjectMeta involvedObject=2:core.ObjectReference reason=3 message=4 source=5:core.EventSource
            firstTimestamp=6:time lastTimestamp=7:time count=8:int32 type=9 eventTime=10:microtime
            series=11:core.EventSeries action=12 related=13:core.ObjectReference reportingComponent=14!
            reportingInstance=15!
        core.EventList metadata=1:meta.ListMeta items=2:[]core.Event
        core.Binding metadata=1:meta.ObjectMeta target=2:core.ObjectReference
        core.NamespaceSpec finalizers=1:[]string
        core.NamespaceStatus phase=1 conditions=2:[]core.NamespaceCondition
        core.PodSpec volumes=1:[]core.Volume containers=2:[]core.Container restartPolicy=3 terminationGracePeriodSeconds=4:int64!
            activeDeadlineSeconds=5:int64! dnsPolicy=6 nodeSelector=7:map:string serviceAccountName=8 serviceAccount=9
            nodeName=10 hostNetwork=11:bool hostPID=12:bool hostIPC=13:bool securityContext=14:core.PodSecurityContext
            imagePullSecrets=15:[]core.LocalObjectReference hostname=16 subdomain=17 affinity=18:core.Affinity
            schedulerName=19 initContainers=20:[]core.Container automountServiceAccountToken=21:bool!
            tolerations=22:[]core.Toleration hostAliases=23:[]core.HostAlias priorityClassName=24 priority=25:int32!
            dnsConfig=26:core.PodDNSConfig shareProcessNamespace=27:bool! readinessGates=28:[]core.PodReadinessGate
            runtimeClassName=29! enableServiceLinks=30:bool! preemptionPolicy=31! overhead=32:map:quantity
            topologySpreadConstraints=33:[]core.TopologySpreadConstraint ephemeralContainers=34:[]core.EphemeralContainer
            setHostnameAsFQDN=35:bool! os=36:core.PodOS hostUsers=37:bool! schedulingGates=38:[]core.PodSchedulingGate
            resourceClaims=39:[]core.PodResourceClaim resources=40:core.ResourceRequirements hostnameOverride=41!
        core.PodStatus phase=1 conditions=2:[]core.PodCondition message=3 reason=4 hostIP=5 podIP=6 startTime=7:time
            containerStatuses=8:[]core.ContainerStatus qosClass=9 initContainerStatuses=10:[]core.ContainerStatus
            nominatedNodeName=11 podIPs=12:[]core.PodIP ephemeralContainerStatuses=13:[]core.ContainerStatus resize=14
            resourceClaimStatuses=15:[]core.PodResourceClaimStatus hostIPs=16:[]core.HostIP observedGeneration=17:int64
            extendedResourceClaimStatus=18:core.PodExtendedResourceClaimStatus
        core.ServiceSpec ports=1:[]core.ServicePort selector=2:map:string clusterIP=3 type=4 externalIPs=5:[]string sessionAffinity=7
            loadBalancerIP=8 loadBalancerSourceRanges=9:[]string externalName=10 externalTrafficPolicy=11
            healthCheckNodePort=12:int32 publishNotReadyAddresses=13:bool
            sessionAffinityConfig=14:core.SessionAffinityConfig ipFamilyPolicy=17! clusterIPs=18:[]string
            ipFamilies=19:[]string allocateLoadBalancerNodePorts=20:bool! loadBalancerClass=21! internalTrafficPolicy=22!
            trafficDistribution=23!
        core.ServiceStatus loadBalancer=1:core.LoadBalancerStatus conditions=2:[]meta.Condition
        core.EndpointSubset addresses=1:[]core.EndpointAddress notReadyAddresses=2:[]core.EndpointAddress ports=3:[]core.EndpointPort
        core.NodeSpec podCIDR=1 externalID=2 providerID=3 unschedulable=4:bool taints=5:[]core.Taint
            configSource=6:core.NodeConfigSource podCIDRs=7:[]string
        core.NodeStatus capacity=1:map:quantity allocatable=2:map:quantity phase=3 conditions=4:[]core.NodeCondition
            addresses=5:[]core.NodeAddress daemonEndpoints=6:core.NodeDaemonEndpoints nodeInfo=7:core.NodeSystemInfo
            images=8:[]core.ContainerImage volumesInUse=9:[]string volumesAttached=10:[]core.AttachedVolume
            config=11:core.NodeConfigStatus runtimeHandlers=12:[]core.NodeRuntimeHandler features=13:core.NodeFeatures
        core.ObjectReference kind=1 namespace=2 name=3 uid=4 apiVersion=5 resourceVersion=6 fieldPath=7
        core.LocalObjectReference name=1
        core.EventSource component=1 host=2
        core.EventSeries count=1:int32 lastObservedTime=2:microtime
        core.NamespaceCondition type=1! status=2! lastTransitionTime=4:time reason=5 message=6
        core.Volume name=1! ...volumeSource=2:core.VolumeSource
        core.Container name=1! image=2 command=3:[]string args=4:[]string workingDir=5 ports=6:[]core.ContainerPort
            env=7:[]core.EnvVar resources=8:core.ResourceRequirements volumeMounts=9:[]core.VolumeMount
            livenessProbe=10:core.Probe readinessProbe=11:core.Probe lifecycle=12:core.Lifecycle terminationMessagePath=13
            imagePullPolicy=14 securityContext=15:core.SecurityContext stdin=16:bool stdinOnce=17:bool tty=18:bool
            envFrom=19:[]core.EnvFromSource terminationMessagePolicy=20 volumeDevices=21:[]core.VolumeDevice
            startupProbe=22:core.Probe resizePolicy=23:[]core.ContainerResizePolicy restartPolicy=24!
            restartPolicyRules=25:[]core.ContainerRestartRule
        core.EphemeralContainer ...ephemeralContainerCommon=1:core.EphemeralContainerCommon targetContainerName=2
        core.PodSecurityContext seLinuxOptions=1:core.SELinuxOptions runAsUser=2:int64! runAsNonRoot=3:bool! supplementalGroups=4:[]int64
            fsGroup=5:int64! runAsGroup=6:int64! sysctls=7:[]core.Sysctl
            windowsOptions=8:core.WindowsSecurityContextOptions fsGroupChangePolicy=9!
            seccompProfile=10:core.SeccompProfile appArmorProfile=11:core.AppArmorProfile supplementalGroupsPolicy=12!
            seLinuxChangePolicy=13!
        core.Affinity nodeAffinity=1:core.NodeAffinity podAffinity=2:core.PodAffinity podAntiAffinity=3:core.PodAntiAffinity
        core.Toleration key=1 operator=2 value=3 effect=4 tolerationSeconds=5:int64!
        core.HostAlias ip=1! hostnames=2:[]string
        core.PodDNSConfig nameservers=1:[]string searches=2:[]string options=3:[]core.PodDNSConfigOption
        core.PodReadinessGate conditionType=1!
        core.TopologySpreadConstraint maxSkew=1:int32! topologyKey=2! whenUnsatisfiable=3! labelSelector=4:meta.LabelSelector minDomains=5:int32!
            nodeAffinityPolicy=6! nodeTaintsPolicy=7! matchLabelKeys=8:[]string
        core.PodOS name=1!
        core.PodSchedulingGate name=1!
        core.PodResourceClaim name=1! resourceClaimName=3! resourceClaimTemplateName=4!
        core.ResourceRequirements limits=1:map:quantity requests=2:map:quantity claims=3:[]core.ResourceClaim
        core.PodCondition type=1! status=2! lastProbeTime=3:time lastTransitionTime=4:time reason=5 message=6 observedGeneration=7:int64
        core.HostIP ip=1!
        core.PodIP ip=1!
        core.ContainerStatus name=1! state=2:core.ContainerState lastState=3:core.ContainerState ready=4:bool! restartCount=5:int32!
            image=6! imageID=7! containerID=8 started=9:bool! allocatedResources=10:map:quantity
            resources=11:core.ResourceRequirements volumeMounts=12:[]core.VolumeMountStatus user=13:core.ContainerUser
            allocatedResourcesStatus=14:[]core.ResourceStatus stopSignal=15!
        core.PodResourceClaimStatus name=1! resourceClaimName=2!
        core.PodExtendedResourceClaimStatus requestMappings=1:[]core.ContainerExtendedResourceRequest resourceClaimName=2!
        core.ServicePort name=1 protocol=2 port=3:int32! targetPort=4:intorstring nodePort=5:int32 appProtocol=6!
        core.SessionAffinityConfig clientIP=1:core.ClientIPConfig
        core.LoadBalancerStatus ingress=1:[]core.LoadBalancerIngress
        core.EndpointAddress ip=1! targetRef=2:core.ObjectReference hostname=3 nodeName=4!
        core.EndpointPort name=1 port=2:int32! protocol=3 appProtocol=4!
        core.Taint key=1! value=2 effect=3! timeAdded=4:time
        core.NodeConfigSource configMap=2:core.ConfigMapNodeConfigSource
        core.NodeCondition type=1! status=2! lastHeartbeatTime=3:time lastTransitionTime=4:time reason=5 message=6
        core.NodeAddress type=1! address=2!
        core.NodeDaemonEndpoints kubeletEndpoint=1:core.DaemonEndpoint
        core.NodeSystemInfo machineID=1! systemUUID=2! bootID=3! kernelVersion=4! osImage=5! containerRuntimeVersion=6! kubeletVersion=7!
            kubeProxyVersion=8! operatingSystem=9! architecture=10! swap=11:core.NodeSwapStatus
        core.ContainerImage names=1:[]string sizeBytes=2:int64
        core.AttachedVolume name=1! devicePath=2!
        core.NodeConfigStatus assigned=1:core.NodeConfigSource active=2:core.NodeConfigSource lastKnownGood=3:core.NodeConfigSource error=4
        core.NodeRuntimeHandler name=1! features=2:core.NodeRuntimeHandlerFeatures
        core.NodeFeatures supplementalGroupsPolicy=1:bool!
        core.PodTemplateSpec metadata=1:meta.ObjectMeta spec=2:core.PodSpec
        core.PersistentVolumeClaim metadata=1:meta.ObjectMeta spec=2:core.PersistentVolumeClaimSpec status=3:core.PersistentVolumeClaimStatus
        core.VolumeSource hostPath=1:core.HostPathVolumeSource emptyDir=2:core.EmptyDirVolumeSource
            gcePersistentDisk=3:core.GCEPersistentDiskVolumeSource
            awsElasticBlockStore=4:core.AWSElasticBlockStoreVolumeSource gitRepo=5:core.GitRepoVolumeSource
            secret=6:core.SecretVolumeSource nfs=7:core.NFSVolumeSource iscsi=8:core.ISCSIVolumeSource
            glusterfs=9:core.GlusterfsVolumeSource persistentVolumeClaim=10:core.PersistentVolumeClaimVolumeSource
            rbd=11:core.RBDVolumeSource flexVolume=12:core.FlexVolumeSource cinder=13:core.CinderVolumeSource
            cephfs=14:core.CephFSVolumeSource flocker=15:core.FlockerVolumeSource
            downwardAPI=16:core.DownwardAPIVolumeSource fc=17:core.FCVolumeSource azureFile=18:core.AzureFileVolumeSource
            configMap=19:core.ConfigMapVolumeSource vsphereVolume=20:core.VsphereVirtualDiskVolumeSource
            quobyte=21:core.QuobyteVolumeSource azureDisk=22:core.AzureDiskVolumeSource
            photonPersistentDisk=23:core.PhotonPersistentDiskVolumeSource portworxVolume=24:core.PortworxVolumeSource
            scaleIO=25:core.ScaleIOVolumeSource projected=26:core.ProjectedVolumeSource
            storageos=27:core.StorageOSVolumeSource csi=28:core.CSIVolumeSource ephemeral=29:core.EphemeralVolumeSource
            image=30:core.ImageVolumeSource
        core.ContainerPort name=1 hostPort=2:int32 containerPort=3:int32! protocol=4 hostIP=5
        core.EnvFromSource prefix=1 configMapRef=2:core.ConfigMapEnvSource secretRef=3:core.SecretEnvSource
        core.EnvVar name=1! value=2 valueFrom=3:core.EnvVarSource
        core.ContainerResizePolicy resourceName=1! restartPolicy=2!
        core.ContainerRestartRule action=1 exitCodes=2:core.ContainerRestartRuleOnExitCodes
        core.VolumeMount name=1! readOnly=2:bool mountPath=3! subPath=4 mountPropagation=5! subPathExpr=6 recursiveReadOnly=7!
        core.VolumeDevice name=1! devicePath=2!
        core.Probe ...handler=1:core.ProbeHandler initialDelaySeconds=2:int32 timeoutSeconds=3:int32 periodSeconds=4:int32
            successThreshold=5:int32 failureThreshold=6:int32 terminationGracePeriodSeconds=7:int64!
        core.Lifecycle postStart=1:core.LifecycleHandler preStop=2:core.LifecycleHandler stopSignal=3!
        core.SecurityContext capabilities=1:core.Capabilities privileged=2:bool! seLinuxOptions=3:core.SELinuxOptions runAsUser=4:int64!
            runAsNonRoot=5:bool! readOnlyRootFilesystem=6:bool! allowPrivilegeEscalation=7:bool! runAsGroup=8:int64!
            procMount=9! windowsOptions=10:core.WindowsSecurityContextOptions seccompProfile=11:core.SeccompProfile
            appArmorProfile=12:core.AppArmorProfile
        core.EphemeralContainerCommon name=1! image=2 command=3:[]string args=4:[]string workingDir=5 ports=6:[]core.ContainerPort
            env=7:[]core.EnvVar resources=8:core.ResourceRequirements volumeMounts=9:[]core.VolumeMount
            livenessProbe=10:core.Probe readinessProbe=11:core.Probe lifecycle=12:core.Lifecycle terminationMessagePath=13
            imagePullPolicy=14 securityContext=15:core.SecurityContext stdin=16:bool stdinOnce=17:bool tty=18:bool
            envFrom=19:[]core.EnvFromSource terminationMessagePolicy=20 volumeDevices=21:[]core.VolumeDevice
            startupProbe=22:core.Probe resizePolicy=23:[]core.ContainerResizePolicy restartPolicy=24!
            restartPolicyRules=25:[]core.ContainerRestartRule
        core.SELinuxOptions user=1 role=2 type=3 level=4
        core.WindowsSecurityContextOptions gmsaCredentialSpecName=1! gmsaCredentialSpec=2! runAsUserName=3! hostProcess=4:bool!
        core.Sysctl name=1! value=2!
        core.SeccompProfile type=1! localhostProfile=2!
        core.AppArmorProfile type=1! localhostProfile=2!
        core.NodeAffinity requiredDuringSchedulingIgnoredDuringExecution=1:core.NodeSelector
            preferredDuringSchedulingIgnoredDuringExecution=2:[]core.PreferredSchedulingTerm
        core.PodAffinity requiredDuringSchedulingIgnoredDuringExecution=1:[]core.PodAffinityTerm
            preferredDuringSchedulingIgnoredDuringExecution=2:[]core.WeightedPodAffinityTerm
        core.PodAntiAffinity requiredDuringSchedulingIgnoredDuringExecution=1:[]core.PodAffinityTerm
            preferredDuringSchedulingIgnoredDuringExecution=2:[]core.WeightedPodAffinityTerm
        core.PodDNSConfigOption name=1 value=2!
        core.ResourceClaim name=1! request=2
        core.ContainerState waiting=1:core.ContainerStateWaiting running=2:core.ContainerStateRunning
            terminated=3:core.ContainerStateTerminated
        core.VolumeMountStatus name=1! mountPath=2! readOnly=3:bool recursiveReadOnly=4!
        core.ContainerUser linux=1:core.LinuxContainerUser
        core.ResourceStatus name=1! resources=2:[]core.ResourceHealth
        core.ContainerExtendedResourceRequest containerName=1! resourceName=2! requestName=3!
        core.ClientIPConfig timeoutSeconds=1:int32!
        core.LoadBalancerIngress ip=1 hostname=2 ipMode=3! ports=4:[]core.PortStatus
        core.ConfigMapNodeConfigSource namespace=1! name=2! uid=3 resourceVersion=4 kubeletConfigKey=5!
        core.DaemonEndpoint Port=1:int32!
        core.NodeSwapStatus capacity=1:int64!
        core.NodeRuntimeHandlerFeatures recursiveReadOnlyMounts=1:bool! userNamespaces=2:bool!
        core.PersistentVolumeClaimSpec accessModes=1:[]string resources=2:core.VolumeResourceRequirements volumeName=3 selector=4:meta.LabelSelector
            storageClassName=5! volumeMode=6! dataSource=7:core.TypedLocalObjectReference
            dataSourceRef=8:core.TypedObjectReference volumeAttributesClassName=9!
        core.PersistentVolumeClaimStatus phase=1 accessModes=2:[]string capacity=3:map:quantity conditions=4:[]core.PersistentVolumeClaimCondition
            allocatedResources=5:map:quantity allocatedResourceStatuses=7:map:string currentVolumeAttributesClassName=8!
            modifyVolumeStatus=9:core.ModifyVolumeStatus
        core.HostPathVolumeSource path=1! type=2!
        core.EmptyDirVolumeSource medium=1 sizeLimit=2:quantity
        core.GCEPersistentDiskVolumeSource pdName=1! fsType=2 partition=3:int32 readOnly=4:bool
        core.AWSElasticBlockStoreVolumeSource volumeID=1! fsType=2 partition=3:int32 readOnly=4:bool
        core.GitRepoVolumeSource repository=1! revision=2 directory=3
        core.SecretVolumeSource secretName=1 items=2:[]core.KeyToPath defaultMode=3:int32! optional=4:bool!
        core.NFSVolumeSource server=1! path=2! readOnly=3:bool
        core.ISCSIVolumeSource targetPortal=1! iqn=2! lun=3:int32! iscsiInterface=4 fsType=5 readOnly=6:bool portals=7:[]string
            chapAuthDiscovery=8:bool secretRef=10:core.LocalObjectReference chapAuthSession=11:bool initiatorName=12!
        core.GlusterfsVolumeSource endpoints=1! path=2! readOnly=3:bool
        core.PersistentVolumeClaimVolumeSource claimName=1! readOnly=2:bool
        core.RBDVolumeSource monitors=1:[]string image=2! fsType=3 pool=4 user=5 keyring=6 secretRef=7:core.LocalObjectReference
            readOnly=8:bool
        core.FlexVolumeSource driver=1! fsType=2 secretRef=3:core.LocalObjectReference readOnly=4:bool options=5:map:string
        core.CinderVolumeSource volumeID=1! fsType=2 readOnly=3:bool secretRef=4:core.LocalObjectReference
        core.CephFSVolumeSource monitors=1:[]string path=2 user=3 secretFile=4 secretRef=5:core.LocalObjectReference readOnly=6:bool
        core.FlockerVolumeSource datasetName=1 datasetUUID=2
        core.DownwardAPIVolumeSource items=1:[]core.DownwardAPIVolumeFile defaultMode=2:int32!
        core.FCVolumeSource targetWWNs=1:[]string lun=2:int32! fsType=3 readOnly=4:bool wwids=5:[]string
        core.AzureFileVolumeSource secretName=1! shareName=2! readOnly=3:bool
        core.ConfigMapVolumeSource ...localObjectReference=1:core.LocalObjectReference items=2:[]core.KeyToPath defaultMode=3:int32!
            optional=4:bool!
        core.VsphereVirtualDiskVolumeSource volumePath=1! fsType=2 storagePolicyName=3 storagePolicyID=4
        core.QuobyteVolumeSource registry=1! volume=2! readOnly=3:bool user=4 group=5 tenant=6
        core.AzureDiskVolumeSource diskName=1! diskURI=2! cachingMode=3! fsType=4! readOnly=5:bool! kind=6!
        core.PhotonPersistentDiskVolumeSource pdID=1! fsType=2
        core.ProjectedVolumeSource sources=1:[]core.VolumeProjection defaultMode=2:int32!
        core.PortworxVolumeSource volumeID=1! fsType=2 readOnly=3:bool
        core.ScaleIOVolumeSource gateway=1! system=2! secretRef=3:core.LocalObjectReference sslEnabled=4:bool protectionDomain=5 storagePool=6
            storageMode=7 volumeName=8 fsType=9 readOnly=10:bool
        core.StorageOSVolumeSource volumeName=1 volumeNamespace=2 fsType=3 readOnly=4:bool secretRef=5:core.LocalObjectReference
        core.CSIVolumeSource driver=1! readOnly=2:bool! fsType=3! volumeAttributes=4:map:string
            nodePublishSecretRef=5:core.LocalObjectReference
        core.EphemeralVolumeSource volumeClaimTemplate=1:core.PersistentVolumeClaimTemplate
        core.ImageVolumeSource reference=1 pullPolicy=2
        core.ConfigMapEnvSource ...localObjectReference=1:core.LocalObjectReference optional=2:bool!
        core.SecretEnvSource ...localObjectReference=1:core.LocalObjectReference optional=2:bool!
        core.EnvVarSource fieldRef=1:core.ObjectFieldSelector resourceFieldRef=2:core.ResourceFieldSelector
            configMapKeyRef=3:core.ConfigMapKeySelector secretKeyRef=4:core.SecretKeySelector
            fileKeyRef=5:core.FileKeySelector
        core.ContainerRestartRuleOnExitCodes operator=1 values=2:[]int32
        core.ProbeHandler exec=1:core.ExecAction httpGet=2:core.HTTPGetAction tcpSocket=3:core.TCPSocketAction grpc=4:core.GRPCAction
        core.LifecycleHandler exec=1:core.ExecAction httpGet=2:core.HTTPGetAction tcpSocket=3:core.TCPSocketAction sleep=4:core.SleepAction
        core.Capabilities add=1:[]string drop=2:[]string
        core.NodeSelector nodeSelectorTerms=1:[]core.NodeSelectorTerm
        core.PreferredSchedulingTerm weight=1:int32! preference=2:core.NodeSelectorTerm
        core.PodAffinityTerm labelSelector=1:meta.LabelSelector namespaces=2:[]string topologyKey=3! namespaceSelector=4:meta.LabelSelector
            matchLabelKeys=5:[]string mismatchLabelKeys=6:[]string
        core.WeightedPodAffinityTerm weight=1:int32! podAffinityTerm=2:core.PodAffinityTerm
        core.ContainerStateWaiting reason=1 message=2
        core.ContainerStateRunning startedAt=1:time
        core.ContainerStateTerminated exitCode=1:int32! signal=2:int32 reason=3 message=4 startedAt=5:time finishedAt=6:time containerID=7
        core.LinuxContainerUser uid=1:int64! gid=2:int64! supplementalGroups=3:[]int64
        core.ResourceHealth resourceID=1! health=2
        core.PortStatus port=1:int32! protocol=2! error=3!
        core.VolumeResourceRequirements limits=1:map:quantity requests=2:map:quantity
        core.TypedLocalObjectReference apiGroup=1! kind=2! name=3!
        core.TypedObjectReference apiGroup=1! kind=2! name=3! namespace=4!
        core.PersistentVolumeClaimCondition type=1! status=2! lastProbeTime=3:time lastTransitionTime=4:time reason=5 message=6
        core.ModifyVolumeStatus targetVolumeAttributesClassName=1 status=2!
        core.KeyToPath key=1! path=2! mode=3:int32!
        core.DownwardAPIVolumeFile path=1! fieldRef=2:core.ObjectFieldSelector resourceFieldRef=3:core.ResourceFieldSelector mode=4:int32!
        core.VolumeProjection secret=1:core.SecretProjection downwardAPI=2:core.DownwardAPIProjection configMap=3:core.ConfigMapProjection
            serviceAccountToken=4:core.ServiceAccountTokenProjection
            clusterTrustBundle=5:core.ClusterTrustBundleProjection podCertificate=6:core.PodCertificateProjection
        core.PersistentVolumeClaimTemplate metadata=1:meta.ObjectMeta spec=2:core.PersistentVolumeClaimSpec
        core.ObjectFieldSelector apiVersion=1 fieldPath=2!
        core.ResourceFieldSelector containerName=1 resource=2! divisor=3:quantity
        core.ConfigMapKeySelector ...localObjectReference=1:core.LocalObjectReference key=2! optional=3:bool!
        core.SecretKeySelector ...localObjectReference=1:core.LocalObjectReference key=2! optional=3:bool!
        core.FileKeySelector volumeName=1! path=2! key=3! optional=4:bool!
        core.ExecAction command=1:[]string
        core.HTTPGetAction path=1 port=2:intorstring host=3 scheme=4 httpHeaders=5:[]core.HTTPHeader
        core.TCPSocketAction port=1:intorstring host=2
        core.GRPCAction port=1:int32! service=2!
        core.SleepAction seconds=1:int64!
        core.NodeSelectorTerm matchExpressions=1:[]core.NodeSelectorRequirement matchFields=2:[]core.NodeSelectorRequirement
        core.SecretProjection ...localObjectReference=1:core.LocalObjectReference items=2:[]core.KeyToPath optional=4:bool!
        core.DownwardAPIProjection items=1:[]core.DownwardAPIVolumeFile
        core.ConfigMapProjection ...localObjectReference=1:core.LocalObjectReference items=2:[]core.KeyToPath optional=4:bool!
        core.ServiceAccountTokenProjection audience=1 expirationSeconds=2:int64! path=3!
        core.ClusterTrustBundleProjection name=1! signerName=2! labelSelector=3:meta.LabelSelector path=4! optional=5:bool!
        core.PodCertificateProjection signerName=1 keyType=2 maxExpirationSeconds=3:int32! credentialBundlePath=4 keyPath=5 certificateChainPath=6
        core.HTTPHeader name=1! value=2!
        core.NodeSelectorRequirement key=1! operator=2! values=3:[]string
        apps.Deployment metadata=1:meta.ObjectMeta spec=2:apps.DeploymentSpec status=3:apps.DeploymentStatus
        apps.DeploymentList metadata=1:meta.ListMeta items=2:[]apps.Deployment
        apps.ReplicaSet metadata=1:meta.ObjectMeta spec=2:apps.ReplicaSetSpec status=3:apps.ReplicaSetStatus
        apps.ReplicaSetList metadata=1:meta.ListMeta items=2:[]apps.ReplicaSet
        apps.DaemonSet metadata=1:meta.ObjectMeta spec=2:apps.DaemonSetSpec status=3:apps.DaemonSetStatus
        apps.DaemonSetList metadata=1:meta.ListMeta items=2:[]apps.DaemonSet
        apps.StatefulSet metadata=1:meta.ObjectMeta spec=2:apps.StatefulSetSpec status=3:apps.StatefulSetStatus
        apps.StatefulSetList metadata=1:meta.ListMeta items=2:[]apps.StatefulSet
        apps.DeploymentSpec replicas=1:int32! selector=2:meta.LabelSelector template=3:core.PodTemplateSpec
            strategy=4:apps.DeploymentStrategy minReadySeconds=5:int32 revisionHistoryLimit=6:int32! paused=7:bool
            progressDeadlineSeconds=9:int32!
        apps.DeploymentStatus observedGeneration=1:int64 replicas=2:int32 updatedReplicas=3:int32 availableReplicas=4:int32
            unavailableReplicas=5:int32 conditions=6:[]apps.DeploymentCondition readyReplicas=7:int32
            collisionCount=8:int32! terminatingReplicas=9:int32!
        apps.ReplicaSetSpec replicas=1:int32! selector=2:meta.LabelSelector template=3:core.PodTemplateSpec minReadySeconds=4:int32
        apps.ReplicaSetStatus replicas=1:int32! fullyLabeledReplicas=2:int32 observedGeneration=3:int64 readyReplicas=4:int32
            availableReplicas=5:int32 conditions=6:[]apps.ReplicaSetCondition terminatingReplicas=7:int32!
        apps.DaemonSetSpec selector=1:meta.LabelSelector template=2:core.PodTemplateSpec updateStrategy=3:apps.DaemonSetUpdateStrategy
            minReadySeconds=4:int32 revisionHistoryLimit=6:int32!
        apps.DaemonSetStatus currentNumberScheduled=1:int32! numberMisscheduled=2:int32! desiredNumberScheduled=3:int32!
            numberReady=4:int32! observedGeneration=5:int64 updatedNumberScheduled=6:int32 numberAvailable=7:int32
            numberUnavailable=8:int32 collisionCount=9:int32! conditions=10:[]apps.DaemonSetCondition
        apps.StatefulSetSpec replicas=1:int32! selector=2:meta.LabelSelector template=3:core.PodTemplateSpec
            volumeClaimTemplates=4:[]core.PersistentVolumeClaim serviceName=5! podManagementPolicy=6
            updateStrategy=7:apps.StatefulSetUpdateStrategy revisionHistoryLimit=8:int32! minReadySeconds=9:int32
            persistentVolumeClaimRetentionPolicy=10:apps.StatefulSetPersistentVolumeClaimRetentionPolicy
            ordinals=11:apps.StatefulSetOrdinals
        apps.StatefulSetStatus observedGeneration=1:int64 replicas=2:int32! readyReplicas=3:int32 currentReplicas=4:int32
            updatedReplicas=5:int32 currentRevision=6 updateRevision=7 collisionCount=9:int32!
            conditions=10:[]apps.StatefulSetCondition availableReplicas=11:int32!
        apps.DeploymentStrategy type=1 rollingUpdate=2:apps.RollingUpdateDeployment
        apps.DeploymentCondition type=1! status=2! reason=4 message=5 lastUpdateTime=6:time lastTransitionTime=7:time
        apps.ReplicaSetCondition type=1! status=2! lastTransitionTime=3:time reason=4 message=5
        apps.DaemonSetUpdateStrategy type=1 rollingUpdate=2:apps.RollingUpdateDaemonSet
        apps.DaemonSetCondition type=1! status=2! lastTransitionTime=3:time reason=4 message=5
        apps.StatefulSetUpdateStrategy type=1 rollingUpdate=2:apps.RollingUpdateStatefulSetStrategy
        apps.StatefulSetPersistentVolumeClaimRetentionPolicy whenDeleted=1 whenScaled=2
        apps.StatefulSetOrdinals start=1:int32!
        apps.StatefulSetCondition type=1! status=2! lastTransitionTime=3:time reason=4 message=5
        apps.RollingUpdateDeployment maxUnavailable=1:intorstring maxSurge=2:intorstring
        apps.RollingUpdateDaemonSet maxUnavailable=1:intorstring maxSurge=2:intorstring
        apps.RollingUpdateStatefulSetStrategy partition=1:int32! maxUnavailable=2:intorstring
        batch.Job metadata=1:meta.ObjectMeta spec=2:batch.JobSpec status=3:batch.JobStatus
        batch.JobList metadata=1:meta.ListMeta items=2:[]batch.Job
        batch.JobSpec parallelism=1:int32! completions=2:int32! activeDeadlineSeconds=3:int64! selector=4:meta.LabelSelector
            manualSelector=5:bool! template=6:core.PodTemplateSpec backoffLimit=7:int32! ttlSecondsAfterFinished=8:int32!
            completionMode=9! suspend=10:bool! podFailurePolicy=11:batch.PodFailurePolicy backoffLimitPerIndex=12:int32!
            maxFailedIndexes=13:int32! podReplacementPolicy=14! managedBy=15! successPolicy=16:batch.SuccessPolicy
        batch.JobStatus conditions=1:[]batch.JobCondition startTime=2:time completionTime=3:time active=4:int32 succeeded=5:int32
            failed=6:int32 completedIndexes=7 uncountedTerminatedPods=8:batch.UncountedTerminatedPods ready=9:int32!
            failedIndexes=10! terminating=11:int32!
        batch.PodFailurePolicy rules=1:[]batch.PodFailurePolicyRule
        batch.SuccessPolicy rules=1:[]batch.SuccessPolicyRule
        batch.JobCondition type=1! status=2! lastProbeTime=3:time lastTransitionTime=4:time reason=5 message=6
        batch.UncountedTerminatedPods succeeded=1:[]string failed=2:[]string
        batch.PodFailurePolicyRule action=1! onExitCodes=2:batch.PodFailurePolicyOnExitCodesRequirement
            onPodConditions=3:[]batch.PodFailurePolicyOnPodConditionsPattern
        batch.SuccessPolicyRule succeededIndexes=1! succeededCount=2:int32!
        batch.PodFailurePolicyOnExitCodesRequirement containerName=1! operator=2! values=3:[]int32
        batch.PodFailurePolicyOnPodConditionsPattern type=1! status=2!
        coordination.Lease metadata=1:meta.ObjectMeta spec=2:coordination.LeaseSpec
        coordination.LeaseList metadata=1:meta.ListMeta items=2:[]coordination.Lease
        coordination.LeaseSpec holderIdentity=1! leaseDurationSeconds=2:int32! acquireTime=3:microtime renewTime=4:microtime
            leaseTransitions=5:int32! strategy=6! preferredHolder=7!
        discovery.EndpointSlice metadata=1:meta.ObjectMeta endpoints=2:[]discovery.Endpoint ports=3:[]discovery.EndpointPort addressType=4!
        discovery.EndpointSliceList metadata=1:meta.ListMeta items=2:[]discovery.EndpointSlice
        discovery.Endpoint addresses=1:[]string conditions=2:discovery.EndpointConditions hostname=3! targetRef=4:core.ObjectReference
            deprecatedTopology=5:map:string nodeName=6! zone=7! hints=8:discovery.EndpointHints
        discovery.EndpointPort name=1! protocol=2! port=3:int32! appProtocol=4!
        discovery.EndpointConditions ready=1:bool! serving=2:bool! terminating=3:bool!
        discovery.EndpointHints forZones=1:[]discovery.ForZone forNodes=2:[]discovery.ForNode
        discovery.ForZone name=1!
        discovery.ForNode name=1!
        policy.PodDisruptionBudget metadata=1:meta.ObjectMeta spec=2:policy.PodDisruptionBudgetSpec status=3:policy.PodDisruptionBudgetStatus
        policy.PodDisruptionBudgetList metadata=1:meta.ListMeta items=2:[]policy.PodDisruptionBudget
        policy.Eviction metadata=1:meta.ObjectMeta deleteOptions=2:meta.DeleteOptions
        policy.PodDisruptionBudgetSpec minAvailable=1:intorstring selector=2:meta.LabelSelector maxUnavailable=3:intorstring
            unhealthyPodEvictionPolicy=4!
        policy.PodDisruptionBudgetStatus observedGeneration=1:int64 disruptedPods=2:map:time disruptionsAllowed=3:int32! currentHealthy=4:int32!
            desiredHealthy=5:int32! expectedPods=6:int32! conditions=7:[]meta.Condition
        autoscaling.Scale metadata=1:meta.ObjectMeta spec=2:autoscaling.ScaleSpec status=3:autoscaling.ScaleStatus
        autoscaling.ScaleSpec replicas=1:int32
        autoscaling.ScaleStatus replicas=1:int32! selector=2
        """
}

/// core/v1 structures: the pod and its parts, services, endpoints, nodes and the small kinds.
/// List semantics (patch strategy, merge key, list type, map keys) are upstream's, from
/// k8s.io/api/core/v1/types.go; descriptions are one line each.
enum CoreSchemas {
    // MARK: References and selectors

    static let localObjectReference = core("LocalObjectReference", "Names an object in the same namespace.", atomic: true, [
        str("name", "Name of the referent."),
    ])
    static let objectReference = core("ObjectReference", "Points at any object.", atomic: true, [
        str("kind", "Kind of the referent."),
        str("namespace", "Namespace of the referent."),
        str("name", "Name of the referent."),
        str("uid", "UID of the referent."),
        str("apiVersion", "API version of the referent."),
        str("resourceVersion", "Version of the referent this reference was made at."),
        str("fieldPath", "Part of the referent this reference is about, e.g. a container."),
    ])
    static let objectFieldSelector = core("ObjectFieldSelector", "Selects a field of the pod.", atomic: true, [
        str("apiVersion", "Version of the schema fieldPath is written in."),
        str("fieldPath", "Path of the field to select."),
    ])
    static let resourceFieldSelector = core("ResourceFieldSelector", "Selects a container's resource request or limit.", atomic: true, [
        str("containerName", "Container whose resources are read."),
        str("resource", "Resource to select, e.g. limits.cpu."),
        quantity("divisor", "Unit the value is expressed in."),
    ])
    static let configMapKeySelector = core("ConfigMapKeySelector", "Selects one key of a ConfigMap.", atomic: true, [
        str("name", "Name of the ConfigMap."),
        str("key", "The key to select."),
        bool("optional", "Whether the ConfigMap or key may be missing."),
    ])
    static let secretKeySelector = core("SecretKeySelector", "Selects one key of a Secret.", atomic: true, [
        str("name", "Name of the Secret."),
        str("key", "The key to select."),
        bool("optional", "Whether the Secret or key may be missing."),
    ])
    static let keyToPath = core("KeyToPath", "Projects one key to a file path.", [
        str("key", "The key to project."),
        str("path", "Relative file path the key is written to."),
        int32("mode", "File mode bits of this file."),
    ])

    // MARK: Environment

    static let envVarSource = core("EnvVarSource", "Where an environment variable's value comes from.", [
        object("fieldRef", objectFieldSelector, "A field of the pod."),
        object("resourceFieldRef", resourceFieldSelector, "A resource of a container."),
        object("configMapKeyRef", configMapKeySelector, "A key of a ConfigMap."),
        object("secretKeyRef", secretKeySelector, "A key of a Secret."),
    ])
    static let envVar = core("EnvVar", "An environment variable of a container.", [
        str("name", "Variable name."),
        str("value", "Literal value; $(VAR) references are expanded."),
        object("valueFrom", envVarSource, "Source of the value when value is empty."),
    ])
    static let configMapEnvSource = core("ConfigMapEnvSource", "A ConfigMap whose keys become variables.", [
        str("name", "Name of the ConfigMap."),
        bool("optional", "Whether the ConfigMap may be missing."),
    ])
    static let secretEnvSource = core("SecretEnvSource", "A Secret whose keys become variables.", [
        str("name", "Name of the Secret."),
        bool("optional", "Whether the Secret may be missing."),
    ])
    static let envFromSource = core("EnvFromSource", "A source of many environment variables.", [
        str("prefix", "Prefix added to every key."),
        object("configMapRef", configMapEnvSource, "The ConfigMap to read."),
        object("secretRef", secretEnvSource, "The Secret to read."),
    ])

    // MARK: Container parts

    static let containerPort = core("ContainerPort", "A network port a container listens on.", [
        str("name", "IANA service name of the port."),
        int32("hostPort", "Port exposed on the host, if any."),
        int32("containerPort", "Port number in the pod's network namespace."),
        str("protocol", "TCP, UDP or SCTP.").defaulted(.string("TCP")),
        str("hostIP", "Host address to bind the host port to."),
    ])
    static let resourceClaim = core("ResourceClaim", "A pod resource claim a container uses.", [
        str("name", "Name of the claim in the pod spec."),
        str("request", "Request within the claim, if any."),
    ])
    static let resourceRequirements = core("ResourceRequirements", "Compute resources a container requests and may use.", [
        quantityMap("limits", "Most of each resource the container may use."),
        quantityMap("requests", "Least of each resource the container needs."),
        list("claims", resourceClaim, "Dynamic resource claims the container uses.").keyed("name"),
    ])
    static let containerResizePolicy = core("ContainerResizePolicy", "How a container reacts to a resource resize.", [
        str("resourceName", "Resource the policy applies to."),
        str("restartPolicy", "NotRequired or RestartContainer."),
    ])
    static let volumeMount = core("VolumeMount", "Where a volume is mounted in a container.", [
        str("name", "Name of the pod volume."),
        bool("readOnly", "Mount read-only."),
        str("recursiveReadOnly", "Disabled, IfPossible or Enabled."),
        str("mountPath", "Path in the container."),
        str("subPath", "Path within the volume to mount instead of its root."),
        str("mountPropagation", "None, HostToContainer or Bidirectional."),
        str("subPathExpr", "subPath with $(VAR) expansion."),
    ])
    static let volumeDevice = core("VolumeDevice", "A raw block device mapped into a container.", [
        str("name", "Name of the pod's PersistentVolumeClaim volume."),
        str("devicePath", "Device path in the container."),
    ])
    static let execAction = core("ExecAction", "Runs a command in the container.", [
        strings("command", "Command line; not run in a shell.").atomic(),
    ])
    static let httpHeader = core("HTTPHeader", "A custom HTTP header.", [
        str("name", "Header name."),
        str("value", "Header value."),
    ])
    static let httpGetAction = core("HTTPGetAction", "An HTTP GET request.", [
        str("path", "Path to request."),
        intOrString("port", "Port number or name."),
        str("host", "Host to connect to; the pod IP by default."),
        str("scheme", "HTTP or HTTPS."),
        list("httpHeaders", httpHeader, "Extra request headers.").atomic(),
    ])
    static let tcpSocketAction = core("TCPSocketAction", "Opens a TCP connection.", [
        intOrString("port", "Port number or name."),
        str("host", "Host to connect to; the pod IP by default."),
    ])
    static let grpcAction = core("GRPCAction", "A gRPC health check.", [
        int32("port", "Port of the gRPC service."),
        str("service", "Service name sent in the health check request."),
    ])
    static let sleepAction = core("SleepAction", "Waits for a while.", [
        int64("seconds", "Seconds to sleep."),
    ])
    static let probe = core("Probe", "A health check run against a container.", [
        object("exec", execAction, "Run a command; exit 0 is success."),
        object("httpGet", httpGetAction, "Send a GET; 2xx and 3xx are success."),
        object("tcpSocket", tcpSocketAction, "Connect; an open connection is success."),
        object("grpc", grpcAction, "Call the gRPC health service."),
        int32("initialDelaySeconds", "Seconds after start before the first probe."),
        int32("timeoutSeconds", "Seconds before a probe times out."),
        int32("periodSeconds", "Seconds between probes."),
        int32("successThreshold", "Consecutive successes that count as success."),
        int32("failureThreshold", "Consecutive failures that count as failure."),
        int64("terminationGracePeriodSeconds", "Grace period when a liveness failure kills the container."),
    ])
    static let lifecycleHandler = core("LifecycleHandler", "An action run at a lifecycle hook.", [
        object("exec", execAction, "Run a command."),
        object("httpGet", httpGetAction, "Send an HTTP GET."),
        object("tcpSocket", tcpSocketAction, "Deprecated; not supported as a hook."),
        object("sleep", sleepAction, "Sleep for a while."),
    ])
    static let lifecycle = core("Lifecycle", "Actions run after start and before stop.", [
        object("postStart", lifecycleHandler, "Run right after the container starts."),
        object("preStop", lifecycleHandler, "Run before the container is stopped."),
        str("stopSignal", "Signal sent to stop the container."),
    ])
    static let capabilities = core("Capabilities", "Linux capabilities to add and drop.", [
        strings("add", "Capabilities to add.").atomic(),
        strings("drop", "Capabilities to drop.").atomic(),
    ])
    static let seLinuxOptions = core("SELinuxOptions", "An SELinux label.", [
        str("user", "SELinux user."),
        str("role", "SELinux role."),
        str("type", "SELinux type."),
        str("level", "SELinux level."),
    ])
    static let windowsOptions = core("WindowsSecurityContextOptions", "Windows-only security settings.", [
        str("gmsaCredentialSpecName", "Name of the GMSA credential spec."),
        str("gmsaCredentialSpec", "Contents of the GMSA credential spec."),
        str("runAsUserName", "Windows user to run as."),
        bool("hostProcess", "Run as a Windows host process."),
    ])
    static let seccompProfile = core("SeccompProfile", "A seccomp profile.", [
        str("type", "RuntimeDefault, Unconfined or Localhost."),
        str("localhostProfile", "Profile file on the node, for Localhost."),
    ])
    static let appArmorProfile = core("AppArmorProfile", "An AppArmor profile.", [
        str("type", "RuntimeDefault, Unconfined or Localhost."),
        str("localhostProfile", "Profile loaded on the node, for Localhost."),
    ])
    static let securityContext = core("SecurityContext", "Security settings of one container.", [
        object("capabilities", capabilities, "Capabilities to add and drop."),
        bool("privileged", "Run privileged."),
        object("seLinuxOptions", seLinuxOptions, "SELinux label."),
        object("windowsOptions", windowsOptions, "Windows settings."),
        int64("runAsUser", "UID to run as."),
        int64("runAsGroup", "GID to run as."),
        bool("runAsNonRoot", "Refuse to start as UID 0."),
        bool("readOnlyRootFilesystem", "Mount the root filesystem read-only."),
        bool("allowPrivilegeEscalation", "Allow gaining more privileges than the parent (no_new_privs off)."),
        str("procMount", "Default or Unmasked /proc."),
        object("seccompProfile", seccompProfile, "Seccomp profile."),
        object("appArmorProfile", appArmorProfile, "AppArmor profile."),
    ])

    /// Fields shared by Container and EphemeralContainer.
    static func containerFields(ephemeral: Bool) -> [FieldSchema] {
        var fields: [FieldSchema] = [
            str("name", "Container name, a DNS label unique in the pod."),
            str("image", "Image reference."),
            strings("command", "Entrypoint; the image's ENTRYPOINT when empty.").atomic(),
            strings("args", "Arguments; the image's CMD when empty.").atomic(),
            str("workingDir", "Working directory."),
            list("ports", containerPort, "Ports the container exposes.").keyed("containerPort", "protocol", mergeKey: "containerPort"),
            list("envFrom", envFromSource, "Sources of many environment variables.").atomic(),
            list("env", envVar, "Environment variables.").keyed("name", mergeKey: "name"),
            object("resources", resourceRequirements, "Compute resources."),
            list("resizePolicy", containerResizePolicy, "How resource resizes are handled.").atomic(),
            str("restartPolicy", "Always for a sidecar init container."),
            list("volumeMounts", volumeMount, "Volumes mounted in the container.").keyed("mountPath", mergeKey: "mountPath"),
            list("volumeDevices", volumeDevice, "Block devices mapped in the container.").keyed("devicePath", mergeKey: "devicePath"),
            object("livenessProbe", probe, "Restart the container when this fails."),
            object("readinessProbe", probe, "Remove the pod from endpoints when this fails."),
            object("startupProbe", probe, "Other probes wait until this succeeds."),
            object("lifecycle", lifecycle, "Hooks run after start and before stop."),
            str("terminationMessagePath", "File the termination message is read from."),
            str("terminationMessagePolicy", "File or FallbackToLogsOnError."),
            str("imagePullPolicy", "Always, Never or IfNotPresent."),
            object("securityContext", securityContext, "Security settings."),
            bool("stdin", "Keep a stdin buffer open."),
            bool("stdinOnce", "Close stdin after the first attach ends."),
            bool("tty", "Allocate a TTY."),
        ]
        if ephemeral { fields.append(str("targetContainerName", "Container whose namespaces the ephemeral container joins.")) }
        return fields
    }
    static let container = core("Container", "A container run in a pod.", containerFields(ephemeral: false))
    static let ephemeralContainer = core("EphemeralContainer", "A temporary debugging container added to a running pod.", containerFields(ephemeral: true))

    // MARK: Volumes

    static let hostPathVolumeSource = core("HostPathVolumeSource", "A file or directory on the node.", [
        str("path", "Path on the node."),
        str("type", "What must exist at the path, e.g. Directory."),
    ])
    static let emptyDirVolumeSource = core("EmptyDirVolumeSource", "An empty directory that lives as long as the pod.", [
        str("medium", "Empty for disk, Memory for tmpfs."),
        quantity("sizeLimit", "Most space the directory may use."),
    ])
    static let secretVolumeSource = core("SecretVolumeSource", "A Secret's keys as files.", [
        str("secretName", "Name of the Secret."),
        list("items", keyToPath, "Keys to project; all when empty.").atomic(),
        int32("defaultMode", "Mode bits of the files."),
        bool("optional", "Whether the Secret may be missing."),
    ])
    static let configMapVolumeSource = core("ConfigMapVolumeSource", "A ConfigMap's keys as files.", [
        str("name", "Name of the ConfigMap."),
        list("items", keyToPath, "Keys to project; all when empty.").atomic(),
        int32("defaultMode", "Mode bits of the files."),
        bool("optional", "Whether the ConfigMap may be missing."),
    ])
    static let persistentVolumeClaimVolumeSource = core("PersistentVolumeClaimVolumeSource", "A PersistentVolumeClaim in the pod's namespace.", [
        str("claimName", "Name of the claim."),
        bool("readOnly", "Mount read-only."),
    ])
    static let downwardAPIVolumeFile = core("DownwardAPIVolumeFile", "A pod field written to a file.", [
        str("path", "Relative file path."),
        object("fieldRef", objectFieldSelector, "Pod field to write."),
        object("resourceFieldRef", resourceFieldSelector, "Container resource to write."),
        int32("mode", "Mode bits of the file."),
    ])
    static let downwardAPIVolumeSource = core("DownwardAPIVolumeSource", "Pod fields as files.", [
        list("items", downwardAPIVolumeFile, "The files to write.").atomic(),
        int32("defaultMode", "Mode bits of the files."),
    ])
    static let secretProjection = core("SecretProjection", "A Secret in a projected volume.", [
        str("name", "Name of the Secret."),
        list("items", keyToPath, "Keys to project; all when empty.").atomic(),
        bool("optional", "Whether the Secret may be missing."),
    ])
    static let configMapProjection = core("ConfigMapProjection", "A ConfigMap in a projected volume.", [
        str("name", "Name of the ConfigMap."),
        list("items", keyToPath, "Keys to project; all when empty.").atomic(),
        bool("optional", "Whether the ConfigMap may be missing."),
    ])
    static let downwardAPIProjection = core("DownwardAPIProjection", "Pod fields in a projected volume.", [
        list("items", downwardAPIVolumeFile, "The files to write.").atomic(),
    ])
    static let serviceAccountTokenProjection = core("ServiceAccountTokenProjection", "A service account token in a projected volume.", [
        str("audience", "Intended audience of the token."),
        int64("expirationSeconds", "Requested lifetime of the token."),
        str("path", "Relative file path of the token."),
    ])
    static let volumeProjection = core("VolumeProjection", "One source of a projected volume.", [
        object("secret", secretProjection, "A Secret."),
        object("downwardAPI", downwardAPIProjection, "Pod fields."),
        object("configMap", configMapProjection, "A ConfigMap."),
        object("serviceAccountToken", serviceAccountTokenProjection, "A service account token."),
        anyValue("clusterTrustBundle", "A ClusterTrustBundle; not interpreted here."),
    ])
    static let projectedVolumeSource = core("ProjectedVolumeSource", "Several sources in one directory.", [
        list("sources", volumeProjection, "The sources.").atomic(),
        int32("defaultMode", "Mode bits of the files."),
    ])
    static let csiVolumeSource = core("CSIVolumeSource", "An ephemeral volume from a CSI driver.", [
        str("driver", "Name of the CSI driver."),
        bool("readOnly", "Mount read-only."),
        str("fsType", "Filesystem type."),
        stringMap("volumeAttributes", "Driver-specific attributes."),
        object("nodePublishSecretRef", localObjectReference, "Secret passed to the driver."),
    ])
    static let nfsVolumeSource = core("NFSVolumeSource", "An NFS export.", [
        str("server", "NFS server host or address."),
        str("path", "Exported path."),
        bool("readOnly", "Mount read-only."),
    ])
    static let imageVolumeSource = core("ImageVolumeSource", "An OCI image or artifact mounted read-only.", [
        str("reference", "Image reference."),
        str("pullPolicy", "Always, Never or IfNotPresent."),
    ])
    /// Volume sources Nodekit does not interpret: kept as free-form values so manifests that use
    /// them are accepted, but their contents are not checked.
    static let opaqueVolumeSources = [
        "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "iscsi", "glusterfs", "rbd", "flexVolume", "cinder",
        "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
        "portworxVolume", "scaleIO", "storageos", "ephemeral",
    ]
    static let volume = core("Volume", "A named volume the pod's containers may mount.", [
        str("name", "Volume name, a DNS label unique in the pod."),
        object("hostPath", hostPathVolumeSource, "A path on the node."),
        object("emptyDir", emptyDirVolumeSource, "A scratch directory."),
        object("secret", secretVolumeSource, "A Secret."),
        object("nfs", nfsVolumeSource, "An NFS export."),
        object("persistentVolumeClaim", persistentVolumeClaimVolumeSource, "A PersistentVolumeClaim."),
        object("downwardAPI", downwardAPIVolumeSource, "Pod fields."),
        object("configMap", configMapVolumeSource, "A ConfigMap."),
        object("projected", projectedVolumeSource, "Several sources in one directory."),
        object("csi", csiVolumeSource, "An ephemeral CSI volume."),
        object("image", imageVolumeSource, "An OCI image."),
    ] + opaqueVolumeSources.map { anyValue($0, "A volume source Nodekit passes through unchecked.") })

    // MARK: Scheduling

    static let nodeSelectorRequirement = core("NodeSelectorRequirement", "One test on a node label or field.", [
        str("key", "Label key or field name."),
        str("operator", "In, NotIn, Exists, DoesNotExist, Gt or Lt."),
        strings("values", "Values the operator compares with.").atomic(),
    ])
    static let nodeSelectorTerm = core("NodeSelectorTerm", "Requirements that must all hold on a node.", atomic: true, [
        list("matchExpressions", nodeSelectorRequirement, "Tests on node labels.").atomic(),
        list("matchFields", nodeSelectorRequirement, "Tests on node fields.").atomic(),
    ])
    static let nodeSelector = core("NodeSelector", "Terms of which at least one must hold.", atomic: true, [
        list("nodeSelectorTerms", nodeSelectorTerm, "The alternatives.").atomic(),
    ])
    static let preferredSchedulingTerm = core("PreferredSchedulingTerm", "A weighted node preference.", [
        int32("weight", "Weight from 1 to 100."),
        object("preference", nodeSelectorTerm, "The preferred node term."),
    ])
    static let nodeAffinity = core("NodeAffinity", "Which nodes the pod may or prefers to run on.", [
        object("requiredDuringSchedulingIgnoredDuringExecution", nodeSelector, "Nodes the pod must run on."),
        list("preferredDuringSchedulingIgnoredDuringExecution", preferredSchedulingTerm, "Nodes the pod prefers.").atomic(),
    ])
    static let podAffinityTerm = core("PodAffinityTerm", "Pods that must (not) share a topology domain with this one.", [
        object("labelSelector", MetaSchemas.labelSelector, "Pods the term is about."),
        strings("namespaces", "Namespaces of those pods.").atomic(),
        str("topologyKey", "Node label defining the topology domain."),
        object("namespaceSelector", MetaSchemas.labelSelector, "Namespaces of those pods, by label."),
        strings("matchLabelKeys", "Pod label keys added to the selector with this pod's values.").atomic(),
        strings("mismatchLabelKeys", "Pod label keys added to the selector as not-equal.").atomic(),
    ])
    static let weightedPodAffinityTerm = core("WeightedPodAffinityTerm", "A weighted pod affinity preference.", [
        int32("weight", "Weight from 1 to 100."),
        object("podAffinityTerm", podAffinityTerm, "The preferred term."),
    ])
    static let podAffinity = core("PodAffinity", "Pods this pod should be placed near.", [
        list("requiredDuringSchedulingIgnoredDuringExecution", podAffinityTerm, "Terms that must hold.").atomic(),
        list("preferredDuringSchedulingIgnoredDuringExecution", weightedPodAffinityTerm, "Terms preferred.").atomic(),
    ])
    static let podAntiAffinity = core("PodAntiAffinity", "Pods this pod should be kept away from.", [
        list("requiredDuringSchedulingIgnoredDuringExecution", podAffinityTerm, "Terms that must hold.").atomic(),
        list("preferredDuringSchedulingIgnoredDuringExecution", weightedPodAffinityTerm, "Terms preferred.").atomic(),
    ])
    static let affinity = core("Affinity", "Scheduling constraints.", [
        object("nodeAffinity", nodeAffinity, "Constraints on nodes."),
        object("podAffinity", podAffinity, "Co-location with other pods."),
        object("podAntiAffinity", podAntiAffinity, "Separation from other pods."),
    ])
    static let toleration = core("Toleration", "Lets the pod run on nodes with a matching taint.", [
        str("key", "Taint key to match; empty matches all with Exists."),
        str("operator", "Exists or Equal."),
        str("value", "Taint value to match with Equal."),
        str("effect", "Taint effect to match; empty matches all."),
        int64("tolerationSeconds", "How long a NoExecute taint is tolerated."),
    ])
    static let topologySpreadConstraint = core("TopologySpreadConstraint", "How evenly pods spread over topology domains.", [
        int32("maxSkew", "Largest allowed difference in matching pods between domains."),
        str("topologyKey", "Node label defining the domains."),
        str("whenUnsatisfiable", "DoNotSchedule or ScheduleAnyway."),
        object("labelSelector", MetaSchemas.labelSelector, "Pods that are counted."),
        int32("minDomains", "Least number of eligible domains."),
        str("nodeAffinityPolicy", "Honor or Ignore the pod's node affinity when counting."),
        str("nodeTaintsPolicy", "Honor or Ignore node taints when counting."),
        strings("matchLabelKeys", "Pod label keys added to the selector with this pod's values.").atomic(),
    ])

    // MARK: Pod

    static let sysctl = core("Sysctl", "A namespaced kernel parameter.", [
        str("name", "Parameter name."),
        str("value", "Parameter value."),
    ])
    static let podSecurityContext = core("PodSecurityContext", "Security settings of all the pod's containers.", [
        object("seLinuxOptions", seLinuxOptions, "SELinux label."),
        object("windowsOptions", windowsOptions, "Windows settings."),
        int64("runAsUser", "UID to run as."),
        int64("runAsGroup", "GID to run as."),
        bool("runAsNonRoot", "Refuse to start containers as UID 0."),
        int64s("supplementalGroups", "Extra groups of the first process.").atomic(),
        str("supplementalGroupsPolicy", "Merge or Strict."),
        int64("fsGroup", "Group that owns the pod's volumes."),
        list("sysctls", sysctl, "Kernel parameters to set.").atomic(),
        str("fsGroupChangePolicy", "OnRootMismatch or Always."),
        object("seccompProfile", seccompProfile, "Seccomp profile."),
        object("appArmorProfile", appArmorProfile, "AppArmor profile."),
        str("seLinuxChangePolicy", "MountOption or Recursive."),
    ])
    static let hostAlias = core("HostAlias", "An /etc/hosts entry.", [
        str("ip", "Address of the entry."),
        strings("hostnames", "Names for the address.").atomic(),
    ])
    static let podDNSConfigOption = core("PodDNSConfigOption", "A resolver option.", [
        str("name", "Option name."),
        str("value", "Option value."),
    ])
    static let podDNSConfig = core("PodDNSConfig", "DNS settings beyond the DNS policy.", [
        strings("nameservers", "DNS server addresses.").atomic(),
        strings("searches", "Search domains.").atomic(),
        list("options", podDNSConfigOption, "Resolver options.").atomic(),
    ])
    static let podReadinessGate = core("PodReadinessGate", "An extra condition pod readiness waits for.", [
        str("conditionType", "Condition type in the pod's conditions."),
    ])
    static let podOS = core("PodOS", "The operating system the pod needs.", [
        str("name", "linux or windows."),
    ])
    static let podSchedulingGate = core("PodSchedulingGate", "A gate that holds the pod back from scheduling.", [
        str("name", "Gate name."),
    ])
    static let podResourceClaim = core("PodResourceClaim", "A dynamic resource claim of the pod.", [
        str("name", "Name containers use for the claim."),
        str("resourceClaimName", "An existing ResourceClaim."),
        str("resourceClaimTemplateName", "A ResourceClaimTemplate to create a claim from."),
    ])
    static let podSpec = core("PodSpec", "What a pod runs and how.", [
        list("volumes", volume, "Volumes the containers may mount.").keyed("name", mergeKey: "name", strategy: "merge,retainKeys"),
        list("initContainers", container, "Containers run to completion, in order, before the app containers.").keyed("name", mergeKey: "name"),
        list("containers", container, "The app containers.").keyed("name", mergeKey: "name"),
        list("ephemeralContainers", ephemeralContainer, "Debugging containers added to the running pod.").keyed("name", mergeKey: "name"),
        str("restartPolicy", "Always, OnFailure or Never."),
        int64("terminationGracePeriodSeconds", "Seconds between SIGTERM and SIGKILL on deletion."),
        int64("activeDeadlineSeconds", "Seconds the pod may run before it is failed."),
        str("dnsPolicy", "ClusterFirst, ClusterFirstWithHostNet, Default or None."),
        stringMap("nodeSelector", "Labels a node must have to run the pod.").atomicMap(),
        str("serviceAccountName", "Service account the pod runs as."),
        str("serviceAccount", "Deprecated alias of serviceAccountName."),
        bool("automountServiceAccountToken", "Mount the service account token."),
        str("nodeName", "Node the pod is bound to."),
        bool("hostNetwork", "Use the node's network namespace."),
        bool("hostPID", "Use the node's PID namespace."),
        bool("hostIPC", "Use the node's IPC namespace."),
        bool("shareProcessNamespace", "Share one PID namespace among the containers."),
        object("securityContext", podSecurityContext, "Pod-level security settings."),
        list("imagePullSecrets", localObjectReference, "Secrets for pulling images.").keyed("name", mergeKey: "name"),
        str("hostname", "Hostname of the pod."),
        str("subdomain", "Subdomain making the FQDN hostname.subdomain.namespace.svc."),
        object("affinity", affinity, "Scheduling constraints."),
        str("schedulerName", "Scheduler that places the pod."),
        list("tolerations", toleration, "Taints the pod tolerates.").atomic(),
        list("hostAliases", hostAlias, "Extra /etc/hosts entries.").keyed("ip", mergeKey: "ip"),
        str("priorityClassName", "PriorityClass of the pod."),
        int32("priority", "Priority resolved from the PriorityClass."),
        object("dnsConfig", podDNSConfig, "Extra DNS settings."),
        list("readinessGates", podReadinessGate, "Extra conditions readiness waits for.").atomic(),
        str("runtimeClassName", "RuntimeClass to run the pod with."),
        bool("enableServiceLinks", "Inject Service environment variables."),
        str("preemptionPolicy", "Never or PreemptLowerPriority."),
        quantityMap("overhead", "Resources the pod's sandbox uses."),
        list("topologySpreadConstraints", topologySpreadConstraint, "How pods spread over domains.").keyed("topologyKey", "whenUnsatisfiable", mergeKey: "topologyKey"),
        bool("setHostnameAsFQDN", "Make the hostname the FQDN."),
        object("os", podOS, "Operating system of the pod."),
        bool("hostUsers", "Use the host's user namespace."),
        list("schedulingGates", podSchedulingGate, "Gates holding the pod back from scheduling.").keyed("name", mergeKey: "name"),
        list("resourceClaims", podResourceClaim, "Dynamic resource claims.").keyed("name", mergeKey: "name", strategy: "merge,retainKeys"),
        object("resources", resourceRequirements, "Pod-level resources."),
    ])

    static let podCondition = core("PodCondition", "One aspect of the pod's state.", [
        str("type", "Condition type, e.g. Ready."),
        int64("observedGeneration", "Pod generation the condition was computed for."),
        str("status", "True, False or Unknown."),
        time("lastProbeTime", "When the condition was last probed."),
        time("lastTransitionTime", "When the status last changed."),
        str("reason", "Machine-readable reason."),
        str("message", "Human-readable detail."),
    ])
    static let containerStateWaiting = core("ContainerStateWaiting", "A container not running yet.", [
        str("reason", "Why it is waiting."),
        str("message", "Detail about the wait."),
    ])
    static let containerStateRunning = core("ContainerStateRunning", "A running container.", [
        time("startedAt", "When it started."),
    ])
    static let containerStateTerminated = core("ContainerStateTerminated", "A container that has exited.", [
        int32("exitCode", "Exit status."),
        int32("signal", "Signal that ended it."),
        str("reason", "Why it ended."),
        str("message", "Detail about the end."),
        time("startedAt", "When it started."),
        time("finishedAt", "When it ended."),
        str("containerID", "Runtime ID of the container."),
    ])
    static let containerState = core("ContainerState", "A container's state; one member is set.", [
        object("waiting", containerStateWaiting, "Waiting details."),
        object("running", containerStateRunning, "Running details."),
        object("terminated", containerStateTerminated, "Terminated details."),
    ])
    static let containerStatus = core("ContainerStatus", "The state of one container.", [
        str("name", "Container name."),
        object("state", containerState, "Current state."),
        object("lastState", containerState, "State of the previous run."),
        bool("ready", "Whether the readiness probe passes."),
        int32("restartCount", "Restarts so far."),
        str("image", "Image the container runs."),
        str("imageID", "Resolved image ID."),
        str("containerID", "Runtime ID, as runtime://id."),
        bool("started", "Whether the startup probe passed."),
        quantityMap("allocatedResources", "Resources allocated to the container."),
        object("resources", resourceRequirements, "Resources the runtime applied."),
        str("stopSignal", "Signal the runtime stops the container with."),
    ])
    static let podIP = core("PodIP", "One address of the pod.", [
        str("ip", "The address."),
    ])
    static let hostIP = core("HostIP", "One address of the pod's node.", [
        str("ip", "The address."),
    ])
    static let podStatus = core("PodStatus", "The observed state of a pod.", [
        int64("observedGeneration", "Pod generation the status was computed for."),
        str("phase", "Pending, Running, Succeeded, Failed or Unknown."),
        list("conditions", podCondition, "Current conditions.").keyed("type", mergeKey: "type"),
        str("message", "Why the pod is in this state."),
        str("reason", "Machine-readable reason, e.g. Evicted."),
        str("nominatedNodeName", "Node preemption made room on."),
        str("hostIP", "Primary address of the node."),
        list("hostIPs", hostIP, "Addresses of the node.").patch(strategy: "merge", mergeKey: "ip").atomic(),
        str("podIP", "Primary address of the pod."),
        list("podIPs", podIP, "Addresses of the pod.").keyed("ip", mergeKey: "ip"),
        time("startTime", "When the kubelet accepted the pod."),
        list("initContainerStatuses", containerStatus, "Status of the init containers.").atomic(),
        list("containerStatuses", containerStatus, "Status of the app containers.").atomic(),
        str("qosClass", "Guaranteed, Burstable or BestEffort."),
        list("ephemeralContainerStatuses", containerStatus, "Status of the ephemeral containers.").atomic(),
        str("resize", "Deprecated state of a resource resize."),
    ])
    static let podTemplateSpec = core("PodTemplateSpec", "Metadata and spec pods are created from.", [
        object("metadata", MetaSchemas.objectMeta, "Metadata of created pods."),
        object("spec", podSpec, "Spec of created pods."),
    ])

    static let pod = kind("", "v1", "Pod", "A group of containers run together on a node.", [
        object("spec", podSpec, "What the pod runs."),
        object("status", podStatus, "What the pod is doing; written by the kubelet."),
    ])

    static let binding = kind("", "v1", "Binding", "Binds a pod to a node (the binding subresource).", [
        object("target", objectReference, "The node to bind to."),
    ])

    // MARK: Service and Endpoints

    static let servicePort = core("ServicePort", "A port a Service exposes.", [
        str("name", "Port name, needed when there are several."),
        str("protocol", "TCP, UDP or SCTP.").defaulted(.string("TCP")),
        str("appProtocol", "Application protocol hint."),
        int32("port", "Port the Service listens on."),
        intOrString("targetPort", "Port number or name on the backing pods."),
        int32("nodePort", "Port opened on every node for NodePort and LoadBalancer."),
    ])
    static let clientIPConfig = core("ClientIPConfig", "Client IP session affinity settings.", [
        int32("timeoutSeconds", "How long a session sticks."),
    ])
    static let sessionAffinityConfig = core("SessionAffinityConfig", "Session affinity settings.", [
        object("clientIP", clientIPConfig, "ClientIP affinity settings."),
    ])
    static let serviceSpec = core("ServiceSpec", "What a Service exposes and how.", [
        list("ports", servicePort, "Exposed ports.").keyed("port", "protocol", mergeKey: "port"),
        stringMap("selector", "Labels of the backing pods.").atomicMap(),
        str("clusterIP", "Virtual address; None for a headless Service."),
        strings("clusterIPs", "Virtual addresses, one per IP family.").atomic(),
        str("type", "ClusterIP, NodePort, LoadBalancer or ExternalName."),
        strings("externalIPs", "Extra addresses the nodes accept traffic for.").atomic(),
        str("sessionAffinity", "None or ClientIP."),
        str("loadBalancerIP", "Deprecated requested load balancer address."),
        strings("loadBalancerSourceRanges", "Client ranges a load balancer admits.").atomic(),
        str("externalName", "DNS name an ExternalName Service aliases."),
        str("externalTrafficPolicy", "Cluster or Local for external traffic."),
        int32("healthCheckNodePort", "Node port of the health check for Local policy."),
        bool("publishNotReadyAddresses", "Publish endpoints before they are ready."),
        object("sessionAffinityConfig", sessionAffinityConfig, "Session affinity settings."),
        strings("ipFamilies", "IP families, IPv4 and/or IPv6.").atomic(),
        str("ipFamilyPolicy", "SingleStack, PreferDualStack or RequireDualStack."),
        bool("allocateLoadBalancerNodePorts", "Allocate node ports for LoadBalancer."),
        str("loadBalancerClass", "Load balancer implementation."),
        str("internalTrafficPolicy", "Cluster or Local for in-cluster traffic."),
        str("trafficDistribution", "Preference for how traffic is spread, e.g. PreferClose."),
    ])
    static let portStatus = core("PortStatus", "The state of one load balancer port.", [
        int32("port", "Port number."),
        str("protocol", "TCP, UDP or SCTP.").defaulted(.string("TCP")),
        str("error", "Problem with the port, if any."),
    ])
    static let loadBalancerIngress = core("LoadBalancerIngress", "An address of a load balancer.", [
        str("ip", "IP address."),
        str("hostname", "DNS name."),
        str("ipMode", "VIP or Proxy."),
        list("ports", portStatus, "Port states.").atomic(),
    ])
    static let loadBalancerStatus = core("LoadBalancerStatus", "The state of a load balancer.", [
        list("ingress", loadBalancerIngress, "Its addresses.").atomic(),
    ])
    static let serviceStatus = core("ServiceStatus", "The observed state of a Service.", [
        object("loadBalancer", loadBalancerStatus, "The load balancer, if any."),
        list("conditions", MetaSchemas.condition, "Current conditions.").keyed("type", mergeKey: "type"),
    ])
    static let service = kind("", "v1", "Service", "A stable virtual address in front of a set of pods.", [
        object("spec", serviceSpec, "What the Service exposes."),
        object("status", serviceStatus, "Observed state."),
    ])

    static let endpointAddress = core("EndpointAddress", "One backend address.", atomic: true, [
        str("ip", "The address."),
        str("hostname", "Hostname of the backend."),
        str("nodeName", "Node hosting the backend."),
        object("targetRef", objectReference, "The backend object, usually a pod."),
    ])
    static let endpointPort = core("EndpointPort", "One backend port.", atomic: true, [
        str("name", "Matches the Service port name."),
        int32("port", "Port number."),
        str("protocol", "TCP, UDP or SCTP.").defaulted(.string("TCP")),
        str("appProtocol", "Application protocol hint."),
    ])
    static let endpointSubset = core("EndpointSubset", "Addresses that share a set of ports.", [
        list("addresses", endpointAddress, "Ready addresses.").atomic(),
        list("notReadyAddresses", endpointAddress, "Addresses not ready yet.").atomic(),
        list("ports", endpointPort, "Ports on every address.").atomic(),
    ])
    static let endpoints = kind("", "v1", "Endpoints", "The backends of a Service (legacy form of EndpointSlice).", [
        list("subsets", endpointSubset, "Groups of addresses and ports.").atomic(),
    ])

    // MARK: Node

    static let taint = core("Taint", "Repels pods that do not tolerate it.", [
        str("key", "Taint key."),
        str("value", "Taint value."),
        str("effect", "NoSchedule, PreferNoSchedule or NoExecute."),
        time("timeAdded", "When a NoExecute taint was added."),
    ])
    static let nodeSpec = core("NodeSpec", "How a node is configured.", [
        str("podCIDR", "Pod address range of the node."),
        strings("podCIDRs", "Pod address ranges, one per IP family.").set(merge: true),
        str("providerID", "Cloud provider's node ID."),
        bool("unschedulable", "Keep new pods off the node."),
        list("taints", taint, "Taints of the node.").atomic(),
        anyValue("configSource", "Deprecated dynamic kubelet config source."),
        str("externalID", "Deprecated."),
    ])
    static let nodeCondition = core("NodeCondition", "One aspect of a node's state.", [
        str("type", "Condition type, e.g. Ready."),
        str("status", "True, False or Unknown."),
        time("lastHeartbeatTime", "When the kubelet last reported it."),
        time("lastTransitionTime", "When the status last changed."),
        str("reason", "Machine-readable reason."),
        str("message", "Human-readable detail."),
    ])
    static let nodeAddress = core("NodeAddress", "An address of a node.", [
        str("type", "Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS."),
        str("address", "The address."),
    ])
    static let daemonEndpoint = core("DaemonEndpoint", "A port a node daemon listens on.", [
        int32("Port", "Port number."),
    ])
    static let nodeDaemonEndpoints = core("NodeDaemonEndpoints", "Ports of the node's daemons.", [
        object("kubeletEndpoint", daemonEndpoint, "The kubelet's port."),
    ])
    static let nodeSystemInfo = core("NodeSystemInfo", "Identity and versions of a node.", [
        str("machineID", "Machine ID from /etc/machine-id."),
        str("systemUUID", "System UUID."),
        str("bootID", "Boot ID."),
        str("kernelVersion", "Kernel version."),
        str("osImage", "OS image from /etc/os-release."),
        str("containerRuntimeVersion", "Runtime name and version."),
        str("kubeletVersion", "Kubelet version."),
        str("kubeProxyVersion", "Deprecated proxy version."),
        str("operatingSystem", "Operating system."),
        str("architecture", "CPU architecture."),
        anyValue("swap", "Swap information."),
    ])
    static let containerImage = core("ContainerImage", "An image present on a node.", [
        strings("names", "Names of the image.").atomic(),
        int64("sizeBytes", "Size of the image."),
    ])
    static let nodeStatus = core("NodeStatus", "The observed state of a node.", [
        quantityMap("capacity", "Total resources of the node."),
        quantityMap("allocatable", "Resources available to pods."),
        str("phase", "Deprecated lifecycle phase."),
        list("conditions", nodeCondition, "Current conditions.").keyed("type", mergeKey: "type"),
        list("addresses", nodeAddress, "Addresses of the node.").keyed("type", mergeKey: "type"),
        object("daemonEndpoints", nodeDaemonEndpoints, "Ports of the node's daemons."),
        object("nodeInfo", nodeSystemInfo, "Identity and versions."),
        list("images", containerImage, "Images on the node.").atomic(),
        strings("volumesInUse", "Volumes in use.").atomic(),
        FieldSchema(name: "volumesAttached", type: .array(.any), description: "Volumes attached.").atomic(),
        anyValue("config", "Deprecated dynamic config status."),
        FieldSchema(name: "runtimeHandlers", type: .array(.any), description: "Runtime handlers available.").atomic(),
        anyValue("features", "Features the node supports."),
    ])
    static let node = kind("", "v1", "Node", "A machine that runs pods.", [
        object("spec", nodeSpec, "Configuration of the node."),
        object("status", nodeStatus, "Observed state; written by the kubelet."),
    ])

    // MARK: Namespace, config and identity

    static let namespaceCondition = core("NamespaceCondition", "One aspect of a namespace's state.", [
        str("type", "Condition type."),
        str("status", "True, False or Unknown."),
        time("lastTransitionTime", "When the status last changed."),
        str("reason", "Machine-readable reason."),
        str("message", "Human-readable detail."),
    ])
    static let namespaceSpec = core("NamespaceSpec", "How a namespace is configured.", [
        strings("finalizers", "Conditions that must clear before the namespace is removed.").atomic(),
    ])
    static let namespaceStatus = core("NamespaceStatus", "The observed state of a namespace.", [
        str("phase", "Active or Terminating."),
        list("conditions", namespaceCondition, "Current conditions.").keyed("type", mergeKey: "type"),
    ])
    static let namespace = kind("", "v1", "Namespace", "A scope for names.", [
        object("spec", namespaceSpec, "Configuration."),
        object("status", namespaceStatus, "Observed state."),
    ])
    static let configMap = kind("", "v1", "ConfigMap", "Configuration data as key/value pairs.", [
        bool("immutable", "When true, data cannot change."),
        stringMap("data", "UTF-8 values by key."),
        byteMap("binaryData", "Binary values by key, base64 in JSON."),
    ])
    static let secret = kind("", "v1", "Secret", "Sensitive data as key/value pairs.", [
        bool("immutable", "When true, data cannot change."),
        byteMap("data", "Values by key, base64 in JSON."),
        stringMap("stringData", "Write-only plain-text values, merged into data."),
        str("type", "How the data is used, e.g. Opaque."),
    ])
    static let serviceAccount = kind("", "v1", "ServiceAccount", "An identity for processes in pods.", [
        list("secrets", objectReference, "Secrets the account may use.").keyed("name", mergeKey: "name"),
        list("imagePullSecrets", localObjectReference, "Secrets for pulling images.").atomic(),
        bool("automountServiceAccountToken", "Mount the token into pods by default."),
    ])
    static let eventSource = core("EventSource", "The component that reported an event.", [
        str("component", "Reporting component."),
        str("host", "Node of the component."),
    ])
    static let eventSeries = core("EventSeries", "A series of repeated events.", [
        int32("count", "Occurrences in the series."),
        FieldSchema(name: "lastObservedTime", type: .string, description: "Last occurrence.", format: "date-time"),
    ])
    static let event = kind("", "v1", "Event", "A report of something that happened to an object.", [
        object("involvedObject", objectReference, "The object the event is about."),
        str("reason", "Short machine-readable reason."),
        str("message", "Human-readable description."),
        object("source", eventSource, "The reporter."),
        time("firstTimestamp", "First occurrence."),
        time("lastTimestamp", "Latest occurrence."),
        int32("count", "Number of occurrences."),
        str("type", "Normal or Warning."),
        FieldSchema(name: "eventTime", type: .string, description: "When the event was first observed, in microseconds.", format: "date-time"),
        object("series", eventSeries, "Series data for repeated events."),
        str("action", "What was done, or failed."),
        object("related", objectReference, "A second object involved."),
        str("reportingComponent", "Controller that emitted the event."),
        str("reportingInstance", "Instance of that controller."),
    ])
}

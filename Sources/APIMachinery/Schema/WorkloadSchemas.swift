/// apps/v1, batch/v1, coordination.k8s.io/v1, discovery.k8s.io/v1 and policy/v1 kinds, with
/// upstream's list semantics.
enum WorkloadSchemas {
    // MARK: apps/v1

    static func workloadCondition(_ groupName: String, _ name: String, updateTime: Bool = false) -> TypeSchema {
        group(groupName, name, "One aspect of the object's state.", [
            str("type", "Condition type."),
            str("status", "True, False or Unknown."),
        ] + (updateTime ? [time("lastUpdateTime", "When the condition was last updated.")] : []) + [
            time("lastTransitionTime", "When the status last changed."),
            str("reason", "Machine-readable reason."),
            str("message", "Human-readable detail."),
        ])
    }

    static let rollingUpdateDeployment = group("apps", "RollingUpdateDeployment", "Rolling update limits.", [
        intOrString("maxUnavailable", "Pods that may be unavailable during the update."),
        intOrString("maxSurge", "Pods that may exist above the desired count."),
    ])
    static let deploymentStrategy = group("apps", "DeploymentStrategy", "How old pods are replaced by new ones.", [
        str("type", "Recreate or RollingUpdate."),
        object("rollingUpdate", rollingUpdateDeployment, "Limits for RollingUpdate."),
    ])
    static let deploymentSpec = group("apps", "DeploymentSpec", "The desired state of a Deployment.", [
        int32("replicas", "Desired number of pods."),
        object("selector", MetaSchemas.labelSelector, "Pods the Deployment manages."),
        object("template", CoreSchemas.podTemplateSpec, "Template of the pods."),
        object("strategy", deploymentStrategy, "How pods are replaced.").patch(strategy: "retainKeys"),
        int32("minReadySeconds", "Seconds a new pod must be ready to count as available."),
        int32("revisionHistoryLimit", "Old ReplicaSets kept for rollback."),
        bool("paused", "Stop rolling out changes."),
        int32("progressDeadlineSeconds", "Seconds without progress before the rollout is failed."),
    ])
    static let deploymentStatus = group("apps", "DeploymentStatus", "The observed state of a Deployment.", [
        int64("observedGeneration", "Generation the controller last acted on."),
        int32("replicas", "Pods targeted by the Deployment."),
        int32("updatedReplicas", "Pods with the current template."),
        int32("readyReplicas", "Ready pods."),
        int32("availableReplicas", "Pods available for minReadySeconds."),
        int32("unavailableReplicas", "Pods still needed for full availability."),
        int32("terminatingReplicas", "Pods being terminated."),
        list("conditions", workloadCondition("apps", "DeploymentCondition", updateTime: true), "Current conditions.").keyed("type", mergeKey: "type"),
        int32("collisionCount", "Hash collision counter for ReplicaSet names."),
    ])
    static let deployment = kind("apps", "v1", "Deployment", "Declarative updates for pods through ReplicaSets.", [
        object("spec", deploymentSpec, "Desired state."),
        object("status", deploymentStatus, "Observed state."),
    ])

    static let replicaSetSpec = group("apps", "ReplicaSetSpec", "The desired state of a ReplicaSet.", [
        int32("replicas", "Desired number of pods."),
        int32("minReadySeconds", "Seconds a new pod must be ready to count as available."),
        object("selector", MetaSchemas.labelSelector, "Pods the ReplicaSet manages."),
        object("template", CoreSchemas.podTemplateSpec, "Template of the pods."),
    ])
    static let replicaSetStatus = group("apps", "ReplicaSetStatus", "The observed state of a ReplicaSet.", [
        int32("replicas", "Current number of pods."),
        int32("fullyLabeledReplicas", "Pods whose labels match the template."),
        int32("readyReplicas", "Ready pods."),
        int32("availableReplicas", "Available pods."),
        int32("terminatingReplicas", "Pods being terminated."),
        int64("observedGeneration", "Generation the controller last acted on."),
        list("conditions", workloadCondition("apps", "ReplicaSetCondition"), "Current conditions.").keyed("type", mergeKey: "type"),
    ])
    static let replicaSet = kind("apps", "v1", "ReplicaSet", "Keeps a number of identical pods running.", [
        object("spec", replicaSetSpec, "Desired state."),
        object("status", replicaSetStatus, "Observed state."),
    ])

    static let rollingUpdateDaemonSet = group("apps", "RollingUpdateDaemonSet", "Rolling update limits.", [
        intOrString("maxUnavailable", "Nodes whose pod may be unavailable during the update."),
        intOrString("maxSurge", "Nodes that may run an extra new pod during the update."),
    ])
    static let daemonSetUpdateStrategy = group("apps", "DaemonSetUpdateStrategy", "How daemon pods are replaced.", [
        str("type", "RollingUpdate or OnDelete."),
        object("rollingUpdate", rollingUpdateDaemonSet, "Limits for RollingUpdate."),
    ])
    static let daemonSetSpec = group("apps", "DaemonSetSpec", "The desired state of a DaemonSet.", [
        object("selector", MetaSchemas.labelSelector, "Pods the DaemonSet manages."),
        object("template", CoreSchemas.podTemplateSpec, "Template of the pods."),
        object("updateStrategy", daemonSetUpdateStrategy, "How pods are replaced."),
        int32("minReadySeconds", "Seconds a new pod must be ready to count as available."),
        int32("revisionHistoryLimit", "Old revisions kept for rollback."),
    ])
    static let daemonSetStatus = group("apps", "DaemonSetStatus", "The observed state of a DaemonSet.", [
        int32("currentNumberScheduled", "Nodes running a daemon pod that should."),
        int32("numberMisscheduled", "Nodes running a daemon pod that should not."),
        int32("desiredNumberScheduled", "Nodes that should run a daemon pod."),
        int32("numberReady", "Nodes with a ready daemon pod."),
        int64("observedGeneration", "Generation the controller last acted on."),
        int32("updatedNumberScheduled", "Nodes running the current template."),
        int32("numberAvailable", "Nodes with an available daemon pod."),
        int32("numberUnavailable", "Nodes still needing an available daemon pod."),
        int32("collisionCount", "Hash collision counter for revision names."),
        list("conditions", workloadCondition("apps", "DaemonSetCondition"), "Current conditions.").keyed("type", mergeKey: "type"),
    ])
    static let daemonSet = kind("apps", "v1", "DaemonSet", "Runs one pod on every eligible node.", [
        object("spec", daemonSetSpec, "Desired state."),
        object("status", daemonSetStatus, "Observed state."),
    ])

    static let rollingUpdateStatefulSetStrategy = group("apps", "RollingUpdateStatefulSetStrategy", "Rolling update settings.", [
        int32("partition", "Ordinal from which pods are updated."),
        intOrString("maxUnavailable", "Pods that may be unavailable during the update."),
    ])
    static let statefulSetUpdateStrategy = group("apps", "StatefulSetUpdateStrategy", "How stateful pods are replaced.", [
        str("type", "RollingUpdate or OnDelete."),
        object("rollingUpdate", rollingUpdateStatefulSetStrategy, "Settings for RollingUpdate."),
    ])
    static let statefulSetRetentionPolicy = group("apps", "StatefulSetPersistentVolumeClaimRetentionPolicy", "What happens to claims from volumeClaimTemplates.", [
        str("whenDeleted", "Retain or Delete when the StatefulSet is deleted."),
        str("whenScaled", "Retain or Delete when it is scaled down."),
    ])
    static let statefulSetOrdinals = group("apps", "StatefulSetOrdinals", "Numbering of the replicas.", [
        int32("start", "First ordinal."),
    ])
    static let statefulSetSpec = group("apps", "StatefulSetSpec", "The desired state of a StatefulSet.", [
        int32("replicas", "Desired number of pods."),
        object("selector", MetaSchemas.labelSelector, "Pods the StatefulSet manages."),
        object("template", CoreSchemas.podTemplateSpec, "Template of the pods."),
        FieldSchema(name: "volumeClaimTemplates", type: .array(.any), description: "PersistentVolumeClaims each pod gets.").atomic(),
        str("serviceName", "Headless Service giving the pods their DNS names."),
        str("podManagementPolicy", "OrderedReady or Parallel."),
        object("updateStrategy", statefulSetUpdateStrategy, "How pods are replaced."),
        int32("revisionHistoryLimit", "Old revisions kept for rollback."),
        int32("minReadySeconds", "Seconds a new pod must be ready to count as available."),
        object("persistentVolumeClaimRetentionPolicy", statefulSetRetentionPolicy, "Claim retention."),
        object("ordinals", statefulSetOrdinals, "Replica numbering."),
    ])
    static let statefulSetStatus = group("apps", "StatefulSetStatus", "The observed state of a StatefulSet.", [
        int64("observedGeneration", "Generation the controller last acted on."),
        int32("replicas", "Pods created."),
        int32("readyReplicas", "Ready pods."),
        int32("currentReplicas", "Pods at currentRevision."),
        int32("updatedReplicas", "Pods at updateRevision."),
        str("currentRevision", "Revision of the pods up to currentReplicas."),
        str("updateRevision", "Revision being rolled out."),
        int32("collisionCount", "Hash collision counter for revision names."),
        list("conditions", workloadCondition("apps", "StatefulSetCondition"), "Current conditions.").keyed("type", mergeKey: "type"),
        int32("availableReplicas", "Available pods."),
    ])
    static let statefulSet = kind("apps", "v1", "StatefulSet", "Pods with stable identities and storage.", [
        object("spec", statefulSetSpec, "Desired state."),
        object("status", statefulSetStatus, "Observed state."),
    ])

    // MARK: batch/v1

    static let podFailurePolicy = group("batch", "PodFailurePolicy", "How pod failures affect the job.", [
        FieldSchema(name: "rules", type: .array(.any), description: "Rules checked in order.").atomic(),
    ])
    static let successPolicy = group("batch", "SuccessPolicy", "When an indexed job counts as succeeded.", [
        FieldSchema(name: "rules", type: .array(.any), description: "Rules of which one must hold.").atomic(),
    ])
    static let jobSpec = group("batch", "JobSpec", "The desired state of a Job.", [
        int32("parallelism", "Most pods running at once."),
        int32("completions", "Successful pods needed."),
        int64("activeDeadlineSeconds", "Seconds the job may run."),
        object("podFailurePolicy", podFailurePolicy, "Handling of pod failures."),
        object("successPolicy", successPolicy, "When the job succeeds."),
        int32("backoffLimit", "Retries before the job fails."),
        int32("backoffLimitPerIndex", "Retries per index of an indexed job."),
        int32("maxFailedIndexes", "Failed indexes before the job fails."),
        object("selector", MetaSchemas.labelSelector, "Pods the job manages."),
        bool("manualSelector", "The selector is set by hand."),
        object("template", CoreSchemas.podTemplateSpec, "Template of the pods."),
        int32("ttlSecondsAfterFinished", "Seconds after finishing before the job is deleted."),
        str("completionMode", "NonIndexed or Indexed."),
        bool("suspend", "Do not create pods."),
        str("podReplacementPolicy", "TerminatingOrFailed or Failed."),
        str("managedBy", "Controller that manages the job."),
    ])
    static let uncountedTerminatedPods = group("batch", "UncountedTerminatedPods", "Finished pods not yet counted in status.", [
        strings("succeeded", "UIDs of succeeded pods.").set(),
        strings("failed", "UIDs of failed pods.").set(),
    ])
    static let jobStatus = group("batch", "JobStatus", "The observed state of a Job.", [
        list("conditions", workloadCondition("batch", "JobCondition"), "Current conditions.").patch(strategy: "merge", mergeKey: "type").atomic(),
        time("startTime", "When the job started."),
        time("completionTime", "When the job completed."),
        int32("active", "Running pods."),
        int32("succeeded", "Succeeded pods."),
        int32("failed", "Failed pods."),
        int32("terminating", "Pods being terminated."),
        str("completedIndexes", "Completed indexes, compressed."),
        str("failedIndexes", "Failed indexes, compressed."),
        object("uncountedTerminatedPods", uncountedTerminatedPods, "Finished pods not yet counted."),
        int32("ready", "Ready pods."),
    ])
    static let job = kind("batch", "v1", "Job", "Runs pods until a number of them succeed.", [
        object("spec", jobSpec, "Desired state."),
        object("status", jobStatus, "Observed state."),
    ])

    // MARK: coordination.k8s.io/v1

    static let leaseSpec = group("coordination.k8s.io", "LeaseSpec", "Who holds a lease and until when.", [
        str("holderIdentity", "Current holder."),
        int32("leaseDurationSeconds", "Seconds a holder must renew within."),
        FieldSchema(name: "acquireTime", type: .string, description: "When the lease was acquired.", format: "date-time"),
        FieldSchema(name: "renewTime", type: .string, description: "When the holder last renewed.", format: "date-time"),
        int32("leaseTransitions", "Number of holder changes."),
        str("strategy", "Coordinated leader election strategy."),
        str("preferredHolder", "Holder the strategy prefers next."),
    ])
    static let lease = kind("coordination.k8s.io", "v1", "Lease", "A lock with a holder and an expiry.", [
        object("spec", leaseSpec, "The lease state."),
    ])

    // MARK: discovery.k8s.io/v1

    static let endpointConditions = group("discovery.k8s.io", "EndpointConditions", "State of an endpoint.", [
        bool("ready", "Ready for traffic."),
        bool("serving", "Serving, even while terminating."),
        bool("terminating", "Being terminated."),
    ])
    static let forZone = group("discovery.k8s.io", "ForZone", "A zone an endpoint should serve.", [
        str("name", "Zone name."),
    ])
    static let forNode = group("discovery.k8s.io", "ForNode", "A node an endpoint should serve.", [
        str("name", "Node name."),
    ])
    static let endpointHints = group("discovery.k8s.io", "EndpointHints", "Topology hints for an endpoint.", [
        list("forZones", forZone, "Zones it should serve.").atomic(),
        list("forNodes", forNode, "Nodes it should serve.").atomic(),
    ])
    static let endpoint = group("discovery.k8s.io", "Endpoint", "One backend of a Service.", [
        strings("addresses", "Addresses of the backend.").set(),
        object("conditions", endpointConditions, "State of the backend."),
        str("hostname", "Hostname of the backend."),
        object("targetRef", CoreSchemas.objectReference, "The backend object, usually a pod."),
        stringMap("deprecatedTopology", "Deprecated topology labels."),
        str("nodeName", "Node hosting the backend."),
        str("zone", "Zone of the backend."),
        object("hints", endpointHints, "Topology hints."),
    ])
    static let endpointPort = group("discovery.k8s.io", "EndpointPort", "A port of the endpoints.", [
        str("name", "Matches the Service port name."),
        str("protocol", "TCP, UDP or SCTP."),
        int32("port", "Port number."),
        str("appProtocol", "Application protocol hint."),
    ])
    static let endpointSlice = kind("discovery.k8s.io", "v1", "EndpointSlice", "A slice of a Service's backends.", [
        str("addressType", "IPv4, IPv6 or FQDN."),
        list("endpoints", endpoint, "The backends.").atomic(),
        list("ports", endpointPort, "Ports on every backend.").atomic(),
    ])

    // MARK: autoscaling/v1 (the scale subresource)

    static let scaleSpec = group("autoscaling", "ScaleSpec", "The desired scale.", [
        int32("replicas", "Desired number of instances."),
    ])
    static let scaleStatus = group("autoscaling", "ScaleStatus", "The observed scale.", [
        int32("replicas", "Observed number of instances."),
        str("selector", "Label selector of the instances, in query form."),
    ])
    static let scale = kind("autoscaling", "v1", "Scale", "The scale subresource of a workload.", [
        object("spec", scaleSpec, "Desired scale."),
        object("status", scaleStatus, "Observed scale."),
    ])

    // MARK: policy/v1

    static let podDisruptionBudgetSpec = group("policy", "PodDisruptionBudgetSpec", "How many pods may be disrupted.", [
        intOrString("minAvailable", "Pods that must stay available."),
        object("selector", MetaSchemas.labelSelector, "Pods the budget covers.").patch(strategy: "replace"),
        intOrString("maxUnavailable", "Pods that may be unavailable."),
        str("unhealthyPodEvictionPolicy", "IfHealthyBudget or AlwaysAllow."),
    ])
    static let podDisruptionBudgetStatus = group("policy", "PodDisruptionBudgetStatus", "The observed state of a budget.", [
        int64("observedGeneration", "Generation the controller last acted on."),
        FieldSchema(name: "disruptedPods", type: .map(.string), description: "Pods being evicted, with the eviction time.", format: "date-time"),
        int32("disruptionsAllowed", "Disruptions allowed now."),
        int32("currentHealthy", "Healthy pods now."),
        int32("desiredHealthy", "Healthy pods wanted."),
        int32("expectedPods", "Pods the budget counts."),
        list("conditions", MetaSchemas.condition, "Current conditions.").keyed("type", mergeKey: "type"),
    ])
    static let podDisruptionBudget = kind("policy", "v1", "PodDisruptionBudget", "Limits voluntary disruption of a set of pods.", [
        object("spec", podDisruptionBudgetSpec, "Desired budget."),
        object("status", podDisruptionBudgetStatus, "Observed state."),
    ])
    static let eviction = kind("policy", "v1", "Eviction", "A request to evict a pod, honouring disruption budgets.", [
        object("deleteOptions", MetaSchemas.deleteOptions, "Options for the pod's deletion."),
    ])
}

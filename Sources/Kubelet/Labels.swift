/// The labels and annotations the kubelet puts on CRI sandboxes and containers. Names are
/// upstream's, so that crictl, `nodectl cri pods` and a restarted kubelet all read them.
public enum KubeletLabels {
    public static let podName = "io.kubernetes.pod.name"
    public static let podNamespace = "io.kubernetes.pod.namespace"
    public static let podUID = "io.kubernetes.pod.uid"
    public static let containerName = "io.kubernetes.container.name"
    /// Sandbox label upstream's dockershim-era tooling used to tell sandboxes from containers.
    public static let containerType = "io.kubernetes.container.type"

    /// Annotations on containers.
    public static let containerHash = "io.kubernetes.container.hash"
    public static let restartCount = "io.kubernetes.container.restartCount"
    public static let terminationMessagePath = "io.kubernetes.container.terminationMessagePath"
    public static let terminationMessagePolicy = "io.kubernetes.container.terminationMessagePolicy"
    public static let terminationGracePeriod = "io.kubernetes.pod.terminationGracePeriod"

    /// Annotations on static pods (the config source and the hash that is their UID).
    public static let configSource = "kubernetes.io/config.source"
    public static let configHash = "kubernetes.io/config.hash"
    public static let configSeen = "kubernetes.io/config.seen"
    /// On a mirror pod: the static pod's config hash (its UID on the node).
    public static let configMirror = "kubernetes.io/config.mirror"
    /// Nodekit's own: the manifest file a static pod came from.
    public static let configFile = "nodekit.io/config.file"
}

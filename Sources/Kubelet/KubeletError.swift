/// The kubelet's one public error: a code saying which part failed, a message naming the
/// operation and the key values (pod, container, file), and the underlying cause as text.
public struct KubeletError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// A static pod manifest could not be read or decoded.
        case manifest
        /// A CRI call failed.
        case runtime
        /// A container's config could not be generated (upstream's CreateContainerConfigError).
        case containerConfig
        /// An image could not be pulled or is not present (ErrImagePull, ErrImageNeverPull).
        case image
        /// A volume could not be set up or torn down.
        case volume
        /// A postStart or preStop hook failed.
        case hook
        /// The kubelet's own configuration is invalid.
        case configuration
        /// A call to the API server failed (pods, status, ConfigMaps, Secrets).
        case apiServer
        /// A request to the kubelet's server names a pod or container this node does not have.
        case notFound
        /// A request to the kubelet's server is malformed, or asks for what the container's
        /// state does not allow (exec into a stopped container).
        case badRequest
    }

    public var code: Code
    public var message: String
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { "\($0)" }
    }

    public var description: String {
        cause.map { "\(message): \($0)" } ?? message
    }
}

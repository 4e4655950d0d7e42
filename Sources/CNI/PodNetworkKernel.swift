import LinuxSystem
import Netlink

/// A pod's network namespace, open: its descriptor (for IFLA_NET_NS_FD) and rtnetlink inside it.
public struct PodNamespace: Sendable {
    public var path: String
    public var fd: Int32
    public var netlink: any RouteNetlinkOperations
    /// Keeps the namespace descriptor open as long as this value lives.
    let owner: (any Sendable)?

    public init(path: String, fd: Int32, netlink: any RouteNetlinkOperations, owner: (any Sendable)? = nil) {
        self.path = path
        self.fd = fd
        self.netlink = netlink
        self.owner = owner
    }
}

/// The kernel edge of the bridge plugin: rtnetlink in the host netns and in pod netns, and
/// the sysctls it sets. ``LinuxPodNetworkKernel`` is the real one; TestSupport has a fake.
public protocol PodNetworkKernel: Sendable {
    /// rtnetlink in the namespace the plugin runs in (the node's).
    func hostNetlink() throws(CNIError) -> any RouteNetlinkOperations
    /// Opens the pod's netns. Throws code 3 when it does not exist.
    func openPodNamespace(_ path: String) throws(CNIError) -> PodNamespace
    /// Turns on IP forwarding in the host namespace (needed when the bridge is a gateway).
    func enableForwarding(ipv6: Bool) throws(CNIError)
    /// Installs (or replaces) the masquerade rule for traffic from `podCIDRs` to destinations
    /// outside `clusterCIDRs`, for network `network`.
    func ensureMasquerade(network: String, podCIDRs: [IPPrefix], clusterCIDRs: [IPPrefix]) throws(CNIError)
    /// Reads a file (the node routes file); nil when it does not exist.
    func readFile(_ path: String) throws(CNIError) -> [UInt8]?
}

/// The real kernel: netlink sockets through libmnl, netns through setns on a dedicated thread.
public struct LinuxPodNetworkKernel: PodNetworkKernel {
    private let masquerade: (any MasqueradeProgrammer)?

    /// `masquerade` programs ipMasq rules; nil makes configs with ipMasq fail with code 2.
    public init(masquerade: (any MasqueradeProgrammer)? = NFTablesMasquerade()) {
        self.masquerade = masquerade
    }

    public func hostNetlink() throws(CNIError) -> any RouteNetlinkOperations {
        do { return RouteNetlink(socket: try MnlSocket()) } catch {
            throw CNIError(CNIError.kernelFailure, "open host netlink socket", details: error.description)
        }
    }

    public func openPodNamespace(_ path: String) throws(CNIError) -> PodNamespace {
        let namespace: NetworkNamespace
        do { namespace = try NetworkNamespace(path: path) } catch {
            let code = error.errno == 2 ? CNIError.unknownContainer : CNIError.ioFailure
            throw CNIError(code, "cannot open network namespace \(path)", details: error.description)
        }
        do {
            let socket = try MnlSocket(namespace: namespace)
            return PodNamespace(path: path, fd: namespace.fd, netlink: RouteNetlink(socket: socket), owner: namespace)
        } catch {
            throw CNIError(CNIError.unknownContainer, "cannot enter network namespace \(path)", details: error.description)
        }
    }

    public func enableForwarding(ipv6: Bool) throws(CNIError) {
        let key = ipv6 ? "net.ipv6.conf.all.forwarding" : "net.ipv4.ip_forward"
        do {
            if try Sysctl.read(key) != "1" { try Sysctl.write(key, "1") }
        } catch {
            throw CNIError(CNIError.ioFailure, "enable \(key)", details: error.description)
        }
    }

    public func ensureMasquerade(network: String, podCIDRs: [IPPrefix], clusterCIDRs: [IPPrefix]) throws(CNIError) {
        guard let masquerade else {
            throw CNIError(CNIError.unsupportedField, "ipMasq is not available in this build")
        }
        try masquerade.ensure(network: network, podCIDRs: podCIDRs, clusterCIDRs: clusterCIDRs)
    }

    public func readFile(_ path: String) throws(CNIError) -> [UInt8]? {
        do { return try FileOps.readIfExists(path) } catch {
            throw CNIError(CNIError.ioFailure, "read \(path)", details: error.description)
        }
    }
}

/// Programs the masquerade rule of ipMasq.
public protocol MasqueradeProgrammer: Sendable {
    func ensure(network: String, podCIDRs: [IPPrefix], clusterCIDRs: [IPPrefix]) throws(CNIError)
}

/// An error from a netlink exchange: the operation, the kernel's errno (0 when the failure is
/// not the kernel's), and what it acted on.
public struct NetlinkError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was being done, e.g. `"create veth"`.
    public var operation: String
    /// The errno the kernel returned in NLMSG_ERROR, or the socket call's errno; 0 for a
    /// malformed reply.
    public var errno: Int32
    /// Extra detail: the interface or address involved, or what was malformed.
    public var detail: String

    public init(operation: String, errno: Int32, detail: String = "") {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "netlink \(operation)"
        if !detail.isEmpty { text += " (\(detail))" }
        if errno != 0 { text += ": \(Self.errnoName(errno)) (errno \(errno))" }
        return text
    }

    /// Short names for the errnos netlink commonly returns, so messages read well without libc.
    static func errnoName(_ errno: Int32) -> String {
        switch errno {
        case 1: "operation not permitted"
        case 2: "no such file or directory"
        case 3: "no such process"
        case 16: "device or resource busy"
        case 17: "file exists"
        case 19: "no such device"
        case 22: "invalid argument"
        case 34: "result out of range"
        case 95: "operation not supported"
        case 99: "cannot assign requested address"
        case 101: "network is unreachable"
        default: "error"
        }
    }
}

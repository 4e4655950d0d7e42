import LinuxSystem

/// Writes kernel settings (sysctls) of the caller's network namespace. A protocol so the proxy's
/// unit tests can check which settings it asks for without root.
public protocol SysctlWriter: Sendable {
    func set(_ key: String, _ value: String) throws(IPVSError)
}

/// ``SysctlWriter`` over /proc/sys.
public struct ProcSysctlWriter: SysctlWriter {
    public init() {}

    public func set(_ key: String, _ value: String) throws(IPVSError) {
        do { try Sysctl.write(key, value) } catch {
            throw IPVSError(operation: "set sysctl", detail: "\(key)=\(value): \(error)", errno: error.errno)
        }
    }
}

/// A CNI error: printed by a plugin on stdout as `{cniVersion, code, msg, details}` with a
/// non-zero exit, and thrown by the runtime when a plugin reports one.
///
/// Codes 0-99 are the spec's ("Well-known Error Codes"); 100 and above are this plugin's.
public struct CNIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    /// A short message naming the operation and the key values.
    public var msg: String
    /// Longer detail (an underlying error), may be empty.
    public var details: String

    public init(_ code: Int, _ msg: String, details: String = "") {
        self.code = code
        self.msg = msg
        self.details = details
    }

    public var description: String {
        details.isEmpty ? "CNI error \(code): \(msg)" : "CNI error \(code): \(msg): \(details)"
    }

    /// The error JSON for `cniVersion`.
    public func json(cniVersion: String) -> JSONValue {
        var members: [(String, JSONValue)] = [("cniVersion", .string(cniVersion)), ("code", .number(Double(code))), ("msg", .string(msg))]
        if !details.isEmpty { members.append(("details", .string(details))) }
        return .object(members)
    }

    /// Reads an error JSON a plugin printed; nil when it is not one.
    public init?(json: JSONValue) {
        guard let code = json["code"]?.numberValue else { return nil }
        self.init(Int(code), json["msg"]?.stringValue ?? "", details: json["details"]?.stringValue ?? "")
    }

    // MARK: The spec's codes
    /// 1: the plugin does not support the requested cniVersion.
    public static let incompatibleVersion = 1
    /// 2: a field of the network configuration is not supported.
    public static let unsupportedField = 2
    /// 3: the container (its netns) is unknown or does not exist.
    public static let unknownContainer = 3
    /// 4: a required CNI_* environment variable is missing or invalid.
    public static let invalidEnvironment = 4
    /// 5: an I/O failure (reading stdin, writing state).
    public static let ioFailure = 5
    /// 6: the configuration could not be decoded (bad JSON).
    public static let decodingFailure = 6
    /// 7: the network configuration is invalid.
    public static let invalidNetworkConfig = 7
    /// 11: a transient failure; the runtime should try again later.
    public static let tryAgainLater = 11
    /// 50: STATUS: the plugin cannot serve ADD requests.
    public static let pluginNotAvailable = 50
    /// 51: STATUS: not available, and existing containers may have limited connectivity.
    public static let pluginNotAvailableLimitedConnectivity = 51

    // MARK: nodekit-cni's own codes (>= 100)
    /// 100: no free address left in the IPAM range.
    public static let rangeExhausted = 100
    /// 101: a kernel (netlink) operation failed.
    public static let kernelFailure = 101
    /// 102: CHECK found the pod's network different from prevResult.
    public static let checkFailed = 102
    /// 103: the runtime could not find or run a plugin executable.
    public static let pluginNotFound = 103
}

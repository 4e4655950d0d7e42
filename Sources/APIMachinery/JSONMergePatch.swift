import KubeAPI

/// JSON merge patch (RFC 7386), the `application/merge-patch+json` PATCH type.
public enum JSONMergePatch {
    /// Applies `patch` to `original` as RFC 7386 section 2 defines it: an object patch merges
    /// member by member (null deletes a member); any other patch value replaces the target.
    /// Total: every pair of JSON values has a result.
    public static func apply(_ patch: JSONValue, to original: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var target: [String: JSONValue]
        if case .object(let members) = original { target = members } else { target = [:] }
        for (name, value) in patchMembers {
            if value == .null {
                target.removeValue(forKey: name)
            } else {
                target[name] = apply(value, to: target[name] ?? .null)
            }
        }
        return .object(target)
    }

    /// The merge patch that turns `original` into `modified` (the inverse of `apply` for
    /// objects); arrays and scalars that differ are replaced whole.
    public static func diff(from original: JSONValue, to modified: JSONValue) -> JSONValue {
        guard case .object(let old) = original, case .object(let new) = modified else { return modified }
        var patch: [String: JSONValue] = [:]
        for name in old.keys where new[name] == nil { patch[name] = .null }
        for (name, newValue) in new {
            guard let oldValue = old[name] else { patch[name] = newValue; continue }
            if oldValue == newValue { continue }
            if case .object = oldValue, case .object = newValue {
                patch[name] = diff(from: oldValue, to: newValue)
            } else {
                patch[name] = newValue
            }
        }
        return .object(patch)
    }
}

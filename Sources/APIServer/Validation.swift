/// Name and label rules from upstream's apimachinery validation (DNS-1123, qualified names).
enum NameValidation {
    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }

    /// DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and ending alphanumeric.
    static func dns1123Label(_ s: String) -> String? {
        let b = Array(s.utf8)
        if b.isEmpty || b.count > 63 { return "must be no more than 63 characters and not empty" }
        guard isAlnum(b.first!), isAlnum(b.last!), b.allSatisfy({ isAlnum($0) || $0 == 45 }) else {
            return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        }
        return nil
    }

    /// DNS-1123 subdomain: at most 253 characters, dot-separated labels.
    static func dns1123Subdomain(_ s: String) -> String? {
        let b = Array(s.utf8)
        if b.isEmpty || b.count > 253 { return "must be no more than 253 characters and not empty" }
        let ok = s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            let p = Array(part.utf8)
            return !p.isEmpty && isAlnum(p.first!) && isAlnum(p.last!) && p.allSatisfy { isAlnum($0) || $0 == 45 }
        }
        guard ok else {
            return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        }
        return nil
    }

    private static func isQualifiedNamePart(_ s: Substring) -> Bool {
        let b = Array(s.utf8)
        func alnum(_ c: UInt8) -> Bool { isAlnum(c) || (c >= 65 && c <= 90) }
        return !b.isEmpty && b.count <= 63 && alnum(b.first!) && alnum(b.last!) && b.allSatisfy { alnum($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    /// A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most
    /// 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
    static func qualifiedName(_ s: String) -> String? {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        let name: Substring
        switch parts.count {
        case 1: name = parts[0]
        case 2:
            if let e = dns1123Subdomain(String(parts[0])) { return "prefix part \(e)" }
            name = parts[1]
        default: return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'"
        }
        return isQualifiedNamePart(name) ? nil : "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    }

    /// A label value: empty, or at most 63 characters like a qualified name's name part.
    static func labelValue(_ s: String) -> String? {
        s.isEmpty || isQualifiedNamePart(Substring(s)) ? nil : "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    }

    /// Checks metadata common to every object: name, labels, annotation keys.
    static func objectMeta(_ object: JSONObject, rule: ResourceDefinition.NameRule, namespaced: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        let meta = object.metadata
        let name = object.name
        if name.isEmpty {
            errors.append(FieldError(.required, "metadata.name", "name or generateName is required"))
        } else if let e = rule == .label ? dns1123Label(name) : dns1123Subdomain(name) {
            errors.append(FieldError(.invalid, "metadata.name", value: name, e))
        }
        for (key, value) in meta["labels"]?.objectValue ?? [:] {
            if let e = qualifiedName(key) { errors.append(FieldError(.invalid, "metadata.labels", value: key, e)) }
            guard let v = value.stringValue else {
                errors.append(FieldError(.invalid, "metadata.labels", value: key, "label values must be strings"))
                continue
            }
            if let e = labelValue(v) { errors.append(FieldError(.invalid, "metadata.labels", value: v, e)) }
        }
        for (key, value) in meta["annotations"]?.objectValue ?? [:] {
            if let e = qualifiedName(key) { errors.append(FieldError(.invalid, "metadata.annotations", value: key, e)) }
            if value.stringValue == nil { errors.append(FieldError(.invalid, "metadata.annotations", value: key, "annotation values must be strings")) }
        }
        return errors
    }
}

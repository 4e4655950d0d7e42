/// Name, label and annotation checks with upstream's messages (apimachinery's
/// util/validation and api/validate/content). Each check returns the list of problems, empty
/// when the value is valid. Lengths are in bytes of UTF-8, as upstream counts them.
public enum NameValidation {
    static let dns1123LabelFormat = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    static let dns1123SubdomainFormat = dns1123LabelFormat + "(\\." + dns1123LabelFormat + ")*"
    static let labelKeyFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
    static let labelValueFormat = "(" + labelKeyFormat + ")?"
    static let dns1123LabelMessage = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
    static let dns1123SubdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    static let labelKeyMessage = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    static let labelValueMessage = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"

    /// The most bytes all annotation keys and values of one object may take together.
    public static let annotationsSizeLimit = 256 * 1024

    /// RFC 1123 subdomain (most object names): at most 253 bytes of dot-separated labels.
    public static func dns1123Subdomain(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > 253 { errors.append(maxLength(253)) }
        if !isDNS1123Subdomain(value) {
            errors.append(regexError(dns1123SubdomainMessage, dns1123SubdomainFormat, "example.com"))
        }
        return errors
    }

    /// RFC 1123 label (namespace, service and container names): at most 63 bytes, no dots.
    public static func dns1123Label(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > 63 { errors.append(maxLength(63)) }
        if !isDNS1123Label(value) {
            if isDNS1123Subdomain(value) {
                errors.append("must not contain dots")
            } else {
                errors.append(regexError(dns1123LabelMessage, dns1123LabelFormat, "my-name", "123-abc"))
            }
        }
        return errors
    }

    /// A label key or qualified name: an optional DNS subdomain prefix and "/", then a name of
    /// at most 63 bytes.
    public static func labelKey(_ value: String) -> [String] {
        var errors: [String] = []
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let name: String
        switch parts.count {
        case 1:
            name = parts[0]
        case 2:
            name = parts[1]
            if parts[0].isEmpty {
                errors.append("prefix part must be non-empty")
            } else {
                errors += dns1123Subdomain(parts[0]).map { "prefix part " + $0 }
            }
        default:
            return ["a valid label key " + regexError(labelKeyMessage, labelKeyFormat, "MyName", "my.name", "123-abc")
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
        }
        if name.isEmpty {
            errors.append("name part must be non-empty")
        } else if name.utf8.count > 63 {
            errors.append("name part " + maxLength(63))
        }
        if !isLabelName(name) {
            errors.append("name part " + regexError(labelKeyMessage, labelKeyFormat, "MyName", "my.name", "123-abc"))
        }
        return errors
    }

    /// The same rule as `labelKey`, under the name most of the API uses.
    public static func qualifiedName(_ value: String) -> [String] { labelKey(value) }

    /// A label value: empty, or at most 63 bytes of a label name's characters.
    public static func labelValue(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > 63 { errors.append(maxLength(63)) }
        if !value.isEmpty && !isLabelName(value) {
            errors.append(regexError(labelValueMessage, labelValueFormat, "MyValue", "my_value", "12345"))
        }
        return errors
    }

    /// Problems with an object's annotations: keys must be qualified names (case does not
    /// matter) and keys and values together must fit in 256 KiB. Each problem names the key.
    public static func annotations(_ annotations: [String: String]) -> [FieldCause] {
        var causes: [FieldCause] = []
        for key in annotations.keys.sorted() {
            for message in labelKey(key.lowercased()) {
                causes.append(FieldCause(field: "metadata.annotations", message: "Invalid value: \(quoteJSON(key)): \(message)", reason: "FieldValueInvalid"))
            }
        }
        let size = annotations.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if size > annotationsSizeLimit {
            causes.append(FieldCause(field: "metadata.annotations", message: "Too long: may not be more than \(annotationsSizeLimit) bytes", reason: "FieldValueTooLong"))
        }
        return causes
    }

    /// Problems with an object's labels: keys must be label keys, values label values.
    public static func labels(_ labels: [String: String]) -> [FieldCause] {
        var causes: [FieldCause] = []
        for key in labels.keys.sorted() {
            for message in labelKey(key) {
                causes.append(FieldCause(field: "metadata.labels", message: "Invalid value: \(quoteJSON(key)): \(message)", reason: "FieldValueInvalid"))
            }
            for message in labelValue(labels[key]!) {
                causes.append(FieldCause(field: "metadata.labels", message: "Invalid value: \(quoteJSON(labels[key]!)): \(message)", reason: "FieldValueInvalid"))
            }
        }
        return causes
    }

    static func maxLength(_ n: Int) -> String { "must be no more than \(n) characters" }

    static func regexError(_ message: String, _ format: String, _ examples: String...) -> String {
        var text = message + " (e.g. "
        for (i, example) in examples.enumerated() {
            if i > 0 { text += " or " }
            text += "'\(example)', "
        }
        return text + "regex used for validation is '\(format)')"
    }

    private static func isLowerAlphanumeric(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }
    private static func isAlphanumeric(_ c: UInt8) -> Bool { isLowerAlphanumeric(c) || (c >= 0x41 && c <= 0x5a) }

    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
    static func isDNS1123Label<S: BidirectionalCollection<UInt8>>(_ bytes: S) -> Bool {
        guard let first = bytes.first, let last = bytes.last else { return false }
        return isLowerAlphanumeric(first) && isLowerAlphanumeric(last) && bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == 0x2d }
    }

    static func isDNS1123Label(_ value: String) -> Bool { isDNS1123Label(Array(value.utf8)) }

    static func isDNS1123Subdomain(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        return bytes.split(separator: 0x2e, omittingEmptySubsequences: false).allSatisfy { isDNS1123Label($0) }
    }

    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
    static func isLabelName(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        return isAlphanumeric(first) && isAlphanumeric(last)
            && bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e }
    }
}

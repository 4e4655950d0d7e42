import APIMachinery
import KubeAPI

/// Checks of the metadata every object carries, with APIMachinery's name and label rules (one
/// implementation) and upstream's field paths.
enum ObjectMetaValidation {
    /// Problems with an object's name, label keys and values, and annotation keys and size.
    static func validate(_ object: JSONObject, rule: ResourceDefinition.NameRule) -> [FieldError] {
        var errors: [FieldError] = []
        let meta = object.metadata
        let name = object.name
        if name.isEmpty {
            errors.append(FieldError(.required, "metadata.name", "name or generateName is required"))
        } else {
            for problem in rule == .label ? NameValidation.dns1123Label(name) : NameValidation.dns1123Subdomain(name) {
                errors.append(FieldError(.invalid, "metadata.name", value: name, problem))
            }
        }
        let labels = meta["labels"]?.objectValue ?? [:]
        for key in labels.keys.sorted() {
            for problem in NameValidation.labelKey(key) { errors.append(FieldError(.invalid, "metadata.labels", value: key, problem)) }
            guard let value = labels[key]?.stringValue else {
                errors.append(FieldError(.invalid, "metadata.labels", value: key, "label values must be strings"))
                continue
            }
            for problem in NameValidation.labelValue(value) { errors.append(FieldError(.invalid, "metadata.labels", value: value, problem)) }
        }
        let annotations = meta["annotations"]?.objectValue ?? [:]
        var size = 0
        for key in annotations.keys.sorted() {
            // Upstream checks annotation keys case-insensitively.
            for problem in NameValidation.labelKey(key.lowercased()) { errors.append(FieldError(.invalid, "metadata.annotations", value: key, problem)) }
            guard let value = annotations[key]?.stringValue else {
                errors.append(FieldError(.invalid, "metadata.annotations", value: key, "annotation values must be strings"))
                continue
            }
            size += key.utf8.count + value.utf8.count
        }
        if size > NameValidation.annotationsSizeLimit {
            errors.append(FieldError(.tooLong, "metadata.annotations", "may not be more than \(NameValidation.annotationsSizeLimit) bytes"))
        }
        return errors
    }
}

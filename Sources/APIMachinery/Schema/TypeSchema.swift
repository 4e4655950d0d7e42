import KubeAPI

/// A group, version and kind, e.g. ("apps", "v1", "Deployment"); the core group is "".
public struct GroupVersionKind: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var version: String
    public var kind: String

    public init(group: String, version: String, kind: String) {
        self.group = group
        self.version = version
        self.kind = kind
    }

    /// `v1` for the core group, `group/version` otherwise.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    public var description: String { "\(apiVersion), Kind=\(kind)" }
}

/// The shape of one field's value.
public indirect enum FieldType: Sendable {
    case string
    case integer
    case number
    case boolean
    /// intstr.IntOrString: a JSON integer or string.
    case intOrString
    /// resource.Quantity: a string like "100m" (a number is accepted on input).
    case quantity
    /// Any JSON value; nothing inside is checked (e.g. managedFields' fieldsV1, a raw object).
    case any
    /// A structure with named fields.
    case object(TypeSchema)
    case array(FieldType)
    /// A map from free-form string keys to values of one type (labels, annotations, data).
    case map(FieldType)

    /// The structure of an object value, or of an array's items when they are objects.
    public var objectSchema: TypeSchema? {
        switch self {
        case .object(let schema): return schema
        case .array(let items): return items.objectSchema
        default: return nil
        }
    }
}

/// How server-side apply treats a list (`x-kubernetes-list-type`).
public enum ListType: String, Sendable {
    /// Owned and replaced as a whole.
    case atomic
    /// Items are scalars, each owned on its own (`v:` in FieldsV1).
    case set
    /// Items are objects identified by `listMapKeys` (`k:` in FieldsV1).
    case map
}

/// One named field of a structure, with the list semantics upstream declares for it.
public struct FieldSchema: Sendable {
    public var name: String
    public var type: FieldType
    /// One line saying what the field is for.
    public var description: String
    /// An OpenAPI format: `int32`, `int64`, `date-time`, `byte`, `double`.
    public var format: String?
    /// Strategic merge patch strategy (`x-kubernetes-patch-strategy`): `merge`, `replace`,
    /// `retainKeys` or `merge,retainKeys`.
    public var patchStrategy: String?
    /// Strategic merge patch key of a merged list of objects (`x-kubernetes-patch-merge-key`).
    public var patchMergeKey: String?
    /// Server-side apply list type (`x-kubernetes-list-type`); nil for non-lists.
    public var listType: ListType?
    /// Server-side apply keys of a `map` list (`x-kubernetes-list-map-keys`).
    public var listMapKeys: [String]
    /// `x-kubernetes-map-type: atomic` (or a structure declared atomic): owned and replaced whole.
    public var isAtomic: Bool
    /// The value the server fills in when the field is absent, where upstream's OpenAPI declares
    /// one that matters here (list map keys such as a port's protocol).
    public var defaultValue: JSONValue?

    public init(name: String, type: FieldType, description: String, format: String? = nil,
                patchStrategy: String? = nil, patchMergeKey: String? = nil,
                listType: ListType? = nil, listMapKeys: [String] = [], isAtomic: Bool = false) {
        self.name = name
        self.type = type
        self.description = description
        self.format = format
        self.patchStrategy = patchStrategy
        self.patchMergeKey = patchMergeKey
        self.listType = listType
        self.listMapKeys = listMapKeys
        self.isAtomic = isAtomic
    }

    /// Whether strategic merge patch merges this list (rather than replacing it).
    public var mergesList: Bool { patchStrategy?.split(separator: ",").contains("merge") ?? false }
    /// Whether strategic merge patch honours `$retainKeys` on this field.
    public var retainsKeys: Bool { patchStrategy?.split(separator: ",").contains("retainKeys") ?? false }
    /// Whether strategic merge patch replaces this field whole.
    public var replacesWhole: Bool { patchStrategy == "replace" }

    /// The server-side apply list type, falling back as upstream does when only the strategic
    /// merge tags are given: a merged list of objects is a map keyed by its merge key, a merged
    /// list of scalars is a set, anything else is atomic.
    public var effectiveListType: ListType {
        if let listType { return listType }
        if mergesList {
            if case .array(.object) = type, patchMergeKey != nil { return .map }
            if case .array(let items) = type, items.isScalar { return .set }
        }
        return .atomic
    }

    /// The keys of a `map` list (falling back to the strategic merge key); empty for other lists.
    public var effectiveMapKeys: [String] {
        guard effectiveListType == .map else { return [] }
        if !listMapKeys.isEmpty { return listMapKeys }
        return patchMergeKey.map { [$0] } ?? []
    }

    // MARK: Builders used by the built-in schemas

    /// Marks a list atomic (`x-kubernetes-list-type: atomic`).
    func atomic() -> FieldSchema { var f = self; f.listType = .atomic; return f }
    /// Marks a list of scalars as a set; `merge` adds strategic merge's `merge` strategy.
    func set(merge: Bool = false) -> FieldSchema {
        var f = self
        f.listType = .set
        if merge { f.patchStrategy = "merge" }
        return f
    }
    /// Marks a list of objects as a map list keyed by `keys`; `mergeKey`/`strategy` are the
    /// strategic merge tags (nil when upstream declares none).
    func keyed(_ keys: String..., mergeKey: String? = nil, strategy: String? = "merge") -> FieldSchema {
        var f = self
        f.listType = .map
        f.listMapKeys = keys
        f.patchMergeKey = mergeKey
        f.patchStrategy = mergeKey == nil ? nil : strategy
        return f
    }
    /// Sets the strategic merge tags alone.
    func patch(strategy: String, mergeKey: String? = nil) -> FieldSchema {
        var f = self
        f.patchStrategy = strategy
        f.patchMergeKey = mergeKey
        return f
    }
    /// Marks a map or structure atomic.
    func atomicMap() -> FieldSchema { var f = self; f.isAtomic = true; return f }
    /// Declares the value the server fills in when the field is absent.
    func defaulted(_ value: JSONValue) -> FieldSchema { var f = self; f.defaultValue = value; return f }
}

extension FieldType {
    var isScalar: Bool {
        switch self {
        case .string, .integer, .number, .boolean, .intOrString, .quantity: return true
        default: return false
        }
    }
}

/// The structure of one object type: its OpenAPI definition name and its fields. Top-level
/// kinds also carry their group, version and kind.
public struct TypeSchema: Sendable {
    /// The OpenAPI definition name, e.g. `io.k8s.api.core.v1.PodSpec`.
    public var name: String
    public var description: String
    public var fields: [FieldSchema] {
        // The index and the shapes follow the fields.
        didSet { (index, shapes) = Self.lookups(fields) }
    }
    public var groupVersionKind: GroupVersionKind?
    /// Whether the structure is owned and replaced whole (`x-kubernetes-map-type: atomic`).
    public var isAtomic: Bool
    private var index: [String: Int]
    /// Each field's ``FieldShape``, worked out once here: the field walks of managedFields ask
    /// for it at every field they walk (it copied the whole `FieldSchema` and split the patch
    /// strategy each time, and sorted the keys of a map list).
    private var shapes: [FieldShape]

    public init(name: String, description: String, fields: [FieldSchema],
                groupVersionKind: GroupVersionKind? = nil, isAtomic: Bool = false) {
        self.name = name
        self.description = description
        self.fields = fields
        self.groupVersionKind = groupVersionKind
        self.isAtomic = isAtomic
        (index, shapes) = Self.lookups(fields)
    }

    private static func lookups(_ fields: [FieldSchema]) -> (index: [String: Int], shapes: [FieldShape]) {
        var index: [String: Int] = [:]
        for (i, f) in fields.enumerated() { index[f.name] = i }
        return (index, fields.map(FieldShape.init))
    }

    /// The field named `name`, or nil when the structure has none.
    public func field(_ name: String) -> FieldSchema? {
        index[name].map { fields[$0] }
    }

    /// The type of the field named `name` (what `field(name)?.type` gives, without copying the
    /// field's schema).
    func fieldType(_ name: String) -> FieldType? {
        index[name].map { fields[$0].type }
    }

    /// `FieldShape(field(name))`, as worked out when the fields were set.
    func fieldShape(_ name: String) -> FieldShape? {
        index[name].map { shapes[$0] }
    }

    /// The short kind-like name: the last component of the definition name.
    public var shortName: String {
        name.split(separator: ".").last.map(String.init) ?? name
    }
}

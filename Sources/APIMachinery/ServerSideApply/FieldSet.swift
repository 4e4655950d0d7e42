import Foundation
import KubeAPI

/// A path to a field or list item, one element per step, each spelled as in FieldsV1:
/// `f:<name>` (a field or map key), `k:<json>` (a keyed list item), `v:<json>` (a set item),
/// `i:<index>` (an item of a list without keys).
public typealias FieldPath = [String]

/// A set of field paths, as a managedFields entry records them (structured-merge-diff's
/// fieldpath.Set). A path is in the set when it is owned itself: leaves, list items and the
/// nodes marked "." in FieldsV1.
public struct FieldSet: Sendable, Hashable {
    public var paths: Set<FieldPath>

    public init(_ paths: Set<FieldPath> = []) { self.paths = paths }

    public var isEmpty: Bool { paths.isEmpty }

    /// Decodes a FieldsV1 object; throws a bad-request error for anything that is not one.
    public init(fieldsV1: JSONValue) throws(PatchError) {
        var paths = Set<FieldPath>()
        try FieldSet.decode(fieldsV1, prefix: [], into: &paths)
        self.paths = paths
    }

    private static func decode(_ value: JSONValue, prefix: FieldPath, into paths: inout Set<FieldPath>) throws(PatchError) {
        guard case .object(let members) = value else {
            throw .badRequest("FieldsV1 at \(display(prefix)) must be an object")
        }
        for (key, child) in members {
            if key == "." {
                if !prefix.isEmpty { paths.insert(prefix) }
                continue
            }
            guard key.count >= 2, ["f:", "k:", "v:", "i:"].contains(String(key.prefix(2))) else {
                throw .badRequest("FieldsV1 at \(display(prefix)) has an invalid path element \(quoteJSON(key))")
            }
            let path = prefix + [key]
            if case .object(let inner) = child, inner.isEmpty {
                paths.insert(path)
            } else {
                try decode(child, prefix: path, into: &paths)
            }
        }
    }

    /// The FieldsV1 form: nested objects keyed by path element, `{}` for an owned leaf and
    /// `".": {}` for an owned node that also has owned children.
    public var fieldsV1: JSONValue {
        final class Node {
            var member = false
            var children: [String: Node] = [:]
            func encode() -> JSONValue {
                var object: [String: JSONValue] = [:]
                for (key, child) in children { object[key] = child.encode() }
                if member && !children.isEmpty { object["."] = .object([:]) }
                return .object(object)
            }
        }
        let root = Node()
        for path in paths {
            var node = root
            for element in path {
                if let next = node.children[element] { node = next } else {
                    let next = Node()
                    node.children[element] = next
                    node = next
                }
            }
            node.member = true
        }
        return root.encode()
    }

    /// Whether `fieldsV1` is exactly what ``fieldsV1`` writes for the set it decodes to, and
    /// that set is not empty: valid path elements, `{}` for every owned leaf, `".": {}` only
    /// beside children, no empty intermediate node.
    static func isCanonicalFieldsV1(_ fieldsV1: JSONValue) -> Bool {
        guard case .object(let members) = fieldsV1, !members.isEmpty, members["."] == nil else { return false }
        return isCanonicalNode(members)
    }

    private static func isCanonicalNode(_ members: [String: JSONValue]) -> Bool {
        for (key, child) in members {
            guard case .object(let inner) = child else { return false }
            if key == "." {
                guard inner.isEmpty, members.count > 1 else { return false }
                continue
            }
            guard key.utf8.count >= 2, ["f:", "k:", "v:", "i:"].contains(key.prefix(2)) else { return false }
            if !inner.isEmpty && !isCanonicalNode(inner) { return false }
        }
        return true
    }

    /// Whether the set `fieldsV1` encodes holds `path`, read from the FieldsV1 tree without
    /// decoding it: the node at `path` is an owned leaf (`{}`) or is marked `"."`.
    static func fieldsV1(_ fieldsV1: JSONValue, owns path: FieldPath) -> Bool {
        guard !path.isEmpty else { return false }
        var node = fieldsV1
        for element in path {
            guard case .object(let members) = node, let child = members[element] else { return false }
            node = child
        }
        guard case .object(let members) = node else { return false }
        return members.isEmpty || members["."] != nil
    }

    // An empty operand returns the other set as it is: a pod's create unions its whole field
    // set into an empty one, and Set's union would insert every path again.
    public func union(_ other: FieldSet) -> FieldSet {
        if other.paths.isEmpty { return self }
        if paths.isEmpty { return other }
        return FieldSet(paths.union(other.paths))
    }

    public func subtracting(_ other: FieldSet) -> FieldSet {
        if other.paths.isEmpty || paths.isEmpty { return self }
        return FieldSet(paths.subtracting(other.paths))
    }
    public func intersection(_ other: FieldSet) -> FieldSet { FieldSet(paths.intersection(other.paths)) }
    public func contains(_ path: FieldPath) -> Bool { paths.contains(path) }

    /// Whether some path of the set lies strictly below `path`.
    func hasDescendant(of path: FieldPath) -> Bool {
        paths.contains { $0.count > path.count && Array($0.prefix(path.count)) == path }
    }

    /// Upstream's display form of a path: `.spec.containers[name="app"].image`,
    /// `.metadata.finalizers[="a"]`, `.spec.items[0]`.
    public static func display(_ path: FieldPath) -> String {
        var text = ""
        for element in path {
            let body = String(element.dropFirst(2))
            switch element.prefix(2) {
            case "f:":
                text += "." + body
            case "k:":
                if case .object(let keys)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) {
                    text += "[" + keys.keys.sorted().map { "\($0)=\(describe(keys[$0]!))" }.joined(separator: ",") + "]"
                } else {
                    text += "[" + body + "]"
                }
            case "v:":
                text += "[=" + body + "]"
            default:
                text += "[" + body + "]"
            }
        }
        return text
    }
}

/// How a value at some path is owned and merged: derived from the schema field it sits in.
struct FieldShape {
    var type: FieldType
    var listType: ListType = .atomic
    var mapKeys: [String] = []
    var isAtomic = false

    init(type: FieldType) { self.type = type }

    init(_ field: FieldSchema) {
        type = field.type
        // effectiveMapKeys would work the list type out again (it splits the patch strategy):
        // once per field walked is enough.
        listType = field.effectiveListType
        if listType == .map { mapKeys = field.listMapKeys.isEmpty ? field.patchMergeKey.map { [$0] } ?? [] : field.listMapKeys }
        isAtomic = field.isAtomic
    }

    /// The schema of the items of a list, or of the structure itself.
    var objectSchema: TypeSchema? { type.objectSchema }

    /// The FieldsV1 element naming `item` in a map list: its key fields (defaulted where the
    /// schema says so) as compact JSON with sorted names. Nil when a key field is missing and
    /// has no default.
    func keyElement(of item: JSONValue) -> String? {
        guard case .object(let members) = item else { return nil }
        var keys: [String: JSONValue] = [:]
        for name in mapKeys {
            if let value = members[name] {
                keys[name] = value
            } else if let value = objectSchema?.field(name)?.defaultValue {
                keys[name] = value
            } else {
                return nil
            }
        }
        return "k:" + describe(.object(keys))
    }
}

/// What a path holds in one object: a leaf value, or a node that is owned as a unit but whose
/// content is compared through its children (list items, maps).
enum FieldEntry: Equatable {
    case leaf(JSONValue)
    case node
}

/// Enumerates the owned paths of objects under a schema (structured-merge-diff's ToFieldSet
/// and Compare, on JSON values).
struct FieldWalker {
    /// Include a map-typed field (labels, data) itself as a node; Compare does, so a write that
    /// creates the map owns it, while an applied configuration owns only its keys.
    var includeMapNodes: Bool
    /// Paths (and everything below them) left out, e.g. a write's reset fields.
    var ignoring: [FieldPath]
    /// Items of map lists that lack a key field with no default; apply refuses these.
    var missingKeys: [String] = []

    init(includeMapNodes: Bool, ignoring: [FieldPath] = []) {
        self.includeMapNodes = includeMapNodes
        self.ignoring = ignoring
    }

    /// The owned paths of `object` and what each holds, without the stripped paths
    /// (``ServerSideApply/isStripped(_:)``) and the `ignoring` subtrees.
    mutating func entries(of object: JSONValue, schema: TypeSchema?) -> [FieldPath: FieldEntry] {
        var result: [FieldPath: FieldEntry] = [:]
        guard let schema else {
            if case .object(let members) = object {
                for (name, value) in members { result[["f:" + name]] = .leaf(value) }
            }
            return result.filter { entry in !ServerSideApply.isStripped(entry.key) && !isIgnored(entry.key) }
        }
        // The walk itself leaves out what would be filtered afterwards: the top-level members
        // apiVersion, kind and the ignored ones (every reset field is a top-level member), and
        // metadata.managedFields; the stripped metadata fields are removed after it (a copy
        // of the whole result filtered was a fifth of a pod's field walk).
        prunedMembers = Set(ignoring.filter { $0.count == 1 && $0[0].hasPrefix("f:") }.map { String($0[0].dropFirst(2)) })
        prunedMembers.formUnion(["apiVersion", "kind"])
        walkFields(object, schema: schema, path: [], into: &result)
        if case .object(let members)? = object["metadata"], members.count > 0 {
            for name in ServerSideApply.strippedMetadataNames where members[name] != nil { result[["f:metadata", "f:" + name]] = nil }
        }
        if ignoring.contains(where: { $0.count != 1 || !$0[0].hasPrefix("f:") }) {
            result = result.filter { !isIgnored($0.key) }
        }
        return result
    }

    /// Top-level members the current walk leaves out.
    fileprivate var prunedMembers: Set<String> = []

    private func isIgnored(_ path: FieldPath) -> Bool {
        ignoring.contains { path.count >= $0.count && Array(path.prefix($0.count)) == $0 }
    }

    private mutating func walkFields(_ value: JSONValue, schema: TypeSchema, path: FieldPath, into result: inout [FieldPath: FieldEntry]) {
        guard case .object(let members) = value else { return }
        for (name, child) in members {
            if path.isEmpty && prunedMembers.contains(name) { continue }
            if path.count == 1 && name == "managedFields" && path[0] == "f:metadata" { continue }
            let childPath = path + ["f:" + name]
            if let field = schema.field(name) {
                walk(child, shape: FieldShape(field), path: childPath, into: &result)
            } else {
                result[childPath] = .leaf(child)
            }
        }
    }

    private mutating func walk(_ value: JSONValue, shape: FieldShape, path: FieldPath, into result: inout [FieldPath: FieldEntry]) {
        switch (shape.type, value) {
        case (.object(let schema), .object(let members)) where !schema.isAtomic && !shape.isAtomic && !members.isEmpty:
            walkFields(value, schema: schema, path: path, into: &result)
        case (.map(let element), .object(let members)) where !shape.isAtomic && !members.isEmpty:
            if includeMapNodes { result[path] = .node }
            for (key, child) in members {
                // An entry of a free-form map is owned itself, whatever its value holds.
                if !element.isScalar { result[path + ["f:" + key]] = .node }
                walk(child, shape: FieldShape(type: element), path: path + ["f:" + key], into: &result)
            }
        case (.array, .array(let items)) where shape.listType == .set:
            if items.isEmpty { result[path] = .leaf(value) }
            for item in items { result[path + ["v:" + describe(item)]] = .node }
        case (.array, .array(let items)) where shape.listType == .map:
            if items.isEmpty { result[path] = .leaf(value) }
            for item in items {
                guard let element = shape.keyElement(of: item) else {
                    missingKeys.append(FieldSet.display(path))
                    continue
                }
                let itemPath = path + [element]
                result[itemPath] = .node
                if let schema = shape.objectSchema { walkFields(item, schema: schema, path: itemPath, into: &result) }
            }
        default:
            result[path] = .leaf(value)
        }
    }
}

extension FieldWalker {
    /// Whether ``ownedFieldsV1(of:schema:)`` applies: every ignored path is one top-level member.
    var canBuildFieldsV1Directly: Bool { ignoring.allSatisfy { $0.count == 1 && $0[0].hasPrefix("f:") } }

    /// The FieldsV1 form of every path ``entries(of:schema:)`` gives for `object`, i.e.
    /// `FieldSet(Set(entries.keys)).fieldsV1`, built in one walk without a path array or a hash
    /// of one per field: what a create records for its manager (it owns every field it sets).
    /// Needs ``canBuildFieldsV1Directly``. Map-list items missing a key are skipped without
    /// being listed in `missingKeys` (only apply reads those).
    mutating func ownedFieldsV1(of object: JSONValue, schema: TypeSchema) -> JSONValue {
        prunedMembers = Set(ignoring.map { String($0[0].dropFirst(2)) })
        prunedMembers.formUnion(["apiVersion", "kind"])
        var root = OwnedNode()
        treeFields(object, schema: schema, depth: 0, inMetadata: false, into: &root)
        if var metadata = root.children["f:metadata"] {
            for name in ServerSideApply.strippedMetadataNames {
                metadata.children["f:" + name]?.member = false
            }
            root.children["f:metadata"] = metadata
        }
        return root.fieldsV1 ?? .object([:])
    }

    private mutating func treeFields(_ value: JSONValue, schema: TypeSchema, depth: Int, inMetadata: Bool, into node: inout OwnedNode) {
        guard case .object(let members) = value else { return }
        for (name, child) in members {
            if depth == 0 && prunedMembers.contains(name) { continue }
            if inMetadata && name == "managedFields" { continue }
            let key = "f:" + name
            if let field = schema.field(name) {
                tree(child, shape: FieldShape(field), metadata: depth == 0 && name == "metadata", into: &node.children[key, default: OwnedNode()])
            } else {
                node.children[key, default: OwnedNode()].member = true
            }
        }
    }

    /// The mirror of `walk`: marks the node of `value`'s path as owned where `walk` records an
    /// entry at it, and adds the nodes of the entries below it.
    private mutating func tree(_ value: JSONValue, shape: FieldShape, metadata: Bool, into node: inout OwnedNode) {
        switch (shape.type, value) {
        case (.object(let schema), .object(let members)) where !schema.isAtomic && !shape.isAtomic && !members.isEmpty:
            treeFields(value, schema: schema, depth: 1, inMetadata: metadata, into: &node)
        case (.map(let element), .object(let members)) where !shape.isAtomic && !members.isEmpty:
            if includeMapNodes { node.member = true }
            for (key, child) in members {
                let elementShape = FieldShape(type: element)
                if !element.isScalar { node.children["f:" + key, default: OwnedNode()].member = true }
                tree(child, shape: elementShape, metadata: false, into: &node.children["f:" + key, default: OwnedNode()])
            }
        case (.array, .array(let items)) where shape.listType == .set:
            if items.isEmpty { node.member = true }
            for item in items { node.children["v:" + describe(item), default: OwnedNode()].member = true }
        case (.array, .array(let items)) where shape.listType == .map:
            if items.isEmpty { node.member = true }
            for item in items {
                guard let element = shape.keyElement(of: item) else { continue }
                node.children[element, default: OwnedNode()].member = true
                if let schema = shape.objectSchema {
                    treeFields(item, schema: schema, depth: 1, inMetadata: false, into: &node.children[element, default: OwnedNode()])
                }
            }
        default:
            node.member = true
        }
    }
}

/// A node of a FieldsV1 tree being built: owned itself (`member`) and/or through children.
struct OwnedNode {
    var member = false
    var children: [String: OwnedNode] = [:]

    /// As ``FieldSet/fieldsV1`` writes it: `{}` for an owned leaf, `".": {}` beside the children
    /// of an owned node; nil for a node that owns nothing (no path of the set passes it).
    var fieldsV1: JSONValue? {
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(children.count + 1)
        for (key, child) in children {
            if let encoded = child.fieldsV1 { object[key] = encoded }
        }
        if object.isEmpty { return member ? .object([:]) : nil }
        if member { object["."] = .object([:]) }
        return .object(object)
    }
}

/// The difference between two objects in owned paths (structured-merge-diff's Comparison).
struct FieldComparison {
    var added = FieldSet()
    var modified = FieldSet()
    var removed = FieldSet()

    init(from old: [FieldPath: FieldEntry], to new: [FieldPath: FieldEntry]) {
        for (path, entry) in new {
            guard let before = old[path] else { added.paths.insert(path); continue }
            if before != entry { modified.paths.insert(path) }
        }
        for path in old.keys where new[path] == nil { removed.paths.insert(path) }
    }

    var changed: FieldSet { added.union(modified) }
    var isEmpty: Bool { added.isEmpty && modified.isEmpty && removed.isEmpty }
}

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
            guard isPathElement(key) else { return false }
            if !inner.isEmpty && !isCanonicalNode(inner) { return false }
        }
        return true
    }

    /// Whether `key` starts with a path element's prefix (`f:`, `k:`, `v:`, `i:`) as its first two
    /// characters. Read from the bytes when the third is ASCII (no character then joins the
    /// `:`, so the first two bytes are the first two characters); otherwise by characters.
    static func isPathElement(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard utf8.count >= 2 else { return false }
        var bytes = utf8.makeIterator()
        let first = bytes.next()!, second = bytes.next()!
        if let third = bytes.next(), third >= 0x80 { return ["f:", "k:", "v:", "i:"].contains(key.prefix(2)) }
        return second == UInt8(ascii: ":") && (first == UInt8(ascii: "f") || first == UInt8(ascii: "k") || first == UInt8(ascii: "v") || first == UInt8(ascii: "i"))
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
    /// The key fields of a map list, sorted, without repeats (as its FieldsV1 elements list them).
    var mapKeys: [String] = []
    var isAtomic = false
    /// The FieldsV1 element of the field this shape was made from (`f:<name>`), made once with
    /// the schema rather than at every walk of the field; empty for a shape made from a type.
    var element = ""

    init(type: FieldType) { self.type = type }

    init(_ field: FieldSchema) {
        type = field.type
        element = "f:" + field.name
        // effectiveMapKeys would work the list type out again (it splits the patch strategy):
        // once per field walked is enough.
        listType = field.effectiveListType
        if listType == .map {
            let keys = field.listMapKeys.isEmpty ? field.patchMergeKey.map { [$0] } ?? [] : field.listMapKeys
            mapKeys = keys.count > 1 ? Set(keys).sorted() : keys
        }
        isAtomic = field.isAtomic
    }

    /// The schema of the items of a list, or of the structure itself.
    var objectSchema: TypeSchema? { type.objectSchema }

    /// Appends `quoteJSON(string)` to `text`: printable ASCII without a character to escape
    /// (quoteJSON's fast path, the same test) directly, anything else through quoteJSON.
    static func appendQuoted(_ string: String, to text: inout String) {
        if string.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x80 && $0 != 0x22 && $0 != 0x5c && $0 != 0x3c && $0 != 0x3e && $0 != 0x26 }) {
            text += "\""
            text += string
            text += "\""
        } else {
            text += quoteJSON(string)
        }
    }

    /// The FieldsV1 element naming `item` in a map list: its key fields (defaulted where the
    /// schema says so) as compact JSON with sorted names. Nil when a key field is missing and
    /// has no default.
    /// Written directly (`describe` of an object of the key fields gives the same text).
    func keyElement(of item: JSONValue) -> String? {
        guard case .object(let members) = item else { return nil }
        // One buffer, appended to in place (a string value through quoteJSON's fast path
        // without the quoted copy).
        var text = ""
        text.reserveCapacity(40)
        text += "k:{"
        for (index, name) in mapKeys.enumerated() {
            let value: JSONValue
            if let member = members[name] {
                value = member
            } else if let defaultValue = objectSchema?.field(name)?.defaultValue {
                value = defaultValue
            } else {
                return nil
            }
            if index > 0 { text += "," }
            Self.appendQuoted(name, to: &text)
            text += ":"
            if case .string(let string) = value { Self.appendQuoted(string, to: &text) } else { text += describe(value) }
        }
        text += "}"
        return text
    }
}

/// What a path holds in one object: a leaf value, or a node that is owned as a unit but whose
/// content is compared through its children (list items, maps).
enum FieldEntry: Equatable {
    case leaf(JSONValue)
    case node
}

/// Where the field walk (``FieldWalker``) puts what it finds, one position at a time: the walk
/// descends to a child position, says whether that position is owned and what it holds there,
/// and comes back. The schema decisions (structures, maps, sets, map lists, atomic types, the
/// members left out) are the walk's alone; a sink only records.
protocol FieldSink {
    /// The current position is owned and holds `value` as a leaf.
    mutating func ownLeaf(_ value: JSONValue)
    /// The current position is owned as a node (a list or set item, a map entry, a map).
    mutating func ownNode()
    /// Runs `body` at the child `element` of the current position.
    mutating func descend(_ element: String, _ body: (inout Self) -> Void)
    /// The current position as a path, where the sink keeps one (for the walk's messages).
    var currentPath: FieldPath? { get }
    /// The walk is about to descend to at most `count` children of the current position (room
    /// for them at once rather than an array's growth, which the standard library does
    /// unspecialized, each time it doubles).
    mutating func reserveChildren(_ count: Int)
}

extension FieldSink {
    mutating func reserveChildren(_ count: Int) {}
}

/// The sink of ``FieldWalker/entries(of:schema:)``: every owned path and what it holds.
struct FieldEntries: FieldSink {
    var path: FieldPath = []
    var result: [FieldPath: FieldEntry] = [:]

    mutating func ownLeaf(_ value: JSONValue) { result[path] = .leaf(value) }
    mutating func ownNode() { result[path] = .node }
    mutating func descend(_ element: String, _ body: (inout FieldEntries) -> Void) {
        path.append(element)
        body(&self)
        path.removeLast()
    }
    var currentPath: FieldPath? { path }
}

/// Enumerates the owned paths of objects under a schema (structured-merge-diff's ToFieldSet
/// and Compare, on JSON values).
struct FieldWalker {
    /// Include a map-typed field (labels, data) itself as a node; Compare does, so a write that
    /// creates the map owns it, while an applied configuration owns only its keys.
    var includeMapNodes: Bool
    /// Paths (and everything below them) left out, e.g. a write's reset fields.
    let ignoring: [FieldPath]
    /// Items of map lists that lack a key field with no default; apply refuses these.
    var missingKeys: [String] = []

    init(includeMapNodes: Bool, ignoring: [FieldPath] = []) {
        self.includeMapNodes = includeMapNodes
        self.ignoring = ignoring
        prunedMembers = ["apiVersion", "kind"] + ignoring.filter { $0.count == 1 && $0[0].hasPrefix("f:") }.map { String($0[0].dropFirst(2)) }
    }

    /// The owned paths of `object` and what each holds, without the stripped paths
    /// (``ServerSideApply/isStripped(_:)``) and the `ignoring` subtrees.
    mutating func entries(of object: JSONValue, schema: TypeSchema?) -> [FieldPath: FieldEntry] {
        guard let schema else {
            var result: [FieldPath: FieldEntry] = [:]
            if case .object(let members) = object {
                for (name, value) in members { result[["f:" + name]] = .leaf(value) }
            }
            return result.filter { entry in !ServerSideApply.isStripped(entry.key) && !isIgnored(entry.key) }
        }
        // The walk itself leaves out what would be filtered afterwards: the top-level members
        // apiVersion, kind and the ignored ones (every reset field is a top-level member), and
        // metadata.managedFields; the stripped metadata fields are removed after it (a copy
        // of the whole result filtered was a fifth of a pod's field walk).
        var sink = FieldEntries()
        walkObject(object, schema: schema, into: &sink)
        var result = sink.result
        if case .object(let members)? = object["metadata"], members.count > 0 {
            for name in ServerSideApply.strippedMetadataNames where members[name] != nil { result[["f:metadata", "f:" + name]] = nil }
        }
        if ignoring.contains(where: { $0.count != 1 || !$0[0].hasPrefix("f:") }) {
            result = result.filter { !isIgnored($0.key) }
        }
        return result
    }

    /// Whether ``ownedFieldsV1(of:schema:)`` applies: every ignored path is one top-level member.
    var canBuildFieldsV1Directly: Bool { ignoring.allSatisfy { $0.count == 1 && $0[0].hasPrefix("f:") } }

    /// The FieldsV1 form of every path ``entries(of:schema:)`` gives for `object`, i.e.
    /// `FieldSet(Set(entries.keys)).fieldsV1`, built by the same walk into a tree instead of
    /// path sets (no path array or hash of one per field): what a create records for its
    /// manager (it owns every field it sets). Needs ``canBuildFieldsV1Directly``. Map-list
    /// items missing a key are skipped without being listed in `missingKeys` (only apply reads
    /// those).
    mutating func ownedFieldsV1(of object: JSONValue, schema: TypeSchema) -> JSONValue {
        var root = OwnedNode()
        walkObject(object, schema: schema, into: &root)
        root.children.update("f:metadata") { metadata in
            for name in ServerSideApply.strippedMetadataNames {
                metadata.children.update("f:" + name) { $0.member = false }
            }
        }
        return root.fieldsV1 ?? .object([:])
    }

    /// What ``entries(of:schema:)`` gives for `object`, as a tree of path elements: the same
    /// walk into an ``EntryNode``. Needs ``canBuildFieldsV1Directly``.
    ///
    /// With `other` (the object this one is compared with), a member of a nested structure
    /// (metadata, spec, status and the structures in them, not inside lists or maps) that
    /// `other` holds equal at the same path is left out, as the walk of `other` with this
    /// object as its `other` leaves it out: equal values give equal entries below them, so
    /// the two trees compare (``TreeComparison``) as the whole ones do. Top-level members are
    /// not compared here (``ServerSideApply/changedMembers(_:_:)`` leaves out the equal ones).
    mutating func entryTree(of object: JSONValue, comparedWith other: JSONValue? = nil, schema: TypeSchema) -> EntryNode {
        var root = EntryNode()
        walkObject(object, shadow: other, schema: schema, into: &root)
        root.children.update("f:metadata") { metadata in
            for name in ServerSideApply.strippedMetadataNames { metadata.children.update("f:" + name) { $0.entry = nil } }
        }
        return root
    }

    /// Top-level members every walk leaves out: apiVersion, kind and the ignored ones. Worked
    /// out once per walker, and compared one by one (a Set built per walk, and a hash of every
    /// top-level member, cost more than comparing a few short names).
    private let prunedMembers: [String]

    private func isIgnored(_ path: FieldPath) -> Bool {
        ignoring.contains { path.count >= $0.count && Array(path.prefix($0.count)) == $0 }
    }

    /// Walks a whole object: its top-level members but apiVersion, kind and the ignored ones.
    private mutating func walkObject<Sink: FieldSink>(_ object: JSONValue, shadow: JSONValue? = nil, schema: TypeSchema, into sink: inout Sink) {
        walkFields(object, shadow: Self.walkedMembers(shadow), schema: schema, root: true, metadata: false, into: &sink)
    }

    /// The members of `value` when it is an object the walk descends into as a structure (a
    /// non-empty one): the shadow of the same position in the other object of a comparison.
    private static func walkedMembers(_ value: JSONValue?) -> [String: JSONValue]? {
        guard case .object(let members)? = value, !members.isEmpty else { return nil }
        return members
    }

    /// The members of a structure; `root` for the object itself (its pruned members are left
    /// out), `metadata` for its metadata (managedFields is left out).
    /// `shadow`: the other object's members at this position in a comparison (``entryTree``),
    /// whose equal members are left out below the top level.
    private mutating func walkFields<Sink: FieldSink>(_ value: JSONValue, shadow: [String: JSONValue]? = nil, schema: TypeSchema, root: Bool, metadata: Bool,
                                                      into sink: inout Sink) {
        guard case .object(let members) = value else { return }
        sink.reserveChildren(members.count)
        for (name, child) in members {
            if root && prunedMembers.contains(name) { continue }
            if metadata && name == "managedFields" { continue }
            let other = shadow?[name]
            if !root, other == child { continue }
            let shape = schema.fieldShape(name)
            sink.descend(shape?.element ?? "f:" + name) { sink in
                if let shape {
                    walk(child, shadow: other, shape: shape, metadata: root && name == "metadata", into: &sink)
                } else {
                    sink.ownLeaf(child)
                }
            }
        }
    }

    /// The value at the sink's current position, owned and descended into as its shape says.
    private mutating func walk<Sink: FieldSink>(_ value: JSONValue, shadow: JSONValue? = nil, shape: FieldShape, metadata: Bool, into sink: inout Sink) {
        switch (shape.type, value) {
        case (.object(let schema), .object(let members)) where !schema.isAtomic && !shape.isAtomic && !members.isEmpty:
            // The other object walks its value here as a structure too when it is a non-empty
            // object (the same shape): only then are equal members left out on both sides.
            walkFields(value, shadow: Self.walkedMembers(shadow), schema: schema, root: false, metadata: metadata, into: &sink)
        case (.map(let element), .object(let members)) where !shape.isAtomic && !members.isEmpty:
            if includeMapNodes { sink.ownNode() }
            let elementShape = FieldShape(type: element)
            sink.reserveChildren(members.count)
            for (key, child) in members {
                sink.descend("f:" + key) { sink in
                    // An entry of a free-form map is owned itself, whatever its value holds.
                    if !element.isScalar { sink.ownNode() }
                    walk(child, shape: elementShape, metadata: false, into: &sink)
                }
            }
        case (.array, .array(let items)) where shape.listType == .set:
            if items.isEmpty { sink.ownLeaf(value) }
            sink.reserveChildren(items.count)
            for item in items { sink.descend("v:" + describe(item)) { $0.ownNode() } }
        case (.array, .array(let items)) where shape.listType == .map:
            if items.isEmpty { sink.ownLeaf(value) }
            sink.reserveChildren(items.count)
            for item in items {
                guard let element = shape.keyElement(of: item) else {
                    if let path = sink.currentPath { missingKeys.append(FieldSet.display(path)) }
                    continue
                }
                sink.descend(element) { sink in
                    sink.ownNode()
                    if let schema = shape.objectSchema { walkFields(item, schema: schema, root: false, metadata: false, into: &sink) }
                }
            }
        default:
            sink.ownLeaf(value)
        }
    }
}

/// A node of a FieldsV1 tree being built: owned itself (`member`) and/or through children.
/// As a ``FieldSink`` it is the tree of ``FieldWalker/ownedFieldsV1(of:schema:)``.
struct OwnedNode: FieldSink {
    var member = false
    var children = ChildList<OwnedNode>()

    mutating func ownLeaf(_ value: JSONValue) { member = true }
    mutating func ownNode() { member = true }
    mutating func descend(_ element: String, _ body: (inout OwnedNode) -> Void) { children.descend(element, make: OwnedNode(), body) }
    var currentPath: FieldPath? { nil }
    mutating func reserveChildren(_ count: Int) { children.reserve(count) }

    /// Whether the node or a node below it is owned.
    var marksAny: Bool { member || !children.isEmpty }

    /// As ``FieldSet/fieldsV1`` writes it: `{}` for an owned leaf, `".": {}` beside the children
    /// of an owned node; nil for a node that owns nothing (no path of the set passes it).
    /// A leaf returns without a dictionary, and a node's is made at its final capacity
    /// (`reserveCapacity` on an empty one, and a dictionary's growth, take the standard
    /// library's unspecialized resize: a leaf's unused dictionary was 9% of `--fields`).
    var fieldsV1: JSONValue? {
        if children.isEmpty { return member ? .object([:]) : nil }
        var object = [String: JSONValue](minimumCapacity: children.count + 1)
        for (key, child) in children {
            if let encoded = child.fieldsV1 { object[key] = encoded }
        }
        if object.isEmpty { return member ? .object([:]) : nil }
        if member { object["."] = .object([:]) }
        return .object(object)
    }
}

/// An object's owned paths as a tree of path elements, each node with what ``FieldEntries``
/// records at its path (nil where no path ends): the sink of ``FieldWalker/entryTree(of:schema:)``.
struct EntryNode: FieldSink {
    var entry: FieldEntry?
    var children = ChildList<EntryNode>()

    mutating func ownLeaf(_ value: JSONValue) { entry = .leaf(value) }
    mutating func ownNode() { entry = .node }
    mutating func descend(_ element: String, _ body: (inout EntryNode) -> Void) { children.descend(element, make: EntryNode(), body) }
    var currentPath: FieldPath? { nil }
    mutating func reserveChildren(_ count: Int) { children.reserve(count) }
}

/// The children of a tree node (``EntryNode``, ``OwnedNode``) by path element, in the order
/// they were added, each element at most once. A node's elements are found by comparing them
/// one by one while it has few (most structures: a field walk's nodes used to hash every
/// element into a dictionary per node, a third of a status write's managedFields), and
/// through a dictionary index once it has more than ``linearLimit`` (long lists and maps).
struct ChildList<Node>: Sequence {
    /// The children in the order they were added: one array of pairs (one allocation as it
    /// grows, where a key array beside a node array took two).
    private(set) var entries: [(key: String, node: Node)] = []
    private var index: [String: Int]? = nil

    static var linearLimit: Int { 16 }

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    var values: [Node] { entries.map(\.node) }

    private func position(_ key: String) -> Int? {
        if let index { return index[key] }
        return entries.firstIndex { $0.key == key }
    }

    private mutating func append(_ key: String, _ node: Node) {
        entries.append((key, node))
        if index != nil {
            index![key] = entries.count - 1
        } else if entries.count > Self.linearLimit {
            reindex()
        }
    }

    private mutating func reindex() {
        var built: [String: Int] = [:]
        built.reserveCapacity(entries.count * 2)
        for (i, entry) in entries.enumerated() { built[entry.key] = i }
        index = built
    }

    subscript(key: String) -> Node? {
        get { position(key).map { entries[$0].node } }
        set {
            if let i = position(key) {
                if let newValue {
                    entries[i].node = newValue
                } else {
                    entries.remove(at: i)
                    if index != nil { reindex() }
                }
            } else if let newValue {
                append(key, newValue)
            }
        }
    }

    /// Adds the child `key`, which the list does not have (the caller knows it).
    mutating func appendNew(_ key: String, _ node: Node) { append(key, node) }

    /// Room for `count` children, when the node has none yet (a node walked again, e.g. a
    /// repeated list item, grows as it must).
    mutating func reserve(_ count: Int) {
        if entries.isEmpty && count > 1 { entries.reserveCapacity(count) }
    }

    /// Runs `body` on the child `key`, added as `make()` first when there is none.
    mutating func descend(_ key: String, make: @autoclosure () -> Node, _ body: (inout Node) -> Void) {
        let i: Int
        if let found = position(key) {
            i = found
        } else {
            append(key, make())
            i = entries.count - 1
        }
        body(&entries[i].node)
    }

    /// Runs `body` on the child `key` when there is one.
    mutating func update(_ key: String, _ body: (inout Node) -> Void) {
        guard let i = position(key) else { return }
        body(&entries[i].node)
    }

    func makeIterator() -> IndexingIterator<[(key: String, node: Node)]> { entries.makeIterator() }
}

/// ``FieldComparison`` on entry trees: the changed (added or modified) and the removed paths as
/// trees of marked nodes, with no node that marks nothing.
struct TreeComparison {
    var changed = OwnedNode()
    var removed = OwnedNode()
    var changedCount = 0
    var removedCount = 0

    init(from old: EntryNode, to new: EntryNode) {
        var counts = (changed: 0, removed: 0)
        Self.compare(old, new, changed: &changed, removed: &removed, counts: &counts)
        changedCount = counts.changed
        removedCount = counts.removed
    }

    init(changed: OwnedNode, removed: OwnedNode, changedCount: Int, removedCount: Int) {
        self.changed = changed
        self.removed = removed
        self.changedCount = changedCount
        self.removedCount = removedCount
    }

    var isEmpty: Bool { changedCount == 0 && removedCount == 0 }

    private static func compare(_ old: EntryNode?, _ new: EntryNode, changed: inout OwnedNode, removed: inout OwnedNode,
                                counts: inout (changed: Int, removed: Int)) {
        if let entry = new.entry {
            if old?.entry != entry {
                changed.member = true
                counts.changed += 1
            }
        } else if old?.entry != nil {
            removed.member = true
            counts.removed += 1
        }
        for (key, child) in new.children {
            var changedChild = OwnedNode(), removedChild = OwnedNode()
            compare(old?.children[key], child, changed: &changedChild, removed: &removedChild, counts: &counts)
            if changedChild.marksAny { changed.children[key] = changedChild }
            if removedChild.marksAny { removed.children[key] = removedChild }
        }
        guard let old else { return }
        for (key, child) in old.children where new.children[key] == nil {
            var removedChild = OwnedNode()
            markAll(child, into: &removedChild, count: &counts.removed)
            if removedChild.marksAny { removed.children[key] = removedChild }
        }
    }

    private static func markAll(_ node: EntryNode, into marked: inout OwnedNode, count: inout Int) {
        if node.entry != nil {
            marked.member = true
            count += 1
        }
        for (key, child) in node.children {
            var markedChild = OwnedNode()
            markAll(child, into: &markedChild, count: &count)
            if markedChild.marksAny { marked.children[key] = markedChild }
        }
    }

    /// Whether the set a FieldsV1 object encodes holds a changed or removed path (what
    /// ``FieldSet/fieldsV1(_:owns:)`` says of each).
    func touches(_ fieldsV1: [String: JSONValue]) -> Bool {
        Self.ownsAny(fieldsV1, of: changed) || Self.ownsAny(fieldsV1, of: removed)
    }

    /// Whether the set a FieldsV1 object encodes holds every changed path.
    func changedAreOwned(by fieldsV1: [String: JSONValue]) -> Bool { Self.ownsAll(fieldsV1, of: changed) }

    private static func owned(_ members: [String: JSONValue]) -> Bool { members.isEmpty || members["."] != nil }

    private static func ownsAny(_ members: [String: JSONValue], of node: OwnedNode) -> Bool {
        for (key, child) in node.children {
            guard case .object(let inner)? = members[key] else { continue }
            if child.member && owned(inner) { return true }
            if !child.children.isEmpty && ownsAny(inner, of: child) { return true }
        }
        return false
    }

    private static func ownsAll(_ members: [String: JSONValue], of node: OwnedNode) -> Bool {
        for (key, child) in node.children {
            // Every node of the tree marks something at or below it.
            guard case .object(let inner)? = members[key] else { return false }
            if child.member && !owned(inner) { return false }
            if !child.children.isEmpty && !ownsAll(inner, of: child) { return false }
        }
        return true
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

// MARK: Comparing two objects in one walk

extension FieldWalker {
    /// The comparison of `old` and `new` that ``TreeComparison/init(from:to:)`` gives for their
    /// entry trees (``entryTree(of:comparedWith:schema:)``), made in one walk of both objects
    /// side by side without building the trees: the walk marks a position changed or removed as
    /// it compares what each object holds there, and passes over a position both hold equal (its
    /// entries, and those below it, are equal). Nil when a list it compares has two items with
    /// the same element (a repeated key of a map list, a repeated set value), whose entries the
    /// trees merge; the trees are compared then. Needs ``canBuildFieldsV1Directly``.
    /// `FusedComparisonTests` compares the two.
    func comparison(from old: JSONValue, to new: JSONValue, schema: TypeSchema) -> TreeComparison? {
        var diff = FieldDiff(includeMapNodes: includeMapNodes)
        var changed = OwnedNode(), removed = OwnedNode()
        guard diff.structure(old.objectValue, new.objectValue, schema: schema, root: true, pruned: prunedMembers, metadata: false,
                             changed: &changed, removed: &removed) else { return nil }
        return TreeComparison(changed: changed, removed: removed, changedCount: diff.changedCount, removedCount: diff.removedCount)
    }
}

/// The walk of ``FieldWalker/comparison(from:to:schema:)``: the field walk's decisions (what is
/// owned at a position and what lies below it, ``FieldWalker``'s `walk` and `walkFields`) on
/// two values at once.
struct FieldDiff {
    let includeMapNodes: Bool
    var changedCount = 0
    var removedCount = 0

    /// How the walk reaches a position, which decides what it owns there and what lies below.
    enum Slot {
        /// A structure's member: walked by its shape, or a leaf when the schema has no field.
        case member(FieldShape?)
        /// An entry of a map: owned as a node unless the map's values are scalars, then walked.
        case mapEntry(FieldShape, ownsNode: Bool)
        /// An item of a set: a node, nothing below.
        case setItem
        /// An item of a map list: a node, with its members below when the list has an item schema.
        case listItem(TypeSchema?)
    }

    /// The metadata members no manager owns, as path elements (``ServerSideApply/isStripped(_:)``).
    static let strippedElements = ServerSideApply.strippedMetadataNames.map { "f:" + $0 }

    /// The entry the walk records at a position reached through `slot` holding `value`.
    func entry(_ value: JSONValue, _ slot: Slot) -> FieldEntry? {
        switch slot {
        case .member(nil): return .leaf(value)
        case .member(let shape?): return walkEntry(value, shape)
        case .mapEntry(let shape, let ownsNode): return walkEntry(value, shape) ?? (ownsNode ? .node : nil)
        case .setItem, .listItem: return .node
        }
    }

    /// What `walk` records at its own position for `value` of `shape` (nil: only below it).
    func walkEntry(_ value: JSONValue, _ shape: FieldShape) -> FieldEntry? {
        switch (shape.type, value) {
        case (.object(let schema), .object(let members)) where !schema.isAtomic && !shape.isAtomic && !members.isEmpty:
            return nil
        case (.map, .object(let members)) where !shape.isAtomic && !members.isEmpty:
            return includeMapNodes ? .node : nil
        case (.array, .array(let items)) where shape.listType == .set || shape.listType == .map:
            return items.isEmpty ? .leaf(value) : nil
        default:
            return .leaf(value)
        }
    }

    /// Compares the child `element` of the current position (`old`, `new`: what each object holds
    /// there, nil for nothing), adding its marks to `changed` and `removed`. `metadata`: the
    /// child is the object's metadata; `stripped`: the walk records no entry at the child.
    /// False when a list below repeats an element.
    mutating func child(_ element: String, _ old: JSONValue?, _ new: JSONValue?, slot: Slot, metadata: Bool, stripped: Bool,
                        changed: inout OwnedNode, removed: inout OwnedNode) -> Bool {
        if let old, let new, old == new { return true }
        var changedChild = OwnedNode(), removedChild = OwnedNode()
        let oldEntry = stripped ? nil : old.flatMap { entry($0, slot) }
        let newEntry = stripped ? nil : new.flatMap { entry($0, slot) }
        if let newEntry {
            if oldEntry != newEntry {
                changedChild.member = true
                changedCount += 1
            }
        } else if oldEntry != nil {
            removedChild.member = true
            removedCount += 1
        }
        let complete: Bool
        switch slot {
        case .member(nil), .setItem, .listItem(nil):
            complete = true
        case .member(let shape?):
            complete = below(old, new, shape: shape, metadata: metadata, changed: &changedChild, removed: &removedChild)
        case .mapEntry(let shape, _):
            complete = below(old, new, shape: shape, metadata: false, changed: &changedChild, removed: &removedChild)
        case .listItem(let schema?):
            complete = structure(old?.objectValue, new?.objectValue, schema: schema, root: false, pruned: [], metadata: false,
                                 changed: &changedChild, removed: &removedChild)
        }
        guard complete else { return false }
        if changedChild.marksAny { changed.children.appendNew(element, changedChild) }
        if removedChild.marksAny { removed.children.appendNew(element, removedChild) }
        return true
    }

    /// The members of a structure (nil: not an object here); `root` for the object itself (its
    /// pruned members are left out), `metadata` for its metadata (managedFields left out, the
    /// stripped members own nothing).
    mutating func structure(_ old: [String: JSONValue]?, _ new: [String: JSONValue]?, schema: TypeSchema, root: Bool, pruned: [String], metadata: Bool,
                            changed: inout OwnedNode, removed: inout OwnedNode) -> Bool {
        Self.eachMember(old, new) { name, oldValue, newValue in
            if root && pruned.contains(name) { return true }
            if metadata && name == "managedFields" { return true }
            let shape = schema.fieldShape(name)
            let element = shape?.element ?? "f:" + name
            return child(element, oldValue, newValue, slot: .member(shape), metadata: root && name == "metadata",
                         stripped: metadata && Self.strippedElements.contains(element), changed: &changed, removed: &removed)
        }
    }

    /// Calls `visit` with each member of `new` (and `old`'s value of it), then with each member
    /// only `old` has; stops at, and returns, the first false.
    static func eachMember(_ old: [String: JSONValue]?, _ new: [String: JSONValue]?,
                           _ visit: (String, JSONValue?, JSONValue?) -> Bool) -> Bool {
        for (name, value) in new ?? [:] where !visit(name, old?[name], value) { return false }
        for (name, value) in old ?? [:] where new?[name] == nil && !visit(name, value, nil) { return false }
        return true
    }

    /// What lies below a position of `shape`, as `walk` descends (nothing for a leaf).
    mutating func below(_ old: JSONValue?, _ new: JSONValue?, shape: FieldShape, metadata: Bool,
                        changed: inout OwnedNode, removed: inout OwnedNode) -> Bool {
        switch shape.type {
        case .object(let schema) where !schema.isAtomic && !shape.isAtomic:
            return structure(Self.nonEmptyObject(old), Self.nonEmptyObject(new), schema: schema, root: false, pruned: [], metadata: metadata,
                             changed: &changed, removed: &removed)
        case .map(let elementType) where !shape.isAtomic:
            let oldMembers = Self.nonEmptyObject(old), newMembers = Self.nonEmptyObject(new)
            let slot = Slot.mapEntry(FieldShape(type: elementType), ownsNode: !elementType.isScalar)
            return Self.eachMember(oldMembers, newMembers) { key, oldValue, newValue in
                let element = "f:" + key
                return child(element, oldValue, newValue, slot: slot, metadata: false,
                             stripped: metadata && Self.strippedElements.contains(element), changed: &changed, removed: &removed)
            }
        case .array where shape.listType == .set:
            let elements: (JSONValue) -> String? = { "v:" + describe($0) }
            return items(old, new, element: elements, slot: .setItem, changed: &changed, removed: &removed)
        case .array where shape.listType == .map:
            return items(old, new, element: { shape.keyElement(of: $0) }, slot: .listItem(shape.objectSchema), changed: &changed, removed: &removed)
        default:
            return true
        }
    }

    /// The items of a set or map list, matched by element (items without one are not walked);
    /// false when either list repeats an element.
    mutating func items(_ old: JSONValue?, _ new: JSONValue?, element: (JSONValue) -> String?, slot: Slot,
                        changed: inout OwnedNode, removed: inout OwnedNode) -> Bool {
        func elements(_ value: JSONValue?) -> [(element: String, item: JSONValue)]? {
            guard case .array(let items)? = value, !items.isEmpty else { return [] }
            var result: [(element: String, item: JSONValue)] = []
            result.reserveCapacity(items.count)
            for item in items {
                if let name = element(item) { result.append((name, item)) }
            }
            if result.count > 1 {
                if result.count <= 16 {
                    for i in 1..<result.count where result[..<i].contains(where: { $0.element == result[i].element }) { return nil }
                } else if Set(result.map(\.element)).count != result.count {
                    return nil
                }
            }
            return result
        }
        guard let oldItems = elements(old), let newItems = elements(new) else { return false }
        let index: [String: Int]? = oldItems.count > 16 ? Dictionary(uniqueKeysWithValues: oldItems.enumerated().map { ($1.element, $0) }) : nil
        func oldItem(_ name: String) -> JSONValue? {
            if let index { return index[name].map { oldItems[$0].item } }
            return oldItems.first { $0.element == name }?.item
        }
        var matched = 0
        for (name, item) in newItems {
            let before = oldItem(name)
            if before != nil { matched += 1 }
            guard child(name, before, item, slot: slot, metadata: false, stripped: false, changed: &changed, removed: &removed) else { return false }
        }
        if matched < oldItems.count {
            let newIndex: Set<String>? = newItems.count > 16 ? Set(newItems.map(\.element)) : nil
            for (name, item) in oldItems {
                let inNew = newIndex.map { $0.contains(name) } ?? newItems.contains { $0.element == name }
                if inNew { continue }
                guard child(name, item, nil, slot: slot, metadata: false, stripped: false, changed: &changed, removed: &removed) else { return false }
            }
        }
        return true
    }

    static func nonEmptyObject(_ value: JSONValue?) -> [String: JSONValue]? {
        guard case .object(let members)? = value, !members.isEmpty else { return nil }
        return members
    }
}

import KubeAPI

/// One metadata.managedFields entry: who owns which fields, and how they last wrote them.
public struct ManagedFieldsEntry: Sendable, Hashable {
    public var manager: String
    /// "Apply" or "Update".
    public var operation: String
    public var apiVersion: String
    public var time: String?
    public var subresource: String?
    public var fields: FieldSet

    public init(manager: String, operation: String, apiVersion: String, time: String?, subresource: String? = nil, fields: FieldSet) {
        self.manager = manager
        self.operation = operation
        self.apiVersion = apiVersion
        self.time = time
        self.subresource = subresource
        self.fields = fields
    }

    /// The entry's header (manager, operation, apiVersion, time, subresource) with no fields,
    /// when `value` has exactly the members ``json`` writes (a canonical entry); nil otherwise.
    init?(header value: JSONValue) {
        guard case .object(let m) = value, let manager = m["manager"]?.stringValue, let operation = m["operation"]?.stringValue,
              let apiVersion = m["apiVersion"]?.stringValue, m["fieldsType"]?.stringValue == "FieldsV1", m["fieldsV1"] != nil else { return nil }
        var count = 5
        let time = m["time"]?.stringValue
        if m["time"] != nil { guard time != nil else { return nil }; count += 1 }
        let subresource = m["subresource"]?.stringValue
        if m["subresource"] != nil { guard let subresource, !subresource.isEmpty else { return nil }; count += 1 }
        guard m.count == count else { return nil }
        self.init(manager: manager, operation: operation, apiVersion: apiVersion, time: time, subresource: subresource, fields: FieldSet())
    }

    /// Decodes one entry; nil for an entry that is not a FieldsV1 entry with a manager.
    public init?(_ value: JSONValue) {
        guard case .object(let m) = value, let manager = m["manager"]?.stringValue,
              let operation = m["operation"]?.stringValue, m["fieldsType"]?.stringValue ?? "FieldsV1" == "FieldsV1",
              let fields = try? FieldSet(fieldsV1: m["fieldsV1"] ?? .object([:])) else { return nil }
        self.init(manager: manager, operation: operation, apiVersion: m["apiVersion"]?.stringValue ?? "",
                  time: m["time"]?.stringValue, subresource: m["subresource"]?.stringValue, fields: fields)
    }

    public var json: JSONValue {
        // Made at its final capacity: a literal's five members leave no room for the seventh,
        // and a dictionary's growth takes the standard library's unspecialized resize.
        var m = [String: JSONValue](minimumCapacity: 7)
        m["manager"] = .string(manager)
        m["operation"] = .string(operation)
        m["apiVersion"] = .string(apiVersion)
        m["fieldsType"] = .string("FieldsV1")
        m["fieldsV1"] = fields.fieldsV1
        if let time { m["time"] = .string(time) }
        if let subresource, !subresource.isEmpty { m["subresource"] = .string(subresource) }
        return .object(m)
    }

    /// Entries are distinct per manager, operation and subresource, as upstream keys them.
    var identity: String { "\(manager)\u{0}\(operation)\u{0}\(subresource ?? "")" }

    /// How upstream names the manager in conflict messages.
    var displayName: String {
        var text = quoteJSON(manager)
        if let subresource, !subresource.isEmpty { text += " with subresource \(quoteJSON(subresource))" }
        if operation == "Update" {
            text += " using \(apiVersion)"
            if let time { text += " at \(time)" }
        }
        return text
    }
}

/// Server-side apply and field ownership (structured-merge-diff, as the API server runs it).
///
/// Every write records who owns which fields in metadata.managedFields. An apply merges the
/// user's intent into the live object by the schema's list semantics, refuses to change fields
/// other managers own (a conflict, HTTP 409) unless forced, and removes fields the manager
/// applied before but no longer applies when nobody else owns them. All functions are pure.
public enum ServerSideApply {
    /// The manager an object's fields are assigned to when it is first applied without any
    /// managedFields (upstream's name).
    public static let beforeFirstApplyManager = "before-first-apply"

    /// Applies `applied` (the user's intent) for `manager`; returns the merged object with
    /// metadata.managedFields updated, or throws a conflict (isConflict) naming the fields and
    /// their managers unless `force`.
    public static func apply(_ applied: JSONValue, to live: JSONValue?, manager: String, force: Bool, schema: TypeSchema?, now: String) throws(PatchError) -> JSONValue {
        try apply(applied, to: live, manager: manager, subresource: nil, force: force, schema: schema, now: now)
    }

    /// `apply` for a subresource write (e.g. "status"); entries are kept per subresource.
    /// `resetFields` are the paths the write cannot change (upstream's ResetFieldsStrategy, e.g.
    /// `[["f:status"]]` on a main resource): nobody gains or loses them through this write.
    public static func apply(_ applied: JSONValue, to live: JSONValue?, manager: String, subresource: String?, force: Bool,
                             schema: TypeSchema?, now: String, resetFields: [FieldPath] = []) throws(PatchError) -> JSONValue {
        guard case .object(let appliedMembers) = applied else {
            throw .badRequest("apply patch must be a JSON or YAML object")
        }
        if let managed = appliedMembers["metadata"]?["managedFields"], managed != .null {
            throw .badRequest("metadata.managedFields must be nil")
        }
        guard !manager.isEmpty else {
            throw .badRequest("PATCH with apply requires the fieldManager query parameter")
        }
        var walker = FieldWalker(includeMapNodes: false, ignoring: resetFields)
        let appliedSet = FieldSet(Set(walker.entries(of: applied, schema: schema).keys))
        if let list = walker.missingKeys.first {
            throw .invalid("associative list at \(list) has an element that omits a key field (and the key field has no default value)")
        }
        let apiVersion = appliedMembers["apiVersion"]?.stringValue ?? live?["apiVersion"]?.stringValue ?? ""

        let liveObject = live ?? .object([:])
        var entries = live.map { managedFields(of: $0, schema: schema, apiVersion: apiVersion) } ?? []
        let me = ManagedFieldsEntry(manager: manager, operation: "Apply", apiVersion: apiVersion, time: now, subresource: subresource, fields: FieldSet())
        let previous = entries.first { $0.identity == me.identity }

        // As structured-merge-diff's Updater.Apply: merge, prune what this manager applied last
        // time, no longer applies and nobody else owns, then compare with the live object for
        // conflicts and ownership changes.
        let rootShape = schema.map { FieldShape(type: .object($0)) }
        var merged = merge(liveObject, applied, shape: rootShape)
        if let previous {
            let owned = entries.filter { $0.identity != me.identity }.reduce(appliedSet) { $0.union($1.fields) }
            let doomed = previous.fields.subtracting(owned).paths.sorted { $0.count > $1.count }
            for path in doomed where !owned.hasDescendant(of: path) {
                merged = remove(path, from: merged, shape: rootShape)
            }
        }
        var compareWalker = FieldWalker(includeMapNodes: true, ignoring: resetFields)
        let comparison = FieldComparison(from: compareWalker.entries(of: liveObject, schema: schema), to: compareWalker.entries(of: merged, schema: schema))

        var conflicts: [(entry: ManagedFieldsEntry, paths: [FieldPath])] = []
        for entry in entries where entry.identity != me.identity {
            let clash = entry.fields.intersection(comparison.changed)
            if !clash.isEmpty { conflicts.append((entry, clash.paths.sorted { FieldSet.display($0) < FieldSet.display($1) })) }
        }
        if !conflicts.isEmpty && !force { throw conflictError(conflicts) }
        for (i, entry) in entries.enumerated() where entry.identity != me.identity {
            entries[i].fields = entry.fields.subtracting(comparison.changed).subtracting(comparison.removed)
        }
        var mine = me
        mine.fields = appliedSet
        if let previous, previous.fields == appliedSet, previous.apiVersion == apiVersion, merged == liveObject { mine.time = previous.time }
        entries.removeAll { $0.identity == me.identity }
        entries.append(mine)
        return withManagedFields(merged, entries)
    }

    /// Records an ordinary write (create/update/patch) by `manager` in managedFields (operation
    /// "Update"): it takes ownership of every field it added or changed (from any other
    /// manager), and fields it removed leave every manager's set.
    public static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, schema: TypeSchema?, now: String) -> JSONValue {
        recordUpdate(old: old, new: new, manager: manager, subresource: nil, schema: schema, now: now)
    }

    /// `recordUpdate` for a subresource write (e.g. "status"), with the paths the write cannot
    /// change (`resetFields`, as for `apply`).
    public static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, subresource: String?, schema: TypeSchema?, now: String,
                                    resetFields: [FieldPath] = []) -> JSONValue {
        recordUpdate(old: old, new: new, manager: manager, subresource: subresource, schema: schema, now: now, resetFields: resetFields, fastPaths: true)
    }

    /// `recordUpdate`; without `fastPaths` always the general path (the tests compare the two).
    static func recordUpdate(old: JSONValue?, new: JSONValue, manager: String, subresource: String?, schema: TypeSchema?, now: String,
                             resetFields: [FieldPath], fastPaths: Bool) -> JSONValue {
        let apiVersion = new["apiVersion"]?.stringValue ?? old?["apiVersion"]?.stringValue ?? ""
        var walker = FieldWalker(includeMapNodes: true, ignoring: resetFields)
        if fastPaths, let old, let schema, walker.canBuildFieldsV1Directly,
           let recorded = recordUpdateOfTrees(old: old, new: new, manager: manager, subresource: subresource, apiVersion: apiVersion,
                                              walker: &walker, schema: schema, now: now) {
            return recorded
        }
        if fastPaths, old == nil, new["metadata"]?["managedFields"] == nil, let schema, walker.canBuildFieldsV1Directly {
            // A create without managedFields: the manager owns every field, so its FieldsV1 is
            // the object's field tree, built directly (as the general path below would
            // produce it through path sets; FieldWalkerPruningTests compares both).
            let me = ManagedFieldsEntry(manager: manager, operation: "Update", apiVersion: apiVersion, time: now, subresource: subresource, fields: FieldSet())
            let fieldsV1 = walker.ownedFieldsV1(of: new, schema: schema)
            guard case .object(let owned) = fieldsV1, !owned.isEmpty, case .object(var json) = me.json else {
                return withManagedFields(new, [RecordedEntry]())
            }
            json["fieldsV1"] = fieldsV1
            return withManagedFields(new, [RecordedEntry(entry: me, verbatim: .object(json))])
        }
        let (before, after) = changedMembers(old ?? .object([:]), new)
        let comparison = FieldComparison(from: walker.entries(of: before, schema: schema), to: walker.entries(of: after, schema: schema))
        let touched = comparison.changed.union(comparison.removed)
        let me = ManagedFieldsEntry(manager: manager, operation: "Update", apiVersion: apiVersion, time: now, subresource: subresource, fields: FieldSet())
        // A client may send managedFields back as it read them, leave them out (both keep the
        // live ones), reset them with [] or replace them with a list of its own, as upstream allows.
        var entries: [RecordedEntry]
        // The FieldsV1 JSON of this manager's live entry (the first one decoded) when it is in
        // canonical form, i.e. exactly the encoding of the set it decodes to.
        var ownLiveFieldsV1: JSONValue?
        var ownSeen = false
        switch new["metadata"]?["managedFields"] {
        case .array(let sent)? where sent.isEmpty:
            entries = []
        case .array(let sent)? where sent != old?["metadata"]?["managedFields"].flatMap(arrayOf):
            entries = sent.compactMap { ManagedFieldsEntry($0) }.map { RecordedEntry(entry: $0) }
        default:
            // The live entries: another manager's entry whose fields this write does not touch
            // keeps the JSON it was read as (no decoding into a set, no encoding back), when that
            // JSON is exactly what encoding the decoded entry gives.
            let items = old?["metadata"]?["managedFields"].flatMap(arrayOf) ?? []
            entries = items.compactMap { item in
                if let header = ManagedFieldsEntry(header: item), header.identity != me.identity,
                   let fieldsV1 = item["fieldsV1"], FieldSet.isCanonicalFieldsV1(fieldsV1),
                   !touched.paths.contains(where: { FieldSet.fieldsV1(fieldsV1, owns: $0) }) {
                    return RecordedEntry(entry: header, verbatim: item)
                }
                guard let entry = ManagedFieldsEntry(item) else { return nil }
                if entry.identity == me.identity && !ownSeen {
                    ownSeen = true
                    ownLiveFieldsV1 = item["fieldsV1"].flatMap { FieldSet.isCanonicalFieldsV1($0) ? $0 : nil }
                }
                return RecordedEntry(entry: entry)
            }
        }
        let previous = entries.first { $0.entry.identity == me.identity }?.entry
        for i in entries.indices where entries[i].verbatim == nil && entries[i].entry.identity != me.identity {
            entries[i].entry.fields = entries[i].entry.fields.subtracting(comparison.changed).subtracting(comparison.removed)
        }
        var mine = me
        var verbatim: JSONValue?
        if let previous, comparison.removed.isEmpty, comparison.changed.paths.allSatisfy(previous.fields.contains) {
            // The write changed only fields this manager owns already (a Lease renewal, a
            // heartbeat, a kubelet's status update): its set stays as it was, and a canonical
            // live FieldsV1 is that set's encoding, so it is kept rather than encoded again.
            mine.fields = previous.fields
            if comparison.isEmpty { mine.time = previous.time }
            if let live = ownLiveFieldsV1 {
                var header = mine
                header.fields = FieldSet()
                if case .object(var json) = header.json {
                    json["fieldsV1"] = live
                    verbatim = .object(json)
                }
            }
        } else {
            mine.fields = (previous?.fields ?? FieldSet()).union(comparison.changed).subtracting(comparison.removed)
            if let previous, previous.fields == mine.fields, comparison.isEmpty { mine.time = previous.time }
        }
        entries.removeAll { $0.entry.identity == me.identity }
        entries.append(RecordedEntry(entry: mine, verbatim: verbatim))
        return withManagedFields(new, entries)
    }

    /// The general path below for the usual update, on trees of path elements instead of path
    /// sets: the client kept the live managedFields (sent them back or left them out), every
    /// live entry is canonical (its JSON is what encoding it gives: ``ManagedFieldsEntry/init(header:)``
    /// and ``FieldSet/isCanonicalFieldsV1(_:)``), no other manager owns a field the write
    /// changed or removed (so their entries stay as they were read), and this manager has at
    /// most one entry, which owns every field the write changed and lost none (a Lease renewal,
    /// a heartbeat) or which it does not have yet (a kubelet's first status write: it owns what
    /// it changed). Nil for anything else, which the general path records.
    /// `RecordUpdateTreeTests` compares the two on a table of writes.
    static func recordUpdateOfTrees(old: JSONValue, new: JSONValue, manager: String, subresource: String?, apiVersion: String,
                                            walker: inout FieldWalker, schema: TypeSchema, now: String) -> JSONValue? {
        let live = old["metadata"]?["managedFields"].flatMap(arrayOf)
        if case .array(let sent)? = new["metadata"]?["managedFields"], sent.isEmpty || sent != live { return nil }
        // Both objects walked side by side; the entry trees when a list repeats an element.
        let comparison: TreeComparison
        if let compared = walker.comparison(from: old, to: new, schema: schema) {
            comparison = compared
        } else {
            let (before, after) = changedMembers(old, new)
            comparison = TreeComparison(from: walker.entryTree(of: before, comparedWith: after, schema: schema),
                                        to: walker.entryTree(of: after, comparedWith: before, schema: schema))
        }
        let me = ManagedFieldsEntry(manager: manager, operation: "Update", apiVersion: apiVersion, time: now, subresource: subresource, fields: FieldSet())
        var entries: [RecordedEntry] = []
        var previous: (entry: ManagedFieldsEntry, fieldsV1: [String: JSONValue])?
        for item in live ?? [] {
            guard let header = ManagedFieldsEntry(header: item), let fieldsV1 = item["fieldsV1"], FieldSet.isCanonicalFieldsV1(fieldsV1),
                  case .object(let members) = fieldsV1 else { return nil }
            if header.identity == me.identity {
                guard previous == nil else { return nil }
                previous = (header, members)
            } else {
                if comparison.touches(members) { return nil }
                entries.append(RecordedEntry(entry: header, verbatim: item))
            }
        }
        var mine = me
        let owned: JSONValue
        if let previous {
            guard comparison.removedCount == 0, comparison.changedAreOwned(by: previous.fieldsV1) else { return nil }
            if comparison.isEmpty { mine.time = previous.entry.time }
            owned = .object(previous.fieldsV1)
        } else {
            // Its set is what the write changed (less what it removed: nothing of that).
            guard let changed = comparison.changed.fieldsV1 else { return withManagedFields(new, entries) }
            owned = changed
        }
        guard case .object(var json) = mine.json else { return nil }
        json["fieldsV1"] = owned
        entries.append(RecordedEntry(entry: mine, verbatim: .object(json)))
        return withManagedFields(new, entries)
    }

    /// An entry of a write's result: decoded, or (`verbatim`) the canonical JSON it was read as,
    /// whose fields the write left alone; its `entry` then holds the header fields only.
    struct RecordedEntry {
        var entry: ManagedFieldsEntry
        var verbatim: JSONValue? = nil

        var isEmpty: Bool { verbatim == nil && entry.fields.isEmpty }
        var json: JSONValue { verbatim ?? entry.json }
    }

    /// `old` and `new` without the top-level members they hold equal. The field entries under a
    /// top-level member depend on that member alone, so equal ones never differ: leaving them
    /// out gives the same comparison without walking them (a status write's spec and
    /// metadata, managedFields included).
    /// Built from the differing members (usually one or two) rather than by deleting the equal
    /// ones from copies of both objects.
    static func changedMembers(_ old: JSONValue, _ new: JSONValue) -> (JSONValue, JSONValue) {
        guard case .object(let oldMembers) = old, case .object(let newMembers) = new else { return (old, new) }
        var before: [String: JSONValue] = [:], after: [String: JSONValue] = [:]
        for (key, value) in oldMembers {
            if let other = newMembers[key] {
                if other == value { continue }
                after[key] = other
            }
            before[key] = value
        }
        if after.count + (oldMembers.count - before.count) != newMembers.count {
            for (key, value) in newMembers where oldMembers[key] == nil { after[key] = value }
        }
        return (.object(before), .object(after))
    }

    /// The decoded managedFields of `object`. An object that has none (written before fields
    /// were tracked) has all its fields assigned to `before-first-apply`, as upstream does, so
    /// that a first apply sees them as owned.
    public static func managedFields(of object: JSONValue, schema: TypeSchema?, apiVersion: String) -> [ManagedFieldsEntry] {
        let recorded = decodedManagedFields(of: object)
        if !recorded.isEmpty { return recorded }
        var walker = FieldWalker(includeMapNodes: true)
        let owned = FieldSet(Set(walker.entries(of: object, schema: schema).keys))
        if owned.isEmpty { return [] }
        return [ManagedFieldsEntry(manager: beforeFirstApplyManager, operation: "Update", apiVersion: apiVersion, time: nil, fields: owned)]
    }

    /// The entries recorded in metadata.managedFields, malformed ones left out.
    public static func decodedManagedFields(of object: JSONValue?) -> [ManagedFieldsEntry] {
        guard case .array(let items)? = object?["metadata"]?["managedFields"] else { return [] }
        return items.compactMap { ManagedFieldsEntry($0) }
    }

    /// Paths no manager owns: identity and server-set metadata (upstream's strip set).
    static func isStripped(_ path: FieldPath) -> Bool {
        switch path.count {
        case 1:
            return path[0] == "f:apiVersion" || path[0] == "f:kind"
        default:
            guard path[0] == "f:metadata" else { return false }
            if path[1] == "f:managedFields" { return true }
            return path.count == 2 && strippedMetadata.contains(path[1])
        }
    }

    private static let strippedMetadata: Set<String> = Set(strippedMetadataNames.map { "f:" + $0 })

    /// The metadata fields no manager owns.
    static let strippedMetadataNames = ["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "resourceVersion"]

    private static func arrayOf(_ value: JSONValue) -> [JSONValue]? {
        if case .array(let items) = value { return items }
        return nil
    }

    /// Writes `entries` (without empty ones, sorted as upstream sorts them: operation, time,
    /// manager, apiVersion, subresource) into metadata.managedFields of `object`.
    static func withManagedFields(_ object: JSONValue, _ entries: [ManagedFieldsEntry]) -> JSONValue {
        withManagedFields(object, entries.map { RecordedEntry(entry: $0) })
    }

    static func withManagedFields(_ object: JSONValue, _ entries: [RecordedEntry]) -> JSONValue {
        guard case .object(var members) = object else { return object }
        let kept = entries.filter { !$0.isEmpty }.sorted { p, q in
            let p = p.entry, q = q.entry
            if p.operation != q.operation { return p.operation < q.operation }
            if (p.time ?? "") != (q.time ?? "") { return (p.time ?? "") < (q.time ?? "") }
            if p.manager != q.manager { return p.manager < q.manager }
            if p.apiVersion != q.apiVersion { return p.apiVersion < q.apiVersion }
            return (p.subresource ?? "") < (q.subresource ?? "")
        }
        var metadata = members["metadata"]?.objectValue ?? [:]
        if kept.isEmpty {
            metadata.removeValue(forKey: "managedFields")
        } else {
            metadata["managedFields"] = .array(kept.map(\.json))
        }
        members["metadata"] = .object(metadata)
        return .object(members)
    }

    private static func conflictError(_ conflicts: [(entry: ManagedFieldsEntry, paths: [FieldPath])]) -> PatchError {
        var causes: [FieldCause] = []
        for (entry, paths) in conflicts {
            for path in paths {
                causes.append(FieldCause(field: FieldSet.display(path), message: "conflict with \(entry.displayName)", reason: "FieldManagerConflict"))
            }
        }
        let message: String
        if causes.count == 1 {
            message = "Apply failed with 1 conflict: \(causes[0].message): \(causes[0].field)"
        } else {
            var lines: [String] = []
            for (entry, paths) in conflicts.sorted(by: { $0.entry.identity < $1.entry.identity }) {
                lines.append("conflicts with \(entry.displayName):")
                lines += paths.map { "- " + FieldSet.display($0) }
            }
            message = "Apply failed with \(causes.count) conflicts: " + lines.joined(separator: "\n")
        }
        return PatchError(message: message, isConflict: true, causes: causes)
    }

    // MARK: Merging and removing by the schema

    /// Merges the applied configuration into the live value: structures and maps member by
    /// member, map lists item by key, sets by value; everything else (atomic lists and maps,
    /// scalars) is replaced. A null in the configuration removes the field.
    static func merge(_ live: JSONValue?, _ applied: JSONValue, shape: FieldShape?) -> JSONValue {
        guard let live, let shape else { return applied }
        switch (shape.type, live, applied) {
        case (.object(let schema), .object(var result), .object(let changes)) where !schema.isAtomic && !shape.isAtomic:
            for (name, value) in changes {
                if value == .null { result.removeValue(forKey: name); continue }
                result[name] = merge(result[name], value, shape: schema.field(name).map(FieldShape.init))
            }
            return .object(result)
        case (.map(let element), .object(var result), .object(let changes)) where !shape.isAtomic:
            for (key, value) in changes {
                if value == .null { result.removeValue(forKey: key); continue }
                result[key] = merge(result[key], value, shape: FieldShape(type: element))
            }
            return .object(result)
        case (.array, .array(let result), .array(let items)) where shape.listType == .set:
            return .array(mergeItems(result, items, id: { "v:" + describe($0) }, merge: { _, applied in applied }))
        case (.array, .array(let result), .array(let items)) where shape.listType == .map:
            let itemShape = shape.objectSchema.map { FieldShape(type: .object($0)) }
            return .array(mergeItems(result, items, id: shape.keyElement(of:), merge: { live, applied in merge(live, applied, shape: itemShape) }))
        default:
            return applied
        }
    }

    /// Merges the items of a set or map list (structured-merge-diff's visitListItems): items in
    /// both follow the applied order, live-only items keep their place, new items go where the
    /// applied list puts them. Items without an identity are kept as they are.
    static func mergeItems(_ live: [JSONValue], _ applied: [JSONValue], id: (JSONValue) -> String?,
                           merge: (JSONValue?, JSONValue) -> JSONValue) -> [JSONValue] {
        let liveIDs = live.map { id($0) ?? "" }
        let appliedIDs = applied.map { id($0) ?? "" }
        var liveIndex: [String: Int] = [:]
        for (i, key) in liveIDs.enumerated() where liveIndex[key] == nil { liveIndex[key] = i }
        var appliedIndex: [String: Int] = [:]
        for (i, key) in appliedIDs.enumerated() where appliedIndex[key] == nil { appliedIndex[key] = i }
        var shared = appliedIDs.filter { liveIndex[$0] != nil }.makeIterator()
        var nextShared = shared.next()
        var mergedApplied = Set<String>()
        var out: [JSONValue] = []
        var l = 0, r = 0
        while l < live.count || r < applied.count {
            if l < live.count && r < applied.count {
                let key = liveIDs[l]
                if key == appliedIDs[r] {
                    mergedApplied.insert(key)
                    out.append(merge(live[liveIndex[key]!], applied[appliedIndex[key]!]))
                    l += 1
                    r += 1
                    nextShared = shared.next()
                    continue
                }
                // A live item the applied list also has, but not next: it is placed when the
                // applied list reaches it.
                if appliedIndex[key] != nil, let expected = nextShared, expected != key {
                    l += 1
                    continue
                }
            }
            if l < live.count {
                let key = liveIDs[l]
                if appliedIndex[key] == nil {
                    out.append(live[l])
                    l += 1
                    continue
                } else if mergedApplied.contains(key) {
                    l += 1
                }
            }
            if r < applied.count {
                let key = appliedIDs[r]
                mergedApplied.insert(key)
                out.append(merge(liveIndex[key].map { live[$0] }, applied[appliedIndex[key]!]))
                r += 1
                if nextShared == key { nextShared = shared.next() }
            }
        }
        return out
    }

    /// Removes the field or item at `path` from `value`; a path that names nothing is ignored.
    static func remove(_ path: FieldPath, from value: JSONValue, shape: FieldShape?) -> JSONValue {
        guard let element = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch (element.prefix(2), value) {
        case ("f:", .object(var members)):
            let name = String(element.dropFirst(2))
            guard let child = members[name] else { return value }
            if rest.isEmpty {
                members.removeValue(forKey: name)
            } else {
                members[name] = remove(rest, from: child, shape: childShape(of: shape, name: name))
            }
            return .object(members)
        case ("k:", .array(var items)), ("v:", .array(var items)), ("i:", .array(var items)):
            guard let index = items.indices.first(where: { i in
                switch element.prefix(2) {
                case "k:": return shape?.keyElement(of: items[i]) == element
                case "v:": return "v:" + describe(items[i]) == element
                default: return "i:\(i)" == element
                }
            }) else { return value }
            if rest.isEmpty {
                items.remove(at: index)
            } else {
                items[index] = remove(rest, from: items[index], shape: shape?.objectSchema.map { FieldShape(type: .object($0)) })
            }
            return .array(items)
        default:
            return value
        }
    }

    private static func childShape(of shape: FieldShape?, name: String) -> FieldShape? {
        switch shape?.type {
        case .object(let schema)?: return schema.field(name).map(FieldShape.init)
        case .map(let element)?: return FieldShape(type: element)
        default: return nil
        }
    }
}

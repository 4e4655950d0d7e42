import KubeAPI

/// Strategic merge patch, the `application/strategic-merge-patch+json` PATCH type: a JSON
/// merge patch that merges lists by the key the schema declares (`patchMergeKey`), and
/// understands the directives `$patch` (replace, delete), `$retainKeys`,
/// `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.
///
/// Semantics follow apimachinery's strategicpatch as the API server runs it (parallel lists
/// merged, unmatched nulls ignored), including its list order: items the patch names follow the
/// patch's order, the others keep their live order, and items the live list lacks come first
/// unless `$setElementOrder` says otherwise (kubectl apply always sends it).
public enum StrategicMergePatch {
    static let directive = "$patch"
    static let retainKeys = "$retainKeys"
    static let deleteFromPrimitiveList = "$deleteFromPrimitiveList/"
    static let setElementOrder = "$setElementOrder/"

    /// Applies `patch` (a JSON object) to `original` using the list semantics of `schema`;
    /// without a schema, objects merge and lists are replaced. Throws a bad-request error for a
    /// malformed patch (not an object, an unknown directive, a list item without its merge key)
    /// and an invalid error when a patch's fields are missing from its `$retainKeys`.
    public static func apply(_ patch: JSONValue, to original: JSONValue, schema: TypeSchema?) throws(PatchError) -> JSONValue {
        guard case .object(let patchMembers) = patch else {
            throw .badRequest("strategic merge patch must be a JSON object")
        }
        let originalMembers = original.objectValue ?? [:]
        return .object(try mergeObject(originalMembers, patchMembers, schema: schema, path: ""))
    }

    private static func mergeObject(_ original: [String: JSONValue], _ patch: [String: JSONValue], schema: TypeSchema?, path: String) throws(PatchError) -> [String: JSONValue] {
        var patch = patch
        if let value = patch[directive] {
            switch value.stringValue {
            case "replace":
                patch.removeValue(forKey: directive)
                return try removeDirectives(in: patch, path: path)
            case "delete":
                return [:]
            default:
                throw .badRequest("strategic merge patch at \(display(path)): unknown $patch directive \(describe(value))")
            }
        }
        var result = original

        if let retain = patch.removeValue(forKey: retainKeys) {
            guard case .array(let keys) = retain else {
                throw .badRequest("strategic merge patch at \(display(path)): $retainKeys must be a list of field names")
            }
            let kept = Set(keys.compactMap(\.stringValue))
            for (name, value) in patch where value != .null && !name.hasPrefix(deleteFromPrimitiveList) && !name.hasPrefix(setElementOrder) {
                guard kept.contains(name) else {
                    throw .invalid("strategic merge patch at \(display(path)): field \"\(name)\" is not in $retainKeys")
                }
            }
            for name in result.keys where !kept.contains(name) { result.removeValue(forKey: name) }
        }

        for (name, order) in patch where name.hasPrefix(setElementOrder) {
            patch.removeValue(forKey: name)
            let listName = String(name.dropFirst(setElementOrder.count))
            guard case .array(let orderItems) = order else {
                throw .badRequest("strategic merge patch at \(display(path)): \(name) must be a list")
            }
            let field = schema?.field(listName)
            let fieldPath = join(path, listName)
            let mergeKey = field?.patchMergeKey
            let merged: [JSONValue]
            switch (result[listName], patch.removeValue(forKey: listName)) {
            case (.array(let live)?, .array(let items)?):
                merged = field?.mergesList == true
                    ? try mergeList(live, items, field: field, isDeleteList: false, path: fieldPath)
                    : try removeDirectives(in: items, path: fieldPath)
            case (.array(let live)?, nil):
                merged = live
            case (_, .array(let items)?):
                merged = try removeDirectives(in: items, path: fieldPath)
            case (nil, nil):
                continue
            default:
                throw .badRequest("strategic merge patch at \(display(fieldPath)): \(name) names a field that is not a list")
            }
            let inOrder = Set(try orderItems.map { (item) throws(PatchError) in try identity(item, mergeKey: mergeKey, path: fieldPath) })
            var patchItems: [JSONValue] = []
            var serverOnly: [JSONValue] = []
            for item in merged {
                if inOrder.contains(try identity(item, mergeKey: mergeKey, path: fieldPath)) { patchItems.append(item) } else { serverOnly.append(item) }
            }
            result[listName] = .array(try normalizeOrder(patchItems: patchItems, serverOnly: serverOnly, patchOrder: orderItems,
                                                         serverOrder: result[listName].flatMap(arrayItems) ?? [], mergeKey: mergeKey, path: fieldPath))
        }

        for (rawName, patchValue) in patch {
            var name = rawName
            var isDeleteList = false
            if rawName.hasPrefix(deleteFromPrimitiveList) {
                name = String(rawName.dropFirst(deleteFromPrimitiveList.count))
                isDeleteList = true
            }
            let field = schema?.field(name)
            let fieldPath = join(path, name)
            if patchValue == .null {
                result.removeValue(forKey: name)
                continue
            }
            guard let originalValue = result[name] else {
                if !isDeleteList, let value = try removeDirectives(in: patchValue, path: fieldPath) { result[name] = value }
                continue
            }
            switch (originalValue, patchValue) {
            case (.object(let live), .object(let changes)):
                if field?.replacesWhole == true {
                    result[name] = .object(try removeDirectives(in: changes, path: fieldPath))
                } else {
                    result[name] = .object(try mergeObject(live, changes, schema: field?.type.objectSchema, path: fieldPath))
                }
            case (.array(let live), .array(let items)):
                if field?.mergesList == true || isDeleteList {
                    result[name] = .array(try mergeList(live, items, field: field, isDeleteList: isDeleteList, path: fieldPath))
                } else {
                    result[name] = .array(try removeDirectives(in: items, path: fieldPath))
                }
            default:
                if isDeleteList { continue }
                if let value = try removeDirectives(in: patchValue, path: fieldPath) { result[name] = value } else { result.removeValue(forKey: name) }
            }
        }
        return result
    }

    private static func mergeList(_ original: [JSONValue], _ patch: [JSONValue], field: FieldSchema?, isDeleteList: Bool, path: String) throws(PatchError) -> [JSONValue] {
        if original.isEmpty && patch.isEmpty { return original }
        let mergeKey = field?.patchMergeKey
        let objects = (original + patch).contains { if case .object = $0 { return true } else { return false } }
        var live = original
        var changes = patch
        if !objects {
            if isDeleteList {
                let doomed = Set(patch)
                return original.filter { !doomed.contains($0) }
            }
            var seen = Set<JSONValue>()
            live = (original + patch).filter { seen.insert($0).inserted }
        } else {
            guard let mergeKey else {
                throw .badRequest("strategic merge patch at \(display(path)): cannot merge a list of objects without a merge key")
            }
            var replace = false
            changes = []
            for item in patch {
                guard case .object(let members) = item else {
                    throw .badRequest("strategic merge patch at \(display(path)): list items must all be objects")
                }
                guard let kind = members[directive] else { changes.append(item); continue }
                switch kind.stringValue {
                case "delete":
                    guard let key = members[mergeKey] else {
                        throw .badRequest("strategic merge patch at \(display(path)): map \(describe(item)) does not contain declared merge key: \(mergeKey)")
                    }
                    live.removeAll { $0[mergeKey] == key }
                case "replace":
                    replace = true
                default:
                    throw .badRequest("strategic merge patch at \(display(path)): unknown $patch directive \(describe(kind)) in a list")
                }
            }
            if replace {
                live = try removeDirectives(in: changes, path: path)
                changes = []
            }
            for item in changes {
                guard case .object(let members) = item, let key = members[mergeKey] else {
                    throw .badRequest("strategic merge patch at \(display(path)): map \(describe(item)) does not contain declared merge key: \(mergeKey)")
                }
                let itemPath = "\(path)[\(mergeKey)=\(describe(key))]"
                if let index = live.firstIndex(where: { $0[mergeKey] == key }) {
                    live[index] = .object(try mergeObject(live[index].objectValue ?? [:], members, schema: field?.type.objectSchema, path: itemPath))
                } else {
                    live.append(.object(try mergeObject([:], members, schema: field?.type.objectSchema, path: itemPath)))
                }
            }
        }
        let keyOfObjects = objects ? mergeKey : nil
        let named = Set(try changes.map { (item) throws(PatchError) in try identity(item, mergeKey: keyOfObjects, path: path) })
        var patchItems: [JSONValue] = []
        var serverOnly: [JSONValue] = []
        for item in live {
            if named.contains(try identity(item, mergeKey: keyOfObjects, path: path)) { patchItems.append(item) } else { serverOnly.append(item) }
        }
        return try normalizeOrder(patchItems: patchItems, serverOnly: serverOnly, patchOrder: changes, serverOrder: original, mergeKey: keyOfObjects, path: path)
    }

    /// Sorts the patch's items by the patch order and the server-only items by live order, then
    /// interleaves them: a server-only item goes before a patch item only when both are in the
    /// live list and it came first there (upstream's normalizeElementOrder).
    private static func normalizeOrder(patchItems: [JSONValue], serverOnly: [JSONValue], patchOrder: [JSONValue], serverOrder: [JSONValue],
                                       mergeKey: String?, path: String) throws(PatchError) -> [JSONValue] {
        func positions(_ list: [JSONValue]) throws(PatchError) -> [JSONValue: Int] {
            var result: [JSONValue: Int] = [:]
            for (i, item) in list.enumerated() {
                let id = try identity(item, mergeKey: mergeKey, path: path)
                if result[id] == nil { result[id] = i }
            }
            return result
        }
        let inPatch = try positions(patchOrder)
        let inServer = try positions(serverOrder)
        func sorted(_ items: [JSONValue], by order: [JSONValue: Int]) throws(PatchError) -> [JSONValue] {
            var keyed: [(Int, Int, JSONValue)] = []
            for (i, item) in items.enumerated() {
                keyed.append((order[try identity(item, mergeKey: mergeKey, path: path)] ?? Int.max, i, item))
            }
            return keyed.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
        }
        let right = try sorted(patchItems, by: inPatch)
        let left = try sorted(serverOnly, by: inServer)
        var result: [JSONValue] = []
        result.reserveCapacity(left.count + right.count)
        var i = 0, j = 0
        while i < left.count || j < right.count {
            if j >= right.count { result.append(left[i]); i += 1; continue }
            if i >= left.count { result.append(right[j]); j += 1; continue }
            let li = inServer[try identity(left[i], mergeKey: mergeKey, path: path)]
            let ri = inServer[try identity(right[j], mergeKey: mergeKey, path: path)]
            if let li, let ri, li < ri {
                result.append(left[i]); i += 1
            } else {
                result.append(right[j]); j += 1
            }
        }
        return result
    }

    /// What identifies a list item: its merge key's value for objects, itself for scalars.
    private static func identity(_ item: JSONValue, mergeKey: String?, path: String) throws(PatchError) -> JSONValue {
        guard let mergeKey else { return item }
        guard case .object(let members) = item, let key = members[mergeKey] else {
            throw .badRequest("strategic merge patch at \(display(path)): map \(describe(item)) does not contain declared merge key: \(mergeKey)")
        }
        return key
    }

    private static func arrayItems(_ value: JSONValue) -> [JSONValue]? {
        if case .array(let items) = value { return items }
        return nil
    }

    /// A patch value taken as is: directives removed, unmatched nulls dropped; nil when the value
    /// itself is a directive (e.g. `{"$patch": "delete"}` for a field that does not exist).
    private static func removeDirectives(in value: JSONValue, path: String) throws(PatchError) -> JSONValue? {
        switch value {
        case .object(let members):
            if members[directive] != nil { return nil }
            return .object(try removeDirectives(in: members, path: path))
        case .array(let items):
            return .array(try removeDirectives(in: items, path: path))
        default:
            return value
        }
    }

    private static func removeDirectives(in members: [String: JSONValue], path: String) throws(PatchError) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for (name, value) in members where value != .null && !name.hasPrefix("$") {
            if let kept = try removeDirectives(in: value, path: join(path, name)) { result[name] = kept }
        }
        return result
    }

    private static func removeDirectives(in items: [JSONValue], path: String) throws(PatchError) -> [JSONValue] {
        var result: [JSONValue] = []
        for item in items {
            if let kept = try removeDirectives(in: item, path: path) { result.append(kept) }
        }
        return result
    }

    private static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
    private static func display(_ path: String) -> String { path.isEmpty ? "the top level" : path }
}

extension ObjectMeta: JSONTapeDecodable {
    /// The member names, in the order of the stored properties: the order the synthesized
    /// `init(from:)` decodes them, so the first error thrown is the same.
    private static let memberNames: [StaticString] = [
        "name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
        "finalizers", "managedFields",
    ]

    /// As the synthesized `init(from:)` through ``JSONTapeDecoder``'s keyed container, in one
    /// pass over the members instead of one search per property (every object has metadata:
    /// it was about a fifth of a Pod's decoding). Same values, same errors: each property
    /// is its member's last occurrence (as `member(of:)` finds it), absent or null is nil,
    /// and each value goes through the same `unbox` the container uses; unknown members are
    /// skipped unread.
    static func decode(from decoder: JSONTapeDecoder) throws -> ObjectMeta {
        let document = decoder.document
        let entry = decoder.entry
        guard entry.kind == .object else { throw document.mismatch([String: JSONValue].self, at: decoder.index) }
        return try withUnsafeTemporaryAllocation(of: Int.self, capacity: memberNames.count) { at in
            at.initialize(repeating: -1)
            var i = decoder.index + 1
            while i < Int(entry.end) {
                for (k, name) in memberNames.enumerated()
                where document.keyMatches(at: i, UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)) {
                    at[k] = i + 1
                    break
                }
                i = Int(document.entries[i + 1].end)
            }
            func value<T: Decodable>(_ k: Int, _ type: T.Type) throws -> T? {
                let v = at[k]
                guard v >= 0, document.entries[v].kind != .null else { return nil }
                return try JSONTapeDecoder(document, v).unbox(T.self)
            }
            var m = ObjectMeta()
            m.name = try value(0, String.self)
            m.generateName = try value(1, String.self)
            m.namespace = try value(2, String.self)
            m.uid = try value(3, String.self)
            m.resourceVersion = try value(4, String.self)
            m.generation = try value(5, Int64.self)
            m.creationTimestamp = try value(6, String.self)
            m.deletionTimestamp = try value(7, String.self)
            m.deletionGracePeriodSeconds = try value(8, Int64.self)
            m.labels = try value(9, [String: String].self)
            m.annotations = try value(10, [String: String].self)
            m.ownerReferences = try value(11, [OwnerReference].self)
            m.finalizers = try value(12, [String].self)
            m.managedFields = try value(13, [JSONValue].self)
            return m
        }
    }
}

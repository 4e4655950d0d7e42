// One-pass decoding of a struct's JSON object on the tape.
//
// A synthesized `init(from:)` asks its keyed container for each stored property in turn. On
// the tape that was, per struct: a boxed `KeyedDecodingContainer` (an allocation and a generic
// metadata lookup), one search over the object's members per property (a PodSpec: 29
// searches over its dozen members), and per value a dynamic cast to find the fast paths. The
// conformances built on ``JSONTapeMembers`` (JSONTapeTypes.swift) read an object's members
// once instead, match each key against the type's names, and decode each value with a call
// specialized for its type; they give the synthesized init's value or its error (see
// ``JSONTapeDecoder/withMembers(_:_:)``).

/// The member names of one struct, in the order of its stored properties (the order its
/// synthesized `init(from:)` decodes them), prepared for matching keys.
final class JSONTapeMembers: @unchecked Sendable {
    struct Name {
        var bytes: UnsafePointer<UInt8>
        var count: Int32
        /// The position in declaration order.
        var index: Int32
    }

    /// The names in declaration order.
    let names: [String]
    /// The names sorted by their bytes: the API server writes members sorted, so a key
    /// usually matches the name after the previous key's.
    let sorted: UnsafeMutableBufferPointer<Name>

    /// Immutable after `init`; the bytes are kept for the process's life (one instance per
    /// type, in a static), which is what makes sharing it between threads safe.
    init(_ names: [String]) {
        self.names = names
        sorted = .allocate(capacity: names.count)
        var entries: [(bytes: [UInt8], index: Int)] = names.enumerated().map { (Array($1.utf8), $0) }
        entries.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        for (i, entry) in entries.enumerated() {
            let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(entry.bytes.count, 1))
            copy.initialize(from: entry.bytes, count: entry.bytes.count)
            sorted[i] = Name(bytes: UnsafePointer(copy), count: Int32(entry.bytes.count), index: Int32(entry.index))
        }
    }

    var count: Int { names.count }
}

extension JSONTapeDocument {
    /// For each name of `members`, the tape index of its value in the object at `object`, or
    /// -1: the last occurrence when a key repeats (as ``member(of:_:)-(_,String)`` finds it).
    /// One pass over the members; unknown keys are skipped after one comparison per name.
    func findMembers(of object: Int, _ members: JSONTapeMembers, into at: UnsafeMutableBufferPointer<Int32>) {
        let names = members.sorted
        let n = names.count
        guard n > 0 else { return }
        let base = bytes.baseAddress.unsafelyUnwrapped
        let end = Int(entries[object].end)
        var cursor = 0
        var i = object + 1
        while i < end {
            let key = entries[i]
            if key.kind == .string {
                var j = cursor
                for _ in 0..<n {
                    let name = names[j]
                    j = j + 1 == n ? 0 : j + 1
                    if name.count == key.length, Self.equal(base + Int(key.start), name.bytes, Int(name.count)) {
                        at[Int(name.index)] = Int32(truncatingIfNeeded: i + 1)
                        cursor = j
                        break
                    }
                }
            } else {
                // An escaped key (rare): compare its unescaped text with each name.
                let text = string(at: i)
                for name in names where text.utf8.elementsEqual(UnsafeBufferPointer(start: name.bytes, count: Int(name.count))) {
                    at[Int(name.index)] = Int32(truncatingIfNeeded: i + 1)
                    break
                }
            }
            i = Int(entries[i + 1].end)
        }
    }
}

extension JSONTapeDecoder {
    /// Finds the members of this object named by `members` in one pass and calls `body` to
    /// decode them. Not an object: the error the synthesized init's `container(keyedBy:)`
    /// throws. `body` should read the members in declaration order, so that the first error
    /// is the synthesized init's first error.
    @inline(__always)
    func withMembers<R>(_ members: JSONTapeMembers, _ body: (JSONTapeMemberValues) throws -> R) throws -> R {
        guard entry.kind == .object else { throw document.mismatch([String: JSONValue].self, at: index) }
        return try withUnsafeTemporaryAllocation(of: Int32.self, capacity: members.count) { at in
            at.initialize(repeating: -1)
            document.findMembers(of: index, members, into: at)
            return try body(JSONTapeMemberValues(document: document, object: index, members: members, at: at))
        }
    }
}

/// The values found by ``JSONTapeDecoder/withMembers(_:_:)``, by declaration-order position.
/// `optional` is the synthesized init's `decodeIfPresent` (absent or null: nil), `required`
/// its `decode` (absent: `keyNotFound`; null: the value type's own error). Values go through
/// the same unboxing as in the keyed container, called directly for ``JSONTapeDecodable``
/// types (no dynamic cast).
struct JSONTapeMemberValues {
    unowned(unsafe) let document: JSONTapeDocument
    let object: Int
    unowned(unsafe) let members: JSONTapeMembers
    let at: UnsafeMutableBufferPointer<Int32>

    @inline(__always)
    private func present(_ k: Int) -> Int? {
        let v = Int(at[k])
        guard v >= 0, document.entries[v].kind != .null else { return nil }
        return v
    }

    private func missing(_ k: Int) -> DecodingError {
        let name = members.names[k]
        return .keyNotFound(JSONValueKey(stringValue: name), .init(codingPath: document.codingPath(of: object), debugDescription: "No value associated with key \(name)."))
    }

    @inline(__always)
    func optional<T: Decodable>(_ k: Int, _ type: T.Type) throws -> T? {
        guard let v = present(k) else { return nil }
        return try JSONTapeDecoder(document, v).unbox(T.self)
    }

    @inline(__always)
    func optional<T: JSONTapeDecodable & Decodable>(_ k: Int, _ type: T.Type) throws -> T? {
        guard let v = present(k) else { return nil }
        return try T.decode(from: JSONTapeDecoder(document, v))
    }

    @inline(__always)
    func required<T: Decodable>(_ k: Int, _ type: T.Type) throws -> T {
        let v = Int(at[k])
        guard v >= 0 else { throw missing(k) }
        return try JSONTapeDecoder(document, v).unbox(T.self)
    }

    @inline(__always)
    func required<T: JSONTapeDecodable & Decodable>(_ k: Int, _ type: T.Type) throws -> T {
        let v = Int(at[k])
        guard v >= 0 else { throw missing(k) }
        return try T.decode(from: JSONTapeDecoder(document, v))
    }
}

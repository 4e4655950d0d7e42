// Typed encoding straight to JSON bytes.
//
// JSONEncoder builds a tree of the whole value before it writes a byte; the clients encode a
// pod per create and a lease per renewal, and that tree was most of the cost. This encoder
// writes each member as Codable hands it over. Codable has no "container finished" call, so a
// container is closed when a write arrives for a container further out (or at the end); the
// synthesized `encode(to:)` of every Kubernetes type writes in that nested order. A write to a
// container that was already closed (an `encode(to:)` that keeps a container and comes back
// to it later) cannot be streamed: the encoding then starts over with JSONEncoder.

import Foundation

extension JSONValue {
    /// Encodes `value` as compact JSON: the same JSON value JSONEncoder (default options)
    /// produces, members in the order `encode(to:)` writes them, `JSONValue` members with their
    /// object keys in any order, `/` not escaped. Non-finite floating-point values are refused
    /// with `EncodingError.invalidValue`, as JSONEncoder refuses them. Thread-safe.
    public static func encodeJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = JSONStreamState()
        do {
            // Pods, Nodes, Leases, Bindings: the generated writers (JSONDirectEncoders.swift),
            // the same bytes without Codable's containers.
            if let direct = value as? any JSONDirectEncodable {
                try direct.writeJSON(to: state)
            } else {
                try JSONStreamEncoder(state: state).encodeValue(value)
            }
            guard state.out.count > 0, !state.unstreamable else { throw JSONStreamState.Unstreamable() }
            state.closeAll()
            return state.out
        } catch is JSONStreamState.Unstreamable {
            return Array(try JSONEncoder().encode(value))
        }
    }
}

/// The bytes written so far and the containers still open.
final class JSONStreamState {
    /// An encoding this encoder cannot stream; `encodeJSON` falls back to JSONEncoder.
    struct Unstreamable: Error {}

    struct Frame {
        var id: Int
        var close: UInt8
    }

    var out: [UInt8] = []
    /// Set when an `encode(to:)` used what cannot be streamed (a super encoder, a container
    /// nested in one already closed): the bytes are then not used.
    var unstreamable = false
    /// Open containers, innermost last.
    var open: [Frame] = []
    /// Members written per container, by container id.
    var counts: [Int] = []

    init() { out.reserveCapacity(1024) }

    /// Opens a container (after its key or separator was written) and returns its id.
    func openContainer(object: Bool) -> Int {
        let id = counts.count
        counts.append(0)
        open.append(Frame(id: id, close: object ? UInt8(ascii: "}") : UInt8(ascii: "]")))
        out.append(object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        return id
    }

    /// Gets container `id` ready for its next member: closes the containers opened inside it
    /// since, writes the separator. Throws `Unstreamable` when `id` was closed already.
    func beginMember(of id: Int) throws {
        while let top = open.last, top.id != id {
            guard top.id > id else { throw Unstreamable() }
            out.append(top.close)
            open.removeLast()
        }
        guard !open.isEmpty else { throw Unstreamable() }
        if counts[id] > 0 { out.append(UInt8(ascii: ",")) }
        counts[id] += 1
    }

    /// For `superEncoder()`, which a stream cannot place: marks the encoding for the fallback
    /// and returns an encoder whose output is then discarded.
    func unstreamableEncoder() -> any Encoder {
        unstreamable = true
        return JSONStreamEncoder(state: self)
    }

    func closeAll() {
        while let top = open.popLast() { out.append(top.close) }
    }

    func key(_ key: some CodingKey) {
        JSONWriter.string(key.stringValue, into: &out)
        out.append(UInt8(ascii: ":"))
    }

    func number(_ d: Double, path: @autoclosure () -> [any CodingKey]) throws {
        guard d.isFinite else {
            throw EncodingError.invalidValue(d, .init(codingPath: path(), debugDescription: "Unable to encode \(d) directly in JSON."))
        }
        JSONWriter.number(d, into: &out)
    }

    func integer(_ i: some FixedWidthInteger) {
        out.append(contentsOf: String(i).utf8)
    }

    func bool(_ b: Bool) {
        out.append(contentsOf: (b ? "true" : "false").utf8)
    }
}

/// An Encoder for one value position: its key or separator is written; it writes the value.
struct JSONStreamEncoder: Encoder {
    let state: JSONStreamState

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(state: state, id: state.openContainer(object: true)))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(state: state, id: state.openContainer(object: false))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValue(encoder: self) }

    /// Writes `value` at this position: scalars and `JSONValue` directly, anything else through
    /// its `encode(to:)`; a value that writes nothing is `{}`, as JSONEncoder writes it.
    func encodeValue<T: Encodable>(_ value: T) throws {
        if T.self == String.self { JSONWriter.string(value as! String, into: &state.out) }
        else if T.self == Bool.self { state.bool(value as! Bool) }
        else if T.self == Int.self { state.integer(value as! Int) }
        else if T.self == Int64.self { state.integer(value as! Int64) }
        else if T.self == Int32.self { state.integer(value as! Int32) }
        else if T.self == Double.self { try state.number(value as! Double, path: []) }
        else if T.self == JSONValue.self { try Self.write(value as! JSONValue, state) }
        else {
            let mark = state.out.count
            try value.encode(to: self)
            if state.out.count == mark { state.out.append(contentsOf: "{}".utf8) }
        }
    }

    /// A `JSONValue` as `JSONWriter` writes it; numbers that JSON cannot hold are refused.
    static func write(_ value: JSONValue, _ state: JSONStreamState) throws {
        if let d = nonFinite(value) { try state.number(d, path: []) }
        JSONWriter.write(value, into: &state.out, sortedKeys: false)
    }

    /// A number in `value` that JSON cannot hold (never in parsed input; possible in built trees).
    static func nonFinite(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let d): return d.isFinite ? nil : d
        case .array(let elements): return elements.lazy.compactMap(nonFinite).first
        case .object(let members): return members.values.lazy.compactMap(nonFinite).first
        case .null, .bool, .string: return nil
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let state: JSONStreamState
        let id: Int

        var codingPath: [any CodingKey] { [] }

        private func begin(_ key: Key) throws {
            try state.beginMember(of: id)
            state.key(key)
        }

        mutating func encodeNil(forKey key: Key) throws { try begin(key); state.out.append(contentsOf: "null".utf8) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); state.bool(value) }
        mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); JSONWriter.string(value, into: &state.out) }
        mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); try state.number(value, path: [key]) }
        mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); try state.number(Double(value), path: [key]) }
        mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); state.integer(value) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try begin(key)
            try JSONStreamEncoder(state: state).encodeValue(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            // The protocol's nested-container calls cannot throw: a closed container is marked
            // for `encodeJSON` to fall back.
            do { try begin(key) } catch { state.unstreamable = true }
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(state: state, id: state.openContainer(object: true)))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            do { try begin(key) } catch { state.unstreamable = true }
            return UnkeyedContainer(state: state, id: state.openContainer(object: false))
        }

        mutating func superEncoder() -> any Encoder { state.unstreamableEncoder() }
        mutating func superEncoder(forKey key: Key) -> any Encoder { state.unstreamableEncoder() }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let state: JSONStreamState
        let id: Int

        var codingPath: [any CodingKey] { [] }
        var count: Int { id < state.counts.count ? state.counts[id] : 0 }

        mutating func encodeNil() throws { try state.beginMember(of: id); state.out.append(contentsOf: "null".utf8) }
        mutating func encode(_ value: Bool) throws { try state.beginMember(of: id); state.bool(value) }
        mutating func encode(_ value: String) throws { try state.beginMember(of: id); JSONWriter.string(value, into: &state.out) }
        mutating func encode(_ value: Double) throws { try state.beginMember(of: id); try state.number(value, path: []) }
        mutating func encode(_ value: Int) throws { try state.beginMember(of: id); state.integer(value) }
        mutating func encode(_ value: Int32) throws { try state.beginMember(of: id); state.integer(value) }
        mutating func encode(_ value: Int64) throws { try state.beginMember(of: id); state.integer(value) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try state.beginMember(of: id)
            try JSONStreamEncoder(state: state).encodeValue(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            do { try state.beginMember(of: id) } catch { state.unstreamable = true }
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(state: state, id: state.openContainer(object: true)))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            do { try state.beginMember(of: id) } catch { state.unstreamable = true }
            return UnkeyedContainer(state: state, id: state.openContainer(object: false))
        }

        mutating func superEncoder() -> any Encoder { state.unstreamableEncoder() }
    }

    struct SingleValue: SingleValueEncodingContainer {
        let encoder: JSONStreamEncoder

        var codingPath: [any CodingKey] { [] }

        func encodeNil() throws { encoder.state.out.append(contentsOf: "null".utf8) }
        func encode(_ value: Bool) throws { try encoder.encodeValue(value) }
        func encode(_ value: String) throws { try encoder.encodeValue(value) }
        func encode(_ value: Double) throws { try encoder.encodeValue(value) }
        func encode(_ value: Float) throws { try encoder.state.number(Double(value), path: []) }
        func encode(_ value: Int) throws { try encoder.encodeValue(value) }
        func encode(_ value: Int8) throws { encoder.state.integer(value) }
        func encode(_ value: Int16) throws { encoder.state.integer(value) }
        func encode(_ value: Int32) throws { try encoder.encodeValue(value) }
        func encode(_ value: Int64) throws { try encoder.encodeValue(value) }
        func encode(_ value: UInt) throws { encoder.state.integer(value) }
        func encode(_ value: UInt8) throws { encoder.state.integer(value) }
        func encode(_ value: UInt16) throws { encoder.state.integer(value) }
        func encode(_ value: UInt32) throws { encoder.state.integer(value) }
        func encode(_ value: UInt64) throws { encoder.state.integer(value) }
        func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
    }
}


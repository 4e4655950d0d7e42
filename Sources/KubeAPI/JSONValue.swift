import Foundation

/// Any JSON value. Used where the Kubernetes API carries free-form JSON (managedFields, raw
/// objects in watch events, unknown fields) and for manifests read from YAML.
public enum JSONValue: Codable, Hashable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Decoders offer no way to ask what comes next, so the kinds are tried in turn; each
    /// failed try costs a `DecodingError` with its coding path (the whole profile of a client
    /// decoding pods, once). Objects go first: the free-form JSON of Kubernetes objects is
    /// mostly objects (managedFields' fieldsV1 is objects down to its `{}` leaves), then strings.
    public init(from decoder: any Decoder) throws {
        if let tree = decoder as? JSONValueDecoder {
            self = tree.value
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .number(Double(i)) }
        else { self = .number(try c.decode(Double.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d):
            if d.rounded() == d, abs(d) < 9.0e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// Decodes a typed value from this JSON value (JSONDecoder's rules, see `JSONValueDecoder`).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONValueDecoder.unbox(self, as: T.self, path: [])
    }

    /// Encodes a typed value to a JSON value.
    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONValue.parse(JSONEncoder().encode(value))
    }
}

/// A Decoder over a parsed JSON value, with JSONDecoder's default strategies: numbers convert to
/// any integer type when integral and in range, keys are used as they are, `null` is nil.
/// Numbers are held as Double, so integers beyond 2^53 lose precision (the Kubernetes integer
/// fields typed here stay far below).
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: JSONValue, codingPath: [any CodingKey] = []) {
        self.value = value
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw Self.mismatch([String: JSONValue].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw Self.mismatch([JSONValue].self, value, codingPath) }
        return UnkeyedContainer(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(value: value, codingPath: codingPath) }

    static func mismatch(_ type: Any.Type, _ value: JSONValue, _ path: [any CodingKey]) -> DecodingError {
        let found = switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
        if case .null = value {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(type) but found null instead."))
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(found) instead."))
    }

    /// The one place values become typed: JSONValue as it is, scalars by kind, the rest
    /// through their Decodable init over a nested decoder. The coding path is built only for
    /// a nested decoder or an error: building it for every member (an array copy each) cost
    /// more than the decoding itself.
    static func unbox<T: Decodable>(_ value: JSONValue, as type: T.Type, path: @autoclosure () -> [any CodingKey]) throws -> T {
        if T.self == JSONValue.self { return value as! T }
        if T.self == String.self {
            guard case .string(let s) = value else { throw mismatch(T.self, value, path()) }
            return s as! T
        }
        if T.self == Bool.self {
            guard case .bool(let b) = value else { throw mismatch(T.self, value, path()) }
            return b as! T
        }
        if T.self == Int.self { return try integer(Int.self, value, path()) as! T }
        if T.self == Int64.self { return try integer(Int64.self, value, path()) as! T }
        if T.self == Int32.self { return try integer(Int32.self, value, path()) as! T }
        if T.self == Double.self {
            guard case .number(let d) = value else { throw mismatch(T.self, value, path()) }
            return d as! T
        }
        return try T(from: JSONValueDecoder(value, codingPath: path()))
    }

    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: JSONValue, _ path: @autoclosure () -> [any CodingKey]) throws -> I {
        guard case .number(let d) = value else { throw mismatch(I.self, value, path()) }
        guard d.rounded() == d, let i = I(exactly: d) else {
            throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "Parsed JSON number <\(d)> does not fit in \(I.self)."))
        }
        return i
    }

    static func float<F: BinaryFloatingPoint>(_ type: F.Type, _ value: JSONValue, _ path: @autoclosure () -> [any CodingKey]) throws -> F {
        guard case .number(let d) = value else { throw mismatch(F.self, value, path()) }
        return F(d)
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        let codingPath: [any CodingKey]

        var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

        private func member(_ key: Key) throws -> JSONValue {
            guard let v = members[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
            }
            return v
        }

        func decodeNil(forKey key: Key) throws -> Bool {
            if case .null = try member(key) { return true }
            return false
        }

        /// The member, or nil when it is absent or null: one lookup where the protocol's
        /// default `decodeIfPresent` makes three (contains, decodeNil, decode).
        private func present(_ key: Key) -> JSONValue? {
            guard let v = members[key.stringValue] else { return nil }
            if case .null = v { return nil }
            return v
        }

        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key).map { try unbox($0, as: Bool.self, path: codingPath + [key]) } }
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key).map { try unbox($0, as: String.self, path: codingPath + [key]) } }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key).map { try float(Double.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try present(key).map { try float(Float.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key).map { try integer(Int.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try present(key).map { try integer(Int8.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try present(key).map { try integer(Int16.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try present(key).map { try integer(Int32.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key).map { try integer(Int64.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try present(key).map { try integer(UInt.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try present(key).map { try integer(UInt8.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try present(key).map { try integer(UInt16.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(key).map { try integer(UInt32.self, $0, codingPath + [key]) } }
        func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(key).map { try integer(UInt64.self, $0, codingPath + [key]) } }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try present(key).map { try unbox($0, as: T.self, path: codingPath + [key]) } }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try unbox(member(key), as: Bool.self, path: codingPath + [key]) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try unbox(member(key), as: String.self, path: codingPath + [key]) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try float(Double.self, member(key), codingPath + [key]) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try float(Float.self, member(key), codingPath + [key]) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(Int.self, member(key), codingPath + [key]) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(Int8.self, member(key), codingPath + [key]) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(Int16.self, member(key), codingPath + [key]) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(Int32.self, member(key), codingPath + [key]) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(Int64.self, member(key), codingPath + [key]) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(UInt.self, member(key), codingPath + [key]) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(UInt8.self, member(key), codingPath + [key]) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(UInt16.self, member(key), codingPath + [key]) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(UInt32.self, member(key), codingPath + [key]) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(UInt64.self, member(key), codingPath + [key]) }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try unbox(member(key), as: T.self, path: codingPath + [key]) }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try JSONValueDecoder(member(key), codingPath: codingPath + [key]).container(keyedBy: NestedKey.self)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try JSONValueDecoder(member(key), codingPath: codingPath + [key]).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            JSONValueDecoder(members["super"] ?? .null, codingPath: codingPath + [JSONValueKey(stringValue: "super")])
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            JSONValueDecoder(members[key.stringValue] ?? .null, codingPath: codingPath + [key])
        }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        let codingPath: [any CodingKey]
        private(set) var currentIndex = 0

        init(elements: [JSONValue], codingPath: [any CodingKey]) {
            self.elements = elements
            self.codingPath = codingPath
        }

        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        private var path: [any CodingKey] { codingPath + [JSONValueKey(intValue: currentIndex)] }

        private mutating func next<T>(_ type: T.Type) throws -> JSONValue {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(T.self, .init(codingPath: path, debugDescription: "Unkeyed container is at end."))
            }
            defer { currentIndex += 1 }
            return elements[currentIndex]
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else { throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: path, debugDescription: "Unkeyed container is at end.")) }
            if case .null = elements[currentIndex] {
                currentIndex += 1
                return true
            }
            return false
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let base = codingPath, index = currentIndex
            return try unbox(next(T.self), as: T.self, path: base + [JSONValueKey(intValue: index)])
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let p = path
            return try JSONValueDecoder(next([String: JSONValue].self), codingPath: p).container(keyedBy: NestedKey.self)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let p = path
            return try JSONValueDecoder(next([JSONValue].self), codingPath: p).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let p = path
            return JSONValueDecoder(try next(JSONValue.self), codingPath: p)
        }
    }

    struct SingleValue: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [any CodingKey]

        func decodeNil() -> Bool {
            if case .null = value { return true }
            return false
        }

        func decode(_ type: Bool.Type) throws -> Bool { try unbox(value, as: Bool.self, path: codingPath) }
        func decode(_ type: String.Type) throws -> String { try unbox(value, as: String.self, path: codingPath) }
        func decode(_ type: Double.Type) throws -> Double { try float(Double.self, value, codingPath) }
        func decode(_ type: Float.Type) throws -> Float { try float(Float.self, value, codingPath) }
        func decode(_ type: Int.Type) throws -> Int { try integer(Int.self, value, codingPath) }
        func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self, value, codingPath) }
        func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self, value, codingPath) }
        func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self, value, codingPath) }
        func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self, value, codingPath) }
        func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self, value, codingPath) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self, value, codingPath) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self, value, codingPath) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self, value, codingPath) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self, value, codingPath) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try unbox(value, as: T.self, path: codingPath) }
    }
}

/// Coding keys for array positions and `super` in decoding paths.
struct JSONValueKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

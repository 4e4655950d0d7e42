// Direct JSON encoding for the types clients send most (JSONDirectEncoders.swift, generated).
//
// JSONStreamEncoder drives each type's synthesized `encode(to:)`: a boxed keyed container per
// object, a generic call, metadata lookup and dynamic type checks per member. A generated
// `writeJSON(to:)` writes the same bytes straight into the stream state's buffer: keys as
// literals, strings, integers and booleans with the stream state's own writers, covered
// structs by direct calls; a member of any other type (an enum, a struct with its own
// `encode(to:)`) is written by JSONStreamEncoder, as before. `JSONValue.encodeJSON` uses it
// when the value conforms.

/// A type whose JSON `JSONValue.encodeJSON` writes without Codable's containers: exactly the
/// bytes JSONStreamEncoder writes for the type's synthesized `encode(to:)`. The conformances
/// are generated (hack/gen-tape-decoders.py); JSONDirectEncodersTests compares the two.
protocol JSONDirectEncodable: Encodable {
    /// Writes the value's JSON object at the position `s` is at (its key or separator written).
    /// Throws what JSONStreamEncoder throws for it (a non-finite number, `Unstreamable`).
    func writeJSON(to s: JSONStreamState) throws
}

extension JSONStreamState {
    /// A member's key (`"name":`, a literal the generator checked needs no escaping), after a
    /// comma when `more` (a member was written before it in this object).
    @inline(__always)
    func member(_ key: StaticString, _ more: inout Bool) {
        if more { out.append(UInt8(ascii: ",")) } else { more = true }
        key.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// A dictionary entry's key, escaped as JSONStreamEncoder's keyed container writes it.
    @inline(__always)
    func entryKey(_ k: String, _ more: inout Bool) {
        if more { out.append(UInt8(ascii: ",")) } else { more = true }
        JSONWriter.string(k, into: &out)
        out.append(UInt8(ascii: ":"))
    }

    /// An array element's comma.
    @inline(__always)
    func separator(_ more: inout Bool) {
        if more { out.append(UInt8(ascii: ",")) } else { more = true }
    }

    /// A value through its own `encode(to:)`, as JSONStreamEncoder writes it at this position;
    /// the containers it opened are closed (the direct writers keep none open).
    func encodable<T: Encodable>(_ value: T) throws {
        try JSONStreamEncoder(state: self).encodeValue(value)
        closeAll()
    }
}

/// Why a protobuf body could not be read or written. Every case is the client's fault (a 400)
/// except `schema`, which reports a bad built-in table.
public struct ProtobufError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The body ends inside a varint, a length-delimited field or a fixed-width value.
        case truncated
        /// A field arrived with a wire type its declared type cannot have, or an unknown wire type.
        case wireType
        /// The body does not start with `k8s\0`.
        case magic
        /// The envelope names a kind the table has no message for.
        case unknownKind
        /// A value is not what its field declares (bad base64, a timestamp that does not parse,
        /// a JSON type that does not fit, nesting too deep).
        case invalidValue
        /// The envelope declares a content encoding (such as gzip) that is not supported.
        case unsupportedEncoding
        /// The built-in table itself is malformed.
        case schema
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Reads protobuf wire data from a range of a byte array without copying. Every read checks the
/// bounds, so malformed input ends in a `ProtobufError`, never a trap.
struct ProtobufReader {
    let bytes: [UInt8]
    private(set) var index: Int
    let end: Int
    /// Names the message being read, for error messages.
    let context: String

    init(_ bytes: [UInt8], range: Range<Int>? = nil, context: String) {
        self.bytes = bytes
        let range = range ?? bytes.indices
        index = range.lowerBound
        end = range.upperBound
        self.context = context
    }

    var atEnd: Bool { index >= end }

    mutating func varint() throws(ProtobufError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < end else { throw ProtobufError(.truncated, "truncated varint in \(context)") }
            let byte = bytes[index]
            index += 1
            // The tenth byte may carry only the top bit of a 64-bit value.
            if shift == 63 && byte > 1 { throw ProtobufError(.invalidValue, "varint longer than 64 bits in \(context)") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// The next field's number and wire type.
    mutating func tag() throws(ProtobufError) -> (number: Int, wireType: WireType) {
        let key = try varint()
        let number = key >> 3
        guard number > 0, number <= 0x1fff_ffff else { throw ProtobufError(.invalidValue, "invalid field number \(number) in \(context)") }
        guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw ProtobufError(.wireType, "invalid wire type \(key & 7) for field \(number) in \(context)")
        }
        return (Int(number), wireType)
    }

    /// The range of a length-delimited value (its length prefix already read past).
    mutating func lengthDelimited() throws(ProtobufError) -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - index) else {
            throw ProtobufError(.truncated, "length-delimited field of \(length) bytes runs past the end of \(context)")
        }
        let start = index
        index += Int(length)
        return start..<index
    }

    mutating func fixed64() throws(ProtobufError) -> UInt64 {
        guard end - index >= 8 else { throw ProtobufError(.truncated, "truncated fixed64 in \(context)") }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[index + i]) << (8 * UInt64(i)) }
        index += 8
        return value
    }

    mutating func fixed32() throws(ProtobufError) -> UInt32 {
        guard end - index >= 4 else { throw ProtobufError(.truncated, "truncated fixed32 in \(context)") }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[index + i]) << (8 * UInt32(i)) }
        index += 4
        return value
    }

    /// Skips a field of an unknown number. Groups are deprecated and never written by Kubernetes,
    /// so they are rejected rather than walked.
    mutating func skip(_ wireType: WireType, number: Int) throws(ProtobufError) {
        switch wireType {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .lengthDelimited: _ = try lengthDelimited()
        case .fixed32: _ = try fixed32()
        case .startGroup, .endGroup:
            throw ProtobufError(.wireType, "unsupported group wire type for field \(number) in \(context)")
        }
    }
}

/// Builds protobuf wire data.
struct ProtobufWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func tag(_ number: Int, _ wireType: WireType) {
        varint(UInt64(number) << 3 | UInt64(wireType.rawValue))
    }

    mutating func varintField(_ number: Int, _ value: UInt64) {
        tag(number, .varint)
        varint(value)
    }

    mutating func bytesField(_ number: Int, _ value: [UInt8]) {
        tag(number, .lengthDelimited)
        varint(UInt64(value.count))
        bytes += value
    }

    mutating func stringField(_ number: Int, _ value: String) {
        bytesField(number, Array(value.utf8))
    }

    mutating func fixed64Field(_ number: Int, _ value: UInt64) {
        tag(number, .fixed64)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }
}

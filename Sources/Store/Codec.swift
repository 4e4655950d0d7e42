/// Little-endian binary encoding of log records and snapshots.
///
/// A log record on disk is a frame: `u32 payload length | u32 CRC-32 of the payload | payload`.
/// A frame whose length runs past the end of the file, or whose checksum does not match, marks
/// the end of what was durably written (a torn write at a crash).
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Overwrites four bytes written before (a frame header filled in after its payload).
    mutating func setU32(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { value in
            for index in 0..<4 { bytes[offset + index] = value[index] }
        }
    }

    mutating func i64(_ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ value: String) {
        u32(UInt32(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }
}

/// Reads what ``ByteWriter`` wrote; every read checks bounds and throws instead of trapping.
struct ByteReader {
    struct Truncated: Error {}

    let bytes: [UInt8]
    var offset: Int
    let end: Int

    init(_ bytes: [UInt8], from offset: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }

    mutating func u8() throws(Truncated) -> UInt8 {
        guard remaining >= 1 else { throw Truncated() }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32() throws(Truncated) -> UInt32 {
        guard remaining >= 4 else { throw Truncated() }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * index) }
        offset += 4
        return value
    }

    mutating func i64() throws(Truncated) -> Int64 {
        guard remaining >= 8 else { throw Truncated() }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * index) }
        offset += 8
        return Int64(bitPattern: value)
    }

    mutating func blob() throws(Truncated) -> [UInt8] {
        let count = Int(try u32())
        guard remaining >= count else { throw Truncated() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func string() throws(Truncated) -> String {
        let count = Int(try u32())
        guard remaining >= count else { throw Truncated() }
        defer { offset += count }
        return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib computes it.
///
/// Slicing by 8: eight tables, where `tables[k * 256 + b]` is the CRC register after byte `b`
/// followed by `k` zero bytes, so one step folds eight bytes with eight independent lookups
/// instead of a chain of eight dependent ones (the tests compare it with a bit-at-a-time CRC of
/// their own); every log frame and snapshot is checksummed on write and on replay.
enum CRC32 {
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            tables[index] = crc
        }
        for k in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(k - 1) * 256 + index]
                tables[k * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    static func checksum(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) -> UInt32 {
        let stop = end ?? bytes.count
        precondition(start >= 0 && start <= stop && stop <= bytes.count, "CRC32 range out of bounds")
        return bytes.withUnsafeBytes { buffer in
            checksum(UnsafeRawBufferPointer(rebasing: buffer[start..<stop]))
        }
    }

    static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        tables.withUnsafeBufferPointer { tables in
            let t = tables.baseAddress!
            var offset = 0
            let count = buffer.count
            guard let base = buffer.baseAddress else { return }
            while count - offset >= 8 {
                let word = UInt64(littleEndian: (base + offset).loadUnaligned(as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                offset += 8
            }
            while offset < count {
                crc = t[Int((crc ^ UInt32(buffer[offset])) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Encoding of ``Mutation``s (log payloads) and ``Record``s (snapshot entries).
enum RecordCodec {
    private static let putTag: UInt8 = 1
    private static let deleteTag: UInt8 = 2
    private static let compactTag: UInt8 = 3

    /// Appends one framed mutation to `writer`.
    /// The payload goes straight into `writer` behind an 8-byte header that is filled in once
    /// the payload's length and checksum are known (no separate payload buffer to copy).
    static func appendFrame(_ mutation: Mutation, to writer: inout ByteWriter) {
        let header = writer.bytes.count
        writer.u32(0)
        writer.u32(0)
        switch mutation {
        case let .put(record):
            writer.u8(putTag)
            writer.i64(record.kv.modRevision)
            writer.string(record.kv.key)
            writer.i64(record.kv.createRevision)
            writer.i64(record.kv.version)
            writer.i64(record.expiresAt)
            writer.blob(record.kv.value)
        case let .delete(key, revision):
            writer.u8(deleteTag)
            writer.i64(revision)
            writer.string(key)
        case let .compact(revision):
            writer.u8(compactTag)
            writer.i64(revision)
        }
        let payload = header + 8
        writer.setU32(UInt32(writer.bytes.count - payload), at: header)
        writer.setU32(CRC32.checksum(writer.bytes, from: payload), at: header + 4)
    }

    /// The result of reading one frame.
    enum FrameRead {
        case mutation(Mutation, next: Int)
        /// The end of the data, or a torn or damaged frame at `offset`.
        case end
        case damaged(reason: String)
    }

    /// Reads the frame at `offset` of `bytes`.
    static func readFrame(_ bytes: [UInt8], at offset: Int) -> FrameRead {
        if offset == bytes.count { return .end }
        var header = ByteReader(bytes, from: offset)
        guard let length = try? header.u32(), let crc = try? header.u32() else { return .damaged(reason: "short frame header") }
        let start = offset + 8
        guard length > 0, start + Int(length) <= bytes.count else { return .damaged(reason: "frame length \(length) past end of file") }
        let end = start + Int(length)
        guard CRC32.checksum(bytes, from: start, to: end) == crc else { return .damaged(reason: "checksum mismatch") }
        var reader = ByteReader(bytes, from: start, to: end)
        do {
            let mutation: Mutation
            switch try reader.u8() {
            case putTag:
                let revision = try reader.i64()
                let key = try reader.string()
                let created = try reader.i64()
                let version = try reader.i64()
                let expires = try reader.i64()
                let value = try reader.blob()
                let kv = KeyValue(key: key, value: value, createRevision: created, modRevision: revision, version: version)
                mutation = .put(Record(kv: kv, deleted: false, expiresAt: expires))
            case deleteTag:
                let revision = try reader.i64()
                mutation = .delete(key: try reader.string(), revision: revision)
            case compactTag:
                mutation = .compact(revision: try reader.i64())
            case let tag:
                return .damaged(reason: "unknown record tag \(tag)")
            }
            return .mutation(mutation, next: end)
        } catch {
            return .damaged(reason: "record shorter than its fields")
        }
    }

    /// Appends one history record (snapshot form).
    /// The bytes `appendRecord` writes besides the value itself.
    static let recordHeaderSize = 1 + 4 * 8 + 4

    static func appendRecord(_ record: Record, to writer: inout ByteWriter) {
        writer.u8(record.deleted ? 1 : 0)
        writer.i64(record.kv.modRevision)
        writer.i64(record.kv.createRevision)
        writer.i64(record.kv.version)
        writer.i64(record.expiresAt)
        writer.blob(record.kv.value)
    }

    static func readRecord(key: String, from reader: inout ByteReader) throws(ByteReader.Truncated) -> Record {
        let deleted = try reader.u8() == 1
        let mod = try reader.i64()
        let created = try reader.i64()
        let version = try reader.i64()
        let expires = try reader.i64()
        let value = try reader.blob()
        return Record(kv: KeyValue(key: key, value: value, createRevision: created, modRevision: mod, version: version), deleted: deleted, expiresAt: expires)
    }
}

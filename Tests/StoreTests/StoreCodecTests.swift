import Testing
import KubeAPI
import TestSupport
@testable import Store

/// The log's and snapshots' checksum and frames: the slicing-by-8 CRC-32 equals a bit-at-a-time
/// CRC from the definition and zlib's known values, and frames written in place read back as written.
@Suite struct StoreCodecTests {
    @Test func checksumHasZlibsKnownValues() {
        #expect(CRC32.checksum([]) == 0)
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(bitwiseCRC32(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func slicingByEightEqualsBitwiseOnEveryLengthAndOffset() {
        var generator = SplitMix64(seed: 0x5EED)
        let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for end in stride(from: start, through: 300, by: 1) {
                #expect(CRC32.checksum(bytes, from: start, to: end) == bitwiseCRC32(Array(bytes[start..<end])), "bytes \(start)..<\(end)")
            }
        }
        #expect(CRC32.checksum(bytes) == bitwiseCRC32(bytes))
        // A single flipped bit anywhere changes the checksum.
        let reference = CRC32.checksum(bytes)
        for index in stride(from: 0, to: bytes.count, by: 97) {
            var damaged = bytes
            damaged[index] ^= 0x10
            #expect(CRC32.checksum(damaged) != reference, "flip at \(index)")
        }
    }

    @Test func framesWrittenInPlaceReadBackAndCarryTheirPayloadsLengthAndChecksum() throws {
        let mutations: [Mutation] = [
            .put(Record(kv: KeyValue(key: "/registry/pods/bench/pod-1", value: Array(#"{"kind":"Pod"}"#.utf8), createRevision: 7, modRevision: 9, version: 3),
                        deleted: false, expiresAt: 0)),
            .put(Record(kv: KeyValue(key: "/registry/leases/ünïcode", value: [], createRevision: 1, modRevision: 1, version: 1), deleted: false, expiresAt: 1_700_000_000_000)),
            .delete(key: "/registry/pods/bench/pod-1", revision: 10),
            .compact(revision: 11),
        ]
        var writer = ByteWriter()
        writer.bytes = [0xAA, 0xBB, 0xCC]  // frames follow whatever the buffer already holds
        for mutation in mutations { RecordCodec.appendFrame(mutation, to: &writer) }
        var offset = 3
        for mutation in mutations {
            var header = ByteReader(writer.bytes, from: offset)
            let length = Int(try header.u32()), crc = try header.u32()
            #expect(crc == bitwiseCRC32(Array(writer.bytes[offset + 8..<offset + 8 + length])))
            guard case let .mutation(read, next) = RecordCodec.readFrame(writer.bytes, at: offset) else {
                Issue.record("frame at \(offset) did not read back")
                return
            }
            #expect(read == mutation)
            #expect(next == offset + 8 + length)
            offset = next
        }
        #expect(offset == writer.bytes.count)
        guard case .end = RecordCodec.readFrame(writer.bytes, at: offset) else {
            Issue.record("no end after the last frame")
            return
        }
        var damaged = writer.bytes
        damaged[3 + 8 + 2] ^= 1
        guard case .damaged = RecordCodec.readFrame(damaged, at: 3) else {
            Issue.record("a damaged payload was read")
            return
        }
    }
}

/// The byte order of keys (etcd's), which ranges, watches and the sorted key list rely on.
@Suite struct MVCCKeyOrderTests {
    @Test func byteLessIsUTF8ByteOrder() {
        let fixed = ["", "a", "ab", "b", "/registry/pods/a", "/registry/pods/a/b", "/registry/pods/ab", "é", "e\u{301}", "z", "\u{1F600}", "Z", "aé", "a\u{0}b"]
        var generator = SplitMix64(seed: 0xB17E)
        let alphabet: [Character] = ["a", "b", "/", "-", "0", "é", "e", "\u{301}", "\u{1F600}", "Z"]
        let random = (0..<300).map { _ in String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }) }
        let keys = fixed + random
        for a in keys {
            for b in keys {
                #expect(MVCCState.byteLess(a, b) == a.utf8.lexicographicallyPrecedes(b.utf8), "\(a.debugDescription) < \(b.debugDescription)")
            }
        }
    }
}

/// CRC-32 (reflected, polynomial 0xEDB88320) straight from its definition, one bit at a time
/// with no table: the reference the sliced tables are checked against.
private func bitwiseCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return crc ^ 0xFFFF_FFFF
}

import Testing
@testable import OCIImage

/// A ustar header block assembled from literal field values, for comparing with the writer's
/// output. The checksums in the cases were computed independently with Python's `tarfile`
/// (USTAR format, uid/gid 0, empty user/group names, mtime 0).
private func goldenBlock(name: String, mode: String, size: String, typeflag: Character, linkname: String = "", checksum: String) -> [UInt8] {
    var block = [UInt8](repeating: 0, count: 512)
    func put(_ text: String, _ offset: Int) { for (i, b) in text.utf8.enumerated() { block[offset + i] = b } }
    put(name, 0)                    // name[100]
    put(mode + "\0", 100)           // mode[8]: 7 octal digits + NUL
    put("0000000\0", 108)           // uid[8]
    put("0000000\0", 116)           // gid[8]
    put(size + "\0", 124)           // size[12]: 11 octal digits + NUL
    put("00000000000\0", 136)       // mtime[12]
    put(checksum + "\0 ", 148)      // chksum[8]: 6 octal digits, NUL, space
    put(String(typeflag), 156)      // typeflag
    put(linkname, 157)              // linkname[100]
    put("ustar\0", 257)             // magic[6]
    put("00", 263)                  // version[2]
    // uname[32] at 265, gname[32] at 297, devmajor[8] at 329, devminor[8] at 337 and
    // prefix[155] at 345 stay NUL, as Python writes them for non-device entries.
    return block
}

struct HeaderCase: Sendable, CustomStringConvertible {
    var header: TarEntryHeader
    var golden: [UInt8]
    var description: String { header.path }
}

@Suite struct TarWriterTests {
    static let cases: [HeaderCase] = [
        HeaderCase(header: TarEntryHeader(path: "bin/sh", kind: .symlink(target: "busybox"), mode: 0o777),
                   golden: goldenBlock(name: "bin/sh", mode: "0000777", size: "00000000000", typeflag: "2", linkname: "busybox", checksum: "010465")),
        HeaderCase(header: TarEntryHeader(path: "etc/passwd", kind: .regularFile(size: 82), mode: 0o644),
                   golden: goldenBlock(name: "etc/passwd", mode: "0000644", size: "00000000122", typeflag: "0", checksum: "007737")),
        // A directory gets its trailing slash; the sticky bit survives.
        HeaderCase(header: TarEntryHeader(path: "tmp", kind: .directory, mode: 0o1777),
                   golden: goldenBlock(name: "tmp/", mode: "0001777", size: "00000000000", typeflag: "5", checksum: "006552")),
    ]

    @Test(arguments: cases)
    func ustarHeaderMatchesGolden(_ testCase: HeaderCase) throws {
        let block = try TarWriter.headerBlocks(for: testCase.header)
        #expect(block.count == 512)
        #expect(block == testCase.golden)
    }

    @Test func longPathGoesIntoPAXRecord() throws {
        let path = "a/" + String(repeating: "b", count: 120)
        let blocks = try TarWriter.headerBlocks(for: TarEntryHeader(path: path, kind: .regularFile(size: 5), mode: 0o644))
        // PAX header block, one data block, then the ustar header.
        #expect(blocks.count == 3 * 512)
        #expect(blocks[156] == UInt8(ascii: "x"))
        #expect(String(decoding: blocks[0..<11], as: UTF8.self) == "PaxHeaders/")
        // 132 = the record's whole length, "132 path=" through "\n" (checked with Python's tarfile).
        let record = "132 path=\(path)\n"
        #expect(Array(blocks[512..<(512 + record.utf8.count)]) == Array(record.utf8))
        #expect(blocks[(512 + record.utf8.count)..<1024].allSatisfy { $0 == 0 })
        #expect(String(decoding: blocks[124..<135], as: UTF8.self) == String(record.utf8.count, radix: 8).leftPadded(to: 11))
        // The ustar header carries the name truncated to 100 bytes, as Python's PAX writer does.
        let main = Array(blocks[1024...])
        #expect(main == goldenBlock(name: String(path.prefix(100)), mode: "0000644", size: "00000000005", typeflag: "0", checksum: "030766"))
    }

    @Test func longSymlinkTargetGoesIntoLinkpath() throws {
        let target = "/" + String(repeating: "t", count: 150)
        let blocks = try TarWriter.headerBlocks(for: TarEntryHeader(path: "l", kind: .symlink(target: target), mode: 0o777))
        #expect(blocks.count == 3 * 512)
        let body = " linkpath=\(target)\n"
        let record = "\(body.utf8.count + 3)\(body)"
        #expect(Array(blocks[512..<(512 + record.utf8.count)]) == Array(record.utf8))
    }

    /// (value length, whole record length) for key "k"; lengths at the 1→2 and 2→3 digit
    /// boundaries, computed with Python's tarfile algorithm.
    @Test(arguments: [(1, 6), (4, 9), (5, 11), (93, 99), (94, 101), (95, 102), (994, 1002)])
    func paxRecordLengthCountsItself(valueLength: Int, recordLength: Int) {
        let data = TarWriter.paxData([("k", String(repeating: "v", count: valueLength))])
        #expect(data.count == recordLength)
        #expect(String(decoding: data, as: UTF8.self).hasPrefix("\(recordLength) k=v"))
        #expect(data.last == UInt8(ascii: "\n"))
    }

    @Test func nonASCIIPathUsesPAX() throws {
        let blocks = try TarWriter.headerBlocks(for: TarEntryHeader(path: "srv/caf\u{e9}", kind: .regularFile(size: 0), mode: 0o644))
        #expect(blocks.count == 3 * 512)
        #expect(String(decoding: blocks[512..<1024], as: UTF8.self).contains("path=srv/caf\u{e9}\n"))
    }

    @Test func fileContentIsPaddedAndArchiveEndsWithTwoZeroBlocks() throws {
        var out: [UInt8] = []
        let tar = TarWriter { (bytes: [UInt8]) throws(OCIImageError) in out += bytes }
        try tar.appendFile(path: "f", mode: 0o600, data: Array("hello".utf8))
        try tar.finish()
        try tar.finish()
        #expect(out.count == 512 + 512 + 1024)
        #expect(Array(out[512..<517]) == Array("hello".utf8))
        #expect(out[517...].allSatisfy { $0 == 0 })
        #expect(tar.bytesWritten == UInt64(out.count))
    }

    @Test func exactBlockSizedFileHasNoPadding() throws {
        var out: [UInt8] = []
        let tar = TarWriter { (bytes: [UInt8]) throws(OCIImageError) in out += bytes }
        try tar.appendFile(path: "f", mode: 0o600, data: [UInt8](repeating: 7, count: 512))
        #expect(out.count == 1024)
    }

    @Test func contentsShorterOrLongerThanDeclaredAreErrors() {
        let tar = TarWriter { (_: [UInt8]) throws(OCIImageError) in }
        let short = #expect(throws: OCIImageError.self) {
            try tar.appendFile(path: "short", mode: 0o644, size: 10) { (write: ([UInt8]) throws(OCIImageError) -> Void) throws(OCIImageError) in
                try write([1, 2, 3])
            }
        }
        #expect(short?.code == .io)
        #expect(short?.message.contains("short") == true)
        let long = #expect(throws: OCIImageError.self) {
            try tar.appendFile(path: "long", mode: 0o644, size: 2) { (write: ([UInt8]) throws(OCIImageError) -> Void) throws(OCIImageError) in
                try write([1, 2, 3])
            }
        }
        #expect(long?.code == .io)
    }

    @Test func sinkErrorsPropagate() {
        let tar = TarWriter { (_: [UInt8]) throws(OCIImageError) in throw OCIImageError(.io, "disk full") }
        let error = #expect(throws: OCIImageError.self) { try tar.appendDirectory(path: "d", mode: 0o755) }
        #expect(error?.message == "disk full")
    }

    @Test(arguments: [
        TarEntryHeader(path: "", kind: .directory, mode: 0o755),
        TarEntryHeader(path: "a\0b", kind: .regularFile(size: 0), mode: 0o644),
        TarEntryHeader(path: "l", kind: .symlink(target: ""), mode: 0o777),
        TarEntryHeader(path: "l", kind: .symlink(target: "x\0y"), mode: 0o777),
    ])
    func unencodableHeadersAreRejected(_ header: TarEntryHeader) {
        let error = #expect(throws: OCIImageError.self) { try TarWriter.headerBlocks(for: header) }
        #expect(error?.code == .unencodable)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// The kind of a tar entry, with what the kind needs.
public enum TarEntryKind: Equatable, Sendable {
    /// A regular file of `size` bytes; its bytes follow the header.
    case regularFile(size: UInt64)
    case directory
    /// A symbolic link pointing at `target` (stored verbatim, relative or absolute).
    case symlink(target: String)
}

/// One tar header: a path inside the archive (no leading `/`), a kind, and permission bits.
/// Owner and group are always 0 (root) and names empty, so archives do not depend on the host.
public struct TarEntryHeader: Equatable, Sendable {
    public var path: String
    public var kind: TarEntryKind
    /// Permission bits including setuid/setgid/sticky (masked to 0o7777).
    public var mode: UInt32
    /// Modification time in seconds since the epoch.
    public var mtime: UInt64

    public init(path: String, kind: TarEntryKind, mode: UInt32, mtime: UInt64 = 0) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.mtime = mtime
    }
}

/// Writes a POSIX tar stream (ustar headers, PAX extended headers where ustar cannot hold a
/// value) to a byte sink.
///
/// Deterministic: the bytes depend only on the headers and contents given, in the order given.
/// Paths longer than 100 bytes or not ASCII, link targets likewise, and sizes of 8 GiB or
/// more go into a PAX `x` header before the entry. Not thread-safe; use from one task.
public final class TarWriter {
    public static let blockSize = 512
    /// Largest value an 11-digit octal ustar size field holds.
    static let maxOctalSize: UInt64 = 0o77777777777

    private let emit: ([UInt8]) throws(OCIImageError) -> Void
    /// Bytes handed to the sink so far.
    public private(set) var bytesWritten: UInt64 = 0
    private var finished = false

    /// - Parameter emit: receives the archive's bytes in order; a thrown error ends the write.
    public init(emit: @escaping ([UInt8]) throws(OCIImageError) -> Void) {
        self.emit = emit
    }

    /// Appends a directory entry; the path is stored with a trailing `/`.
    public func appendDirectory(path: String, mode: UInt32, mtime: UInt64 = 0) throws(OCIImageError) {
        try write(Self.headerBlocks(for: TarEntryHeader(path: path, kind: .directory, mode: mode, mtime: mtime)))
    }

    /// Appends a symbolic link entry.
    public func appendSymlink(path: String, target: String, mode: UInt32 = 0o777, mtime: UInt64 = 0) throws(OCIImageError) {
        try write(Self.headerBlocks(for: TarEntryHeader(path: path, kind: .symlink(target: target), mode: mode, mtime: mtime)))
    }

    /// Appends a regular file whose bytes are all in `data`.
    public func appendFile(path: String, mode: UInt32, data: [UInt8], mtime: UInt64 = 0) throws(OCIImageError) {
        try appendFile(path: path, mode: mode, size: UInt64(data.count), mtime: mtime) { (write: ([UInt8]) throws(OCIImageError) -> Void) throws(OCIImageError) in
            try write(data)
        }
    }

    /// Appends a regular file of `size` bytes that `contents` streams through the closure it is
    /// given. Throws ``OCIImageError/Code/io`` if `contents` delivers more or fewer than `size`
    /// bytes (a source that changed while it was read).
    public func appendFile(
        path: String, mode: UInt32, size: UInt64, mtime: UInt64 = 0,
        contents: (_ write: ([UInt8]) throws(OCIImageError) -> Void) throws(OCIImageError) -> Void
    ) throws(OCIImageError) {
        try write(Self.headerBlocks(for: TarEntryHeader(path: path, kind: .regularFile(size: size), mode: mode, mtime: mtime)))
        var delivered: UInt64 = 0
        try contents { (chunk: [UInt8]) throws(OCIImageError) in
            delivered += UInt64(chunk.count)
            guard delivered <= size else {
                throw OCIImageError(.io, "tar entry \(path): contents longer than the declared \(size) bytes")
            }
            try self.write(chunk)
        }
        guard delivered == size else {
            throw OCIImageError(.io, "tar entry \(path): got \(delivered) bytes, declared \(size)")
        }
        try write(Self.padding(for: size))
    }

    /// Ends the archive with two zero blocks; calling it again does nothing. Appending after it
    /// is a programming error (precondition).
    public func finish() throws(OCIImageError) {
        guard !finished else { return }
        try write([UInt8](repeating: 0, count: 2 * Self.blockSize))
        finished = true
    }

    private func write(_ bytes: [UInt8]) throws(OCIImageError) {
        precondition(!finished, "TarWriter: append after finish")
        guard !bytes.isEmpty else { return }
        try emit(bytes)
        bytesWritten += UInt64(bytes.count)
    }

    /// Zero bytes that round `size` up to a whole number of blocks.
    static func padding(for size: UInt64) -> [UInt8] {
        let remainder = Int(size % UInt64(blockSize))
        return remainder == 0 ? [] : [UInt8](repeating: 0, count: blockSize - remainder)
    }

    /// The header block(s) for an entry: a PAX extended header (with its data) when needed,
    /// then the ustar header. Throws ``OCIImageError/Code/unencodable`` for values tar cannot hold.
    public static func headerBlocks(for header: TarEntryHeader) throws(OCIImageError) -> [UInt8] {
        var name = header.path
        if case .directory = header.kind, !name.hasSuffix("/") { name += "/" }
        guard !header.path.isEmpty, !name.utf8.contains(0) else {
            throw OCIImageError(.unencodable, "tar entry \"\(header.path)\": path is empty or contains NUL")
        }
        var linkTarget = ""
        var size: UInt64 = 0
        let typeflag: UInt8
        switch header.kind {
        case .regularFile(let fileSize):
            typeflag = UInt8(ascii: "0")
            size = fileSize
        case .directory:
            typeflag = UInt8(ascii: "5")
        case .symlink(let target):
            guard !target.isEmpty, !target.utf8.contains(0) else {
                throw OCIImageError(.unencodable, "tar entry \"\(header.path)\": symlink target is empty or contains NUL")
            }
            typeflag = UInt8(ascii: "2")
            linkTarget = target
        }

        var records: [(String, String)] = []
        if !fitsUstar(name, limit: 100) { records.append(("path", name)) }
        if !fitsUstar(linkTarget, limit: 100) { records.append(("linkpath", linkTarget)) }
        if size > maxOctalSize { records.append(("size", String(size))) }

        var result: [UInt8] = []
        if !records.isEmpty {
            let data = paxData(records)
            let paxName = "PaxHeaders/" + String(decoding: truncatedASCII(lastComponent(of: name), limit: 88), as: UTF8.self)
            result += ustarBlock(name: Array(paxName.utf8), mode: 0o644, size: UInt64(data.count),
                                 mtime: header.mtime, typeflag: UInt8(ascii: "x"), linkname: [])
            result += data
            result += padding(for: UInt64(data.count))
        }
        // Fields PAX carries are stored truncated in ustar, as readers that ignore PAX expect.
        result += ustarBlock(name: truncatedASCII(name, limit: 100), mode: header.mode & 0o7777,
                             size: min(size, maxOctalSize), mtime: header.mtime, typeflag: typeflag,
                             linkname: truncatedASCII(linkTarget, limit: 100))
        return result
    }

    /// PAX records `"<len> <key>=<value>\n"`, where `<len>` counts the whole record including itself.
    static func paxData(_ records: [(String, String)]) -> [UInt8] {
        var data: [UInt8] = []
        for (key, value) in records {
            let body = " \(key)=\(value)\n".utf8.count
            var length = body + 1
            while String(length).utf8.count + body != length { length = String(length).utf8.count + body }
            data += Array("\(length) \(key)=\(value)\n".utf8)
        }
        return data
    }

    private static func fitsUstar(_ value: String, limit: Int) -> Bool {
        value.utf8.count <= limit && value.utf8.allSatisfy { $0 < 0x80 }
    }

    private static func truncatedASCII(_ value: String, limit: Int) -> [UInt8] {
        Array(value.utf8.map { $0 < 0x80 ? $0 : UInt8(ascii: "_") }.prefix(limit))
    }

    private static func lastComponent(of path: String) -> String {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }

    /// One 512-byte ustar header block with its checksum.
    static func ustarBlock(name: [UInt8], mode: UInt32, size: UInt64, mtime: UInt64, typeflag: UInt8, linkname: [UInt8]) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int) {
            for (i, byte) in bytes.enumerated() { block[offset + i] = byte }
        }
        func octal(_ value: UInt64, width: Int) -> [UInt8] {
            // width-1 zero-padded octal digits, then NUL.
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(UInt64(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)  // uid
        put(octal(0, width: 8), at: 116)  // gid
        put(octal(size, width: 12), at: 124)
        put(octal(min(mtime, maxOctalSize), width: 12), at: 136)
        block[156] = typeflag
        put(linkname, at: 157)
        put(Array("ustar".utf8) + [0], at: 257)
        put(Array("00".utf8), at: 263)
        // uname, gname, devmajor, devminor and prefix stay NUL: no names, no devices, and long
        // paths go to PAX rather than the prefix field.
        // The checksum is the byte sum with the checksum field itself read as eight spaces.
        put([UInt8](repeating: UInt8(ascii: " "), count: 8), at: 148)
        let sum = block.reduce(0) { $0 + UInt32($1) }
        let digits = String(sum, radix: 8)
        put(Array((String(repeating: "0", count: max(0, 6 - digits.count)) + digits).utf8) + [0, UInt8(ascii: " ")], at: 148)
        return block
    }
}

import Crypto
import Foundation

/// Everything that defines an image: its name, its one layer's contents and its run settings.
public struct ImageSpec: Equatable, Sendable {
    public var reference: ImageReference
    public var contents: LayerContents
    public var config: ImageConfig
    public var architecture: String
    public var os: String
    /// The mtime of every tar entry, layer and layout alike (seconds since the epoch).
    public var mtime: UInt64

    public init(reference: ImageReference, contents: LayerContents, config: ImageConfig,
                architecture: String = "amd64", os: String = "linux", mtime: UInt64 = 0) {
        self.reference = reference
        self.contents = contents
        self.config = config
        self.architecture = architecture
        self.os = os
        self.mtime = mtime
    }
}

/// What a build produced, for logs and tests.
public struct BuiltImage: Equatable, Sendable {
    public var reference: ImageReference
    public var manifest: Descriptor
    public var config: Descriptor
    /// The layer descriptor; uncompressed, so its digest is also the config's diff_id.
    public var layer: Descriptor
    public var outputPath: String
}

/// Builds OCI image-layout tarballs (oci-layout, index.json, blobs/sha256/...) with one
/// uncompressed layer.
///
/// Deterministic: the same spec and the same source bytes and modes give byte-identical
/// output, hence the same digests. The output appears atomically (written beside it, then
/// renamed); on error no partial file is left. Safe to call from several tasks with
/// different outputs.
public struct ImageBuilder: Sendable {
    /// Bytes read from a source file at a time.
    static let chunkSize = 1 << 20

    public init() {}

    /// Builds `spec` into an image-layout tarball at `output`, replacing any file there.
    public func build(_ spec: ImageSpec, output: String) throws(OCIImageError) -> BuiltImage {
        guard spec.reference.digest == nil else {
            throw OCIImageError(.badReference, "image name \(spec.reference) carries a digest; a built image is named by a tag")
        }
        let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw OCIImageError(.io, "cannot write \(output): directory \(directory) does not exist")
        }
        let layerPath = output + ".layer.partial"
        let partialPath = output + ".partial"
        defer {
            try? FileManager.default.removeItem(atPath: layerPath)
            try? FileManager.default.removeItem(atPath: partialPath)
        }

        let layerWriter = try HashingFileWriter(path: layerPath)
        let layerTar = TarWriter(emit: layerWriter.write)
        try writeLayer(spec.contents, mtime: spec.mtime, to: layerTar)
        try layerTar.finish()
        let layerDigest = try layerWriter.close()
        let layer = Descriptor(mediaType: MediaType.layerTar, digest: layerDigest, size: layerTar.bytesWritten)

        let configBytes = try ImageLayout.configJSON(spec.config, diffIDs: [layerDigest], architecture: spec.architecture, os: spec.os)
        let config = Descriptor(mediaType: MediaType.imageConfig, digest: Self.digest(configBytes), size: UInt64(configBytes.count))
        let manifestBytes = try ImageLayout.manifestJSON(config: config, layers: [layer])
        let manifest = Descriptor(
            mediaType: MediaType.imageManifest, digest: Self.digest(manifestBytes), size: UInt64(manifestBytes.count),
            platform: .init(architecture: spec.architecture, os: spec.os))
        let indexBytes = try ImageLayout.indexJSON(manifest: manifest, reference: spec.reference)

        let outputWriter = try HashingFileWriter(path: partialPath)
        let outer = TarWriter(emit: outputWriter.write)
        let mtime = spec.mtime
        try outer.appendFile(path: "oci-layout", mode: 0o644, data: ImageLayout.layoutJSON(), mtime: mtime)
        try outer.appendFile(path: "index.json", mode: 0o644, data: indexBytes, mtime: mtime)
        try outer.appendDirectory(path: "blobs", mode: 0o755, mtime: mtime)
        try outer.appendDirectory(path: "blobs/sha256", mode: 0o755, mtime: mtime)
        let blobs: [(Descriptor, [UInt8]?)] = [(config, configBytes), (manifest, manifestBytes), (layer, nil)]
        for (descriptor, bytes) in blobs.sorted(by: { $0.0.digest < $1.0.digest }) {
            let path = "blobs/sha256/" + descriptor.digest.dropFirst("sha256:".count)
            if let bytes {
                try outer.appendFile(path: path, mode: 0o644, data: bytes, mtime: mtime)
            } else {
                try outer.appendFile(path: path, mode: 0o644, size: descriptor.size, mtime: mtime) { write throws(OCIImageError) in
                    try Self.stream(layerPath, to: write)
                }
            }
        }
        try outer.finish()
        _ = try outputWriter.close()

        do {
            if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: partialPath, toPath: output)
        } catch {
            throw OCIImageError(.io, "moving the built image into place at \(output)", cause: "\(error)")
        }
        return BuiltImage(reference: spec.reference, manifest: manifest, config: config, layer: layer, outputPath: output)
    }

    /// Writes the layer's entries in order: directories and symlinks from the plan, files
    /// streamed from their sources with the source's mode unless the entry overrides it.
    func writeLayer(_ contents: LayerContents, mtime: UInt64, to tar: TarWriter) throws(OCIImageError) {
        for item in contents.items {
            switch item.kind {
            case .directory(let mode):
                try tar.appendDirectory(path: item.path, mode: mode, mtime: mtime)
            case .symlink(let target):
                try tar.appendSymlink(path: item.path, target: target, mtime: mtime)
            case .file(let source, let modeOverride):
                let (size, sourceMode) = try Self.regularFileInfo(source, imagePath: item.path)
                try tar.appendFile(path: item.path, mode: modeOverride ?? sourceMode, size: size, mtime: mtime) { write throws(OCIImageError) in
                    try Self.stream(source, to: write)
                }
            }
        }
    }

    /// Size and permission bits of a source file, following symlinks; it must be a regular file.
    static func regularFileInfo(_ source: String, imagePath: String) throws(OCIImageError) -> (UInt64, UInt32) {
        let resolved = URL(fileURLWithPath: source).resolvingSymlinksInPath().path
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: resolved)
        } catch {
            throw OCIImageError(.missingSource, "source file \(source) for /\(imagePath) does not exist or cannot be read")
        }
        guard (attributes[.type] as? FileAttributeType) == .typeRegular else {
            throw OCIImageError(.unsupportedFileType, "source \(source) for /\(imagePath) is not a regular file")
        }
        let size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        let mode = (attributes[.posixPermissions] as? NSNumber)?.uint32Value ?? 0o644
        return (size, mode & 0o7777)
    }

    /// Streams a host file's bytes through `write` in chunks.
    static func stream(_ path: String, to write: ([UInt8]) throws(OCIImageError) -> Void) throws(OCIImageError) {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        } catch {
            throw OCIImageError(.missingSource, "opening \(path)", cause: "\(error)")
        }
        defer { try? handle.close() }
        while true {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: chunkSize)
            } catch {
                throw OCIImageError(.io, "reading \(path)", cause: "\(error)")
            }
            guard let chunk, !chunk.isEmpty else { return }
            try write(Array(chunk))
        }
    }

    /// `sha256:<hex>` of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> String {
        "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

/// Writes bytes to a new file through a buffer while hashing them with SHA-256.
final class HashingFileWriter {
    private let path: String
    private let handle: FileHandle
    private var hasher = SHA256()
    private var buffer: [UInt8] = []
    private static let flushThreshold = 1 << 20

    init(path: String) throws(OCIImageError) {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw OCIImageError(.io, "creating \(path) (is its directory writable?)")
        }
        do {
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        } catch {
            throw OCIImageError(.io, "opening \(path) for writing", cause: "\(error)")
        }
    }

    func write(_ bytes: [UInt8]) throws(OCIImageError) {
        hasher.update(data: bytes)
        buffer += bytes
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    /// Flushes, syncs and closes the file; returns the digest of everything written.
    func close() throws(OCIImageError) -> String {
        try flush()
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw OCIImageError(.io, "closing \(path)", cause: "\(error)")
        }
        return "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private func flush() throws(OCIImageError) {
        guard !buffer.isEmpty else { return }
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw OCIImageError(.io, "writing \(path)", cause: "\(error)")
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

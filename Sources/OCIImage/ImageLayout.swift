import Foundation

/// Media types and annotation keys of the OCI image spec and containerd that the builder writes.
public enum MediaType {
    public static let imageIndex = "application/vnd.oci.image.index.v1+json"
    public static let imageManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let imageConfig = "application/vnd.oci.image.config.v1+json"
    public static let layerTar = "application/vnd.oci.image.layer.v1.tar"
}

public enum Annotation {
    /// OCI: the reference name in an image layout's index.json; by the spec's intent only the tag.
    public static let refName = "org.opencontainers.image.ref.name"
    /// containerd: the full image name. `ctr images import` (1.6) names the image after this
    /// annotation verbatim when present, and only otherwise after `refName` (a tag-only
    /// `refName` would get an `import-<date>` prefix), so it must be the normalized full name.
    public static let containerdImageName = "io.containerd.image.name"
}

/// An OCI content descriptor.
public struct Descriptor: Codable, Equatable, Sendable {
    public struct Platform: Codable, Equatable, Sendable {
        public var architecture: String
        public var os: String
    }
    public var mediaType: String
    /// `sha256:<64 hex digits>`.
    public var digest: String
    public var size: UInt64
    public var platform: Platform?
    public var annotations: [String: String]?

    public init(mediaType: String, digest: String, size: UInt64, platform: Platform? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
    }
}

/// What the image runs: the `config` object of the OCI image configuration. Empty or nil
/// fields are left out of the JSON.
public struct ImageConfig: Equatable, Sendable {
    public var entrypoint: [String]?
    public var cmd: [String]?
    /// `KEY=value` strings.
    public var env: [String]
    public var workingDir: String?
    public var user: String?

    public init(entrypoint: [String]? = nil, cmd: [String]? = nil, env: [String] = [], workingDir: String? = nil, user: String? = nil) {
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.env = env
        self.workingDir = workingDir
        self.user = user
    }
}

/// The JSON documents of an image layout. Encoding is canonical (sorted keys, no escaped
/// slashes, no timestamps), so equal inputs give byte-equal documents and equal digests.
public enum ImageLayout {
    public static let layoutVersion = "1.0.0"

    private struct ConfigDocument: Encodable {
        struct Exec: Encodable {
            var Entrypoint: [String]?
            var Cmd: [String]?
            var Env: [String]?
            var WorkingDir: String?
            var User: String?
        }
        struct RootFS: Encodable {
            var type = "layers"
            var diff_ids: [String]
        }
        var architecture: String
        var os: String
        var config: Exec
        var rootfs: RootFS
    }

    private struct ManifestDocument: Encodable {
        var schemaVersion = 2
        var mediaType = MediaType.imageManifest
        var config: Descriptor
        var layers: [Descriptor]
    }

    private struct IndexDocument: Encodable {
        var schemaVersion = 2
        var mediaType = MediaType.imageIndex
        var manifests: [Descriptor]
    }

    /// The image configuration: platform, run settings and the layers' uncompressed digests.
    public static func configJSON(_ config: ImageConfig, diffIDs: [String], architecture: String, os: String) throws(OCIImageError) -> [UInt8] {
        let exec = ConfigDocument.Exec(
            Entrypoint: config.entrypoint, Cmd: config.cmd, Env: config.env.isEmpty ? nil : config.env,
            WorkingDir: config.workingDir, User: config.user)
        return try encode(ConfigDocument(architecture: architecture, os: os, config: exec, rootfs: .init(diff_ids: diffIDs)))
    }

    /// The image manifest pointing at the config and the layers.
    public static func manifestJSON(config: Descriptor, layers: [Descriptor]) throws(OCIImageError) -> [UInt8] {
        try encode(ManifestDocument(config: config, layers: layers))
    }

    /// The layout's index.json: one manifest, named by both annotations (see ``Annotation``).
    /// `ref.name` is the tag, as containerd's own exporter writes it.
    public static func indexJSON(manifest: Descriptor, reference: ImageReference) throws(OCIImageError) -> [UInt8] {
        var named = manifest
        var annotations = [Annotation.containerdImageName: reference.description]
        if let tag = reference.tag { annotations[Annotation.refName] = tag }
        named.annotations = annotations
        return try encode(IndexDocument(manifests: [named]))
    }

    /// The `oci-layout` file.
    public static func layoutJSON() -> [UInt8] {
        Array("{\"imageLayoutVersion\":\"\(layoutVersion)\"}".utf8)
    }

    private static func encode(_ value: some Encodable) throws(OCIImageError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw OCIImageError(.unencodable, "encoding \(type(of: value)) as JSON", cause: "\(error)")
        }
    }
}

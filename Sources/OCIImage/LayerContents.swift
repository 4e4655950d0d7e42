import Foundation

/// One thing to put in the image's filesystem.
public enum LayerEntry: Equatable, Sendable {
    /// A regular file copied from `source` on the host to `path` in the image. `mode` nil keeps
    /// the source's permission bits.
    case file(source: String, path: String, mode: UInt32? = nil)
    /// A directory at `path` with the given permission bits (e.g. 0o1777 for /tmp).
    case directory(path: String, mode: UInt32)
    /// A symbolic link at `path` pointing at `target` (relative to the link's directory, or absolute).
    case symlink(path: String, target: String)

    /// The in-image path as given.
    public var path: String {
        switch self {
        case .file(_, let path, _), .directory(let path, _), .symlink(let path, _): path
        }
    }
}

/// The validated, sorted contents of a layer: every in-image path is normalized, parents come
/// before children, and directories that entries need but nobody listed are added with mode 0755.
///
/// Validation rules: paths are absolute, have no `.`, `..` or empty components, are not `/`
/// itself, contain no NUL, and appear once; nothing lies below a file or symlink.
public struct LayerContents: Equatable, Sendable {
    /// One entry of the plan, with its path relative to the image root (no leading `/`).
    public struct Item: Equatable, Sendable {
        public enum Kind: Equatable, Sendable {
            case file(source: String, mode: UInt32?)
            case directory(mode: UInt32)
            case symlink(target: String)
        }
        public var path: String
        public var kind: Kind
    }

    /// Items in archive order (byte-wise sorted paths, so a parent precedes its children).
    public private(set) var items: [Item]

    public init(_ entries: [LayerEntry]) throws(OCIImageError) {
        var byPath: [String: Item] = [:]
        for entry in entries {
            let path = try Self.normalize(entry.path)
            let kind: Item.Kind
            switch entry {
            case .file(let source, _, let mode): kind = .file(source: source, mode: mode)
            case .directory(_, let mode): kind = .directory(mode: mode)
            case .symlink(_, let target):
                guard !target.isEmpty, !target.utf8.contains(0) else {
                    throw OCIImageError(.unencodable, "symlink /\(path): target is empty or contains NUL")
                }
                kind = .symlink(target: target)
            }
            if let existing = byPath[path] {
                // A directory listed explicitly and also implied by a walk is one entry, not two.
                if case .directory = existing.kind, case .directory = kind, existing == Item(path: path, kind: kind) { continue }
                throw OCIImageError(.duplicatePath, "path /\(path) is given more than once")
            }
            byPath[path] = Item(path: path, kind: kind)
        }
        for path in Array(byPath.keys) {
            var parent = Substring(path)
            while let slash = parent.lastIndex(of: "/") {
                parent = parent[..<slash]
                if let existing = byPath[String(parent)] {
                    guard case .directory = existing.kind else {
                        throw OCIImageError(.pathConflict, "path /\(path) lies below /\(parent), which is not a directory")
                    }
                } else {
                    byPath[String(parent)] = Item(path: String(parent), kind: .directory(mode: 0o755))
                }
            }
        }
        items = byPath.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
    }

    /// Lists a host directory tree as layer entries rooted at `/`: regular files, directories
    /// (with their modes) and symlinks (targets verbatim). Throws for a missing root and for
    /// sockets, devices and fifos.
    public static func entries(fromRoot root: String) throws(OCIImageError) -> [LayerEntry] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw OCIImageError(.missingSource, "root directory \(root) does not exist or is not a directory")
        }
        let relativePaths: [String]
        do {
            relativePaths = try manager.subpathsOfDirectory(atPath: root)
        } catch {
            throw OCIImageError(.io, "listing root directory \(root)", cause: "\(error)")
        }
        var entries: [LayerEntry] = []
        for relative in relativePaths.sorted() {
            let hostPath = root + "/" + relative
            let attributes: [FileAttributeKey: Any]
            do {
                attributes = try manager.attributesOfItem(atPath: hostPath)
            } catch {
                throw OCIImageError(.missingSource, "reading attributes of \(hostPath)", cause: "\(error)")
            }
            let mode = (attributes[.posixPermissions] as? NSNumber)?.uint32Value ?? 0o644
            let type = attributes[.type] as? FileAttributeType
            switch type {
            case .typeDirectory?:
                entries.append(.directory(path: "/" + relative, mode: mode & 0o7777))
            case .typeRegular?:
                entries.append(.file(source: hostPath, path: "/" + relative, mode: nil))
            case .typeSymbolicLink?:
                let target: String
                do {
                    target = try manager.destinationOfSymbolicLink(atPath: hostPath)
                } catch {
                    throw OCIImageError(.io, "reading symlink \(hostPath)", cause: "\(error)")
                }
                entries.append(.symlink(path: "/" + relative, target: target))
            default:
                throw OCIImageError(.unsupportedFileType, "\(hostPath) is a \(type?.rawValue ?? "file of unknown type"); a layer holds only files, directories and symlinks")
            }
        }
        return entries
    }

    /// Turns an absolute in-image path into the archive path (no leading `/`), or throws
    /// ``OCIImageError/Code/badPath`` saying why it is not acceptable.
    public static func normalize(_ path: String) throws(OCIImageError) -> String {
        func fail(_ reason: String) -> OCIImageError {
            OCIImageError(.badPath, "invalid path in image \"\(path)\": \(reason)")
        }
        guard path.hasPrefix("/") else { throw fail("must be absolute") }
        guard !path.utf8.contains(0) else { throw fail("contains NUL") }
        var trimmed = Substring(path.dropFirst())
        if trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty else { throw fail("is the image root") }
        for component in trimmed.split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { throw fail("has an empty component") }
            if component == "." || component == ".." { throw fail("has a '\(component)' component") }
        }
        return String(trimmed)
    }
}

import Foundation
import Testing
import OCIImage

@Suite struct LayerContentsTests {
    @Test func addsParentsAndSortsParentsFirst() throws {
        let contents = try LayerContents([
            .symlink(path: "/usr/bin/sh", target: "/bin/busybox"),
            .file(source: "/x", path: "/bin/busybox"),
            .directory(path: "/tmp/", mode: 0o1777),
            .file(source: "/y", path: "/bin-extra/tool", mode: 0o700),
        ])
        #expect(contents.items.map(\.path) == ["bin", "bin/busybox", "bin-extra", "bin-extra/tool", "tmp", "usr", "usr/bin", "usr/bin/sh"].sorted())
        #expect(contents.items.first { $0.path == "usr/bin" }?.kind == .directory(mode: 0o755))
        #expect(contents.items.first { $0.path == "tmp" }?.kind == .directory(mode: 0o1777))
        #expect(contents.items.first { $0.path == "bin-extra/tool" }?.kind == .file(source: "/y", mode: 0o700))
        // Every parent precedes its children.
        for (index, item) in contents.items.enumerated() {
            let parents = contents.items[..<index].map(\.path)
            var parent = item.path
            while let slash = parent.lastIndex(of: "/") {
                parent = String(parent[..<slash])
                #expect(parents.contains(parent), "\(parent) should precede \(item.path)")
            }
        }
    }

    @Test func orderDoesNotDependOnInputOrder() throws {
        let entries: [LayerEntry] = [
            .symlink(path: "/bin/ls", target: "busybox"), .file(source: "/b", path: "/bin/busybox"),
            .directory(path: "/tmp", mode: 0o1777), .file(source: "/p", path: "/etc/passwd"),
        ]
        #expect(try LayerContents(entries) == LayerContents(entries.reversed()))
    }

    /// Bad in-image paths and the reason the message must give.
    @Test(arguments: [
        ("bin/sh", "absolute"), ("/", "root"), ("//", "root"), ("/a//", "empty component"), ("/a//b", "empty component"),
        ("/a/./b", "'.'"), ("/a/../b", "'..'"), ("/..", "'..'"), ("/a\0b", "NUL"),
    ])
    func rejectsBadPaths(_ path: String, _ reason: String) {
        let error = #expect(throws: OCIImageError.self) { try LayerContents([.symlink(path: path, target: "x")]) }
        #expect(error?.code == .badPath)
        #expect(error?.message.contains(reason) == true, "message: \(error?.message ?? "")")
    }

    @Test func rejectsDuplicates() {
        let error = #expect(throws: OCIImageError.self) {
            try LayerContents([.file(source: "/a", path: "/bin/x"), .symlink(path: "/bin/x/", target: "y")])
        }
        #expect(error?.code == .duplicatePath)
        #expect(error?.message.contains("/bin/x") == true)
    }

    @Test func identicalDirectoriesMerge() throws {
        let contents = try LayerContents([.directory(path: "/tmp", mode: 0o1777), .directory(path: "/tmp", mode: 0o1777)])
        #expect(contents.items.count == 1)
    }

    @Test func rejectsEntriesBelowAFileOrSymlink() {
        let error = #expect(throws: OCIImageError.self) {
            try LayerContents([.symlink(path: "/bin", target: "usr/bin"), .file(source: "/a", path: "/bin/sh")])
        }
        #expect(error?.code == .pathConflict)
        #expect(error?.message.contains("/bin/sh") == true)
    }

    @Test func rejectsEmptySymlinkTarget() {
        let error = #expect(throws: OCIImageError.self) { try LayerContents([.symlink(path: "/l", target: "")]) }
        #expect(error?.code == .unencodable)
    }

    @Test func listsARootDirectory() throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let manager = FileManager.default
        try manager.createDirectory(atPath: root.path + "/etc/conf.d", withIntermediateDirectories: true)
        try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.path + "/etc")
        try manager.setAttributes([.posixPermissions: 0o750], ofItemAtPath: root.path + "/etc/conf.d")
        #expect(manager.createFile(atPath: root.path + "/etc/hosts", contents: Data("127.0.0.1 localhost\n".utf8)))
        try manager.createSymbolicLink(atPath: root.path + "/etc/alias", withDestinationPath: "hosts")
        let entries = try LayerContents.entries(fromRoot: root.path)
        #expect(entries == [
            .directory(path: "/etc", mode: 0o755),
            .symlink(path: "/etc/alias", target: "hosts"),
            .directory(path: "/etc/conf.d", mode: 0o750),
            .file(source: root.path + "/etc/hosts", path: "/etc/hosts"),
        ])
    }

    @Test func missingRootIsAnError() {
        let error = #expect(throws: OCIImageError.self) { try LayerContents.entries(fromRoot: "/nonexistent/nodekit-root") }
        #expect(error?.code == .missingSource)
        #expect(error?.message.contains("/nonexistent/nodekit-root") == true)
    }
}

/// A fresh directory under the system temp dir, removed by ``remove()``.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "nodekit-oci-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` to `name` in the directory with `mode`, and returns the file's path.
    func write(_ name: String, _ text: String, mode: Int = 0o644) throws -> String {
        let file = path + "/" + name
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8)) else {
            throw OCIImageError(.io, "test: creating \(file)")
        }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }
}

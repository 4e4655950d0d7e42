import Foundation

/// Facts about the machine the tests run on, for skipping tests that need root or a tool.
public enum Host {
    /// True when the process runs as root (uid 0).
    public static var isRoot: Bool { getuid() == 0 }

    /// The absolute path of an executable found on `PATH` (plus sbin dirs), or nil.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/lib/cni"]
        for dir in dirs {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// A short suffix unique to this test process, for names of netns, links, containerd state
    /// and kernel tables, so that parallel or aborted runs do not collide.
    public static let runSuffix: String = {
        let pid = String(getpid(), radix: 36)
        let rnd = String(UInt32.random(in: 0..<UInt32(36 * 36 * 36)), radix: 36)
        return pid + rnd
    }()

    /// The root of the Nodekit source tree (the directory holding Package.swift).
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()
}

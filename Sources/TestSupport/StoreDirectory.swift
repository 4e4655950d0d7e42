import Foundation

/// A fresh directory under the system temp dir for a store's files, named with
/// ``Host/runSuffix``; ``remove()`` deletes it (call it in a `defer`).
public struct TemporaryStoreDirectory: Sendable {
    public let path: String

    public init(_ name: String) throws {
        path = NSTemporaryDirectory() + "nodekit-store-\(name)-\(Host.runSuffix)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

import Foundation
import KubeAPI

/// Reads Services and EndpointSlices from `*.yaml`, `*.yml` and `*.json` files in a directory
/// (several documents per file allowed; `List` kinds are expanded), for standalone use and
/// tests. ``rescan()`` is the single step: it reports adds, updates and deletions to the
/// proxier since the previous scan.
public final class ConfigDirectorySource: @unchecked Sendable {
    public let directory: String
    private let proxier: Proxier
    private var services: [String: Service] = [:]
    private var slices: [String: EndpointSlice] = [:]
    private let lock = NSLock()

    public init(directory: String, proxier: Proxier) {
        self.directory = directory
        self.proxier = proxier
    }

    /// What a scan found.
    public struct ScanResult: Sendable, Equatable {
        public var services: Int
        public var endpointSlices: Int
        /// One message per file or document that could not be read; those objects keep their
        /// previous state (a half-written file does not delete Services).
        public var errors: [String]
    }

    /// Reads the directory and feeds differences to the proxier. Throws only when the
    /// directory itself cannot be listed.
    @discardableResult
    public func rescan() throws -> ScanResult {
        lock.lock()
        defer { lock.unlock() }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted() } catch {
            throw ProxyError("config-dir: cannot list \(directory): \(error.localizedDescription)")
        }
        var newServices: [String: Service] = [:]
        var newSlices: [String: EndpointSlice] = [:]
        var errors: [String] = []
        var failedFiles = Set<String>()
        for name in names where [".yaml", ".yml", ".json"].contains(where: name.hasSuffix) {
            let path = directory + "/" + name
            do {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                var docs = try Manifest.documents(text, source: path)
                var i = 0
                while i < docs.count {
                    if docs[i]["kind"]?.stringValue?.hasSuffix("List") == true, case .array(let items)? = docs[i]["items"] {
                        docs.append(contentsOf: items)
                    }
                    i += 1
                }
                for doc in docs {
                    switch doc["kind"]?.stringValue {
                    case "Service":
                        var s = try Manifest.decode(Service.self, from: doc, source: path)
                        if s.metadata.namespace == nil { s.metadata.namespace = "default" }
                        newServices[s.key] = s
                    case "EndpointSlice":
                        var e = try Manifest.decode(EndpointSlice.self, from: doc, source: path)
                        if e.metadata.namespace == nil { e.metadata.namespace = "default" }
                        newSlices[e.key] = e
                    default: continue
                    }
                }
            } catch {
                errors.append("\(error)")
                failedFiles.insert(path)
            }
        }
        // Keep the objects of unreadable files rather than treat them as deleted.
        if !failedFiles.isEmpty {
            for (k, v) in services where newServices[k] == nil { newServices[k] = v }
            for (k, v) in slices where newSlices[k] == nil { newSlices[k] = v }
        }
        for (key, svc) in newServices where services[key] != svc { proxier.update(svc) }
        for key in services.keys where newServices[key] == nil { proxier.delete(serviceKey: key) }
        for (key, slice) in newSlices where slices[key] != slice { proxier.update(slice) }
        for (key, slice) in slices where newSlices[key] == nil { proxier.update(slice, deleted: true) }
        services = newServices
        slices = newSlices
        return ScanResult(services: newServices.count, endpointSlices: newSlices.count, errors: errors)
    }
}

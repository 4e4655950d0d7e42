import CRI
import Foundation
import KubeAPI
import LinuxSystem

/// Sets up a pod's volumes on the host and turns volume mounts into CRI mounts.
///
/// Layout as upstream: `<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>` with the
/// plugins `empty-dir`, `downward-api`, `configmap`, `secret` and `projected`; hostPath
/// volumes are the host path itself, checked or created according to their type. Memory
/// emptyDirs, secrets, configMaps and projected volumes are tmpfs mounts (through
/// ``Mounting``), so their bytes never reach a disk; a Memory emptyDir is sized by its
/// `sizeLimit`, else by the pod's memory limits when every container has one. Files of
/// configMap, secret, downward API and projected volumes are written as upstream's atomic
/// writer does: a timestamped directory, a `..data` link to it switched by rename, and one link
/// per top-level name, so a reader never sees half an update. A projected serviceAccountToken
/// source writes the token in `objects` (requested by the pod's object reader, refreshed by
/// ``refresh(pod:runtime:objects:)``) with the volume's default mode.
///
/// `setUp` is idempotent (existing directories, mounts and emptyDir content are kept; file
/// volumes are rewritten); `tearDown` unmounts everything below the pod's directory and
/// removes it.
public struct VolumeManager: Sendable {
    public let node: NodeInfo
    public let mounter: any Mounting

    public init(node: NodeInfo, mounter: any Mounting = HostMounts()) {
        self.node = node
        self.mounter = mounter
    }

    /// Creates every volume of `pod` and returns their host paths by volume name. ConfigMap and
    /// Secret contents come from `objects`; a missing one fails unless the volume is optional.
    public func setUp(pod: Pod, runtime: ContainerConfigBuilder.Runtime, objects: PodObjects = PodObjects()) throws(KubeletError) -> [String: String] {
        let uid = pod.metadata.uid ?? ""
        var paths: [String: String] = [:]
        for volume in pod.spec.volumes ?? [] {
            let where_ = "volume \(volume.name) of pod \(pod.key)"
            func directory(_ plugin: String) -> String {
                "\(node.podDirectory(uid: uid))/volumes/kubernetes.io~\(plugin)/\(volume.name)"
            }
            if let emptyDir = volume.emptyDir {
                let path = directory("empty-dir")
                try makeDirectory(path, mode: 0o777, what: where_)
                if emptyDir.medium == "Memory" {
                    try mountTmpfs(path, sizeBytes: Self.memoryVolumeSize(emptyDir, pod: pod), mode: 0o777, what: where_)
                } else if let medium = emptyDir.medium, !medium.isEmpty {
                    throw KubeletError(.volume, "\(where_): emptyDir medium \(medium) is not supported (want \"\" or Memory)")
                }
                paths[volume.name] = path
            } else if let hostPath = volume.hostPath {
                try checkHostPath(hostPath, what: where_)
                paths[volume.name] = hostPath.path
            } else if let (plugin, files) = try objectVolumeFiles(volume, pod: pod, runtime: runtime, objects: objects, what: where_) {
                let path = directory(plugin)
                try makeDirectory(path, mode: 0o755, what: where_)
                // Secrets, ConfigMaps and tokens live on tmpfs; the downward API does not need to.
                if plugin != "downward-api" { try mountTmpfs(path, sizeBytes: nil, mode: 0o755, what: where_) }
                try writeAtomically(files, into: path, what: where_)
                paths[volume.name] = path
            } else {
                throw KubeletError(.volume, "\(where_): volume type not supported")
            }
        }
        return paths
    }

    /// The plugin directory name and files of a downwardAPI, configMap, secret or projected
    /// volume (nil for other kinds), computed from the pod and `objects`.
    func objectVolumeFiles(_ volume: Volume, pod: Pod, runtime: ContainerConfigBuilder.Runtime, objects: PodObjects,
                           what: String) throws(KubeletError) -> (plugin: String, files: [String: VolumeFile])? {
        if let downward = volume.downwardAPI {
            return ("downward-api", try downwardFiles(downward.items ?? [], defaultMode: downward.defaultMode, pod: pod, runtime: runtime, what: what))
        } else if let configMap = volume.configMap {
            return ("configmap", try configMapFiles(configMap.name ?? "", items: configMap.items, defaultMode: configMap.defaultMode,
                                                    optional: configMap.optional == true, objects: objects, what: what))
        } else if let secret = volume.secret {
            return ("secret", try secretFiles(secret.secretName ?? "", items: secret.items, defaultMode: secret.defaultMode,
                                              optional: secret.optional == true, objects: objects, what: what))
        } else if let projected = volume.projected {
            return ("projected", try projectedFiles(projected, volume: volume.name, pod: pod, runtime: runtime, objects: objects, what: what))
        }
        return nil
    }

    /// The files of a projected volume: each source's in order, a later one winning a path.
    func projectedFiles(_ projected: ProjectedVolumeSource, volume: String, pod: Pod, runtime: ContainerConfigBuilder.Runtime,
                        objects: PodObjects, what: String) throws(KubeletError) -> [String: VolumeFile] {
        var files: [String: VolumeFile] = [:]
        for source in projected.sources ?? [] {
            if let downward = source.downwardAPI {
                files.merge(try downwardFiles(downward.items ?? [], defaultMode: projected.defaultMode, pod: pod, runtime: runtime, what: what)) { _, new in new }
            } else if let configMap = source.configMap {
                files.merge(try configMapFiles(configMap.name ?? "", items: configMap.items, defaultMode: projected.defaultMode,
                                               optional: configMap.optional == true, objects: objects, what: what)) { _, new in new }
            } else if let secret = source.secret {
                files.merge(try secretFiles(secret.name ?? "", items: secret.items, defaultMode: projected.defaultMode,
                                            optional: secret.optional == true, objects: objects, what: what)) { _, new in new }
            } else if let token = source.serviceAccountToken {
                try checkRelative(token.path, what: what)
                guard let value = objects.serviceAccountTokens[Self.tokenKey(volume: volume, path: token.path)] else {
                    let why = objects.hasAPIServer ? "no token was requested" : "the kubelet runs without an API server, so it cannot request service account tokens"
                    throw KubeletError(.volume, "\(what): serviceAccountToken \(token.path): \(why)")
                }
                files[token.path] = VolumeFile(bytes: Array(value.utf8), mode: Int(projected.defaultMode ?? 0o644))
            }
        }
        return files
    }

    /// The key of a projected serviceAccountToken source's token in ``PodObjects``.
    public static func tokenKey(volume: String, path: String) -> String { volume + "/" + path }

    /// Whether any token file of `pod`'s projected volumes holds something other than `tokens`
    /// (a refreshed token to write). A volume not set up yet counts as different.
    public func tokenFilesDiffer(pod: Pod, tokens: [String: String]) -> Bool {
        for volume in pod.spec.volumes ?? [] {
            for source in volume.projected?.sources ?? [] {
                guard let token = source.serviceAccountToken else { continue }
                let file = "\(node.podDirectory(uid: pod.metadata.uid ?? ""))/volumes/kubernetes.io~projected/\(volume.name)/\(token.path)"
                let written = FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) }
                if written != tokens[Self.tokenKey(volume: volume.name, path: token.path)] { return true }
            }
        }
        return false
    }

    /// What ``refresh(pod:runtime:objects:)`` did: the volumes it wrote again, and one line per
    /// volume it could not compute or write (that volume keeps its previous files).
    public struct RefreshResult: Sendable, Equatable {
        public var rewritten: [String] = []
        public var failures: [String] = []
    }

    /// Writes again, atomically, each configMap, secret, downwardAPI and projected volume of
    /// `pod` whose files differ from what `objects` and the pod say now, as upstream's kubelet
    /// does on its periodic pod sync: running containers see updated ConfigMaps, Secrets,
    /// labels and annotations without a restart. Volumes not set up yet are skipped. A volume
    /// whose object is gone and not optional keeps its files, and is named in `failures`.
    public func refresh(pod: Pod, runtime: ContainerConfigBuilder.Runtime, objects: PodObjects) -> RefreshResult {
        var result = RefreshResult()
        let podDirectory = node.podDirectory(uid: pod.metadata.uid ?? "")
        for volume in pod.spec.volumes ?? [] {
            let what = "volume \(volume.name) of pod \(pod.key)"
            do throws(KubeletError) {
                guard let (plugin, files) = try objectVolumeFiles(volume, pod: pod, runtime: runtime, objects: objects, what: what) else { continue }
                let dir = "\(podDirectory)/volumes/kubernetes.io~\(plugin)/\(volume.name)"
                guard let written = Self.writtenFiles(in: dir), written != files else { continue }
                try writeAtomically(files, into: dir, what: what)
                result.rewritten.append(volume.name)
            } catch {
                result.failures.append(error.description)
            }
        }
        return result
    }

    /// The files an atomic write left in `dir` (below its `..data` link) by relative path, or
    /// nil when the volume has not been written.
    static func writtenFiles(in dir: String) -> [String: VolumeFile]? {
        let fm = FileManager.default
        guard let stamp = try? fm.destinationOfSymbolicLink(atPath: dir + "/..data") else { return nil }
        let root = dir + "/" + stamp
        guard let enumerator = fm.enumerator(atPath: root) else { return nil }
        var files: [String: VolumeFile] = [:]
        for case let path as String in enumerator {
            let full = root + "/" + path
            guard let attributes = try? fm.attributesOfItem(atPath: full),
                  attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            let bytes = fm.contents(atPath: full).map { [UInt8]($0) } ?? []
            files[path] = VolumeFile(bytes: bytes, mode: (attributes[.posixPermissions] as? Int) ?? 0)
        }
        return files
    }

    /// One file of a configMap, secret, downward API or projected volume.
    struct VolumeFile: Sendable, Hashable {
        var bytes: [UInt8]
        var mode: Int
    }

    /// The tmpfs size of a Memory emptyDir: its sizeLimit, else the pod's memory limit when every
    /// container sets one, else nil (the kernel's default, half of RAM).
    static func memoryVolumeSize(_ emptyDir: EmptyDirVolumeSource, pod: Pod) -> Int64? {
        if let limit = emptyDir.sizeLimit, limit.value > 0 { return limit.value }
        let limits = pod.spec.containers.map { $0.resources?.limits?["memory"]?.value ?? 0 }
        return limits.allSatisfy { $0 > 0 } ? limits.reduce(0, +) : nil
    }

    func mountTmpfs(_ path: String, sizeBytes: Int64?, mode: UInt32, what: String) throws(KubeletError) {
        do { try mounter.mountTmpfs(at: path, sizeBytes: sizeBytes, mode: mode) } catch {
            throw KubeletError(.volume, "\(what): mount tmpfs on \(path)", cause: error)
        }
    }

    func configMapFiles(_ name: String, items: [KeyToPath]?, defaultMode: Int32?, optional: Bool, objects: PodObjects, what: String) throws(KubeletError) -> [String: VolumeFile] {
        guard let map = objects.configMaps[name] else {
            if optional { return [:] }
            throw KubeletError(.volume, "\(what): \(objects.notFound("configmap", name))")
        }
        let keys = Set((map.data ?? [:]).keys).union((map.binaryData ?? [:]).keys)
        return try keyFiles(keys: keys, bytes: { map.bytes(forKey: $0) }, items: items, defaultMode: defaultMode,
                            optional: optional, object: "configmap \(name)", what: what)
    }

    func secretFiles(_ name: String, items: [KeyToPath]?, defaultMode: Int32?, optional: Bool, objects: PodObjects, what: String) throws(KubeletError) -> [String: VolumeFile] {
        guard let secret = objects.secrets[name] else {
            if optional { return [:] }
            throw KubeletError(.volume, "\(what): \(objects.notFound("secret", name))")
        }
        let keys = Set((secret.data ?? [:]).keys).union((secret.stringData ?? [:]).keys)
        return try keyFiles(keys: keys, bytes: { secret.bytes(forKey: $0) }, items: items, defaultMode: defaultMode,
                            optional: optional, object: "secret \(name)", what: what)
    }

    /// Upstream's projection of keys to files: every key as a file of its name, or only `items`
    /// at their paths (a listed key that is missing fails unless the source is optional).
    func keyFiles(keys: Set<String>, bytes: (String) -> [UInt8]?, items: [KeyToPath]?, defaultMode: Int32?, optional: Bool,
                  object: String, what: String) throws(KubeletError) -> [String: VolumeFile] {
        let mode = Int(defaultMode ?? 0o644)
        var files: [String: VolumeFile] = [:]
        guard let items, !items.isEmpty else {
            for key in keys { if let value = bytes(key) { files[key] = VolumeFile(bytes: value, mode: mode) } }
            return files
        }
        for item in items {
            guard let value = bytes(item.key) else {
                if optional { continue }
                throw KubeletError(.volume, "\(what): \(object) has no key \(item.key)")
            }
            try checkRelative(item.path, what: what)
            files[item.path] = VolumeFile(bytes: value, mode: Int(item.mode ?? Int32(mode)))
        }
        return files
    }

    /// The CRI mounts of `container`: its volume mounts (with subPath), and the termination
    /// message file, created under `<root>/pods/<uid>/containers/<name>/<restartCount>`.
    public func mounts(pod: Pod, container: Container, restartCount: Int, volumePaths: [String: String]) throws(KubeletError) -> [Runtime_V1_Mount] {
        var mounts: [Runtime_V1_Mount] = []
        for mount in container.volumeMounts ?? [] {
            guard let path = volumePaths[mount.name] else {
                throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key) mounts unknown volume \(mount.name)")
            }
            var m = Runtime_V1_Mount()
            m.containerPath = mount.mountPath
            m.hostPath = path
            if let sub = mount.subPath, !sub.isEmpty {
                guard !sub.hasPrefix("/"), !sub.split(separator: "/").contains("..") else {
                    throw KubeletError(.containerConfig, "container \(container.name) of pod \(pod.key): subPath \(sub) must be a relative path without '..'")
                }
                m.hostPath = path + "/" + sub
                if !FileManager.default.fileExists(atPath: m.hostPath) {
                    try makeDirectory(m.hostPath, mode: 0o755, what: "subPath \(sub) of volume \(mount.name)")
                }
            }
            m.readonly = mount.readOnly ?? false
            switch mount.mountPropagation {
            case "HostToContainer": m.propagation = .propagationHostToContainer
            case "Bidirectional": m.propagation = .propagationBidirectional
            default: m.propagation = .propagationPrivate
            }
            mounts.append(m)
        }
        let messagePath = container.terminationMessagePath ?? "/dev/termination-log"
        if !messagePath.isEmpty {
            let dir = "\(node.podDirectory(uid: pod.metadata.uid ?? ""))/containers/\(container.name)"
            try makeDirectory(dir, mode: 0o755, what: "termination message of container \(container.name)")
            let file = "\(dir)/\(restartCount)"
            guard FileManager.default.createFile(atPath: file, contents: Data(), attributes: [.posixPermissions: 0o666]) else {
                throw KubeletError(.volume, "create termination message file \(file)")
            }
            var m = Runtime_V1_Mount()
            m.containerPath = messagePath
            m.hostPath = file
            mounts.append(m)
        }
        return mounts
    }

    /// Reads the termination message a container wrote (at most 4 KiB, as upstream).
    public func terminationMessage(podUID: String, container: String, restartCount: Int) -> String {
        let file = "\(node.podDirectory(uid: podUID))/containers/\(container)/\(restartCount)"
        guard let data = FileManager.default.contents(atPath: file) else { return "" }
        return String(decoding: data.prefix(4096), as: UTF8.self)
    }

    /// Removes everything the kubelet made for the pod under its root directory: unmounts the
    /// tmpfs volumes below it first, so that removing the directory cannot fail on (or reach
    /// into) a mount.
    public func tearDown(podUID: String) throws(KubeletError) {
        let dir = node.podDirectory(uid: podUID)
        guard !podUID.isEmpty, FileManager.default.fileExists(atPath: dir) else { return }
        do {
            for point in try mounter.mountPoints(under: dir) { try mounter.unmount(point) }
        } catch {
            throw KubeletError(.volume, "unmount volumes under \(dir)", cause: error)
        }
        do { try FileManager.default.removeItem(atPath: dir) } catch {
            throw KubeletError(.volume, "remove pod directory \(dir)", cause: error)
        }
    }

    func makeDirectory(_ path: String, mode: Int, what: String) throws(KubeletError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: nil)
            // The mode is set explicitly: the umask would otherwise narrow it.
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        } catch {
            throw KubeletError(.volume, "\(what): create directory \(path)", cause: error)
        }
    }

    func checkHostPath(_ source: HostPathVolumeSource, what: String) throws(KubeletError) {
        let path = source.path
        guard path.hasPrefix("/") else { throw KubeletError(.volume, "\(what): hostPath \(path) must be absolute") }
        let type = source.type ?? ""
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let fileType = attributes?[.type] as? FileAttributeType
        func require(_ expected: FileAttributeType, _ name: String) throws(KubeletError) {
            guard fileType == expected else {
                throw KubeletError(.volume, "\(what): hostPath type check failed: \(path) is not a \(name)")
            }
        }
        switch type {
        case "": return
        case "DirectoryOrCreate":
            if fileType == nil { try makeDirectory(path, mode: 0o755, what: what) } else { try require(.typeDirectory, "directory") }
        case "Directory": try require(.typeDirectory, "directory")
        case "FileOrCreate":
            if fileType == nil {
                guard FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o644]) else {
                    throw KubeletError(.volume, "\(what): create file \(path) for hostPath FileOrCreate")
                }
            } else {
                try require(.typeRegular, "file")
            }
        case "File": try require(.typeRegular, "file")
        case "Socket": try require(.typeSocket, "socket")
        case "CharDevice": try require(.typeCharacterSpecial, "character device")
        case "BlockDevice": try require(.typeBlockSpecial, "block device")
        default: throw KubeletError(.volume, "\(what): unknown hostPath type \(type)")
        }
    }

    func checkRelative(_ path: String, what: String) throws(KubeletError) {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.split(separator: "/").contains(".."), !path.hasPrefix("..") else {
            throw KubeletError(.volume, "\(what): path \(path) must be relative without '..'")
        }
    }

    func downwardFiles(_ items: [DownwardAPIVolumeFile], defaultMode: Int32?, pod: Pod, runtime: ContainerConfigBuilder.Runtime, what: String) throws(KubeletError) -> [String: VolumeFile] {
        let anyContainer = pod.spec.containers[0]
        var files: [String: VolumeFile] = [:]
        for item in items {
            try checkRelative(item.path, what: what)
            var value: String
            if let field = item.fieldRef {
                // Upstream writes labels and annotations as sorted `key="value"` lines.
                switch field.fieldPath {
                case "metadata.labels": value = Self.keyValueLines(pod.metadata.labels)
                case "metadata.annotations": value = Self.keyValueLines(pod.metadata.annotations)
                default: value = try ContainerConfigBuilder.fieldValue(field.fieldPath, pod: pod, runtime: runtime, node: node, container: anyContainer)
                }
            } else if let resource = item.resourceFieldRef {
                value = try ContainerConfigBuilder.resourceValue(resource, pod: pod, container: anyContainer, node: node)
            } else {
                throw KubeletError(.volume, "\(what): item \(item.path) has neither fieldRef nor resourceFieldRef")
            }
            files[item.path] = VolumeFile(bytes: Array(value.utf8), mode: Int(item.mode ?? defaultMode ?? 0o644))
        }
        return files
    }

    /// Upstream's atomic writer: the files go into a new `..<timestamp>` directory, the `..data`
    /// link is switched to it by one rename, each top-level name is a link through `..data`,
    /// and the previous directory and links to names no longer present are removed.
    func writeAtomically(_ files: [String: VolumeFile], into dir: String, what: String) throws(KubeletError) {
        let fm = FileManager.default
        let stamp = ".." + Self.timestampName()
        let version = dir + "/" + stamp
        do {
            try fm.createDirectory(atPath: version, withIntermediateDirectories: false)
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: version)
            for (path, file) in files.sorted(by: { $0.key < $1.key }) {
                let target = version + "/" + path
                try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                guard fm.createFile(atPath: target, contents: Data(file.bytes), attributes: [.posixPermissions: file.mode]) else {
                    throw KubeletError(.volume, "\(what): write \(target)")
                }
                // createFile's mode is narrowed by the umask; the volume's mode is exact.
                try fm.setAttributes([.posixPermissions: file.mode], ofItemAtPath: target)
            }
            let previous = try? fm.destinationOfSymbolicLink(atPath: dir + "/..data")
            let temporary = dir + "/..data_tmp"
            try? fm.removeItem(atPath: temporary)
            try fm.createSymbolicLink(atPath: temporary, withDestinationPath: stamp)
            do { try SystemFile.rename(temporary, to: dir + "/..data") } catch {
                throw KubeletError(.volume, "\(what): switch \(dir)/..data to \(stamp)", cause: error)
            }
            let names = Set(files.keys.map { String($0.split(separator: "/")[0]) })
            for name in names where (try? fm.destinationOfSymbolicLink(atPath: dir + "/" + name)) == nil {
                try fm.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: "..data/" + name)
            }
            for entry in try fm.contentsOfDirectory(atPath: dir) where !entry.hasPrefix("..") && !names.contains(entry) {
                try fm.removeItem(atPath: dir + "/" + entry)
            }
            if let previous, previous != stamp { try? fm.removeItem(atPath: dir + "/" + previous) }
        } catch let error as KubeletError {
            throw error
        } catch {
            throw KubeletError(.volume, "\(what): write files into \(dir)", cause: error)
        }
    }

    /// A name unique per write that sorts by time: seconds and nanoseconds since the epoch
    /// plus a random suffix.
    static func timestampName() -> String {
        let now = Date().timeIntervalSince1970
        return String(format: "%.9f_%08x", now, UInt32.random(in: 0...UInt32.max))
    }

    static func keyValueLines(_ map: [String: String]?) -> String {
        (map ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: "\n")
    }
}

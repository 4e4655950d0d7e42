import CRI
import Foundation
import KubeAPI

/// Sets up a pod's volumes on the host and turns volume mounts into CRI mounts.
///
/// Layout as upstream: `<root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>` and
/// `kubernetes.io~downward-api/<name>`; hostPath volumes are the host path itself, checked or
/// created according to their type. configMap and secret volumes need an API server (issue 6)
/// and are refused with a clear error; Memory-medium emptyDirs need a tmpfs mount, which the
/// LinuxSystem module does not offer yet, and are refused likewise (issue 3).
///
/// `setUp` is idempotent (existing directories and their content are kept, downward API files
/// are rewritten); `tearDown` removes the pod's directory.
public struct VolumeManager: Sendable {
    public let node: NodeInfo

    public init(node: NodeInfo) { self.node = node }

    /// Creates every volume of `pod` and returns their host paths by volume name.
    public func setUp(pod: Pod, runtime: ContainerConfigBuilder.Runtime) throws(KubeletError) -> [String: String] {
        let uid = pod.metadata.uid ?? ""
        var paths: [String: String] = [:]
        for volume in pod.spec.volumes ?? [] {
            let where_ = "volume \(volume.name) of pod \(pod.key)"
            if let emptyDir = volume.emptyDir {
                if emptyDir.medium == "Memory" {
                    throw KubeletError(.volume, "\(where_): emptyDir medium Memory needs tmpfs mounts, not supported yet (issue 3)")
                }
                let path = "\(node.podDirectory(uid: uid))/volumes/kubernetes.io~empty-dir/\(volume.name)"
                try makeDirectory(path, mode: 0o777, what: where_)
                paths[volume.name] = path
            } else if let hostPath = volume.hostPath {
                try checkHostPath(hostPath, what: where_)
                paths[volume.name] = hostPath.path
            } else if let downward = volume.downwardAPI {
                let path = "\(node.podDirectory(uid: uid))/volumes/kubernetes.io~downward-api/\(volume.name)"
                try makeDirectory(path, mode: 0o755, what: where_)
                try writeDownward(downward.items ?? [], into: path, pod: pod, runtime: runtime, what: where_)
                paths[volume.name] = path
            } else if let projected = volume.projected {
                let path = "\(node.podDirectory(uid: uid))/volumes/kubernetes.io~projected/\(volume.name)"
                try makeDirectory(path, mode: 0o755, what: where_)
                for source in projected.sources ?? [] {
                    if let downward = source.downwardAPI {
                        try writeDownward(downward.items ?? [], into: path, pod: pod, runtime: runtime, what: where_)
                    } else if let configMap = source.configMap, configMap.optional != true {
                        throw KubeletError(.volume, "\(where_): configmap \"\(configMap.name ?? "")\" not found (no API server)")
                    } else if let secret = source.secret, secret.optional != true {
                        throw KubeletError(.volume, "\(where_): secret \"\(secret.name ?? "")\" not found (no API server)")
                    } else if source.serviceAccountToken != nil {
                        throw KubeletError(.volume, "\(where_): service account tokens need an API server")
                    }
                }
                paths[volume.name] = path
            } else if let configMap = volume.configMap {
                throw KubeletError(.volume, "\(where_): configmap \"\(configMap.name ?? "")\" not found (no API server)")
            } else if let secret = volume.secret {
                throw KubeletError(.volume, "\(where_): secret \"\(secret.secretName ?? "")\" not found (no API server)")
            } else {
                throw KubeletError(.volume, "\(where_): volume type not supported")
            }
        }
        return paths
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

    /// Removes everything the kubelet made for the pod under its root directory.
    public func tearDown(podUID: String) throws(KubeletError) {
        let dir = node.podDirectory(uid: podUID)
        guard !podUID.isEmpty, FileManager.default.fileExists(atPath: dir) else { return }
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

    func writeDownward(_ items: [DownwardAPIVolumeFile], into dir: String, pod: Pod, runtime: ContainerConfigBuilder.Runtime, what: String) throws(KubeletError) {
        let anyContainer = pod.spec.containers[0]
        for item in items {
            guard !item.path.hasPrefix("/"), !item.path.split(separator: "/").contains("..") else {
                throw KubeletError(.volume, "\(what): path \(item.path) must be relative without '..'")
            }
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
            let file = dir + "/" + item.path
            try makeDirectory((file as NSString).deletingLastPathComponent, mode: 0o755, what: what)
            let mode = Int(item.mode ?? 0o644)
            guard FileManager.default.createFile(atPath: file, contents: Data(value.utf8), attributes: [.posixPermissions: mode]) else {
                throw KubeletError(.volume, "\(what): write \(file)")
            }
        }
    }

    static func keyValueLines(_ map: [String: String]?) -> String {
        (map ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: "\n")
    }
}

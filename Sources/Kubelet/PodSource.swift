import Crypto
import Foundation
import KubeAPI

/// Where desired pods come from: static manifest files, or (later, issue 6/7) the API server's
/// pods bound to this node.
///
/// Contract: `snapshot()` returns the complete set of pods this source wants on the node right
/// now; a pod absent from it is to be stopped and removed. Pods carry a UID unique across
/// sources. It is called by one task at a time (the kubelet's source loop); implementations do
/// their own I/O and never hang (a source that cannot answer throws). Errors about single items
/// (one bad file) do not fail the snapshot: they are returned beside the pods that did load.
public protocol PodSource: Sendable {
    /// The upstream config source name: `file`, `http` or `api`.
    var name: String { get }
    func snapshot() async throws(KubeletError) -> PodSourceSnapshot
}

/// What a source wants, plus the items it had to skip and why.
public struct PodSourceSnapshot: Sendable {
    public var pods: [Pod]
    public var errors: [KubeletError]
    public init(pods: [Pod], errors: [KubeletError] = []) {
        self.pods = pods
        self.errors = errors
    }
}

/// Static pods from the files of one directory (`--pod-manifest-path`), as upstream's file
/// source: every regular file not starting with `.` holds one pod as YAML or JSON; the
/// directory is re-read on every snapshot.
///
/// Each pod gets upstream's static-pod defaults: namespace `default` when unset, its name
/// suffixed with `-<node name>`, `spec.nodeName` set, and a UID that is the MD5 of the pod's
/// content plus the node name and file path, so an unchanged file keeps its pod and an edited
/// one replaces it (the old pod stops, the new one starts). The content hashed is the decoded
/// pod re-encoded with sorted keys: comments and formatting do not change the UID.
public struct StaticPodSource: PodSource {
    public let directory: String
    public let nodeName: String
    public var name: String { "file" }

    public init(directory: String, nodeName: String) {
        self.directory = directory
        self.nodeName = nodeName
    }

    public func snapshot() async throws(KubeletError) -> PodSourceSnapshot {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw KubeletError(.manifest, "read pod manifest directory \(directory)", cause: error)
        }
        var snapshot = PodSourceSnapshot(pods: [])
        for name in names where !name.hasPrefix(".") {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            do {
                snapshot.pods.append(try Self.load(path: path, nodeName: nodeName))
            } catch {
                snapshot.errors.append(error)
            }
        }
        return snapshot
    }

    /// Reads one manifest file and applies the static-pod defaults.
    public static func load(path: String, nodeName: String) throws(KubeletError) -> Pod {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw KubeletError(.manifest, "read static pod manifest \(path)", cause: error)
        }
        return try decode(text, path: path, nodeName: nodeName)
    }

    /// Decodes one manifest's text (the file at `path`) and applies the static-pod defaults.
    public static func decode(_ text: String, path: String, nodeName: String) throws(KubeletError) -> Pod {
        var pod: Pod
        do {
            let documents = try Manifest.documents(text, source: path)
            guard documents.count == 1 else {
                throw KubeletError(.manifest, "static pod manifest \(path) holds \(documents.count) documents, want exactly one pod")
            }
            pod = try Manifest.decode(Pod.self, from: documents[0], source: path)
        } catch let error as KubeletError {
            throw error
        } catch {
            throw KubeletError(.manifest, "decode static pod manifest \(path)", cause: error)
        }
        guard let name = pod.metadata.name, !name.isEmpty else {
            throw KubeletError(.manifest, "static pod manifest \(path) has no metadata.name")
        }
        guard !pod.spec.containers.isEmpty else {
            throw KubeletError(.manifest, "static pod \(name) in \(path) has no containers")
        }
        var names = Set<String>()
        for container in (pod.spec.initContainers ?? []) + pod.spec.containers {
            guard names.insert(container.name).inserted else {
                throw KubeletError(.manifest, "static pod \(name) in \(path) has two containers named \(container.name)")
            }
        }
        if pod.metadata.namespace?.isEmpty ?? true { pod.metadata.namespace = "default" }
        pod.metadata.name = name + "-" + nodeName
        pod.spec.nodeName = nodeName
        pod.status = nil
        let uid = hash(pod, nodeName: nodeName, path: path)
        pod.metadata.uid = uid
        var annotations = pod.metadata.annotations ?? [:]
        annotations[KubeletLabels.configSource] = "file"
        annotations[KubeletLabels.configHash] = uid
        annotations[KubeletLabels.configFile] = path
        pod.metadata.annotations = annotations
        return pod
    }

    /// Upstream's static pod UID: the hex MD5 of the pod, then `host:<node>`, then `file:<path>`.
    static func hash(_ pod: Pod, nodeName: String, path: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var hasher = Insecure.MD5()
        hasher.update(data: (try? encoder.encode(pod)) ?? Data())
        hasher.update(data: Data("host:\(nodeName)".utf8))
        hasher.update(data: Data("file:\(path)".utf8))
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

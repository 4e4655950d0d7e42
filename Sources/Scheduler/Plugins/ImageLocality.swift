/// Scores nodes that already hold the pod's images higher, weighted by image size and by how
/// many nodes share the image (upstream's ImageLocality, thresholds 23 MiB and 1000 MiB per
/// container).
public struct ImageLocality: ScorePlugin {
    public let name = "ImageLocality"
    public let weight: Int64 = 1
    static let mb: Int64 = 1024 * 1024
    static let minThreshold = 23 * mb
    static let maxContainerThreshold = 1000 * mb
    public init() {}

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        let containers = state.pod.spec.containers + (state.pod.spec.initContainers ?? [])
        guard !containers.isEmpty else { return 0 }
        let total = max(state.allNodes.count, 1)
        var sum: Double = 0
        for c in containers {
            guard let image = c.image.map(Self.normalize) else { continue }
            guard let size = Self.size(of: image, on: node) else { continue }
            let spread = Double(state.allNodes.filter { Self.size(of: image, on: $0) != nil }.count) / Double(total)
            sum += Double(size) * spread
        }
        let maxThreshold = Double(Self.maxContainerThreshold * Int64(containers.count))
        let clamped = min(max(sum, Double(Self.minThreshold)), maxThreshold)
        return Int64(100 * (clamped - Double(Self.minThreshold)) / (maxThreshold - Double(Self.minThreshold)))
    }

    static func size(of image: String, on node: NodeInfo) -> Int64? {
        for i in node.node.status?.images ?? [] where (i.names ?? []).contains(where: { normalize($0) == image }) {
            return i.sizeBytes ?? 0
        }
        return nil
    }

    /// Docker-style normalization: `nginx` → `docker.io/library/nginx:latest`.
    public static func normalize(_ name: String) -> String {
        var repo = name, suffix = ""
        if let at = name.firstIndex(of: "@") {
            repo = String(name[..<at]); suffix = String(name[at...])
        } else if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            repo = String(name[..<colon]); suffix = String(name[colon...])
        } else {
            suffix = ":latest"
        }
        let first = repo.split(separator: "/").first.map(String.init) ?? repo
        let hasRegistry = repo.contains("/") && (first.contains(".") || first.contains(":") || first == "localhost")
        if !hasRegistry { repo = (repo.contains("/") ? "docker.io/" : "docker.io/library/") + repo }
        return repo + suffix
    }
}

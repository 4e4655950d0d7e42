/// Scores nodes that already hold the pod's images higher, weighted by image size and by how
/// many nodes share the image (upstream's ImageLocality, thresholds 23 MiB and 1000 MiB per
/// container).
public struct ImageLocality: PreFilterPlugin, ScorePlugin {
    public let name = "ImageLocality"
    public let weight: Int64 = 1
    static let mb: Int64 = 1024 * 1024
    static let minThreshold = 23 * mb
    static let maxContainerThreshold = 1000 * mb
    public init() {}

    /// The pod's images, normalized, with how many nodes hold each: computed once per cycle.
    /// A class so that reading it from the cycle state on every node costs a reference count.
    final class Spread: Sendable {
        let images: [String]
        let nodesWithImage: [String: Int]
        init(images: [String], nodesWithImage: [String: Int]) {
            self.images = images
            self.nodesWithImage = nodesWithImage
        }
    }

    public func preFilter(_ state: CycleState) -> Result<(any Sendable)?, PreFilterFailure> {
        let containers = state.pod.spec.containers + (state.pod.spec.initContainers ?? [])
        let images = containers.map { Self.normalize($0.image ?? "") }
        let distinct = Set(images)
        var counts: [String: Int] = [:]
        if let kept = state.imageNodeCounts {
            for image in distinct { counts[image] = kept[image] }
            return .success(Spread(images: images, nodesWithImage: counts))
        }
        for node in state.allNodes {
            let sizes = node.imageSizes
            guard !sizes.isEmpty else { continue }
            for image in distinct where sizes[image] != nil { counts[image, default: 0] += 1 }
        }
        return .success(Spread(images: images, nodesWithImage: counts))
    }

    /// No node holds any of the pod's images: every node scores 0.
    public func skipsScore(_ state: CycleState) -> Bool {
        guard let spread = state.data[name] as? Spread else { return true }
        return spread.images.isEmpty || spread.nodesWithImage.values.allSatisfy { $0 == 0 }
    }

    public func score(_ state: CycleState, node: NodeInfo) -> Int64 {
        guard let spread = state.data[name] as? Spread else { return 0 }
        return score(spread, total: state.allNodes.count, node: node)
    }

    public func score(_ state: CycleState, nodes: [NodeInfo], indices: [Int], into scores: inout [Int64]) {
        guard let spread = state.data[name] as? Spread else {
            scores.append(contentsOf: repeatElement(0, count: indices.count))
            return
        }
        for i in indices { scores.append(score(spread, total: state.allNodes.count, node: nodes[i])) }
    }

    private func score(_ spread: Spread, total nodeCount: Int, node: NodeInfo) -> Int64 {
        guard !spread.images.isEmpty, node.hasImages else { return 0 }
        let total = Double(max(nodeCount, 1))
        var sum: Double = 0
        for image in spread.images {
            guard let size = node.imageSizes[image] else { continue }
            sum += Double(size) * Double(spread.nodesWithImage[image] ?? 0) / total
        }
        let maxThreshold = Double(Self.maxContainerThreshold * Int64(spread.images.count))
        let clamped = min(max(sum, Double(Self.minThreshold)), maxThreshold)
        return Int64(100 * (clamped - Double(Self.minThreshold)) / (maxThreshold - Double(Self.minThreshold)))
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

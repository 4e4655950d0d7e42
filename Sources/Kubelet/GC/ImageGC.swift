import CRI
import Foundation
import LinuxSystem
import Logging

/// Image garbage collection as upstream's image GC manager: when the image filesystem is at
/// least `highThresholdPercent` full, unused images are removed, least recently used first,
/// until usage is down to `lowThresholdPercent`. Images in use by any container (running or
/// exited), pinned images (the sandbox image) and images first seen less than `minimumAge` ago
/// are never removed.
///
/// ``garbageCollect(now:)`` is the periodic step (upstream runs it every 5 minutes);
/// ``deleteUnusedImages(now:)`` is the eviction manager's node-level reclaim. An actor: it
/// remembers when each image was first seen and last used between steps.
public actor ImageGC {
    public struct Policy: Sendable, Hashable {
        public var highThresholdPercent: Int
        public var lowThresholdPercent: Int
        public var minimumAge: Duration
        /// Upstream's defaults: 85 %, 80 %, 2 minutes.
        public init(highThresholdPercent: Int = 85, lowThresholdPercent: Int = 80, minimumAge: Duration = .seconds(120)) {
            self.highThresholdPercent = highThresholdPercent
            self.lowThresholdPercent = lowThresholdPercent
            self.minimumAge = minimumAge
        }

        /// Refuses upstream's invalid combinations.
        public func validate() throws(KubeletError) {
            guard (0...100).contains(highThresholdPercent) else {
                throw KubeletError(.configuration, "invalid HighThresholdPercent \(highThresholdPercent), must be in range [0-100]")
            }
            guard (0...100).contains(lowThresholdPercent) else {
                throw KubeletError(.configuration, "invalid LowThresholdPercent \(lowThresholdPercent), must be in range [0-100]")
            }
            guard lowThresholdPercent <= highThresholdPercent else {
                throw KubeletError(.configuration, "LowThresholdPercent \(lowThresholdPercent) can not be higher than HighThresholdPercent \(highThresholdPercent)")
            }
        }
    }

    /// What one collection did.
    public struct Result: Sendable, Hashable {
        /// Image ids removed, in removal order.
        public var removed: [String]
        public var freedBytes: Int64
        /// Bytes the step wanted to free (0 when usage was below the high threshold).
        public var wantedBytes: Int64
    }

    struct Record {
        var firstDetected: Date
        var lastUsed: Date
        var size: Int64
    }

    public nonisolated let policy: Policy
    let runtime: any ContainerRuntime
    let imageFs: (@Sendable () async throws(KubeletError) -> FilesystemStats)?
    let logger: Logger
    var records: [String: Record] = [:]

    /// `imageFs` measures the image filesystem; by default the one the runtime reports in
    /// ImageFsInfo (statvfs of its mount point).
    public init(policy: Policy = Policy(), runtime: any ContainerRuntime,
                imageFs: (@Sendable () async throws(KubeletError) -> FilesystemStats)? = nil,
                logger: Logger = Logger(label: "nodekit.imagegc")) throws(KubeletError) {
        try policy.validate()
        self.policy = policy
        self.runtime = runtime
        self.imageFs = imageFs
        self.logger = logger
    }

    /// The runtime's image filesystem, measured with statvfs of the mount point it reports.
    public static func runtimeImageFs(_ runtime: any ContainerRuntime) async throws(KubeletError) -> FilesystemStats {
        let info: Runtime_V1_ImageFsInfoResponse
        do { info = try await runtime.imageFsInfo(Runtime_V1_ImageFsInfoRequest(), timeout: .seconds(10)) } catch {
            throw KubeletError(.runtime, "ImageFsInfo", cause: error)
        }
        guard let mountpoint = info.imageFilesystems.first?.fsID.mountpoint, !mountpoint.isEmpty else {
            throw KubeletError(.runtime, "ImageFsInfo returned no image filesystem")
        }
        do { return try FilesystemStats.of(mountpoint) } catch {
            throw KubeletError(.runtime, "measuring image filesystem \(mountpoint)", cause: error)
        }
    }

    /// One periodic step: frees space down to the low threshold when usage reached the high one.
    /// Throws when not enough unused images could be removed, naming both amounts.
    @discardableResult
    public func garbageCollect(now: Date) async throws(KubeletError) -> Result {
        let (images, inUse) = try await detect(now: now)
        let fs = if let imageFs { try await imageFs() } else { try await Self.runtimeImageFs(runtime) }
        guard fs.capacityBytes > 0 else {
            throw KubeletError(.runtime, "invalid capacity 0 on image filesystem")
        }
        let usagePercent = 100 - Int(fs.availableBytes * 100 / fs.capacityBytes)
        guard usagePercent >= policy.highThresholdPercent else { return Result(removed: [], freedBytes: 0, wantedBytes: 0) }
        let wanted = fs.capacityBytes * Int64(100 - policy.lowThresholdPercent) / 100 - fs.availableBytes
        logger.info("image filesystem usage over the high threshold", metadata: ["usage": "\(usagePercent)%", "bytesToFree": "\(wanted)"])
        var result = await freeSpace(wanted, now: now, images: images, inUse: inUse)
        result.wantedBytes = wanted
        if result.freedBytes < wanted {
            throw KubeletError(.image, "failed to garbage collect required amount of images: attempted to free \(wanted) bytes, but only found \(result.freedBytes) bytes eligible to free")
        }
        return result
    }

    /// Removes every unused image older than the minimum age (eviction's node-level reclaim).
    @discardableResult
    public func deleteUnusedImages(now: Date) async throws(KubeletError) -> Result {
        let (images, inUse) = try await detect(now: now)
        return await freeSpace(.max, now: now, images: images, inUse: inUse)
    }

    /// Refreshes the records: new images get `now` as first detection, images in use get `now`
    /// as last use, removed images are forgotten.
    func detect(now: Date) async throws(KubeletError) -> ([Runtime_V1_Image], Set<String>) {
        let images: [Runtime_V1_Image]
        let containers: [Runtime_V1_Container]
        do {
            images = try await runtime.listImages(Runtime_V1_ListImagesRequest(), timeout: .seconds(30)).images
            containers = try await runtime.listContainers(Runtime_V1_ListContainersRequest(), timeout: .seconds(30)).containers
        } catch {
            throw KubeletError(.runtime, "listing images and containers for image GC", cause: error)
        }
        var inUse: Set<String> = []
        for container in containers {
            inUse.insert(container.imageRef)
            inUse.insert(container.image.image)
        }
        var seen: Set<String> = []
        for image in images {
            seen.insert(image.id)
            var record = records[image.id] ?? Record(firstDetected: now, lastUsed: .distantPast, size: 0)
            if Self.isUsed(image, by: inUse) { record.lastUsed = now }
            record.size = Int64(clamping: image.size)
            records[image.id] = record
        }
        records = records.filter { seen.contains($0.key) }
        return (images, inUse)
    }

    static func isUsed(_ image: Runtime_V1_Image, by inUse: Set<String>) -> Bool {
        inUse.contains(image.id) || image.repoTags.contains(where: inUse.contains) || image.repoDigests.contains(where: inUse.contains)
    }

    /// Removes unused, unpinned images old enough, least recently used first (then oldest
    /// detected), until `bytesToFree` are freed. A failed removal is logged and skipped.
    func freeSpace(_ bytesToFree: Int64, now: Date, images: [Runtime_V1_Image], inUse: Set<String>) async -> Result {
        let candidates = images.filter { image in
            guard !image.pinned, !Self.isUsed(image, by: inUse), let record = records[image.id] else { return false }
            return now.timeIntervalSince(record.firstDetected) >= policy.minimumAge.seconds
        }.sorted { a, b in
            let ra = records[a.id]!, rb = records[b.id]!
            if ra.lastUsed != rb.lastUsed { return ra.lastUsed < rb.lastUsed }
            if ra.firstDetected != rb.firstDetected { return ra.firstDetected < rb.firstDetected }
            return a.id < b.id
        }
        var result = Result(removed: [], freedBytes: 0, wantedBytes: bytesToFree)
        for image in candidates where result.freedBytes < bytesToFree {
            var request = Runtime_V1_RemoveImageRequest()
            request.image.image = image.id
            do { _ = try await runtime.removeImage(request, timeout: .seconds(30)) } catch {
                logger.warning("removing image failed", metadata: ["image": "\(image.id)", "error": "\(error)"])
                continue
            }
            records[image.id] = nil
            result.removed.append(image.id)
            result.freedBytes += Int64(clamping: image.size)
        }
        return result
    }
}

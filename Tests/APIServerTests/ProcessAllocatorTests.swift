import Foundation
import ProcessAllocator
import Testing

/// This test bundle links ProcessAllocator as `nodekit` and `hollow-bench` do, so what holds here
/// holds for them: linking the target is enough for mimalloc to serve `malloc` process-wide.
@Suite struct ProcessAllocatorTests {
    @Test func mallocIsMimallocWhenTheTargetIsLinked() {
        #expect(ProcessAllocator.isMimalloc, "malloc is not mimalloc's: \(ProcessAllocator.description)")
        #expect(ProcessAllocator.description.hasPrefix("mimalloc 2."))
    }

    @Test func swiftAllocationsComeFromTheSameHeap() {
        // The Swift runtime allocates through malloc; an array's storage must be mimalloc's too,
        // or Swift objects and C buffers would be split across two allocators.
        let array = [UInt8](repeating: 7, count: 4096)
        let inHeap = array.withUnsafeBytes { ProcessAllocatorTests.fromMimalloc($0.baseAddress!) }
        #expect(inHeap)
    }

    /// `preferLargePages()` must make the segments mimalloc maps afterwards huge-page advised:
    /// the kernel shows `hg` (VM_HUGEPAGE) in the VmFlags of the mapping that holds a fresh
    /// 72 MiB block (mimalloc maps a segment of its own for it). Needs a kernel with THP and no
    /// MIMALLOC_LARGE_OS_PAGES in the environment, which would decide instead.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled")
                   && ProcessInfo.processInfo.environment["MIMALLOC_LARGE_OS_PAGES"] == nil,
                   "needs transparent huge pages and no MIMALLOC_LARGE_OS_PAGES"))
    func largePagesAdviseNewSegments() throws {
        #expect(ProcessAllocator.preferLargePages())
        #expect(ProcessAllocator.description.hasSuffix(", large OS pages"))
        let size = 72 << 20
        let block = try #require(malloc(size))
        defer { free(block) }
        memset(block, 1, size)
        let found = try Self.vmFlags(containing: UInt(bitPattern: block))
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        let flags = try #require(found, "no mapping in /proc/self/smaps holds \(block); /proc/self/maps has \(maps.split(separator: "\n").count) lines")
        #expect(flags.contains("hg"), "VmFlags of the block's mapping: \(flags)")
    }

    /// The VmFlags of the mapping in /proc/self/smaps that contains `address`. Read to its end
    /// with FileHandle: `String(contentsOfFile:)` stopped early on the test bundle's smaps (a few
    /// MB, reported size 0), and the block's mapping was not in what it returned.
    static func vmFlags(containing address: UInt) throws -> [String]? {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        var inside = false
        for line in smaps.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
               let start = UInt(line[..<dash], radix: 16), let end = UInt(line[line.index(after: dash)..<space], radix: 16) {
                inside = (start..<end).contains(address)
            } else if inside, line.hasPrefix("VmFlags:") {
                return line.dropFirst("VmFlags:".count).split(separator: " ").map(String.init)
            }
        }
        return nil
    }

    static func fromMimalloc(_ pointer: UnsafeRawPointer) -> Bool {
        ProcessAllocator.contains(pointer)
    }
}

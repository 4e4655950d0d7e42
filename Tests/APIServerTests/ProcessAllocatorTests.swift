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

    static func fromMimalloc(_ pointer: UnsafeRawPointer) -> Bool {
        ProcessAllocator.contains(pointer)
    }
}

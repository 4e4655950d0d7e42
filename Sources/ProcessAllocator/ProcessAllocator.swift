import CMimalloc
#if canImport(Glibc)
import Glibc
#endif

/// The allocator behind `malloc` in this process.
///
/// The executables that serve (`nodekit` and `hollow-bench`) link mimalloc, which replaces
/// `malloc`, `free`, `realloc`, `malloc_usable_size` and the aligned forms for the whole process
/// (the Swift runtime, Foundation, BoringSSL and NIO included) because its library comes before
/// libc in the executable's list of needed libraries. The API server allocates and frees many
/// small objects per request; with glibc's malloc, allocation and freeing were about 10% of a
/// hollow-bench run's CPU (docs/scheduler-bench.md, "Twelfth session", has the comparison).
///
/// Linking this target is what makes the difference; ``description`` also keeps the library
/// needed when the linker drops libraries nothing refers to.
public enum ProcessAllocator {
    /// Whether `malloc` returns memory from mimalloc's heap.
    public static var isMimalloc: Bool {
        guard let probe = malloc(48) else { return false }
        defer { free(probe) }
        return mi_is_in_heap_region(probe)
    }

    /// Whether `pointer` lies in memory mimalloc manages.
    public static func contains(_ pointer: UnsafeRawPointer) -> Bool {
        mi_is_in_heap_region(pointer)
    }

    /// "mimalloc 2.0.9" when `malloc` is mimalloc's; "glibc malloc (mimalloc 2.0.9 linked but
    /// not in use)" when the library is loaded but does not replace `malloc`.
    public static var description: String {
        let version = mi_version()
        let name = "mimalloc \(version / 100).\(version / 10 % 10).\(version % 10)"
        return isMimalloc ? name : "glibc malloc (\(name) linked but not in use)"
    }
}

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

    /// "mimalloc 2.0.9" when `malloc` is mimalloc's ("mimalloc 2.0.9, large OS pages" once
    /// ``preferLargePages()`` turned them on); "glibc malloc (mimalloc 2.0.9 linked but not in
    /// use)" when the library is loaded but does not replace `malloc`.
    public static var description: String {
        let version = mi_version()
        let name = "mimalloc \(version / 100).\(version / 10 % 10).\(version % 10)"
        guard isMimalloc else { return "glibc malloc (\(name) linked but not in use)" }
        return largePages ? name + ", large OS pages" : name
    }

    /// Whether mimalloc backs the segments it maps from now on with 2 MiB pages.
    public static var largePages: Bool { mi_option_is_enabled(mi_option_large_os_pages) }

    /// Has mimalloc back the segments it maps from now on with 2 MiB pages, unless the
    /// environment decides (`MIMALLOC_LARGE_OS_PAGES`, read by mimalloc itself). Returns
    /// ``largePages``.
    ///
    /// mimalloc first asks for explicit huge pages (`MAP_HUGETLB`, which needs pages reserved
    /// in hugetlbfs) and otherwise maps normally and advises `MADV_HUGEPAGE`, so that
    /// transparent huge pages apply where the kernel's THP mode is `always` or `madvise` (the
    /// Debian default); with `never` nothing changes. Such segments are also never reset or
    /// decommitted, so freed memory is not faulted in again.
    ///
    /// The API server's heap is a few GB of small objects at 5,000 nodes; in a VM every TLB miss
    /// is a two-level page walk. hollow-bench (docs/scheduler-bench.md, "Fifteenth session")
    /// used about 9% less CPU per pod with large pages. The node agent does not call this: its
    /// heap is small, and 2 MiB pages would only raise its resident size.
    @discardableResult
    public static func preferLargePages() -> Bool {
        if getenv("MIMALLOC_LARGE_OS_PAGES") == nil {
            mi_option_set_enabled(mi_option_large_os_pages, true)
        }
        return largePages
    }
}

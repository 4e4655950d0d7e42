import Netlink
import Synchronization

/// A stateful ``ConntrackInterface``: a table of entries that tests seed (as traffic would)
/// and that deletes remove, matching the kernel's rules (by original tuple, zone and id;
/// deleting a missing entry is not an error).
public final class FakeConntrack: ConntrackInterface {
    private let table: Mutex<[ConntrackEntry]>
    private let dumps = Mutex(0)

    public init(_ entries: [ConntrackEntry] = []) {
        table = Mutex(entries)
    }

    /// Adds an entry, as a first packet would.
    public func add(_ entry: ConntrackEntry) { table.withLock { $0.append(entry) } }

    /// The table now.
    public var entries: [ConntrackEntry] { table.withLock { $0 } }

    /// How many dumps were asked for.
    public var dumpCount: Int { dumps.withLock { $0 } }

    public func entries(family: UInt8) throws(NetlinkError) -> [ConntrackEntry] {
        dumps.withLock { $0 += 1 }
        return table.withLock { $0.filter { $0.family == family } }
    }

    public func delete(_ entry: ConntrackEntry) throws(NetlinkError) {
        table.withLock { t in
            t.removeAll { $0.family == entry.family && $0.original == entry.original && $0.zone == entry.zone && (entry.id == nil || $0.id == entry.id) }
        }
    }
}

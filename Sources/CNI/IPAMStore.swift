import LinuxSystem
import Netlink

/// One container interface attached to a network: the key of every IPAM reservation.
public struct Attachment: Hashable, Sendable {
    public var containerID: String
    public var ifname: String

    public init(containerID: String, ifname: String) {
        self.containerID = containerID
        self.ifname = ifname
    }
}

/// Durable, file-locked IP allocation in host-local's on-disk layout, so state ports over:
/// `DATADIR/NETWORK/<ip>` holds `containerID\r\nifname`; `last_reserved_ip.<set>` remembers
/// where the last search ended; `lock` is flock'ed around every operation.
///
/// Reservation files are created with O_EXCL and fsync'ed, so concurrent ADDs (in any
/// process) never share an address and a crash leaves at worst a reservation that ``gc(keeping:)``
/// reclaims. Thread-safe across threads and processes.
public struct IPAMStore: Sendable {
    public let directory: String
    public let rangeSets: [[IPRange]]

    public init(dataDir: String, network: String, rangeSets: [[IPRange]]) {
        directory = dataDir + "/" + network
        self.rangeSets = rangeSets
    }

    /// Reserves one address from each range set for `attachment` and returns them (with the
    /// range's gateway), in range-set order. An attachment that already holds addresses gets
    /// the same ones back. Throws code 100 when a range set has no free address, 5 on I/O errors.
    public func allocate(_ attachment: Attachment) throws(CNIError) -> [(address: IPPrefix, gateway: IPAddress)] {
        try locked { () throws(CNIError) -> [(address: IPPrefix, gateway: IPAddress)] in
            let current = try reservations()
            var result: [(address: IPPrefix, gateway: IPAddress)] = []
            var made: [String] = []
            for (setIndex, set) in rangeSets.enumerated() {
                if let existing = current.first(where: { entry in entry.value == attachment && set.contains { $0.subnet.contains(entry.key) } }) {
                    let range = set.first { $0.subnet.contains(existing.key) }!
                    result.append((IPPrefix(address: existing.key, length: range.subnet.length), range.gateway))
                    continue
                }
                do throws(CNIError) {
                    guard let picked = try reserveNext(in: set, setIndex: setIndex, attachment: attachment) else {
                        let ranges = set.map { "\($0.rangeStart)-\($0.rangeEnd)" }.joined(separator: ", ")
                        throw CNIError(CNIError.rangeExhausted, "no free IP address in range \(ranges) for container \(attachment.containerID)")
                    }
                    made.append(picked.address.address.description)
                    result.append(picked)
                } catch {
                    for name in made { _ = try? FileOps.remove(directory + "/" + name) }
                    throw error
                }
            }
            return result
        }
    }

    /// Releases every address `attachment` holds. Idempotent: nothing held is not an error.
    /// Returns the released addresses.
    @discardableResult
    public func release(_ attachment: Attachment) throws(CNIError) -> [IPAddress] {
        try locked { () throws(CNIError) -> [IPAddress] in
            var released: [IPAddress] = []
            for (address, holder) in try reservations() where holder == attachment {
                try io("release \(address)") { () throws(SystemError) in try FileOps.remove(directory + "/" + address.description) }
                released.append(address)
            }
            return released.sorted()
        }
    }

    /// Releases every reservation whose attachment is not in `valid` (CNI GC). Returns what it
    /// released.
    @discardableResult
    public func gc(keeping valid: Set<Attachment>) throws(CNIError) -> [IPAddress] {
        try locked { () throws(CNIError) -> [IPAddress] in
            var released: [IPAddress] = []
            for (address, holder) in try reservations() where !valid.contains(holder) {
                try io("gc \(address)") { () throws(SystemError) in try FileOps.remove(directory + "/" + address.description) }
                released.append(address)
            }
            return released.sorted()
        }
    }

    /// Every reservation on disk, by address.
    public func reservations() throws(CNIError) -> [IPAddress: Attachment] {
        let names = try io("list \(directory)") { () throws(SystemError) in try FileOps.list(directory) }
        var out: [IPAddress: Attachment] = [:]
        for name in names {
            guard let address = IPAddress(name) else { continue }
            guard let bytes = try io("read \(name)", { () throws(SystemError) in try FileOps.readIfExists(directory + "/" + name) }) else { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            let lines = text.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }).map(String.init)
            out[address] = Attachment(containerID: lines.first ?? "", ifname: lines.count > 1 ? lines[1] : "")
        }
        return out
    }

    /// How many addresses are still free in the emptiest-first range set (for STATUS).
    public func freeCount() throws(CNIError) -> Int {
        let taken = try reservations()
        return rangeSets.map { set in
            set.reduce(0) { sum, range in
                sum + range.capacity - taken.keys.filter { range.subnet.contains($0) && $0 >= range.rangeStart && $0 <= range.rangeEnd && !range.isReserved($0) }.count
            }
        }.min() ?? 0
    }

    private func reserveNext(in set: [IPRange], setIndex: Int, attachment: Attachment) throws(CNIError) -> (address: IPPrefix, gateway: IPAddress)? {
        let lastPath = directory + "/last_reserved_ip.\(setIndex)"
        let last = try io("read \(lastPath)") { () throws(SystemError) in try FileOps.readIfExists(lastPath) }
            .flatMap { IPAddress(String(decoding: $0, as: UTF8.self).trimmingNewlines) }
        // Search every range of the set once, starting just after the last reservation
        // (host-local's round robin, so a released address is not reused at once).
        var candidates: [(IPAddress, IPRange)] = []
        for range in set {
            var a: IPAddress? = range.rangeStart
            while let current = a, current <= range.rangeEnd {
                if !range.isReserved(current) { candidates.append((current, range)) }
                a = current.advanced(by: 1)
            }
        }
        guard !candidates.isEmpty else { return nil }
        let startIndex = last.flatMap { l in candidates.firstIndex { $0.0 > l } } ?? 0
        let content = Array((attachment.containerID + "\r\n" + attachment.ifname).utf8)
        for offset in 0..<candidates.count {
            let (address, range) = candidates[(startIndex + offset) % candidates.count]
            let created = try io("reserve \(address)") { () throws(SystemError) in
                try FileOps.createExclusive(directory + "/" + address.description, content)
            }
            if created {
                try io("write \(lastPath)") { () throws(SystemError) in try FileOps.writeAtomically(lastPath, Array(address.description.utf8)) }
                return (IPPrefix(address: address, length: range.subnet.length), range.gateway)
            }
        }
        return nil
    }

    private func locked<T>(_ body: () throws(CNIError) -> T) throws(CNIError) -> T {
        try io("create \(directory)") { () throws(SystemError) in try FileOps.makeDirectories(directory) }
        let lock = try io("lock \(directory)") { () throws(SystemError) in try LockedFile(path: directory + "/lock") }
        defer { lock.unlock() }
        return try body()
    }

    private func io<T>(_ what: String, _ body: () throws(SystemError) -> T) throws(CNIError) -> T {
        do { return try body() } catch {
            throw CNIError(CNIError.ioFailure, "IPAM: \(what) failed", details: error.description)
        }
    }
}

extension String {
    var trimmingNewlines: String {
        var s = Substring(self)
        while let c = s.last, c.isNewline || c == " " { s.removeLast() }
        return String(s)
    }
}

import CNI
import Foundation
import Netlink
import Synchronization
import Testing

/// A fresh data dir per test, removed afterwards.
struct TempDir: ~Copyable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "nk-ipam-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("IPAM store")
struct IPAMStoreTests {
    static func store(_ dir: String, _ subnet: String, start: String? = nil, end: String? = nil) throws -> IPAMStore {
        let range = try IPRange(subnet: IPPrefix(subnet)!, rangeStart: start.flatMap { IPAddress($0) }, rangeEnd: end.flatMap { IPAddress($0) })
        return IPAMStore(dataDir: dir, network: "net", rangeSets: [[range]])
    }

    @Test("allocates after the gateway, skips reservations, stores host-local's file format")
    func allocate() throws {
        let dir = TempDir()
        let store = try Self.store(dir.path, "10.1.0.0/24")
        let a = try store.allocate(Attachment(containerID: "c1", ifname: "eth0"))
        #expect(a[0].address.description == "10.1.0.2/24")
        #expect(a[0].gateway == IPAddress("10.1.0.1"))
        let b = try store.allocate(Attachment(containerID: "c2", ifname: "eth0"))
        #expect(b[0].address.address == IPAddress("10.1.0.3"))
        let content = try String(contentsOfFile: dir.path + "/net/10.1.0.2", encoding: .utf8)
        #expect(content == "c1\r\neth0")
        #expect(try String(contentsOfFile: dir.path + "/net/last_reserved_ip.0", encoding: .utf8) == "10.1.0.3")
    }

    @Test("the same attachment gets its address back")
    func idempotentAllocate() throws {
        let dir = TempDir()
        let store = try Self.store(dir.path, "10.1.0.0/24")
        let first = try store.allocate(Attachment(containerID: "c1", ifname: "eth0"))
        let again = try store.allocate(Attachment(containerID: "c1", ifname: "eth0"))
        #expect(first[0].address == again[0].address)
        #expect(try store.reservations().count == 1)
    }

    @Test("network, gateway and broadcast are never handed out; exhaustion is code 100")
    func reservedAndExhausted() throws {
        let dir = TempDir()
        // 10.2.0.0/29: .0 network, .1 gateway, .7 broadcast; .2-.6 usable.
        let store = try Self.store(dir.path, "10.2.0.0/29")
        var got: [IPAddress] = []
        for i in 0..<5 { got.append(try store.allocate(Attachment(containerID: "c\(i)", ifname: "eth0"))[0].address.address) }
        #expect(got == (2...6).map { IPAddress("10.2.0.\($0)")! })
        let error = try #require(throws: CNIError.self) { try store.allocate(Attachment(containerID: "c5", ifname: "eth0")) }
        #expect(error.code == CNIError.rangeExhausted)
        #expect(error.msg.contains("10.2.0.1-10.2.0.6"))
        #expect(try store.freeCount() == 0)
    }

    @Test("release is idempotent; the next allocation continues round robin")
    func release() throws {
        let dir = TempDir()
        let store = try Self.store(dir.path, "10.3.0.0/24", start: "10.3.0.10", end: "10.3.0.12")
        let c1 = Attachment(containerID: "c1", ifname: "eth0")
        let a = try store.allocate(c1)[0].address.address
        #expect(a == IPAddress("10.3.0.10"))
        #expect(try store.release(c1) == [a])
        #expect(try store.release(c1) == [])
        #expect(try store.allocate(Attachment(containerID: "c2", ifname: "eth0"))[0].address.address == IPAddress("10.3.0.11"))
        #expect(try store.allocate(Attachment(containerID: "c3", ifname: "eth0"))[0].address.address == IPAddress("10.3.0.12"))
        // Wraps around to the released address.
        #expect(try store.allocate(Attachment(containerID: "c4", ifname: "eth0"))[0].address.address == IPAddress("10.3.0.10"))
    }

    @Test("concurrent allocations never share an address", arguments: [2, 8])
    func concurrent(stores: Int) throws {
        let dir = TempDir()
        // Separate store values model separate plugin processes sharing the directory.
        let all = try (0..<stores).map { _ in try Self.store(dir.path, "10.4.0.0/24") }
        let got = Mutex<[IPAddress]>([])
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            do {
                let a = try all[i % stores].allocate(Attachment(containerID: "c\(i)", ifname: "eth0"))
                got.withLock { $0.append(a[0].address.address) }
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        let addresses = got.withLock { $0 }
        // 253 usable addresses: all 200 succeed, all different.
        #expect(failures.withLock { $0 } == 0)
        #expect(addresses.count == 200)
        #expect(Set(addresses).count == 200)
        #expect(try all[0].reservations().count == 200)
    }

    @Test("GC keeps valid attachments and releases the rest")
    func gc() throws {
        let dir = TempDir()
        let store = try Self.store(dir.path, "10.5.0.0/24")
        for i in 0..<4 { _ = try store.allocate(Attachment(containerID: "c\(i)", ifname: "eth0")) }
        let released = try store.gc(keeping: [Attachment(containerID: "c1", ifname: "eth0"), Attachment(containerID: "c3", ifname: "eth0")])
        #expect(released == [IPAddress("10.5.0.2")!, IPAddress("10.5.0.4")!])
        #expect(Set(try store.reservations().values) == [Attachment(containerID: "c1", ifname: "eth0"), Attachment(containerID: "c3", ifname: "eth0")])
    }

    @Test("dual-stack: one address per range set")
    func dualStack() throws {
        let dir = TempDir()
        let v4 = try IPRange(subnet: IPPrefix("10.6.0.0/24")!)
        let v6 = try IPRange(subnet: IPPrefix("fd00:6::/120")!)
        let store = IPAMStore(dataDir: dir.path, network: "net", rangeSets: [[v4], [v6]])
        let got = try store.allocate(Attachment(containerID: "c1", ifname: "eth0"))
        #expect(got.map(\.address.description) == ["10.6.0.2/24", "fd00:6::2/120"])
        #expect(got[1].gateway == IPAddress("fd00:6::1"))
    }
}

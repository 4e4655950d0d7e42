import Foundation
import Glibc
@testable import IPTables
import Testing

/// ``XTablesLock``, the iptables lock ``TableWriter`` takes, against a lock file in a scratch
/// directory held by another open file description (as another iptables process would hold it).
@Suite struct XTablesLockTests {
    /// A fresh directory for one test's lock file.
    static func scratch() -> String {
        var template = Array("/tmp/nodekit-xtables-lock-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!).map { String(cString: $0) } }
        guard let made else { preconditionFailure("mkdtemp: \(String(cString: strerror(errno)))") }
        return made
    }

    static func remove(_ dir: String) {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Another open file description of `path`, holding the lock.
    static func hold(_ path: String) -> Int32 {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "open \(path): \(String(cString: strerror(errno)))")
        precondition(flock(fd, LOCK_EX | LOCK_NB) == 0, "flock \(path): \(String(cString: strerror(errno)))")
        return fd
    }

    /// Whether another open file description can take the lock now (it is dropped again).
    static func free(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "open \(path): \(String(cString: strerror(errno)))")
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// While another process holds the lock the writer waits its whole wait, then fails with the
    /// lock's message having written nothing. The text names a chain no table has, so a writer
    /// that wrongly went ahead would fail on it (or on the raw socket) before changing a table.
    @Test func writerWaitsThenFailsWhileTheLockIsHeld() {
        let dir = Self.scratch()
        defer { Self.remove(dir) }
        let path = dir + "/xtables.lock"
        let holder = Self.hold(path)
        defer { close(holder) }
        let text = Array("*nat\n-A NODEKIT-LOCK-TEST-NO-CHAIN -j ACCEPT\nCOMMIT\n".utf8)
        let start = Self.now()
        var failure: TableWriter.Failure?
        do { try TableWriter.apply(text, lockPath: path, lockWait: 0.3) } catch { failure = error }
        let elapsed = Self.now() - start
        #expect(failure?.message == "iptables writer: another process holds \(path) (waited 0.3 s)")
        #expect(failure?.committed == 0)
        #expect(elapsed >= 0.3, "gave up after \(elapsed) s")
        #expect(elapsed < 3, "took \(elapsed) s")
        // The writer's own descriptor is closed: the holder still has the lock, and no other.
        #expect(!Self.free(path))
        close(holder)
        #expect(Self.free(path))
    }

    /// The lock is taken as soon as the holder lets go, and held until ``XTablesLock/release()``.
    @Test func acquireWaitsForTheHolderAndHoldsUntilReleased() throws {
        let dir = Self.scratch()
        defer { Self.remove(dir) }
        let path = dir + "/xtables.lock"
        let holder = Self.hold(path)
        let start = Self.now()
        let letGo = Thread {
            usleep(200_000)
            close(holder)
        }
        letGo.start()
        let lock = try XTablesLock.acquire(path: path, waitSeconds: 5)
        let elapsed = Self.now() - start
        #expect(elapsed >= 0.2, "took the lock after \(elapsed) s, while it was held")
        #expect(elapsed < 3, "took \(elapsed) s")
        #expect(!Self.free(path))
        lock.release()
        #expect(Self.free(path))
    }

    /// The lock file is made as iptables makes it (O_CREAT, mode 0600); an existing file is used
    /// as it is; a path that cannot be opened is a clear error, at once.
    @Test func lockFileCreationAndOpenErrors() throws {
        let dir = Self.scratch()
        defer { Self.remove(dir) }
        let path = dir + "/xtables.lock"
        let lock = try XTablesLock.acquire(path: path, waitSeconds: 0)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_mode & S_IFMT == S_IFREG)
        lock.release()
        #expect(chmod(path, 0o644) == 0)
        try XTablesLock.acquire(path: path, waitSeconds: 0).release()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o644)

        let missing = dir + "/no-such-dir/xtables.lock"
        let start = Self.now()
        #expect { try XTablesLock.acquire(path: missing, waitSeconds: 5) } throws: { error in
            (error as? IPTablesError)?.message == "iptables writer: opening \(missing): No such file or directory"
        }
        #expect(Self.now() - start < 1)
    }
}

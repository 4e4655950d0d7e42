import IPTables
import LinuxSystem
import Testing

/// The streaming child process that feeds `iptables-restore`: real children (`cat`, `sh`), no
/// root needed.
@Suite struct StreamingChildProcessTests {
    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    /// Bytes 0-250 over and over, so a lost or reordered chunk shows.
    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 251) } }

    static func sh(_ script: String) throws -> StreamingChildProcess {
        try StreamingChildProcess("/bin/sh", arguments: ["sh", "-c", script], environment: environment)
    }

    /// 8 MiB through `cat` in uneven pieces: cat fills its stdout pipe long before the input
    /// ends, so this hangs unless writing also drains stdout.
    @Test func largeInputComesBackWhole() throws {
        let input = Self.pattern(8 << 20)
        let child = try StreamingChildProcess("/bin/cat", arguments: ["cat"], environment: Self.environment)
        var offset = 0
        var piece = 1
        while offset < input.count {
            let end = min(input.count, offset + piece)
            input[offset..<end].withUnsafeBytes { child.write($0) }
            offset = end
            piece = piece * 3 + 7
        }
        let out = try child.finish()
        #expect(out.status == 0)
        #expect(out.stdout.count == input.count)
        #expect(out.stdout == input)
        #expect(child.unreadInputBytes == 0)
    }

    /// A child that reads everything and fails: its status and stderr come back.
    @Test func failingChildReportsStatusAndStderr() throws {
        let child = try Self.sh("cat >/dev/null; echo 'line 3 failed' >&2; exit 3")
        child.write(Array("*filter\nbogus\nCOMMIT\n".utf8))
        let out = try child.finish()
        #expect(out.status == 3)
        #expect(String(decoding: out.stderr, as: UTF8.self) == "line 3 failed\n")
        #expect(child.unreadInputBytes == 0)
    }

    /// A child that exits without reading: writing neither kills this process (SIGPIPE) nor
    /// hangs; the bytes it did not take are counted.
    @Test func childThatExitsEarlyDoesNotKillTheWriter() throws {
        let child = try Self.sh("exit 4")
        let input = Self.pattern(4 << 20)
        for start in stride(from: 0, to: input.count, by: 1 << 16) {
            input[start..<start + (1 << 16)].withUnsafeBytes { child.write($0) }
        }
        let out = try child.finish()
        #expect(out.status == 4)
        #expect(child.unreadInputBytes > 0)
        #expect(child.unreadInputBytes <= input.count)
    }

    /// A child that writes 1 MB to stderr before it reads anything, while we write 4 MiB: both
    /// pipes fill unless the writer drains stderr as it waits.
    @Test func childWritingStderrFirstDoesNotDeadlock() throws {
        let child = try Self.sh("head -c 1000000 /dev/zero >&2; cat >/dev/null; exit 2")
        let input = Self.pattern(4 << 20)
        input.withUnsafeBytes { child.write($0) }
        let out = try child.finish()
        #expect(out.status == 2)
        #expect(out.stderr.count == 1_000_000)
        #expect(child.unreadInputBytes == 0)
    }

    @Test func missingExecutableIsATypedError() {
        #expect(throws: SystemError.self) {
            _ = try StreamingChildProcess("/nonexistent/iptables-restore", arguments: ["x"], environment: [])
        }
    }

    /// RestoreInput hands on chunks of the requested size, in order, and the rest on flush.
    @Test func restoreInputChunks() {
        var chunks: [[UInt8]] = []
        var input = RestoreInput(flushingAt: 10) { chunks.append(Array($0)) }
        for word in ["*nat\n", ":KUBE-SERVICES - [0:0]\n", "COMMIT\n"] { input.write(word) }
        #expect(chunks.map(\.count) == [28])
        input.flush()
        input.flush()
        #expect(chunks.map(\.count) == [28, 7])
        #expect(String(decoding: chunks.joined(), as: UTF8.self) == "*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n")

        var whole = RestoreInput()
        whole.write("*nat\n")
        whole.write("COMMIT\n")
        whole.flush()
        #expect(whole.text == "*nat\nCOMMIT\n")
    }
}

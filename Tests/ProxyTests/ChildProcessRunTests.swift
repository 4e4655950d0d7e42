import LinuxSystem
import Testing

/// `ChildProcess.run`, the one-shot form the CNI runtime, the IPVS ipset calls and the proxy's
/// iptables calls use: real children (`cat`, `sh`), no root needed.
@Suite struct ChildProcessRunTests {
    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    /// 8 MiB through `cat`: cat fills its stdout pipe long before its input ends, so this hangs
    /// unless the input is written while stdout is drained.
    @Test func largeInputComesBackWhole() throws {
        let input = (0..<(8 << 20)).map { UInt8($0 % 251) }
        let out = try ChildProcess.run("/bin/cat", arguments: ["cat"], environment: Self.environment, input: input)
        #expect(out.status == 0)
        #expect(out.stdout == input)
        #expect(out.stderr.isEmpty)
    }

    /// A plugin that exits without reading its stdin: the caller gets the exit status and
    /// stderr, and is not killed by SIGPIPE (4 MiB cannot fit in the pipe).
    @Test func childThatExitsWithoutReadingGivesItsStatus() throws {
        let out = try ChildProcess.run("/bin/sh", arguments: ["sh", "-c", "echo refused >&2; exit 7"],
                                       environment: Self.environment, input: [UInt8](repeating: 0x41, count: 4 << 20))
        #expect(out.status == 7)
        #expect(String(decoding: out.stderr, as: UTF8.self) == "refused\n")
    }

    /// The environment is the child's whole environment; empty input closes stdin at once.
    @Test func environmentAndEmptyInput() throws {
        let out = try ChildProcess.run("/bin/sh", arguments: ["sh", "-c", "if read line; then echo got; else echo eof; fi; echo \"[$CNI_COMMAND]\""],
                                       environment: Self.environment + ["CNI_COMMAND=ADD"], input: [])
        #expect(out.status == 0)
        #expect(String(decoding: out.stdout, as: UTF8.self) == "eof\n[ADD]\n")
    }

    /// A path that does not exist is a typed error naming it, not a crash.
    @Test func missingExecutableThrows() {
        #expect(throws: SystemError.self) {
            _ = try ChildProcess.run("/nonexistent/nk-plugin", arguments: ["nk-plugin"], environment: [], input: [])
        }
    }

    /// Killed by a signal: 128 + the signal number, as a shell reports it.
    @Test func signalledChildStatus() throws {
        let out = try ChildProcess.run("/bin/sh", arguments: ["sh", "-c", "kill -9 $$"], environment: Self.environment, input: [])
        #expect(out.status == 128 + 9)
    }
}

import ArgumentParser
@testable import NodectlKit
import Testing

@Suite struct FormatTests {
    static let ages: [(Int64, String)] = [
        (0, "Less than a second ago"),
        (1_000_000_000, "1 second ago"),
        (45_000_000_000, "45 seconds ago"),
        (80_000_000_000, "About a minute ago"),
        (600_000_000_000, "10 minutes ago"),
        (3_700_000_000_000, "About an hour ago"),
        (36 * 3_600_000_000_000, "36 hours ago"),
        (5 * 86_400_000_000_000, "5 days ago"),
        (21 * 86_400_000_000_000, "3 weeks ago"),
        (100 * 86_400_000_000_000, "3 months ago"),
        (800 * 86_400_000_000_000, "2 years ago"),
    ]

    @Test(arguments: ages)
    func ageReadsLikeDocker(elapsed: Int64, expected: String) {
        #expect(Format.age(createdAt: 1_000, now: 1_000 + elapsed) == expected)
    }

    static let sizes: [(UInt64, String)] = [
        (0, "0B"), (755, "755B"), (1_000, "1kB"), (1_234_567, "1.23MB"), (12_500_000, "12.5MB"),
        (4_270_000_000, "4.27GB"), (999, "999B"),
    ]

    @Test(arguments: sizes)
    func sizesHaveThreeSignificantDigits(bytes: UInt64, expected: String) {
        #expect(Format.size(bytes) == expected)
    }

    @Test func shortIDsDropDigestPrefix() {
        #expect(Format.shortID("sha256:0123456789abcdef0123") == "0123456789abc")
        #expect(Format.shortID("abc") == "abc")
    }

    @Test func tableAlignsColumns() {
        var table = Table("A", "LONGER", "C")
        table.append(["wide cell", "x", "y"])
        #expect(table.render() == "A           LONGER   C\nwide cell   x        y\n")
    }

    @Test(arguments: [
        ("docker.io/nodekit/busybox:latest", "docker.io/nodekit/busybox", "latest"),
        ("localhost:5000/app", "localhost:5000/app", "<none>"),
        ("localhost:5000/app:v2", "localhost:5000/app", "v2"),
        ("docker.io/library/x@sha256:abcd", "docker.io/library/x", "<none>"),
    ])
    func splitsRepositoryAndTag(reference: String, repository: String, tag: String) {
        let (gotRepository, gotTag) = CRIViews.splitTag(reference)
        #expect(gotRepository == repository)
        #expect(gotTag == tag)
    }

    @Test func execCommandKeepsItsOwnFlags() throws {
        let parsed = try Nodectl.parseAsRoot(["cri", "exec", "abc", "--", "sh", "-c", "ls -l /"])
        let exec = try #require(parsed as? CRICommand.Exec)
        #expect(exec.id == "abc")
        #expect(exec.commandLine == ["sh", "-c", "ls -l /"])
    }

    @Test func endpointOptionParses() throws {
        let parsed = try Nodectl.parseAsRoot(["cri", "ps", "-a", "--runtime-endpoint", "unix:///tmp/x.sock", "-o", "yaml"])
        let ps = try #require(parsed as? CRICommand.PS)
        #expect(ps.all)
        #expect(ps.output == .yaml)
        #expect(try ps.options.endpoint().path == "/tmp/x.sock")
        #expect(throws: (any Error).self) { try Nodectl.parseAsRoot(["cri", "ps", "-o", "xml"]) }
    }
}

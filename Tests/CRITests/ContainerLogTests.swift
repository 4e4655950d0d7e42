import CRI
import Testing

@Suite struct ContainerLogTests {
    @Test(arguments: [
        ("2016-10-06T00:17:09.669794202Z stdout F hello world",
         ContainerLogLine(timestamp: "2016-10-06T00:17:09.669794202Z", stream: .stdout, partial: false, message: "hello world")),
        ("2016-10-06T00:17:09.669794203Z stderr P part ",
         ContainerLogLine(timestamp: "2016-10-06T00:17:09.669794203Z", stream: .stderr, partial: true, message: "part ")),
        ("2016-10-06T00:17:10Z stdout F",
         ContainerLogLine(timestamp: "2016-10-06T00:17:10Z", stream: .stdout, partial: false, message: "")),
        ("2016-10-06T00:17:10Z stdout F:x  two  spaces",
         ContainerLogLine(timestamp: "2016-10-06T00:17:10Z", stream: .stdout, partial: false, message: " two  spaces")),
    ])
    func parsesLines(text: String, expected: ContainerLogLine) throws {
        #expect(try ContainerLogLine(parsing: Substring(text)) == expected)
    }

    @Test(arguments: [
        ("hello", "expected"),
        ("2016-10-06T00:17:09Z stdin F x", "unknown stream \"stdin\""),
        ("2016-10-06T00:17:09Z stdout X x", "unknown tag \"X\""),
    ])
    func rejectsMalformedLines(text: String, fragment: String) {
        #expect {
            _ = try ContainerLogLine(parsing: Substring(text))
        } throws: { error in
            (error as? ContainerLogError)?.description.contains(fragment) ?? false
        }
    }

    @Test func joinsPartialLinesPerStream() throws {
        let text = """
            t1 stdout P hel
            t2 stderr F oops
            t3 stdout P lo
            t4 stdout F  world
            t5 stdout F next
            t6 stderr P unfinished

            """
        let entries = try ContainerLogEntry.parse(text)
        #expect(entries == [
            ContainerLogEntry(timestamp: "t2", stream: .stderr, message: "oops"),
            ContainerLogEntry(timestamp: "t1", stream: .stdout, message: "hello world"),
            ContainerLogEntry(timestamp: "t5", stream: .stdout, message: "next"),
            ContainerLogEntry(timestamp: "t6", stream: .stderr, message: "unfinished", complete: false),
        ])
    }
}

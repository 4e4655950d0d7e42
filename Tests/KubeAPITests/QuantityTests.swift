import Testing
@testable import KubeAPI

struct QuantityTests {
    @Test(arguments: [
        ("100m", 100),
        ("1", 1000),
        ("0.5", 500),
        ("2.5", 2500),
        ("1k", 1_000_000),
        ("1Ki", 1_024_000),
        ("128Mi", 134_217_728_000),
        ("1Gi", 1_073_741_824_000),
        ("1e3", 1_000_000),
        ("1E-3", 1),
        ("1n", 1),          // sub-milli rounds up, as upstream's MilliValue
        ("1500u", 2),
        ("-250m", -250),
        ("+3", 3000),
        ("0", 0),
        ("007", 7000),
    ] as [(String, Int64)])
    func parses(text: String, milli: Int64) throws {
        let q = try Quantity(parsing: text)
        #expect(q.milliValue == milli)
        #expect(q.text == text)
    }

    @Test(arguments: ["", "abc", "1.2.3", "1Qi", "m", "1e", "--1", "1 Gi", "12345678901234567890123"])
    func rejects(text: String) {
        #expect(throws: Quantity.ParseError.invalid(text)) { try Quantity(parsing: text) }
    }

    @Test func valueRoundsUp() throws {
        #expect(try Quantity(parsing: "1500m").value == 2)
        #expect(try Quantity(parsing: "2").value == 2)
    }

    @Test func equalityIsByValue() throws {
        #expect(try Quantity(parsing: "1Ki") == Quantity(parsing: "1024"))
        #expect(try Quantity(parsing: "1000m") == Quantity(parsing: "1"))
    }

    @Test func decodesNumbersAndStrings() throws {
        let list = try JSONValue.object(["cpu": .number(2), "memory": .string("64Mi")]).decode(ResourceList.self)
        #expect(list["cpu"]?.milliValue == 2000)
        let memory = try #require(list["memory"])
        #expect(memory.value == 67_108_864)
    }
}

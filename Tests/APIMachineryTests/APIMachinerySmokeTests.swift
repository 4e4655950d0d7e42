import Testing
@testable import APIMachinery

@Suite struct APIMachinerySmokeTests {
    @Test func moduleLinks() { #expect(String(describing: APIMachinery.self).hasPrefix("APIMachinery")) }
}

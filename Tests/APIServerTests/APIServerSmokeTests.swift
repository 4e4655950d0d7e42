import Testing
@testable import APIServer

@Suite struct APIServerSmokeTests {
    @Test func moduleLinks() { #expect(String(describing: APIServerModule.self).hasPrefix("APIServer")) }
}

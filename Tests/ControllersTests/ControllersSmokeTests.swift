import Testing
@testable import Controllers

@Suite struct ControllersSmokeTests {
    @Test func moduleLinks() { #expect(String(describing: ControllersModule.self).hasPrefix("Controllers")) }
}

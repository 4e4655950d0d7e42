import Testing
@testable import KubeClient

@Suite struct KubeClientSmokeTests {
    @Test func moduleLinks() { #expect(String(describing: KubeClientModule.self).hasPrefix("KubeClient")) }
}

import Foundation
import KubeAPI
import Testing
@testable import APIServer

/// Pieces of the write paths made cheaper in session 9, each against what it replaced.
@Suite struct WritePathTests {
    /// uids as Foundation's `UUID().uuidString.lowercased()` spelled them: random version-4 UUIDs.
    @Test func randomUIDsAreLowerCaseVersion4UUIDs() throws {
        var seen = Set<String>()
        for _ in 0..<2_000 {
            let uid = RESTStorage.randomUID()
            let parsed = try #require(UUID(uuidString: uid), "\(uid)")
            #expect(parsed.uuidString.lowercased() == uid)
            let bytes = Array(uid.utf8)
            #expect(bytes.count == 36)
            #expect(bytes[14] == UInt8(ascii: "4"), "version: \(uid)")
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(bytes[19]), "variant: \(uid)")
            seen.insert(uid)
        }
        #expect(seen.count == 2_000)
    }
}

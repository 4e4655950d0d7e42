import Foundation
import KubeAPI
import Testing
@testable import APIServer

/// EndpointSlice addresses are checked as upstream's discovery validation checks them: the
/// slice's address family, and no unspecified, loopback, link-local or link-local multicast IPs
/// (ValidateNonSpecialIP), with upstream's messages and field paths.
@Suite struct EndpointSliceValidationTests {
    static let loopback = "may not be in the loopback range (127.0.0.0/8, ::1/128)"
    static let linkLocal = "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
    static let multicast = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"

    static let cases: [(type: String, address: String, details: [String])] = [
        ("IPv4", "10.244.1.7", []),
        ("IPv4", "100.64.0.1", []),
        ("IPv4", "010.001.002.003", []),
        ("IPv4", "127.0.0.1", [loopback]),
        ("IPv4", "127.255.0.9", [loopback]),
        ("IPv4", "169.254.169.254", [linkLocal]),
        ("IPv4", "224.0.0.5", [multicast]),
        ("IPv4", "224.0.1.5", []),
        ("IPv4", "0.0.0.0", ["may not be unspecified (0.0.0.0)"]),
        ("IPv4", "2001:db8::1", ["must be a valid IPv4 address"]),
        ("IPv4", "::1", ["must be a valid IPv4 address", loopback]),
        ("IPv4", "10.0.0", ["must be a valid IPv4 address", "must be a valid IP address"]),
        ("IPv4", "10.0.0.256", ["must be a valid IPv4 address", "must be a valid IP address"]),
        ("IPv6", "2001:db8::1", []),
        ("IPv6", "fd00:10:244::7", []),
        ("IPv6", "::1", [loopback]),
        ("IPv6", "fe80::1", [linkLocal]),
        ("IPv6", "febf:ffff::1", [linkLocal]),
        ("IPv6", "ff02::2", [multicast]),
        ("IPv6", "ff12::2", [multicast]),
        ("IPv6", "ff05::2", []),
        ("IPv6", "::", ["may not be unspecified (::)"]),
        ("IPv6", "10.0.0.1", ["must be a valid IPv6 address"]),
        ("IPv6", "::ffff:127.0.0.1", ["must be a valid IPv6 address", loopback]),
        ("IPv6", "2001:db8::1::2", ["must be a valid IPv6 address", "must be a valid IP address"]),
        ("IPv6", "1:2:3:4:5:6:7:8:9", ["must be a valid IPv6 address", "must be a valid IP address"]),
        ("FQDN", "127.0.0.1", []),
    ]

    @Test(arguments: cases)
    func addresses(_ c: (type: String, address: String, details: [String])) {
        let errors = EndpointSlices.validateEndpoints([.object(["addresses": .array([.string(c.address)])])], addressType: c.type)
        #expect(errors.map(\.detail) == c.details)
        #expect(errors.allSatisfy { $0.field == "endpoints[0].addresses[0]" && $0.value == c.address && $0.type == .invalid })
    }

    @Test func addressCountsAreLimited() {
        let none = EndpointSlices.validateEndpoints([.object(["addresses": .array([])])], addressType: "IPv4")
        #expect(none.map(\.summary) == ["endpoints[0].addresses: Required value: must contain at least 1 address"])
        let many = EndpointSlices.validateEndpoints([.object(["addresses": .array((0..<101).map { .string("10.0.\($0 / 250).\($0 % 250 + 1)") })])], addressType: "IPv4")
        #expect(many.map(\.summary) == ["endpoints[0].addresses: Too many: 101: must have at most 100 items"])
    }

    @Test func aLoopbackEndpointIsRefusedOverHTTP() async throws {
        let server = try await TestServer.start()
        do {
            func slice(_ name: String, _ addresses: [String]) -> JSONValue {
                .object(["apiVersion": .string("discovery.k8s.io/v1"), "kind": .string("EndpointSlice"),
                         "metadata": .object(["name": .string(name), "namespace": .string("default")]), "addressType": .string("IPv4"),
                         "endpoints": .array([.object(["addresses": .array(addresses.map { .string($0) })])])])
            }
            let path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
            let refused = try await server.call("POST", path, json: slice("web-lo", ["10.244.0.5", "127.0.0.1"]))
            #expect(refused.code == 422)
            #expect(refused.json["reason"] == .string("Invalid"))
            #expect(refused.json["message"] == .string("EndpointSlice.discovery.k8s.io \"web-lo\" is invalid: endpoints[0].addresses[1]: Invalid value: \"127.0.0.1\": \(Self.loopback)"))
            #expect(refused.json["details"]?["causes"]?.arrayValue?.first?["field"] == .string("endpoints[0].addresses[1]"))
            let accepted = try await server.call("POST", path, json: slice("web", ["10.244.0.5"]))
            #expect(accepted.code == 201)
            let update = try await server.call("PUT", path + "/web", json: slice("web", ["169.254.169.254"]))
            #expect(update.code == 422)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

import Foundation
import KubeAPI
import Store
import TestSupport
import Testing
@testable import APIServer

/// Responses built from the stored bytes (lists, and the object a write or read answers with)
/// are byte for byte what encoding the decoded objects gives, and a dry run never answers with
/// the stored revision's bytes.
@Suite struct ServedBytesTests {
    static let configMaps = ResourceRegistry.builtIn.lookup(group: "", version: "v1", plural: "configmaps")!

    /// The list as the server encoded it before lists were served from stored bytes.
    static func encodedFromDecoded(_ page: ListPage<JSONObject>, _ resource: ResourceDefinition) -> [UInt8] {
        var metadata: JSONObject = ["resourceVersion": .string(String(page.resourceVersion))]
        if let token = page.continueToken { metadata["continue"] = .string(token) }
        if let remaining = page.remainingItemCount { metadata["remainingItemCount"] = .int(remaining) }
        return JSONCoding.encode([
            "kind": .string(resource.listKind), "apiVersion": .string(resource.apiVersion),
            "metadata": .object(metadata), "items": .array(page.items.map { .object($0) }),
        ] as JSONObject)
    }

    static func seed(_ server: TestServer) async throws {
        let bodies: [JSONValue] = [
            Objects.configMap("a", labels: ["app": "web"]),
            Objects.configMap("b", labels: ["app": "db"], data: ["quote\"d": "line\nbreak \u{1} é ✓ \\ /"]),
            Objects.configMap("c"),
            Objects.configMap("d", labels: ["app": "web"], data: [:]),
        ]
        for body in bodies {
            let r = try await server.call("POST", "/api/v1/namespaces/default/configmaps", json: body)
            #expect(r.code == 201, "\(r.text)")
        }
    }

    static let listCases: [(label: String, limit: Int)] = [("", 0), ("app=web", 0), ("", 2), ("app!=db", 1), ("app=none", 0)]

    @Test(arguments: listCases)
    func aServedListIsTheEncodingOfTheDecodedList(_ selection: (label: String, limit: Int)) async throws {
        let server = try await TestServer.start()
        do {
            try await Self.seed(server)
            var options = ListOptions()
            if !selection.label.isEmpty { options.labelSelector = try LabelSelectorQuery(parsing: selection.label) }
            options.limit = selection.limit
            let resource = Self.configMaps
            // The server's own storage has the written objects cached; a fresh one (an empty
            // cache) splices the stored bytes.
            let cached = server.server.handler.storage
            let fresh = RESTStorage(store: cached.store, registry: cached.registry, allocator: cached.allocator, now: cached.now)
            for storage in [cached, fresh] {
                let decoded = try await storage.list(resource, namespace: "default", options: options)
                let served = try await storage.listServed(resource, namespace: "default", options: options)
                #expect(served.items.count == decoded.items.count)
                #expect(served.continueToken == decoded.continueToken)
                #expect(ResourceHandler.encodeList(served, resource) == Self.encodedFromDecoded(decoded, resource))
            }
            // Over HTTP: the body is what encoding its own decoded form gives.
            let query = selection.label.isEmpty ? "" : "?labelSelector=\(selection.label.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            let r = try await server.call("GET", "/api/v1/namespaces/default/configmaps" + query)
            #expect(r.code == 200)
            #expect(JSONCoding.encode(try JSONValue.parse(Array(r.body))) == Array(r.body))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func writeAndReadResponsesAreTheEncodingOfTheirObject() async throws {
        let server = try await TestServer.start()
        do {
            let created = try await server.call("POST", "/api/v1/namespaces/default/configmaps", json: Objects.configMap("w", data: ["k": "v1"]))
            #expect(created.code == 201)
            #expect(JSONCoding.encode(try JSONValue.parse(Array(created.body))) == Array(created.body))
            let patched = try await server.call("PATCH", "/api/v1/namespaces/default/configmaps/w", json: .object(["data": .object(["k": .string("v2")])]),
                                                contentType: "application/merge-patch+json")
            #expect(patched.code == 200)
            #expect(patched.json["data"]?["k"] == .string("v2"))
            #expect(JSONCoding.encode(try JSONValue.parse(Array(patched.body))) == Array(patched.body))
            let read = try await server.call("GET", "/api/v1/namespaces/default/configmaps/w")
            #expect(read.body == patched.body)

            // A dry run answers with the object it would write, under the current resourceVersion.
            let dryRun = try await server.call("PATCH", "/api/v1/namespaces/default/configmaps/w?dryRun=All", json: .object(["data": .object(["k": .string("v3")])]),
                                               contentType: "application/merge-patch+json")
            #expect(dryRun.code == 200)
            #expect(dryRun.json["data"]?["k"] == .string("v3"))
            #expect(dryRun.json["metadata"]?["resourceVersion"] == patched.json["metadata"]?["resourceVersion"])
            let after = try await server.call("GET", "/api/v1/namespaces/default/configmaps/w")
            #expect(after.json["data"]?["k"] == .string("v2"))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

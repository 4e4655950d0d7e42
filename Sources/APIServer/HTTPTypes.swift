import APIMachinery
import Foundation
import KubeAPI
import NIOHTTP1
import UpgradeProxy

/// One HTTP request as the handler sees it: method, path, decoded query, headers, the whole body
/// and the authenticated user (nil when the request carried no valid credentials).
struct APIRequest: Sendable {
    var method: HTTPMethod
    /// The request target as received (repeated query parameters need it).
    var uri: String
    var path: String
    var query: [String: String]
    var headers: HTTPHeaders
    var body: [UInt8]
    var user: UserInfo?

    init(method: HTTPMethod, uri: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], user: UserInfo? = nil) {
        self.method = method
        self.uri = uri
        let components = URLComponents(string: uri)
        path = components?.percentEncodedPath.removingPercentEncoding ?? uri
        var query: [String: String] = [:]
        // Form decoding, as Go's url.ParseQuery: "+" is a space (the Python client sends
        // `labelSelector=app+in+%28a%2Cb%29`), then percent escapes.
        func decode(_ text: String) -> String {
            let spaced = text.replacingOccurrences(of: "+", with: " ")
            return spaced.removingPercentEncoding ?? spaced
        }
        for item in components?.percentEncodedQueryItems ?? [] {
            let name = decode(item.name)
            if query[name] == nil { query[name] = decode(item.value ?? "") }
        }
        self.query = query
        self.headers = headers
        self.body = body
        self.user = user
    }

    var accept: String { headers.first(name: "Accept") ?? "" }
    var contentType: String { headers.first(name: "Content-Type") ?? "" }
}

/// Who made a request.
struct UserInfo: Sendable, Hashable {
    var name: String
    var groups: [String]
}

/// What the handler answers: a whole body, or a stream of chunks (watch, logs) sent with chunked
/// transfer encoding as they come; the stream ends the response when it finishes.
struct APIResponse: Sendable {
    enum Body: Sendable {
        case bytes([UInt8])
        case stream(AsyncStream<[UInt8]>)
    }

    var status: HTTPResponseStatus
    var contentType: String
    var body: Body
    var headers: [(String, String)] = []
    /// Set for exec, attach and port-forward: the connection is relayed there (see ``PodStreams``).
    var upgrade: UpgradeTarget? = nil

    static func json(_ bytes: [UInt8], status: HTTPResponseStatus = .ok) -> APIResponse {
        APIResponse(status: status, contentType: "application/json", body: .bytes(bytes))
    }

    static func text(_ text: String, status: HTTPResponseStatus = .ok) -> APIResponse {
        APIResponse(status: status, contentType: "text/plain; charset=utf-8", body: .bytes(Array(text.utf8)))
    }

    static func error(_ error: APIError) -> APIResponse {
        APIResponse(status: HTTPResponseStatus(statusCode: error.code), contentType: "application/json", body: .bytes(JSONCoding.encode(error.status)))
    }
}

extension APIRequest {
    /// A boolean query parameter read as Go's strconv.ParseBool reads it, as upstream decodes
    /// options: 1, t, T, TRUE, true, True are true (the Python client sends `watch=True`).
    func flag(_ name: String) -> Bool {
        ["1", "t", "T", "TRUE", "true", "True"].contains(query[name] ?? "")
    }
}

extension APIResponse {
    /// This response re-encoded as `application/vnd.kubernetes.protobuf` when `accept` names
    /// protobuf and nothing else (upstream answers such a client in protobuf; clients that also
    /// accept JSON get JSON). Only whole JSON bodies of kinds the protobuf table knows are
    /// re-encoded, errors (Status) included; tables, discovery documents, streams and anything
    /// that does not encode stay as they are.
    func negotiatingProtobuf(accept: String) -> APIResponse {
        let types = accept.split(separator: ",").map { $0.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? "" }
        guard !types.isEmpty, types.allSatisfy({ $0 == ProtobufCodec.mediaType }),
              contentType == "application/json", case .bytes(let bytes) = body,
              let object = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)),
              let encoded = try? ProtobufCodec().encodeObject(object) else { return self }
        var response = self
        response.contentType = ProtobufCodec.mediaType
        response.body = .bytes(encoded)
        return response
    }
}

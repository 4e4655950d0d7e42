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
        (path, query) = RequestTarget.parse(uri) ?? RequestTarget.parseWithURLComponents(uri)
        self.headers = headers
        self.body = body
        self.user = user
    }

    var accept: String { headers.first(name: "Accept") ?? "" }
    var contentType: String { headers.first(name: "Content-Type") ?? "" }

    /// The Content-Type's media type: before any parameters, without surrounding spaces, in
    /// lower case ("" when there is none). A header that is already bare lower-case ASCII (what
    /// clients send) is returned as it is, without Foundation's trimming and case mapping.
    var mediaType: String {
        let header = contentType
        if header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ";") && !($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }) {
            return header
        }
        return header.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }
}

/// The path and query of a request target (origin form: `/path?query`), percent-decoded.
enum RequestTarget {
    /// The plain case without Foundation: every byte a URI may hold unescaped, valid percent
    /// escapes, UTF-8 after decoding. Nil otherwise (the caller falls back to URLComponents,
    /// whose rules it then keeps). Query parameters are form-decoded as Go's url.ParseQuery
    /// ("+" is a space: the Python client sends `labelSelector=app+in+%28a%2Cb%29`); the first
    /// of a repeated name wins.
    static func parse(_ uri: String) -> (path: String, query: [String: String])? {
        let bytes = Array(uri.utf8)
        guard bytes.first == UInt8(ascii: "/"), bytes.allSatisfy({ allowed[Int($0)] }) else { return nil }
        let mark = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        guard let path = decode(bytes[..<mark], plusIsSpace: false) else { return nil }
        var query: [String: String] = [:]
        if mark < bytes.count {
            for item in bytes[(mark + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
                let equals = item.firstIndex(of: UInt8(ascii: "=")) ?? item.endIndex
                guard let name = decode(item[..<equals], plusIsSpace: true),
                      let value = decode(equals < item.endIndex ? item[(equals + 1)...] : [], plusIsSpace: true) else { return nil }
                if query[name] == nil { query[name] = value }
            }
        }
        return (path, query)
    }

    /// The former parser over URLComponents, for targets `parse` declines: an unparsable
    /// target is routed by its whole text, with no query.
    static func parseWithURLComponents(_ uri: String) -> (path: String, query: [String: String]) {
        let components = URLComponents(string: uri)
        let path = components?.percentEncodedPath.removingPercentEncoding ?? uri
        var query: [String: String] = [:]
        func decode(_ text: String) -> String {
            let spaced = text.replacingOccurrences(of: "+", with: " ")
            return spaced.removingPercentEncoding ?? spaced
        }
        for item in components?.percentEncodedQueryItems ?? [] {
            let name = decode(item.name)
            if query[name] == nil { query[name] = decode(item.value ?? "") }
        }
        return (path, query)
    }

    /// Bytes a request target may hold as they are (RFC 3986 unreserved, sub-delims, ":",
    /// "@", "/", "?" and "%"; a fragment's "#" is left to URLComponents).
    private static let allowed: [Bool] = (0..<256).map { byte in
        guard byte < 128 else { return false }
        let c = Character(Unicode.Scalar(UInt8(byte)))
        return c.isLetter || c.isNumber || "-._~!$&'()*+,;=:@/?%".contains(c)
    }

    /// Percent-decodes `text` (and "+" as a space when `plusIsSpace`); nil for a malformed
    /// escape or a result that is not UTF-8, as removingPercentEncoding.
    private static func decode(_ text: ArraySlice<UInt8>, plusIsSpace: Bool) -> String? {
        if !text.contains(UInt8(ascii: "%")) && !(plusIsSpace && text.contains(UInt8(ascii: "+"))) {
            return String(decoding: text, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = text.startIndex
        while i < text.endIndex {
            let byte = text[i]
            if byte == UInt8(ascii: "%") {
                guard i + 2 < text.endIndex, let high = hexValue(text[i + 1]), let low = hexValue(text[i + 2]) else { return nil }
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
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
        // Nearly every client accepts JSON: skip the parsing unless protobuf is named at all.
        guard ASCIIText.contains(accept, "protobuf") ?? accept.contains("protobuf") else { return self }
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

/// Substring tests on header values by their bytes, for the ASCII values every client sends;
/// nil for other text, where the caller keeps Foundation's comparison (which also matches
/// canonically equivalent spellings).
enum ASCIIText {
    /// Whether `text` holds `needle` (ASCII), or nil when `text` is not ASCII.
    static func contains(_ text: String, _ needle: StaticString) -> Bool? {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            return find(needle, in: bytes[...])
        }
    }

    /// Whether the first non-empty item of the comma-separated `text` (as
    /// `split(separator: ",").first` gives it) holds `needle` (ASCII), or nil when `text` is
    /// not ASCII.
    static func firstItem(of text: String, contains needle: StaticString) -> Bool? {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            var start = bytes.startIndex
            while start < bytes.endIndex && bytes[start] == UInt8(ascii: ",") { start += 1 }
            guard start < bytes.endIndex else { return false }
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
            return find(needle, in: bytes[start..<end])
        }
    }

    /// A plain loop on purpose: the standard library's generic `firstRange(of:)` over these
    /// slices took 1.2% of hollow-bench's CPU at 5,000 nodes (every response tests its request's
    /// Accept header), the loop about nothing (session 11).
    private static func find(_ needle: StaticString, in bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        let count = needle.utf8CodeUnitCount
        guard count > 0 else { return true }
        guard bytes.count >= count else { return false }
        let first = needle.utf8Start[0]
        var i = bytes.startIndex
        while i <= bytes.endIndex - count {
            if bytes[i] == first {
                var j = 1
                while j < count && bytes[i + j] == needle.utf8Start[j] { j += 1 }
                if j == count { return true }
            }
            i += 1
        }
        return false
    }
}

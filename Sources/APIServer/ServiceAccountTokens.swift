import Crypto
import Foundation
import KubeAPI

/// Bound service-account tokens: JWTs signed ES256 (P-256) with a key kept in the PKI directory
/// (`sa-signing.pem`, made on first start), issued through the serviceaccounts/<name>/token
/// subresource (authentication.k8s.io/v1 TokenRequest) and accepted as bearer tokens for
/// `system:serviceaccount:<namespace>:<name>` while the account (and the bound object, when one is
/// named) still exists with the same UID.
///
/// Claims follow upstream's: iss, sub, aud, exp, iat, nbf, jti and the private `kubernetes.io`
/// claim (namespace, serviceaccount name and uid, the bound pod or secret name and uid).
/// Thread-safe: the key is immutable after init.
struct ServiceAccountTokens: Sendable {
    static let issuer = "https://kubernetes.default.svc.cluster.local"
    /// What a token must be for to authenticate to this server (upstream's default api-audiences).
    static let apiAudiences: Set<String> = [issuer]
    static let defaultExpirationSeconds: Int64 = 3600
    /// Upstream refuses shorter tokens.
    static let minimumExpirationSeconds: Int64 = 600

    /// The key's raw scalar: swift-crypto's key type is not Sendable, so it is rebuilt per use.
    private let keyBytes: Data

    init(key: P256.Signing.PrivateKey) {
        keyBytes = key.rawRepresentation
    }

    private var key: P256.Signing.PrivateKey {
        // Cannot fail: the bytes came from a valid key.
        (try? P256.Signing.PrivateKey(rawRepresentation: keyBytes)) ?? P256.Signing.PrivateKey()
    }

    /// Loads the signing key from `directory/sa-signing.pem`, or makes and stores one (mode 0600).
    static func loadOrCreate(directory: String) throws(APIError) -> ServiceAccountTokens {
        let path = directory + "/sa-signing.pem"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            do { return ServiceAccountTokens(key: try P256.Signing.PrivateKey(pemRepresentation: text)) } catch {
                throw APIError.internalError("service-account signing key \(path) cannot be read: \(error)")
            }
        }
        let key = P256.Signing.PrivateKey()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw APIError.internalError("cannot write \(path)")
            }
        } catch {
            throw APIError.internalError("service-account signing key \(path) cannot be written: \(error)")
        }
        return ServiceAccountTokens(key: key)
    }

    struct Bound: Sendable, Hashable {
        var kind: String
        var name: String
        var uid: String
    }

    /// A signed token and when it expires.
    func issue(namespace: String, serviceAccount: String, uid: String, audiences: [String], lifetime: Int64,
               bound: Bound?, now: Date) throws(APIError) -> (token: String, expiration: Date) {
        let issued = Int64(now.timeIntervalSince1970)
        var kubernetes: JSONObject = [
            "namespace": .string(namespace),
            "serviceaccount": .object(["name": .string(serviceAccount), "uid": .string(uid)]),
        ]
        if let bound {
            kubernetes[bound.kind.lowercased()] = .object(["name": .string(bound.name), "uid": .string(bound.uid)])
        }
        let claims: JSONObject = [
            "iss": .string(Self.issuer),
            "sub": .string("system:serviceaccount:\(namespace):\(serviceAccount)"),
            "aud": .array(audiences.map { .string($0) }),
            "iat": .int(issued), "nbf": .int(issued), "exp": .int(issued + lifetime),
            "jti": .string(UUID().uuidString.lowercased()),
            "kubernetes.io": .object(kubernetes),
        ]
        let header = Self.base64URL(JSONCoding.encode(JSONValue.object(["alg": .string("ES256"), "typ": .string("JWT")])))
        let payload = Self.base64URL(JSONCoding.encode(JSONValue.object(claims)))
        let input = header + "." + payload
        do {
            // JWS ES256 wants the raw r||s form, which is rawRepresentation.
            let signature = try key.signature(for: Data(input.utf8)).rawRepresentation
            return (input + "." + Self.base64URL(Array(signature)), Date(timeIntervalSince1970: TimeInterval(issued + lifetime)))
        } catch {
            throw APIError.internalError("signing a token for \(namespace)/\(serviceAccount): \(error)")
        }
    }

    /// The verified claims of a token this server signed, if its signature holds, it is within
    /// its validity window and its audience includes one of `audiences`; nil otherwise.
    func verify(_ token: String, now: Date, audiences: Set<String> = apiAudiences) -> JSONObject? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Self.decodeBase64URL(parts[0]), let payloadBytes = Self.decodeBase64URL(parts[1]),
              let signatureBytes = Self.decodeBase64URL(parts[2]),
              let header = try? JSONCoding.decode(headerBytes, what: "token header").objectValue, header["alg"]?.stringValue == "ES256",
              let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureBytes),
              key.publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8)),
              let claims = try? JSONCoding.decode(payloadBytes, what: "token claims").objectValue,
              claims["iss"]?.stringValue == Self.issuer,
              let expiry = claims["exp"]?.intValue, let notBefore = claims["nbf"]?.intValue else { return nil }
        let seconds = Int64(now.timeIntervalSince1970)
        guard seconds < expiry, seconds >= notBefore else { return nil }
        let audience = claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? claims["aud"]?.stringValue.map { [$0] } ?? []
        guard audience.contains(where: audiences.contains) else { return nil }
        return claims
    }

    /// The user a bearer token names, when it is a valid token of this server whose service
    /// account (and bound object) still exist with the UIDs it was issued for.
    func authenticate(_ token: String, storage: RESTStorage) async -> UserInfo? {
        guard let claims = verify(token, now: storage.now()), let info = claims["kubernetes.io"]?.objectValue,
              let namespace = info["namespace"]?.stringValue,
              let name = info[path: ["serviceaccount", "name"]]?.stringValue, let uid = info[path: ["serviceaccount", "uid"]]?.stringValue else { return nil }
        guard let account = try? await storage.get(ServiceAccounts.definition, namespace: namespace, name: name),
              account.metadata["uid"]?.stringValue == uid else { return nil }
        for (kind, definition) in [("pod", Pods.definition), ("secret", Secrets.definition)] {
            guard let bound = info[kind]?.objectValue else { continue }
            guard let object = try? await storage.get(definition, namespace: namespace, name: bound["name"]?.stringValue ?? ""),
                  object.metadata["uid"]?.stringValue == bound["uid"]?.stringValue,
                  object.metadata["deletionTimestamp"] == nil else { return nil }
        }
        return UserInfo(name: "system:serviceaccount:\(namespace):\(name)",
                        groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"])
    }

    /// serviceaccounts/<name>/token: a TokenRequest in, the same with status.token and
    /// status.expirationTimestamp out.
    func tokenRequest(namespace: String, name: String, body: JSONValue, storage: RESTStorage) async throws(APIError) -> JSONObject {
        guard var request = body.objectValue, (request["kind"]?.stringValue ?? "TokenRequest") == "TokenRequest" else {
            throw APIError.badRequest("the body of a token request must be a TokenRequest object")
        }
        let account = try await storage.get(ServiceAccounts.definition, namespace: namespace, name: name)
        let spec = request["spec"]?.objectValue ?? [:]
        var audiences = spec["audiences"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if audiences.isEmpty { audiences = Array(Self.apiAudiences) }
        let lifetime = spec["expirationSeconds"]?.intValue ?? Self.defaultExpirationSeconds
        guard lifetime >= Self.minimumExpirationSeconds else {
            throw APIError(code: 422, reason: "Invalid", message: "TokenRequest.authentication.k8s.io \"\(name)\" is invalid: spec.expirationSeconds: Invalid value: \(lifetime): may not specify a duration less than 10 minutes",
                           details: StatusDetails(name: name, group: "authentication.k8s.io", kind: "TokenRequest",
                                                  causes: [StatusCause(reason: "FieldValueInvalid", message: "may not specify a duration less than 10 minutes", field: "spec.expirationSeconds")]))
        }
        var bound: Bound?
        if let reference = spec["boundObjectRef"]?.objectValue {
            let kind = reference["kind"]?.stringValue ?? ""
            let boundName = reference["name"]?.stringValue ?? ""
            let definition: ResourceDefinition
            switch kind {
            case "Pod": definition = Pods.definition
            case "Secret": definition = Secrets.definition
            default: throw APIError.badRequest("cannot bind token for object of kind \(kind): only Pod and Secret are supported")
            }
            let object = try await storage.get(definition, namespace: namespace, name: boundName)
            let uid = object.metadata["uid"]?.stringValue ?? ""
            if let wanted = reference["uid"]?.stringValue, !wanted.isEmpty, wanted != uid {
                throw APIError.conflict(definition, name: boundName, why: "the UID in the bound object reference (\(wanted)) does not match the object's (\(uid))")
            }
            bound = Bound(kind: kind, name: boundName, uid: uid)
        }
        let issued = try issue(namespace: namespace, serviceAccount: name, uid: account.metadata["uid"]?.stringValue ?? "",
                               audiences: audiences, lifetime: lifetime, bound: bound, now: storage.now())
        request["apiVersion"] = .string("authentication.k8s.io/v1")
        request["kind"] = .string("TokenRequest")
        var metadata = request["metadata"]?.objectValue ?? [:]
        metadata["name"] = .string(name)
        metadata["namespace"] = .string(namespace)
        request["metadata"] = .object(metadata)
        var fullSpec = spec
        fullSpec["audiences"] = .array(audiences.map { .string($0) })
        fullSpec["expirationSeconds"] = .int(lifetime)
        request["spec"] = .object(fullSpec)
        request["status"] = .object(["token": .string(issued.token), "expirationTimestamp": .string(Timestamp.format(issued.expiration))])
        return request
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }
}

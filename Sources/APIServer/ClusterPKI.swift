import Crypto
import Foundation
import SwiftASN1
import X509

/// The cluster's certificates, generated in the data directory on first start: a CA, the API
/// server's serving certificate, an admin client certificate (CN=nodekit-admin,
/// O=system:masters) and an admin bearer token. Keys are ECDSA P-256, files PEM, private files
/// mode 0600.
///
/// The CA, admin certificate and token are created once and then reused. The serving certificate
/// is re-issued at every start from the same CA, so its SANs follow the current host names and
/// addresses.
public struct ClusterPKI: Sendable {
    public let caCertificatePEM: String
    public let caKeyPEM: String
    public let servingCertificatePEM: String
    public let servingKeyPEM: String
    public let adminCertificatePEM: String
    public let adminKeyPEM: String
    public let token: String

    public static let adminUser = "nodekit-admin"
    public static let adminGroup = "system:masters"

    /// Loads the PKI from `directory` (DIR/pki), creating what is missing, and issues a serving
    /// certificate for `dnsNames` and `ipAddresses` (IPv4 or IPv6 literals).
    public static func loadOrCreate(directory: String, dnsNames: [String], ipAddresses: [String], now: Date = Date()) throws -> ClusterPKI {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        func path(_ name: String) -> String { directory + "/" + name }
        func read(_ name: String) -> String? { files.contents(atPath: path(name)).map { String(decoding: $0, as: UTF8.self) } }
        func write(_ name: String, _ text: String, secret: Bool) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)), options: .atomic)
            try files.setAttributes([.posixPermissions: secret ? 0o600 : 0o644], ofItemAtPath: path(name))
        }

        let caKey: P256.Signing.PrivateKey
        let caCertificate: Certificate
        if let keyPEM = read("ca.key"), let certPEM = read("ca.crt") {
            do {
                caKey = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
                caCertificate = try Certificate(pemEncoded: certPEM)
            } catch {
                throw PKIError(message: "cannot read the cluster CA in \(directory) (ca.key, ca.crt): \(error)")
            }
        } else {
            caKey = P256.Signing.PrivateKey()
            let name = try DistinguishedName { CommonName("nodekit-ca") }
            caCertificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true, keyCertSign: true))
                    SubjectKeyIdentifier(hash: .init(caKey.publicKey))
                },
                issuerPrivateKey: .init(caKey))
            try write("ca.key", caKey.pemRepresentation, secret: true)
            try write("ca.crt", try caCertificate.serializeAsPEM().pemString, secret: false)
        }

        func issue(subject: DistinguishedName, usage: ExtendedKeyUsage.Usage, sans: [GeneralName], days: Double) throws -> (String, String) {
            let key = P256.Signing.PrivateKey()
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(days * 86400),
                issuer: caCertificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([usage])
                    AuthorityKeyIdentifier(keyIdentifier: try caCertificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                    if !sans.isEmpty { SubjectAlternativeNames(sans) }
                },
                issuerPrivateKey: .init(caKey))
            return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
        }

        var sans: [GeneralName] = []
        for name in Set(dnsNames + ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]).sorted() {
            sans.append(.dnsName(name))
        }
        for ip in Set(ipAddresses + ["127.0.0.1"]).sorted() {
            guard let bytes = ipBytes(ip) else { throw PKIError(message: "\(ip) is not an IP address (for the serving certificate's SANs)") }
            sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let (servingCert, servingKey) = try issue(subject: try DistinguishedName { CommonName("kube-apiserver") }, usage: .serverAuth, sans: sans, days: 365)
        try write("apiserver.crt", servingCert, secret: false)
        try write("apiserver.key", servingKey, secret: true)

        let adminCert: String, adminKey: String
        if let cert = read("admin.crt"), let key = read("admin.key") {
            (adminCert, adminKey) = (cert, key)
        } else {
            let subject = try DistinguishedName {
                OrganizationName(adminGroup)
                CommonName(adminUser)
            }
            (adminCert, adminKey) = try issue(subject: subject, usage: .clientAuth, sans: [], days: 365)
            try write("admin.crt", adminCert, secret: false)
            try write("admin.key", adminKey, secret: true)
        }

        let token: String
        if let stored = read("token")?.trimmingCharacters(in: .whitespacesAndNewlines), !stored.isEmpty {
            token = stored
        } else {
            token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            try write("token", token + "\n", secret: true)
        }

        return ClusterPKI(caCertificatePEM: try caCertificate.serializeAsPEM().pemString, caKeyPEM: caKey.pemRepresentation,
                          servingCertificatePEM: servingCert, servingKeyPEM: servingKey,
                          adminCertificatePEM: adminCert, adminKeyPEM: adminKey, token: token)
    }

    /// A kubeconfig for the admin user with the client certificate, or with the token.
    public func kubeconfig(server: String, useToken: Bool = false) -> String {
        func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        let user = useToken
            ? "    token: \(token)\n"
            : "    client-certificate-data: \(b64(adminCertificatePEM))\n    client-key-data: \(b64(adminKeyPEM))\n"
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: nodekit
          cluster:
            server: \(server)
            certificate-authority-data: \(b64(caCertificatePEM))
        contexts:
        - name: nodekit
          context:
            cluster: nodekit
            user: \(Self.adminUser)
        current-context: nodekit
        users:
        - name: \(Self.adminUser)
          user:
        \(user)
        """
    }

    /// The user and groups in a client certificate's subject (CN and O), as upstream's x509
    /// authenticator reads them. The certificate must already be verified against the CA.
    static func identity(fromDER der: [UInt8]) -> (user: String, groups: [String])? {
        guard let certificate = try? Certificate(derEncoded: der) else { return nil }
        var user: String?
        var groups: [String] = []
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.commonName { user = String(describing: attribute.value) }
                if attribute.type == .RDNAttributeType.organizationName { groups.append(String(describing: attribute.value)) }
            }
        }
        return user.map { ($0, groups) }
    }

    static func ipBytes(_ text: String) -> [UInt8]? {
        if let v4 = ServiceAllocator.parseIPv4(text) { return [UInt8(v4 >> 24), UInt8((v4 >> 16) & 255), UInt8((v4 >> 8) & 255), UInt8(v4 & 255)] }
        guard text.contains(":") else { return nil }
        // IPv6: expand "::" and parse the eight groups.
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        let head = halves[0].isEmpty ? [] : halves[0].split(separator: ":").map(String.init)
        let tail = halves.count == 2 && !halves[1].isEmpty ? halves[1].split(separator: ":").map(String.init) : []
        let missing = 8 - head.count - tail.count
        guard halves.count == 2 ? missing >= 1 : missing == 0 else { return nil }
        let groups = head + Array(repeating: "0", count: halves.count == 2 ? missing : 0) + tail
        var bytes: [UInt8] = []
        for g in groups {
            guard let value = UInt16(g, radix: 16) else { return nil }
            bytes += [UInt8(value >> 8), UInt8(value & 255)]
        }
        return bytes
    }
}

/// A failure to load or create the cluster's certificates.
public struct PKIError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "pki: \(message)" }
}

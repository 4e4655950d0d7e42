import Foundation
import Yams

/// A kubeconfig file (`clusters`, `users`, `contexts`, `current-context`), as kubectl reads it.
///
/// Only the fields Nodekit uses are modelled; `load` ignores the rest. Relative file paths in
/// the file resolve against the file's directory, as upstream's loader does.
public struct Kubeconfig: Codable, Hashable, Sendable {
    public var apiVersion: String? = "v1"
    public var kind: String? = "Config"
    public var clusters: [NamedCluster]?
    public var users: [NamedUser]?
    public var contexts: [NamedContext]?
    public var currentContext: String?

    enum CodingKeys: String, CodingKey {
        case apiVersion, kind, clusters, users, contexts
        case currentContext = "current-context"
    }

    public init(clusters: [NamedCluster] = [], users: [NamedUser] = [], contexts: [NamedContext] = [], currentContext: String? = nil) {
        self.clusters = clusters
        self.users = users
        self.contexts = contexts
        self.currentContext = currentContext
    }

    public struct NamedCluster: Codable, Hashable, Sendable {
        public var name: String
        public var cluster: Cluster
        public init(name: String, cluster: Cluster) {
            self.name = name
            self.cluster = cluster
        }
    }

    public struct Cluster: Codable, Hashable, Sendable {
        public var server: String
        public var certificateAuthority: String?
        /// Base64 of the PEM bundle.
        public var certificateAuthorityData: String?
        public var insecureSkipTLSVerify: Bool?
        public var tlsServerName: String?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthority = "certificate-authority"
            case certificateAuthorityData = "certificate-authority-data"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
            case tlsServerName = "tls-server-name"
        }

        public init(server: String, certificateAuthorityData: String? = nil, certificateAuthority: String? = nil, insecureSkipTLSVerify: Bool? = nil) {
            self.server = server
            self.certificateAuthorityData = certificateAuthorityData
            self.certificateAuthority = certificateAuthority
            self.insecureSkipTLSVerify = insecureSkipTLSVerify
        }
    }

    public struct NamedUser: Codable, Hashable, Sendable {
        public var name: String
        public var user: User
        public init(name: String, user: User) {
            self.name = name
            self.user = user
        }
    }

    public struct User: Codable, Hashable, Sendable {
        public var clientCertificate: String?
        public var clientCertificateData: String?
        public var clientKey: String?
        public var clientKeyData: String?
        public var token: String?
        public var tokenFile: String?
        public var username: String?
        public var password: String?

        enum CodingKeys: String, CodingKey {
            case clientCertificate = "client-certificate"
            case clientCertificateData = "client-certificate-data"
            case clientKey = "client-key"
            case clientKeyData = "client-key-data"
            case token, tokenFile, username, password
        }

        public init(token: String? = nil, clientCertificateData: String? = nil, clientKeyData: String? = nil) {
            self.token = token
            self.clientCertificateData = clientCertificateData
            self.clientKeyData = clientKeyData
        }
    }

    public struct NamedContext: Codable, Hashable, Sendable {
        public var name: String
        public var context: Context
        public init(name: String, context: Context) {
            self.name = name
            self.context = context
        }
    }

    public struct Context: Codable, Hashable, Sendable {
        public var cluster: String
        public var user: String?
        public var namespace: String?
        public init(cluster: String, user: String? = nil, namespace: String? = nil) {
            self.cluster = cluster
            self.user = user
            self.namespace = namespace
        }
    }

    /// Parses kubeconfig YAML (or JSON, which is YAML).
    public static func parse(_ text: String, source: String = "kubeconfig") throws(KubeconfigError) -> Kubeconfig {
        do {
            return try YAMLDecoder().decode(Kubeconfig.self, from: text)
        } catch {
            throw KubeconfigError(source: source, message: "invalid kubeconfig: \(error)")
        }
    }

    /// Reads and resolves the kubeconfig at `path` for `context` (default: current-context).
    public static func load(path: String, context: String? = nil) throws(KubeconfigError) -> KubeClientConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw KubeconfigError(source: path, message: "cannot read kubeconfig: \(error.localizedDescription)")
        }
        let config = try parse(text, source: path)
        let dir = (path as NSString).deletingLastPathComponent
        return try config.resolve(context: context, baseDirectory: dir.isEmpty ? "." : dir, source: path)
    }

    /// The connection settings of `context` (default: `current-context`, or the only context).
    /// File references are read now, relative to `baseDirectory`.
    public func resolve(context name: String? = nil, baseDirectory: String = ".", source: String = "kubeconfig") throws(KubeconfigError) -> KubeClientConfig {
        let contexts = self.contexts ?? []
        let wanted = name ?? currentContext ?? (contexts.count == 1 ? contexts[0].name : nil)
        guard let wanted else { throw KubeconfigError(source: source, message: "no current-context and no context given") }
        guard let ctx = contexts.first(where: { $0.name == wanted })?.context else {
            throw KubeconfigError(source: source, message: "context \"\(wanted)\" not found")
        }
        guard let cluster = clusters?.first(where: { $0.name == ctx.cluster })?.cluster else {
            throw KubeconfigError(source: source, message: "cluster \"\(ctx.cluster)\" of context \"\(wanted)\" not found")
        }
        var user = User()
        if let userName = ctx.user {
            guard let u = users?.first(where: { $0.name == userName })?.user else {
                throw KubeconfigError(source: source, message: "user \"\(userName)\" of context \"\(wanted)\" not found")
            }
            user = u
        }
        let server: ServerAddress
        do { server = try ServerAddress(parsing: cluster.server) } catch {
            throw KubeconfigError(source: source, message: "cluster \"\(ctx.cluster)\": \(error.message)")
        }
        func material(data: String?, file: String?, what: String) throws(KubeconfigError) -> [UInt8]? {
            if let data {
                guard let d = Data(base64Encoded: data, options: .ignoreUnknownCharacters) else {
                    throw KubeconfigError(source: source, message: "\(what)-data is not valid base64")
                }
                return Array(d)
            }
            guard let file else { return nil }
            let path = file.hasPrefix("/") ? file : baseDirectory + "/" + file
            guard let d = FileManager.default.contents(atPath: path) else {
                throw KubeconfigError(source: source, message: "cannot read \(what) file \(path)")
            }
            return Array(d)
        }
        var token = user.token
        if token == nil, let tokenFile = user.tokenFile {
            let path = tokenFile.hasPrefix("/") ? tokenFile : baseDirectory + "/" + tokenFile
            guard let d = FileManager.default.contents(atPath: path) else {
                throw KubeconfigError(source: source, message: "cannot read tokenFile \(path)")
            }
            token = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let tls = TLSMaterial(
            caPEM: try material(data: cluster.certificateAuthorityData, file: cluster.certificateAuthority, what: "certificate-authority"),
            clientCertificatePEM: try material(data: user.clientCertificateData, file: user.clientCertificate, what: "client-certificate"),
            clientKeyPEM: try material(data: user.clientKeyData, file: user.clientKey, what: "client-key"),
            insecureSkipVerify: cluster.insecureSkipTLSVerify ?? false,
            serverName: cluster.tlsServerName)
        if (tls.clientCertificatePEM == nil) != (tls.clientKeyPEM == nil) {
            throw KubeconfigError(source: source, message: "user \"\(ctx.user ?? "")\": client certificate and client key must be given together")
        }
        var basic: (String, String)?
        if let u = user.username, let p = user.password { basic = (u, p) }
        return KubeClientConfig(server: server, tls: tls, token: token, basicAuth: basic.map { BasicAuth(username: $0.0, password: $0.1) },
                                namespace: ctx.namespace ?? "default")
    }

    /// The YAML text of this kubeconfig.
    public func render() throws(KubeconfigError) -> String {
        do { return try YAMLEncoder().encode(self) } catch {
            throw KubeconfigError(source: "kubeconfig", message: "cannot encode: \(error)")
        }
    }

    /// A one-cluster, one-user kubeconfig whose context is current: what `nodekit server`
    /// writes for its admin.
    public static func single(server: String, caPEM: [UInt8]?, token: String? = nil, clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil,
                              name: String = "nodekit", user: String = "admin") -> Kubeconfig {
        var u = User(token: token)
        u.clientCertificateData = clientCertificatePEM.map { Data($0).base64EncodedString() }
        u.clientKeyData = clientKeyPEM.map { Data($0).base64EncodedString() }
        return Kubeconfig(
            clusters: [NamedCluster(name: name, cluster: Cluster(server: server, certificateAuthorityData: caPEM.map { Data($0).base64EncodedString() }))],
            users: [NamedUser(name: user, user: u)],
            contexts: [NamedContext(name: name, context: Context(cluster: name, user: user))],
            currentContext: name)
    }
}

public struct KubeconfigError: Error, CustomStringConvertible, Sendable {
    public var source: String
    public var message: String
    public var description: String { "\(source): \(message)" }
}

/// The API server's base URL split into what a connection needs.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var tls: Bool
    public var host: String
    public var port: Int
    /// A path prefix (without trailing slash) for servers behind a proxy; usually empty.
    public var basePath: String

    public init(tls: Bool, host: String, port: Int, basePath: String = "") {
        self.tls = tls
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    /// Parses `https://host[:port][/prefix]` (default port 443) or `http://host[:port]` (80).
    public init(parsing text: String) throws(KubeconfigError) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = url.host, !host.isEmpty else {
            throw KubeconfigError(source: "server", message: "server \"\(text)\" is not an http(s) URL with a host")
        }
        let trimmedHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        self.init(tls: scheme == "https", host: trimmedHost, port: url.port ?? (scheme == "https" ? 443 : 80), basePath: path)
    }

    /// The value of the Host header.
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return (tls && port == 443) || (!tls && port == 80) ? h : "\(h):\(port)"
    }

    public var description: String { "\(tls ? "https" : "http")://\(authority)\(basePath)" }
}

/// PEM bytes for TLS, already read from files or decoded from `-data` fields.
public struct TLSMaterial: Sendable, Hashable {
    public var caPEM: [UInt8]?
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    public var insecureSkipVerify: Bool
    /// Overrides the name checked against the server certificate (and sent as SNI).
    public var serverName: String?

    public init(caPEM: [UInt8]? = nil, clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil, insecureSkipVerify: Bool = false, serverName: String? = nil) {
        self.caPEM = caPEM
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.insecureSkipVerify = insecureSkipVerify
        self.serverName = serverName
    }
}

public struct BasicAuth: Sendable, Hashable {
    public var username: String
    public var password: String
}

/// Everything `HTTPKubeClient` needs to reach and authenticate to one API server.
public struct KubeClientConfig: Sendable, Hashable {
    public var server: ServerAddress
    public var tls: TLSMaterial
    public var token: String?
    public var basicAuth: BasicAuth?
    /// The context's default namespace.
    public var namespace: String
    /// Bound on one non-watch request, from connect to the end of the response.
    public var requestTimeout: Duration
    public var userAgent: String

    public init(server: ServerAddress, tls: TLSMaterial = TLSMaterial(), token: String? = nil, basicAuth: BasicAuth? = nil,
                namespace: String = "default", requestTimeout: Duration = .seconds(30), userAgent: String = "nodekit") {
        self.server = server
        self.tls = tls
        self.token = token
        self.basicAuth = basicAuth
        self.namespace = namespace
        self.requestTimeout = requestTimeout
        self.userAgent = userAgent
    }

    /// `--server URL --token T`, as `nodekit agent` takes them. With https and no CA, the
    /// server certificate is verified against the system trust store unless `insecure`.
    public init(server url: String, token: String?, caPEM: [UInt8]? = nil, insecure: Bool = false) throws(KubeconfigError) {
        self.init(server: try ServerAddress(parsing: url), tls: TLSMaterial(caPEM: caPEM, insecureSkipVerify: insecure), token: token)
    }
}

/// A Docker-style image reference, normalized the way containerd's CRI plugin and kubelet
/// normalize the `image:` of a pod: `nodekit/busybox` is `docker.io/nodekit/busybox:latest`,
/// `busybox` is `docker.io/library/busybox:latest`.
///
/// The grammar is the one of the distribution reference library: a domain is the first
/// component when it holds a `.` or `:` or is `localhost`; repository path components are
/// lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`; a tag is `[A-Za-z0-9_]`
/// followed by up to 127 of `[A-Za-z0-9_.-]`; a digest is `sha256:` and 64 lowercase hex digits.
public struct ImageReference: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The registry host, with port if any, e.g. `docker.io` or `localhost:5000`.
    public var domain: String
    /// The repository path below the domain, e.g. `nodekit/busybox`.
    public var path: String
    /// The tag; `latest` when neither a tag nor a digest was given.
    public var tag: String?
    /// The digest (`sha256:<hex>`), if the reference pins one.
    public var digest: String?

    /// Parses and normalizes `text`. Throws ``OCIImageError/Code/badReference`` with the reason.
    public init(parsing text: String) throws(OCIImageError) {
        func fail(_ reason: String) -> OCIImageError {
            OCIImageError(.badReference, "invalid image reference \"\(text)\": \(reason)")
        }
        guard !text.isEmpty else { throw fail("empty") }
        var rest = Substring(text)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let value = String(rest[rest.index(after: at)...])
            guard Self.isValidDigest(value) else { throw fail("digest must be sha256: and 64 lowercase hex digits") }
            digest = value
            rest = rest[..<at]
        }
        var tag: String?
        // A ':' after the last '/' starts a tag; one before it belongs to a domain's port.
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let value = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(value) else { throw fail("tag \"\(value)\" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}") }
            tag = value
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw fail("missing repository name") }
        guard rest.utf8.count <= 255 else { throw fail("name longer than 255 characters") }

        var domain = "docker.io"
        var path = String(rest)
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.contains(where: \.isUppercase) {
                guard Self.isValidDomain(first) else { throw fail("invalid registry domain \"\(first)\"") }
                domain = String(first)
                path = String(rest[rest.index(after: slash)...])
            }
        }
        if domain == "index.docker.io" { domain = "docker.io" }
        if domain == "docker.io" && !path.contains("/") { path = "library/" + path }
        guard path == path.lowercased() else { throw fail("repository name must be lowercase") }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard Self.isValidPathComponent(component) else {
                throw fail("path component \"\(component)\" must be lowercase letters and digits joined by '.', '_', '__' or '-'")
            }
        }
        if tag == nil && digest == nil { tag = "latest" }
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    /// `domain/path`, e.g. `docker.io/nodekit/busybox`.
    public var repository: String { domain + "/" + path }

    /// The full normalized reference, e.g. `docker.io/nodekit/busybox:latest`: the name
    /// containerd stores and the CRI plugin resolves `nodekit/busybox` to.
    public var description: String {
        var result = repository
        if let tag { result += ":" + tag }
        if let digest { result += "@" + digest }
        return result
    }

    static func isValidTag(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, bytes.count <= 128, isWord(first) else { return false }
        return bytes.dropFirst().allSatisfy { isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    static func isValidDigest(_ value: String) -> Bool {
        guard value.hasPrefix("sha256:") else { return false }
        let hex = value.utf8.dropFirst(7)
        return hex.count == 64 && hex.allSatisfy { isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    static func isValidPathComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, isLowerAlnum(first), isLowerAlnum(last) else { return false }
        var index = 0
        while index < bytes.count {
            if isLowerAlnum(bytes[index]) { index += 1; continue }
            // A separator run: ".", "_", "__", or one or more "-"; always followed by an alphanumeric.
            var end = index
            while end < bytes.count && !isLowerAlnum(bytes[end]) { end += 1 }
            let separator = bytes[index..<end]
            let valid = separator.elementsEqual([UInt8(ascii: ".")]) || separator.elementsEqual([UInt8(ascii: "_")])
                || separator.elementsEqual([UInt8(ascii: "_"), UInt8(ascii: "_")])
                || separator.allSatisfy { $0 == UInt8(ascii: "-") }
            guard valid else { return false }
            index = end
        }
        return true
    }

    static func isValidDomain(_ domain: Substring) -> Bool {
        var host = domain
        if let colon = domain.firstIndex(of: ":") {
            let port = domain[domain.index(after: colon)...]
            guard !port.isEmpty, port.utf8.allSatisfy(isDigit) else { return false }
            host = domain[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            let bytes = Array(label.utf8)
            guard let first = bytes.first, let last = bytes.last, isAlnum(first), isAlnum(last) else { return false }
            return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
        }
    }

    private static func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
    private static func isLowerAlnum(_ b: UInt8) -> Bool { isDigit(b) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) }
    private static func isAlnum(_ b: UInt8) -> Bool { isLowerAlnum(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) }
    private static func isWord(_ b: UInt8) -> Bool { isAlnum(b) || b == UInt8(ascii: "_") }
}

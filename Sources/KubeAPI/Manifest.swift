import Foundation
import Yams

/// Reads Kubernetes manifests: JSON, or YAML with one or more `---`-separated documents.
public enum Manifest {
    public struct DecodeError: Error, CustomStringConvertible {
        public var source: String
        public var message: String
        public var description: String { "\(source): \(message)" }
    }

    /// Parses every document in `text` into JSON values (empty documents are skipped).
    public static func documents(_ text: String, source: String = "manifest") throws -> [JSONValue] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") {
            do { return [try JSONDecoder().decode(JSONValue.self, from: Data(trimmed.utf8))] } catch {
                throw DecodeError(source: source, message: "invalid JSON: \(error)")
            }
        }
        var out: [JSONValue] = []
        do {
            // Parser.nextRoot throws on malformed input; compose_all's sequence would stop silently.
            let parser = try Parser(yaml: text)
            while let node = try parser.nextRoot() {
                let value = try jsonValue(node, source: source)
                if value != .null { out.append(value) }
            }
        } catch let e as DecodeError {
            throw e
        } catch {
            throw DecodeError(source: source, message: "invalid YAML: \(error)")
        }
        return out
    }

    /// Decodes one document as `T`, checking `apiVersion` and `kind` when present.
    public static func decode<T: KubeObject>(_ type: T.Type, from value: JSONValue, source: String = "manifest") throws -> T {
        if let kind = value["kind"]?.stringValue, kind != T.kind {
            throw DecodeError(source: source, message: "kind \(kind) is not \(T.kind)")
        }
        if let api = value["apiVersion"]?.stringValue, api != T.apiVersion {
            throw DecodeError(source: source, message: "apiVersion \(api) is not \(T.apiVersion) for kind \(T.kind)")
        }
        do { return try value.decode(T.self) } catch {
            throw DecodeError(source: source, message: "cannot decode \(T.kind): \(describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let ctx)?: return "missing field \(path(ctx.codingPath + [key]))"
        case .typeMismatch(let type, let ctx)?: return "field \(path(ctx.codingPath)): expected \(type)"
        case .valueNotFound(let type, let ctx)?: return "field \(path(ctx.codingPath)): expected \(type), found null"
        case .dataCorrupted(let ctx)?: return "field \(path(ctx.codingPath)): \(ctx.debugDescription)"
        default: return "\(error)"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
    }

    /// A plain scalar as a YAML 1.1 integer the way go-yaml reads it: an optional sign, then
    /// decimal, `0x` hex, `0o` or leading-`0` octal, or `0b` binary, with `_` separators
    /// ignored; nil when it is not one.
    static func yamlInteger(_ text: String) -> Int64? {
        var body = Substring(text)
        var sign = ""
        if let first = body.first, first == "-" || first == "+" {
            sign = first == "-" ? "-" : ""
            body = body.dropFirst()
        }
        guard let first = body.first, first.isASCII, first.isNumber else { return nil }
        var digits = Substring(body.filter { $0 != "_" })
        let radix: Int
        if digits.hasPrefix("0x") { radix = 16; digits = digits.dropFirst(2) }
        else if digits.hasPrefix("0o") { radix = 8; digits = digits.dropFirst(2) }
        else if digits.hasPrefix("0b") { radix = 2; digits = digits.dropFirst(2) }
        else if digits.hasPrefix("0"), digits.count > 1 { radix = 8; digits = digits.dropFirst() }
        else { radix = 10 }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        return Int64(sign + digits, radix: radix)
    }

    private static func jsonValue(_ node: Yams.Node, source: String) throws -> JSONValue {
        switch node {
        case .scalar(let s):
            // Quoted scalars are strings; plain ones follow YAML 1.2 core schema resolution,
            // except integers, which follow upstream's YAML reader (sigs.k8s.io/yaml: YAML 1.1
            // ints, so `defaultMode: 0400` is octal 256, as the Kubernetes docs promise).
            if s.style != .plain { return .string(s.string) }
            switch s.string {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default:
                if let i = yamlInteger(s.string) { return .number(Double(i)) }
                if s.string.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(s.string), d.isFinite { return .number(d) }
                return .string(s.string)
            }
        case .sequence(let seq):
            return .array(try seq.map { try jsonValue($0, source: source) })
        case .mapping(let map):
            var o: [String: JSONValue] = [:]
            for (k, v) in map {
                guard case .scalar(let key) = k else { throw DecodeError(source: source, message: "mapping keys must be strings") }
                o[key.string] = try jsonValue(v, source: source)
            }
            return .object(o)
        case .alias:
            throw DecodeError(source: source, message: "YAML aliases are not supported")
        }
    }
}

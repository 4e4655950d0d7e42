import ArgumentParser
import Foundation
import SwiftProtobuf
import Yams

/// How a command prints what it found: a crictl-style table (or text), or the CRI message
/// itself as JSON (proto3 JSON mapping, lowerCamelCase names, as crictl prints) or as YAML
/// (the same data).
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json, yaml
}

/// Errors nodectl reports itself (runtime failures are ``CRI/CRIError``).
public struct NodectlError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Renders a protobuf message as indented JSON with sorted keys, or as YAML.
enum MessageRenderer {
    static func render(_ message: some SwiftProtobuf.Message, as format: OutputFormat) throws -> String {
        let json: String
        do {
            json = try message.jsonString()
        } catch {
            throw NodectlError("cannot encode \(type(of: message)) as JSON: \(error)")
        }
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        switch format {
        case .yaml:
            return try Yams.serialize(node: value.yamlNode())
        case .json, .table:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
        }
    }
}

/// A JSON document as a tree, to re-indent it and to turn it into YAML.
enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Order matters: JSON `true` must not become 1, nor `3` become 3.0.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    func yamlNode() throws -> Yams.Node {
        switch self {
        case .null: return Node("null", Tag(.null))
        case .bool(let value): return try value.represented()
        case .integer(let value): return try value.represented()
        case .number(let value): return try value.represented()
        // represented() quotes strings YAML would read as something else ("1700…", "true").
        case .string(let value): return try value.represented()
        case .array(let values): return Node(try values.map { try $0.yamlNode() })
        case .object(let fields):
            return Node(try fields.keys.sorted().map { (Node($0), try fields[$0]!.yamlNode()) })
        }
    }
}

@testable import LoRDBA

/// A validator for the subset of JSON Schema that `formats/report.schema.json` uses:
/// `type`, `enum`, `required`, `properties`, `items`, `minimum`, `maximum`, `oneOf`, `$ref`.
/// It fails loudly on any other keyword so the schema cannot silently outgrow it.
struct SchemaValidator {
    let root: JSONValue
    static let known: Set<String> = ["$schema", "$id", "title", "description", "type", "enum", "required",
                                     "properties", "items", "minimum", "maximum", "oneOf", "$ref", "$defs"]

    /// Every violation found, as "path: problem".
    func violations(of value: JSONValue) -> [String] {
        var out: [String] = []
        check(value, against: root, path: "$", into: &out)
        return out
    }

    private func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: JSONValue? = root
        for part in ref.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
        return node
    }

    private func typeMatches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): true
        case ("integer", .integer): true
        case ("integer", .double(let d)): d == d.rounded()
        case ("number", .integer), ("number", .double): true
        default: false
        }
    }

    private func check(_ value: JSONValue, against schema: JSONValue, path: String, into out: inout [String]) {
        guard let members = schema.objectValue else { out.append("\(path): schema is not an object"); return }
        for (key, _) in members where !Self.known.contains(key) { out.append("\(path): unsupported keyword \(key)") }
        if let ref = schema["$ref"]?.stringValue {
            guard let target = resolve(ref) else { out.append("\(path): unresolved \(ref)"); return }
            check(value, against: target, path: path, into: &out)
        }
        if let type = schema["type"] {
            let types = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !types.contains(where: { typeMatches(value, $0) }) {
                out.append("\(path): \(value.typeName) is not \(types.joined(separator: " or "))")
                return
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            out.append("\(path): value not in enum")
        }
        if let number = value.doubleValue {
            if let minimum = schema["minimum"]?.doubleValue, number < minimum { out.append("\(path): \(number) < \(minimum)") }
            if let maximum = schema["maximum"]?.doubleValue, number > maximum { out.append("\(path): \(number) > \(maximum)") }
        }
        if let alternatives = schema["oneOf"]?.arrayValue {
            let passing = alternatives.filter { alt in
                var sub: [String] = []
                check(value, against: alt, path: path, into: &sub)
                return sub.isEmpty
            }
            if passing.count != 1 { out.append("\(path): matches \(passing.count) of oneOf") }
        }
        if case .object(let fields) = value {
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where value[name] == nil {
                out.append("\(path): missing \(name)")
            }
            if let properties = schema["properties"] {
                for (name, field) in fields {
                    if let sub = properties[name] { check(field, against: sub, path: "\(path).\(name)", into: &out) }
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (i, item) in items.enumerated() { check(item, against: itemSchema, path: "\(path)[\(i)]", into: &out) }
        }
    }
}

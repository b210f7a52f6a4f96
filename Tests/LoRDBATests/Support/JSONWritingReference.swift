@testable import LoRDBA

/// The String-appending serializer `JSONValue.serialized` used before it wrote bytes, kept to
/// test the byte writer against (the same text for every value).
extension JSONValue {
    /// Deterministic JSON text: members in stored order, shortest round-trip numbers, `null` for
    /// NaN and ±∞ (see ``nonFinitePaths``).
    /// - Parameter indent: spaces per level; `nil` writes everything on one line.
    func referenceSerialized(indent: Int? = nil) -> String {
        var out = ""
        referenceWrite(to: &out, indent: indent, level: 0)
        return out
    }

    private func referenceWrite(to out: inout String, indent: Int?, level: Int) {
        func newline(_ lvl: Int) {
            if let indent { out += "\n" + String(repeating: " ", count: indent * lvl) }
        }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .double(let d):
            // JSON has no NaN or infinity: they are written as null (reports list them in `non_finite`).
            if !d.isFinite { out += "null" } else if d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) } else { out += "\(d)" }
        case .string(let s): JSONValue.referenceWriteString(s, to: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (n, item) in items.enumerated() {
                if n > 0 { out += indent == nil ? "," : "," }
                newline(level + 1)
                item.referenceWrite(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (n, (key, value)) in members.enumerated() {
                if n > 0 { out += "," }
                newline(level + 1)
                JSONValue.referenceWriteString(key, to: &out)
                out += indent == nil ? ":" : ": "
                value.referenceWrite(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "}"
        }
    }

    private static func referenceWriteString(_ s: String, to out: inout String) {
        out += "\""
        // Nothing to escape (the usual case: names, dtypes, keys): the string as it is, in one append.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

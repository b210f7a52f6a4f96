extension JSONValue {
    /// Deterministic JSON text: members in stored order, shortest round-trip numbers, `null` for
    /// NaN and ±∞ (see ``nonFinitePaths``).
    /// - Parameter indent: spaces per level; `nil` writes everything on one line.
    public func serialized(indent: Int? = nil) -> String {
        String(decoding: serializedBytes(indent: indent), as: UTF8.self)
    }

    /// ``serialized(indent:)`` as UTF-8 bytes, written straight into one buffer (the `.lba`
    /// table is serialized this way on every layout round, so it is kept cheap).
    public func serializedBytes(indent: Int? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out, indent: indent, level: 0)
        return out
    }

    /// Where this value holds NaN or ±∞ numbers, as paths such as `inputs[0].modules[3].product_error`
    /// (the serializer writes them as `null`).
    public func nonFinitePaths(_ prefix: String = "") -> [String] {
        switch self {
        case .double(let d): d.isFinite ? [] : [prefix]
        case .array(let items):
            items.enumerated().flatMap { n, item in item.nonFinitePaths("\(prefix)[\(n)]") }
        case .object(let members):
            members.flatMap { key, value in value.nonFinitePaths(prefix.isEmpty ? key : "\(prefix).\(key)") }
        default: []
        }
    }

    /// Appends the text of this value as it stands `level` deep in a document indented by `indent`.
    func write(to out: inout [UInt8], indent: Int?, level: Int) {
        func newline(_ depth: Int) {
            guard let indent else { return }
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * depth))
        }
        switch self {
        case .null: JSONValue.append("null", to: &out)
        case .bool(let b): JSONValue.append(b ? "true" : "false", to: &out)
        case .integer(let i): JSONValue.writeInteger(i, to: &out)
        case .double(let d):
            // JSON has no NaN or infinity: they are written as null (reports list them in `non_finite`).
            if !d.isFinite {
                JSONValue.append("null", to: &out)
            } else if d == d.rounded(), abs(d) < 1e15 {
                JSONValue.writeInteger(Int64(d), to: &out)
            } else {
                out.append(contentsOf: d.description.utf8)   // the shortest text that reads back as d
            }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            if items.isEmpty { JSONValue.append("[]", to: &out); return }
            out.append(UInt8(ascii: "["))
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                item.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            if members.isEmpty { JSONValue.append("{}", to: &out); return }
            out.append(UInt8(ascii: "{"))
            for (n, (key, value)) in members.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                if indent != nil { out.append(UInt8(ascii: " ")) }
                value.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func append(_ text: StaticString, to out: inout [UInt8]) {
        text.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// Decimal digits of `value` (what `String(value)` writes), without making a String.
    private static func writeInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }

    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Nothing to escape (the usual case: names, dtypes, keys): the bytes as they are.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) {
            out.append(contentsOf: s.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": append("\\\"", to: &out)
            case "\\": append("\\\\", to: &out)
            case "\n": append("\\n", to: &out)
            case "\r": append("\\r", to: &out)
            case "\t": append("\\t", to: &out)
            case "\u{08}": append("\\b", to: &out)
            case "\u{0C}": append("\\f", to: &out)
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    append("\\u", to: &out)
                    out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 4 - hex.count))
                    out.append(contentsOf: hex.utf8)
                } else {
                    UTF8.encode(scalar) { out.append($0) }
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

import CJSONC

/// A parsed JSON document. Objects keep their members in document order.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer that fits in 64 signed bits.
    case integer(Int64)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.integer(a), .integer(b)): a == b
        case let (.double(a), .double(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The member named `key` of an object, or `nil`.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// The string payload, or `nil`.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// An integer payload (an integral double counts), or `nil`.
    public var integerValue: Int64? {
        switch self {
        case .integer(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// A numeric payload as `Double`, or `nil`.
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// The boolean payload, or `nil`.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements of an array, or `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The members of an object, or `nil`.
    public var objectValue: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// A short name of the value's type for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// Why a JSON text was rejected.
public enum JSONError: Error, Equatable, CustomStringConvertible {
    /// json-c refused the text (syntax, nesting deeper than the limit, invalid UTF-8).
    case syntax(String)
    /// Something other than whitespace follows the document.
    case trailingCharacters(offset: Int)
    /// An object names the same key twice (or a key holds a NUL character).
    case duplicateKey(String)
    case invalidKey(String)

    public var description: String {
        switch self {
        case .syntax(let reason): "invalid JSON: \(reason)"
        case .trailingCharacters(let offset): "invalid JSON: unexpected characters after the document at byte \(offset)"
        case .duplicateKey(let key): "invalid JSON: duplicate key \"\(key)\""
        case .invalidKey(let key): "invalid JSON: key \"\(key)\" holds a NUL character"
        }
    }
}

/// Parses untrusted JSON with json-c in strict mode, with a nesting limit and UTF-8
/// validation, and rejects duplicate object keys (json-c itself keeps the last one).
public enum JSONParser {
    /// The nesting depth accepted by default; adapter configs and safetensors headers need 3–4.
    public static let defaultDepthLimit: Int32 = 32

    /// Parses `bytes` as one JSON document surrounded by optional whitespace.
    public static func parse(_ bytes: UnsafeRawBufferPointer, depthLimit: Int32 = defaultDepthLimit) throws(JSONError) -> JSONValue {
        guard let tok = json_tokener_new_ex(depthLimit) else { throw .syntax("out of memory") }
        defer { json_tokener_free(tok) }
        json_tokener_set_flags(tok, Int32(JSON_TOKENER_STRICT) | Int32(JSON_TOKENER_VALIDATE_UTF8))
        let length = bytes.count
        guard length < Int(Int32.max) else { throw .syntax("document too large") }
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        var object = base.map { json_tokener_parse_ex(tok, $0, Int32(length)) } ?? nil
        var err = json_tokener_get_error(tok)
        var end = Int(json_tokener_get_parse_end(tok))
        if err == json_tokener_continue {
            end = length
            // The text ended inside a value: ask json-c to finish (a bare number) or fail.
            object = json_tokener_parse_ex(tok, "", 1)
            err = json_tokener_get_error(tok)
        }
        guard err == json_tokener_success else {
            throw .syntax(String(cString: json_tokener_error_desc(err)))
        }
        // json-c represents a top-level `null` as a nil object with success (and no parse end).
        guard let object else {
            let text = bytes.drop(while: isJSONWhitespace).reversed().drop(while: isJSONWhitespace).reversed()
            guard text.elementsEqual("null".utf8) else { throw .syntax("unexpected characters after null") }
            return .null
        }
        defer { json_object_put(object) }
        if end < length {
            for offset in end..<length where !isJSONWhitespace(bytes[offset]) {
                throw .trailingCharacters(offset: offset)
            }
        }
        try DuplicateKeyScanner.check(bytes)
        return try convert(object)
    }

    /// Parses a Swift string (for tests and small documents).
    public static func parse(_ text: String, depthLimit: Int32 = defaultDepthLimit) throws(JSONError) -> JSONValue {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { buf in
            Result { () throws(JSONError) -> JSONValue in try parse(buf, depthLimit: depthLimit) }
        }
        return try result.get()
    }

    @inline(__always)
    static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func convert(_ object: OpaquePointer?) throws(JSONError) -> JSONValue {
        guard let object else { return .null }
        switch json_object_get_type(object) {
        case json_type_null:
            return .null
        case json_type_boolean:
            return .bool(json_object_get_boolean(object) != 0)
        case json_type_int:
            let signed = json_object_get_int64(object)
            if signed == Int64.max {
                let unsigned = json_object_get_uint64(object)
                if unsigned > UInt64(Int64.max) { return .double(Double(unsigned)) }
            }
            return .integer(signed)
        case json_type_double:
            let value = json_object_get_double(object)
            // json-c reads NaN and Infinity even in strict mode; JSON has no such numbers.
            guard value.isFinite else { throw .syntax("\(value) is not a JSON number") }
            return .double(value)
        case json_type_string:
            let length = Int(json_object_get_string_len(object))
            let pointer = UnsafeRawPointer(json_object_get_string(object)!)
            return .string(String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self))
        case json_type_array:
            let count = json_object_array_length(object)
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for index in 0..<count { items.append(try convert(json_object_array_get_idx(object, index))) }
            return .array(items)
        case json_type_object:
            var members: [(String, JSONValue)] = []
            var iterator = json_object_iter_begin(object)
            var end = json_object_iter_end(object)
            while json_object_iter_equal(&iterator, &end) == 0 {
                let name = String(cString: json_object_iter_peek_name(&iterator))
                members.append((name, try convert(json_object_iter_peek_value(&iterator))))
                json_object_iter_next(&iterator)
            }
            return .object(members)
        default:
            return .null
        }
    }
}

/// Walks a JSON text that json-c has already accepted and finds repeated object keys.
enum DuplicateKeyScanner {
    private struct Frame {
        var isObject: Bool
        var expectKey: Bool
        var keys: Set<String>
    }

    static func check(_ bytes: UnsafeRawBufferPointer) throws(JSONError) {
        var stack: [Frame] = []
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"):
                stack.append(Frame(isObject: true, expectKey: true, keys: []))
                i += 1
            case UInt8(ascii: "["):
                stack.append(Frame(isObject: false, expectKey: false, keys: []))
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
                i += 1
            case UInt8(ascii: ","):
                if !stack.isEmpty, stack[stack.count - 1].isObject { stack[stack.count - 1].expectKey = true }
                i += 1
            case UInt8(ascii: "\""):
                let (text, next) = decodeString(bytes, from: i)
                if !stack.isEmpty, stack[stack.count - 1].isObject, stack[stack.count - 1].expectKey {
                    if text.unicodeScalars.contains("\u{0}") { throw .invalidKey(text.replacingNUL()) }
                    if !stack[stack.count - 1].keys.insert(text).inserted { throw .duplicateKey(text) }
                    stack[stack.count - 1].expectKey = false
                }
                i = next
            case UInt8(ascii: "'"):
                // json-c accepts single-quoted strings even in strict mode; JSON does not.
                throw .syntax("single-quoted string at byte \(i)")
            default:
                i += 1
            }
        }
    }

    /// Decodes the JSON string starting at the quote at `start`; returns the text and the index after the closing quote.
    private static func decodeString(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (String, Int) {
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        var i = start + 1
        func flushRaw() {
            if !raw.isEmpty {
                scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                raw.removeAll(keepingCapacity: true)
            }
        }
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 {
                let h = bytes[at + k]
                let d: UInt32
                switch h {
                case 0x30...0x39: d = UInt32(h - 0x30)
                case 0x41...0x46: d = UInt32(h - 0x41 + 10)
                case 0x61...0x66: d = UInt32(h - 0x61 + 10)
                default: return nil
                }
                v = v << 4 | d
            }
            return v
        }
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") { raw.append(c); i += 1; continue }
            flushRaw()
            let e = i + 1 < bytes.count ? bytes[i + 1] : 0
            i += 2
            switch e {
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = hex4(i) ?? 0xFFFD
                i += 4
                if (0xD800..<0xDC00).contains(code), i + 6 <= bytes.count,
                   bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                   let low = hex4(i + 2), (0xDC00..<0xE000).contains(low) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: scalars.append(Unicode.Scalar(e))
            }
        }
        flushRaw()
        return (String(scalars), i + 1)
    }
}

extension String {
    fileprivate func replacingNUL() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }
}

// MARK: - Writing

extension JSONValue {
    /// Deterministic JSON text: members in stored order, shortest round-trip numbers, `null` for
    /// NaN and ±∞ (see ``nonFinitePaths``).
    /// - Parameter indent: spaces per level; `nil` writes everything on one line.
    public func serialized(indent: Int? = nil) -> String {
        var out = ""
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

    private func write(to out: inout String, indent: Int?, level: Int) {
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
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (n, item) in items.enumerated() {
                if n > 0 { out += indent == nil ? "," : "," }
                newline(level + 1)
                item.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (n, (key, value)) in members.enumerated() {
                if n > 0 { out += "," }
                newline(level + 1)
                JSONValue.writeString(key, to: &out)
                out += indent == nil ? ":" : ": "
                value.write(to: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
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

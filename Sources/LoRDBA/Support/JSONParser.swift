import CJSONC

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
                // json-c saturates integers beyond 64 bits at UInt64.max: such a literal (10^400)
                // has no value here, rather than a wrong one (a `lora_scale` of 1.8e19).
                guard unsigned != UInt64.max else { throw .syntax("integer literal out of range (at least 2^64 - 1)") }
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

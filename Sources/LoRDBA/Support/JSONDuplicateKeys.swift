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

/// Escaping that keeps error messages on one line whatever a file contains.
enum MessageText {
    /// `text` with line breaks and tabs written `\n`, `\r`, `\t` and other control characters
    /// (C0, C1, U+2028/9) as `\u{…}`; with `quoting`,
    /// also `"` and `\` escaped so the result can sit between double quotes.
    static func escaped(_ text: String, quoting: Bool = false) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"" where quoting: out += "\\\""
            case "\\" where quoting: out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// `text` escaped and between double quotes, for names taken from a file.
    static func quoted(_ text: String) -> String {
        "\"" + escaped(text, quoting: true) + "\""
    }

    /// "a number", "an object", …
    static func article(_ noun: String) -> String {
        (noun.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + noun
    }
}
